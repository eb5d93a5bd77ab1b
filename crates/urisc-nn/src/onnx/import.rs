//! ONNX U-Nets onto urisc's own network: the graph is walked from its input, level by level,
//! and each pattern urisc runs (Conv [+ BatchNormalization] + Relu, MaxPool 2×2, nearest ×2
//! Resize, Concat or Add skips, residual blocks, a 1×1 head, an optional Sigmoid) becomes the
//! corresponding tensors of a [`ModelConfig`]'s network. Batch norm is folded into the
//! convolutions (the imported batch norms are identities). Anything else in the graph is an
//! error that names the node.

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use urisc_cpu::Net;

use super::proto::*;
use crate::config::{Architecture, ModelConfig};
use crate::descriptor::{ModelDescriptor, Normalization};
use crate::layout::{self, BN_EPSILON};

/// What an ONNX file does not say and a urisc model needs (used unless the file was written by
/// urisc, whose descriptor is in its metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct ImportDefaults {
    /// How 8-bit intensities become the network's input (PyTorch peers: mean 0.5, std 0.5).
    pub normalization: Normalization,
    /// Inference tile side (rounded up to a multiple of 2^(depth − 1)).
    pub tile_size: usize,
    /// Membrane threshold on the probability.
    pub threshold: f32,
    /// Pixel size of the training data, nm/pixel, if known.
    pub pixel_size_nm: Option<f64>,
}

impl Default for ImportDefaults {
    fn default() -> Self {
        ImportDefaults {
            normalization: Normalization::default(),
            tile_size: 512,
            threshold: 0.5,
            pixel_size_nm: None,
        }
    }
}

/// A constant tensor of the graph, as f32.
struct Const {
    dims: Vec<usize>,
    values: Vec<f32>,
}

fn tensor_values(t: &TensorProto) -> Result<Const, String> {
    if t.data_location == Some(1) {
        return Err(format!(
            "tensor {} is stored in an external file; save the model with its weights inside",
            t.name
        ));
    }
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let raw = &t.raw_data;
    let values: Vec<f32> = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        data_type::FLOAT => t.float_data.clone(),
        data_type::DOUBLE if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        data_type::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        data_type::INT64 if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        data_type::INT64 => t.int64_data.iter().map(|&v| v as f32).collect(),
        data_type::INT32 if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32)
            .collect(),
        data_type::INT32 => t.int32_data.iter().map(|&v| v as f32).collect(),
        other => {
            return Err(format!(
                "tensor {} has ONNX data type {other} (urisc reads float, double, int32 and int64)",
                t.name
            ))
        }
    };
    let expected: usize = dims.iter().product();
    if values.len() != expected {
        return Err(format!(
            "tensor {} holds {} values for shape {dims:?}",
            t.name,
            values.len()
        ));
    }
    Ok(Const { dims, values })
}

struct Graph<'a> {
    nodes: &'a [NodeProto],
    consts: HashMap<String, Const>,
    /// Identity outputs → their input.
    alias: HashMap<String, String>,
    /// Value → indices of the nodes that read it (inputs resolved through `alias`).
    consumers: HashMap<String, Vec<usize>>,
    used: Vec<bool>,
    /// urisc-named tensors, as [`layout::build`] asks for them.
    tensors: HashMap<String, Vec<f32>>,
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn attr_string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn describe(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!("{} node → {}", node.op_type, node.output.join(", "))
    } else {
        format!("{} node '{}'", node.op_type, node.name)
    }
}

/// A convolution's weights after folding: `[cout][cin][k][k]` and one bias per output.
struct Folded {
    cin: usize,
    cout: usize,
    oihw: Vec<f32>,
    bias: Vec<f32>,
}

impl<'a> Graph<'a> {
    fn new(graph: &'a GraphProto) -> Result<Graph<'a>, String> {
        let mut consts = HashMap::new();
        for t in &graph.initializer {
            consts.insert(t.name.clone(), tensor_values(t)?);
        }
        let mut alias = HashMap::new();
        let mut used = vec![false; graph.node.len()];
        for (i, node) in graph.node.iter().enumerate() {
            match node.op_type.as_str() {
                "Constant" => {
                    let a = node
                        .attribute
                        .first()
                        .ok_or_else(|| format!("{} without a value", describe(node)))?;
                    let c = match a.name.as_str() {
                        "value" => tensor_values(a.t.as_ref().ok_or("Constant without tensor")?)?,
                        "value_float" => Const {
                            dims: vec![],
                            values: vec![a.f],
                        },
                        "value_floats" => Const {
                            dims: vec![a.floats.len()],
                            values: a.floats.clone(),
                        },
                        "value_int" => Const {
                            dims: vec![],
                            values: vec![a.i as f32],
                        },
                        "value_ints" => Const {
                            dims: vec![a.ints.len()],
                            values: a.ints.iter().map(|&v| v as f32).collect(),
                        },
                        other => return Err(format!("{} with a '{other}' value", describe(node))),
                    };
                    consts.insert(node.output[0].clone(), c);
                    used[i] = true;
                }
                "Identity" | "Dropout" => {
                    alias.insert(node.output[0].clone(), node.input[0].clone());
                    used[i] = true;
                }
                _ => {}
            }
        }
        let mut g = Graph {
            nodes: &graph.node,
            consts,
            alias,
            consumers: HashMap::new(),
            used,
            tensors: HashMap::new(),
        };
        for (i, node) in graph.node.iter().enumerate() {
            if g.used[i] {
                continue;
            }
            for input in &node.input {
                if !input.is_empty() {
                    let v = g.resolve(input);
                    g.consumers.entry(v).or_default().push(i);
                }
            }
        }
        Ok(g)
    }

    fn resolve(&self, name: &str) -> String {
        let mut v = name;
        while let Some(next) = self.alias.get(v) {
            v = next;
        }
        v.to_string()
    }

    fn consumers(&self, value: &str) -> Vec<usize> {
        self.consumers.get(value).cloned().unwrap_or_default()
    }

    /// The one node of type `op` reading `value` (and, for `Conv`, with kernel side `k`).
    fn find(&self, value: &str, op: &str, k: Option<usize>) -> Option<usize> {
        let matches: Vec<usize> = self
            .consumers(value)
            .into_iter()
            .filter(|&i| self.nodes[i].op_type == op)
            .filter(|&i| {
                k.is_none_or(|k| {
                    self.constant(&self.nodes[i].input[1])
                        .is_some_and(|w| w.dims.len() == 4 && w.dims[2] == k)
                })
            })
            .collect();
        (matches.len() == 1).then(|| matches[0])
    }

    fn expect(&mut self, value: &str, op: &str, k: Option<usize>) -> Result<usize, String> {
        let i = self.find(value, op, k).ok_or_else(|| {
            let found: Vec<String> = self
                .consumers(value)
                .into_iter()
                .map(|i| describe(&self.nodes[i]))
                .collect();
            let what = match k {
                Some(k) => format!("a {k}×{k} {op}"),
                None => format!("one {op}"),
            };
            format!(
                "expected {what} reading '{value}', found {}",
                if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                }
            )
        })?;
        self.used[i] = true;
        Ok(i)
    }

    fn constant(&self, name: &str) -> Option<&Const> {
        self.consts.get(&self.resolve(name))
    }

    fn output(&self, i: usize) -> String {
        self.nodes[i].output[0].clone()
    }

    /// A Conv reading `value` with kernel `k`, and a BatchNormalization after it if there is
    /// one, folded together; returns the weights and the value after them.
    fn conv(&mut self, value: &str, k: usize) -> Result<(Folded, String), String> {
        let i = self.expect(value, "Conv", Some(k))?;
        let node = &self.nodes[i];
        let w = self
            .constant(&node.input[1])
            .ok_or_else(|| format!("{}: weights are not a constant", describe(node)))?;
        let (cout, cin) = (w.dims[0], w.dims[1]);
        let pad = (k / 2) as i64;
        let ok = attr_ints(node, "strides").is_none_or(|s| s.iter().all(|&v| v == 1))
            && attr_ints(node, "dilations").is_none_or(|s| s.iter().all(|&v| v == 1))
            && attr_int(node, "group").is_none_or(|g| g == 1)
            && w.dims[3] == k
            && match attr_ints(node, "pads") {
                Some(p) => p.iter().all(|&v| v == pad),
                None => {
                    pad == 0
                        || attr_string(node, "auto_pad")
                            .is_some_and(|a| a == "SAME_UPPER" || a == "SAME_LOWER")
                }
            };
        if !ok {
            return Err(format!(
                "{}: urisc runs {k}×{k} convolutions with stride 1, dilation 1, one group and \
                 'same' padding",
                describe(node)
            ));
        }
        let oihw = w.values.clone();
        let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => self
                .constant(b)
                .ok_or_else(|| format!("{}: bias is not a constant", describe(node)))?
                .values
                .clone(),
            None => vec![0.0; cout],
        };
        let mut folded = Folded {
            cin,
            cout,
            oihw,
            bias,
        };
        let mut out = self.output(i);
        if let Some(j) = self.find(&out, "BatchNormalization", None) {
            self.used[j] = true;
            let node = &self.nodes[j];
            let get = |n: usize| {
                self.constant(&node.input[n])
                    .map(|c| c.values.clone())
                    .filter(|v| v.len() == cout)
                    .ok_or_else(|| {
                        format!(
                            "{}: parameters are not {cout}-channel constants",
                            describe(node)
                        )
                    })
            };
            let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
            let eps = attr(node, "epsilon").map_or(1e-5, |a| a.f);
            let per_out = cin * k * k;
            for o in 0..cout {
                let scale = gamma[o] / (var[o] + eps).sqrt();
                folded.oihw[o * per_out..][..per_out]
                    .iter_mut()
                    .for_each(|v| *v *= scale);
                folded.bias[o] = (folded.bias[o] - mean[o]) * scale + beta[o];
            }
            out = self.output(j);
        }
        Ok((folded, out))
    }

    fn relu(&mut self, value: &str) -> Result<String, String> {
        let i = self.expect(value, "Relu", None)?;
        Ok(self.output(i))
    }

    fn store_conv(&mut self, name: &str, f: &Folded) {
        self.tensors
            .insert(format!("{name}.weight"), f.oihw.clone());
        self.tensors.insert(format!("{name}.bias"), f.bias.clone());
    }

    /// Conv + identity batch norm (the imported statistics are folded into the convolution).
    fn store_conv_bn(&mut self, name: &str, f: &Folded) {
        self.store_conv(&format!("{name}.conv"), f);
        let n = f.cout;
        for (field, v) in [
            ("gamma", 1.0),
            ("beta", 0.0),
            ("running_mean", 0.0),
            // var + ε = 1: the identity.
            ("running_var", 1.0 - BN_EPSILON),
        ] {
            self.tensors
                .insert(format!("{name}.bn.{field}"), vec![v; n]);
        }
    }

    /// A level's block reading `value`; `swap_halves` when the input is a concatenation with
    /// the skip first (urisc reads the upsampled path first). Returns (residual, cout, output).
    fn block(
        &mut self,
        name: &str,
        value: &str,
        swap_halves: bool,
    ) -> Result<(bool, usize, String), String> {
        let (mut a, a_out) = self.conv(value, 3)?;
        if swap_halves {
            let half = a.cin / 2;
            for o in 0..a.cout {
                let row = &mut a.oihw[o * a.cin * 9..][..a.cin * 9];
                row.rotate_left(half * 9);
            }
        }
        let mid = self.relu(&a_out)?;
        let (b, b_out) = self.conv(&mid, 3)?;
        if self.find(&b_out, "Relu", None).is_some() {
            let out = self.relu(&b_out)?;
            self.store_conv_bn(&format!("{name}.Plain.a"), &a);
            self.store_conv_bn(&format!("{name}.Plain.b"), &b);
            return Ok((false, b.cout, out));
        }
        let add = self.expect(&b_out, "Add", None)?;
        let node = &self.nodes[add];
        let other = node
            .input
            .iter()
            .map(|s| self.resolve(s))
            .find(|s| *s != b_out)
            .ok_or_else(|| format!("{}: adds a value to itself", describe(node)))?;
        let sum = self.output(add);
        let name = format!("{name}.Residual");
        if other != value {
            let (p, p_out) = self.conv(value, 1)?;
            if p_out != other {
                return Err(format!(
                    "{}: the shortcut is neither the block's input nor a 1×1 convolution of it",
                    describe(&self.nodes[add])
                ));
            }
            self.store_conv(&format!("{name}.projection"), &p);
        }
        let out = self.relu(&sum)?;
        self.store_conv_bn(&format!("{name}.a"), &a);
        self.store_conv_bn(&format!("{name}.b"), &b);
        Ok((true, b.cout, out))
    }

    /// The nearest ×2 upsampling reading `value` (Resize or Upsample); returns its output.
    fn upsample(&mut self, value: &str) -> Result<String, String> {
        let i = self
            .find(value, "Resize", None)
            .or_else(|| self.find(value, "Upsample", None))
            .ok_or_else(|| format!("expected a Resize (nearest, ×2) reading '{value}'"))?;
        self.used[i] = true;
        let node = &self.nodes[i];
        let mode = attr_string(node, "mode").unwrap_or_else(|| "nearest".into());
        let coords =
            attr_string(node, "coordinate_transformation_mode").unwrap_or("half_pixel".into());
        let rounding = attr_string(node, "nearest_mode").unwrap_or("round_prefer_floor".into());
        let scales = if node.op_type == "Upsample" {
            attr(node, "scales").map(|a| a.floats.clone()).or_else(|| {
                node.input
                    .get(1)
                    .and_then(|s| self.constant(s))
                    .map(|c| c.values.clone())
            })
        } else {
            node.input
                .get(2)
                .filter(|s| !s.is_empty())
                .and_then(|s| self.constant(s))
                .map(|c| c.values.clone())
        };
        // Every one of these maps output row y to input row ⌊y/2⌋, as urisc's upsampling does.
        let same_as_urisc = match (coords.as_str(), rounding.as_str()) {
            ("asymmetric", "floor" | "round_prefer_floor") => true,
            ("half_pixel" | "pytorch_half_pixel", "round_prefer_floor" | "round_prefer_ceil") => {
                true
            }
            _ => node.op_type == "Upsample",
        };
        if mode != "nearest" || !same_as_urisc || scales.as_deref() != Some(&[1.0, 1.0, 2.0, 2.0]) {
            return Err(format!(
                "{}: urisc upsamples ×2 by nearest neighbour (out[y] = in[⌊y/2⌋]); this one has \
                 mode '{mode}', coordinate_transformation_mode '{coords}', nearest_mode \
                 '{rounding}', scales {scales:?} (constant scales [1, 1, 2, 2] are needed)",
                describe(node)
            ));
        }
        Ok(self.output(i))
    }
}

/// Reads an ONNX model (bytes of a `.onnx` file) as a urisc network and descriptor. A file
/// urisc wrote carries its descriptor; others get `defaults`.
pub fn import_onnx(
    bytes: &[u8],
    defaults: &ImportDefaults,
) -> Result<(Net, ModelDescriptor), String> {
    import_onnx_described(bytes, defaults).map(|(net, descriptor, _)| (net, descriptor))
}

/// [`import_onnx`], and whether the descriptor came from the file's urisc metadata (`false`:
/// from `defaults`).
pub fn import_onnx_described(
    bytes: &[u8],
    defaults: &ImportDefaults,
) -> Result<(Net, ModelDescriptor, bool), String> {
    let model =
        ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model (protobuf: {e})"))?;
    let graph = model.graph.as_ref().ok_or("not an ONNX model (no graph)")?;
    if let Some(op) = model
        .opset_import
        .iter()
        .find(|o| !(o.domain.is_empty() || o.domain == "ai.onnx"))
    {
        return Err(format!(
            "uses the custom operator set '{}'; urisc reads standard ONNX",
            op.domain
        ));
    }
    let mut g = Graph::new(graph)?;
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|v| !g.consts.contains_key(&v.name))
        .collect();
    if inputs.len() != 1 || graph.output.len() != 1 {
        return Err(format!(
            "a segmentation network has one image input and one output; this graph has {} \
             input(s) and {} output(s)",
            inputs.len(),
            graph.output.len()
        ));
    }
    let input = inputs[0].name.clone();
    if let Some(dims) = inputs[0]
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
    {
        let channels = dims.dim.get(1).and_then(|d| d.dim_value);
        if dims.dim.len() != 4 || channels.is_some_and(|c| c != 1) {
            return Err(format!(
                "input '{input}' must be [N, 1, H, W] (one grey channel)"
            ));
        }
    }
    // Encoder.
    let mut x = input;
    let mut widths = Vec::new();
    let mut residual = Vec::new();
    let mut skips = Vec::new();
    loop {
        let k = widths.len();
        let (res, width, out) = g.block(&format!("down.{k}"), &x, false)?;
        widths.push(width);
        residual.push(res);
        match g.find(&out, "MaxPool", None) {
            Some(i) => {
                g.used[i] = true;
                let node = &g.nodes[i];
                let ok = attr_ints(node, "kernel_shape").as_deref() == Some(&[2, 2])
                    && attr_ints(node, "strides").as_deref() == Some(&[2, 2])
                    && attr_ints(node, "pads").is_none_or(|p| p.iter().all(|&v| v == 0))
                    && attr_int(node, "ceil_mode").is_none_or(|c| c == 0);
                if !ok {
                    return Err(format!(
                        "{}: urisc pools 2×2 with stride 2 and no padding",
                        describe(node)
                    ));
                }
                skips.push(out);
                x = g.output(i);
            }
            None => {
                x = out;
                break;
            }
        }
    }
    // Decoder.
    let mut concat = Vec::new();
    let mut level = 0;
    while let Some(skip) = skips.pop() {
        let up = g.upsample(&x)?;
        let (reduce, reduce_out) = g.conv(&up, 3)?;
        let reduced = g.relu(&reduce_out)?;
        g.store_conv_bn(&format!("up.{level}.reduce"), &reduce);
        let (merged, swap, is_concat) = if let Some(i) = g.find(&reduced, "Concat", None) {
            g.used[i] = true;
            let node = &g.nodes[i];
            let parts: Vec<String> = node.input.iter().map(|s| g.resolve(s)).collect();
            let axis = attr_int(node, "axis").unwrap_or(1);
            let swap = if parts == [reduced.clone(), skip.clone()] {
                false
            } else if parts == [skip.clone(), reduced.clone()] {
                true
            } else {
                return Err(format!(
                    "{}: expected the upsampled path and the skip of level {}",
                    describe(node),
                    widths.len() - 2 - level
                ));
            };
            if axis != 1 && axis != -3 {
                return Err(format!(
                    "{}: concatenates along axis {axis}, not channels",
                    describe(node)
                ));
            }
            (g.output(i), swap, true)
        } else {
            let i = g.expect(&reduced, "Add", None)?;
            let node = &g.nodes[i];
            if !node.input.iter().any(|s| g.resolve(s) == skip) {
                return Err(format!("{}: does not add the level's skip", describe(node)));
            }
            (g.output(i), false, false)
        };
        concat.push(is_concat);
        let (res, _, out) = g.block(&format!("up.{level}.block"), &merged, swap)?;
        residual.push(res);
        x = out;
        level += 1;
    }
    // Head, and an optional sigmoid.
    let (head, mut out) = g.conv(&x, 1)?;
    g.store_conv("head", &head);
    if let Some(i) = g.find(&out, "Sigmoid", None) {
        g.used[i] = true;
        out = g.output(i);
    }
    if g.resolve(&graph.output[0].name) != out {
        return Err(format!(
            "the graph's output '{}' is not the network's last value '{out}'",
            graph.output[0].name
        ));
    }
    if let Some(i) = g.used.iter().position(|u| !u) {
        return Err(format!(
            "{} is not part of a U-Net urisc can run",
            describe(&g.nodes[i])
        ));
    }
    // The architecture these patterns make.
    let all_residual = residual.iter().all(|&r| r);
    let architecture = if !all_residual && residual.iter().all(|&r| !r) && concat.iter().all(|&c| c)
    {
        Architecture::Unet
    } else if all_residual && concat.iter().all(|&c| !c) {
        Architecture::ResUnet
    } else {
        return Err(
            "mixes plain and residual blocks or concatenated and added skips; urisc runs the \
             U-Net (plain blocks, concatenated skips) and the residual U-Net (residual blocks, \
             added skips)"
                .into(),
        );
    };
    let config = ModelConfig {
        architecture,
        base_width: widths[0],
        depth: widths.len(),
        coarse: None,
    };
    if widths != config.widths() {
        return Err(format!(
            "level widths {widths:?}: urisc's networks double the width at every level"
        ));
    }
    let mut tensors = std::mem::take(&mut g.tensors);
    let net = layout::build(&config, &mut |name, shape, _| {
        let values = tensors
            .remove(name)
            .ok_or_else(|| format!("no tensor for {name}"))?;
        if values.len() != shape.iter().product::<usize>() {
            return Err(format!(
                "{name}: {} values for shape {shape:?}",
                values.len()
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(format!("{name}: non-finite weights"));
        }
        Ok(values)
    })?;
    let metadata: BTreeMap<&str, &str> = model
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    let carried = metadata.contains_key("urisc.descriptor");
    let descriptor = match metadata.get("urisc.descriptor") {
        Some(json) => {
            let mut d: ModelDescriptor = serde_json::from_str(json)
                .map_err(|e| format!("bad urisc descriptor in the metadata: {e}"))?;
            if d.model != config {
                return Err(format!(
                    "the metadata's descriptor says {:?}, the graph is {config:?}",
                    d.model
                ));
            }
            d.weights_checksum = None;
            d
        }
        None => {
            let multiple = config.size_multiple();
            let tile = defaults.tile_size.div_ceil(multiple) * multiple;
            let mut d = ModelDescriptor::new(config, tile);
            d.normalization = defaults.normalization;
            d.threshold = defaults.threshold;
            d.pixel_size_nm = defaults.pixel_size_nm;
            let producer = format!("{} {}", model.producer_name, model.producer_version);
            d.training.insert(
                "imported_from".into(),
                format!("ONNX ({})", producer.trim()),
            );
            d
        }
    };
    descriptor.validate()?;
    Ok((net, descriptor, carried))
}
