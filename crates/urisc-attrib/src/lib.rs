//! Integrated-gradients attribution for membrane segmentation networks.

pub mod upsample;
