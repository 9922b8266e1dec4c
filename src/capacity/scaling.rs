//! What the plan rests on, and the thresholds an autoscaler is configured with.
//!
//! [`PlanBasis`]: for the plan's "instances needed", "scale out at" and "runway", the
//! measured level each rests on, the model (if any) behind it, and whether it reaches beyond
//! the measured range (then it says so). The plan itself uses measured figures only; the
//! chosen model is quoted as a cross-check at the measured level.
//!
//! [`Thresholds`]: requests per second and concurrent users per instance at which to add
//! one, the p95 measured at that point (interpolated between the steps around it), and the
//! latency one more user adds at the knee: from the chosen model (mean response time
//! `R(N) = N / X(N)`, `R(N+1) - R(N)`) and from the measured p95 of the steps around it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::select::{ModelChoice, ModelFit};
use super::{CapacityPlan, KneePoint, LoadModel, MaxSustainable, StepAnalysis};

/// The share of the sustainable load at which to scale out when no planning block says
/// (`1 - headroom` with the default 30 % headroom).
pub const DEFAULT_SCALE_OUT_SHARE: f64 = 0.7;

/// What one figure of the plan rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBasis {
    /// `instances needed`, `scale out at` or `runway`.
    pub figure: String,
    /// The measured step it rests on (index), and its load.
    pub step: usize,
    pub load: f64,
    /// `measured` (a step's own figures), `interpolated` (between two measured steps).
    pub source: String,
    /// Whether the figure reaches beyond what was measured (more instances than tested,
    /// a load above the highest step).
    pub extrapolated: bool,
    /// The whole statement, in words.
    pub statement: String,
}

/// The thresholds an autoscaler is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The share of one instance's sustainable load at which to add one.
    pub share: f64,
    /// Add an instance when one serves this many requests per second...
    pub rps_per_instance: f64,
    /// ... or carries this many concurrent users (closed model).
    pub users_per_instance: Option<f64>,
    /// The p95 measured at that point (interpolated in load between the steps around it).
    pub p95_at_scale_out_us: Option<u64>,
    /// The knee's load, and the mean response time one more user adds there according to
    /// the chosen model (µs).
    pub knee_load: Option<f64>,
    pub marginal_latency_us: Option<f64>,
    /// The p95 one more user added past the knee, measured (slope to the next step, µs).
    pub marginal_p95_us: Option<f64>,
    /// The thresholds in a sentence.
    pub summary: String,
}

fn load_text(v: f64, unit: &str) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{} {unit}", v.round())
    } else {
        format!("{v:.1} {unit}")
    }
}

/// The basis of each plan figure.
pub fn plan_basis(
    plan: &CapacityPlan,
    m: &MaxSustainable,
    steps: &[StepAnalysis],
    model: LoadModel,
    chosen: Option<(&ModelChoice, &ModelFit)>,
) -> Vec<PlanBasis> {
    let unit = model.unit();
    let top = steps.iter().map(|s| s.load).fold(0.0, f64::max);
    let level = if m.interpolated {
        format!(
            "{} ({:.1}/s), interpolated from measured step {} towards the next",
            load_text(m.load, unit),
            m.throughput,
            m.step + 1
        )
    } else {
        format!(
            "measured step {} ({}, {:.1}/s)",
            m.step + 1,
            load_text(m.load, unit),
            m.throughput
        )
    };
    let source = if m.interpolated {
        "interpolated"
    } else {
        "measured"
    };
    let model_note = match chosen {
        Some((c, f)) if m.concurrency > 0.0 => {
            let x = f.throughput(m.concurrency);
            format!(
                "; no model value is used: the chosen model ({}) predicts {:.1}/s there, {:+.1}% \
                 from the measurement",
                c.model.label(),
                x,
                (x - m.throughput) / m.throughput * 100.0
            )
        }
        _ => "; no model value is used".to_string(),
    };
    let edge = if m.load >= top && !m.interpolated {
        format!(
            "; the measured range ends at {}: the capacity may be higher, and nothing beyond it \
             is assumed",
            load_text(top, unit)
        )
    } else {
        String::new()
    };
    let tested = plan.planning.instances_tested.max(1);
    let mut out = Vec::new();
    if let Some(n) = plan.instances_needed {
        let extrapolated = n > tested;
        let mut s = format!(
            "instances needed ({n}) rests on {level}, {:.1}/s per instance{model_note}{edge}",
            plan.rps_per_instance
        );
        if extrapolated {
            s.push_str(&format!(
                "; EXTRAPOLATED beyond the measured range: {tested} instance(s) were tested and \
                 the plan assumes each added instance adds the same capacity (linear \
                 scale-out, not measured)"
            ));
        }
        out.push(PlanBasis {
            figure: "instances needed".into(),
            step: m.step,
            load: m.load,
            source: source.into(),
            extrapolated,
            statement: s,
        });
    }
    out.push(PlanBasis {
        figure: "scale out at".into(),
        step: m.step,
        load: m.load,
        source: source.into(),
        extrapolated: false,
        statement: format!(
            "scale out at ({:.0}% of it: {:.1}/s{} per instance) rests on {level}{model_note}; \
             within the measured range",
            plan.scale_out_share * 100.0,
            plan.scale_out_rps,
            plan.scale_out_users
                .map_or(String::new(), |u| format!(", {}", load_text(u, "users")))
        ),
    });
    if let Some(r) = plan.runway_months {
        out.push(PlanBasis {
            figure: "runway".into(),
            step: m.step,
            load: m.load,
            source: source.into(),
            extrapolated: false,
            statement: format!(
                "runway ({r:.1} months) rests on {level} times {tested} tested instance(s); \
                 the demand growth of {:.1}% a month is an assumption, the capacity is measured{edge}",
                plan.planning.growth_per_month * 100.0
            ),
        });
    }
    out
}

/// p95 at `load`, interpolated between the stable measured steps around it.
fn p95_at(steps: &[StepAnalysis], load: f64) -> Option<u64> {
    let mut pts: Vec<(f64, u64)> = steps
        .iter()
        .filter(|s| s.stable)
        .filter_map(|s| Some((s.load, s.p95_us?)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let below = pts.iter().rev().find(|p| p.0 <= load)?;
    let above = pts.iter().find(|p| p.0 >= load)?;
    if above.0 == below.0 {
        return Some(below.1);
    }
    let f = (load - below.0) / (above.0 - below.0);
    Some((below.1 as f64 + f * (above.1 as f64 - below.1 as f64)).round() as u64)
}

/// The thresholds: the plan's scale-out point (or [`DEFAULT_SCALE_OUT_SHARE`] of the
/// maximum sustainable load), the p95 there, and the latency one more user adds at the knee.
#[allow(clippy::too_many_arguments)]
pub fn thresholds(
    m: &MaxSustainable,
    plan: Option<&CapacityPlan>,
    instances_tested: u32,
    steps: &[StepAnalysis],
    knee: Option<&KneePoint>,
    model: LoadModel,
    chosen: Option<&ModelFit>,
) -> Thresholds {
    let tested = instances_tested.max(1) as f64;
    let share = plan.map_or(DEFAULT_SCALE_OUT_SHARE, |p| p.scale_out_share);
    let rps = m.throughput / tested * share;
    let users = (model == LoadModel::Closed).then(|| m.load / tested * share);
    // The p95 at the scale-out point, on the tested instances' load axis.
    let p95 = p95_at(steps, m.load * share);
    let knee_step = knee.and_then(|k| steps.iter().find(|s| s.index == k.step));
    let marginal_latency_us = match (knee_step, chosen) {
        (Some(s), Some(f)) if s.concurrency > 0.0 => {
            // The models' load is requests in flight; one more user of a closed model adds
            // its share of them (R / (R + Z) with think time Z: the measured ratio at the
            // knee), not a whole one.
            let n = s.concurrency;
            let added = match model {
                LoadModel::Closed if s.load > 0.0 => (s.concurrency / s.load).min(1.0),
                _ => 1.0,
            };
            match (f.response_time(n), f.response_time(n + added)) {
                (Some(a), Some(b)) => Some((b - a) * 1e6),
                _ => None,
            }
        }
        _ => None,
    };
    let marginal_p95_us = knee_step.and_then(|k| {
        let next = steps
            .iter()
            .filter(|s| s.load > k.load && s.p95_us.is_some())
            .min_by(|a, b| a.load.total_cmp(&b.load))?;
        let (a, b) = (k.p95_us? as f64, next.p95_us? as f64);
        Some((b - a) / (next.load - k.load))
    });
    let unit = model.unit();
    let ms = |us: f64| format!("{:.1} ms", us / 1000.0);
    let mut summary = format!(
        "add an instance at {rps:.1} requests/s per instance{}",
        users.map_or(String::new(), |u| format!(
            " or {} per instance",
            load_text(u, "concurrent users")
        ))
    );
    summary.push_str(&format!(" ({:.0}% of the sustainable load)", share * 100.0));
    if let Some(p) = p95 {
        summary.push_str(&format!("; p95 there is {}", ms(p as f64)));
    }
    if let Some(k) = knee {
        summary.push_str(&format!("; at the knee ({})", load_text(k.load, unit)));
        match (marginal_latency_us, chosen) {
            (Some(d), Some(f)) => summary.push_str(&format!(
                " one more {} adds {} to the mean response time ({})",
                if model == LoadModel::Closed {
                    "user"
                } else {
                    "request in flight"
                },
                ms(d),
                f.model.label()
            )),
            _ => summary.push_str(" (no model for the latency one more user adds)"),
        }
        if let Some(d) = marginal_p95_us {
            summary.push_str(&format!(" and, measured, {} to the p95", ms(d)));
        }
    }
    Thresholds {
        share,
        rps_per_instance: rps,
        users_per_instance: users,
        p95_at_scale_out_us: p95,
        knee_load: knee.map(|k| k.load),
        marginal_latency_us,
        marginal_p95_us,
        summary,
    }
}
