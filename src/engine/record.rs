//! Custom metrics in the engine: their cells (one per scenario and metric, method
//! [`METRIC_METHOD`]), and recording the values a response carried (`record:`). A value
//! goes into its cell as one sample (stored units: µs or thousandths) and into the cell's
//! `bytes`, which add up exactly (the sum); a value that could not be read is a `body`
//! error of the cell, with the first as its example. See [`crate::metrics::custom`].

use std::collections::{HashMap, HashSet};

use crate::metrics::{CellInfo, ErrorKind, METRIC_METHOD, Sample};
use crate::scenario::{Plan, ScenarioPlan, StepPlan};

use super::RunCtx;

/// The steps of a scenario, a batch's requests included.
fn leaf_steps(sc: &ScenarioPlan) -> impl Iterator<Item = &StepPlan> {
    sc.on_start
        .iter()
        .chain(&sc.steps)
        .chain(&sc.on_stop)
        .flat_map(|s| std::iter::once(s).chain(s.batch.iter().flat_map(|b| &b.requests)))
}

/// Lay out the custom metrics' cells of scenario `sc`: one per metric its steps record,
/// in the order first recorded.
pub(super) fn add_cells(cells: &mut Vec<CellInfo>, tags: &mut HashSet<String>, sc: &ScenarioPlan) {
    let mut seen: Vec<&str> = Vec::new();
    for st in leaf_steps(sc) {
        for r in &st.records {
            if !seen.contains(&r.read.name.as_str()) {
                seen.push(&r.read.name);
            }
        }
    }
    for name in seen {
        super::context::other_cell(cells, tags, &sc.name, name, METRIC_METHOD, &[]);
    }
}

/// Cells found by name, per scenario (by index): requests by step name, custom metrics by
/// metric name.
#[derive(Debug, Default)]
pub(super) struct NamedCells {
    requests: Vec<HashMap<String, usize>>,
    metrics: Vec<HashMap<String, usize>>,
}

impl NamedCells {
    pub(super) fn new(plan: &Plan, cells: &[CellInfo]) -> NamedCells {
        let mut out = NamedCells {
            requests: vec![HashMap::new(); plan.scenarios.len()],
            metrics: vec![HashMap::new(); plan.scenarios.len()],
        };
        let index: HashMap<&str, usize> = plan
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        for c in cells {
            let Some(&i) = index.get(c.scenario.as_str()) else {
                continue;
            };
            if c.method == METRIC_METHOD {
                out.metrics[i].insert(c.step.clone(), c.id);
            } else if c.is_request() {
                out.requests[i].entry(c.step.clone()).or_insert(c.id);
            }
        }
        out
    }

    /// The cell of request step `name` in scenario `scenario`.
    pub(super) fn request(&self, scenario: usize, name: &str) -> Option<usize> {
        self.requests.get(scenario)?.get(name).copied()
    }

    fn metric(&self, scenario: usize, name: &str) -> Option<usize> {
        self.metrics.get(scenario)?.get(name).copied()
    }
}

/// Record the custom metrics' values a response of `step` carried (`values`, in the order
/// of `step.records`).
pub(super) fn record_values(
    ctx: &RunCtx,
    scenario: usize,
    step: &StepPlan,
    values: &[Result<u64, String>],
) {
    if !ctx.record {
        return;
    }
    for (r, v) in step.records.iter().zip(values) {
        let Some(cell) = ctx.named.metric(scenario, &r.read.name) else {
            continue;
        };
        match v {
            Ok(x) => ctx.recorder.record(&Sample {
                cell,
                response_us: Some(*x),
                service_us: Some(*x),
                co_interval_us: None,
                error: None,
                failed_checks: &[],
                bytes: *x,
                meta: None,
            }),
            Err(why) => {
                ctx.recorder.record(&Sample::failed(cell, ErrorKind::Body));
                ctx.note_error(cell, ErrorKind::Body, why);
            }
        }
    }
}
