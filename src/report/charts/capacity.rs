//! The charts of a capacity analysis:
//!
//! - [`UslChart`]: throughput against load, the measured steps (stable ones filled, the
//!   others hollow), the fitted USL curve, its peak N* and the maximum sustainable load;
//! - [`LatencyLoadChart`]: p50, p95 and p99 against load, with the SLO line, the knee and
//!   the maximum sustainable load marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    BLUE, Chart, DrawResult, GREEN, GREY, ORANGE, PURPLE, TARGET, VERMILION, chart_builder,
    draw_mesh, fmt_ms, fmt_ms_tick, legend, line_key, ms, no_data, small_font,
};
use crate::capacity::{CapacityReport, StepAnalysis};

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
        "Throughput against load, with the USL fit".into()
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

        if let Some(u) = &r.usl {
            let curve = (1..=CURVE_POINTS).map(|i| {
                let n = x_max * i as f64 / CURVE_POINTS as f64;
                (n, u.throughput(n).min(y_max))
            });
            chart
                .draw_series(LineSeries::new(curve, ORANGE.stroke_width(2)))?
                .label(format!(
                    "USL fit: σ {:.4}, κ {:.2e}, λ {:.1}, R² {:.3}",
                    u.sigma, u.kappa, u.lambda, u.r2
                ))
                .legend(line_key(ORANGE.stroke_width(2)));
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
        } else {
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
        assert!(usl.svg.contains("USL fit"), "no fit in the legend");
        assert!(usl.svg.contains("peak N*"));
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
}
