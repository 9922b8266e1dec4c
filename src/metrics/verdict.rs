//! The verdict of a run against its targets: one outcome per target, each with the measured
//! value, the margin, the baseline and the improvement, and pass / fail / not measured.
//!
//! A serde type, written to `summary.json` and read by every report, so a saved folder is
//! enough to show the verdict again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::result::{CellInfo, CheckResult, RunResult, Summary};
use super::window::WindowData;

pub mod abort;

/// Version of the `summary.json` layout.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// Outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    Pass,
    Fail,
    /// The run produced no sample of the metric (a typo must not turn a gate green): this
    /// fails the verdict too.
    NotMeasured,
}

/// Unit of a target's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Microseconds.
    Us,
    /// A share in [0, 1] (error rate, checks passed).
    Ratio,
    /// Requests per second.
    PerSecond,
    /// A count (users).
    Count,
    /// Thousandths of a plain number: a custom metric without a time unit, as stored.
    Thousandths,
}

/// One target and how the run did against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOutcome {
    /// As written, e.g. `p95 < 100ms`, `p99(step="product detail") < 250ms`.
    pub expression: String,
    /// Where it came from: `scenario`, `targets file <path>`, or `preset phase9: <KPI>`.
    pub source: String,
    /// The metric and aggregate: `response_time.p95`, `service_time.p95`, `error_rate`, `rps`.
    pub metric: String,
    /// `overall`, `step=<name>`, `scenario=<name>`, or `tag=<tag>`.
    pub scope: String,
    /// `whole run`, or `after 30s`.
    pub window: String,
    /// `<`, `<=`, `>`, `>=`.
    pub op: String,
    pub threshold: f64,
    pub unit: Unit,
    /// What the run measured; `None` when the metric had no samples.
    pub measured: Option<f64>,
    /// Headroom as a share of the threshold: positive when passing (`0.2` = 20 % to spare).
    pub margin: Option<f64>,
    /// Pre-optimisation baseline, when the target has one (Phase 9 preset).
    pub baseline: Option<f64>,
    /// Improvement over the baseline, percent (positive = better).
    pub improvement_pct: Option<f64>,
    /// Improvement the plan asked for, percent.
    pub improvement_goal_pct: Option<f64>,
    pub status: TargetStatus,
    /// One sentence for people, e.g. `p95 of GET /api/products is 23.1 ms, limit 100 ms`.
    pub detail: String,
    /// The run whose measurement is the baseline (`--baseline DIR`: the same metric over
    /// the same requests in that earlier run); absent: the plan's figure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_run: Option<String>,
}

/// The verdict of a run (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub schema_version: u32,
    /// Run folder name.
    pub run_id: String,
    /// True when every target passed (no fail, nothing unmeasured) and the run did not
    /// fail on its own (`run_failed`). A run with no targets passes unless no
    /// request succeeded.
    pub passed: bool,
    pub targets: Vec<TargetOutcome>,
    /// Why the run failed whatever its targets say: a run without targets in which no
    /// request succeeded. Absent when it did not (and in a `summary.json` from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_failed: Option<RunFailure>,
}

/// A run that failed by a rule built into Skein rather than by a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFailure {
    pub kind: RunFailureKind,
    /// In words, for people: `no request succeeded (1234 requests: 1234 connection_refused)`.
    pub detail: String,
}

/// Which built-in rule a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunFailureKind {
    /// The run had no targets and not one request was ok: every request was an error
    /// (refused, timed out, 4xx/5xx, could not be built) or failed a check, or none was
    /// made. A run with targets is judged by them alone.
    NoRequestSucceeded,
}

impl Verdict {
    pub fn failed(&self) -> impl Iterator<Item = &TargetOutcome> {
        self.targets
            .iter()
            .filter(|t| t.status != TargetStatus::Pass)
    }
}

/// A target to evaluate: what the scenario's `targets:` say, in the terms of the measurements
/// (`scenario::TargetPlan` holds one, with where it was written).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// As written, e.g. `p95(tag="api") < 100ms`.
    pub expression: String,
    /// Where it came from: `scenario`, `targets file <path>`, or `preset phase9: <KPI>`.
    pub source: String,
    pub metric: Metric,
    /// The statistic, for distributions (response time, a Server-Timing entry).
    pub aggregate: Option<Aggregate>,
    pub scope: Scope,
    /// Window start: only intervals starting at or after it count. `None`: the whole run.
    pub after_us: Option<u64>,
    pub op: Op,
    /// The bound, in `unit`.
    pub threshold: f64,
    pub unit: Unit,
    /// Stop the run once the target is lost (the engine's business; carried here).
    pub abort_on_fail: bool,
    pub grace_us: Option<u64>,
    /// Value before optimisation, in `unit`.
    pub baseline: Option<f64>,
    /// Improvement over the baseline asked for, percent.
    pub improvement_goal_pct: Option<f64>,
}

/// What a target measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// What a user waits (`result.json`'s `response_time`): from the intended start in the
    /// open model, corrected for coordinated omission in the closed one.
    ResponseTime,
    /// Raw time from sending the request to the last byte (`service_time`).
    ServiceTime,
    /// (errors + failed checks) / requests.
    ErrorRate,
    /// Share of checks passed.
    Checks,
    Rps,
    /// Peak concurrent users.
    Users,
    /// An entry of the `Server-Timing` response header, e.g. `db`: the `dur` of each such
    /// entry the responses sent (`result.json`'s `server_timing`).
    ServerTiming(String),
    /// A custom metric's number of values recorded (`count(metric="NAME")`).
    Values,
    /// A custom metric's sum (`sum(metric="NAME")`), in its stored unit.
    Sum,
    /// Share of requests that succeeded: no error, every check passed (1 - error rate).
    Availability,
    /// The longest outage window ([`crate::metrics::availability`]): a span in which no
    /// request succeeded, µs; 0 when there was none. All requests only.
    MaxOutage,
    /// A Lighthouse category score (×100, `lighthouse.performance`) or page metric (`lcp`,
    /// `fcp`, `tbt`, `speed_index`, `tti` in µs; `cls` in thousandths), of the audits in
    /// `result.json`'s `lighthouse`: the worst of the pages and moments selected.
    Lighthouse(super::lighthouse::LighthouseQuery),
}

impl Metric {
    /// Whether a smaller value is better (times, errors).
    pub fn lower_is_better(&self) -> bool {
        matches!(
            self,
            Metric::ResponseTime
                | Metric::ServiceTime
                | Metric::ServerTiming(_)
                | Metric::ErrorRate
                | Metric::MaxOutage
        ) || matches!(self, Metric::Lighthouse(q) if q.lower_is_better())
    }
}

/// Statistic of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Mean,
    Max,
    /// In (0, 100), e.g. `99.9`.
    Percentile(f64),
}

impl Aggregate {
    /// `mean`, `max`, `p95`, `p99.9`.
    pub fn name(self) -> String {
        match self {
            Aggregate::Mean => "mean".into(),
            Aggregate::Max => "max".into(),
            Aggregate::Percentile(p) => format!("p{}", trim(p, 3)),
        }
    }
}

/// Which requests a target looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Overall,
    Step(String),
    Scenario(String),
    Tag(String),
    /// A `group:` block's duration: its GROUP cells
    /// ([`GROUP_METHOD`](crate::metrics::GROUP_METHOD)) of that name.
    Group(String),
    /// A custom metric (`metric="NAME"`): its cells, whatever scenario.
    Metric(String),
}

/// Comparison: measured `op` threshold must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn holds(self, measured: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => measured < threshold,
            Op::Le => measured <= threshold,
            Op::Gt => measured > threshold,
            Op::Ge => measured >= threshold,
        }
    }
}

impl Target {
    /// `response_time.p95`, `service_time.p99`, `error_rate`, `server_timing.db.mean`.
    pub fn metric_name(&self) -> String {
        let agg = self.aggregate.unwrap_or(Aggregate::Mean).name();
        match &self.metric {
            Metric::ResponseTime => format!("response_time.{agg}"),
            Metric::ServiceTime => format!("service_time.{agg}"),
            Metric::ServerTiming(n) => format!("server_timing.{n}.{agg}"),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Checks => "checks".into(),
            Metric::Rps => "rps".into(),
            Metric::Users => "users".into(),
            Metric::Values => "count".into(),
            Metric::Sum => "sum".into(),
            Metric::Availability => "availability".into(),
            Metric::MaxOutage => "max_outage".into(),
            Metric::Lighthouse(q) => q.label(),
        }
    }

    /// `overall`, `step=<name>`, `scenario=<name>`, `tag=<tag>`.
    pub fn scope_name(&self) -> String {
        match &self.scope {
            Scope::Overall => "overall".into(),
            Scope::Step(n) => format!("step={n}"),
            Scope::Scenario(n) => format!("scenario={n}"),
            Scope::Tag(n) => format!("tag={n}"),
            Scope::Group(n) => format!("group={n}"),
            Scope::Metric(n) => format!("metric={n}"),
        }
    }

    /// `whole run`, or `after 30s`.
    pub fn window_name(&self) -> String {
        match self.after_us {
            None => "whole run".into(),
            Some(us) => format!("after {}", fmt_duration(us)),
        }
    }
}

/// What a set of requests measured.
#[derive(Debug, Default)]
struct Tally {
    /// Response times.
    hist: Hist,
    /// Service times (empty for a run from before they were recorded).
    service: Hist,
    requests: u64,
    /// Errors and failed checks.
    failed: u64,
    checks_passed: u64,
    checks_total: u64,
    secs: f64,
    users: Option<u64>,
    /// The `Server-Timing` entry a target reads, and its samples.
    server_timing: Option<(String, Hist)>,
    /// Bytes received; a custom metric's sum.
    bytes: u64,
}

impl Tally {
    /// Add a `Server-Timing` histogram of entry `name` if the tally reads it.
    fn add_server_timing(&mut self, name: &str, h: &Hist) {
        if let Some((n, sum)) = self.server_timing.as_mut()
            && n == name
        {
            sum.add(h);
        }
    }

    fn add_summary(&mut self, s: &Summary) -> Result<(), String> {
        let h = s
            .response_time
            .hist()
            .map_err(|e| format!("its stored histogram is unreadable ({e})"))?;
        self.hist.add(&h);
        // Runs from before service times were recorded have none: left empty.
        if !s.service_time.histogram.trim().is_empty() {
            let h = s
                .service_time
                .hist()
                .map_err(|e| format!("its stored service-time histogram is unreadable ({e})"))?;
            self.service.add(&h);
        }
        self.requests += s.requests;
        self.bytes += s.bytes;
        self.failed += s.errors + s.check_failed;
        if let Some((name, _)) = &self.server_timing
            && let Some(l) = s.server_timing.get(name.as_str())
        {
            let h = l.hist().map_err(|e| {
                format!("its stored Server-Timing histogram \"{name}\" is unreadable ({e})")
            })?;
            let name = name.clone();
            self.add_server_timing(&name, &h);
        }
        Ok(())
    }

    fn add_checks<'a>(&mut self, checks: impl IntoIterator<Item = &'a CheckResult>) {
        for c in checks {
            self.checks_passed += c.passed;
            self.checks_total += c.passed + c.failed;
        }
    }
}

/// The verdict of the run in `dir` against `targets`: totals from its `result.json`,
/// windows from its interval journal and log.
pub fn evaluate_dir(
    dir: &std::path::Path,
    targets: &[Target],
) -> Result<Verdict, super::MetricsError> {
    let result = super::load_result(dir)?;
    let windows = WindowData::from_dir(dir)?;
    Ok(evaluate(&result, &windows, targets))
}

/// Evaluate `targets` on a run: whole-run targets on the totals of `result.json`, windowed
/// ones on the intervals in `windows` that start at or after the window's start. A target
/// whose metric the run did not produce is [`TargetStatus::NotMeasured`], which fails the
/// verdict like a miss.
///
/// A run without targets is judged by one built-in rule: it fails when no request
/// succeeded ([`RunFailureKind::NoRequestSucceeded`]), so that a run against a dead or
/// refusing target never passes silently.
pub fn evaluate(result: &RunResult, windows: &WindowData, targets: &[Target]) -> Verdict {
    let outcomes: Vec<TargetOutcome> = targets
        .iter()
        .map(|t| outcome(t, measure(result, windows, t)))
        .collect();
    // A run stopped (Ctrl-C) before it made any request has nothing to judge: it is an
    // interruption, not a failure.
    let stopped_before_any =
        result.run.status == super::RunStatus::Interrupted && result.overall.requests == 0;
    let run_failed = if targets.is_empty() && !stopped_before_any {
        no_request_succeeded(&result.overall)
    } else {
        None
    };
    Verdict {
        schema_version: SUMMARY_SCHEMA_VERSION,
        run_id: result.run.id.clone(),
        passed: run_failed.is_none() && outcomes.iter().all(|o| o.status == TargetStatus::Pass),
        targets: outcomes,
        run_failed,
    }
}

/// The built-in rule of a run without targets: at least one request must succeed. `None`
/// when one did; otherwise what happened to the requests, largest share first:
/// `no request succeeded (1234 requests: 1200 connection_refused, 34 failed a check)`.
fn no_request_succeeded(all: &Summary) -> Option<RunFailure> {
    if all.ok > 0 {
        return None;
    }
    let detail = if all.requests == 0 {
        "no request succeeded: none was made".to_string()
    } else {
        let mut parts: Vec<(u64, String)> = all
            .errors_by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (*n, format!("{n} {k}")))
            .collect();
        if all.check_failed > 0 {
            parts.push((
                all.check_failed,
                format!("{} failed a check", all.check_failed),
            ));
        }
        // Errors counted without a kind (a result from an older Skein) still add up.
        let named: u64 = parts.iter().map(|(n, _)| n).sum();
        let other = (all.errors + all.check_failed).saturating_sub(named);
        if other > 0 {
            parts.push((other, super::plural(other, "other error")));
        }
        parts.sort_by_key(|p| std::cmp::Reverse(p.0));
        let parts: Vec<String> = parts.into_iter().map(|(_, p)| p).collect();
        let requests = super::plural(all.requests, "request");
        if parts.is_empty() {
            format!("no request succeeded ({requests})")
        } else {
            format!("no request succeeded ({requests}: {})", parts.join(", "))
        }
    };
    Some(RunFailure {
        kind: RunFailureKind::NoRequestSucceeded,
        detail,
    })
}

/// The value of `t`'s metric, or why there is none.
fn measure(result: &RunResult, windows: &WindowData, t: &Target) -> Result<f64, String> {
    if let Metric::Lighthouse(q) = &t.metric {
        return super::lighthouse::measure(result.lighthouse.as_ref(), q);
    }
    if t.metric == Metric::Users && t.scope != Scope::Overall {
        return Err("users are counted for the whole run only".into());
    }
    if t.metric == Metric::MaxOutage {
        return max_outage(result, t);
    }
    let cells = cells_of(result, &t.scope)?;
    let reads = match &t.metric {
        Metric::ServerTiming(name) => Some((name.clone(), Hist::new())),
        _ => None,
    };
    let tally = match t.after_us {
        None => whole_run(result, windows, &t.scope, &cells, reads)?,
        Some(after) => window(result, windows, &cells, after, reads)?,
    };
    let agg = t.aggregate.unwrap_or(Aggregate::Mean);
    let of = |h: &Hist| match agg {
        Aggregate::Mean => h.mean(),
        Aggregate::Max => h.max() as f64,
        Aggregate::Percentile(p) => h.quantile(p / 100.0) as f64,
    };
    match &t.metric {
        Metric::ResponseTime if tally.hist.is_empty() => Err("no response was recorded".into()),
        Metric::ResponseTime => Ok(of(&tally.hist)),
        Metric::ServiceTime if tally.service.is_empty() && !tally.hist.is_empty() => Err(
            "no service time was recorded (a run from a Skein that recorded response times only)"
                .into(),
        ),
        Metric::ServiceTime if tally.service.is_empty() => Err("no response was recorded".into()),
        Metric::ServiceTime => Ok(of(&tally.service)),
        Metric::ErrorRate | Metric::Rps | Metric::Availability if tally.requests == 0 => {
            Err("no request was made".into())
        }
        Metric::Availability => Ok(1.0 - tally.failed as f64 / tally.requests as f64),
        Metric::MaxOutage => max_outage(result, t),
        Metric::ErrorRate => Ok(tally.failed as f64 / tally.requests as f64),
        Metric::Rps if tally.secs <= 0.0 => Err("the run measured no time".into()),
        Metric::Rps => Ok(tally.requests as f64 / tally.secs),
        Metric::Checks if tally.checks_total == 0 => Err("no check ran".into()),
        Metric::Checks => Ok(tally.checks_passed as f64 / tally.checks_total as f64),
        Metric::Users => tally
            .users
            .map(|u| u as f64)
            .ok_or_else(|| "no interval was recorded".into()),
        Metric::Values => Ok(tally.hist.count() as f64),
        Metric::Sum => Ok(tally.bytes as f64),
        Metric::ServerTiming(name) => match &tally.server_timing {
            Some((_, h)) if !h.is_empty() => Ok(of(h)),
            _ if tally.requests == 0 => Err("no request was made".into()),
            _ => Err(format!(
                "no response carried a Server-Timing entry \"{name}\" with a duration"
            )),
        },
        // Read before the tally, at the top.
        Metric::Lighthouse(q) => super::lighthouse::measure(result.lighthouse.as_ref(), q),
    }
}

/// The longest outage of the run (after the target's window start), µs.
fn max_outage(result: &RunResult, t: &Target) -> Result<f64, String> {
    if t.scope != Scope::Overall {
        return Err("outages are measured over all requests only".into());
    }
    let a = result.availability.as_ref().ok_or(
        "the run has no outage windows (a result rebuilt from its journal, or from an \
         older Skein)",
    )?;
    if a.requests == 0 {
        return Err("no request was made".into());
    }
    let longest = a
        .outages_after(t.after_us.unwrap_or(0))
        .map(|o| o.duration_us)
        .max()
        .unwrap_or(0);
    Ok(longest as f64)
}

/// The cells a scope selects; none is a reason for "not measured".
fn cells_of<'a>(result: &'a RunResult, scope: &Scope) -> Result<Vec<&'a CellInfo>, String> {
    let cells: Vec<&CellInfo> = result
        .cells
        .iter()
        .filter(|c| match scope {
            // A page view, a group, a custom metric... are not requests: they stay out of
            // the totals.
            Scope::Overall => c.is_request(),
            Scope::Step(n) => &c.step == n,
            Scope::Scenario(n) => &c.scenario == n && c.counts_in_scenario(),
            Scope::Tag(n) => c.tags.contains(n),
            Scope::Group(n) => c.method == crate::metrics::GROUP_METHOD && &c.step == n,
            Scope::Metric(n) => &c.step == n && c.method == super::METRIC_METHOD,
        })
        .collect();
    if cells.is_empty() {
        return Err(match scope {
            Scope::Overall => "the run recorded no step".into(),
            Scope::Step(n) => format!("no step named \"{n}\" ran"),
            Scope::Scenario(n) => format!("no scenario named \"{n}\" ran"),
            Scope::Tag(n) => format!("no step tagged \"{n}\" ran"),
            Scope::Group(n) => format!("no group named \"{n}\" ran"),
            Scope::Metric(n) => format!("no step recorded metric \"{n}\""),
        });
    }
    Ok(cells)
}

/// Totals from `result.json`: its rows, merged for a tag. A step name whose cells are tagged
/// in some scenarios only is summed from the intervals (the totals equal their sum).
fn whole_run(
    result: &RunResult,
    windows: &WindowData,
    scope: &Scope,
    cells: &[&CellInfo],
    server_timing: Option<(String, Hist)>,
) -> Result<Tally, String> {
    let mut tally = Tally {
        secs: result.run.duration_us as f64 / 1e6,
        users: (result.run.peak_users > 0 || !result.timeseries.is_empty())
            .then_some(result.run.peak_users),
        server_timing,
        ..Tally::default()
    };
    let missing = |what: &str, n: &str| format!("result.json has no row for {what} \"{n}\"");
    match scope {
        Scope::Overall => {
            tally.add_summary(&result.overall)?;
            tally.add_checks(result.steps.iter().flat_map(|s| &s.checks));
        }
        Scope::Step(n) | Scope::Group(n) => {
            let row = result.step(n).ok_or_else(|| missing("step", n))?;
            tally.add_summary(&row.summary)?;
            tally.add_checks(&row.checks);
        }
        Scope::Metric(n) => {
            let row = result
                .steps
                .iter()
                .find(|s| &s.name == n && s.method == super::METRIC_METHOD)
                .ok_or_else(|| missing("metric", n))?;
            tally.add_summary(&row.summary)?;
        }
        Scope::Scenario(n) => {
            let row = result
                .scenarios
                .iter()
                .find(|s| &s.name == n)
                .ok_or_else(|| missing("scenario", n))?;
            tally.add_summary(&row.summary)?;
            let checks = result.steps.iter().flat_map(|s| &s.checks);
            tally.add_checks(checks.filter(|c| &c.scenario == n));
        }
        Scope::Tag(tag) => {
            let mut split: Vec<&CellInfo> = Vec::new();
            let mut names: Vec<&str> = Vec::new();
            for c in cells {
                if !names.contains(&c.step.as_str()) {
                    names.push(&c.step);
                }
            }
            for name in names {
                let row = result.step(name).ok_or_else(|| missing("step", name))?;
                let all_tagged = result
                    .cells
                    .iter()
                    .filter(|c| c.step == name)
                    .all(|c| c.tags.contains(tag));
                if all_tagged {
                    tally.add_summary(&row.summary)?;
                } else {
                    split.extend(cells.iter().filter(|c| c.step == name));
                }
                let scenarios: Vec<&str> = cells
                    .iter()
                    .filter(|c| c.step == name)
                    .map(|c| c.scenario.as_str())
                    .collect();
                tally.add_checks(
                    row.checks
                        .iter()
                        .filter(|k| scenarios.contains(&k.scenario.as_str())),
                );
            }
            if !split.is_empty() {
                if windows.intervals.is_empty() {
                    return Err(format!(
                        "step \"{}\" is tagged in some scenarios only and the interval data \
                         needed to split it is missing",
                        split[0].step
                    ));
                }
                let ids: Vec<usize> = split.iter().map(|c| c.id).collect();
                for cell in windows.intervals.iter().flat_map(|i| &i.cells) {
                    if ids.contains(&cell.cell) {
                        tally.hist.add(&cell.hist);
                        tally.service.add(&cell.service);
                        tally.requests += cell.requests;
                        tally.failed += cell.errors + cell.check_failed;
                        for (name, h) in &cell.server_timing {
                            tally.add_server_timing(name, h);
                        }
                    }
                }
            }
        }
    }
    Ok(tally)
}

/// Sums over the intervals starting at or after `after_us`, for the cells of a scope.
fn window(
    result: &RunResult,
    windows: &WindowData,
    cells: &[&CellInfo],
    after_us: u64,
    server_timing: Option<(String, Hist)>,
) -> Result<Tally, String> {
    let ids: Vec<usize> = cells.iter().map(|c| c.id).collect();
    let mut tally = Tally {
        server_timing,
        ..Tally::default()
    };
    let mut any = false;
    let mut duration_us = 0;
    for i in windows.starting_at(after_us) {
        any = true;
        duration_us += i.duration_us;
        tally.users = Some(tally.users.unwrap_or(0).max(i.users));
        for c in i.cells.iter().filter(|c| ids.contains(&c.cell)) {
            tally.hist.add(&c.hist);
            tally.service.add(&c.service);
            tally.requests += c.requests;
            // A custom metric's sum over a window: from its histogram (3 digits).
            tally.bytes += (c.hist.mean() * c.hist.count() as f64).round() as u64;
            tally.failed += c.errors + c.check_failed;
            for (name, h) in &c.server_timing {
                tally.add_server_timing(name, h);
            }
            let labels = result.cells.get(c.cell).map_or(0, |x| x.checks.len()) as u64;
            let failures: u64 = c.check_failures.iter().sum();
            let total = labels * c.responses();
            tally.checks_total += total;
            tally.checks_passed += total.saturating_sub(failures);
        }
    }
    if !any {
        return Err(if windows.intervals.is_empty() {
            "no interval data was read (intervals.jsonl)".into()
        } else {
            format!(
                "the run has no interval starting at or after {}",
                fmt_duration(after_us)
            )
        });
    }
    tally.secs = duration_us as f64 / 1e6;
    Ok(tally)
}

/// A target's outcome from its measurement (or the reason there is none).
fn outcome(t: &Target, measured: Result<f64, String>) -> TargetOutcome {
    let value = measured.as_ref().ok().copied();
    let status = match value {
        None => TargetStatus::NotMeasured,
        Some(m) if t.op.holds(m, t.threshold) => TargetStatus::Pass,
        Some(_) => TargetStatus::Fail,
    };
    let margin = value.and_then(|m| {
        (t.threshold != 0.0).then(|| match t.op {
            Op::Lt | Op::Le => (t.threshold - m) / t.threshold,
            Op::Gt | Op::Ge => (m - t.threshold) / t.threshold,
        })
    });
    let improvement_pct = match (value, t.baseline) {
        (Some(m), Some(b)) if b != 0.0 => Some(if t.metric.lower_is_better() {
            (b - m) / b * 100.0
        } else {
            (m / b - 1.0) * 100.0
        }),
        _ => None,
    };
    let detail = detail(t, &measured, improvement_pct);
    TargetOutcome {
        expression: t.expression.clone(),
        source: t.source.clone(),
        metric: t.metric_name(),
        scope: t.scope_name(),
        window: t.window_name(),
        op: t.op.symbol().into(),
        threshold: t.threshold,
        unit: t.unit,
        measured: value,
        margin,
        baseline: t.baseline,
        improvement_pct,
        improvement_goal_pct: t.improvement_goal_pct,
        status,
        detail,
        baseline_run: None,
    }
}

/// [`evaluate`], with every target's baseline taken from an earlier run `before` (its
/// result and intervals) instead of the plan's figures: the same metric, scope and window
/// measured there. A target that run cannot measure has no baseline.
pub fn evaluate_with_baseline(
    result: &RunResult,
    windows: &WindowData,
    targets: &[Target],
    before: Option<(&RunResult, &WindowData)>,
) -> Verdict {
    let Some((b, bw)) = before else {
        return evaluate(result, windows, targets);
    };
    let rebased: Vec<Target> = targets
        .iter()
        .map(|t| Target {
            baseline: measure(b, bw, t).ok(),
            ..t.clone()
        })
        .collect();
    let mut v = evaluate(result, windows, &rebased);
    for o in &mut v.targets {
        o.baseline_run = Some(b.run.id.clone());
    }
    v
}

/// One sentence that names the latency judged: `p95 response time of step "GET /api/products/ID"
/// is 23.1 ms (limit < 250 ms)`, `p95 service time of all requests is ...`.
fn detail(t: &Target, measured: &Result<f64, String>, improvement: Option<f64>) -> String {
    let agg = t.aggregate.unwrap_or(Aggregate::Mean).name();
    let what = match &t.metric {
        Metric::ResponseTime if matches!(t.scope, Scope::Metric(_)) => agg.clone(),
        Metric::ResponseTime => format!("{agg} response time"),
        Metric::ServiceTime => format!("{agg} service time"),
        Metric::ServerTiming(n) => format!("{agg} of Server-Timing \"{n}\""),
        Metric::ErrorRate => "error rate".into(),
        Metric::Checks => "share of checks passed".into(),
        Metric::Rps => "throughput".into(),
        Metric::Users => "peak concurrent users".into(),
        Metric::Values => "number of values".into(),
        Metric::Sum => "sum".into(),
        Metric::Availability => "availability".into(),
        Metric::MaxOutage => "longest outage".into(),
        Metric::Lighthouse(q) => super::lighthouse::detail_what(q),
    };
    let of = match &t.scope {
        Scope::Overall if t.metric == Metric::Users => String::new(),
        Scope::Overall if t.metric == Metric::MaxOutage => String::new(),
        Scope::Overall if let Metric::Lighthouse(q) = &t.metric => super::lighthouse::detail_of(q),
        Scope::Overall => " of all requests".into(),
        Scope::Step(n) => format!(" of step \"{n}\""),
        Scope::Scenario(n) => format!(" of scenario \"{n}\""),
        Scope::Tag(n) => format!(" of steps tagged \"{n}\""),
        Scope::Group(n) => format!(" of group \"{n}\""),
        Scope::Metric(n) => format!(" of metric \"{n}\""),
    };
    let when = match t.after_us {
        None => String::new(),
        Some(us) => format!(" after {}", fmt_duration(us)),
    };
    let limit = format!("{} {}", t.op.symbol(), fmt_value(t.unit, t.threshold));
    let m = match measured {
        Ok(m) => m,
        Err(why) => return format!("{what}{of}{when}: not measured, {why} (limit {limit})"),
    };
    let mut s = format!(
        "{what}{of}{when} is {} (limit {limit})",
        fmt_value(t.unit, *m)
    );
    if let (Some(b), Some(i)) = (t.baseline, improvement) {
        let word = match (t.metric.lower_is_better(), i >= 0.0) {
            (true, true) => "better",
            (true, false) => "worse",
            (false, true) => "more",
            (false, false) => "less",
        };
        s.push_str(&format!(
            "; baseline {}, {} % {word}",
            fmt_value(t.unit, b),
            trim(i.abs(), 1)
        ));
        if let Some(g) = t.improvement_goal_pct {
            s.push_str(&format!(" (goal {} %)", trim(g, 1)));
        }
    }
    s
}

/// `23.1 ms`, `1.25 s`, `0.1 %`, `500/s`, `1000`.
fn fmt_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Us if v.abs() >= 1e6 => format!("{} s", trim(v / 1e6, 2)),
        Unit::Us if v.abs() < 10_000.0 => format!("{} ms", trim(v / 1e3, 2)),
        Unit::Us => format!("{} ms", trim(v / 1e3, 1)),
        Unit::Ratio => format!("{} %", trim(v * 100.0, 3)),
        Unit::PerSecond => format!("{}/s", trim(v, 1)),
        Unit::Count => trim(v, 0),
        Unit::Thousandths => trim(v / 1000.0, 3),
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `30s`, `1500ms`, `250us`.
fn fmt_duration(us: u64) -> String {
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

#[cfg(test)]
mod tests;
