//! Errors over time: per second, failed requests (transport errors and unexpected statuses)
//! stacked with failed checks, so bursts line up with the latency and load charts above.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Chart, DrawResult, GREEN, ORANGE, VERMILION, caption_font, fmt_secs, label_font, legend,
    no_data, run_span_secs,
};
use crate::metrics::RunResult;

pub struct ErrorsChart<'a> {
    result: &'a RunResult,
}

impl<'a> ErrorsChart<'a> {
    pub fn new(result: &'a RunResult) -> Self {
        ErrorsChart { result }
    }
}

impl Chart for ErrorsChart<'_> {
    const NAME: &'static str = "errors";

    fn title(&self) -> String {
        "Errors over time (per second)".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let ts = &self.result.timeseries;
        if ts.is_empty() || ts.iter().all(|p| p.requests == 0) {
            return no_data(root, &title, "no request completed during the run");
        }
        let span = run_span_secs(self.result);
        let top = ts
            .iter()
            .map(|p| p.errors + p.check_failed)
            .max()
            .unwrap_or(0);
        let y_max = ((top as f64) * 1.15).ceil().max(5.0);

        let mut chart = ChartBuilder::on(root)
            .caption(&title, caption_font())
            .margin(12)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..span, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("time since start")
            .y_desc("failed requests / s")
            .y_labels(6)
            .x_label_formatter(&|v| fmt_secs(*v, span))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(label_font())
            .axis_desc_style(label_font())
            .light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.1))
            .draw()?;

        let secs = |us: u64| us as f64 / 1e6;
        chart
            .draw_series(ts.iter().filter(|p| p.errors > 0).map(|p| {
                let mut r = Rectangle::new(
                    [
                        (secs(p.t_us), 0.0),
                        (secs(p.t_us + p.duration_us), p.errors as f64),
                    ],
                    VERMILION.filled(),
                );
                r.set_margin(0, 0, 1, 1);
                r
            }))?
            .label("errors (transport, status)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], VERMILION.filled()));
        chart
            .draw_series(ts.iter().filter(|p| p.check_failed > 0).map(|p| {
                let base = p.errors as f64;
                let mut r = Rectangle::new(
                    [
                        (secs(p.t_us), base),
                        (secs(p.t_us + p.duration_us), base + p.check_failed as f64),
                    ],
                    ORANGE.filled(),
                );
                r.set_margin(0, 0, 1, 1);
                r
            }))?
            .label("failed checks")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], ORANGE.filled()));

        if top == 0 {
            chart.draw_series(std::iter::once(Text::new(
                "no errors and no failed checks",
                (span / 2.0, y_max / 2.0),
                (super::FONT, 20)
                    .into_font()
                    .color(&GREEN)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))?;
            return Ok(());
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
