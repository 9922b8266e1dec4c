//! Regression between two runs (measurement notes §5): is the candidate slower, or failing
//! more, than the baseline by more than tolerance and noise?
//!
//! One row per endpoint (step name found in either run) and one for all requests. Each row
//! has p50, p95, p99 and the mean of both runs with their deltas and confidence intervals,
//! and the error rate with a two-proportion test. A gated quantile (p95 unless
//! [`CompareOptions::gated`] says otherwise) is a **regression** only when all three hold:
//!
//! 1. relative: `new > base * (1 + tolerance)` (default 10 %);
//! 2. absolute: `new - base > min_delta` (default 2 ms), so fast endpoints do not flap;
//! 3. outside the noise: the order-statistic confidence intervals of the quantile do not
//!    overlap, `lo_new > hi_base`.
//!
//! The confidence interval of quantile `p` is read from the stored histogram at the ranks
//! `r = n·p ∓ z·sqrt(n·p·(1-p))` (floor / ceil, clamped to 1..n, z = 1.96), where `n` is an
//! **effective sample size**, not the number of samples: the latencies of one run are
//! autocorrelated (a GC pause, a slow database second or a noisy neighbour moves many
//! consecutive requests together), so a million samples are not a million independent draws
//! and an interval built on the raw count would call every A/A pair different. Skein counts
//! `n_eff = 10 × the non-empty one-second intervals of that endpoint` (an interval is
//! non-empty when the endpoint had requests in it), capped at the number of samples: each
//! second contributes about ten independent observations. A result without a time series
//! counts the run's length in seconds instead.
//!
//! The error rate (failed requests and failed checks over requests) is a regression when a
//! one-sided two-proportion z-test says the candidate's rate is higher (alpha 0.01) and it
//! is higher by more than the tolerance and by at least 0.1 percentage points.
//!
//! Improvements are judged by the same rules with the runs swapped; they are informational
//! and never fail anything. An endpoint found in one run only is shown as added or removed,
//! never as a regression; when the two runs' endpoints differ, the all-requests row is shown
//! but not gated either, since its mix of requests changed.
//!
//! Pure: two [`RunResult`]s in, a [`Comparison`] out. Uses nothing outside `metrics`; the
//! statistics (intervals, tests, the normal distribution) are in [`super::stats`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::result::{Latency, RunResult, RunStatus, Summary};
pub use super::stats::{IntervalRate, IntervalUs};
use super::stats::{effective_n, normal_cdf, quantile_ci, two_proportion_z, wilson};

/// Name of the all-requests row.
pub const OVERALL: &str = "all requests";

/// The rules of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareOptions {
    /// Relative change that counts, as a fraction (0.10 = 10 %).
    pub tolerance: f64,
    /// Absolute latency change that counts, µs.
    pub min_delta_us: u64,
    /// Quantiles that can fail the comparison (0.95 = p95).
    pub gated: Vec<f64>,
    /// Normal quantile of the confidence intervals (1.96: 95 %, two-sided).
    pub z: f64,
    /// Independent observations counted per non-empty one-second interval.
    pub samples_per_interval: u64,
    /// Significance level of the one-sided error-rate test.
    pub error_alpha: f64,
    /// Error-rate change that counts, as a fraction of requests (0.001 = 0.1 percentage
    /// points).
    pub error_min_delta: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            tolerance: 0.10,
            min_delta_us: 2_000,
            gated: vec![0.95],
            z: 1.96,
            samples_per_interval: 10,
            error_alpha: 0.01,
            error_min_delta: 0.001,
        }
    }
}

/// Two runs compared.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub baseline: RunRef,
    pub candidate: RunRef,
    pub options: CompareOptions,
    /// All requests of each run.
    pub overall: RowComparison,
    /// One row per step name: the baseline's order, then steps only the candidate has.
    pub endpoints: Vec<RowComparison>,
    pub verdict: CompareVerdict,
}

/// Which run a side of the comparison is.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRef {
    pub id: String,
    pub name: String,
    pub status: RunStatus,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_us: u64,
    pub requests: u64,
}

/// Whether a row's endpoint is in both runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Both,
    /// Only in the candidate.
    Added,
    /// Only in the baseline.
    Removed,
}

/// What a metric's change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Worse by more than tolerance, minimum delta and noise (gated metrics only).
    Regression,
    /// Better by more than tolerance, minimum delta and noise (informational).
    Improvement,
    /// The relative change is within the tolerance.
    WithinTolerance,
    /// Beyond the tolerance, but not by the minimum absolute change.
    BelowMinDelta,
    /// Beyond tolerance and minimum change, but the confidence intervals overlap.
    WithinNoise,
    /// Shown for information; this metric does not gate.
    NotGated,
    /// One side has no samples (or the endpoint is in one run only).
    NoData,
}

impl Call {
    /// A few words for tables: `regression`, `within noise`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Regression => "regression",
            Call::Improvement => "improvement",
            Call::WithinTolerance => "within tolerance",
            Call::BelowMinDelta => "below min delta",
            Call::WithinNoise => "within noise",
            Call::NotGated => "not gated",
            Call::NoData => "no data",
        }
    }
}

/// One side of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Side {
    pub requests: u64,
    /// Requests that got a response (the histogram's count).
    pub responses: u64,
    /// Non-empty one-second intervals.
    pub intervals: u64,
    /// Effective sample size the confidence intervals use.
    pub n_eff: u64,
}

/// One endpoint, or all requests, in both runs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowComparison {
    pub name: String,
    pub presence: Presence,
    pub base: Option<Side>,
    pub candidate: Option<Side>,
    /// p50, p95, p99 (and any other gated quantile, in order), then the mean.
    pub latency: Vec<MetricComparison>,
    pub error_rate: ErrorComparison,
    /// A gated metric of this row regressed.
    pub regression: bool,
    /// A gated metric of this row improved (and none regressed).
    pub improvement: bool,
}

impl RowComparison {
    /// The metric named `p95`, `mean`, ...
    pub fn metric(&self, name: &str) -> Option<&MetricComparison> {
        self.latency.iter().find(|m| m.metric == name)
    }
}

/// One latency metric of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricComparison {
    /// `p50`, `p95`, `p99`, `p99.9`, `mean`.
    pub metric: String,
    /// The quantile in [0, 1]; none for the mean.
    pub quantile: Option<f64>,
    pub base_us: Option<u64>,
    pub candidate_us: Option<u64>,
    /// Candidate minus baseline.
    pub delta_us: Option<i64>,
    /// Delta over the baseline (0.25 = 25 % slower); none when the baseline is 0.
    pub delta_rel: Option<f64>,
    /// Order-statistic interval for quantiles; mean ± z·sd/sqrt(n_eff) for the mean.
    pub base_ci_us: Option<IntervalUs>,
    pub candidate_ci_us: Option<IntervalUs>,
    /// Whether this metric can fail the comparison.
    pub gated: bool,
    pub call: Call,
    pub regression: bool,
    pub improvement: bool,
}

/// The error rate of a row in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorComparison {
    /// Failed requests plus failed checks.
    pub base_failed: Option<u64>,
    pub base_requests: Option<u64>,
    pub candidate_failed: Option<u64>,
    pub candidate_requests: Option<u64>,
    pub base_rate: Option<f64>,
    pub candidate_rate: Option<f64>,
    /// Candidate minus baseline, a fraction (0.01 = one percentage point).
    pub delta: Option<f64>,
    pub delta_rel: Option<f64>,
    /// Wilson score intervals.
    pub base_ci: Option<IntervalRate>,
    pub candidate_ci: Option<IntervalRate>,
    /// Two-proportion z statistic (pooled), positive when the candidate fails more.
    pub z: Option<f64>,
    /// One-sided p-value in the direction of the change.
    pub p_value: Option<f64>,
    pub gated: bool,
    pub call: Call,
    pub regression: bool,
    pub improvement: bool,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareVerdict {
    pub regressed: bool,
    /// One line per regression: what, how much, and the evidence.
    pub reasons: Vec<String>,
    /// One line per improvement (informational).
    pub improvements: Vec<String>,
    /// Endpoints added or removed, rows not gated, runs that did not complete.
    pub notes: Vec<String>,
}

/// Compare `cand` with `base`.
pub fn compare(base: &RunResult, cand: &RunResult, opts: &CompareOptions) -> Comparison {
    // A custom metric's row holds its values, not latencies (µs or thousandths): it is
    // not an endpoint to compare.
    let endpoint = |s: &&super::StepResult| s.method != super::METRIC_METHOD;
    let mut names: Vec<&str> = base
        .steps
        .iter()
        .filter(endpoint)
        .map(|s| s.name.as_str())
        .collect();
    for s in cand.steps.iter().filter(endpoint) {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let endpoints: Vec<RowComparison> = names
        .iter()
        .map(|name| {
            let base = SideInput::step(base, name, opts);
            let cand = SideInput::step(cand, name, opts);
            row(name, base, cand, true, opts)
        })
        .collect();
    let same_endpoints = endpoints.iter().all(|r| r.presence == Presence::Both);
    let overall = row(
        OVERALL,
        Some(SideInput::overall(base, opts)),
        Some(SideInput::overall(cand, opts)),
        same_endpoints,
        opts,
    );
    let verdict = verdict(base, cand, &overall, &endpoints, same_endpoints);
    Comparison {
        baseline: RunRef::of(base),
        candidate: RunRef::of(cand),
        options: opts.clone(),
        overall,
        endpoints,
        verdict,
    }
}

impl RunRef {
    fn of(r: &RunResult) -> RunRef {
        RunRef {
            id: r.run.id.clone(),
            name: r.run.name.clone(),
            status: r.run.status,
            started_at: r.run.started_at.clone(),
            duration_us: r.run.duration_us,
            requests: r.overall.requests,
        }
    }
}

/// One side of a row before comparing: the summary, its decoded histogram (none when it
/// cannot be read: the stored percentiles are shown, without intervals) and its `n_eff`.
struct SideInput<'a> {
    summary: &'a Summary,
    hist: Option<Hist>,
    side: Side,
}

impl<'a> SideInput<'a> {
    /// The step named `name` of `r`, if it has one.
    fn step(r: &'a RunResult, name: &str, opts: &CompareOptions) -> Option<SideInput<'a>> {
        let s = r.step(name)?;
        let intervals = s.timeseries.iter().filter(|p| p.requests > 0).count();
        Some(SideInput::new(&s.summary, intervals, r, opts))
    }

    /// All requests of `r`.
    fn overall(r: &'a RunResult, opts: &CompareOptions) -> SideInput<'a> {
        let intervals = r.timeseries.iter().filter(|p| p.requests > 0).count();
        SideInput::new(&r.overall, intervals, r, opts)
    }

    fn new(
        summary: &'a Summary,
        intervals: usize,
        run: &RunResult,
        opts: &CompareOptions,
    ) -> SideInput<'a> {
        let lat = &summary.response_time;
        let hist = lat.hist().ok().filter(|h| !h.is_empty());
        // The real responses: the service time has one sample each, while a closed run's
        // response time also holds the coordinated-omission correction's synthetic samples
        // (which would inflate the confidence intervals' sample size).
        let responses = match summary.service_time.count {
            0 => hist.as_ref().map(Hist::count).unwrap_or(lat.count),
            n => n,
        };
        // No time series (a hand-made or very old result): count the run's seconds.
        let intervals = if intervals > 0 || summary.requests == 0 {
            intervals as u64
        } else {
            run.run.duration_us.div_ceil(1_000_000).max(1)
        };
        SideInput {
            summary,
            hist,
            side: Side {
                requests: summary.requests,
                responses,
                intervals,
                n_eff: effective_n(intervals, responses, opts.samples_per_interval),
            },
        }
    }
}

fn row(
    name: &str,
    base: Option<SideInput>,
    cand: Option<SideInput>,
    gate: bool,
    opts: &CompareOptions,
) -> RowComparison {
    let presence = match (&base, &cand) {
        (Some(_), None) => Presence::Removed,
        (None, Some(_)) => Presence::Added,
        _ => Presence::Both,
    };
    let gate = gate && presence == Presence::Both;
    let mut quantiles = vec![0.50, 0.95, 0.99];
    for q in &opts.gated {
        if !quantiles.iter().any(|x| same_quantile(*x, *q)) {
            quantiles.push(*q);
        }
    }
    quantiles.sort_by(f64::total_cmp);
    let mut latency: Vec<MetricComparison> = quantiles
        .iter()
        .map(|&q| {
            let gated = gate && opts.gated.iter().any(|g| same_quantile(*g, q));
            quantile_metric(q, base.as_ref(), cand.as_ref(), gated, opts)
        })
        .collect();
    latency.push(mean_metric(base.as_ref(), cand.as_ref(), opts));
    let error_rate = error_comparison(
        base.as_ref().map(|s| s.summary),
        cand.as_ref().map(|s| s.summary),
        gate,
        opts,
    );
    let regression = latency.iter().any(|m| m.regression) || error_rate.regression;
    let improvement =
        !regression && (latency.iter().any(|m| m.improvement) || error_rate.improvement);
    RowComparison {
        name: name.to_string(),
        presence,
        base: base.map(|s| s.side),
        candidate: cand.map(|s| s.side),
        latency,
        error_rate,
        regression,
        improvement,
    }
}

fn same_quantile(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// `p50`, `p95`, `p99.9`.
pub fn quantile_name(q: f64) -> String {
    let pct = format!("{:.4}", q * 100.0);
    format!("p{}", pct.trim_end_matches('0').trim_end_matches('.'))
}

/// The value of quantile `q`: from the histogram, or the stored percentile when the
/// histogram could not be read.
fn quantile_value(s: &SideInput, q: f64) -> Option<u64> {
    if let Some(h) = &s.hist {
        return Some(h.quantile(q));
    }
    let l: &Latency = &s.summary.response_time;
    if l.count == 0 {
        return None;
    }
    [
        (0.50, l.p50_us),
        (0.75, l.p75_us),
        (0.90, l.p90_us),
        (0.95, l.p95_us),
        (0.99, l.p99_us),
        (0.999, l.p999_us),
    ]
    .into_iter()
    .find(|(p, _)| same_quantile(*p, q))
    .map(|(_, v)| v)
}

fn quantile_metric(
    q: f64,
    base: Option<&SideInput>,
    cand: Option<&SideInput>,
    gated: bool,
    opts: &CompareOptions,
) -> MetricComparison {
    let ci = |s: &SideInput| {
        s.hist
            .as_ref()
            .and_then(|h| quantile_ci(h, q, s.side.n_eff, opts.z))
    };
    let base_v = base.and_then(|s| quantile_value(s, q));
    let cand_v = cand.and_then(|s| quantile_value(s, q));
    metric(
        quantile_name(q),
        Some(q),
        (base_v, base.and_then(ci)),
        (cand_v, cand.and_then(ci)),
        gated,
        opts,
    )
}

/// The mean with `mean ± z·sd / sqrt(n_eff)` (never gated).
fn mean_metric(
    base: Option<&SideInput>,
    cand: Option<&SideInput>,
    opts: &CompareOptions,
) -> MetricComparison {
    let side = |s: &SideInput| -> (Option<u64>, Option<IntervalUs>) {
        match &s.hist {
            Some(h) => {
                let m = h.mean();
                let half = opts.z * h.stddev() / (s.side.n_eff.max(1) as f64).sqrt();
                let ci = IntervalUs {
                    lo: (m - half).max(0.0).round() as u64,
                    hi: (m + half).round() as u64,
                };
                (Some(m.round() as u64), Some(ci))
            }
            None => {
                let l = &s.summary.response_time;
                ((l.count > 0).then_some(l.mean_us), None)
            }
        }
    };
    let b = base.map(side).unwrap_or((None, None));
    let c = cand.map(side).unwrap_or((None, None));
    metric("mean".into(), None, b, c, false, opts)
}

type Measured = (Option<u64>, Option<IntervalUs>);

fn metric(
    name: String,
    quantile: Option<f64>,
    (base_us, base_ci_us): Measured,
    (candidate_us, candidate_ci_us): Measured,
    gated: bool,
    opts: &CompareOptions,
) -> MetricComparison {
    let (delta_us, delta_rel) = match (base_us, candidate_us) {
        (Some(b), Some(c)) => (
            Some(c as i64 - b as i64),
            (b > 0).then(|| (c as f64 - b as f64) / b as f64),
        ),
        _ => (None, None),
    };
    let call = match (base_us, candidate_us, base_ci_us, candidate_ci_us) {
        _ if !gated => Call::NotGated,
        (Some(b), Some(c), Some(bci), Some(cci)) => judge(
            Shift {
                from: b as f64,
                to: c as f64,
                from_hi: bci.hi as f64,
                to_lo: cci.lo as f64,
            },
            Shift {
                from: c as f64,
                to: b as f64,
                from_hi: cci.hi as f64,
                to_lo: bci.lo as f64,
            },
            opts.tolerance,
            opts.min_delta_us as f64,
        ),
        _ => Call::NoData,
    };
    MetricComparison {
        metric: name,
        quantile,
        base_us,
        candidate_us,
        delta_us,
        delta_rel,
        base_ci_us,
        candidate_ci_us,
        gated,
        call,
        regression: call == Call::Regression,
        improvement: call == Call::Improvement,
    }
}

/// A move from `from` to `to` (higher is worse), with the upper end of the interval around
/// `from` and the lower end of the interval around `to`.
#[derive(Debug, Clone, Copy)]
struct Shift {
    from: f64,
    to: f64,
    from_hi: f64,
    to_lo: f64,
}

impl Shift {
    /// `Ok` when the move is beyond tolerance, minimum change and noise, else the first rule
    /// it does not pass.
    fn beyond(self, tolerance: f64, min_delta: f64) -> Result<(), Call> {
        if self.to <= self.from * (1.0 + tolerance) {
            Err(Call::WithinTolerance)
        } else if self.to - self.from <= min_delta {
            Err(Call::BelowMinDelta)
        } else if self.to_lo <= self.from_hi {
            Err(Call::WithinNoise)
        } else {
            Ok(())
        }
    }
}

/// Regression when `worse` passes every rule, improvement when `better` does; otherwise the
/// rule that stopped the change in the direction it went.
fn judge(worse: Shift, better: Shift, tolerance: f64, min_delta: f64) -> Call {
    match (
        worse.beyond(tolerance, min_delta),
        better.beyond(tolerance, min_delta),
    ) {
        (Ok(()), _) => Call::Regression,
        (_, Ok(())) => Call::Improvement,
        (Err(w), Err(b)) => {
            if worse.to >= worse.from {
                w
            } else {
                b
            }
        }
    }
}

fn failed(s: &Summary) -> u64 {
    s.errors + s.check_failed
}

fn error_comparison(
    base: Option<&Summary>,
    cand: Option<&Summary>,
    gated: bool,
    opts: &CompareOptions,
) -> ErrorComparison {
    let rate = |s: &Summary| (s.requests > 0).then(|| failed(s) as f64 / s.requests as f64);
    let wilson = |s: &Summary| wilson(failed(s), s.requests, opts.z);
    let base_rate = base.and_then(rate);
    let candidate_rate = cand.and_then(rate);
    let mut out = ErrorComparison {
        base_failed: base.map(failed),
        base_requests: base.map(|s| s.requests),
        candidate_failed: cand.map(failed),
        candidate_requests: cand.map(|s| s.requests),
        base_rate,
        candidate_rate,
        delta: None,
        delta_rel: None,
        base_ci: base.and_then(wilson),
        candidate_ci: cand.and_then(wilson),
        z: None,
        p_value: None,
        gated,
        call: Call::NoData,
        regression: false,
        improvement: false,
    };
    let (Some(b), Some(c), Some(pb), Some(pc)) = (base, cand, base_rate, candidate_rate) else {
        if !gated {
            out.call = Call::NotGated;
        }
        return out;
    };
    let z = two_proportion_z(failed(b), b.requests, failed(c), c.requests);
    let p_up = 1.0 - normal_cdf(z);
    let p_down = normal_cdf(z);
    out.delta = Some(pc - pb);
    out.delta_rel = (pb > 0.0).then(|| (pc - pb) / pb);
    out.z = Some(z);
    out.p_value = Some(if pc >= pb { p_up } else { p_down });
    let rules = |from: f64, to: f64, p: f64| -> Result<(), Call> {
        if to <= from * (1.0 + opts.tolerance) {
            Err(Call::WithinTolerance)
        } else if to - from < opts.error_min_delta - 1e-12 {
            Err(Call::BelowMinDelta)
        } else if p >= opts.error_alpha {
            Err(Call::WithinNoise)
        } else {
            Ok(())
        }
    };
    out.call = if !gated {
        Call::NotGated
    } else {
        match (rules(pb, pc, p_up), rules(pc, pb, p_down)) {
            (Ok(()), _) => Call::Regression,
            (_, Ok(())) => Call::Improvement,
            (Err(w), Err(d)) => {
                if pc >= pb {
                    w
                } else {
                    d
                }
            }
        }
    };
    out.regression = out.call == Call::Regression;
    out.improvement = out.call == Call::Improvement;
    out
}

fn verdict(
    base: &RunResult,
    cand: &RunResult,
    overall: &RowComparison,
    endpoints: &[RowComparison],
    same_endpoints: bool,
) -> CompareVerdict {
    let mut v = CompareVerdict::default();
    for r in endpoints.iter().chain(std::iter::once(overall)) {
        for m in &r.latency {
            if m.regression {
                v.reasons.push(latency_line(&r.name, m));
            } else if m.improvement {
                v.improvements.push(latency_line(&r.name, m));
            }
        }
        if r.error_rate.regression {
            v.reasons.push(error_line(&r.name, &r.error_rate));
        } else if r.error_rate.improvement {
            v.improvements.push(error_line(&r.name, &r.error_rate));
        }
    }
    v.regressed = !v.reasons.is_empty();
    for r in endpoints {
        match r.presence {
            Presence::Added => v.notes.push(format!(
                "{}: only in the candidate (added), not compared",
                r.name
            )),
            Presence::Removed => v.notes.push(format!(
                "{}: only in the baseline (removed), not compared",
                r.name
            )),
            Presence::Both => {
                if r.latency.iter().any(|m| m.gated && m.call == Call::NoData) {
                    v.notes.push(format!(
                        "{}: no responses in one of the runs, latency not compared",
                        r.name
                    ));
                }
            }
        }
    }
    if !same_endpoints {
        v.notes.push(format!(
            "{OVERALL}: not gated, because the runs do not have the same endpoints"
        ));
    }
    for (which, r) in [("baseline", base), ("candidate", cand)] {
        if r.run.status != RunStatus::Complete {
            v.notes.push(format!(
                "the {which} run {} did not complete ({})",
                r.run.id,
                r.run
                    .stop_reason
                    .as_ref()
                    .map_or_else(|| "stopped early".into(), ToString::to_string)
            ));
        }
    }
    v
}

/// `ms` with a precision that suits the value: `0.85 ms`, `12.3 ms`, `1520 ms`.
fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 1000.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn latency_line(row: &str, m: &MetricComparison) -> String {
    let (Some(b), Some(c), Some(d)) = (m.base_us, m.candidate_us, m.delta_us) else {
        return format!("{row}: {}", m.metric);
    };
    let rel = m
        .delta_rel
        .map(|r| format!("{:+.1} %, ", r * 100.0))
        .unwrap_or_default();
    let sign = if d >= 0 { "+" } else { "-" };
    let ci = match (m.base_ci_us, m.candidate_ci_us) {
        (Some(bi), Some(ci)) => format!(
            "; 95 % CI [{}, {}] vs [{}, {}]",
            ms(bi.lo),
            ms(bi.hi),
            ms(ci.lo),
            ms(ci.hi)
        ),
        _ => String::new(),
    };
    format!(
        "{row}: {} {} → {} ({rel}{sign}{}{ci})",
        m.metric,
        ms(b),
        ms(c),
        ms(d.unsigned_abs())
    )
}

fn error_line(row: &str, e: &ErrorComparison) -> String {
    let pct = |r: Option<f64>| format!("{:.2} %", r.unwrap_or(0.0) * 100.0);
    let p = match e.p_value {
        Some(p) if p < 0.001 => "p < 0.001".to_string(),
        Some(p) => format!("p = {p:.3}"),
        None => String::new(),
    };
    format!(
        "{row}: error rate {} → {} ({:+.2} pp; z = {:.2}, {p})",
        pct(e.base_rate),
        pct(e.candidate_rate),
        e.delta.unwrap_or(0.0) * 100.0,
        e.z.unwrap_or(0.0),
    )
}

mod setup;
pub use setup::{setup_differences, target_differences};

#[cfg(test)]
mod tests;
