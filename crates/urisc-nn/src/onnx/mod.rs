//! ONNX model exchange: [`export_onnx`] writes urisc networks as standard ONNX graphs (opset
//! 17) that ONNX Runtime, tract and bioimage.io tools run; [`import_onnx`] maps U-Nets trained
//! elsewhere (the SPEC §5 U-Net exported from PyTorch, and urisc's own exports) onto urisc's
//! network, so `predict`, `attribute`, `bench` and training run them on urisc's kernels.
//!
//! Only a small part of ONNX's protobuf schema is needed ([`proto`]), decoded with `prost`,
//! so this costs the default build no ONNX runtime.

#[cfg(feature = "tract")]
mod engine;
mod export;
mod import;
pub mod proto;

#[cfg(feature = "tract")]
pub use engine::OnnxEngine;
pub use export::export_onnx;
pub use import::{import_onnx, import_onnx_described, ImportDefaults};

/// The ONNX operator set urisc writes.
pub const OPSET: i64 = 17;

/// What the exported graph outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnnxOutput {
    /// Membrane logits (`logits`), as urisc's network computes them.
    Logits,
    /// Membrane probabilities (`probability`), a Sigmoid after the logits.
    Probability,
}

/// Whether `bytes` look like an ONNX model rather than a safetensors file: safetensors begins
/// with its header's length and `{`; an ONNX model is a protobuf message with a graph.
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    let safetensors = bytes.len() > 8 && bytes[8] == b'{';
    !safetensors
        && <proto::ModelProto as prost::Message>::decode(bytes)
            .is_ok_and(|m| m.graph.is_some_and(|g| !g.node.is_empty()))
}
