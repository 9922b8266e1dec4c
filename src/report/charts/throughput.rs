//! Throughput and active users over time, in two panels on one time axis: requests per
//! second on top, users below, so a flat rps line under a rising user count stands out.
//!
//! In the open model the top panel holds the schedule against what happened: the intended
//! rate (iterations due each second, in requests when an iteration makes several) dashed
//! over the achieved requests per second, with late and dropped iterations per second as
//! bars when there were any; the bottom panel shows the users busy with an iteration, under
//! the pool's `max_users` when that fits.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    BLACK_ISH, BLUE, Chart, DrawResult, GREEN, GREY, ORANGE, VERMILION, box_key, caption_font,
    chart_builder, draw_mesh, fmt_secs, legend, line_key, no_data, run_span_secs,
};
use crate::metrics::{RunResult, TimePoint};

pub struct ThroughputChart<'a> {
    result: &'a RunResult,
    /// Open model: requests per iteration (the intended rate is drawn in requests), or
    /// `None` for a closed-model run.
    open: Option<f64>,
}

impl<'a> ThroughputChart<'a> {
    pub fn new(result: &'a RunResult) -> Self {
        let scheduled = result.timeseries.iter().any(|p| p.scheduled > 0);
        let open =
            (result.run.open_model.is_some() || scheduled).then(|| match &result.run.open_model {
                Some(o) if o.started > 0 && result.overall.requests > 0 => {
                    result.overall.requests as f64 / o.started as f64
                }
                _ => 1.0,
            });
        ThroughputChart { result, open }
    }
}

/// Seconds an interval lasted (at least a millisecond).
fn secs(p: &TimePoint) -> f64 {
    (p.duration_us as f64 / 1e6).max(0.001)
}

impl Chart for ThroughputChart<'_> {
    const NAME: &'static str = "throughput";

    fn title(&self) -> String {
        if self.open.is_some() {
            "Throughput: intended and achieved (per second), and busy users".into()
        } else {
            "Throughput (requests/s) and active users".into()
        }
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

        // Open model: the intended rate in requests, and iterations late or dropped.
        let per_iter = self.open.unwrap_or(1.0);
        let intended = |p: &TimePoint| p.scheduled as f64 / secs(p) * per_iter;
        let intended_max = match self.open {
            Some(_) => ts.iter().map(intended).fold(0.0, f64::max),
            None => 0.0,
        };
        let rps_max = (ts.iter().map(|p| p.rps).fold(intended_max, f64::max) * 1.12).max(1.0);
        let mut rps = chart_builder(&top, None, 78)
            .margin_bottom(4)
            .x_label_area_size(0)
            .build_cartesian_2d(0f64..span, 0f64..rps_max)?;
        draw_mesh(
            rps.configure_mesh()
                .y_desc(if self.open.is_some() {
                    "per second"
                } else {
                    "requests/s"
                })
                .y_labels(6)
                .y_label_formatter(&|v| format!("{v:.0}")),
        )?;
        // Labelled below the rate line, which an outage does not bend (failures count).
        super::outages::shade(&mut rps, self.result, span, rps_max, false, 0.45)?;
        let rate = || ts.iter().map(|p| (mid(p.t_us, p.duration_us), p.rps));
        rps.draw_series(AreaSeries::new(rate(), 0.0, BLUE.mix(0.15)))?;
        let achieved = rps.draw_series(LineSeries::new(rate(), BLUE.stroke_width(2)))?;
        if self.open.is_some() {
            achieved
                .label("achieved requests/s")
                .legend(line_key(BLUE.stroke_width(2)));
        }
        if ts.len() < 20 {
            // Too few points for a visible line: mark each one.
            rps.draw_series(rate().map(|p| Circle::new(p, 3, BLUE.filled())))?;
        }
        if self.open.is_some() {
            self.draw_schedule(&mut rps, intended)?;
        }

        let users_max = ts
            .iter()
            .map(|p| p.users)
            .max()
            .unwrap_or(0)
            .max(self.result.run.peak_users)
            .max(1);
        // The pool's `max_users` is drawn when it is near enough to be read against.
        let pool = (self.result.run.open_model.as_ref())
            .filter(|_| self.open.is_some())
            .map(|o| o.max_users as f64)
            .filter(|m| *m > 0.0 && *m <= users_max as f64 * 2.0);
        let users_top = (users_max as f64 * 1.15)
            .max(pool.unwrap_or(0.0) * 1.08)
            .ceil();
        let mut users = chart_builder(&bottom, None, 78)
            .margin_top(4)
            .build_cartesian_2d(0f64..span, 0f64..users_top)?;
        draw_mesh(
            users
                .configure_mesh()
                .x_desc("time since start")
                .y_desc(if self.open.is_some() {
                    "busy users"
                } else {
                    "active users"
                })
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
        if let Some(pool) = pool {
            users
                .draw_series(DashedLineSeries::new(
                    [(0.0, pool), (span, pool)],
                    8,
                    6,
                    GREY.stroke_width(2),
                ))?
                .label(format!("max_users {pool:.0}"))
                .legend(line_key(GREY.stroke_width(2)));
            legend(&mut users, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    }
}

type RateChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

impl ThroughputChart<'_> {
    /// The open model's schedule on the rate panel: the intended rate dashed, and bars of
    /// late and dropped iterations per second.
    fn draw_schedule<'a, DB: DrawingBackend + 'a>(
        &self,
        chart: &mut RateChart<'a, DB>,
        intended: impl Fn(&TimePoint) -> f64,
    ) -> DrawResult<DB> {
        let ts = &self.result.timeseries;
        let mid = |p: &TimePoint| (p.t_us as f64 + p.duration_us as f64 / 2.0) / 1e6;
        // Bars a little narrower than their second, late then dropped side by side.
        let bar = |p: &TimePoint, v: f64, left: bool, color: RGBColor| {
            let (t0, t1) = (p.t_us as f64 / 1e6, (p.t_us + p.duration_us) as f64 / 1e6);
            let m = (t0 + t1) / 2.0;
            let (a, b) = if left {
                (t0 + (t1 - t0) * 0.1, m)
            } else {
                (m, t1 - (t1 - t0) * 0.1)
            };
            Rectangle::new([(a, 0.0), (b, v)], color.mix(0.85).filled())
        };
        if ts.iter().any(|p| p.late > 0) {
            chart
                .draw_series(
                    ts.iter()
                        .filter(|p| p.late > 0)
                        .map(|p| bar(p, p.late as f64 / secs(p), true, ORANGE)),
                )?
                .label("late starts/s")
                .legend(box_key(ORANGE));
        }
        if ts.iter().any(|p| p.dropped > 0) {
            chart
                .draw_series(
                    ts.iter()
                        .filter(|p| p.dropped > 0)
                        .map(|p| bar(p, p.dropped as f64 / secs(p), false, VERMILION)),
                )?
                .label("dropped/s")
                .legend(box_key(VERMILION));
        }
        let per_iter = self.open.unwrap_or(1.0);
        let label = if (per_iter - 1.0).abs() < 0.05 {
            "intended (iterations due/s)".to_string()
        } else {
            format!("intended ({per_iter:.1} requests per iteration due)")
        };
        chart
            .draw_series(DashedLineSeries::new(
                ts.iter().map(|p| (mid(p), intended(p))),
                8,
                5,
                BLACK_ISH.stroke_width(2),
            ))?
            .label(label)
            .legend(line_key(BLACK_ISH.stroke_width(2)));
        legend(chart, SeriesLabelPosition::LowerRight)
    }
}
