//! The latency percentile distribution (HDR percentile spectrum): latency on a log scale
//! against the percentile on a "number of nines" axis (90 %, 99 %, 99.9 %, 99.99 %), for
//! all requests and for each endpoint, read from the stored histograms. The tail that the
//! per-second lines average away shows up here. The curves are response times (the title
//! says which); the service time of all requests is drawn dashed beside them when recorded.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use plotters::coord::types::RangedCoordf64;

use super::{
    BLACK_ISH, Chart, DrawResult, GREY, SERIES, chart_builder, draw_mesh, fmt_ms_tick, label_font,
    legend, line_key, no_data, shorten, small_font,
};
use crate::metrics::{Hist, Latency, RunResult};
use crate::report::{has_service_time, response_time_label};

/// The axis ends at 99.99 %: four nines.
pub(crate) const MAX_NINES: f64 = 4.0;
/// Endpoints drawn besides "all requests" (more would be unreadable).
const MAX_STEPS: usize = 5;

pub struct SpectrumChart<'a> {
    result: &'a RunResult,
}

impl<'a> SpectrumChart<'a> {
    pub fn new(result: &'a RunResult) -> Self {
        SpectrumChart { result }
    }
}

/// Percentile `q` in [0, 1) as a number of nines: 0.9 -> 1, 0.99 -> 2.
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Axis label of a number of nines: 1 -> `90%`, 3 -> `99.9%`, 0.301 -> `50%`.
pub fn nines_label(x: f64) -> String {
    let pct = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = if x <= 2.0 {
        0
    } else {
        (x - 2.0).ceil() as usize
    };
    format!("{pct:.digits$}%")
}

/// (nines, ms) points of one latency distribution, up to 99.99 %. Read from the stored
/// histogram; when that cannot be decoded, from the stored percentiles.
pub fn points(lat: &Latency) -> Vec<(f64, f64)> {
    if lat.count == 0 {
        return Vec::new();
    }
    match lat.hist() {
        Ok(h) if !h.is_empty() => hist_points(&h),
        _ => [
            (0.5, lat.p50_us),
            (0.75, lat.p75_us),
            (0.9, lat.p90_us),
            (0.95, lat.p95_us),
            (0.99, lat.p99_us),
            (0.999, lat.p999_us),
        ]
        .into_iter()
        .map(|(q, v)| (nines(q), v as f64 / 1000.0))
        .collect(),
    }
}

/// (nines, ms) points of a histogram's percentile spectrum, up to 99.99 % (none when
/// empty).
pub fn hist_points(h: &Hist) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut pts: Vec<(f64, f64)> = h
        .spectrum(5)
        .into_iter()
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, v)| (nines(q), v as f64 / 1000.0))
        .filter(|(x, _)| *x < MAX_NINES)
        .collect();
    pts.push((MAX_NINES, h.quantile(0.9999) as f64 / 1000.0));
    pts
}

/// Ticks of a log axis from `lo` to `hi`: 1-2-5 steps, or powers of ten when those would
/// be more than ten.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let in_range = |v: &f64| *v >= lo * 0.999 && *v <= hi * 1.001;
    let steps: Vec<f64> = decades
        .clone()
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(in_range)
        .collect();
    if steps.len() <= 10 {
        steps
    } else {
        decades.map(|e| 10f64.powi(e)).filter(in_range).collect()
    }
}

pub(crate) type SpectrumAxes<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// The axes of a percentile spectrum whose latencies run from `y_min` to `y_max` ms: the
/// percentile as a number of nines across, response time up on a log scale with 1-2-5
/// ticks, and a dashed line at each percentile of `marks`.
pub(crate) fn axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_min: f64,
    y_max: f64,
    marks: &[(f64, &'static str)],
) -> Result<SpectrumAxes<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let lo = (y_min * 0.8).max(0.001);
    let hi = (y_max * 1.3).max(lo * 10.0);
    let mut chart = chart_builder(root, Some(title), 78)
        .margin_right(44)
        .build_cartesian_2d(0f64..MAX_NINES, (lo..hi).log_scale())?;
    draw_mesh(
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("response time (log scale)")
            .x_labels(5)
            .x_label_formatter(&|v| nines_label(*v))
            // plotters labels a log axis at powers of ten only; 1-2-5 ticks are drawn below.
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .disable_y_mesh(),
    )?;
    for v in log_ticks(lo, hi) {
        chart.draw_series(LineSeries::new(
            [(0.0, v), (MAX_NINES, v)],
            BLACK.mix(0.1).stroke_width(1),
        ))?;
        let (px, py) = chart.backend_coord(&(0.0, v));
        root.draw(&PathElement::new(
            [(px - 5, py), (px, py)],
            BLACK.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            fmt_ms_tick(v),
            (px - 8, py),
            label_font().pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    for &(q, name) in marks {
        let x = nines(q);
        chart.draw_series(DashedLineSeries::new(
            [(x, lo), (x, hi)],
            4,
            4,
            GREY.mix(0.6).stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            name,
            (x + 0.03, hi / 1.08),
            small_font().pos(Pos::new(HPos::Left, VPos::Top)),
        )))?;
    }
    Ok(chart)
}

impl SpectrumChart<'_> {
    fn series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let all = if has_service_time(self.result) {
            "all requests: response time"
        } else {
            "all requests"
        };
        let mut out = vec![(all.to_string(), points(&self.result.overall.response_time))];
        if self.result.steps.len() > 1 {
            for s in self
                .result
                .steps
                .iter()
                .filter(|s| s.summary.response_time.count > 0)
                .filter(|s| !crate::report::custom::is_metric_row(s))
                .take(MAX_STEPS)
            {
                out.push((shorten(&s.name, 32), points(&s.summary.response_time)));
            }
        }
        out.retain(|(_, p)| !p.is_empty());
        out
    }
}

impl Chart for SpectrumChart<'_> {
    const NAME: &'static str = "spectrum";

    fn title(&self) -> String {
        match response_time_label(self.result) {
            "response time" => "Latency by percentile (HDR percentile spectrum)".into(),
            label => format!("Latency by percentile: {label}"),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let series = self.series();
        if series.is_empty() {
            return no_data(root, &title, "no response was recorded");
        }
        // All requests' service time, dashed beside their response time.
        let service = if has_service_time(self.result) {
            points(&self.result.overall.service_time)
        } else {
            Vec::new()
        };
        let all = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
            .chain(service.iter().map(|(_, y)| *y));
        let (lo, hi) = all.fold((f64::MAX, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let mut chart = axes(root, &title, lo, hi, &[(0.5, "p50"), (0.95, "p95")])?;
        for (i, (name, pts)) in series.into_iter().enumerate() {
            let color = if i == 0 {
                BLACK_ISH
            } else {
                SERIES[(i - 1) % SERIES.len()]
            };
            let width = if i == 0 { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(width)))?
                .label(name)
                .legend(line_key(color.stroke_width(width)));
        }
        if !service.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(service, 8, 5, GREY.stroke_width(3)))?
                .label("all requests: service time")
                .legend(line_key(GREY.stroke_width(3)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_reads_as_percentiles() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
    }

    #[test]
    fn log_ticks_step_one_two_five() {
        assert_eq!(
            log_ticks(2.4, 1000.0),
            vec![5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(log_ticks(0.01, 60_000.0).len(), 7);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn undecodable_histogram_falls_back_to_stored_percentiles() {
        let lat = Latency {
            count: 10,
            p50_us: 1_000,
            p99_us: 9_000,
            histogram: "not base64".into(),
            ..Latency::default()
        };
        let p = points(&lat);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0].1, 1.0);
    }
}
