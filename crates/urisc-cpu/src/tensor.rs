//! Activations in NHWC layout: channels contiguous per pixel, so a 3×3 patch is nine contiguous
//! runs and a convolution is one GEMM over pixels.

/// A batch of feature maps `[n, h, w, c]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Act {
    /// Images in the batch.
    pub n: usize,
    /// Height in pixels.
    pub h: usize,
    /// Width in pixels.
    pub w: usize,
    /// Channels per pixel.
    pub c: usize,
    /// `n·h·w·c` values, NHWC: value `(b, y, x, ch)` at `((b·h + y)·w + x)·c + ch`.
    pub data: Vec<f32>,
}

impl Act {
    /// An all-zero batch `[n, h, w, c]`.
    pub fn zeros(n: usize, h: usize, w: usize, c: usize) -> Act {
        Act {
            n,
            h,
            w,
            c,
            data: vec![0.0; n * h * w * c],
        }
    }

    /// A batch `[n, h, w, c]` whose values `fill` writes, without zero-filling it first (on
    /// recycled heap memory the zeroing was 3–5 % of an inference pass).
    ///
    /// # Safety
    /// `fill` must write every element of the slice it is given.
    pub(crate) unsafe fn filled_by(
        (n, h, w, c): (usize, usize, usize, usize),
        fill: impl FnOnce(&mut [std::mem::MaybeUninit<f32>]),
    ) -> Act {
        let len = n * h * w * c;
        let mut data: Vec<std::mem::MaybeUninit<f32>> = Vec::with_capacity(len);
        // SAFETY: `MaybeUninit` values need no initialisation; the capacity is `len`.
        unsafe { data.set_len(len) };
        fill(&mut data);
        let mut data = std::mem::ManuallyDrop::new(data);
        // SAFETY: `fill` wrote every element (caller's contract), and `MaybeUninit<f32>` has the
        // layout of `f32`; the allocation is handed over whole (pointer, length, capacity).
        let data =
            unsafe { Vec::from_raw_parts(data.as_mut_ptr().cast::<f32>(), len, data.capacity()) };
        Act { n, h, w, c, data }
    }

    /// Wraps NHWC `data`; panics unless it holds `n·h·w·c` values.
    pub fn from_vec(n: usize, h: usize, w: usize, c: usize, data: Vec<f32>) -> Act {
        assert_eq!(data.len(), n * h * w * c, "activation size");
        Act { n, h, w, c, data }
    }

    /// Pixels in the batch (`n · h · w`).
    pub fn pixels(&self) -> usize {
        self.n * self.h * self.w
    }

    /// Image rows in the batch (`n · h`): the unit of work splitting.
    pub fn rows(&self) -> usize {
        self.n * self.h
    }

    /// Whether `other` has the same batch size, height and width (channels may differ).
    pub fn same_grid(&self, other: &Act) -> bool {
        (self.n, self.h, self.w) == (other.n, other.h, other.w)
    }

    /// NCHW → NHWC.
    pub fn from_nchw(n: usize, c: usize, h: usize, w: usize, nchw: &[f32]) -> Act {
        assert_eq!(nchw.len(), n * c * h * w);
        if c == 1 {
            return Act::from_vec(n, h, w, 1, nchw.to_vec());
        }
        let mut data = vec![0.0; nchw.len()];
        for b in 0..n {
            for ch in 0..c {
                let plane = &nchw[(b * c + ch) * h * w..][..h * w];
                for (p, &v) in plane.iter().enumerate() {
                    data[(b * h * w + p) * c + ch] = v;
                }
            }
        }
        Act::from_vec(n, h, w, c, data)
    }

    /// NHWC → NCHW.
    pub fn to_nchw(&self) -> Vec<f32> {
        if self.c == 1 {
            return self.data.clone();
        }
        let (hw, c) = (self.h * self.w, self.c);
        let mut out = vec![0.0; self.data.len()];
        for b in 0..self.n {
            for p in 0..hw {
                for ch in 0..c {
                    out[(b * c + ch) * hw + p] = self.data[(b * hw + p) * c + ch];
                }
            }
        }
        out
    }
}

/// Work done on each band of a convolution's output while it is in cache (pixel-major slices
/// of `cout` channels): the fused batch norm + ReLU of inference.
pub type Epilogue = dyn Fn(&mut [f32]) + Sync;

/// `acc += x` element by element (over the shorter of the two).
pub(crate) fn add_into(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a += b;
    }
}

/// `dst.copy_from_slice(src)` for one pixel's channels, in blocks of 8: a copy of variable length
/// calls `memcpy`, whose call costs more than copying 8–64 floats (per-pixel copies were 5 % of a
/// training step).
#[inline(always)]
pub(crate) fn copy_channels(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "channels to copy");
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d8, s8) in (&mut d).zip(&mut s) {
        let block: [f32; 8] = s8.try_into().expect("8 floats");
        d8.copy_from_slice(&block);
    }
    for (x, y) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *x = *y;
    }
}

/// [`copy_channels`] into memory not yet written.
#[inline(always)]
pub(crate) fn copy_channels_uninit(dst: &mut [std::mem::MaybeUninit<f32>], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "channels to copy");
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d8, s8) in (&mut d).zip(&mut s) {
        let block: [f32; 8] = s8.try_into().expect("8 floats");
        let d8: &mut [std::mem::MaybeUninit<f32>; 8] = d8.try_into().expect("8 floats");
        *d8 = block.map(std::mem::MaybeUninit::new);
    }
    for (x, y) in d.into_remainder().iter_mut().zip(s.remainder()) {
        x.write(*y);
    }
}

/// `len` deterministic values in [−1, 1) from `seed` (a linear congruential sequence): inputs
/// for tests and benchmarks that must not depend on a random-number crate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of 8 and the remainder are both copied, into written and unwritten memory.
    #[test]
    fn channel_copies_cover_blocks_and_remainders() {
        for len in [0, 1, 5, 8, 13, 16, 23] {
            let src = pseudo_random(len, len as u64);
            let mut dst = vec![f32::NAN; len];
            copy_channels(&mut dst, &src);
            assert_eq!(dst, src, "copy_channels, {len} floats");
            let mut uninit = vec![std::mem::MaybeUninit::new(f32::NAN); len];
            copy_channels_uninit(&mut uninit, &src);
            // SAFETY: every element was initialised (with NaN, then the copy).
            let copied: Vec<f32> = uninit.iter().map(|v| unsafe { v.assume_init() }).collect();
            assert_eq!(copied, src, "copy_channels_uninit, {len} floats");
        }
    }
}
