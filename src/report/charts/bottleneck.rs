//! The `Server-Timing` components of the response time against load, stacked: each named
//! component's mean time at each level, then the time outside them (network, queueing in
//! front of the application) on top, so the layer that swells as load rises is the
//! bottleneck.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, GREY, SERIES, box_key, chart_builder, draw_mesh, fmt_ms_tick, legend,
    no_data,
};
use crate::capacity::CapacityReport;
use crate::capacity::bottleneck::OUTSIDE;

/// Components stacked against load.
pub struct BottleneckChart<'a> {
    report: &'a CapacityReport,
}

impl<'a> BottleneckChart<'a> {
    pub fn new(report: &'a CapacityReport) -> Self {
        BottleneckChart { report }
    }

    /// Whether the report has a breakdown to draw.
    pub fn has_data(report: &CapacityReport) -> bool {
        report.bottleneck.is_some()
    }
}

impl Chart for BottleneckChart<'_> {
    const NAME: &'static str = "capacity-components";

    fn title(&self) -> String {
        "Where the response time goes, against load (Server-Timing, stacked)".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let title = self.title();
        let r = self.report;
        let Some(b) = &r.bottleneck else {
            return no_data(root, &title, "no Server-Timing in the responses");
        };
        let mut names: Vec<String> = Vec::new();
        for l in &b.levels {
            for c in &l.components {
                if !names.contains(&c.name) {
                    names.push(c.name.clone());
                }
            }
        }
        // Overlapping components (one enclosing the others) are not stacked: the largest is,
        // with the time outside on top, and the others are drawn as lines inside it.
        let mut inner: Vec<String> = Vec::new();
        if b.overlapping
            && let Some(top) = b.levels.last()
            && let Some(largest) = top
                .components
                .iter()
                .max_by(|x, y| x.mean_us.total_cmp(&y.mean_us))
        {
            inner = names
                .iter()
                .filter(|n| **n != largest.name)
                .cloned()
                .collect();
            names = vec![largest.name.clone()];
        }
        // Layers bottom-up in ms: components, then the time outside (never below 0).
        let layer = |l: &crate::capacity::bottleneck::LevelBreakdown, i: usize| -> f64 {
            if i < names.len() {
                l.components
                    .iter()
                    .find(|c| c.name == names[i])
                    .map_or(0.0, |c| c.mean_us / 1000.0)
            } else {
                (l.outside_us / 1000.0).max(0.0)
            }
        };
        let layers = names.len() + 1;
        let cum = |l: &crate::capacity::bottleneck::LevelBreakdown, upto: usize| -> f64 {
            (0..upto).map(|i| layer(l, i)).sum()
        };
        let x_max = b.levels.iter().map(|l| l.load).fold(0.0, f64::max) * 1.05;
        let y_max = b
            .levels
            .iter()
            .map(|l| cum(l, layers).max(l.response_us / 1000.0))
            .fold(0.0, f64::max)
            * 1.15;
        let mut chart = chart_builder(root, Some(&title), 70)
            .build_cartesian_2d(0f64..x_max.max(1.0), 0f64..y_max.max(0.01))?;
        draw_mesh(
            chart
                .configure_mesh()
                .x_desc(format!("load ({})", r.model.unit()))
                .y_desc("mean time per request")
                .y_label_formatter(&|v| fmt_ms_tick(*v)),
        )?;
        // Top layer first, each area down to 0, so the lower ones paint over them.
        for i in (0..layers).rev() {
            let color = if i < names.len() {
                SERIES[i % SERIES.len()]
            } else {
                GREY
            };
            let name = if i < names.len() {
                names[i].clone()
            } else {
                OUTSIDE.to_string()
            };
            let pts: Vec<(f64, f64)> = b.levels.iter().map(|l| (l.load, cum(l, i + 1))).collect();
            let growth = b
                .growth
                .iter()
                .find(|g| g.name == name)
                .and_then(|g| g.share)
                .map_or(String::new(), |s| {
                    format!(" ({:.0}% of the growth)", s * 100.0)
                });
            chart
                .draw_series(AreaSeries::new(pts, 0.0, color.mix(0.85)).border_style(color))?
                .label(format!("{name}{growth}"))
                .legend(box_key(color));
        }
        for (i, name) in inner.iter().enumerate() {
            let color = SERIES[(names.len() + i) % SERIES.len()];
            let pts: Vec<(f64, f64)> = b
                .levels
                .iter()
                .filter_map(|l| {
                    let c = l.components.iter().find(|c| &c.name == name)?;
                    Some((l.load, c.mean_us / 1000.0))
                })
                .collect();
            chart
                .draw_series(DashedLineSeries::new(pts, 8, 5, color.stroke_width(2)))?
                .label(format!("{name} (inside {})", names[0]))
                .legend(super::line_key(color.stroke_width(2)));
        }
        let resp: Vec<(f64, f64)> = b
            .levels
            .iter()
            .map(|l| (l.load, l.response_us / 1000.0))
            .collect();
        chart
            .draw_series(LineSeries::new(resp.clone(), BLACK.stroke_width(2)))?
            .label("mean response time")
            .legend(super::line_key(BLACK.stroke_width(2)));
        chart.draw_series(resp.into_iter().map(|p| Circle::new(p, 3, BLACK.filled())))?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}
