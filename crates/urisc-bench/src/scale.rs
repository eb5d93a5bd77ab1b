//! Resampling a plane to another size (a method's input `scale`): bilinear with pixel centres
//! aligned (OpenCV's `INTER_LINEAR`, PyTorch's `align_corners=False`), so halving averages
//! each 2×2 block exactly and the map comes back onto the input's grid.

use rayon::prelude::*;

/// `plane` (`h × w`, row-major) resampled to `nh × nw`.
pub fn resize(plane: &[f32], h: usize, w: usize, nh: usize, nw: usize) -> Vec<f32> {
    assert_eq!(plane.len(), h * w);
    let source = |dst: usize, from: usize, to: usize| -> f32 {
        (((dst as f64 + 0.5) * from as f64 / to as f64) - 0.5).clamp(0.0, (from - 1) as f64) as f32
    };
    let mut out = vec![0f32; nh * nw];
    out.par_chunks_mut(nw).enumerate().for_each(|(r, row)| {
        let y = source(r, h, nh);
        for (c, v) in row.iter_mut().enumerate() {
            *v = urisc_data::bilinear(plane, h, w, y, source(c, w, nw));
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_blocks_and_identity_keeps_values() {
        let plane: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let half = resize(&plane, 4, 4, 2, 2);
        // Block (0,0): 0,1,4,5 → 2.5.
        assert_eq!(half, vec![2.5, 4.5, 10.5, 12.5]);
        assert_eq!(resize(&plane, 4, 4, 4, 4), plane);
    }

    #[test]
    fn doubling_a_constant_stays_constant() {
        let plane = vec![7.0f32; 9];
        assert!(resize(&plane, 3, 3, 6, 6).iter().all(|&v| v == 7.0));
    }
}
