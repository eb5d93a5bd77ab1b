//! What the rest of urisc needs from a segmentation network, and nothing more.
//!
//! Tiled inference, attribution and benchmarks are written against these traits, never against
//! a concrete network, so they can be tested with the tiny hand-made models of [`testing`]
//! (whose outputs and gradients are known exactly) and run unchanged on any backend.
//!
//! A model maps a batch of normalised 1-channel tiles, row-major `[n, 1, height, width]`, to
//! membrane logits of the same layout.
//!
//! ```
//! use urisc_model::testing::LinearFilter;
//! use urisc_model::{BatchShape, SegmentationModel};
//!
//! // A 3×3 box filter: each logit is the sum of its neighbourhood (zero padding).
//! let model = LinearFilter::new(1, vec![1.0; 9], 0.0);
//! let shape = BatchShape { n: 1, height: 2, width: 2 };
//! assert_eq!(model.logits(&[1.0, 2.0, 3.0, 4.0], shape).unwrap(), vec![10.0; 4]);
//! ```
//!
//! Running a model can fail (a GPU out of memory, a device lost, a batch of the wrong size):
//! both methods return a [`ModelError`] then, never panic.

pub mod testing;

/// The pixel sizes urisc accepts, in nm/pixel, for sections and models alike: from far below any
/// electron microscope's (0.01 nm) to light microscopy's (100 µm). A value outside is a typo or
/// a unit mix-up (`1e-9` meant metres).
pub const PIXEL_SIZE_RANGE: std::ops::RangeInclusive<f64> = 0.01..=100_000.0;

/// What a trained model says about how it is run: the defaults a prediction starts from
/// (`urisc_infer::job` resolves a user's flags against them).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDefaults {
    /// The tile side it was trained on: the default inference tile.
    pub tile: usize,
    /// Input sides must be multiples of this.
    pub size_multiple: usize,
    /// Its validation threshold: membrane iff p ≥ this.
    pub threshold: f32,
    /// The pixel size it was trained at, nm/pixel.
    pub pixel_size_nm: Option<f64>,
}

/// Shape of a batch of 1-channel tiles, `[n, 1, height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchShape {
    /// Tiles in the batch.
    pub n: usize,
    /// Tile height in pixels.
    pub height: usize,
    /// Tile width in pixels.
    pub width: usize,
}

impl BatchShape {
    /// Values in the batch.
    pub fn len(&self) -> usize {
        self.n * self.height * self.width
    }

    /// Whether the batch holds no values (no tiles, or a side of zero).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a model could not run a batch.
#[derive(Debug)]
pub struct ModelError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ModelError {
    /// An error with this message and no underlying cause.
    pub fn new(message: impl Into<String>) -> ModelError {
        ModelError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with the underlying cause attached (shown by error reporters as its source).
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ModelError {
        ModelError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Checks that `input` holds `shape` (every engine's first step).
    pub fn check_shape(input: &[f32], shape: BatchShape) -> Result<(), ModelError> {
        if input.len() != shape.len() {
            return Err(ModelError::new(format!(
                "a batch of {} values does not hold {}×{}×{} tiles",
                input.len(),
                shape.n,
                shape.height,
                shape.width
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A network that segments membranes: normalised tiles in, membrane logits out.
pub trait SegmentationModel {
    /// Tile heights and widths must be multiples of this (2^(levels − 1) for a U-Net).
    fn size_multiple(&self) -> usize;

    /// The network input for an 8-bit grey value (membrane dark).
    fn normalize(&self, grey: u8) -> f32;

    /// Membrane logits of a batch of normalised tiles (`input.len() == shape.len()`).
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError>;

    /// Pixels of context an output pixel can depend on, on any side (the half-width of its
    /// receptive field); `None` if unknown. Tiling uses it for margins, attribution to put
    /// targets whose receptive fields do not overlap into one backward pass.
    fn context_radius(&self) -> Option<usize>;
}

/// A model whose logits can be differentiated with respect to its input.
pub trait InputGradient: SegmentationModel {
    /// For each batch item k, the gradient of `Σ_t logit_k[t]` (the sum over `targets`,
    /// given as `(row, column)`) with respect to input item k; same layout as `input`.
    ///
    /// When the receptive fields of the targets do not overlap, each target's own gradient is
    /// the part of the result inside its receptive field.
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError>;
}

impl<M: SegmentationModel + ?Sized> SegmentationModel for &M {
    fn size_multiple(&self) -> usize {
        (**self).size_multiple()
    }
    fn normalize(&self, grey: u8) -> f32 {
        (**self).normalize(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        (**self).logits(input, shape)
    }
    fn context_radius(&self) -> Option<usize> {
        (**self).context_radius()
    }
}

impl<M: InputGradient + ?Sized> InputGradient for &M {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        (**self).logit_input_gradient(input, shape, targets)
    }
}
