//! Which kernels run, as a value: the kernel path (AVX-512, AVX2 + FMA, NEON or portable) and
//! the 3×3 convolution algorithm, together a [`Kernels`]. Every entry point that runs kernels
//! has a form that takes one (`Conv::forward_with`, `Net::infer_with`, …); the plain forms run
//! on [`Kernels::default`], what `URISC_KERNELS` and `URISC_CONV` chose when it was first asked
//! for. Nothing here changes after that: two calls with different values may run side by side.

use std::sync::OnceLock;

/// Which kernels run: a native implicit-GEMM tile (AVX-512, AVX2 + FMA, or NEON), or the portable
/// path (im2col + the `gemm` crate, plain per-element loops) that every CPU has and every native
/// path is tested against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// The hand-written 14 × 32 tile in 28 zmm registers and 16-wide per-element loops (x86-64
    /// with AVX-512 F and BW).
    Avx512,
    /// The same tile interface in blocks of 5 rows × 16 columns (10 ymm accumulators) and
    /// per-element loops compiled for AVX2 + FMA, for x86-64-v3 CPUs without AVX-512 (AMD Zen
    /// 2/3, most Intel client parts).
    Avx2,
    /// The AVX2 tile's blocks in NEON q registers (5 rows × 16 columns: 20 accumulators of the
    /// 32) and the per-element loops 4 wide, for aarch64 targets with NEON (all but softfloat ones).
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    Neon,
    /// im2col + the `gemm` crate and plain per-element loops: any CPU.
    Portable,
}

impl KernelPath {
    /// The path's name as `URISC_KERNELS` spells it: `avx512`, `avx2`, `neon` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx2 => "avx2",
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            KernelPath::Neon => "neon",
            KernelPath::Portable => "portable",
        }
    }
}

/// The paths this CPU can run (native ones first; the portable path always).
pub fn available_kernel_paths() -> Vec<KernelPath> {
    available().to_vec()
}

/// [`available_kernel_paths`], detected once: the CPU's features do not change while the
/// process runs, and detection is not free.
fn available() -> &'static [KernelPath] {
    static AVAILABLE: OnceLock<Vec<KernelPath>> = OnceLock::new();
    // Pushes under `cfg`s: which ones run depends on the target.
    #[allow(clippy::vec_init_then_push)]
    AVAILABLE.get_or_init(|| {
        let mut paths = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                paths.push(KernelPath::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                paths.push(KernelPath::Avx2);
            }
        }
        // NEON is in the baseline of the aarch64 targets that have it (cfg), so it needs no
        // detection; aarch64 targets without it (softfloat) take the portable path.
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        paths.push(KernelPath::Neon);
        paths.push(KernelPath::Portable);
        paths
    })
}

/// How 3×3 convolutions (forward, data and weight gradients) run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Winograd F(4×4, 3×3) for forward passes, data and weight gradients on the native kernel
    /// paths (4× fewer multiplications; transforms with coefficients up to 8 round within ~1e-5
    /// of the largest value), F(2×2, 3×3) for data gradients whose support must be exact (see
    /// `Conv::backward_data`); the portable path convolves directly. The default.
    Winograd,
    /// Winograd F(2×2, 3×3) everywhere, the portable path too (2.25× fewer multiplications;
    /// coefficients 0, ±1, ±½ round at the direct convolution's level).
    Winograd2,
    /// The implicit GEMM over the nine taps (or im2col on the portable path).
    Direct,
}

impl ConvAlgorithm {
    /// The name as `URISC_CONV` spells it: `winograd`, `winograd2` or `direct`.
    pub fn name(self) -> &'static str {
        match self {
            ConvAlgorithm::Winograd => "winograd",
            ConvAlgorithm::Winograd2 => "winograd2",
            ConvAlgorithm::Direct => "direct",
        }
    }
}

/// The kernels a call runs on: a kernel path this CPU has and a 3×3 convolution algorithm.
///
/// A kernel path this CPU cannot run (what [`Kernels::new`] refuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub KernelPath);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "this CPU cannot run the {} kernels", self.0.name())
    }
}

impl std::error::Error for Unavailable {}

/// Only [`Kernels::new`] (which refuses a path the CPU lacks), [`Kernels::portable`],
/// [`Kernels::from_env`] and [`Kernels::default`] make one, so holding a `Kernels` proves that its
/// path's instructions are available: the native code runs on that alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    path: KernelPath,
    algorithm: ConvAlgorithm,
}

impl Kernels {
    /// `path` with `algorithm`; refuses a path this CPU cannot run.
    pub fn new(path: KernelPath, algorithm: ConvAlgorithm) -> Result<Kernels, Unavailable> {
        if available().contains(&path) {
            Ok(Kernels { path, algorithm })
        } else {
            Err(Unavailable(path))
        }
    }

    /// The portable path (every CPU has it) with `algorithm`.
    pub fn portable(algorithm: ConvAlgorithm) -> Kernels {
        Kernels {
            path: KernelPath::Portable,
            algorithm,
        }
    }

    /// What the environment chooses, read now: the path `URISC_KERNELS` names (`avx512`,
    /// `avx2`, `neon` or `portable`; unset, or a path this CPU lacks: the widest native path it
    /// has) and the algorithm `URISC_CONV` names (`winograd2` or `direct`; otherwise Winograd).
    /// The AVX2 path became the default on CPUs without AVX-512 with the Winograd convolutions,
    /// which run their transforms in ymm registers and their GEMMs on its tile: width 8 on an
    /// Intel Xeon forced to AVX2, 512² forward 0.042 s and training step 0.28 s against
    /// 0.080 / 0.33 s on the portable path (`bench/speed/results/kernels-20261129.log`).
    pub fn from_env() -> Kernels {
        let available = available();
        let wanted = std::env::var("URISC_KERNELS").ok();
        let path = available
            .iter()
            .copied()
            .find(|p| wanted.as_deref() == Some(p.name()))
            .unwrap_or(available[0]);
        let algorithm = match std::env::var("URISC_CONV").as_deref() {
            Ok("direct") => ConvAlgorithm::Direct,
            Ok("winograd2") => ConvAlgorithm::Winograd2,
            _ => ConvAlgorithm::Winograd,
        };
        Kernels { path, algorithm }
    }

    /// This value with `algorithm` instead (the path stays).
    pub fn with_algorithm(self, algorithm: ConvAlgorithm) -> Kernels {
        Kernels { algorithm, ..self }
    }

    /// The kernel path.
    pub fn path(self) -> KernelPath {
        self.path
    }

    /// The 3×3 convolution algorithm.
    pub fn algorithm(self) -> ConvAlgorithm {
        self.algorithm
    }

    /// Whether the path is a native one (a hand-written tile), not the portable path.
    pub fn native(self) -> bool {
        self.path != KernelPath::Portable
    }
}

impl Default for Kernels {
    /// The process's default: [`Kernels::from_env`] as it was at the first call (kept, so that
    /// every call without an explicit value runs the same kernels, as `URISC_KERNELS` and
    /// `URISC_CONV` always did).
    fn default() -> Kernels {
        static DEFAULT: OnceLock<Kernels> = OnceLock::new();
        *DEFAULT.get_or_init(Kernels::from_env)
    }
}

/// The default's kernel path (`Kernels::default().path()`): what the plain entry points run.
pub fn kernel_path() -> KernelPath {
    Kernels::default().path()
}
