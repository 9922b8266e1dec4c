//! Errors over time: per second, failed requests (transport errors and unexpected statuses)
//! stacked with failed checks, so bursts line up with the latency and load charts above.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Chart, DrawResult, GREEN, ORANGE, VERMILION, box_key, chart_builder, draw_mesh, fmt_secs,
    legend, no_data, run_span_secs,
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

        let mut chart =
            chart_builder(root, Some(&title), 78).build_cartesian_2d(0f64..span, 0f64..y_max)?;
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc("time since start")
                .y_desc("failed requests / s")
                .y_labels(6)
                .x_label_formatter(&|v| fmt_secs(*v, span))
                .y_label_formatter(&|v| format!("{v:.0}")),
        )?;

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
            .legend(box_key(VERMILION));
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
            .legend(box_key(ORANGE));

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
