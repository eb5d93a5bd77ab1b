//! U-Net benchmark for choosing urisc's deep-learning framework (see docs/decisions/0001).
//!
//! One binary, three frameworks: `burn-flex`, `burn-ndarray` (burn 0.22, CPU backends that build
//! from crates.io alone) and `candle` (candle 0.11, CPU). The network is the authors' U-Net of
//! SPEC §5 and is identical to `torch_unet.py`:
//!
//! - 1 input channel -> 1 logit channel, 5 levels, widths W, 2W, 4W, 8W, 16W;
//! - a level: two (Conv3x3 pad 1 + BatchNorm + ReLU); down: MaxPool 2x2;
//! - up: nearest upsample x2, Conv3x3+BN+ReLU halving the channels, concat with the skip,
//!   two Conv3x3+BN+ReLU; head: Conv1x1 to 1 channel.
//!
//! Modes:
//! - `train`: batch 4 x 1 x 256², train-mode BN, BCE with logits against a random 0/1 target,
//!   backward, Adam (lr 1e-4, betas 0.5/0.999, eps 1e-8) update;
//! - `forward`: batch 1 x 1 x 512², inference (no autodiff, BN in eval mode);
//! - `input-grad`: one backward of a single output logit to the INPUT (what integrated gradients
//!   need); prints the gradient's shape and norm.
//!
//! Usage: `frameworks-bench FRAMEWORK MODE WIDTH [WARMUP STEPS]`.
//! Prints per-step seconds on stderr and one line on stdout:
//! `RESULT framework=.. mode=.. width=.. params=.. median_s=.. min_s=.. steps=..`.

use std::time::Instant;

const LR: f64 = 1e-4;
const BETA1: f64 = 0.5;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;
const DEPTH: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: {} burn-flex|burn-ndarray|candle train|forward|input-grad WIDTH [WARMUP STEPS]", args[0]);
        std::process::exit(2);
    }
    let framework = args[1].as_str();
    let mode = args[2].as_str();
    let width: usize = args[3].parse().expect("WIDTH");
    let warmup: usize = args.get(4).map(|s| s.parse().expect("WARMUP")).unwrap_or(2);
    let steps: usize = args.get(5).map(|s| s.parse().expect("STEPS")).unwrap_or(5);

    let (params, times) = match framework {
        "burn-flex" => burn_bench::run(burn::prelude::Device::flex(), mode, width, warmup, steps),
        #[allow(deprecated)] // burn 0.22 deprecates ndarray in favour of flex; measured for the record
        "burn-ndarray" => burn_bench::run(burn::prelude::Device::ndarray(), mode, width, warmup, steps),
        "candle" => candle_bench::run(mode, width, warmup, steps).expect("candle failed"),
        other => panic!("unknown framework {other}"),
    };
    if mode == "input-grad" {
        return;
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        0.5 * (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2])
    };
    println!(
        "RESULT framework={framework} mode={mode} width={width} params={params} median_s={median:.4} min_s={:.4} steps={}",
        sorted[0],
        sorted.len()
    );
}

/// Runs `f` `warmup` times untimed, then `steps` times timed; returns the step times in seconds.
fn time_steps(warmup: usize, steps: usize, mut f: impl FnMut()) -> Vec<f64> {
    for i in 0..warmup {
        let t = Instant::now();
        f();
        eprintln!("  warm-up {i}: {:.3} s", t.elapsed().as_secs_f64());
    }
    (0..steps)
        .map(|i| {
            let t = Instant::now();
            f();
            let s = t.elapsed().as_secs_f64();
            eprintln!("  step {i}: {s:.3} s");
            s
        })
        .collect()
}

mod burn_bench {
    use super::*;
    use burn::module::Module;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::loss::BinaryCrossEntropyLossConfig;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use burn::tensor::activation::relu;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

    #[derive(Module, Debug)]
    pub struct ConvBnRelu {
        conv: Conv2d,
        bn: BatchNorm,
    }

    impl ConvBnRelu {
        fn new(cin: usize, cout: usize, device: &Device) -> Self {
            Self {
                conv: Conv2dConfig::new([cin, cout], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                bn: BatchNormConfig::new(cout).init(device),
            }
        }
        fn forward(&self, x: Tensor<4>) -> Tensor<4> {
            relu(self.bn.forward(self.conv.forward(x)))
        }
    }

    #[derive(Module, Debug)]
    pub struct DoubleConv {
        a: ConvBnRelu,
        b: ConvBnRelu,
    }

    impl DoubleConv {
        fn new(cin: usize, cout: usize, device: &Device) -> Self {
            Self { a: ConvBnRelu::new(cin, cout, device), b: ConvBnRelu::new(cout, cout, device) }
        }
        fn forward(&self, x: Tensor<4>) -> Tensor<4> {
            self.b.forward(self.a.forward(x))
        }
    }

    #[derive(Module, Debug)]
    pub struct Up {
        reduce: ConvBnRelu,
        conv: DoubleConv,
    }

    #[derive(Module, Debug)]
    pub struct UNet {
        down: Vec<DoubleConv>,
        up: Vec<Up>,
        head: Conv2d,
    }

    impl UNet {
        pub fn new(w: usize, device: &Device) -> Self {
            let widths: Vec<usize> = (0..DEPTH).map(|i| w << i).collect();
            let down = (0..DEPTH)
                .map(|i| DoubleConv::new(if i == 0 { 1 } else { widths[i - 1] }, widths[i], device))
                .collect();
            // up[0] goes from the bottom (level 4) to level 3, ... up[3] ends at level 0.
            let up = (0..DEPTH - 1)
                .rev()
                .map(|i| Up {
                    reduce: ConvBnRelu::new(widths[i + 1], widths[i], device),
                    conv: DoubleConv::new(2 * widths[i], widths[i], device),
                })
                .collect();
            let head = Conv2dConfig::new([w, 1], [1, 1]).init(device);
            Self { down, up, head }
        }

        pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
            let pool = MaxPool2dConfig::new([2, 2]).init();
            let mut skips = Vec::with_capacity(DEPTH);
            let mut x = x;
            for (i, level) in self.down.iter().enumerate() {
                if i > 0 {
                    x = pool.forward(x);
                }
                x = level.forward(x);
                skips.push(x.clone());
            }
            skips.pop(); // the bottom level is `x` itself
            for up in &self.up {
                let [_, _, h, w] = x.dims();
                let opts = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
                x = up.reduce.forward(interpolate(x, opts));
                let skip = skips.pop().unwrap();
                x = up.conv.forward(Tensor::cat(vec![x, skip], 1));
            }
            self.head.forward(x)
        }
    }

    pub fn run(device: Device, mode: &str, width: usize, warmup: usize, steps: usize) -> (usize, Vec<f64>) {
        match mode {
            "train" => {
                let device = device.autodiff();
                let model = UNet::new(width, &device);
                let params = model.num_params();
                let mut optim = AdamConfig::new()
                    .with_beta_1(BETA1 as f32)
                    .with_beta_2(BETA2 as f32)
                    .with_epsilon(EPS as f32)
                    .init();
                let loss_fn = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&device);
                let x = Tensor::<4>::random([4, 1, 256, 256], Distribution::Normal(0.0, 1.0), &device);
                let target = Tensor::<4>::random([4, 1, 256, 256], Distribution::Bernoulli(0.5), &device).int();
                let mut slot = Some(model);
                let times = time_steps(warmup, steps, || {
                    let m = slot.take().unwrap();
                    let loss = loss_fn.forward(m.forward(x.clone()), target.clone());
                    let grads = GradientsParams::from_grads(loss.backward(), &m);
                    let m = optim.step(LR, m, grads);
                    device.sync().unwrap();
                    slot = Some(m);
                });
                (params, times)
            }
            "forward" => {
                let device = device.inner();
                let model = UNet::new(width, &device);
                let params = model.num_params();
                let x = Tensor::<4>::random([1, 1, 512, 512], Distribution::Normal(0.0, 1.0), &device);
                let times = time_steps(warmup, steps, || {
                    let y = model.forward(x.clone());
                    device.sync().unwrap();
                    drop(y);
                });
                (params, times)
            }
            "input-grad" => {
                let device = device.autodiff();
                // Frozen: parameters need no gradient and BN uses its running statistics (eval
                // mode), as for attribution of a trained model; only the input requires a gradient.
                let model = UNet::new(width, &device).freeze();
                let x = Tensor::<4>::random([1, 1, 256, 256], Distribution::Normal(0.0, 1.0), &device).require_grad();
                let out = model.forward(x.clone());
                // d(logit at pixel (128,128)) / d(input): what integrated gradients accumulate.
                let grads = out.slice(s![0..1, 0..1, 128..129, 128..129]).sum().backward();
                let g = x.grad(&grads).expect("no gradient for the input");
                let norm: f32 = g.clone().powi_scalar(2).sum().sqrt().into_scalar();
                let nonzero: i64 = g.abs().greater_elem(0.0).int().sum().into_scalar();
                println!(
                    "INPUT-GRAD framework=burn mode=input-grad width={width} shape={:?} l2_norm={norm:.6e} nonzero={nonzero}",
                    x.dims()
                );
                (model.num_params(), vec![])
            }
            other => panic!("unknown mode {other}"),
        }
    }
}

mod candle_bench {
    use super::*;
    use candle_core::{DType, Device, IndexOp, Module, ModuleT, Result, Tensor, Var};
    use candle_nn::{AdamW, BatchNormConfig, Conv2dConfig, Optimizer, ParamsAdamW, VarBuilder, VarMap};

    struct ConvBnRelu {
        conv: candle_nn::Conv2d,
        bn: candle_nn::BatchNorm,
    }

    impl ConvBnRelu {
        fn new(cin: usize, cout: usize, vb: VarBuilder) -> Result<Self> {
            let cfg = Conv2dConfig { padding: 1, ..Default::default() };
            Ok(Self {
                conv: candle_nn::conv2d(cin, cout, 3, cfg, vb.pp("conv"))?,
                bn: candle_nn::batch_norm(cout, BatchNormConfig::default(), vb.pp("bn"))?,
            })
        }
        fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
            self.bn.forward_t(&self.conv.forward(x)?, train)?.relu()
        }
    }

    struct DoubleConv(ConvBnRelu, ConvBnRelu);

    impl DoubleConv {
        fn new(cin: usize, cout: usize, vb: VarBuilder) -> Result<Self> {
            Ok(Self(ConvBnRelu::new(cin, cout, vb.pp("a"))?, ConvBnRelu::new(cout, cout, vb.pp("b"))?))
        }
        fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
            self.1.forward(&self.0.forward(x, train)?, train)
        }
    }

    struct UNet {
        down: Vec<DoubleConv>,
        up: Vec<(ConvBnRelu, DoubleConv)>,
        head: candle_nn::Conv2d,
    }

    impl UNet {
        fn new(w: usize, vb: VarBuilder) -> Result<Self> {
            let widths: Vec<usize> = (0..DEPTH).map(|i| w << i).collect();
            let down = (0..DEPTH)
                .map(|i| DoubleConv::new(if i == 0 { 1 } else { widths[i - 1] }, widths[i], vb.pp(format!("down{i}"))))
                .collect::<Result<_>>()?;
            let up = (0..DEPTH - 1)
                .rev()
                .map(|i| {
                    let vb = vb.pp(format!("up{i}"));
                    Ok((
                        ConvBnRelu::new(widths[i + 1], widths[i], vb.pp("reduce"))?,
                        DoubleConv::new(2 * widths[i], widths[i], vb.pp("conv"))?,
                    ))
                })
                .collect::<Result<_>>()?;
            let head = candle_nn::conv2d(w, 1, 1, Default::default(), vb.pp("head"))?;
            Ok(Self { down, up, head })
        }

        fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
            let mut skips = Vec::with_capacity(DEPTH);
            let mut x = x.clone();
            for (i, level) in self.down.iter().enumerate() {
                if i > 0 {
                    x = x.max_pool2d(2)?;
                }
                x = level.forward(&x, train)?;
                skips.push(x.clone());
            }
            skips.pop();
            for (reduce, conv) in &self.up {
                let (_, _, h, w) = x.dims4()?;
                x = reduce.forward(&x.upsample_nearest2d(2 * h, 2 * w)?, train)?;
                let skip = skips.pop().unwrap();
                x = conv.forward(&Tensor::cat(&[&x, &skip], 1)?, train)?;
            }
            self.head.forward(&x)
        }
    }

    /// Numerically stable BCE with logits: mean(max(x,0) - x*t + log(1 + exp(-|x|))).
    /// (candle-nn's `binary_cross_entropy_with_logit` takes log(sigmoid(x)), which is not stable.)
    fn bce_with_logits(x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let softplus = x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
        ((x.relu()? - (x * t)?)? + softplus)?.mean_all()
    }

    fn trainable_params(varmap: &VarMap) -> usize {
        let data = varmap.data().lock().unwrap();
        data.iter().filter(|(k, _)| !k.contains("running_")).map(|(_, v)| v.elem_count()).sum()
    }

    pub fn run(mode: &str, width: usize, warmup: usize, steps: usize) -> Result<(usize, Vec<f64>)> {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let model = UNet::new(width, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
        let params = trainable_params(&varmap);
        match mode {
            "train" => {
                let mut opt = AdamW::new(
                    varmap.all_vars(),
                    ParamsAdamW { lr: LR, beta1: BETA1, beta2: BETA2, eps: EPS, weight_decay: 0.0 },
                )?;
                let x = Tensor::randn(0f32, 1.0, (4, 1, 256, 256), &dev)?;
                let target = Tensor::rand(0f32, 1.0, (4, 1, 256, 256), &dev)?.ge(0.5)?.to_dtype(DType::F32)?;
                let times = time_steps(warmup, steps, || {
                    let loss = bce_with_logits(&model.forward(&x, true).unwrap(), &target).unwrap();
                    opt.backward_step(&loss).unwrap();
                });
                Ok((params, times))
            }
            "forward" => {
                // Inference as it would run from loaded weights: plain (non-Var) tensors, so candle
                // records no backprop graph.
                let tensors = varmap
                    .data()
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
                    .collect();
                let model = UNet::new(width, VarBuilder::from_tensors(tensors, DType::F32, &dev))?;
                let x = Tensor::randn(0f32, 1.0, (1, 1, 512, 512), &dev)?;
                let times = time_steps(warmup, steps, || {
                    let y = model.forward(&x, false).unwrap();
                    drop(y);
                });
                Ok((params, times))
            }
            "input-grad" => {
                let x = Var::randn(0f32, 1.0, (1, 1, 256, 256), &dev)?;
                let out = model.forward(x.as_tensor(), false)?;
                let grads = out.i((0, 0, 128, 128))?.backward()?;
                let g = grads.get(x.as_tensor()).expect("no gradient for the input");
                let norm = g.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
                let nonzero = g.abs()?.gt(0.0)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
                println!(
                    "INPUT-GRAD framework=candle mode=input-grad width={width} shape={:?} l2_norm={norm:.6e} nonzero={nonzero}",
                    g.dims()
                );
                Ok((params, vec![]))
            }
            other => panic!("unknown mode {other}"),
        }
    }
}
