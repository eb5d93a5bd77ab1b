//! Test-time augmentation over the dihedral group of the square.

use urisc_data::{dihedral_inverse, dihedral_plane};
use urisc_model::{BatchShape, ModelError, SegmentationModel};

/// Accepted `--tta` values.
pub const TTA_CHOICES: [usize; 4] = [1, 2, 4, 8];

/// Dihedral elements (see [`urisc_data::dihedral`]) for a TTA level: 1 identity, 2 adds the
/// horizontal flip, 4 the flips and the half turn (no transposes), 8 the whole group.
pub fn tta_transforms(level: usize) -> Vec<usize> {
    match level {
        1 => vec![0],
        2 => vec![0, 4],
        4 => vec![0, 4, 2, 6],
        8 => (0..8).collect(),
        other => panic!("TTA level {other} is not one of {TTA_CHOICES:?}"),
    }
}

/// Probabilities of `n` tiles (`h × w`, row-major), averaged over `transforms`: each transform
/// runs as one batch and is undone before averaging.
pub(crate) fn predict_augmented(
    model: &dyn SegmentationModel,
    tiles: &[f32],
    n: usize,
    h: usize,
    w: usize,
    transforms: &[usize],
) -> Result<Vec<f32>, ModelError> {
    if transforms == [0] {
        return probabilities(
            model,
            tiles,
            BatchShape {
                n,
                height: h,
                width: w,
            },
        );
    }
    let mut mean = vec![0f32; tiles.len()];
    for &k in transforms {
        let mut batch = Vec::with_capacity(tiles.len());
        let (mut th, mut tw) = (h, w);
        for tile in tiles.chunks_exact(h * w) {
            let (t, a, b) = dihedral_plane(tile, h, w, k);
            (th, tw) = (a, b);
            batch.extend(t);
        }
        let p = probabilities(
            model,
            &batch,
            BatchShape {
                n,
                height: th,
                width: tw,
            },
        )?;
        for (out, tile) in mean.chunks_exact_mut(h * w).zip(p.chunks_exact(th * tw)) {
            let (back, ..) = dihedral_plane(tile, th, tw, dihedral_inverse(k));
            for (m, v) in out.iter_mut().zip(back) {
                *m += v;
            }
        }
    }
    let scale = 1.0 / transforms.len() as f32;
    mean.iter_mut().for_each(|m| *m *= scale);
    Ok(mean)
}

/// Logits → probabilities of one batch (shared by the augmentation code).
pub(crate) fn probabilities(
    model: &dyn SegmentationModel,
    tiles: &[f32],
    shape: BatchShape,
) -> Result<Vec<f32>, ModelError> {
    Ok(model
        .logits(tiles, shape)?
        .into_iter()
        .map(urisc_io::encoding::probability_from_logit)
        .collect())
}
