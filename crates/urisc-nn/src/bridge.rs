//! burn's modules to and from `urisc-cpu` networks: parameters and running statistics both
//! ways, keeping burn's parameter ids (feature `burn`).

use std::path::Path;

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::prelude::*;

use crate::descriptor::ModelDescriptor;
use crate::file::{load_model, ModelFileError};
use crate::model::{Block, ConvBn, SegmentationNet, UpLevel};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 parameters")
}

fn conv_in(conv: &Conv2d) -> urisc_cpu::Conv {
    let [cout, cin, k, _] = conv.weight.val().dims();
    let bias = match &conv.bias {
        Some(b) => values(b.val()),
        None => vec![0.0; cout],
    };
    urisc_cpu::Conv::from_oihw(cin, cout, k, &values(conv.weight.val()), bias)
}

fn conv_bn_in(l: &ConvBn) -> urisc_cpu::ConvBn {
    let bn: &BatchNorm = &l.bn;
    urisc_cpu::ConvBn {
        conv: conv_in(&l.conv),
        bn: urisc_cpu::BatchNorm {
            gamma: values(bn.gamma.val()),
            beta: values(bn.beta.val()),
            running_mean: values(bn.running_mean.value()),
            running_var: values(bn.running_var.value()),
            epsilon: bn.epsilon as f32,
            momentum: bn.momentum as f32,
        },
    }
}

fn block_in(b: &Block) -> urisc_cpu::Block {
    match b {
        Block::Plain(p) => urisc_cpu::Block::Plain {
            a: conv_bn_in(&p.a),
            b: conv_bn_in(&p.b),
        },
        Block::Residual(r) => urisc_cpu::Block::Residual {
            a: conv_bn_in(&r.a),
            b: conv_bn_in(&r.b),
            projection: r.projection.as_ref().map(conv_in),
        },
    }
}

/// The network's parameters and running statistics as a `urisc-cpu` network.
pub fn to_cpu_net(net: &SegmentationNet) -> urisc_cpu::Net {
    urisc_cpu::Net {
        down: net.down.iter().map(block_in).collect(),
        up: net
            .up
            .iter()
            .map(|l: &UpLevel| urisc_cpu::UpLevel {
                reduce: conv_bn_in(&l.reduce),
                block: block_in(&l.block),
            })
            .collect(),
        head: conv_in(&net.head),
        concat_skips: net.concat_skips,
        coarse: None,
    }
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn set<const D: usize>(param: Param<Tensor<D>>, data: Vec<f32>) -> Param<Tensor<D>> {
    param.map(|old| {
        let shape: [usize; D] = old.dims();
        let new = tensor(data, shape, &old.device());
        if old.is_require_grad() {
            new.require_grad()
        } else {
            new
        }
    })
}

fn conv_out(mut conv: Conv2d, from: &urisc_cpu::Conv) -> Conv2d {
    conv.weight = set(conv.weight, from.to_oihw(&from.weight));
    conv.bias = conv.bias.map(|b| set(b, from.bias.clone()));
    conv
}

fn running(state: RunningState<Tensor<1>>, data: &[f32]) -> RunningState<Tensor<1>> {
    let device = state.value().device();
    state.update(tensor(data.to_vec(), [data.len()], &device));
    state.value_sync(); // folds the per-thread update into the value saving reads
    state
}

fn conv_bn_out(mut l: ConvBn, from: &urisc_cpu::ConvBn) -> ConvBn {
    l.conv = conv_out(l.conv, &from.conv);
    l.bn.gamma = set(l.bn.gamma, from.bn.gamma.clone());
    l.bn.beta = set(l.bn.beta, from.bn.beta.clone());
    l.bn.running_mean = running(l.bn.running_mean, &from.bn.running_mean);
    l.bn.running_var = running(l.bn.running_var, &from.bn.running_var);
    l
}

fn block_out(b: Block, from: &urisc_cpu::Block) -> Block {
    match (b, from) {
        (Block::Plain(mut p), urisc_cpu::Block::Plain { a, b }) => {
            p.a = conv_bn_out(p.a, a);
            p.b = conv_bn_out(p.b, b);
            Block::Plain(p)
        }
        (Block::Residual(mut r), urisc_cpu::Block::Residual { a, b, projection }) => {
            r.a = conv_bn_out(r.a, a);
            r.b = conv_bn_out(r.b, b);
            r.projection = match (r.projection, projection) {
                (Some(p), Some(from)) => Some(conv_out(p, from)),
                (None, None) => None,
                _ => panic!("projection mismatch between networks"),
            };
            Block::Residual(r)
        }
        _ => panic!("block kinds differ between networks"),
    }
}

/// `net` with the parameters and running statistics of `from` (same architecture); parameter
/// ids are kept, so optimiser state and saved files stay attached.
pub fn from_cpu_net(net: SegmentationNet, from: &urisc_cpu::Net) -> SegmentationNet {
    let SegmentationNet {
        down,
        up,
        head,
        concat_skips,
    } = net;
    assert_eq!(down.len(), from.down.len(), "same depth");
    SegmentationNet {
        down: down
            .into_iter()
            .zip(&from.down)
            .map(|(b, f)| block_out(b, f))
            .collect(),
        up: up
            .into_iter()
            .zip(&from.up)
            .map(|(l, f)| UpLevel {
                reduce: conv_bn_out(l.reduce, &f.reduce),
                block: block_out(l.block, &f.block),
            })
            .collect(),
        head: conv_out(head, &from.head),
        concat_skips,
    }
}

/// Loads a model file into burn modules on `device`.
pub fn load_burn_model(
    path: &Path,
    device: &Device,
) -> Result<(SegmentationNet, ModelDescriptor), ModelFileError> {
    let (net, descriptor) = load_model(path)?;
    if descriptor.model.coarse.is_some() {
        return Err(ModelFileError::Invalid {
            path: path.to_path_buf(),
            message: "a two-stage or two-scale model runs on the cpu engine only (burn has no coarse stage)"
                .into(),
        });
    }
    let template = SegmentationNet::new(&descriptor.model, device);
    Ok((from_cpu_net(template, &net), descriptor))
}
