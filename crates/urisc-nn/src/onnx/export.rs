//! urisc networks as ONNX graphs (opset 17): batch norm folded into the convolutions, dynamic
//! batch, height and width, the descriptor in the model's metadata.

use prost::Message;
use urisc_cpu::{Block, Conv, ConvBn, Net};

use super::proto::*;
use super::{OnnxOutput, OPSET};
use crate::descriptor::ModelDescriptor;

/// Builds the graph node by node, naming values `t0, t1, …`.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next: usize,
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i,
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The ×2 nearest upsampling scales, shared by every decoder level.
const UPSAMPLE_SCALES: &str = "upsample.scales";

/// Nearest upsampling as urisc's: out[y][x] = in[⌊y/f⌋][⌊x/f⌋].
fn nearest_floor() -> Vec<AttributeProto> {
    vec![
        string_attr("mode", "nearest"),
        string_attr("coordinate_transformation_mode", "asymmetric"),
        string_attr("nearest_mode", "floor"),
    ]
}

/// A float tensor stored as little-endian `raw_data` (what exporters write; compact).
pub(super) fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

impl Builder {
    /// One network's graph from value `input`; its logits' value. Initialisers are named as
    /// the model file's tensors, with `prefix` (`coarse.` for a coarse stage).
    fn stage(&mut self, net: &Net, input: &str, prefix: &str) -> String {
        let mut x = input.to_string();
        let mut skips = Vec::new();
        for (k, block) in net.down.iter().enumerate() {
            if k > 0 {
                x = self.node(
                    "MaxPool",
                    &[&x],
                    vec![
                        ints_attr("kernel_shape", &[2, 2]),
                        ints_attr("strides", &[2, 2]),
                    ],
                );
            }
            x = self.block(&format!("{prefix}down.{k}"), &x, block);
            skips.push(x.clone());
        }
        skips.pop();
        for (i, level) in net.up.iter().enumerate() {
            let up = self.node("Resize", &[&x, "", UPSAMPLE_SCALES], nearest_floor());
            let reduced = self.conv_bn(&format!("{prefix}up.{i}.reduce"), &up, &level.reduce, true);
            let skip = skips.pop().expect("one skip per decoder level");
            let merged = if net.concat_skips {
                self.node("Concat", &[&reduced, &skip], vec![int_attr("axis", 1)])
            } else {
                self.node("Add", &[&reduced, &skip], vec![])
            };
            x = self.block(&format!("{prefix}up.{i}.block"), &merged, &level.block);
        }
        self.plain_conv(&format!("{prefix}head"), &x, &net.head)
    }

    fn value(&mut self) -> String {
        self.next += 1;
        format!("t{}", self.next - 1)
    }

    fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let out = self.value();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{op}_{}", self.nodes.len()),
            op_type: op.into(),
            attribute: attributes,
            ..Default::default()
        });
        out
    }

    /// A convolution with weights `oihw` and `bias` (already folded), `same` padding.
    fn conv(&mut self, name: &str, x: &str, conv: &Conv, oihw: Vec<f32>, bias: Vec<f32>) -> String {
        let (w, b) = (format!("{name}.weight"), format!("{name}.bias"));
        self.initializers.push(float_tensor(
            &w,
            &[conv.cout, conv.cin, conv.k, conv.k],
            &oihw,
        ));
        self.initializers
            .push(float_tensor(&b, &[conv.cout], &bias));
        let k = conv.k as i64;
        let p = k / 2;
        self.node(
            "Conv",
            &[x, &w, &b],
            vec![
                ints_attr("kernel_shape", &[k, k]),
                ints_attr("pads", &[p, p, p, p]),
                ints_attr("strides", &[1, 1]),
                ints_attr("dilations", &[1, 1]),
                int_attr("group", 1),
            ],
        )
    }

    fn plain_conv(&mut self, name: &str, x: &str, conv: &Conv) -> String {
        self.conv(name, x, conv, conv.to_oihw(&conv.weight), conv.bias.clone())
    }

    /// Conv + batch norm (folded: `W·s`, `b·s + t` with the evaluation scale and shift), then
    /// ReLU if `relu`.
    fn conv_bn(&mut self, name: &str, x: &str, layer: &ConvBn, relu: bool) -> String {
        let (scale, shift) = layer.bn.eval_affine();
        let conv = &layer.conv;
        let per_out = conv.cin * conv.k * conv.k;
        let mut oihw = conv.to_oihw(&conv.weight);
        for (o, row) in oihw.chunks_mut(per_out).enumerate() {
            row.iter_mut().for_each(|v| *v *= scale[o]);
        }
        let bias = (0..conv.cout)
            .map(|o| conv.bias[o] * scale[o] + shift[o])
            .collect();
        let y = self.conv(name, x, conv, oihw, bias);
        if relu {
            self.node("Relu", &[&y], vec![])
        } else {
            y
        }
    }

    fn block(&mut self, name: &str, x: &str, block: &Block) -> String {
        match block {
            Block::Plain { a, b } => {
                let mid = self.conv_bn(&format!("{name}.a"), x, a, true);
                self.conv_bn(&format!("{name}.b"), &mid, b, true)
            }
            Block::Residual { a, b, projection } => {
                let mid = self.conv_bn(&format!("{name}.a"), x, a, true);
                let main = self.conv_bn(&format!("{name}.b"), &mid, b, false);
                let shortcut = match projection {
                    Some(p) => self.plain_conv(&format!("{name}.projection"), x, p),
                    None => x.to_string(),
                };
                let sum = self.node("Add", &[&main, &shortcut], vec![]);
                self.node("Relu", &[&sum], vec![])
            }
        }
    }
}

fn tensor_value(name: &str, dims: [&str; 4]) -> ValueInfoProto {
    let dim = |d: &str| match d.parse::<i64>() {
        Ok(v) => Dimension {
            dim_value: Some(v),
            ..Default::default()
        },
        Err(_) => Dimension {
            dim_param: Some(d.into()),
            ..Default::default()
        },
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims.iter().map(|d| dim(d)).collect(),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model of `net`: input `input` `[N, 1, H, W]` (normalised intensities, as the
/// descriptor's normalisation makes them; H and W multiples of 2^(depth − 1)), output `logits`
/// or `probability` `[N, 1, H, W]`. The descriptor (JSON) and its normalisation, threshold and
/// pixel size are metadata properties, so [`super::import_onnx`] restores the model exactly.
pub fn export_onnx(net: &Net, descriptor: &ModelDescriptor, output: OnnxOutput) -> Vec<u8> {
    let mut b = Builder {
        nodes: Vec::new(),
        initializers: Vec::new(),
        next: 0,
    };
    b.initializers
        .push(float_tensor(UPSAMPLE_SCALES, &[4], &[1.0, 1.0, 2.0, 2.0]));
    let input = match &net.coarse {
        None => "input".to_string(),
        Some(c) => {
            // The coarse stage: f×f means, its network (+ sigmoid), nearest ×f, stacked on the image.
            let f = c.factor as i64;
            let small = if f > 1 {
                b.node(
                    "AveragePool",
                    &["input"],
                    vec![
                        ints_attr("kernel_shape", &[f, f]),
                        ints_attr("strides", &[f, f]),
                    ],
                )
            } else {
                "input".to_string()
            };
            let y = b.stage(&c.net, &small, "coarse.");
            // A frozen stage hands on its probability, a joint one its features.
            let p = if c.joint {
                y
            } else {
                b.node("Sigmoid", &[&y], vec![])
            };
            let up = if f > 1 {
                let scales = "coarse.scales";
                b.initializers
                    .push(float_tensor(scales, &[4], &[1.0, 1.0, f as f32, f as f32]));
                b.node("Resize", &[&p, "", scales], nearest_floor())
            } else {
                p
            };
            b.node("Concat", &["input", &up], vec![int_attr("axis", 1)])
        }
    };
    let logits = b.stage(net, &input, "");
    let (out_value, out_name) = match output {
        OnnxOutput::Logits => (logits, "logits"),
        OnnxOutput::Probability => (b.node("Sigmoid", &[&logits], vec![]), "probability"),
    };
    // Rename the last value to the output's name.
    let last = b.nodes.last_mut().expect("at least the head");
    debug_assert_eq!(last.output[0], out_value);
    last.output[0] = out_name.into();
    let descriptor_json = serde_json::to_string(descriptor).expect("descriptor serialises");
    let metadata = [
        ("urisc.descriptor", descriptor_json),
        ("urisc.output", out_name.to_string()),
        (
            "normalization",
            format!(
                "input = (v / 255 - {}) / {} for 8-bit intensities v",
                descriptor.normalization.mean, descriptor.normalization.std
            ),
        ),
        ("threshold", descriptor.threshold.to_string()),
        (
            "pixel_size_nm",
            descriptor
                .pixel_size_nm
                .map_or("unknown".into(), |p| p.to_string()),
        ),
    ];
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "urisc".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{:?} membrane segmentation network (base width {}, depth {}); input height and \
             width must be multiples of {}",
            descriptor.model.architecture,
            descriptor.model.base_width,
            descriptor.model.depth,
            descriptor.model.size_multiple()
        ),
        graph: Some(GraphProto {
            node: b.nodes,
            name: "urisc".into(),
            initializer: b.initializers,
            input: vec![tensor_value("input", ["N", "1", "H", "W"])],
            output: vec![tensor_value(out_name, ["N", "1", "H", "W"])],
            ..Default::default()
        }),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.into(),
                value,
            })
            .collect(),
        ..Default::default()
    };
    model.encode_to_vec()
}
