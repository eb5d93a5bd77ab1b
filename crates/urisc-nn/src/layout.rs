//! The one description of a network's tensors: names, shapes and roles, in the order a network
//! is built. Seeded initialisation, model files and their checks all go through it, so a
//! network built from a config and one read from a file cannot disagree on structure.
//!
//! Names and layouts are burn's (`down.0.Plain.a.conv.weight`, OIHW convolution weights), so
//! model files written by earlier urisc versions through burn load unchanged.

use urisc_cpu::{BatchNorm, Block, Coarse, Conv, ConvBn, Net, UpLevel};

use crate::config::{Architecture, ModelConfig};

/// burn's (and PyTorch's) batch-norm defaults; not stored in model files.
pub(crate) const BN_EPSILON: f32 = 1e-5;
pub(crate) const BN_MOMENTUM: f32 = 0.1;

/// What a tensor is, for initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Role {
    /// Convolution weight or bias with this fan-in (initialised uniform in ±1/√fan_in).
    Conv { fan_in: usize },
    /// Batch-norm scale and running variance (initialised to 1).
    One,
    /// Batch-norm shift and running mean (initialised to 0).
    Zero,
}

/// Supplies each tensor's values (row-major, burn's layout) by name, shape and role.
pub(crate) type Source<'a> = dyn FnMut(&str, &[usize], Role) -> Result<Vec<f32>, String> + 'a;

fn conv(name: &str, cin: usize, cout: usize, k: usize, src: &mut Source) -> Result<Conv, String> {
    let fan_in = cin * k * k;
    let weight = src(
        &format!("{name}.weight"),
        &[cout, cin, k, k],
        Role::Conv { fan_in },
    )?;
    let bias = src(&format!("{name}.bias"), &[cout], Role::Conv { fan_in })?;
    Ok(Conv::from_oihw(cin, cout, k, &weight, bias))
}

fn conv_bn(name: &str, cin: usize, cout: usize, src: &mut Source) -> Result<ConvBn, String> {
    let conv = conv(&format!("{name}.conv"), cin, cout, 3, src)?;
    let mut bn = |field: &str, role| src(&format!("{name}.bn.{field}"), &[cout], role);
    let bn = BatchNorm {
        gamma: bn("gamma", Role::One)?,
        beta: bn("beta", Role::Zero)?,
        running_mean: bn("running_mean", Role::Zero)?,
        running_var: bn("running_var", Role::One)?,
        epsilon: BN_EPSILON,
        momentum: BN_MOMENTUM,
    };
    Ok(ConvBn { conv, bn })
}

fn block(
    name: &str,
    residual: bool,
    cin: usize,
    cout: usize,
    src: &mut Source,
) -> Result<Block, String> {
    Ok(if residual {
        let name = format!("{name}.Residual");
        Block::Residual {
            a: conv_bn(&format!("{name}.a"), cin, cout, src)?,
            b: conv_bn(&format!("{name}.b"), cout, cout, src)?,
            projection: if cin != cout {
                Some(conv(&format!("{name}.projection"), cin, cout, 1, src)?)
            } else {
                None
            },
        }
    } else {
        let name = format!("{name}.Plain");
        Block::Plain {
            a: conv_bn(&format!("{name}.a"), cin, cout, src)?,
            b: conv_bn(&format!("{name}.b"), cout, cout, src)?,
        }
    })
}

/// Builds the network `config` describes, asking `src` for every tensor in build order.
/// A two-stage network's coarse stage comes after the fine one, its tensors named
/// `coarse.<name>`.
pub(crate) fn build(config: &ModelConfig, src: &mut Source) -> Result<Net, String> {
    config.validate()?;
    let mut net = build_stage(config, 1, src)?;
    if let Some(c) = &config.coarse {
        let coarse = build_stage(&c.model, c.channels(), &mut |name, shape, role| {
            src(&format!("{COARSE_PREFIX}{name}"), shape, role)
        })?;
        net.coarse = Some(Box::new(Coarse {
            net: coarse,
            factor: c.factor,
            joint: c.features.is_some(),
        }));
    }
    Ok(net)
}

/// Prefix of the coarse stage's tensor names in a two-stage model.
pub(crate) const COARSE_PREFIX: &str = "coarse.";

/// One network; its head has `head_channels` outputs (1: the logit).
fn build_stage(
    config: &ModelConfig,
    head_channels: usize,
    src: &mut Source,
) -> Result<Net, String> {
    let w = config.widths();
    let residual = config.architecture == Architecture::ResUnet;
    let mut down = Vec::with_capacity(config.depth);
    for k in 0..config.depth {
        let cin = if k == 0 {
            config.input_channels()
        } else {
            w[k - 1]
        };
        down.push(block(&format!("down.{k}"), residual, cin, w[k], src)?);
    }
    // up[0] goes from the bottom level to the one above it; the last ends at level 0.
    let mut up = Vec::with_capacity(config.depth - 1);
    for (i, k) in (0..config.depth - 1).rev().enumerate() {
        let name = format!("up.{i}");
        up.push(UpLevel {
            reduce: conv_bn(&format!("{name}.reduce"), w[k + 1], w[k], src)?,
            block: block(
                &format!("{name}.block"),
                residual,
                if residual { w[k] } else { 2 * w[k] },
                w[k],
                src,
            )?,
        });
    }
    Ok(Net {
        down,
        up,
        head: conv("head", w[0], head_channels, 1, src)?,
        concat_skips: !residual,
        coarse: None,
    })
}

/// A network initialised from `seed` as burn and PyTorch initialise convolutions (uniform in
/// ±1/√fan_in for weights and biases) and batch norm (scale 1, shift 0, running mean 0,
/// variance 1). Reproducible: every tensor draws from its own stream of the seed.
pub fn seeded_net(config: &ModelConfig, seed: u64) -> Result<Net, String> {
    let mut index = 0u64;
    build(config, &mut |_, shape, role| {
        index += 1;
        let len = shape.iter().product();
        Ok(match role {
            Role::Conv { fan_in } => {
                let bound = 1.0 / (fan_in as f32).sqrt();
                let stream = seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03));
                urisc_cpu::pseudo_random(len, stream)
                    .into_iter()
                    .map(|v| v * bound)
                    .collect()
            }
            Role::One => vec![1.0; len],
            Role::Zero => vec![0.0; len],
        })
    })
}

/// Every tensor of `net` by name with its shape and values (burn's layout), in build order.
pub(crate) fn tensors(net: &Net) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    let conv_bn = |out: &mut Vec<_>, name: &str, l: &ConvBn| {
        conv_tensors(out, &format!("{name}.conv"), &l.conv);
        let n = l.bn.channels();
        for (field, values) in [
            ("gamma", &l.bn.gamma),
            ("beta", &l.bn.beta),
            ("running_mean", &l.bn.running_mean),
            ("running_var", &l.bn.running_var),
        ] {
            out.push((format!("{name}.bn.{field}"), vec![n], values.clone()));
        }
    };
    let block = |out: &mut Vec<_>, name: &str, b: &Block| match b {
        Block::Plain { a, b } => {
            conv_bn(out, &format!("{name}.Plain.a"), a);
            conv_bn(out, &format!("{name}.Plain.b"), b);
        }
        Block::Residual { a, b, projection } => {
            conv_bn(out, &format!("{name}.Residual.a"), a);
            conv_bn(out, &format!("{name}.Residual.b"), b);
            if let Some(p) = projection {
                conv_tensors(out, &format!("{name}.Residual.projection"), p);
            }
        }
    };
    for (k, b) in net.down.iter().enumerate() {
        block(&mut out, &format!("down.{k}"), b);
    }
    for (i, l) in net.up.iter().enumerate() {
        conv_bn(&mut out, &format!("up.{i}.reduce"), &l.reduce);
        block(&mut out, &format!("up.{i}.block"), &l.block);
    }
    conv_tensors(&mut out, "head", &net.head);
    if let Some(c) = &net.coarse {
        out.extend(
            tensors(&c.net)
                .into_iter()
                .map(|(name, shape, values)| (format!("{COARSE_PREFIX}{name}"), shape, values)),
        );
    }
    out
}

fn conv_tensors(out: &mut Vec<(String, Vec<usize>, Vec<f32>)>, name: &str, c: &Conv) {
    out.push((
        format!("{name}.weight"),
        vec![c.cout, c.cin, c.k, c.k],
        c.to_oihw(&c.weight),
    ));
    out.push((format!("{name}.bias"), vec![c.cout], c.bias.clone()));
}

/// FNV-1a (64 bit) over every tensor's name, shape and little-endian values, in name order:
/// detects damaged weights (not tampering).
pub(crate) fn checksum(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> String {
    let mut sorted: Vec<_> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = urisc_io::digest::Fnv::default();
    for (name, shape, values) in sorted {
        h.bytes(name.as_bytes());
        for &d in shape {
            h.bytes(&(d as u64).to_le_bytes());
        }
        for v in values {
            h.bytes(&v.to_le_bytes());
        }
    }
    h.tagged()
}
