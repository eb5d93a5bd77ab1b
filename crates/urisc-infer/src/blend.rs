//! Where tiles go and how much each pixel of a tile counts.

/// Tile origins along one axis: steps of `tile − overlap`, the last tile flush with the end;
/// one origin if the axis fits in a tile.
pub fn origins(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let step = (tile - overlap).max(1);
    let mut v: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&o| o + tile < len)
        .collect();
    v.push(len - tile);
    v
}

/// Blending weight along one axis of a tile: a Gaussian centred on the tile with σ = side / 8
/// (as nnU-Net), so a pixel counts most from the tile where it is most central and tile borders
/// — where context is missing — count least. Never zero, so pixels covered by one tile keep it.
pub fn gaussian_window(side: usize) -> Vec<f32> {
    let centre = (side as f64 - 1.0) / 2.0;
    let sigma = (side as f64 / 8.0).max(0.5);
    (0..side)
        .map(|i| {
            let d = (i as f64 - centre) / sigma;
            ((-0.5 * d * d).exp() as f32).max(1e-4)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_cover_the_axis_and_end_flush() {
        assert_eq!(origins(100, 128, 32), vec![0]);
        assert_eq!(origins(300, 128, 32), vec![0, 96, 172]);
        assert_eq!(origins(256, 128, 0), vec![0, 128]);
        for len in [129, 255, 511, 9958, 9959] {
            let o = origins(len, 128, 32);
            assert_eq!(*o.last().unwrap() + 128, len);
            assert!(o.windows(2).all(|p| p[1] > p[0] && p[1] - p[0] <= 96));
        }
    }

    #[test]
    fn window_is_symmetric_peaked_and_positive() {
        let w = gaussian_window(64);
        assert!((w[31] - w[32]).abs() < 1e-7 && w[0] == w[63]);
        assert!(w[31] > 0.99 && w[0] > 0.0 && w[0] < 0.01);
        assert!(w[..32].windows(2).all(|p| p[1] > p[0]));
        assert_eq!(gaussian_window(1), vec![1.0]);
    }
}
