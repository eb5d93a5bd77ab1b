//! The training-curve plot (SVG, so no font files are needed to draw it).

use plotters::prelude::*;

use crate::trainer::EpochLog;

/// Draws training loss and validation F1 per epoch, side by side, as SVG text.
pub fn training_curves_svg(logs: &[EpochLog]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).expect("in-memory drawing");
        let (left, right) = root.split_horizontally(480);
        let epochs = logs.iter().map(|l| l.epoch).max().unwrap_or(0) as f64 + 1.0;
        let max_loss = logs
            .iter()
            .map(|l| l.train_loss)
            .fold(0f64, f64::max)
            .max(1e-6)
            * 1.05;
        let panel = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
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
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_contain_one_point_per_epoch() {
        let logs: Vec<EpochLog> = (0..3)
            .map(|e| EpochLog {
                epoch: e,
                global_step: 10 * (e + 1),
                lr: 1e-3,
                train_loss: 1.0 / (e + 1) as f64,
                val_f1: 0.5 + 0.1 * e as f64,
                val_threshold: 0.5,
                seconds: 1.0,
            })
            .collect();
        let svg = training_curves_svg(&logs);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("validation F1"));
        assert_eq!(svg.matches("<circle").count(), 6);
    }
}
