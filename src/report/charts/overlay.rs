//! The charts of `skein compare`: the baseline and the candidate drawn over each other.
//!
//! - [`P95TimeChart`]: p95 of each second, time counted from each run's own start;
//! - [`SpectrumOverlayChart`]: the HDR percentile spectra of all requests;
//! - [`EndpointP95Chart`]: p95 per endpoint, baseline and candidate side by side with their
//!   confidence intervals, the candidate coloured by the comparison's call.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::spectrum::{self, points};
use super::{
    BLUE, Chart, DrawResult, GREEN, ORANGE, VERMILION, bar_axes, box_key, chart_builder, draw_mesh,
    fmt_ms, fmt_ms_tick, fmt_secs, label_font, legend, line_key, ms, no_data, row_names,
    run_span_secs, shorten, small_font,
};
use crate::metrics::compare::{Call, Comparison, Presence};
use crate::metrics::{RunResult, TimePoint};

/// Colour of the baseline in every comparison chart.
pub const BASE: RGBColor = BLUE;
/// Colour of the candidate when nothing was flagged.
pub const CAND: RGBColor = ORANGE;
/// Endpoint rows shown at most.
const MAX_ROWS: usize = 12;
/// Characters of an endpoint name shown.
const NAME_CHARS: usize = 30;

/// `baseline (run id)`, shortened for a legend.
fn who(which: &str, r: &RunResult) -> String {
    format!("{which} {}", shorten(&r.run.id, 36))
}

/// p95 of each second of both runs.
pub struct P95TimeChart<'a> {
    base: &'a RunResult,
    cand: &'a RunResult,
}

impl<'a> P95TimeChart<'a> {
    pub fn new(base: &'a RunResult, cand: &'a RunResult) -> Self {
        P95TimeChart { base, cand }
    }
}

fn p95_points(r: &RunResult) -> Vec<(f64, f64)> {
    // Each second's p95 sits in the middle of its interval.
    let x = |p: &TimePoint| (p.t_us as f64 + p.duration_us as f64 / 2.0) / 1e6;
    r.timeseries
        .iter()
        .filter(|p| p.requests > 0 && p.p95_us > 0)
        .map(|p| (x(p), ms(p.p95_us)))
        .collect()
}

impl Chart for P95TimeChart<'_> {
    const NAME: &'static str = "compare-p95";

    fn title(&self) -> String {
        "p95 over time: baseline and candidate".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let runs = [
            (
                who("baseline", self.base),
                BASE,
                p95_points(self.base),
                self.base,
            ),
            (
                who("candidate", self.cand),
                CAND,
                p95_points(self.cand),
                self.cand,
            ),
        ];
        if runs.iter().all(|r| r.2.is_empty()) {
            return no_data(root, &title, "neither run has a response");
        }
        let span = run_span_secs(self.base).max(run_span_secs(self.cand));
        let top = runs
            .iter()
            .flat_map(|r| r.2.iter().map(|p| p.1))
            .chain(runs.iter().map(|r| ms(r.3.overall.response_time.p95_us)))
            .fold(0.0, f64::max);
        let y_max = (top * 1.15).max(0.01);
        let mut chart =
            chart_builder(root, Some(&title), 78).build_cartesian_2d(0f64..span, 0f64..y_max)?;
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc("time since the run's start")
                .y_desc("p95 response time")
                .x_label_formatter(&|v| fmt_secs(*v, span))
                .y_label_formatter(&|v| fmt_ms_tick(*v)),
        )?;
        for (name, color, pts, r) in runs {
            // The whole run's p95, dashed, in the run's colour.
            let whole = ms(r.overall.response_time.p95_us);
            if whole > 0.0 {
                chart.draw_series(DashedLineSeries::new(
                    [(0.0, whole), (span, whole)],
                    8,
                    6,
                    color.mix(0.8).stroke_width(1),
                ))?;
            }
            if pts.len() < 20 {
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            }
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(format!("{name}: p95 {}", fmt_ms(whole)))
                .legend(line_key(color.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

/// The percentile spectra of all requests of both runs.
pub struct SpectrumOverlayChart<'a> {
    base: &'a RunResult,
    cand: &'a RunResult,
}

impl<'a> SpectrumOverlayChart<'a> {
    pub fn new(base: &'a RunResult, cand: &'a RunResult) -> Self {
        SpectrumOverlayChart { base, cand }
    }
}

impl Chart for SpectrumOverlayChart<'_> {
    const NAME: &'static str = "compare-spectrum";

    fn title(&self) -> String {
        "Latency by percentile, all requests: baseline and candidate".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let series = [
            (
                who("baseline", self.base),
                BASE,
                points(&self.base.overall.response_time),
            ),
            (
                who("candidate", self.cand),
                CAND,
                points(&self.cand.overall.response_time),
            ),
        ];
        let ys: Vec<f64> = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .filter(|y| *y > 0.0)
            .collect();
        if ys.is_empty() {
            return no_data(root, &title, "neither run has a response");
        }
        let y_min = ys.iter().copied().fold(f64::MAX, f64::min);
        let y_max = ys.iter().copied().fold(0.0, f64::max);
        let marks = [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")];
        let mut chart = spectrum::axes(root, &title, y_min, y_max, &marks)?;
        for (name, color, pts) in series {
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(3)))?
                .label(name)
                .legend(line_key(color.stroke_width(3)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

/// One endpoint's bars.
struct Row<'a> {
    name: &'a str,
    presence: Presence,
    base: Option<(u64, Option<(u64, u64)>)>,
    cand: Option<(u64, Option<(u64, u64)>)>,
    delta_rel: Option<f64>,
    call: Call,
}

/// p95 per endpoint, baseline above candidate, with confidence intervals.
pub struct EndpointP95Chart<'a> {
    rows: Vec<Row<'a>>,
    /// Endpoints with a p95 in either run, before cutting to `MAX_ROWS`.
    total: usize,
}

impl<'a> EndpointP95Chart<'a> {
    pub fn new(c: &'a Comparison) -> Self {
        let mut rows: Vec<(usize, Row<'a>)> = c
            .endpoints
            .iter()
            .filter_map(|r| {
                let m = r.metric("p95")?;
                let ci = |ci: Option<crate::metrics::compare::IntervalUs>| ci.map(|i| (i.lo, i.hi));
                let row = Row {
                    name: &r.name,
                    presence: r.presence,
                    base: m.base_us.map(|v| (v, ci(m.base_ci_us))),
                    cand: m.candidate_us.map(|v| (v, ci(m.candidate_ci_us))),
                    delta_rel: m.delta_rel,
                    call: m.call,
                };
                (row.base.is_some() || row.cand.is_some()).then_some(row)
            })
            .enumerate()
            .collect();
        let total = rows.len();
        if total > MAX_ROWS {
            // Keep the flagged rows and the largest changes, in their table order.
            rows.sort_by(|(_, a), (_, b)| {
                let flagged = |r: &Row| matches!(r.call, Call::Regression | Call::Improvement);
                flagged(b).cmp(&flagged(a)).then(
                    b.delta_rel
                        .unwrap_or(f64::INFINITY)
                        .abs()
                        .total_cmp(&a.delta_rel.unwrap_or(f64::INFINITY).abs()),
                )
            });
            rows.truncate(MAX_ROWS);
            rows.sort_by_key(|(i, _)| *i);
        }
        EndpointP95Chart {
            rows: rows.into_iter().map(|(_, r)| r).collect(),
            total,
        }
    }
}

fn cand_color(call: Call) -> RGBColor {
    match call {
        Call::Regression => VERMILION,
        Call::Improvement => GREEN,
        _ => CAND,
    }
}

impl Chart for EndpointP95Chart<'_> {
    const NAME: &'static str = "compare-endpoints";

    fn title(&self) -> String {
        if self.total > self.rows.len() {
            format!(
                "p95 by endpoint: baseline and candidate ({} of {})",
                self.rows.len(),
                self.total
            )
        } else {
            "p95 by endpoint: baseline and candidate".into()
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        if self.rows.is_empty() {
            return no_data(root, &title, "no endpoint got a response");
        }
        let n = self.rows.len() as f64;
        let top = self
            .rows
            .iter()
            .flat_map(|r| [r.base, r.cand])
            .flatten()
            .map(|(v, ci)| ms(ci.map_or(v, |c| c.1.max(v))))
            .fold(0.0, f64::max);
        // Room on the right for the value labels.
        let x_max = (top * 1.3).max(0.01);
        let label = |r: &Row| match r.presence {
            Presence::Both => shorten(r.name, NAME_CHARS),
            Presence::Added => format!("{} (added)", shorten(r.name, NAME_CHARS - 8)),
            Presence::Removed => format!("{} (removed)", shorten(r.name, NAME_CHARS - 10)),
        };
        let longest = self
            .rows
            .iter()
            .map(|r| label(r).chars().count())
            .max()
            .unwrap_or(0);
        let x_desc = "p95 response time (whiskers: 95 % confidence interval)";
        let mut chart = bar_axes(root, &title, x_desc, x_max, n, longest)?;

        // First endpoint on top; in each row the baseline above the candidate.
        let row_y = |i: usize| n - 1.0 - i as f64;
        let bars = |upper: bool| {
            let (y0, y1) = if upper { (0.5, 0.85) } else { (0.12, 0.47) };
            move |i: usize, v: u64, color: RGBColor| {
                let y = row_y(i);
                Rectangle::new([(0.0, y + y0), (ms(v), y + y1)], color.filled())
            }
        };
        let base_bar = bars(true);
        let cand_bar = bars(false);
        chart
            .draw_series(
                (self.rows.iter().enumerate())
                    .filter_map(|(i, r)| r.base.map(|(v, _)| base_bar(i, v, BASE))),
            )?
            .label("baseline p95")
            .legend(box_key(BASE));
        for (call, name) in [
            (Call::NotGated, "candidate p95"),
            (Call::Regression, "candidate p95: regression"),
            (Call::Improvement, "candidate p95: improvement"),
        ] {
            let in_group = |c: Call| match call {
                Call::Regression | Call::Improvement => c == call,
                _ => !matches!(c, Call::Regression | Call::Improvement),
            };
            let group: Vec<_> = (self.rows.iter().enumerate())
                .filter(|(_, r)| in_group(r.call))
                .filter_map(|(i, r)| r.cand.map(|(v, _)| cand_bar(i, v, cand_color(r.call))))
                .collect();
            if group.is_empty() {
                continue;
            }
            chart
                .draw_series(group)?
                .label(name)
                .legend(box_key(cand_color(call)));
        }
        // Confidence intervals as whiskers through the middle of each bar.
        let whisker = |i: usize, mid: f64, (lo, hi): (u64, u64)| {
            let y = row_y(i) + mid;
            PathElement::new([(ms(lo), y), (ms(hi), y)], BLACK.mix(0.75).stroke_width(2))
        };
        let mut whiskers = Vec::new();
        for (i, r) in self.rows.iter().enumerate() {
            if let Some((_, Some(ci))) = r.base {
                whiskers.push(whisker(i, 0.675, ci));
            }
            if let Some((_, Some(ci))) = r.cand {
                whiskers.push(whisker(i, 0.295, ci));
            }
        }
        if !whiskers.is_empty() {
            chart
                .draw_series(whiskers)?
                .label("95 % confidence interval")
                .legend(line_key(BLACK.mix(0.75).stroke_width(2)));
        }
        // Values at the end of each bar (or its interval), the delta after the candidate's.
        let mut labels = Vec::new();
        for (i, r) in self.rows.iter().enumerate() {
            let end = |(v, ci): (u64, Option<(u64, u64)>)| ms(ci.map_or(v, |c| c.1.max(v)));
            if let Some(b) = r.base {
                labels.push(Text::new(
                    fmt_ms(ms(b.0)),
                    (end(b) + x_max * 0.008, row_y(i) + 0.675),
                    small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                ));
            }
            if let Some(c) = r.cand {
                let delta = r
                    .delta_rel
                    .map(|d| format!(" ({:+.0}%)", d * 100.0))
                    .unwrap_or_default();
                labels.push(Text::new(
                    format!("{}{delta}", fmt_ms(ms(c.0))),
                    (end(c) + x_max * 0.008, row_y(i) + 0.295),
                    small_font().pos(Pos::new(HPos::Left, VPos::Center)),
                ));
            }
        }
        chart.draw_series(labels)?;
        // Endpoint names, right-aligned left of the axis.
        row_names(
            root,
            &chart,
            self.rows.iter().enumerate().map(|(i, r)| {
                let font = if r.call == Call::Regression {
                    label_font().color(&VERMILION)
                } else {
                    label_font()
                };
                (row_y(i) + 0.5, label(r), font)
            }),
        )?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
