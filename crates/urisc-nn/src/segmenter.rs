//! The engines that run a model ([`Engine`]) and [`Segmenter`], a loaded model on one of them.

use std::path::Path;

use urisc_model::{BatchShape, InputGradient, ModelError, SegmentationModel};

use crate::descriptor::ModelDescriptor;
use crate::file::ModelFileError;

/// Which kernels run a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// urisc's own CPU kernels (`urisc-cpu`).
    #[default]
    Cpu,
    /// burn on its default device: the one `BURN_DEVICE` names, else the first compiled in (a
    /// GPU through wgpu when built with the `gpu` feature, else burn's CPU backend).
    Burn,
    /// tract, a pure-Rust ONNX runtime, on the model as ONNX: for ONNX graphs urisc cannot map
    /// onto its own network (built with the `tract` feature; predictions only).
    Onnx,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "cpu" => Ok(Engine::Cpu),
            "burn" => Ok(Engine::Burn),
            "onnx" => Ok(Engine::Onnx),
            _ => Err(format!("unknown engine '{s}' (cpu, burn or onnx)")),
        }
    }
}

/// A loaded model on the chosen [`Engine`], behind the model traits: what the CLI and the
/// library's commands hold, whatever runs it.
pub struct Segmenter {
    model: Box<dyn InputGradient + Sync>,
    descriptor: ModelDescriptor,
}

/// What errors call the model embedded in the binary (it has no path of its own).
pub const EMBEDDED_MODEL_NAME: &str = "<the embedded default model>";

/// The shipped default model (`models/default/best.safetensors`: a width-8 U-Net trained by
/// `urisc train --config configs/default.toml` on ISBI 2012 slices 00–15, 4 nm/pixel), compiled
/// into the library so that `urisc predict` works without `--model` wherever it is installed.
pub fn embedded_model_bytes() -> &'static [u8] {
    include_bytes!("../../../models/default/best.safetensors")
}

impl Segmenter {
    /// Loads a model file onto `engine`; an engine this build does not have is an error that
    /// says how to get it.
    pub fn load(path: &Path, engine: Engine) -> Result<Segmenter, ModelFileError> {
        if engine == Engine::Onnx {
            let bytes = std::fs::read(path).map_err(|e| ModelFileError::Invalid {
                path: path.to_path_buf(),
                message: format!("cannot read: {e}"),
            })?;
            return Segmenter::on_onnx_engine(path, &bytes);
        }
        let (net, descriptor) = crate::load_model(path)?;
        Segmenter::on_engine(net, descriptor, engine, path)
    }

    /// The embedded default model ([`embedded_model_bytes`]) on `engine`.
    pub fn embedded_default(engine: Engine) -> Result<Segmenter, ModelFileError> {
        let path = Path::new(EMBEDDED_MODEL_NAME);
        if engine == Engine::Onnx {
            return Segmenter::on_onnx_engine(path, embedded_model_bytes());
        }
        let (net, descriptor) = crate::model_from_bytes(path, embedded_model_bytes())?;
        Segmenter::on_engine(net, descriptor, engine, path)
    }

    /// A model file if given, else the embedded default model.
    pub fn load_or_default(
        path: Option<&Path>,
        engine: Engine,
    ) -> Result<Segmenter, ModelFileError> {
        match path {
            Some(path) => Segmenter::load(path, engine),
            None => Segmenter::embedded_default(engine),
        }
    }

    /// A model file or an ONNX file on the ONNX engine: urisc models and ONNX U-Nets it can map
    /// keep their descriptor; other ONNX graphs get the import defaults (normalisation
    /// (v/255 − 0.5)/0.5, threshold 0.5, tiles of 512) and sides that are multiples of 32.
    fn on_onnx_engine(path: &Path, bytes: &[u8]) -> Result<Segmenter, ModelFileError> {
        let invalid = |message: String| ModelFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        #[cfg(feature = "tract")]
        {
            use crate::onnx::{export_onnx, import_onnx, ImportDefaults, OnnxEngine, OnnxOutput};
            let (onnx, descriptor) = if crate::onnx::looks_like_onnx(bytes) {
                let descriptor = match import_onnx(bytes, &ImportDefaults::default()) {
                    Ok((_, d)) => d,
                    Err(_) => {
                        let config = ModelConfig {
                            architecture: crate::Architecture::Unet,
                            base_width: 1,
                            depth: 6,
                            coarse: None,
                        };
                        let mut d = ModelDescriptor::new(config, 512);
                        d.training.insert(
                            "architecture".into(),
                            "an ONNX graph run by tract (`model` is a placeholder that only fixes \
                             tile sides to multiples of 32)"
                                .into(),
                        );
                        d
                    }
                };
                (bytes.to_vec(), descriptor)
            } else {
                let (net, d) = crate::model_from_bytes(path, bytes)?;
                (export_onnx(&net, &d, OnnxOutput::Logits), d)
            };
            let engine = OnnxEngine::new(
                &onnx,
                descriptor.normalization,
                descriptor.model.size_multiple(),
            )
            .map_err(invalid)?;
            Ok(Segmenter {
                model: Box::new(engine),
                descriptor,
            })
        }
        #[cfg(not(feature = "tract"))]
        {
            let _ = bytes;
            Err(invalid(
                "the ONNX engine is not in this build of urisc (build it with `--features onnx`)"
                    .into(),
            ))
        }
    }

    fn on_engine(
        net: urisc_cpu::Net,
        descriptor: ModelDescriptor,
        engine: Engine,
        path: &Path,
    ) -> Result<Segmenter, ModelFileError> {
        match engine {
            Engine::Cpu => Ok(Segmenter {
                model: Box::new(crate::FastSegmenter::from_cpu_net(net, descriptor.clone())),
                descriptor,
            }),
            Engine::Onnx => {
                let bytes = crate::model_bytes(&net, &descriptor).map_err(|message| {
                    ModelFileError::Invalid {
                        path: path.to_path_buf(),
                        message,
                    }
                })?;
                Segmenter::on_onnx_engine(path, &bytes)
            }
            #[cfg(feature = "burn")]
            Engine::Burn if descriptor.model.coarse.is_some() => Err(ModelFileError::Invalid {
                path: path.to_path_buf(),
                message:
                    "a two-stage or two-scale model runs on the cpu engine only (burn has no coarse stage)"
                        .into(),
            }),
            #[cfg(feature = "burn")]
            Engine::Burn => {
                let _ = path; // only named in errors
                let device = burn::prelude::Device::default();
                let modules = crate::from_cpu_net(
                    crate::SegmentationNet::new(&descriptor.model, &device),
                    &net,
                );
                Ok(Segmenter {
                    model: Box::new(crate::BurnSegmenter::new(
                        modules,
                        descriptor.clone(),
                        &device,
                    )),
                    descriptor,
                })
            }
            #[cfg(not(feature = "burn"))]
            Engine::Burn => {
                let _ = net;
                Err(ModelFileError::Invalid {
                    path: path.to_path_buf(),
                    message: "the burn engine is not in this build of urisc (build it with \
                              `--features burn`, `gpu` or `cuda`)"
                        .into(),
                })
            }
        }
    }

    /// The model's descriptor (architecture, normalisation, tile, threshold, pixel size).
    pub fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }
}

impl SegmentationModel for Segmenter {
    fn size_multiple(&self) -> usize {
        self.model.size_multiple()
    }
    fn normalize(&self, grey: u8) -> f32 {
        self.model.normalize(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        self.model.logits(input, shape)
    }
    fn context_radius(&self) -> Option<usize> {
        self.model.context_radius()
    }
}

impl InputGradient for Segmenter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        self.model.logit_input_gradient(input, shape, targets)
    }
}
