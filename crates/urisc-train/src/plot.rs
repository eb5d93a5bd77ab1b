//! The training-curve plot, as SVG and as PNG (text drawn with the bundled DejaVu Sans, so no
//! system fonts are needed).

use urisc_plot::plotters::coord::Shift;
use urisc_plot::plotters::prelude::*;
use urisc_plot::{png_from_rgb, register_font};

use crate::run::EpochLog;

const PNG_SIZE: (u32, u32) = (960, 400);

/// Draws training loss and validation F1 per epoch, side by side, as SVG text.
pub fn training_curves_svg(logs: &[EpochLog]) -> String {
    register_font();
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, PNG_SIZE).into_drawing_area(),
        logs,
    );
    svg
}

/// The same plot as an RGB PNG file's bytes.
pub fn training_curves_png(logs: &[EpochLog]) -> Vec<u8> {
    register_font();
    let (w, h) = PNG_SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(
        BitMapBackend::with_buffer(&mut rgb, PNG_SIZE).into_drawing_area(),
        logs,
    );
    png_from_rgb(&rgb, w, h)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, logs: &[EpochLog]) {
    root.fill(&WHITE).expect("in-memory drawing");
    let (left, right) = root.split_horizontally(PNG_SIZE.0 / 2);
    let epochs = logs.iter().map(|l| l.epoch).max().unwrap_or(0) as f64 + 1.0;
    let max_loss = logs
        .iter()
        .map(|l| l.train_loss)
        .fold(0f64, f64::max)
        .max(1e-6)
        * 1.05;
    let panel = |area: &DrawingArea<DB, Shift>,
                 title: &str,
                 y_max: f64,
                 points: Vec<(f64, f64)>,
                 colour: RGBColor| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..epochs, 0f64..y_max)
            .expect("valid ranges");
        chart
            .configure_mesh()
            .x_desc("epoch")
            .draw()
            .expect("in-memory drawing");
        chart
            .draw_series(LineSeries::new(points.clone(), colour))
            .expect("in-memory drawing");
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .expect("in-memory drawing");
    };
    panel(
        &left,
        "training loss",
        max_loss,
        logs.iter()
            .map(|l| (l.epoch as f64 + 1.0, l.train_loss))
            .collect(),
        RED,
    );
    panel(
        &right,
        "validation F1 (best threshold)",
        1.0,
        logs.iter()
            .map(|l| (l.epoch as f64 + 1.0, l.val_f1))
            .collect(),
        BLUE,
    );
    root.present().expect("in-memory drawing");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(epochs: usize) -> Vec<EpochLog> {
        (0..epochs)
            .map(|e| EpochLog {
                epoch: e,
                global_step: 10 * (e + 1),
                lr: 1e-3,
                train_loss: 1.0 / (e + 1) as f64,
                val_f1: 0.5 + 0.1 * e as f64,
                val_threshold: 0.5,
                seconds: 1.0,
            })
            .collect()
    }

    #[test]
    fn curves_contain_one_point_per_epoch() {
        let svg = training_curves_svg(&logs(3));
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("validation F1"));
        assert_eq!(svg.matches("<circle").count(), 6);
    }

    #[test]
    fn png_curves_decode_with_the_plot_size_and_drawn_pixels() {
        let png = training_curves_png(&logs(4));
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!((info.width, info.height), PNG_SIZE);
        // Red loss curve, blue F1 curve and dark text are all there.
        let pixels: Vec<&[u8]> = rgb.chunks_exact(3).collect();
        assert!(pixels.iter().any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60));
        assert!(pixels.iter().any(|p| p[2] > 200 && p[0] < 60 && p[1] < 60));
        assert!(pixels.iter().filter(|p| p.iter().all(|&v| v < 80)).count() > 500);
    }
}
