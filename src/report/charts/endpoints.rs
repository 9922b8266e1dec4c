//! p95 per endpoint as horizontal bars, each against its own target (`p95(step="...")`) when
//! it has one, with the run's overall p95 target as a reference line: which endpoint is
//! slow, and by how much. When the run recorded service times, each bar carries a thin
//! dark bar of the endpoint's service-time p95: the rest of the bar is waiting.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    BLACK_ISH, BLUE, Chart, DrawResult, GREY, TARGET, VERMILION, bar_axes, box_key, fmt_ms,
    label_font, legend, line_key, ms, no_data, row_names, shorten, small_font,
};
use crate::metrics::{RunResult, TargetOutcome, Verdict};

/// Rows shown at most (the slowest endpoints); more would not fit 500 px.
const MAX_ROWS: usize = 14;
/// Characters of an endpoint name shown.
const NAME_CHARS: usize = 34;

pub struct EndpointsChart<'a> {
    /// (name, p95 µs, its own p95 target), slowest first.
    rows: Vec<(&'a str, u64, Option<&'a TargetOutcome>)>,
    /// Service-time p95 of each row, µs (empty when the run did not record them).
    service: Vec<u64>,
    /// The x axis: which latency the bars show.
    x_desc: String,
    /// Endpoints with requests, before cutting to `MAX_ROWS`.
    total: usize,
    overall_target: Option<&'a TargetOutcome>,
}

impl<'a> EndpointsChart<'a> {
    pub fn new(result: &'a RunResult, verdict: &'a Verdict) -> Self {
        let mut rows: Vec<_> = result
            .steps
            .iter()
            .filter(|s| s.summary.response_time.count > 0)
            // A custom metric's values are not latencies (its own table shows them).
            .filter(|s| !crate::report::custom::is_metric_row(s))
            .map(|s| {
                let scope = format!("step={}", s.name);
                (
                    s.name.as_str(),
                    s.summary.response_time.p95_us,
                    super::latency_target(verdict, "p95", &scope),
                )
            })
            .collect();
        let total = rows.len();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rows.truncate(MAX_ROWS);
        let service = if crate::report::has_service_time(result) {
            rows.iter()
                .map(|(name, ..)| {
                    result
                        .step(name)
                        .map_or(0, |s| s.summary.service_time.p95_us)
                })
                .collect()
        } else {
            Vec::new()
        };
        EndpointsChart {
            rows,
            service,
            x_desc: format!("p95 {}", crate::report::response_time_label(result)),
            total,
            overall_target: super::latency_target(verdict, "p95", "overall"),
        }
    }
}

impl Chart for EndpointsChart<'_> {
    const NAME: &'static str = "endpoints";

    fn title(&self) -> String {
        if self.total > self.rows.len() {
            format!(
                "p95 by endpoint against its target ({} slowest of {})",
                self.rows.len(),
                self.total
            )
        } else {
            "p95 by endpoint against its target".into()
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        if self.rows.is_empty() {
            return no_data(root, &title, "no endpoint got a response");
        }
        let n = self.rows.len() as f64;
        // Targets far beyond the slowest bar would flatten the bars: they stay off the axis.
        let data_top = self.rows.iter().map(|r| ms(r.1)).fold(0.0, f64::max);
        let fits = |thr: f64| thr <= data_top * super::TARGET_STRETCH;
        let overall_ms = self.overall_target.map(|t| t.threshold / 1000.0);
        let top = self
            .rows
            .iter()
            .filter_map(|(_, _, t)| t.map(|t| t.threshold / 1000.0))
            .chain(overall_ms)
            .filter(|thr| fits(*thr))
            .fold(data_top, f64::max);
        // Room on the right for the value labels.
        let x_max = (top * 1.18).max(0.01);
        let longest = self
            .rows
            .iter()
            .map(|(name, ..)| shorten(name, NAME_CHARS).chars().count())
            .max()
            .unwrap_or(0);
        let mut chart = bar_axes(root, &title, &self.x_desc, x_max, n, longest)?;

        // Slowest on top: row 0 is drawn at the top of the y range.
        let row_y = |i: usize| n - 1.0 - i as f64;
        let over = |p95: u64, t: Option<&TargetOutcome>| {
            t.is_some_and(|t| t.status != crate::metrics::TargetStatus::Pass)
                || t.is_some_and(|t| ms(p95) > t.threshold / 1000.0)
        };
        let bar = |i: usize, p95: u64, color: RGBColor| {
            let y = row_y(i);
            Rectangle::new([(0.0, y + 0.2), (ms(p95), y + 0.8)], color.filled())
        };
        let ok_rows: Vec<_> = (self.rows.iter().enumerate())
            .filter(|(_, (_, p, t))| !over(*p, *t))
            .collect();
        let bad_rows: Vec<_> = (self.rows.iter().enumerate())
            .filter(|(_, (_, p, t))| over(*p, *t))
            .collect();
        if !ok_rows.is_empty() {
            chart
                .draw_series(ok_rows.iter().map(|(i, (_, p, _))| bar(*i, *p, BLUE)))?
                .label("p95")
                .legend(box_key(BLUE));
        }
        if !bad_rows.is_empty() {
            chart
                .draw_series(bad_rows.iter().map(|(i, (_, p, _))| bar(*i, *p, VERMILION)))?
                .label("p95 over its target")
                .legend(box_key(VERMILION));
        }

        if self.service.iter().any(|v| *v > 0) {
            chart
                .draw_series(self.service.iter().enumerate().map(|(i, v)| {
                    let y = row_y(i);
                    Rectangle::new([(0.0, y + 0.42), (ms(*v), y + 0.58)], BLACK_ISH.filled())
                }))?
                .label("service time p95")
                .legend(box_key(BLACK_ISH));
        }

        // Value labels at the end of each bar.
        chart.draw_series(self.rows.iter().enumerate().map(|(i, (_, p95, _))| {
            Text::new(
                fmt_ms(ms(*p95)),
                (ms(*p95) + x_max * 0.008, row_y(i) + 0.5),
                small_font().pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;

        // Each endpoint's own target, across its row.
        let own: Vec<(usize, f64)> = (self.rows.iter().enumerate())
            .filter_map(|(i, (_, _, t))| t.map(|t| (i, t.threshold / 1000.0)))
            .filter(|(_, thr)| fits(*thr))
            .collect();
        for (k, (i, thr)) in own.iter().enumerate() {
            let y = row_y(*i);
            let s = chart.draw_series(std::iter::once(PathElement::new(
                [(*thr, y + 0.05), (*thr, y + 0.95)],
                TARGET.stroke_width(3),
            )))?;
            if k == 0 {
                s.label("endpoint target").legend(|(x, y)| {
                    PathElement::new([(x + 9, y - 7), (x + 9, y + 7)], TARGET.stroke_width(3))
                });
            }
        }
        if let (Some(t), Some(thr)) = (self.overall_target, overall_ms) {
            let name = shorten(&t.expression, 30);
            let (points, label) = if fits(thr) {
                (vec![(thr, 0.0), (thr, n)], format!("overall {name}"))
            } else {
                (Vec::new(), format!("overall {name} (far right)"))
            };
            chart
                .draw_series(DashedLineSeries::new(points, 8, 6, GREY.stroke_width(2)))?
                .label(label)
                .legend(line_key(GREY.stroke_width(2)));
        }

        // Endpoint names, right-aligned left of the axis.
        row_names(
            root,
            &chart,
            (self.rows.iter().enumerate())
                .map(|(i, (name, ..))| (row_y(i) + 0.5, shorten(name, NAME_CHARS), label_font())),
        )?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
