//! The segmentation networks (the authors' U-Net and the residual, LinkNet-style U-Net of
//! `urisc-nn`) as a fixed graph of this crate's kernels: inference with batch norm folded into
//! each convolution's epilogue, and a recorded forward pass ([`Tape`]) whose backward pass
//! gives parameter and input gradients. A pass runs on the [`Kernels`] it is given
//! ([`Net::infer_with`], [`Net::forward_recorded_with`]; the backward pass on the tape's), or on
//! [`Kernels::default`].

use std::sync::Arc;

use crate::conv::Conv;
use crate::kernels::Kernels;
use crate::norm::{relu_in_place, BatchNorm, BnSaved};
use crate::resample::{
    max_pool2_backward_with, max_pool2_with, upsample2, upsample2_backward_with,
};
use crate::tensor::{add_into, Act, Epilogue};
use crate::wide::wide;
use rayon::prelude::*;

/// Conv3×3 + batch norm (+ ReLU where used so).
#[derive(Clone, Debug)]
pub struct ConvBn {
    /// The 3×3 convolution.
    pub conv: Conv,
    /// The batch norm applied to its output.
    pub bn: BatchNorm,
}

/// A level's feature block.
#[derive(Clone, Debug)]
pub enum Block {
    /// Two Conv+BN+ReLU.
    Plain {
        /// The first Conv+BN+ReLU (input channels → block width).
        a: ConvBn,
        /// The second Conv+BN+ReLU (block width → block width).
        b: ConvBn,
    },
    /// `relu(bn(conv(relu(bn(conv(x))))) + shortcut)`, shortcut a 1×1 projection when
    /// channels change.
    Residual {
        /// The first Conv+BN, followed by ReLU (input channels → block width).
        a: ConvBn,
        /// The second Conv+BN, without ReLU before the shortcut is added.
        b: ConvBn,
        /// 1×1 convolution of the shortcut when input and block widths differ; `None` for the
        /// identity.
        projection: Option<Conv>,
    },
}

/// One decoder level: upsample ×2, Conv+BN+ReLU to the skip's width, merge, block.
#[derive(Clone, Debug)]
pub struct UpLevel {
    /// Conv+BN+ReLU of the upsampled map, to the skip's width.
    pub reduce: ConvBn,
    /// The block after merging with the skip.
    pub block: Block,
}

/// Which gradients [`Net::backward`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gradients {
    /// The input gradient (attribution); every data gradient is then exactly zero outside the
    /// receptive field.
    pub input: bool,
    /// The parameter gradients (training; needs a training-mode tape).
    pub params: bool,
}

impl Gradients {
    /// The input gradient only.
    pub const INPUT: Gradients = Gradients {
        input: true,
        params: false,
    };
    /// The parameter gradients only.
    pub const PARAMS: Gradients = Gradients {
        input: false,
        params: true,
    };
    /// Both.
    pub const BOTH: Gradients = Gradients {
        input: true,
        params: true,
    };
}

/// A whole network; same structure and parameters as `urisc_nn::SegmentationNet`.
#[derive(Clone, Debug)]
pub struct Net {
    /// Encoder blocks, top level first; every level after the first is preceded by a 2×2
    /// max-pool.
    pub down: Vec<Block>,
    /// Decoder levels, from the bottom level up (`down.len() − 1` of them).
    pub up: Vec<UpLevel>,
    /// 1×1 convolution to the one logit channel.
    pub head: Conv,
    /// Concatenated (U-Net) or added (LinkNet-style) skips.
    pub concat_skips: bool,
    /// A coarse stage whose upsampled output is stacked on the image as further input channels
    /// (`None`: the image is the only input).
    pub coarse: Option<Box<Coarse>>,
}

/// The coarse stage of a two-stage or two-scale network: `net` runs on the input averaged over
/// `factor × factor` blocks and its output is upsampled back by nearest neighbour.
///
/// - Frozen (`joint == false`, the two-stage scheme): a separately trained one-logit network,
///   always on running statistics; its membrane probability (sigmoid) is the extra channel.
/// - Joint (`joint == true`, a two-scale U-Net): trained with the fine network (batch statistics
///   in training, gradients into its parameters); its head's channels are fused as features.
#[derive(Clone, Debug)]
pub struct Coarse {
    /// The coarse network (one input channel).
    pub net: Net,
    /// Downsampling factor: 1, 2 or 4.
    pub factor: usize,
    /// Trained with the fine network, its head's outputs fused as features (see above).
    pub joint: bool,
}

/// Averages 2×2 blocks (the adjoint of nearest upsampling, scaled).
fn mean_pool2(kernels: Kernels, x: &Act) -> Act {
    let mut y = upsample2_backward_with(kernels, x);
    y.data.iter_mut().for_each(|v| *v *= 0.25);
    y
}

impl Coarse {
    fn levels(&self) -> usize {
        self.factor.trailing_zeros() as usize
    }

    /// Channels it adds to the fine network's input.
    pub fn channels(&self) -> usize {
        self.net.head.cout
    }

    /// The coarse map on the input's grid, and what its backward pass needs (a record only when
    /// `record`: training a joint stage, or input gradients).
    fn forward(&self, kernels: Kernels, x: &Act, mode: Mode, record: bool) -> (Act, CoarseSaved) {
        let mut small = x.clone();
        for _ in 0..self.levels() {
            small = mean_pool2(kernels, &small);
        }
        // A frozen stage is never in training mode.
        let mode = if self.joint { mode } else { Mode::Eval };
        let (mut y, tape) = if record {
            let (y, t) = self.net.forward_recorded_with(kernels, small, mode);
            (y, Some(t))
        } else {
            (self.net.infer_with(kernels, small), None)
        };
        if !self.joint {
            y.data
                .iter_mut()
                .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        }
        let mut up = y.clone();
        for _ in 0..self.levels() {
            up = upsample2(&up);
        }
        (up, CoarseSaved { tape, y })
    }

    /// The input gradient (if `input_grad`) and parameter gradients (if `param_grads`, joint
    /// stages only) of the coarse path, for the gradient `dy` of its upsampled map, on `kernels`.
    fn backward(
        &self,
        kernels: Kernels,
        saved: CoarseSaved,
        dy: Act,
        input_grad: bool,
        param_grads: bool,
    ) -> (Option<Act>, Option<Vec<Vec<f32>>>) {
        let mut d = dy;
        for _ in 0..self.levels() {
            d = upsample2_backward_with(kernels, &d);
        }
        if !self.joint {
            for (g, &p) in d.data.iter_mut().zip(&saved.y.data) {
                *g *= p * (1.0 - p);
            }
        }
        let tape = saved
            .tape
            .expect("gradients through the coarse stage need a recorded forward pass");
        let (dx, params) = self.net.backward(
            tape,
            &d,
            Gradients {
                input: input_grad,
                params: param_grads,
            },
        );
        let dx = dx.map(|mut dx| {
            for _ in 0..self.levels() {
                dx = upsample2(&dx);
                dx.data.iter_mut().for_each(|v| *v *= 0.25);
            }
            dx
        });
        (dx, params)
    }
}

struct CoarseSaved {
    /// The coarse network's record (eval mode for a frozen stage).
    tape: Option<Tape>,
    /// Its output at the coarse scale (the probability, for a frozen stage's sigmoid derivative).
    y: Act,
}

/// Channels of `a` then `b` per pixel (grids must agree).
fn interleave(a: &Act, b: &Act) -> Act {
    assert!(a.same_grid(b), "stacked maps share a grid");
    let c = a.c + b.c;
    let mut data = Vec::with_capacity(a.pixels() * c);
    for (pa, pb) in a.data.chunks_exact(a.c).zip(b.data.chunks_exact(b.c)) {
        data.extend_from_slice(pa);
        data.extend_from_slice(pb);
    }
    Act::from_vec(a.n, a.h, a.w, c, data)
}

/// Splits the first `first` channels of each pixel from the rest.
fn split_channels(x: &Act, first: usize) -> (Act, Act) {
    let rest = x.c - first;
    let mut a = Vec::with_capacity(x.pixels() * first);
    let mut b = Vec::with_capacity(x.pixels() * rest);
    for px in x.data.chunks_exact(x.c) {
        a.extend_from_slice(&px[..first]);
        b.extend_from_slice(&px[first..]);
    }
    (
        Act::from_vec(x.n, x.h, x.w, first, a),
        Act::from_vec(x.n, x.h, x.w, rest, b),
    )
}

/// Batch statistics (training) or running statistics (evaluation) in batch norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch norm on the batch's statistics (a training step).
    Train,
    /// Batch norm on the running statistics (inference, input gradients).
    Eval,
}

/// What a recorded forward pass keeps for its backward pass, in execution order, and the kernels
/// it ran on (which the backward pass runs on too).
pub struct Tape {
    kernels: Kernels,
    mode: Mode,
    entries: Vec<Saved>,
    coarse: Option<Box<CoarseSaved>>,
}

enum Saved {
    ConvBn {
        inputs: Vec<Arc<Act>>,
        /// The convolution's output before batch norm (training only: evaluation needs `y`).
        z: Option<Act>,
        y: Arc<Act>,
        bn: BnSaved,
        relu: bool,
    },
    Conv {
        input: Arc<Act>,
    },
    Pool {
        arg: Vec<u8>,
        h: usize,
        w: usize,
    },
    ResidualOut {
        y: Arc<Act>,
    },
}

impl Tape {
    fn pop(&mut self) -> Saved {
        self.entries.pop().expect("tape matches the network")
    }
}

/// Gradients collected by a backward pass, pushed in reverse execution order.
struct Collected {
    params: Option<Vec<Vec<f32>>>,
    /// Data gradients exactly zero outside the receptive field ([`Conv::backward_data`]): when
    /// the input gradient is asked for (integrated gradients rely on it), not in training.
    exact_support: bool,
}

impl Collected {
    fn push(&mut self, grad: Vec<f32>) {
        if let Some(p) = &mut self.params {
            p.push(grad);
        }
    }
}

/// A layer in execution order, for visiting parameters.
pub enum LayerMut<'a> {
    /// A convolution followed by batch norm.
    ConvBn(&'a mut ConvBn),
    /// A plain convolution (a residual projection or the head).
    Conv(&'a mut Conv),
}

impl ConvBn {
    /// Evaluation mode with ReLU on `x` upsampled 2× (nearest), nothing recorded.
    fn forward_upsampled_eval(&self, kernels: Kernels, x: &Act) -> Act {
        let (scale, shift) = self.bn.eval_affine();
        let folded = self.conv.scaled(&scale, &shift);
        let relu = move |band: &mut [f32]| relu_in_place(kernels, band);
        folded.forward_upsampled_with(kernels, x, Some(&relu))
    }

    fn forward(
        &self,
        kernels: Kernels,
        inputs: &[Arc<Act>],
        relu: bool,
        mode: Mode,
        tape: Option<&mut Tape>,
    ) -> Arc<Act> {
        let refs: Vec<&Act> = inputs.iter().map(|a| &**a).collect();
        if mode == Mode::Eval {
            // Batch norm on running statistics folds into the convolution's weights and bias,
            // ReLU is its epilogue (a pass per band while in cache); a backward pass needs only
            // the output (for the ReLU mask) and the scale.
            let (scale, shift) = self.bn.eval_affine();
            let folded = self.conv.scaled(&scale, &shift);
            let relu_band = move |band: &mut [f32]| relu_in_place(kernels, band);
            let post = relu.then_some(&relu_band as &Epilogue);
            let y = Arc::new(folded.forward_with(kernels, &refs, post));
            if let Some(tape) = tape {
                tape.entries.push(Saved::ConvBn {
                    inputs: inputs.to_vec(),
                    z: None,
                    y: y.clone(),
                    bn: self.bn.eval_record(),
                    relu,
                });
            }
            return y;
        }
        let tape = tape.expect("training needs a tape");
        let z = self.conv.forward_with(kernels, &refs, None);
        let (y, bn) = self.bn.forward_with(kernels, &z, relu, true);
        let y = Arc::new(y);
        tape.entries.push(Saved::ConvBn {
            inputs: inputs.to_vec(),
            z: Some(z),
            y: y.clone(),
            bn,
            relu,
        });
        y
    }

    /// Gradients with respect to each input (empty unless `need_dx`).
    fn backward(
        &self,
        tape: &mut Tape,
        dy: &Act,
        grads: &mut Collected,
        need_dx: bool,
    ) -> Vec<Act> {
        let kernels = tape.kernels;
        let Saved::ConvBn {
            inputs,
            z,
            y,
            bn,
            relu,
        } = tape.pop()
        else {
            panic!("tape out of step: expected conv + batch norm");
        };
        let (dz, bn_grads) = self
            .bn
            .backward_with(kernels, z.as_ref(), &y, dy, &bn, relu);
        if grads.params.is_some() {
            let (dgamma, dbeta) = bn_grads.expect("parameter gradients need training mode");
            grads.push(dbeta);
            grads.push(dgamma);
            let refs: Vec<&Act> = inputs.iter().map(|a| &**a).collect();
            let (dw, db) = self.conv.backward_weight_with(kernels, &refs, &dz);
            grads.push(db);
            grads.push(dw);
        }
        if !need_dx {
            return Vec::new();
        }
        let channels: Vec<usize> = inputs.iter().map(|a| a.c).collect();
        self.conv
            .backward_data_with(kernels, &dz, &channels, grads.exact_support)
    }
}

fn conv_forward(kernels: Kernels, conv: &Conv, input: Arc<Act>, tape: Option<&mut Tape>) -> Act {
    let out = conv.forward_with(kernels, &[&input], None);
    if let Some(tape) = tape {
        tape.entries.push(Saved::Conv { input });
    }
    out
}

fn conv_backward(conv: &Conv, tape: &mut Tape, dy: &Act, grads: &mut Collected) -> Act {
    let kernels = tape.kernels;
    let Saved::Conv { input } = tape.pop() else {
        panic!("tape out of step: expected a convolution");
    };
    if grads.params.is_some() {
        let (dw, db) = conv.backward_weight_with(kernels, &[&input], dy);
        grads.push(db);
        grads.push(dw);
    }
    conv.backward_data_with(kernels, dy, &[input.c], grads.exact_support)
        .remove(0)
}

fn add(kernels: Kernels, a: &Act, b: &Act) -> Act {
    assert!(a.same_grid(b) && a.c == b.c, "added maps agree");
    let mut out = a.clone();
    add_assign(kernels, &mut out, b);
    out
}

fn add_assign(kernels: Kernels, a: &mut Act, b: &Act) {
    a.data
        .par_chunks_mut(1 << 16)
        .zip(b.data.par_chunks(1 << 16))
        .for_each(|(a, b)| {
            wide(
                kernels,
                #[inline(always)]
                || add_into(a, b),
            )
        });
}

impl Block {
    fn forward(
        &self,
        kernels: Kernels,
        inputs: &[Arc<Act>],
        mode: Mode,
        mut tape: Option<&mut Tape>,
    ) -> Arc<Act> {
        match self {
            Block::Plain { a, b } => {
                let mid = a.forward(kernels, inputs, true, mode, tape.as_deref_mut());
                b.forward(kernels, &[mid], true, mode, tape)
            }
            Block::Residual { a, b, projection } => {
                let x = inputs[0].clone();
                let mid = a.forward(kernels, inputs, true, mode, tape.as_deref_mut());
                let main = b.forward(kernels, &[mid], false, mode, tape.as_deref_mut());
                let shortcut = match projection {
                    Some(p) => conv_forward(kernels, p, x, tape.as_deref_mut()),
                    None => (*x).clone(),
                };
                let mut y = add(kernels, &main, &shortcut);
                y.data.par_chunks_mut(1 << 16).for_each(|c| {
                    wide(
                        kernels,
                        #[inline(always)]
                        || c.iter_mut().for_each(|v| *v = v.max(0.0)),
                    )
                });
                let y = Arc::new(y);
                if let Some(tape) = tape {
                    tape.entries.push(Saved::ResidualOut { y: y.clone() });
                }
                y
            }
        }
    }

    fn backward(
        &self,
        tape: &mut Tape,
        dy: &Act,
        grads: &mut Collected,
        need_dx: bool,
    ) -> Vec<Act> {
        match self {
            Block::Plain { a, b } => {
                let dmid = b.backward(tape, dy, grads, true).remove(0);
                a.backward(tape, &dmid, grads, need_dx)
            }
            Block::Residual { a, b, projection } => {
                let kernels = tape.kernels;
                let Saved::ResidualOut { y } = tape.pop() else {
                    panic!("tape out of step: expected a residual output");
                };
                let mut g = dy.clone();
                g.data
                    .par_chunks_mut(1 << 16)
                    .zip(y.data.par_chunks(1 << 16))
                    .for_each(|(g, y)| {
                        wide(
                            kernels,
                            #[inline(always)]
                            || {
                                for (g, &y) in g.iter_mut().zip(y) {
                                    if y <= 0.0 {
                                        *g = 0.0;
                                    }
                                }
                            },
                        )
                    });
                let dshortcut = match projection {
                    Some(p) => conv_backward(p, tape, &g, grads),
                    None => g.clone(),
                };
                let dmid = b.backward(tape, &g, grads, true).remove(0);
                let mut dx = a.backward(tape, &dmid, grads, need_dx);
                if let Some(dx) = dx.first_mut() {
                    add_assign(kernels, dx, &dshortcut);
                }
                dx
            }
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(LayerMut)) {
        match self {
            Block::Plain { a, b } => {
                f(LayerMut::ConvBn(a));
                f(LayerMut::ConvBn(b));
            }
            Block::Residual { a, b, projection } => {
                f(LayerMut::ConvBn(a));
                f(LayerMut::ConvBn(b));
                if let Some(p) = projection {
                    f(LayerMut::Conv(p));
                }
            }
        }
    }
}

impl Net {
    /// Levels (each halves the size).
    pub fn depth(&self) -> usize {
        self.down.len()
    }

    /// Channels of the first convolution's input (the image, and a coarse stage's map).
    pub fn input_channels(&self) -> usize {
        match &self.down[0] {
            Block::Plain { a, .. } | Block::Residual { a, .. } => a.conv.cin,
        }
    }

    /// Tile sides must be multiples of this (the coarse stage's own multiple at its scale too).
    pub fn size_multiple(&self) -> usize {
        let own = 1 << (self.depth() - 1);
        match &self.coarse {
            Some(c) => own.max(c.factor * c.net.size_multiple()),
            None => own,
        }
    }

    /// Logits `[n, h, w, 1]` of images `[n, h, w, c]` (c = 1 with a coarse stage, else
    /// [`Net::input_channels`]), batch norm on running statistics and fused into the convolutions.
    /// On [`Kernels::default`].
    pub fn infer(&self, x: Act) -> Act {
        self.infer_with(Kernels::default(), x)
    }

    /// [`Net::infer`] on `kernels`.
    pub fn infer_with(&self, kernels: Kernels, x: Act) -> Act {
        self.run(kernels, x, Mode::Eval, None)
    }

    /// Logits plus the record a backward pass needs. In training mode, apply
    /// [`Net::update_running_stats`] with the tape before [`Net::backward`]. On
    /// [`Kernels::default`].
    pub fn forward_recorded(&self, x: Act, mode: Mode) -> (Act, Tape) {
        self.forward_recorded_with(Kernels::default(), x, mode)
    }

    /// [`Net::forward_recorded`] on `kernels`; the tape keeps them, so [`Net::backward`] runs on
    /// them too.
    pub fn forward_recorded_with(&self, kernels: Kernels, x: Act, mode: Mode) -> (Act, Tape) {
        let mut tape = Tape {
            kernels,
            mode,
            entries: Vec::new(),
            coarse: None,
        };
        let logits = self.run(kernels, x, mode, Some(&mut tape));
        (logits, tape)
    }

    fn run(&self, kernels: Kernels, x: Act, mode: Mode, mut tape: Option<&mut Tape>) -> Act {
        assert_eq!(
            x.c + self.coarse.as_ref().map_or(0, |c| c.channels()),
            self.input_channels(),
            "input channels (a coarse stage supplies the last ones)"
        );
        let multiple = self.size_multiple();
        assert!(
            x.h.is_multiple_of(multiple) && x.w.is_multiple_of(multiple),
            "tile sides must be multiples of {multiple}"
        );
        let x = match &self.coarse {
            None => x,
            Some(coarse) => {
                // A frozen stage needs a record only for input gradients, which are taken on
                // eval-mode records; a joint one whenever the fine stage is recorded.
                let record = tape
                    .as_ref()
                    .is_some_and(|t| coarse.joint || t.mode == Mode::Eval);
                let (p, saved) = coarse.forward(kernels, &x, mode, record);
                if let Some(tape) = tape.as_deref_mut() {
                    tape.coarse = Some(Box::new(saved));
                }
                interleave(&x, &p)
            }
        };
        let mut x = Arc::new(x);
        let mut skips = Vec::with_capacity(self.depth());
        for (k, block) in self.down.iter().enumerate() {
            if k > 0 {
                let (pooled, arg) = max_pool2_with(kernels, &x);
                if let Some(tape) = tape.as_deref_mut() {
                    tape.entries.push(Saved::Pool {
                        arg,
                        h: x.h,
                        w: x.w,
                    });
                }
                x = Arc::new(pooled);
            }
            x = block.forward(kernels, &[x], mode, tape.as_deref_mut());
            skips.push(x.clone());
        }
        skips.pop(); // the bottom level is `x` itself
        for level in &self.up {
            x = if let (None, Mode::Eval) = (&tape, mode) {
                // Inference: the convolution reads the map upsampled, no copy made.
                Arc::new(level.reduce.forward_upsampled_eval(kernels, &x))
            } else {
                let upsampled = Arc::new(upsample2(&x));
                level
                    .reduce
                    .forward(kernels, &[upsampled], true, mode, tape.as_deref_mut())
            };
            let skip = skips.pop().expect("one skip per decoder level");
            let inputs = if self.concat_skips {
                vec![x, skip]
            } else {
                vec![Arc::new(add(kernels, &x, &skip))]
            };
            x = level
                .block
                .forward(kernels, &inputs, mode, tape.as_deref_mut());
        }
        conv_forward(kernels, &self.head, x, tape)
    }

    /// Backward pass of a recorded forward pass for logit gradients `dlogits`. Returns the
    /// input gradient (if `wanted.input`: then every data gradient is exactly zero outside the
    /// receptive field, see [`Conv::backward_data`]) and, if `wanted.params` (training-mode tapes
    /// only), the parameter gradients in [`Net::params_mut`] order. On the kernels the forward
    /// pass ran on (the tape's).
    pub fn backward(
        &self,
        mut tape: Tape,
        dlogits: &Act,
        wanted: Gradients,
    ) -> (Option<Act>, Option<Vec<Vec<f32>>>) {
        let Gradients {
            input: input_grad,
            params: param_grads,
        } = wanted;
        assert!(
            !param_grads || tape.mode == Mode::Train,
            "parameter gradients need a training-mode tape"
        );
        let kernels = tape.kernels;
        let tape = &mut tape;
        let mut grads = Collected {
            params: param_grads.then(Vec::new),
            exact_support: input_grad,
        };
        let mut dx = conv_backward(&self.head, tape, dlogits, &mut grads);
        let mut dskips = Vec::with_capacity(self.depth());
        for level in self.up.iter().rev() {
            let mut dins = level.block.backward(tape, &dx, &mut grads, true);
            let (dreduce, dskip) = if self.concat_skips {
                let dskip = dins.pop().expect("skip gradient");
                (dins.pop().expect("upsampled gradient"), dskip)
            } else {
                let d = dins.pop().expect("sum gradient");
                (d.clone(), d)
            };
            dskips.push(dskip);
            let dup = level
                .reduce
                .backward(tape, &dreduce, &mut grads, true)
                .remove(0);
            dx = upsample2_backward_with(kernels, &dup);
        }
        // A joint coarse stage learns through the fine stage's input gradient.
        let joint_params = param_grads && self.coarse.as_ref().is_some_and(|c| c.joint);
        let first_dx = input_grad || joint_params;
        let depth = self.depth();
        let mut input = None;
        for (k, block) in self.down.iter().enumerate().rev() {
            if k + 1 < depth {
                add_assign(
                    kernels,
                    &mut dx,
                    &dskips.pop().expect("one skip gradient per level"),
                );
            }
            let need_dx = k > 0 || first_dx;
            let mut dins = block.backward(tape, &dx, &mut grads, need_dx);
            if k > 0 {
                let Saved::Pool { arg, h, w } = tape.pop() else {
                    panic!("tape out of step: expected a pooling");
                };
                dx = max_pool2_backward_with(kernels, &dins.remove(0), &arg, h, w);
            } else if first_dx {
                input = Some(dins.remove(0));
            }
        }
        assert!(tape.entries.is_empty(), "tape fully consumed");
        let params = grads.params.map(|mut p| {
            p.reverse();
            p
        });
        match (input, &self.coarse) {
            (Some(dx), Some(coarse)) => {
                let (mut dimage, dcoarse) = split_channels(&dx, 1);
                let saved = tape.coarse.take().expect("the coarse stage's record");
                let (dx, coarse_params) =
                    coarse.backward(kernels, *saved, dcoarse, input_grad, joint_params);
                if let Some(dx) = dx {
                    add_assign(kernels, &mut dimage, &dx);
                }
                // A joint stage's parameters follow the fine stage's (`params_mut` order).
                let params = params.map(|mut p| {
                    p.extend(coarse_params.into_iter().flatten());
                    p
                });
                (input_grad.then_some(dimage), params)
            }
            (input, _) => (input, params),
        }
    }

    /// Layers in execution order (of this stage, not of a coarse one).
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(LayerMut)) {
        for block in &mut self.down {
            block.visit_mut(f);
        }
        for level in &mut self.up {
            f(LayerMut::ConvBn(&mut level.reduce));
            level.block.visit_mut(f);
        }
        f(LayerMut::Conv(&mut self.head));
    }

    /// Trainable parameters in execution order: per conv weight then bias, per batch norm γ
    /// then β; then a joint coarse stage's, in the same order (a frozen one's are not trained).
    pub fn params_mut(&mut self) -> Vec<&mut Vec<f32>> {
        fn conv<'a>(c: &'a mut Conv, out: &mut Vec<&'a mut Vec<f32>>) {
            out.push(&mut c.weight);
            out.push(&mut c.bias);
        }
        fn conv_bn<'a>(l: &'a mut ConvBn, out: &mut Vec<&'a mut Vec<f32>>) {
            conv(&mut l.conv, out);
            out.push(&mut l.bn.gamma);
            out.push(&mut l.bn.beta);
        }
        fn block<'a>(b: &'a mut Block, out: &mut Vec<&'a mut Vec<f32>>) {
            match b {
                Block::Plain { a, b } => {
                    conv_bn(a, out);
                    conv_bn(b, out);
                }
                Block::Residual { a, b, projection } => {
                    conv_bn(a, out);
                    conv_bn(b, out);
                    if let Some(p) = projection {
                        conv(p, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for b in &mut self.down {
            block(b, &mut out);
        }
        for level in &mut self.up {
            conv_bn(&mut level.reduce, &mut out);
            block(&mut level.block, &mut out);
        }
        conv(&mut self.head, &mut out);
        if let Some(c) = &mut self.coarse {
            if c.joint {
                out.extend(c.net.params_mut());
            }
        }
        out
    }

    /// Applies a training-mode tape's batch statistics to the running statistics.
    pub fn update_running_stats(&mut self, tape: &Tape) {
        if tape.mode != Mode::Train {
            return;
        }
        let mut stats = tape.entries.iter().filter_map(|e| match e {
            Saved::ConvBn { bn, .. } => Some(bn),
            _ => None,
        });
        self.visit_mut(&mut |layer| {
            if let LayerMut::ConvBn(l) = layer {
                l.bn.update_running(stats.next().expect("one record per batch norm"));
            }
        });
        if let (Some(c), Some(saved)) = (&mut self.coarse, &tape.coarse) {
            if let (true, Some(t)) = (c.joint, &saved.tape) {
                c.net.update_running_stats(t);
            }
        }
    }
}
