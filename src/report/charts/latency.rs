//! Latency over time: p50, p95 and p99 of each second, the p95 target as a dashed line,
//! and the ramp-up shaded, so a reader sees at once whether latency grew with load.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    BLUE, Chart, DrawResult, ORANGE, RAMP, TARGET, VERMILION, box_key, chart_builder, draw_mesh,
    fmt_ms_tick, fmt_secs, legend, line_key, ms, no_data, ramp_end_secs, run_span_secs, small_font,
};
use crate::metrics::{RunResult, TargetOutcome, TimePoint, Verdict};

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
}

type Pick = fn(&TimePoint) -> u64;

impl Chart for LatencyChart<'_> {
    const NAME: &'static str = "latency";

    fn title(&self) -> String {
        "Latency over time (p50, p95, p99)".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let pts: Vec<&TimePoint> = self
            .result
            .timeseries
            .iter()
            .filter(|p| p.requests > 0)
            .collect();
        if pts.is_empty() {
            return no_data(root, &title, "no request completed during the run");
        }
        let span = run_span_secs(self.result);
        let threshold_ms = self.target.map(|t| t.threshold / 1000.0);
        let top = pts.iter().map(|p| ms(p.p99_us)).fold(0.0, f64::max);
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
                .y_desc("response time")
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
