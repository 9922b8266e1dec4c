//! Throughput and active users over time, in two panels on one time axis: requests per
//! second on top, users below, so a flat rps line under a rising user count stands out.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    BLUE, Chart, DrawResult, GREEN, caption_font, chart_builder, draw_mesh, fmt_secs, no_data,
    run_span_secs,
};
use crate::metrics::RunResult;

pub struct ThroughputChart<'a> {
    result: &'a RunResult,
}

impl<'a> ThroughputChart<'a> {
    pub fn new(result: &'a RunResult) -> Self {
        ThroughputChart { result }
    }
}

impl Chart for ThroughputChart<'_> {
    const NAME: &'static str = "throughput";

    fn title(&self) -> String {
        "Throughput (requests/s) and active users".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let ts = &self.result.timeseries;
        if ts.is_empty() {
            return no_data(root, &title, "the run recorded no intervals");
        }
        let span = run_span_secs(self.result);
        let x = |t_us: u64, d_us: u64| (t_us + d_us) as f64 / 1e6;
        // Each second's rate sits in the middle of its interval.
        let mid = |t_us: u64, d_us: u64| (t_us as f64 + d_us as f64 / 2.0) / 1e6;
        let area = root.margin(12, 0, 0, 0).titled(&title, caption_font())?;
        let (top, bottom) = area.split_vertically(250);

        let rps_max = (ts.iter().map(|p| p.rps).fold(0.0, f64::max) * 1.12).max(1.0);
        let mut rps = chart_builder(&top, None, 78)
            .margin_bottom(4)
            .x_label_area_size(0)
            .build_cartesian_2d(0f64..span, 0f64..rps_max)?;
        draw_mesh(
            rps.configure_mesh()
                .y_desc("requests/s")
                .y_labels(6)
                .y_label_formatter(&|v| format!("{v:.0}")),
        )?;
        let rate = || ts.iter().map(|p| (mid(p.t_us, p.duration_us), p.rps));
        rps.draw_series(AreaSeries::new(rate(), 0.0, BLUE.mix(0.15)))?;
        rps.draw_series(LineSeries::new(rate(), BLUE.stroke_width(2)))?;
        if ts.len() < 20 {
            // Too few points for a visible line: mark each one.
            rps.draw_series(rate().map(|p| Circle::new(p, 3, BLUE.filled())))?;
        }

        let users_max = ts
            .iter()
            .map(|p| p.users)
            .max()
            .unwrap_or(0)
            .max(self.result.run.peak_users)
            .max(1);
        let users_top = (users_max as f64 * 1.15).ceil();
        let mut users = chart_builder(&bottom, None, 78)
            .margin_top(4)
            .build_cartesian_2d(0f64..span, 0f64..users_top)?;
        draw_mesh(
            users
                .configure_mesh()
                .x_desc("time since start")
                .y_desc("active users")
                .y_labels(5)
                .x_label_formatter(&|v| fmt_secs(*v, span))
                .y_label_formatter(&|v| format!("{v:.0}")),
        )?;
        // Users hold their count over each interval: draw steps, not slopes.
        let mut steps = vec![(0.0, 0.0)];
        for p in ts {
            let y = p.users as f64;
            steps.push((p.t_us as f64 / 1e6, y));
            steps.push((x(p.t_us, p.duration_us), y));
        }
        users.draw_series(AreaSeries::new(steps.clone(), 0.0, GREEN.mix(0.2)))?;
        users.draw_series(LineSeries::new(steps, GREEN.stroke_width(2)))?;
        Ok(())
    }
}
