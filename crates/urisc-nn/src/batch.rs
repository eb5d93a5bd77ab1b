//! The checks every engine makes before it runs a batch of tiles.

use urisc_model::{BatchShape, ModelError, SegmentationModel};

/// What every engine checks before running a batch: its size, tile sides that are multiples
/// of the model's, targets inside the tile.
pub(crate) fn check_batch(
    model: &dyn SegmentationModel,
    input: &[f32],
    shape: BatchShape,
    targets: &[(usize, usize)],
) -> Result<(), ModelError> {
    ModelError::check_shape(input, shape)?;
    let m = model.size_multiple();
    if !shape.height.is_multiple_of(m) || !shape.width.is_multiple_of(m) {
        return Err(ModelError::new(format!(
            "tiles of {}×{} pixels: the sides must be multiples of {m}",
            shape.height, shape.width
        )));
    }
    if let Some(&(r, c)) = targets
        .iter()
        .find(|&&(r, c)| r >= shape.height || c >= shape.width)
    {
        return Err(ModelError::new(format!(
            "target ({r}, {c}) is outside the {}×{} tile",
            shape.height, shape.width
        )));
    }
    Ok(())
}
