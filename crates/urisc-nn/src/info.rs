//! Parameter and FLOP counts, from the architecture alone (what `urisc model info` prints).

use crate::config::{Architecture, ModelConfig};

/// Trainable parameters: convolution weights and biases, BatchNorm scale and shift (running
/// statistics are buffers, not parameters — PyTorch counts the same way). A two-stage model's
/// coarse stage counts too (it was trained, before the fine stage).
pub fn trainable_parameters(config: &ModelConfig) -> u64 {
    let coarse = config
        .coarse
        .as_ref()
        .map_or(0, |c| stage_parameters(&c.model, c.channels()));
    coarse + stage_parameters(config, 1)
}

fn stage_parameters(config: &ModelConfig, head_channels: usize) -> u64 {
    let conv = |cin: usize, cout: usize, k: usize| (cin * cout * k * k + cout) as u64;
    let conv_bn = |cin: usize, cout: usize| conv(cin, cout, 3) + 2 * cout as u64;
    let residual = config.architecture == Architecture::ResUnet;
    let block = |cin: usize, cout: usize| {
        conv_bn(cin, cout)
            + conv_bn(cout, cout)
            + if residual && cin != cout {
                conv(cin, cout, 1)
            } else {
                0
            }
    };
    let w = config.widths();
    let mut total = 0;
    for k in 0..config.depth {
        total += block(
            if k == 0 {
                config.input_channels()
            } else {
                w[k - 1]
            },
            w[k],
        );
    }
    for k in 0..config.depth - 1 {
        total += conv_bn(w[k + 1], w[k]);
        total += if residual {
            block(w[k], w[k])
        } else {
            block(2 * w[k], w[k])
        };
    }
    total + conv(w[0], head_channels, 1)
}

/// Floating-point operations of one forward pass on a `height × width` tile (batch 1): two per
/// multiply-add of every convolution (BatchNorm, ReLU, pooling and upsampling are ignored: they
/// are < 1 % of the total). A two-stage model adds its coarse stage at its reduced size.
pub fn forward_flops(config: &ModelConfig, height: usize, width: usize) -> u64 {
    let coarse = config.coarse.as_ref().map_or(0, |c| {
        stage_flops(&c.model, c.channels(), height / c.factor, width / c.factor)
    });
    coarse + stage_flops(config, 1, height, width)
}

fn stage_flops(config: &ModelConfig, head_channels: usize, height: usize, width: usize) -> u64 {
    let conv =
        |cin: usize, cout: usize, k: usize, pixels: usize| 2 * (cin * cout * k * k * pixels) as u64;
    let residual = config.architecture == Architecture::ResUnet;
    let block = |cin: usize, cout: usize, px: usize| {
        conv(cin, cout, 3, px)
            + conv(cout, cout, 3, px)
            + if residual && cin != cout {
                conv(cin, cout, 1, px)
            } else {
                0
            }
    };
    let w = config.widths();
    let pixels = |k: usize| (height >> k) * (width >> k);
    let mut total = 0;
    for k in 0..config.depth {
        total += block(
            if k == 0 {
                config.input_channels()
            } else {
                w[k - 1]
            },
            w[k],
            pixels(k),
        );
    }
    for k in 0..config.depth - 1 {
        total += conv(w[k + 1], w[k], 3, pixels(k));
        total += if residual {
            block(w[k], w[k], pixels(k))
        } else {
            block(2 * w[k], w[k], pixels(k))
        };
    }
    total + conv(w[0], head_channels, 1, pixels(0))
}

/// The input rows (or columns) that output row `p` depends on, as `(first, last)` offsets from
/// an unbounded plane: every path through the network is followed backwards (3×3 convolutions
/// widen by one pixel per side at their level's scale, pooling maps a coarse pixel to two fine
/// ones, nearest upsampling a fine pixel to one coarse one) and the intervals are united. For a
/// two-stage model, the coarse map's pixels in the fine stage's interval bring in the coarse
/// stage's intervals, scaled up by its factor.
pub fn receptive_interval(config: &ModelConfig, p: i64) -> (i64, i64) {
    let (lo, hi) = stage_interval(config, p);
    match &config.coarse {
        None => (lo, hi),
        Some(c) => {
            let f = c.factor as i64;
            (lo.div_euclid(f)..=hi.div_euclid(f))
                .map(|q| {
                    let (a, b) = stage_interval(&c.model, q);
                    (a * f, b * f + f - 1)
                })
                .fold((lo, hi), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
        }
    }
}

fn stage_interval(config: &ModelConfig, p: i64) -> (i64, i64) {
    let last = config.depth - 1;
    // Output of encoder level k → input.
    fn encoder(k: usize, (lo, hi): (i64, i64)) -> (i64, i64) {
        let (lo, hi) = (lo - 2, hi + 2);
        if k == 0 {
            (lo, hi)
        } else {
            encoder(k - 1, (2 * lo, 2 * hi + 1))
        }
    }
    // Output of the decoder level that ends at level k → input.
    fn decoder(k: usize, last: usize, (lo, hi): (i64, i64)) -> (i64, i64) {
        let (lo, hi) = (lo - 2, hi + 2);
        let skip = encoder(k, (lo, hi));
        let coarse = ((lo - 1).div_euclid(2), (hi + 1).div_euclid(2));
        let deeper = if k + 1 == last {
            encoder(k + 1, coarse)
        } else {
            decoder(k + 1, last, coarse)
        };
        (skip.0.min(deeper.0), skip.1.max(deeper.1))
    }
    if last == 0 {
        encoder(0, (p, p))
    } else {
        decoder(0, last, (p, p))
    }
}

/// Receptive field along one axis in pixels: the widest [`receptive_interval`] over the
/// output positions (they repeat with period 2^(depth−1)).
pub fn receptive_field(config: &ModelConfig) -> usize {
    (0..config.size_multiple() as i64)
        .map(|p| {
            let (lo, hi) = receptive_interval(config, p);
            (hi - lo + 1) as usize
        })
        .max()
        .expect("depth ≥ 1")
}

/// Half-width of the receptive field, over all positions modulo the size multiple.
pub(crate) fn context_radius(config: &ModelConfig) -> usize {
    (0..config.size_multiple() as i64)
        .map(|p| {
            let (lo, hi) = receptive_interval(config, p);
            (p - lo).max(hi - p)
        })
        .max()
        .unwrap_or(0) as usize
}
