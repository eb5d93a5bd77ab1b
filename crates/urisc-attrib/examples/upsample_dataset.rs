//! Makes a 2×-upsampled copy of an `images/` + `labels/` dataset (bilinear images, nearest
//! labels), e.g. ISBI 2012 at ≈2 nm/px to compare with U-RISC:
//!
//! ```text
//! cargo run --release -p urisc-attrib --example upsample_dataset -- data/isbi2012 /tmp/isbi2x 2 4.0
//! ```

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: upsample_dataset SOURCE DESTINATION FACTOR [SOURCE_PIXEL_NM]");
        std::process::exit(2);
    }
    let factor: usize = args[2].parse().expect("FACTOR is a positive integer");
    let pixel_nm = args
        .get(3)
        .map(|v| v.parse().expect("SOURCE_PIXEL_NM is a number"));
    match urisc_attrib::upsample::upsample_dataset(
        &PathBuf::from(&args[0]),
        &PathBuf::from(&args[1]),
        factor,
        pixel_nm,
        false,
    ) {
        Ok(n) => println!("{n} pairs upsampled {factor}× into {}", args[1]),
        Err(e) => {
            eprintln!("upsample_dataset: error: {e}");
            std::process::exit(1);
        }
    }
}
