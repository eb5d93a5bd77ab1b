//! Training samples for urisc, independent of any deep-learning framework: seeded crops from
//! labelled images of any size ([`CropSampler`]), area resizing ([`resize_area`]) and
//! augmentation ([`AugmentConfig`]) on plain `f32` tiles. Every random choice comes from the
//! caller's RNG, so a seeded generator reproduces a run exactly. [`synth`] makes large
//! U-RISC-like test sections from small labelled slices.
//!
//! ```
//! use rand::SeedableRng;
//! use urisc_data::{AugmentConfig, CropConfig, CropSampler, LabelledImage};
//! use urisc_io::Image;
//! let data = [LabelledImage { image: Image::filled(64, 80, 128), label: Image::filled(64, 80, 255) }];
//! let sampler = CropSampler::new(&data, CropConfig { crop: 32, size: 16, ..Default::default() });
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let tile = AugmentConfig::default().apply(&sampler.sample(&mut rng), &mut rng);
//! assert_eq!((tile.height, tile.width), (16, 16));
//! ```

mod augment;
mod sampler;
pub mod synth;
mod tile;

pub use augment::{dihedral, dihedral_inverse, dihedral_plane, gaussian_blur, AugmentConfig};
pub use sampler::{resize_area, CropConfig, CropSampler, LabelledImage};
pub use tile::{bilinear, reflect, Tile};
