//! Shared plotting set-up for urisc's figures.
//!
//! plotters lays text out with a registered font (SVG and PNG alike) and draws it into bitmaps:
//! [`register_font`] registers the bundled DejaVu Sans as `"sans-serif"` (no system fonts
//! needed), and [`png_from_rgb`] encodes a drawn RGB buffer.
//!
//! ```
//! use urisc_plot::plotters::prelude::*;
//! urisc_plot::register_font();
//! let (w, h) = (64u32, 32u32);
//! let mut rgb = vec![0u8; (w * h * 3) as usize];
//! {
//!     let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
//!     root.fill(&WHITE).unwrap();
//!     root.draw(&Text::new("F1", (2, 2), ("sans-serif", 14))).unwrap();
//!     root.present().unwrap();
//! }
//! let png = urisc_plot::png_from_rgb(&rgb, w, h);
//! assert_eq!(&png[1..4], b"PNG");
//! ```

use std::sync::Once;

pub use plotters;

/// Registers the bundled DejaVu Sans as plotters' `"sans-serif"` (once per process).
pub fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("the bundled font is valid"));
    });
}

/// PNG file bytes of an 8-bit RGB buffer (`width · height · 3` bytes, row-major).
pub fn png_from_rgb(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    assert_eq!(rgb.len(), (width * height * 3) as usize, "RGB buffer size");
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("in-memory PNG");
    writer.write_image_data(rgb).expect("in-memory PNG");
    writer.finish().expect("in-memory PNG");
    png
}
