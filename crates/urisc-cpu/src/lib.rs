//! Fast CPU execution of urisc's segmentation networks, without a deep-learning framework.
//!
//! Activations are NHWC ([`Act`]). Convolutions run as an implicit GEMM on a hand-written
//! AVX-512 tile (14 output pixels × 32 output channels in registers) whose operands are read
//! through per-row pointers: a 3×3 convolution's taps point straight at neighbouring pixels'
//! channel vectors (zeros outside the image), so no im2col copy is made, and the U-Net's skip
//! concatenation is read in place. 3×3 convolutions run as
//! Winograd F(4×4, 3×3) instead (4× fewer multiplications; `URISC_CONV=winograd2` for F(2×2, 3×3),
//! `direct` to compare), their 36 GEMMs on the same tile. Work is split into bands of rows across
//! rayon's threads. In inference, batch norm folds into the convolution's weights, ReLU runs as
//! each band's epilogue while it is in cache, and upsampled maps are read in place. Training and input gradients record a [`Tape`]; data gradients are convolutions with
//! the flipped kernel, 3×3 weight gradients GEMMs in the Winograd domain reduced over tiles
//! (others the same tile over (tap, channel) rows and pixel steps), batch norm + ReLU backward
//! fused. CPUs with AVX2 and FMA but not AVX-512 run the same code on 8-float vectors and an
//! AVX2 tile, aarch64 CPUs on NEON's 4-float vectors and a NEON tile; others take im2col + the
//! `gemm` crate.
//!
//! Which kernel path and 3×3 algorithm run is a value, [`Kernels`]: every entry point that runs
//! kernels has a `_with` form taking one ([`Conv::forward_with`], [`Net::infer_with`],
//! [`Net::forward_recorded_with`], …), and the plain forms run on [`Kernels::default`], what
//! `URISC_KERNELS` and `URISC_CONV` choose (read once). Nothing is switched process-wide, so
//! calls on different kernels may run side by side.
//!
//! The network structure mirrors `urisc_nn::SegmentationNet` (which converts to and from
//! [`Net`]); tests there check every layer and whole networks against burn's reference
//! implementation.
//!
//! ```
//! use urisc_cpu::{Act, Conv};
//! // A 3×3 box filter on a 1-channel 4×4 image of ones.
//! let conv = Conv::new(1, 1, 3, vec![1.0; 9], vec![0.0]);
//! let y = conv.forward(&[&Act::from_vec(1, 4, 4, 1, vec![1.0; 16])], None);
//! assert_eq!(y.data[0], 4.0); // corner: four pixels inside
//! assert_eq!(y.data[5], 9.0); // interior
//! ```

#[macro_use]
mod lanes;
mod conv;
mod kernels;
mod loss;
mod net;
mod norm;
mod param;
mod peak;
mod recycle;
mod resample;
mod sgemm;
mod tensor;
mod wide;
mod winograd;

pub use conv::Conv;
pub use kernels::{
    available_kernel_paths, kernel_path, ConvAlgorithm, KernelPath, Kernels, Unavailable,
};
pub use loss::bce_with_logits;
pub use net::{Block, Coarse, ConvBn, Gradients, LayerMut, Mode, Net, Tape, UpLevel};
pub use norm::{AffineGrads, BatchNorm, BnSaved};
pub use param::{Adam, Moments};
pub use peak::peak_gflops;
pub use recycle::Recycling;
pub use resample::{
    max_pool2, max_pool2_backward, max_pool2_backward_with, max_pool2_with, upsample2,
    upsample2_backward, upsample2_backward_with,
};
pub use tensor::{pseudo_random, Act, Epilogue};
