//! Outage windows shaded on the time charts (latency, throughput): each span in which no
//! request succeeded ([`crate::metrics::availability`]), from its measured start to its
//! end, at least a few pixels wide so a short one is still seen, labelled `outage` when
//! there is room.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{DrawResult, TARGET, small_font};
use crate::metrics::RunResult;

/// Outages labelled on a chart; any more are shaded only.
const LABELLED: usize = 8;

/// Shade the run's outages on `chart` (x in seconds since the start, y from 0 to
/// `y_max`); nothing when it had none (or they were not measured). With `key`, the
/// shading gets a legend entry; the labels sit at `label_at` of the height (a share).
pub(crate) fn shade<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    r: &RunResult,
    span: f64,
    y_max: f64,
    key: bool,
    label_at: f64,
) -> DrawResult<DB> {
    let Some(a) = r.availability.as_ref().filter(|a| !a.outages.is_empty()) else {
        return Ok(());
    };
    // At least 0.4 % of the axis wide (4 px on a 1000 px chart).
    let min_w = span * 0.004;
    let spans: Vec<(f64, f64)> = a
        .outages
        .iter()
        .map(|o| {
            let (s, e) = (o.start_us as f64 / 1e6, o.end_us as f64 / 1e6);
            if e - s < min_w {
                let m = (s + e) / 2.0;
                (m - min_w / 2.0, m + min_w / 2.0)
            } else {
                (s, e)
            }
        })
        .collect();
    let drawn = chart.draw_series(
        spans
            .iter()
            .map(|&(s, e)| Rectangle::new([(s, 0.0), (e, y_max)], TARGET.mix(0.18).filled())),
    )?;
    if key {
        drawn
            .label("outage (no request succeeded)")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], TARGET.mix(0.18).filled())
            });
    }
    let anchor = plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    );
    chart.draw_series(spans.iter().take(LABELLED).map(|&(s, e)| {
        Text::new(
            "outage",
            ((s + e) / 2.0, y_max * label_at),
            small_font().color(&TARGET).pos(anchor),
        )
    }))?;
    Ok(())
}
