//! Latency over time: p50, p95 and p99 of each second's response time, the p95 target as a
//! dashed line, and the ramp-up shaded, so a reader sees at once whether latency grew with
//! load. The title and axis say which response time (from the intended start, or corrected
//! for coordinated omission); when the service time's p99 differs from the response time's,
//! it is drawn too, dashed: the gap is time spent waiting before the request was sent.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    BLUE, Chart, DrawResult, GREY, ORANGE, RAMP, TARGET, VERMILION, box_key, chart_builder,
    draw_mesh, fmt_ms_tick, fmt_secs, legend, line_key, ms, no_data, ramp_end_secs, run_span_secs,
    small_font,
};
use crate::metrics::{RunResult, TargetOutcome, TimePoint, Verdict};
use crate::report::response_time_label;

/// The service time is drawn when some second's p99 differs from the response time's by
/// more than this share ...
const SERVICE_DIFF_SHARE: f64 = 0.05;
/// ... and by more than this, µs (loopback noise is not a difference).
const SERVICE_DIFF_MIN_US: u64 = 500;

pub struct LatencyChart<'a> {
    result: &'a RunResult,
    /// The run's overall p95 latency target, if it has one.
    target: Option<&'a TargetOutcome>,
}

impl<'a> LatencyChart<'a> {
    pub fn new(result: &'a RunResult, verdict: &'a Verdict) -> Self {
        LatencyChart {
            result,
            target: super::latency_target(verdict, "p95", "overall"),
        }
    }

    /// Whether the service-time p99 is worth a line of its own: recorded, and apart from
    /// the response time's in some second.
    fn shows_service(&self, pts: &[&TimePoint]) -> bool {
        pts.iter().any(|p| {
            p.service_p99_us > 0 && {
                let gap = p.p99_us.abs_diff(p.service_p99_us);
                gap > SERVICE_DIFF_MIN_US && gap as f64 > p.p99_us as f64 * SERVICE_DIFF_SHARE
            }
        })
    }
}

type Pick = fn(&TimePoint) -> u64;

impl Chart for LatencyChart<'_> {
    const NAME: &'static str = "latency";

    fn title(&self) -> String {
        match response_time_label(self.result) {
            "response time" => "Latency over time (p50, p95, p99)".into(),
            label => format!("Latency over time: {label}"),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let pts: Vec<&TimePoint> = self
            .result
            .timeseries
            .iter()
            // A second with requests but no response time (all failed, or a run rebuilt
            // without its interval log) has no latency to draw, not a latency of 0.
            .filter(|p| p.requests > 0 && p.max_us > 0)
            .collect();
        if pts.is_empty() {
            return no_data(root, &title, "no response time was recorded during the run");
        }
        let span = run_span_secs(self.result);
        let threshold_ms = self.target.map(|t| t.threshold / 1000.0);
        let service = self.shows_service(&pts);
        let top = pts
            .iter()
            .map(|p| ms(p.p99_us.max(if service { p.service_p99_us } else { 0 })))
            .fold(0.0, f64::max);
        // A target far above the data would flatten it: leave it off the axis, say so.
        let on_chart = threshold_ms.filter(|thr| *thr <= top * super::TARGET_STRETCH);
        let y_max = (top.max(on_chart.unwrap_or(0.0)) * 1.12).max(0.01);
        // Each second's percentiles sit in the middle of their interval.
        let x = |p: &TimePoint| (p.t_us as f64 + p.duration_us as f64 / 2.0) / 1e6;

        let mut chart =
            chart_builder(root, Some(&title), 78).build_cartesian_2d(0f64..span, 0f64..y_max)?;
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc("time since start")
                .y_desc(if service {
                    "response and service time"
                } else {
                    "response time"
                })
                .x_label_formatter(&|v| fmt_secs(*v, span))
                .y_label_formatter(&|v| fmt_ms_tick(*v)),
        )?;

        if let Some(end) = ramp_end_secs(self.result) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (end, y_max)],
                    RAMP.mix(0.6).filled(),
                )))?
                .label("ramp-up")
                .legend(box_key(RAMP));
            chart.draw_series(std::iter::once(Text::new(
                "ramp-up",
                (end * 0.5, y_max * 0.97),
                small_font().pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                )),
            )))?;
        }

        super::outages::shade(&mut chart, self.result, span, y_max, true, 0.9)?;

        let lines: [(&str, RGBColor, Pick); 3] = [
            ("p50", BLUE, |p| p.p50_us),
            ("p95", ORANGE, |p| p.p95_us),
            ("p99", VERMILION, |p| p.p99_us),
        ];
        // With few points a line is too short to see: mark each point too.
        let dots = pts.len() < 20;
        for (name, color, pick) in lines {
            if dots {
                chart.draw_series(
                    pts.iter()
                        .map(|p| Circle::new((x(p), ms(pick(p))), 3, color.filled())),
                )?;
            }
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (x(p), ms(pick(p)))),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(line_key(color.stroke_width(2)));
        }
        if service {
            let svc = |p: &&TimePoint| (x(p), ms(p.service_p99_us));
            let line: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.service_p99_us > 0)
                .map(svc)
                .collect();
            if dots {
                chart.draw_series(line.iter().map(|xy| Circle::new(*xy, 3, GREY.filled())))?;
            }
            chart
                .draw_series(DashedLineSeries::new(line, 6, 4, GREY.stroke_width(2)))?
                .label("service time p99")
                .legend(line_key(GREY.stroke_width(2)));
        }

        if let Some(t) = self.target {
            let name = super::shorten(&t.expression, 40);
            let (points, label) = match on_chart {
                Some(thr) => (vec![(0.0, thr), (span, thr)], format!("target {name}")),
                None => (Vec::new(), format!("target {name} (far above)")),
            };
            chart
                .draw_series(DashedLineSeries::new(points, 10, 6, TARGET.stroke_width(2)))?
                .label(label)
                .legend(line_key(TARGET.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
