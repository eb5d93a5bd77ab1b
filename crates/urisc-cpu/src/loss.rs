//! Binary cross-entropy on logits, the loss of the speed benchmark's training step.

/// Mean BCE of `logits` against 0/1 `targets` and its gradient with respect to the logits.
pub fn bce_with_logits(logits: &[f32], targets: &[f32]) -> (f32, Vec<f32>) {
    assert_eq!(logits.len(), targets.len(), "one target per logit");
    let n = logits.len().max(1) as f32;
    let mut loss = 0f64;
    let grad = logits
        .iter()
        .zip(targets)
        .map(|(&x, &t)| {
            // max(x, 0) − x·t + log(1 + e^−|x|): stable for any x.
            loss += (x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()) as f64;
            (1.0 / (1.0 + (-x).exp()) - t) / n
        })
        .collect();
    ((loss / n as f64) as f32, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_hand_values() {
        // logit 0: loss ln 2 for either target, gradient (0.5 − t)/n.
        let (loss, grad) = bce_with_logits(&[0.0, 0.0], &[1.0, 0.0]);
        assert!((loss - std::f32::consts::LN_2).abs() < 1e-6);
        assert_eq!(grad, vec![-0.25, 0.25]);
        // Large logits stay finite: loss ≈ 100 for a confidently wrong pixel.
        let (loss, _) = bce_with_logits(&[100.0], &[0.0]);
        assert!((loss - 100.0).abs() < 1e-3, "{loss}");
    }
}
