//! The charts of a capacity analysis:
//!
//! - [`UslChart`]: throughput against load, the measured steps (stable ones filled, the
//!   others hollow), the fitted USL curve, its peak N* and the maximum sustainable load;
//! - [`LatencyLoadChart`]: p50, p95 and p99 against load, with the SLO line, the knee and
//!   the maximum sustainable load marked;
//! - [`StepSpectrumChart`]: the response-time percentile spectrum of each load level, one
//!   line per step, from the steps' stored histograms, with the SLO line.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::spectrum::{MAX_NINES, axes, hist_points};
use super::{
    BLUE, Chart, DrawResult, GREEN, GREY, ORANGE, PURPLE, SKY, TARGET, TARGET_STRETCH, VERMILION,
    chart_builder, draw_mesh, fmt_ms, fmt_ms_tick, legend, line_key, ms, no_data, small_font,
};
use crate::capacity::{CapacityReport, LoadModel, StepAnalysis};
use crate::metrics::Hist;

/// Steps drawn in the spectrum chart; from more, this many spread evenly over the loads
/// (the lowest and the highest always among them).
const MAX_SPECTRA: usize = 12;
/// Points drawn along the fitted curve.
const CURVE_POINTS: usize = 200;
/// The x axis reaches past N* only while N* is within this many times the largest load.
const PEAK_REACH: f64 = 1.5;

/// Throughput against load with the USL fit.
pub struct UslChart<'a> {
    report: &'a CapacityReport,
}

impl<'a> UslChart<'a> {
    pub fn new(report: &'a CapacityReport) -> Self {
        UslChart { report }
    }
}

/// Whether the steps came from a table (no intervals): their N is the load as given.
fn from_table(r: &CapacityReport) -> bool {
    r.steps.iter().all(|s| s.intervals == 0)
}

fn point_label(s: &StepAnalysis) -> &'static str {
    if s.stable {
        "stable step"
    } else {
        "unstable step (not fitted)"
    }
}

impl Chart for UslChart<'_> {
    const NAME: &'static str = "capacity-throughput";

    fn title(&self) -> String {
        "Throughput against load, with the fitted models".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let r = self.report;
        let pts: Vec<&StepAnalysis> = r
            .steps
            .iter()
            .filter(|s| s.concurrency > 0.0 && s.throughput > 0.0)
            .collect();
        if pts.is_empty() {
            return no_data(root, &title, "no step has both a load and a throughput");
        }
        let n_max = pts.iter().map(|s| s.concurrency).fold(0.0, f64::max);
        let peak = r
            .usl
            .as_ref()
            .and_then(|u| u.peak_concurrency.zip(u.peak_throughput));
        let shown_peak = peak.filter(|(n, _)| *n <= n_max * PEAK_REACH);
        let x_max = (n_max.max(shown_peak.map_or(0.0, |p| p.0)) * 1.08).max(1.0);
        let x_top = pts.iter().map(|s| s.throughput).fold(0.0, f64::max);
        let y_max = (x_top.max(shown_peak.map_or(0.0, |p| p.1)) * 1.15).max(1.0);

        let mut chart =
            chart_builder(root, Some(&title), 78).build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        let x_desc = if from_table(r) {
            format!("load ({})", r.model.unit())
        } else {
            "concurrency N (mean requests in flight, X·R)".to_string()
        };
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("throughput (requests/s)")
                .x_label_formatter(&|v| trim_num(*v))
                .y_label_formatter(&|v| format!("{v:.0}")),
        )?;

        let chosen = r.chosen.as_ref().map(|c| c.model);
        // The other models faintly, the chosen one boldly (drawn last, on top).
        let mut models: Vec<&crate::capacity::ModelFit> = r.models.iter().collect();
        models.sort_by_key(|f| Some(f.model) == chosen);
        for (i, f) in models.iter().enumerate() {
            let is_chosen = Some(f.model) == chosen;
            let color = [SKY, PURPLE, GREY][i % 3];
            let style = if is_chosen {
                ORANGE.stroke_width(3)
            } else {
                color.mix(0.45).stroke_width(2)
            };
            let curve: Vec<(f64, f64)> = (1..=CURVE_POINTS)
                .map(|i| {
                    let n = x_max * i as f64 / CURVE_POINTS as f64;
                    (n, f.throughput(n).min(y_max))
                })
                .collect();
            let hold = f
                .holdout_error
                .map_or(String::new(), |e| format!(", hold-out {:.1}%", e * 100.0));
            let label = if is_chosen {
                format!(
                    "chosen: {} ({}), R² {:.3}{hold}",
                    f.model.label(),
                    f.parameter_text(),
                    f.r2
                )
            } else {
                format!("{}: R² {:.3}{hold}", f.model.label(), f.r2)
            };
            chart
                .draw_series(LineSeries::new(curve, style))?
                .label(label)
                .legend(line_key(style));
        }
        let usl_shown = chosen.is_none_or(|c| c == crate::capacity::ModelKind::Usl);
        if let Some(u) = r.usl.as_ref().filter(|_| usl_shown) {
            let curve = (1..=CURVE_POINTS).map(|i| {
                let n = x_max * i as f64 / CURVE_POINTS as f64;
                (n, u.throughput(n).min(y_max))
            });
            if r.models.is_empty() {
                chart
                    .draw_series(LineSeries::new(curve, ORANGE.stroke_width(2)))?
                    .label(format!(
                        "USL fit: σ {:.4}, κ {:.2e}, λ {:.1}, R² {:.3}",
                        u.sigma, u.kappa, u.lambda, u.r2
                    ))
                    .legend(line_key(ORANGE.stroke_width(2)));
            }
            if let Some((n, x)) = shown_peak {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(n, 0.0), (n, x)],
                        8,
                        5,
                        PURPLE.stroke_width(2),
                    ))?
                    .label(format!("peak N* = {n:.1} at {x:.0}/s"))
                    .legend(line_key(PURPLE.stroke_width(2)));
            } else if let Some((n, _)) = peak {
                // Off the chart: say where, in the legend.
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                    .label(format!("peak N* = {n:.1} (beyond this chart)"))
                    .legend(line_key(PURPLE.stroke_width(2)));
            }
        } else if r.usl.is_none() {
            chart.draw_series(std::iter::once(Text::new(
                "no USL fit: fewer than 4 stable steps",
                (x_max * 0.5, y_max * 0.95),
                small_font().pos(Pos::new(HPos::Center, VPos::Top)),
            )))?;
        }

        for stable in [true, false] {
            let group: Vec<&&StepAnalysis> = pts.iter().filter(|s| s.stable == stable).collect();
            let Some(first) = group.first() else { continue };
            let color = if stable { BLUE } else { VERMILION };
            let style = if stable {
                color.filled()
            } else {
                color.stroke_width(2)
            };
            chart
                .draw_series(
                    group
                        .iter()
                        .map(|s| Circle::new((s.concurrency, s.throughput), 4, style)),
                )?
                .label(point_label(first))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, style));
        }

        if let Some(m) = &r.max_sustainable {
            let at = (m.concurrency, m.throughput);
            if at.0 > 0.0 {
                chart
                    .draw_series(std::iter::once(TriangleMarker::new(at, 9, GREEN.filled())))?
                    .label(format!("max sustainable: {:.0}/s", m.throughput))
                    .legend(|(x, y)| TriangleMarker::new((x + 9, y), 7, GREEN.filled()));
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

/// p50, p95 and p99 against load.
pub struct LatencyLoadChart<'a> {
    report: &'a CapacityReport,
}

impl<'a> LatencyLoadChart<'a> {
    pub fn new(report: &'a CapacityReport) -> Self {
        LatencyLoadChart { report }
    }
}

type Pick = fn(&StepAnalysis) -> Option<u64>;

impl Chart for LatencyLoadChart<'_> {
    const NAME: &'static str = "capacity-latency";

    fn title(&self) -> String {
        "Response time against load (p50, p95, p99)".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let r = self.report;
        let mut steps: Vec<&StepAnalysis> = r.steps.iter().filter(|s| s.p95_us.is_some()).collect();
        if steps.is_empty() {
            return no_data(root, &title, "no step has a p95 (give a p95 column)");
        }
        steps.sort_by(|a, b| a.load.total_cmp(&b.load));
        let x_top = steps.iter().map(|s| s.load).fold(0.0, f64::max);
        let x_max = (x_top * 1.08).max(1.0);
        let top = steps
            .iter()
            .map(|s| ms(s.p99_us.or(s.p95_us).unwrap_or(0)))
            .fold(0.0, f64::max);
        let slo = r.slo_p95_us.map(ms);
        let slo_on = slo.filter(|v| *v <= top * super::TARGET_STRETCH);
        let y_max = (top.max(slo_on.unwrap_or(0.0)) * 1.12).max(0.01);

        let mut chart =
            chart_builder(root, Some(&title), 78).build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        let x_desc = match r.model {
            crate::capacity::LoadModel::Closed => "load (users)",
            crate::capacity::LoadModel::Open => "load (offered requests/s)",
        };
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("response time")
                .x_label_formatter(&|v| trim_num(*v))
                .y_label_formatter(&|v| fmt_ms_tick(*v)),
        )?;

        let lines: [(&str, RGBColor, Pick); 3] = [
            ("p50", BLUE, |s| s.p50_us),
            ("p95", ORANGE, |s| s.p95_us),
            ("p99", VERMILION, |s| s.p99_us),
        ];
        for (name, color, pick) in lines {
            let pts: Vec<(f64, f64)> = steps
                .iter()
                .filter_map(|s| pick(s).map(|v| (s.load, ms(v))))
                .collect();
            if pts.is_empty() {
                continue;
            }
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(name)
                .legend(line_key(color.stroke_width(2)));
        }

        if let Some(v) = slo {
            let (pts, label) = match slo_on {
                Some(v) => (vec![(0.0, v), (x_max, v)], format!("SLO p95 {}", fmt_ms(v))),
                None => (Vec::new(), format!("SLO p95 {} (far above)", fmt_ms(v))),
            };
            chart
                .draw_series(DashedLineSeries::new(pts, 10, 6, TARGET.stroke_width(2)))?
                .label(label)
                .legend(line_key(TARGET.stroke_width(2)));
        }
        if let Some(k) = &r.knee {
            chart
                .draw_series(DashedLineSeries::new(
                    [(k.load, 0.0), (k.load, y_max)],
                    6,
                    6,
                    PURPLE.stroke_width(2),
                ))?
                .label(format!(
                    "knee at {} (p95 {})",
                    trim_num(k.load),
                    fmt_ms(ms(k.p95_us))
                ))
                .legend(line_key(PURPLE.stroke_width(2)));
        }
        if let Some(m) = &r.max_sustainable {
            chart
                .draw_series(DashedLineSeries::new(
                    [(m.load, 0.0), (m.load, y_max)],
                    3,
                    4,
                    GREEN.stroke_width(2),
                ))?
                .label(format!(
                    "max sustainable: {}{}",
                    trim_num(m.load),
                    if m.interpolated {
                        " (interpolated)"
                    } else {
                        ""
                    }
                ))
                .legend(line_key(GREEN.stroke_width(2)));
        }
        let unstable: Vec<(f64, f64)> = steps
            .iter()
            .filter(|s| !s.stable)
            .filter_map(|s| s.p95_us.map(|v| (s.load, ms(v))))
            .collect();
        if !unstable.is_empty() {
            chart
                .draw_series(
                    unstable
                        .into_iter()
                        .map(|p| Circle::new(p, 7, GREY.stroke_width(2))),
                )?
                .label("unstable step")
                .legend(|(x, y)| Circle::new((x + 9, y), 5, GREY.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}

/// The response-time percentile spectrum of each load level: how the whole distribution,
/// tail included, moves as the load rises.
pub struct StepSpectrumChart<'a> {
    report: &'a CapacityReport,
}

impl<'a> StepSpectrumChart<'a> {
    pub fn new(report: &'a CapacityReport) -> Self {
        StepSpectrumChart { report }
    }

    /// Whether any step has a histogram to draw: without one there is no chart.
    pub fn has_data(report: &CapacityReport) -> bool {
        report.steps.iter().any(|s| s.histogram.is_some())
    }

    /// (legend label, (nines, ms) points) of the steps drawn, lowest load first.
    fn series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let r = self.report;
        let mut steps: Vec<(&StepAnalysis, Vec<(f64, f64)>)> = r
            .steps
            .iter()
            .filter_map(|s| {
                let h = Hist::from_base64(s.histogram.as_deref()?).ok()?;
                let pts = hist_points(&h);
                (!pts.is_empty()).then_some((s, pts))
            })
            .collect();
        steps.sort_by(|a, b| {
            a.0.load
                .total_cmp(&b.0.load)
                .then(a.0.index.cmp(&b.0.index))
        });
        let steps = spread(steps, MAX_SPECTRA);
        let twice = |load: f64| steps.iter().filter(|(s, _)| s.load == load).count() > 1;
        steps
            .iter()
            .map(|(s, pts)| {
                let mut label = load_label(r.model, s.load);
                if twice(s.load) {
                    label.push_str(&format!(" (step {})", s.index + 1));
                }
                if !s.stable {
                    label.push_str(" (unstable)");
                }
                (label, pts.clone())
            })
            .collect()
    }
}

/// A load level as a legend reads it: `16 users`, `200/s`.
fn load_label(model: LoadModel, load: f64) -> String {
    match model {
        LoadModel::Closed => format!("{} users", trim_num(load)),
        LoadModel::Open => format!("{}/s", trim_num(load)),
    }
}

/// At most `max` of `items`, spread evenly, the first and the last kept.
fn spread<T>(items: Vec<T>, max: usize) -> Vec<T> {
    let n = items.len();
    if n <= max || max < 2 {
        return items;
    }
    let keep: Vec<usize> = (0..max)
        .map(|i| (i * (n - 1) + (max - 1) / 2) / (max - 1))
        .collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, t)| t)
        .collect()
}

/// Colour of line `i` of `n`, lowest load first: from cool (blue) to warm (vermilion).
fn level_color(i: usize, n: usize) -> RGBColor {
    const STOPS: [RGBColor; 4] = [BLUE, GREEN, ORANGE, VERMILION];
    if n < 2 {
        return BLUE;
    }
    let t = i as f64 / (n - 1) as f64 * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Chart for StepSpectrumChart<'_> {
    const NAME: &'static str = "capacity-spectrum";

    fn title(&self) -> String {
        "Response time by percentile at each load level".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let series = self.series();
        if series.is_empty() {
            return no_data(root, &title, "no step has a response-time histogram");
        }
        let shown = series.len();
        let with_data = self
            .report
            .steps
            .iter()
            .filter(|s| s.histogram.is_some())
            .count();
        let (lo, hi) = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
            .filter(|y| *y > 0.0)
            .fold((f64::MAX, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (lo, hi) = if hi > 0.0 { (lo, hi) } else { (0.001, 0.001) };
        let slo = self.report.slo_p95_us.map(ms);
        // On a log axis an SLO far below the data stretches it as much as one far above.
        let slo_on = slo.filter(|v| *v <= hi * TARGET_STRETCH && *v >= lo / TARGET_STRETCH);
        let y_min = lo.min(slo_on.unwrap_or(lo));
        let y_max = hi.max(slo_on.unwrap_or(hi));
        // p95 marked where the SLO line crosses it: a level within the SLO passes below.
        let mut chart = axes(root, &title, y_min, y_max, &[(0.95, "p95")])?;
        for (i, (name, pts)) in series.into_iter().enumerate() {
            let color = level_color(i, shown);
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(name)
                .legend(line_key(color.stroke_width(2)));
        }
        if let Some(v) = slo {
            let (pts, label) = match slo_on {
                Some(v) => (
                    vec![(0.0, v), (MAX_NINES, v)],
                    format!("SLO p95 {}", fmt_ms(v)),
                ),
                None if v > hi => (Vec::new(), format!("SLO p95 {} (far above)", fmt_ms(v))),
                None => (Vec::new(), format!("SLO p95 {} (far below)", fmt_ms(v))),
            };
            chart
                .draw_series(DashedLineSeries::new(pts, 10, 6, TARGET.stroke_width(2)))?
                .label(label)
                .legend(line_key(TARGET.stroke_width(2)));
        }
        if shown < with_data {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(format!("{shown} of {with_data} levels shown"))
                .legend(|(x, y)| Circle::new((x + 9, y), 0, WHITE.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}

/// An axis number: `32`, `12.5`, `1.2k` past ten thousand.
fn trim_num(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{CapacityOptions, LoadModel, StepAnalysis, analyze};
    use crate::report::charts::render;

    fn report(rows: &[(f64, f64, Option<u64>)], slo: Option<u64>) -> CapacityReport {
        let steps = rows
            .iter()
            .enumerate()
            .map(|(i, &(n, x, p))| StepAnalysis::from_figures(i, n, x, p))
            .collect();
        let opts = CapacityOptions {
            slo_p95_us: slo,
            ..CapacityOptions::default()
        };
        analyze("t", LoadModel::Closed, steps, &opts)
    }

    #[test]
    fn both_charts_draw_with_and_without_a_fit() {
        let rows: Vec<(f64, f64, Option<u64>)> = (1..=10)
            .map(|i| {
                // 32 servers at 20 ms: throughput flattens, latency bends at 32 users.
                let n = i as f64 * 8.0;
                let x = (n / 0.02).min(1_600.0) * (1.0 - 0.002 * n);
                (n, x, Some((n / x * 1e6) as u64))
            })
            .collect();
        let full = report(&rows, Some(60_000));
        assert!(full.usl.is_some(), "{:?}", full.warnings);
        assert!(full.knee.is_some(), "{:?}", full.steps);
        let usl = render(&UslChart::new(&full)).unwrap();
        // Every model in the legend, the chosen one named; N* marked when the USL is chosen.
        assert!(
            usl.svg.contains("chosen: "),
            "no chosen model in the legend"
        );
        for label in ["USL", "Amdahl", "MVA (c servers)"] {
            assert!(usl.svg.contains(label), "{label} missing");
        }
        let usl_chosen = full.chosen.as_ref().unwrap().model == crate::capacity::ModelKind::Usl;
        assert_eq!(usl.svg.contains("peak N*"), usl_chosen);
        assert!(usl.png.starts_with(b"\x89PNG"));
        let lat = render(&LatencyLoadChart::new(&full)).unwrap();
        assert!(lat.svg.contains("SLO p95") && lat.svg.contains("knee at"));

        let thin = report(&rows[..3], None);
        assert!(thin.usl.is_none());
        let svg = render(&UslChart::new(&thin)).unwrap().svg;
        assert!(svg.contains("no USL fit"));
        let none = report(&[(1.0, 0.0, None)], None);
        assert!(
            render(&UslChart::new(&none))
                .unwrap()
                .svg
                .contains("no data")
        );
        assert!(
            render(&LatencyLoadChart::new(&none))
                .unwrap()
                .svg
                .contains("no data")
        );
    }

    /// A step whose latencies run evenly from `lo_ms` to `hi_ms`, stored as a histogram.
    fn measured(i: usize, load: f64, lo_ms: u64, hi_ms: u64) -> StepAnalysis {
        let mut h = Hist::new();
        for v in lo_ms * 1_000..=hi_ms * 1_000 {
            h.record(v);
        }
        let mut s = StepAnalysis::from_figures(i, load, load * 50.0, Some(h.quantile(0.95)));
        s.latency_source = crate::capacity::LatencySource::Histogram;
        s.histogram = Some(h.to_base64());
        s
    }

    #[test]
    fn issue_5_per_step_latency_spectra() {
        let steps = vec![
            measured(0, 16.0, 10, 30),
            measured(1, 32.0, 12, 60),
            measured(2, 48.0, 20, 400),
        ];
        let opts = CapacityOptions {
            slo_p95_us: Some(100_000),
            ..CapacityOptions::default()
        };
        let r = analyze("t", LoadModel::Closed, steps, &opts);
        assert!(StepSpectrumChart::has_data(&r));
        let c = render(&StepSpectrumChart::new(&r)).unwrap();
        assert_eq!(c.name, "capacity-spectrum");
        for label in [
            "16 users",
            "32 users",
            "48 users",
            "SLO p95 100.0ms",
            "99.99%",
        ] {
            assert!(c.svg.contains(label), "{label} missing");
        }
        assert!(c.png.starts_with(b"\x89PNG"));

        // An open model names rates; more levels than fit are thinned, ends kept.
        let many: Vec<StepAnalysis> = (0..20)
            .map(|i| measured(i, (i + 1) as f64 * 100.0, 5, 10 + i as u64))
            .collect();
        let r = analyze("t", LoadModel::Open, many, &CapacityOptions::default());
        let svg = render(&StepSpectrumChart::new(&r)).unwrap().svg;
        assert!(svg.contains("100/s") && svg.contains("2000/s"), "ends kept");
        assert!(svg.contains("12 of 20 levels shown"));
        assert!(!svg.contains("SLO p95"));

        // Table rows have no histogram: nothing to draw.
        let table = report(&[(1.0, 10.0, Some(5_000)), (2.0, 20.0, Some(6_000))], None);
        assert!(!StepSpectrumChart::has_data(&table));
    }

    #[test]
    fn spread_keeps_the_ends_and_the_count() {
        let v: Vec<usize> = (0..20).collect();
        let s = spread(v.clone(), 12);
        assert_eq!(s.len(), 12);
        assert_eq!((s[0], s[11]), (0, 19));
        assert_eq!(spread(v[..5].to_vec(), 12), v[..5].to_vec());
        assert_eq!(level_color(0, 4), BLUE);
        assert_eq!(level_color(3, 4), VERMILION);
    }
}
