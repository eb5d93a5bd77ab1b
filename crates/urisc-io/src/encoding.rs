//! How membrane maps are stored, in one place (SPEC §2): every crate that turns a membrane
//! probability into a stored value, a stored value back into a probability, or decides what a
//! stored pixel means, calls these.
//!
//! - On disk membrane is **dark**: an 8-bit probability map stores `round(255·(1 − p))`, a binary
//!   map stores 0 for membrane and 255 for background.
//! - Inside the program `p ∈ [0, 1]` is the membrane probability (1 = membrane).
//! - A ground-truth pixel is membrane iff its 8-bit value is ≤ [`LABEL_MEMBRANE_MAX`]; a
//!   prediction pixel iff its value is below [`PREDICTION_MEMBRANE_BELOW`].
//! - A probability is membrane at threshold `t` iff `p ≥ t`.
//! - Cells hold probabilities as 16-bit levels `round(65535·p)`; an 8-bit map converts
//!   exactly (`(255 − v)·257`).
//!
//! ```
//! use urisc_io::encoding::*;
//! assert_eq!(stored_from_probability(1.0), 0);
//! assert_eq!(stored_from_probability(0.0), 255);
//! assert_eq!(binary_from_probability(0.5, 0.5), MEMBRANE);
//! assert!(prediction_is_membrane(127) && !prediction_is_membrane(128));
//! assert!(label_is_membrane(122) && !label_is_membrane(123));
//! assert!((probability_from_stored(stored_from_probability(0.25)) - 0.25).abs() < 1.0 / 255.0);
//! ```

/// Label binarisation of SPEC §2: a ground-truth pixel is membrane iff its 8-bit value is ≤ 122.
pub const LABEL_MEMBRANE_MAX: u8 = 122;
/// A binary prediction pixel is membrane iff its 8-bit value is below 128 (SPEC §4.2).
pub const PREDICTION_MEMBRANE_BELOW: u8 = 128;
/// The stored value of a membrane pixel in a binary map.
pub const MEMBRANE: u8 = 0;
/// The stored value of a background pixel in a binary map.
pub const BACKGROUND: u8 = 255;
/// The highest 16-bit level (probability 1) of [`level_from_probability`].
pub const LEVEL_MAX: u16 = u16::MAX;

/// True where a ground-truth pixel is membrane (value ≤ 122).
pub fn label_is_membrane(v: u8) -> bool {
    v <= LABEL_MEMBRANE_MAX
}

/// True where a prediction pixel is membrane (value < 128).
pub fn prediction_is_membrane(v: u8) -> bool {
    v < PREDICTION_MEMBRANE_BELOW
}

/// Whether a membrane probability counts as membrane at `threshold` (`p ≥ threshold`).
pub fn is_membrane(p: f32, threshold: f32) -> bool {
    p >= threshold
}

/// A value in [0, 1] to 8 bits with rounding, clamped; NaN maps to 0.
pub fn unit_to_u8(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// The stored 8-bit value of membrane probability `p`: `round(255·(1 − p))`, membrane dark,
/// clamped to [0, 255]; NaN is stored as 255 (no evidence of membrane).
pub fn stored_from_probability(p: f32) -> u8 {
    if p.is_nan() {
        BACKGROUND
    } else {
        unit_to_u8(1.0 - p)
    }
}

/// The membrane probability an 8-bit membrane-dark value stands for: `1 − v/255`.
pub fn probability_from_stored(v: u8) -> f32 {
    1.0 - v as f32 / 255.0
}

/// The binary map's stored value for probability `p` at `threshold`: [`MEMBRANE`] (0) iff
/// `p ≥ threshold`, else [`BACKGROUND`] (255).
pub fn binary_from_probability(p: f32, threshold: f32) -> u8 {
    if is_membrane(p, threshold) {
        MEMBRANE
    } else {
        BACKGROUND
    }
}

/// The pre-sigmoid logit of probability `p`, `ln(p / (1 − p))`, with `p` clamped to
/// [1e-6, 1 − 1e-6] so that 0 and 1 give finite logits (±13.8).
pub fn logit_from_probability(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// The membrane probability of a logit, `1 / (1 + e^−x)`.
pub fn probability_from_logit(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The 16-bit level of probability `p`, `round(65535·p)` (clamped; NaN is 0).
pub fn level_from_probability(p: f32) -> u16 {
    if p.is_nan() {
        0
    } else {
        (p.clamp(0.0, 1.0) as f64 * LEVEL_MAX as f64).round() as u16
    }
}

/// The 16-bit level of an 8-bit membrane-dark value, exactly: `(255 − v)·257`.
pub fn level_from_stored(v: u8) -> u16 {
    (255 - v) as u16 * 257
}

/// The 8-bit membrane-dark value of a 16-bit level, rounded: `255 − round(level / 257)`.
pub fn stored_from_level(level: u16) -> u8 {
    255 - ((level as u32 + 128) / 257) as u8
}

/// The 16-bit level of a 16-bit membrane-dark value: `65535 − v`.
pub fn level_from_stored_u16(v: u16) -> u16 {
    LEVEL_MAX - v
}

/// The probability of a 16-bit level.
pub fn probability_from_level(level: u16) -> f64 {
    level as f64 / LEVEL_MAX as f64
}

/// The lowest level that counts as membrane at probability threshold `t`: ⌈65535·t⌉, so that
/// for 8-bit maps `level ≥ threshold_level(t)` is exactly `p ≥ t`.
pub fn threshold_level(t: f32) -> u32 {
    (t as f64 * LEVEL_MAX as f64).ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binarisation_rules_follow_the_spec() {
        assert!(label_is_membrane(0) && label_is_membrane(122));
        assert!(!label_is_membrane(123) && !label_is_membrane(255));
        assert!(prediction_is_membrane(0) && prediction_is_membrane(127));
        assert!(!prediction_is_membrane(128));
    }

    #[test]
    fn stored_values_are_membrane_dark_and_clamped() {
        assert_eq!(stored_from_probability(1.0), 0);
        assert_eq!(stored_from_probability(0.0), 255);
        assert_eq!(stored_from_probability(1.5), 0);
        assert_eq!(stored_from_probability(-0.5), 255);
        assert_eq!(stored_from_probability(f32::NAN), 255);
        for v in 0..=255u8 {
            assert_eq!(stored_from_probability(probability_from_stored(v)), v);
        }
    }

    #[test]
    fn stored_probabilities_read_as_predictions_are_membrane_above_one_half() {
        // `urisc eval` reads an 8-bit probability map with the prediction rule (< 128): that is
        // p > 0.5 of the stored value. (A p in [0.5, 0.502) is stored as 128: the binary map at
        // threshold 0.5 calls it membrane, its 8-bit probability map does not.)
        for v in 0..=255u8 {
            let p = probability_from_stored(v);
            assert_eq!(prediction_is_membrane(v), p > 0.5, "stored {v}, p {p}");
        }
        assert_eq!(stored_from_probability(0.5), 128);
        assert_eq!(binary_from_probability(0.5, 0.5), MEMBRANE);
        assert_eq!(binary_from_probability(0.499, 0.5), BACKGROUND);
    }

    #[test]
    fn logits_are_finite_and_invert_the_sigmoid() {
        assert!(logit_from_probability(0.0).is_finite());
        assert!(logit_from_probability(1.0).is_finite());
        assert!((logit_from_probability(0.25) - (1.0f32 / 3.0).ln()).abs() < 1e-6);
        for x in [-5.0f32, -0.3, 0.0, 2.0, 7.0] {
            assert!((logit_from_probability(probability_from_logit(x)) - x).abs() < 1e-3);
        }
    }

    #[test]
    fn levels_are_exact_for_8_bit_maps() {
        for v in 0..=255u8 {
            let p = probability_from_stored(v);
            assert_eq!(level_from_stored(v), level_from_probability(p));
            assert_eq!(stored_from_level(level_from_stored(v)), v);
            for t in [0.0f32, 0.3, 0.5, 1.0] {
                assert_eq!(
                    level_from_stored(v) as u32 >= threshold_level(t),
                    (255 - v) as f64 / 255.0 >= t as f64
                );
            }
        }
    }
}
