//! Integrated gradients (Sundararajan et al. 2017) of one output pixel's pre-sigmoid logit with
//! respect to the input image, for many target pixels at once.
//!
//! `IG(x) = (x − b) · Σ_i w_i ∇f(b + α_i (x − b))` with `b` the baseline (the normalised zero
//! image, i.e. mid-grey, as the U-RISC authors used) and `(α_i, w_i)` a quadrature [`Rule`].
//!
//! Two reuses make many targets affordable without changing any number:
//! - **Crops.** A target's logit depends only on the input within [`urisc_model::SegmentationModel::context_radius`]
//!   of it. A crop that contains that whole receptive field, whose origin is a multiple of
//!   `size_multiple` (so every max-pool sees the same 2×2 groups as in the full image) and whose
//!   sides end either on the true image border (where the network's zero padding is) or beyond
//!   the receptive field, gives the same logit and gradient as the full image.
//! - **Shared backward passes.** Targets whose receptive fields do not overlap (Chebyshev
//!   distance > 2·radius) go into one backward pass of `Σ_t logit[t]`: each one's gradient is the
//!   part of the result inside its own receptive field.
//!
//! The interpolation steps of a group form the batch dimension of one call.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use urisc_model::{BatchShape, InputGradient, ModelError};

use crate::AttribError;

/// Quadrature over α ∈ [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Right Riemann sum, α = i/n for i = 1..n, weights 1/n (the authors' choice).
    Right,
    /// Trapezoid rule, α = i/n for i = 0..n, weights 1/n with halves at both ends (n + 1
    /// gradient evaluations; error O(1/n²) instead of O(1/n)).
    Trapezoid,
}

impl Rule {
    /// The `(α, weight)` pairs for `steps` intervals.
    pub fn nodes(self, steps: usize) -> Vec<(f32, f32)> {
        assert!(steps >= 1, "at least one step");
        let n = steps as f32;
        match self {
            Rule::Right => (1..=steps).map(|i| (i as f32 / n, 1.0 / n)).collect(),
            Rule::Trapezoid => (0..=steps)
                .map(|i| {
                    let end = i == 0 || i == steps;
                    (i as f32 / n, if end { 0.5 / n } else { 1.0 / n })
                })
                .collect(),
        }
    }
}

/// Which class's logit is attributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetClass {
    /// The membrane logit as the model outputs it.
    Membrane,
    /// Its negation, the background (cell interior) logit: the authors attributed their output
    /// channel, which was 1 for non-membrane.
    Background,
}

impl TargetClass {
    /// The factor applied to the membrane logit: +1 for membrane, −1 for background.
    pub fn sign(self) -> f32 {
        match self {
            TargetClass::Membrane => 1.0,
            TargetClass::Background => -1.0,
        }
    }
}

/// How integrated gradients are computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgSettings {
    /// Intervals of the quadrature over α (the authors: 100); at least 1.
    pub steps: usize,
    /// The quadrature rule.
    pub rule: Rule,
    /// Which class's logit is attributed.
    pub class: TargetClass,
    /// Baseline value of every (normalised) input pixel; 0 is the authors' mid-grey.
    pub baseline: f32,
    /// Upper bound on `batch × crop pixels` per gradient call, which bounds memory.
    pub max_batch_pixels: usize,
}

impl Default for IgSettings {
    fn default() -> Self {
        IgSettings {
            steps: 100,
            rule: Rule::Right,
            class: TargetClass::Membrane,
            baseline: 0.0,
            max_batch_pixels: 1 << 20,
        }
    }
}

/// One target's integrated gradients on a window of the image that holds all its nonzero
/// values (its receptive field clipped to the image, or the whole image if the model does not
/// state its context radius). Values outside the window are zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// Target pixel `(row, column)` in image coordinates.
    pub target: (usize, usize),
    /// Image row of the window's top-left pixel.
    pub top: usize,
    /// Image column of the window's top-left pixel.
    pub left: usize,
    /// Window height in pixels.
    pub height: usize,
    /// Window width in pixels.
    pub width: usize,
    /// Row-major `height × width` values.
    pub values: Vec<f32>,
}

impl Attribution {
    /// Value at image pixel `(row, col)` (zero outside the window).
    pub fn at(&self, row: usize, col: usize) -> f32 {
        if (self.top..self.top + self.height).contains(&row)
            && (self.left..self.left + self.width).contains(&col)
        {
            self.values[(row - self.top) * self.width + col - self.left]
        } else {
            0.0
        }
    }

    /// The whole-image map (`image_height × image_width`), zeros outside the window.
    pub fn to_full(&self, image_height: usize, image_width: usize) -> Vec<f32> {
        let mut full = vec![0f32; image_height * image_width];
        for r in 0..self.height {
            let row = &self.values[r * self.width..][..self.width];
            full[(self.top + r) * image_width + self.left..][..self.width].copy_from_slice(row);
        }
        full
    }

    /// Σ IG, which completeness says equals `f(x) − f(baseline)` as the steps grow.
    pub fn sum(&self) -> f64 {
        self.values.iter().map(|&v| v as f64).sum()
    }
}

/// A rectangle of the image, `[top, top + height) × [left, left + width)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl Region {
    fn bottom(&self) -> usize {
        self.top + self.height
    }
    fn right(&self) -> usize {
        self.left + self.width
    }
    fn union(&self, other: &Region) -> Region {
        let (top, left) = (self.top.min(other.top), self.left.min(other.left));
        Region {
            top,
            left,
            height: self.bottom().max(other.bottom()) - top,
            width: self.right().max(other.right()) - left,
        }
    }
    fn area(&self) -> usize {
        self.height * self.width
    }
}

/// Targets sharing one crop and one backward pass per step batch.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetGroup {
    /// Indices into the target list.
    pub members: Vec<usize>,
    /// The crop the network runs on.
    pub crop: Region,
}

/// The part of the image a target's logit can depend on: its receptive field clipped to the
/// image, or the whole image when the radius is unknown.
pub fn receptive_window(
    target: (usize, usize),
    radius: Option<usize>,
    height: usize,
    width: usize,
) -> Region {
    let Some(r) = radius else {
        return Region {
            top: 0,
            left: 0,
            height,
            width,
        };
    };
    let span = |c: usize, n: usize| (c.saturating_sub(r), (c + r + 1).min(n));
    let (top, bottom) = span(target.0, height);
    let (left, right) = span(target.1, width);
    Region {
        top,
        left,
        height: bottom - top,
        width: right - left,
    }
}

/// The smallest crop holding `window` whose origin is a multiple of `multiple` and whose sides
/// are multiples of it or end on the image border (image sides are multiples of `multiple`).
pub fn aligned_crop(window: Region, multiple: usize, height: usize, width: usize) -> Region {
    let down = |v: usize| v / multiple * multiple;
    let up = |v: usize, n: usize| v.div_ceil(multiple).saturating_mul(multiple).min(n);
    let (top, left) = (down(window.top), down(window.left));
    Region {
        top,
        left,
        height: up(window.bottom(), height) - top,
        width: up(window.right(), width) - left,
    }
}

/// Puts targets into groups that can share backward passes: within a group, receptive fields do
/// not overlap (Chebyshev distance > 2·radius), and a target joins a group only if the group's
/// crop stays no larger than computing every member on its own crop.
pub fn group_targets(
    targets: &[(usize, usize)],
    radius: Option<usize>,
    multiple: usize,
    height: usize,
    width: usize,
) -> Vec<TargetGroup> {
    let own_crop = |t: (usize, usize)| {
        aligned_crop(
            receptive_window(t, radius, height, width),
            multiple,
            height,
            width,
        )
    };
    let Some(r) = radius else {
        // Unknown receptive fields may overlap anywhere: one target per pass.
        return (0..targets.len())
            .map(|i| TargetGroup {
                members: vec![i],
                crop: own_crop(targets[i]),
            })
            .collect();
    };
    let separated = |a: (usize, usize), b: (usize, usize)| {
        a.0.abs_diff(b.0) > 2 * r || a.1.abs_diff(b.1) > 2 * r
    };
    let mut groups: Vec<(TargetGroup, usize)> = Vec::new(); // with the sum of own-crop areas
    for (i, &t) in targets.iter().enumerate() {
        let mine = own_crop(t);
        let slot = groups.iter().position(|(g, own_area)| {
            g.members.iter().all(|&j| separated(targets[j], t))
                && g.crop.union(&mine).area() <= own_area + mine.area()
        });
        match slot {
            Some(k) => {
                let (g, own_area) = &mut groups[k];
                g.members.push(i);
                g.crop = g.crop.union(&mine);
                *own_area += mine.area();
            }
            None => groups.push((
                TargetGroup {
                    members: vec![i],
                    crop: mine,
                },
                mine.area(),
            )),
        }
    }
    groups.into_iter().map(|(g, _)| g).collect()
}

/// Checks that the image fits the model and the targets lie inside it.
pub fn check_inputs(
    multiple: usize,
    height: usize,
    width: usize,
    targets: &[(usize, usize)],
) -> Result<(), AttribError> {
    if !height.is_multiple_of(multiple) || !width.is_multiple_of(multiple) {
        return Err(AttribError::NotAligned {
            height,
            width,
            multiple,
        });
    }
    if let Some(&(row, col)) = targets.iter().find(|t| t.0 >= height || t.1 >= width) {
        return Err(AttribError::TargetOutside {
            row,
            col,
            height,
            width,
        });
    }
    Ok(())
}

/// Integrated gradients of every target's logit (see [`IgSettings`]) for one normalised image
/// (`height × width`, sides multiples of `size_multiple`). Calls `on_group` with each finished
/// group's attributions (in target order within the group) and the number of target-steps it
/// took, so callers can stream statistics and progress without holding every map.
///
/// Groups run in parallel on the rayon pool, a wave of one group per thread at a time: the
/// network's own kernels keep little more than one core busy on crops this small.
pub fn integrated_gradients<M: InputGradient + Sync + ?Sized>(
    model: &M,
    image: &[f32],
    height: usize,
    width: usize,
    targets: &[(usize, usize)],
    settings: &IgSettings,
    mut on_group: impl FnMut(Vec<Attribution>, usize),
) -> Result<(), AttribError> {
    assert_eq!(image.len(), height * width, "image buffer size");
    let multiple = model.size_multiple().max(1);
    check_inputs(multiple, height, width, targets)?;
    let radius = model.context_radius();
    let nodes = settings.rule.nodes(settings.steps);
    let groups = group_targets(targets, radius, multiple, height, width);
    let image = ImageRef {
        data: image,
        height,
        width,
    };
    for wave in groups.chunks(rayon::current_num_threads().max(1)) {
        let results: Vec<Vec<Attribution>> = wave
            .par_iter()
            .map(|group| group_attributions(model, image, targets, radius, &nodes, settings, group))
            .collect::<Result<_, _>>()?;
        for (group, maps) in wave.iter().zip(results) {
            on_group(maps, group.members.len() * nodes.len());
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct ImageRef<'a> {
    data: &'a [f32],
    height: usize,
    width: usize,
}

/// The attributions of one group's targets, from its crop.
fn group_attributions<M: InputGradient + ?Sized>(
    model: &M,
    image: ImageRef,
    targets: &[(usize, usize)],
    radius: Option<usize>,
    nodes: &[(f32, f32)],
    settings: &IgSettings,
    group: &TargetGroup,
) -> Result<Vec<Attribution>, ModelError> {
    let (height, width) = (image.height, image.width);
    let crop = group.crop;
    let pixels = crop.area();
    let input: Vec<f32> = (0..crop.height)
        .flat_map(|r| &image.data[(crop.top + r) * width + crop.left..][..crop.width])
        .copied()
        .collect();
    let local: Vec<(usize, usize)> = group
        .members
        .iter()
        .map(|&i| (targets[i].0 - crop.top, targets[i].1 - crop.left))
        .collect();
    let batch = (settings.max_batch_pixels / pixels).clamp(1, nodes.len());
    let mut weighted_gradient = vec![0f64; pixels];
    for chunk in nodes.chunks(batch) {
        let mut path = Vec::with_capacity(chunk.len() * pixels);
        for &(alpha, _) in chunk {
            path.extend(
                input
                    .iter()
                    .map(|&x| settings.baseline + alpha * (x - settings.baseline)),
            );
        }
        let shape = BatchShape {
            n: chunk.len(),
            height: crop.height,
            width: crop.width,
        };
        let gradient = model.logit_input_gradient(&path, shape, &local)?;
        for (k, &(_, weight)) in chunk.iter().enumerate() {
            for (acc, g) in weighted_gradient
                .iter_mut()
                .zip(&gradient[k * pixels..][..pixels])
            {
                *acc += weight as f64 * *g as f64;
            }
        }
    }
    let sign = settings.class.sign() as f64;
    Ok(group
        .members
        .iter()
        .map(|&i| {
            let window = receptive_window(targets[i], radius, height, width);
            let mut values = Vec::with_capacity(window.area());
            for row in window.top..window.bottom() {
                for col in window.left..window.right() {
                    let c = (row - crop.top) * crop.width + col - crop.left;
                    let delta = (input[c] - settings.baseline) as f64;
                    values.push((sign * delta * weighted_gradient[c]) as f32);
                }
            }
            Attribution {
                target: targets[i],
                top: window.top,
                left: window.left,
                height: window.height,
                width: window.width,
                values,
            }
        })
        .collect())
}

/// `f(x) − f(baseline)` of each target's (signed) logit, the value Σ IG must approach. Computed
/// on the same exact crops as the gradients (see the module notes), never on the whole image,
/// so memory stays that of a crop however large the image.
pub fn logit_differences<M: InputGradient + ?Sized>(
    model: &M,
    image: &[f32],
    height: usize,
    width: usize,
    targets: &[(usize, usize)],
    settings: &IgSettings,
) -> Result<Vec<f64>, ModelError> {
    let sign = settings.class.sign() as f64;
    let groups = group_targets(
        targets,
        model.context_radius(),
        model.size_multiple(),
        height,
        width,
    );
    let mut out = vec![0f64; targets.len()];
    for group in groups {
        let crop = group.crop;
        let pixels = crop.area();
        // The image crop and the baseline as a batch of two.
        let mut input: Vec<f32> = (0..crop.height)
            .flat_map(|r| &image[(crop.top + r) * width + crop.left..][..crop.width])
            .copied()
            .collect();
        input.resize(2 * pixels, settings.baseline);
        let shape = BatchShape {
            n: 2,
            height: crop.height,
            width: crop.width,
        };
        let logits = model.logits(&input, shape)?;
        for i in group.members {
            let (r, c) = targets[i];
            let k = (r - crop.top) * crop.width + c - crop.left;
            out[i] = sign * (logits[k] as f64 - logits[pixels + k] as f64);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_weigh_the_unit_interval() {
        for rule in [Rule::Right, Rule::Trapezoid] {
            let nodes = rule.nodes(8);
            let total: f32 = nodes.iter().map(|n| n.1).sum();
            assert!((total - 1.0).abs() < 1e-6);
            assert_eq!(nodes.last().unwrap().0, 1.0);
        }
        assert_eq!(Rule::Right.nodes(4)[0], (0.25, 0.25));
        assert_eq!(Rule::Trapezoid.nodes(4).len(), 5);
        assert_eq!(Rule::Trapezoid.nodes(4)[0], (0.0, 0.125));
    }

    #[test]
    fn crops_are_aligned_and_end_on_multiples_or_the_border() {
        let window = receptive_window((70, 3), Some(10), 96, 100);
        assert_eq!(
            window,
            Region {
                top: 60,
                left: 0,
                height: 21,
                width: 14
            }
        );
        let crop = aligned_crop(window, 16, 96, 100);
        assert_eq!(
            crop,
            Region {
                top: 48,
                left: 0,
                height: 48, // 48..96: the bottom multiple is the border
                width: 16
            }
        );
        // A window reaching the right border of a 100-wide image ends there.
        let edge = aligned_crop(receptive_window((5, 95), Some(10), 96, 100), 16, 96, 100);
        assert_eq!((edge.left, edge.width), (80, 20));
    }

    #[test]
    fn groups_hold_only_targets_with_disjoint_fields() {
        let targets: Vec<(usize, usize)> = (0..512)
            .step_by(10)
            .flat_map(|r| (0..512).step_by(10).map(move |c| (r + 4, c + 4)))
            .filter(|t| t.0 < 512 && t.1 < 512)
            .collect();
        let radius = 122;
        let groups = group_targets(&targets, Some(radius), 16, 512, 512);
        let mut seen = vec![false; targets.len()];
        for g in &groups {
            for (a, &i) in g.members.iter().enumerate() {
                assert!(!seen[i], "target in two groups");
                seen[i] = true;
                for &j in &g.members[a + 1..] {
                    let (p, q) = (targets[i], targets[j]);
                    assert!(p.0.abs_diff(q.0) > 2 * radius || p.1.abs_diff(q.1) > 2 * radius);
                }
            }
            assert_eq!((g.crop.top % 16, g.crop.left % 16), (0, 0));
        }
        assert!(seen.iter().all(|&s| s));
        // The authors' grid shares passes: fewer groups than targets.
        assert!(groups.len() * 2 < targets.len(), "{} groups", groups.len());
    }
}
