//! Capacity planning from a step test: how much load one instance takes within the SLO,
//! where it breaks, how many instances the expected peak needs, when to scale out and
//! what it costs.
//!
//! Pure analysis, no I/O: [`steps`] turns a run's one-second points and step windows into
//! per-step figures (warm-up cut by [`mser`], stability judged); [`analyze`] takes those
//! steps (or rows of a table, [`table`]) and finds the maximum sustainable load, the knee
//! of latency against load ([`knee`]), the Universal Scalability Law fit ([`usl`]) and the
//! plan ([`plan`]), all in one serde type, [`CapacityReport`], written as `capacity.json`.
//! The formulas are in `notes/measurement.md` section 3. [`step_test`] places a step test's
//! levels in the time of the run that carried them out, and stops a test early.
//!
//! Uses [`crate::metrics`] types read-only and nothing else in the crate.

pub mod amdahl;
pub mod bottleneck;
pub mod knee;
pub mod mser;
pub mod mva;
pub mod plan;
pub mod scaling;
pub mod select;
pub mod step_test;
pub mod steps;
pub mod table;
pub mod usl;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use bottleneck::Bottleneck;
pub use plan::{CapacityPlan, Planning};
pub use scaling::{PlanBasis, Thresholds};
pub use select::{ModelChoice, ModelFit, ModelKind};
pub use step_test::{StepTest, analyze_step_test, early_stop};
pub use steps::{
    EarlyStop, LatencySource, LoadModel, StabilityRules, StepAnalysis, StepRun, StepWindow,
    analyze_steps,
};
pub use usl::UslFit;

use crate::metrics::{Hist, Tool};

/// Version of the `capacity.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// What to judge the steps against, and the planning block.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityOptions {
    /// The p95 response-time SLO; without one, latency does not bound the sustainable load.
    pub slo_p95_us: Option<u64>,
    /// Largest error rate (errors plus failed checks, a share) of a sustainable step.
    pub max_error_rate: f64,
    pub planning: Option<Planning>,
}

impl Default for CapacityOptions {
    fn default() -> Self {
        CapacityOptions {
            slo_p95_us: None,
            max_error_rate: 0.01,
            planning: None,
        }
    }
}

/// A step test's `capacity:` block: what a sustainable step keeps, the plan's inputs, and
/// when to stop the test early.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CapacitySpec {
    pub options: CapacityOptions,
    /// Stop once the level under way is this far past the SLO or the error bound (a bound
    /// of infinity is never passed); `None`: never stop early.
    pub early_stop: Option<EarlyStop>,
}

/// Everything the capacity analysis found: `capacity.json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityReport {
    /// Layout version of this file.
    pub schema_version: u32,
    pub tool: Tool,
    /// Where the steps came from: a run id, or the table's file name.
    pub source: String,
    pub model: LoadModel,
    /// The p95 SLO the steps were judged against.
    pub slo_p95_us: Option<u64>,
    /// The error-rate bound of a sustainable step.
    pub max_error_rate: f64,
    /// Every step, in the order run (or rows in the order given).
    pub steps: Vec<StepAnalysis>,
    /// The USL fitted to the stable steps; `null` with fewer than 4 (see `warnings`).
    pub usl: Option<UslFit>,
    /// The knee of p95 against load.
    pub knee: Option<KneePoint>,
    /// The most load sustained within the SLO, the error bound and the offered rate.
    pub max_sustainable: Option<MaxSustainable>,
    /// The plan, when a planning block was given and a step was sustainable.
    pub plan: Option<CapacityPlan>,
    /// What to be careful about, fit warnings included.
    pub warnings: Vec<String>,
    /// Every model fitted to the stable steps (USL, Amdahl, a closed multi-server queue by
    /// exact MVA), with parameters, standard errors, R² and hold-out error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelFit>,
    /// The model chosen by hold-out error, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ModelChoice>,
    /// What the plan's figures rest on: the measured level, the model, and whether they
    /// reach beyond the measured range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_basis: Vec<PlanBasis>,
    /// The autoscaling thresholds, with the p95 there and the latency one more user adds at
    /// the knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// The `Server-Timing` breakdown per level and the component that grows fastest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottleneck: Option<Bottleneck>,
}

impl CapacityReport {
    /// The JSON Schema of `capacity.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(CapacityReport)).unwrap_or_default()
    }
}

/// The knee of p95 against load (Kneedle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KneePoint {
    /// Index of the step.
    pub step: usize,
    pub load: f64,
    pub throughput: f64,
    pub p95_us: u64,
    /// Normalised distance from the chord (0 to 1): how sharp the bend is.
    pub strength: f64,
}

/// The maximum sustainable load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxSustainable {
    /// The highest sustainable step.
    pub step: usize,
    /// Load level, throughput and requests in flight: the step's, or interpolated towards
    /// the next step.
    pub load: f64,
    pub throughput: f64,
    pub concurrency: f64,
    /// p95 at that load (the SLO itself when interpolated).
    pub p95_us: Option<u64>,
    /// Interpolated linearly in p95 between the step and the next, which failed on p95
    /// alone.
    pub interpolated: bool,
    /// How it was found, in a sentence.
    pub basis: String,
}

/// Analyse a step-load run: [`analyze_steps`] then [`analyze`]. `hist(step,
/// steady_start_us, end_us)` gives a step's merged histogram over its steady part, when
/// the caller has one.
pub fn analyze_run<F>(
    source: &str,
    run: &StepRun<'_>,
    hist: F,
    opts: &CapacityOptions,
) -> CapacityReport
where
    F: FnMut(usize, u64, u64) -> Option<Hist>,
{
    let steps = analyze_steps(run, hist);
    let mut report = analyze(source, run.model, steps, opts);
    if report
        .steps
        .iter()
        .any(|s| s.latency_source == LatencySource::Intervals)
    {
        report.warnings.push(
            "some steps' percentiles are request-weighted means of per-second percentiles \
             (no histogram was given for them): an approximation"
                .into(),
        );
    }
    report
}

/// Judge analysed steps against the options and find the maximum sustainable load, the
/// knee, the USL fit and the plan.
pub fn analyze(
    source: &str,
    model: LoadModel,
    mut steps: Vec<StepAnalysis>,
    opts: &CapacityOptions,
) -> CapacityReport {
    let mut warnings = Vec::new();
    for s in &mut steps {
        s.failures = failures(s, opts);
        s.sustainable = s.failures.is_empty();
    }
    // Step indices by load, lowest first (a plan may run the same level twice).
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| steps[a].load.total_cmp(&steps[b].load).then(a.cmp(&b)));

    let max_sustainable = max_sustainable(&steps, &order, opts, model.unit(), &mut warnings);
    let knee = knee(&steps, &order);
    let usl = fit(&steps, &mut warnings);

    let plan = match (&opts.planning, &max_sustainable) {
        (None, _) => None,
        (Some(_), None) => {
            warnings.push("no step was sustainable, so there is no plan".into());
            None
        }
        (Some(p), Some(m)) => match p.validate() {
            Ok(()) => match plan_for(p, model, m) {
                Ok(plan) => Some(plan),
                Err(e) => {
                    warnings.push(format!("planning: {e}: no plan"));
                    None
                }
            },
            Err(errs) => {
                warnings.extend(errs.iter().map(|e| format!("{e}: no plan")));
                None
            }
        },
    };

    let (models, chosen) = fit_models(&steps, &mut warnings);
    let chosen_fit = chosen
        .as_ref()
        .and_then(|c| models.iter().find(|f| f.model == c.model));
    let plan_basis = match (&plan, &max_sustainable) {
        (Some(p), Some(m)) => {
            scaling::plan_basis(p, m, &steps, model, chosen.as_ref().zip(chosen_fit))
        }
        _ => Vec::new(),
    };
    let thresholds = max_sustainable.as_ref().map(|m| {
        scaling::thresholds(
            m,
            plan.as_ref(),
            opts.planning.as_ref().map_or(1, |p| p.instances_tested),
            &steps,
            knee.as_ref(),
            model,
            chosen_fit,
        )
    });

    CapacityReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::default(),
        source: source.to_string(),
        model,
        slo_p95_us: opts.slo_p95_us,
        max_error_rate: opts.max_error_rate,
        steps,
        usl,
        knee,
        max_sustainable,
        plan,
        warnings,
        models,
        chosen,
        plan_basis,
        thresholds,
        bottleneck: None,
    }
}

/// Fit every model to the stable steps (load: requests in flight, so no think time) and
/// choose one ([`select`]).
fn fit_models(
    steps: &[StepAnalysis],
    warnings: &mut Vec<String>,
) -> (Vec<ModelFit>, Option<ModelChoice>) {
    let pts: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.stable)
        .map(|s| (s.concurrency, s.throughput))
        .collect();
    if pts.len() < usl::MIN_POINTS {
        return (Vec::new(), None);
    }
    let (models, chosen) = select::fit_all(&pts, 0.0, None);
    if let Some(c) = &chosen
        && let Some(f) = models.iter().find(|f| f.model == c.model)
        && f.holdout_error.is_some_and(|e| e > usl::HOLDOUT_TOLERANCE)
    {
        warnings.push(format!(
            "even the chosen model ({}) misses the top level by {:.1}% when fitted without \
             it: predictions beyond the measured range are unreliable",
            c.model.label(),
            f.holdout_error.unwrap_or(0.0) * 100.0
        ));
    }
    (models, chosen)
}

/// The plan for the maximum sustainable load `m` of a `model` test (see [`plan::plan`]).
pub fn plan_for(
    planning: &Planning,
    model: LoadModel,
    m: &MaxSustainable,
) -> Result<CapacityPlan, plan::PlanLimit> {
    plan::plan(
        planning,
        plan::Sustained {
            rps: m.throughput,
            users: (model == LoadModel::Closed).then_some(m.load),
        },
    )
}

/// Analyse a table of figures measured elsewhere (`skein capacity fit`): its rows taken
/// together by load level ([`table::levels`]), one step per level, so a table of a
/// million rows at ten levels is ten fitted points, and the analysis takes time in
/// proportion to the rows; more than [`table::MAX_LEVELS`] levels are taken in bands of
/// neighbouring loads ([`table::bands`]). A warning says when rows were taken together.
pub fn analyze_table(source: &str, rows: &[table::Row], opts: &CapacityOptions) -> CapacityReport {
    let exact = table::levels(rows);
    let distinct = exact.len();
    let levels = table::bands(exact, table::MAX_LEVELS);
    let steps = levels
        .iter()
        .enumerate()
        .map(|(i, l)| StepAnalysis::from_figures(i, l.load, l.throughput, l.p95_us))
        .collect();
    let mut r = analyze(source, LoadModel::Closed, steps, opts);
    if levels.len() < distinct {
        r.warnings.insert(
            0,
            format!(
                "{} rows at {distinct} load levels, more than {}: taken in {} bands of \
                 neighbouring loads (each the rows' mean load and throughput, and the \
                 throughput-weighted mean of their p95, an approximation)",
                rows.len(),
                table::MAX_LEVELS,
                levels.len()
            ),
        );
    } else if levels.len() < rows.len() {
        r.warnings.insert(
            0,
            format!(
                "{} rows at {} load levels: the rows of each level were taken together (the \
                 mean throughput; the p95 as the throughput-weighted mean of the rows' p95, \
                 an approximation)",
                rows.len(),
                levels.len()
            ),
        );
    }
    r
}

/// Why a step is not sustainable (empty when it is).
fn failures(s: &StepAnalysis, opts: &CapacityOptions) -> Vec<String> {
    let mut f = Vec::new();
    if !s.stable {
        f.push(format!("unstable: {}", s.reasons.join("; ")));
    }
    if let Some(slo) = opts.slo_p95_us {
        match s.p95_us {
            Some(p) if p > slo => f.push(format!(
                "p95 {} over the SLO {}",
                crate::metrics::fmt_us(p),
                crate::metrics::fmt_us(slo)
            )),
            Some(_) => {}
            None => f.push("p95 not measured".into()),
        }
    }
    if s.error_rate > opts.max_error_rate {
        f.push(format!(
            "error rate {:.2}% over {:.2}%",
            s.error_rate * 100.0,
            opts.max_error_rate * 100.0
        ));
    }
    f
}

/// The failures of a step are p95 alone (so p95 can be interpolated towards it).
fn fails_on_p95_only(s: &StepAnalysis) -> bool {
    s.failures.len() == 1
        && s.failures[0].starts_with("p95 ")
        && !s.failures[0].contains("not measured")
}

fn max_sustainable(
    steps: &[StepAnalysis],
    order: &[usize],
    opts: &CapacityOptions,
    unit: &str,
    warnings: &mut Vec<String>,
) -> Option<MaxSustainable> {
    let load_text = |v: f64| load_text(v, unit);
    let Some(pos) = order.iter().rposition(|&i| steps[i].sustainable) else {
        if !steps.is_empty() {
            warnings.push(
                "no step was sustainable (stable, within the SLO and the error bound): \
                 test lower loads"
                    .into(),
            );
        }
        return None;
    };
    let a = &steps[order[pos]];
    if let Some(lower) = order[..pos]
        .iter()
        .find(|&&i| !steps[i].sustainable && steps[i].load < a.load)
    {
        warnings.push(format!(
            "step {} ({}) failed at a lower load than the highest sustainable step {} ({}): \
             read the maximum with care",
            steps[*lower].index + 1,
            load_text(steps[*lower].load),
            a.index + 1,
            load_text(a.load)
        ));
    }
    let mut out = MaxSustainable {
        step: a.index,
        load: a.load,
        throughput: a.throughput,
        concurrency: a.concurrency,
        p95_us: a.p95_us,
        interpolated: false,
        basis: format!(
            "step {} ({}) is the highest step that was stable and within the bounds",
            a.index + 1,
            load_text(a.load)
        ),
    };
    let Some(&next) = order[pos + 1..].iter().find(|&&i| steps[i].load > a.load) else {
        warnings.push(format!(
            "the highest step tested ({}) was sustainable: the capacity may be higher; \
             extend the test",
            load_text(a.load)
        ));
        return Some(out);
    };
    let b = &steps[next];
    let interpolation = match (opts.slo_p95_us, a.p95_us, b.p95_us) {
        (Some(slo), Some(pa), Some(pb)) if fails_on_p95_only(b) && pa < slo && pb > slo => {
            Some((slo - pa) as f64 / (pb - pa) as f64)
        }
        _ => None,
    };
    match interpolation {
        Some(f) => {
            let lerp = |x: f64, y: f64| x + f * (y - x);
            out.load = lerp(a.load, b.load);
            out.throughput = lerp(a.throughput, b.throughput);
            out.concurrency = lerp(a.concurrency, b.concurrency);
            out.p95_us = opts.slo_p95_us;
            out.interpolated = true;
            out.basis.push_str(&format!(
                "; interpolated linearly in p95 towards step {} ({}), which failed on p95 \
                 alone: {} reaches the SLO",
                b.index + 1,
                load_text(b.load),
                load_text(out.load)
            ));
        }
        None => out.basis.push_str(&format!(
            "; not interpolated towards step {} ({}): {}",
            b.index + 1,
            load_text(b.load),
            if opts.slo_p95_us.is_none() {
                "no p95 SLO was given".to_string()
            } else if fails_on_p95_only(b) {
                "its p95 did not rise past the SLO from below".to_string()
            } else {
                b.failures.join("; ")
            }
        )),
    }
    Some(out)
}

fn knee(steps: &[StepAnalysis], order: &[usize]) -> Option<KneePoint> {
    let mut idx: Vec<usize> = Vec::new();
    for &i in order {
        let has_p95 = steps[i].p95_us.is_some() && steps[i].latency_source != LatencySource::None;
        let rising = idx.last().is_none_or(|&l| steps[i].load > steps[l].load);
        if has_p95 && rising {
            idx.push(i);
        }
    }
    let x: Vec<f64> = idx.iter().map(|&i| steps[i].load).collect();
    let y: Vec<f64> = idx
        .iter()
        .map(|&i| steps[i].p95_us.unwrap_or(0) as f64)
        .collect();
    let k = knee::kneedle(&x, &y)?;
    let s = &steps[idx[k.index]];
    Some(KneePoint {
        step: s.index,
        load: s.load,
        throughput: s.throughput,
        p95_us: s.p95_us.unwrap_or(0),
        strength: k.strength,
    })
}

fn fit(steps: &[StepAnalysis], warnings: &mut Vec<String>) -> Option<UslFit> {
    let pts: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.stable)
        .map(|s| (s.concurrency, s.throughput))
        .collect();
    if pts.len() < usl::MIN_POINTS {
        warnings.push(format!(
            "only {} stable step(s) of {}: the USL needs at least {}, so there is no model \
             (the steps are shown without a fit)",
            pts.len(),
            steps.len(),
            usl::MIN_POINTS
        ));
        return None;
    }
    match usl::fit(&pts) {
        Ok(f) => {
            warnings.extend(f.warnings.iter().map(|w| format!("USL: {w}")));
            Some(f)
        }
        Err(e) => {
            warnings.push(format!("no USL fit: {e}"));
            None
        }
    }
}

/// `32 users` or `12.5 rps`: a load level without a needless fraction.
fn load_text(v: f64, unit: &str) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{} {unit}", v.round())
    } else {
        format!("{v:.1} {unit}")
    }
}

#[cfg(test)]
mod tests;
