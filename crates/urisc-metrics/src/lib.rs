//! Exact membrane-segmentation metrics for urisc (SPEC §4), with no deep-learning dependency.
//!
//! | metric | function | matches |
//! |---|---|---|
//! | U-RISC F1, binarised (default) | [`Confusion::binarized`] | the competition rules |
//! | U-RISC F1, faithful | [`faithful`] | the competition's `eval.py` |
//! | IoU, Dice | [`PixelScores`] | |
//! | PHD at t ∈ {0, 1, 3, 5, 10} | [`phd()`] | the authors' PS-Net code, scikit-image skeletons |
//! | V_rand, V_info after thinning | [`vrand_vinfo`] | Fiji Trainable_Segmentation |
//! | adapted Rand error, VOI split/merge | [`partition_scores`] | scikit-image |
//! | cells (label images): ARE, VOI, CREMI, V_rand, V_info | [`score_labels`] | scikit-image, Fiji |
//!
//! Every function takes row-major buffers with explicit `height × width`; membrane is the
//! positive class.
//!
//! ```
//! use urisc_metrics::{Confusion, phd, vrand_vinfo, Proposal};
//! // 1 × 4 maps, membrane black (0): gt membrane at 0 and 1, prediction at 1 and 2.
//! let gt = [0u8, 0, 255, 255];
//! let pred = [255u8, 0, 0, 255];
//! let s = Confusion::binarized(&gt, &pred).scores();
//! assert_eq!((s.precision, s.recall, s.f1), (0.5, 0.5, 0.5));
//! let membrane = |m: &[u8]| m.iter().map(|&v| (v < 128) as u8).collect::<Vec<_>>();
//! assert_eq!(phd(&membrane(&gt), &membrane(&pred), 1, 4, &[1.0]), vec![0.0]);
//! let isbi = vrand_vinfo(1, 4, |i| gt[i] > 122, Proposal::U8(&pred));
//! assert!(isbi.vrand > 0.0);
//! ```

pub mod instances;
pub mod isbi;
pub mod partition;
pub mod phd;
pub mod pixel;
pub mod runs;
pub mod skeleton;
pub mod thinning;

pub use instances::{gt_cells, instance_scores, label_runs, score_labels, InstanceScores};
pub use isbi::{fiji_thresholds, vrand_vinfo, IsbiScores, Proposal, ThresholdScores};
pub use partition::{partition_scores, PartitionScores};
pub use phd::{phd, phd_of_points, skeleton_points, PHD_TOLERANCES};
pub use pixel::{
    best_f1_threshold, f_score, faithful, BestThreshold, Confusion, FaithfulFormatError,
    PixelScores,
};
pub use runs::{connected_components, RunSegmentation};
pub use skeleton::{skeletonize, skeletonize_in_place};
pub use thinning::fiji_thinning;
