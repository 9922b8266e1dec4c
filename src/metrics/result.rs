//! `result.json`: everything a report needs, schema-versioned.
//!
//! Every duration is an integer number of microseconds in a key ending `_us`. Histograms are
//! stored (base64 HdrHistogram V2 + DEFLATE) beside the percentiles read from them, so a
//! saved result alone is enough to re-render, compare or re-fit.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::recorder::CellData;
use super::server_timing::ServerTimingNames;

/// Version of the `result.json` layout. Bump on any incompatible change and keep a loader
/// for the old one.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole result of one run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// Layout version of this file.
    pub schema_version: u32,
    pub tool: Tool,
    pub run: RunInfo,
    /// The (scenario, step) pairs recorded, in the order of the interval log's tags.
    pub cells: Vec<CellInfo>,
    /// All requests of the run.
    pub overall: Summary,
    /// One row per step name (steps of the same name in several scenarios share a row).
    pub steps: Vec<StepResult>,
    pub scenarios: Vec<ScenarioResult>,
    /// One point per second, all steps together.
    pub timeseries: Vec<TimePoint>,
    /// The first error of each kind at each step, with its message (secrets masked).
    pub error_examples: Vec<ErrorExample>,
    /// The scenario as run, secrets redacted.
    pub scenario: serde_json::Value,
}

/// One example of an error, to tell what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorExample {
    pub scenario: String,
    pub step: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "skein".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running, or the process died before it could finish the file; the interval
    /// journal beside it has what was measured.
    Running,
    /// Ran its planned course.
    Complete,
    /// Stopped early (Ctrl-C, a signal); everything measured until then is here.
    Interrupted,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Folder name of the run: `<name>-<UTC timestamp>`.
    pub id: String,
    pub name: String,
    pub status: RunStatus,
    /// Why it stopped early, when it did.
    pub stop_reason: Option<String>,
    pub scenario_file: Option<String>,
    /// Base URL the load went to.
    pub target: String,
    /// Load model: `closed` (a number of users, each waiting for its response before it
    /// sends the next request) or `open` (iterations start on a schedule, an arrival rate,
    /// whatever the responses do).
    pub model: String,
    /// What `response_time` measures in this run: `intended_start` (open model: from the
    /// scheduled start of the iteration, queueing in the generator included) or
    /// `corrected` (closed model: corrected for coordinated omission with each user's
    /// expected interval). `service_time` is always the raw send-to-last-byte time.
    #[serde(default)]
    pub response_time_basis: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Measured length of the run.
    pub duration_us: u64,
    /// Planned length (sum of the stages).
    pub planned_duration_us: u64,
    /// Users the plan asked for at its peak.
    pub max_users: u64,
    /// Most users that were active at once.
    pub peak_users: u64,
    /// Requests still in flight when the run was cut off (not counted as requests or errors).
    pub cut_off: u64,
    /// Whether TLS certificates were verified (`tls_verify: false` turns it off).
    pub tls_verify: bool,
    pub generator: Generator,
    /// Open model: the schedule and how well it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_model: Option<OpenModelStats>,
    /// Closed model: the coordinated-omission correction applied to `response_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_correction: Option<CoCorrection>,
    /// How the generator itself fared: CPU, scheduler lag, saturation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_health: Option<GeneratorHealth>,
    /// Worker processes that generated the load (`--workers`), their measurements merged;
    /// absent for a run from one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u64>,
}

/// The open model's schedule against what happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenModelStats {
    /// Peak arrival rate the plan asks for, iterations per second.
    pub peak_rate: f64,
    /// Mean arrival rate the plan asked for over the measured time.
    pub intended_rate: f64,
    /// Iterations that started, per second of measured time.
    pub achieved_rate: f64,
    /// Iterations whose start time came during the run.
    pub scheduled: u64,
    /// Iterations that started.
    pub started: u64,
    /// Iterations that started later than `late_after_us` after their intended start
    /// (no user was free, or the generator was slow to dispatch them).
    pub late: u64,
    /// Iterations never started: they waited longer than the request timeout for a free
    /// user, or the run ended first.
    pub dropped: u64,
    /// The lateness from which a start counts as late.
    pub late_after_us: u64,
    /// Lateness of the latest start.
    pub max_lateness_us: u64,
    /// Users the pool could grow to (`max_users`).
    pub max_users: u64,
    /// Users set up before the run (`pre_allocated`).
    pub pre_allocated: u64,
    /// Most users busy with an iteration at once.
    pub peak_busy: u64,
    /// Seconds in which every user of the pool was busy and iterations queued.
    pub pool_exhausted_seconds: u64,
    /// When the schedule started, from the start of the run (after the pre-allocated users
    /// were set up); the plan's times count from here.
    #[serde(default)]
    pub schedule_offset_us: u64,
}

/// The closed model's coordinated-omission correction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoCorrection {
    /// How the expected interval is found: `think_time_plus_median_service_time` (the
    /// step's mean think time plus the step's median service time so far).
    pub method: String,
    /// Samples the correction added to the response-time histograms (requests that the
    /// users would have sent had they not been waiting on a stalled response).
    pub synthetic_samples: u64,
}

/// The generator's own health over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratorHealth {
    /// Cores the generator's runtime could use (its worker threads).
    pub cores: u64,
    /// CPU used by the generator's threads, percent of `cores` (100 = all busy), mean and
    /// highest one-second value.
    pub cpu_pct_mean: f64,
    pub cpu_pct_max: f64,
    /// The generator's scheduling lag, from a probe that every 5 ms measures how long a
    /// yielding task waits to run again plus how late its timer fired beyond the timers'
    /// 1 ms resolution: 99th percentile and maximum over the run.
    pub sched_lag_p99_us: u64,
    pub sched_lag_max_us: u64,
    /// Iteration starts delayed by the generator itself (open model: dispatched late while
    /// a user was free).
    pub late_starts: u64,
    /// Seconds judged saturated.
    pub saturated_seconds: u64,
    /// The generator, not the target, limited the load for part of the run: the numbers
    /// are a lower bound.
    pub saturated: bool,
    /// Why, in words (empty when healthy).
    pub reasons: Vec<String>,
}

/// The machine that generated the load.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: u64,
}

impl Generator {
    pub fn this_machine() -> Generator {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Generator {
            hostname,
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
        }
    }
}

/// One (scenario, step) pair: the unit of recording and the interval log's tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellInfo {
    pub id: usize,
    pub scenario: String,
    /// Step (metric) name.
    pub step: String,
    pub method: String,
    /// Tag of this cell's histograms in `latency.hlog`.
    pub tag: String,
    /// Labels of its checks, then `extract <var>` for each extraction.
    pub checks: Vec<String>,
    /// The step's tags (`tags: [api]`), which targets such as `p95(tag="api") < 100ms` select.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// [`CellInfo::method`] of a page step's page-load cell: one sample per page view (from the
/// document's start to the end of its last asset). A page view is not a request, so these
/// cells stay out of the run's totals (`overall`, the time series), which count the
/// document's and the assets' own requests.
pub const PAGE_METHOD: &str = "PAGE";

impl CellInfo {
    /// Is this a page step's page-load cell ([`PAGE_METHOD`])?
    pub fn is_page(&self) -> bool {
        self.method == PAGE_METHOD
    }
}

/// Counts and latency of a set of requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Requests completed or failed (not counting those cut off at the end of the run).
    pub requests: u64,
    /// Requests with an expected status and every check passed.
    pub ok: u64,
    /// Requests that failed in transport, or got a 4xx/5xx status from a step without a
    /// `status` check.
    pub errors: u64,
    /// Requests that got a response but failed a check (a `status` check included) or an
    /// extraction.
    pub check_failed: u64,
    /// (errors + check_failed) / requests.
    pub error_rate: f64,
    /// Requests per second over the measured duration.
    pub rps: f64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Errors by kind (`connection_refused`, `timeout`, `http_5xx`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Response time, for requests that got a response: what a user experiences, and what
    /// targets judge. Open model: from the iteration's intended start (queueing in the
    /// generator included) to the last byte. Closed model: send to last byte, corrected
    /// for coordinated omission (so `count` can exceed the responses; see
    /// `run.co_correction`).
    pub response_time: Latency,
    /// Service time: from the actual send to the last byte of the body, raw, one sample
    /// per response (what a closed-loop tool without correction reports).
    #[serde(default)]
    pub service_time: Latency,
    /// The responses' `Server-Timing` entries by name: each entry's `dur`, one sample per
    /// entry sent (a response without the entry adds nothing), µs. At most 16 names a run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_timing: BTreeMap<String, Latency>,
    /// `Server-Timing` entries that broke the header's grammar and were skipped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub server_timing_malformed: u64,
    /// `Server-Timing` entries with a duration that were not kept: names beyond the run's
    /// first 16, or beyond 16 entries in one response.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub server_timing_overflow: u64,
    /// Redirects followed (each hop counts once; the request counts once).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redirects: u64,
    /// Final responses by HTTP version, e.g. `{"HTTP/2": 1200}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_versions: BTreeMap<String, u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Latency distribution read from an HDR histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: u64,
    pub stddev_us: u64,
    pub p50_us: u64,
    pub p75_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The histogram itself: base64 of HdrHistogram V2 + DEFLATE, µs, 1 µs to 60 s, 3 digits.
    pub histogram: String,
}

impl Latency {
    pub fn from_hist(h: &Hist) -> Latency {
        Latency {
            count: h.count(),
            min_us: h.min(),
            mean_us: h.mean().round() as u64,
            stddev_us: h.stddev().round() as u64,
            p50_us: h.quantile(0.50),
            p75_us: h.quantile(0.75),
            p90_us: h.quantile(0.90),
            p95_us: h.quantile(0.95),
            p99_us: h.quantile(0.99),
            p999_us: h.quantile(0.999),
            max_us: h.max(),
            histogram: h.to_base64(),
        }
    }

    /// The stored histogram.
    pub fn hist(&self) -> Result<Hist, super::MetricsError> {
        Hist::from_base64(&self.histogram)
    }
}

impl Summary {
    /// Summarise `d` measured over `secs` seconds (without its `Server-Timing` entries,
    /// whose names are the run's: see [`Summary::from_cell_named`]).
    pub fn from_cell(d: &CellData, secs: f64) -> Summary {
        Summary::from_cell_named(d, secs, &ServerTimingNames::new())
    }

    /// Summarise `d` measured over `secs` seconds, its `Server-Timing` histograms named by
    /// `names`.
    pub fn from_cell_named(d: &CellData, secs: f64, names: &ServerTimingNames) -> Summary {
        let errors = d.error_count();
        Summary {
            requests: d.requests,
            ok: d.ok,
            errors,
            check_failed: d.check_failed,
            error_rate: if d.requests == 0 {
                0.0
            } else {
                (errors + d.check_failed) as f64 / d.requests as f64
            },
            rps: if secs > 0.0 {
                d.requests as f64 / secs
            } else {
                0.0
            },
            bytes: d.bytes,
            errors_by_kind: d.errors_by_kind(),
            response_time: Latency::from_hist(&d.hist),
            service_time: Latency::from_hist(&d.service),
            server_timing: d
                .server_timing
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.is_empty())
                .filter_map(|(id, h)| Some((names.get(id)?.to_string(), Latency::from_hist(h))))
                .collect(),
            server_timing_malformed: d.server_timing_malformed,
            server_timing_overflow: d.server_timing_overflow,
            redirects: d.redirects,
            http_versions: d.http_versions(),
        }
    }
}

/// One row per step name.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepResult {
    pub name: String,
    pub method: String,
    /// Scenarios that have a step of this name.
    pub scenarios: Vec<String>,
    #[serde(flatten)]
    pub summary: Summary,
    pub checks: Vec<CheckResult>,
    /// One point per second.
    pub timeseries: Vec<StepPoint>,
}

/// Outcome of one check (or extraction) of a step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// Scenario of the step the check belongs to.
    pub scenario: String,
    pub label: String,
    pub passed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResult {
    pub name: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One second of the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimePoint {
    /// Start of the interval, from the start of the run.
    pub t_us: u64,
    pub duration_us: u64,
    /// Users active at the end of the interval (closed model); open model: the mean number
    /// of users busy with an iteration over the interval (Little's L).
    pub users: u64,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub check_failed: u64,
    pub bytes: u64,
    pub rps: f64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Service time (raw, send to last byte) percentiles of the second.
    #[serde(default)]
    pub service_p50_us: u64,
    #[serde(default)]
    pub service_p99_us: u64,
    /// Open model: iterations due in this second, started late, and dropped.
    #[serde(default)]
    pub scheduled: u64,
    /// Open model: iterations started in this second.
    #[serde(default)]
    pub started: u64,
    #[serde(default)]
    pub late: u64,
    #[serde(default)]
    pub dropped: u64,
    /// Generator CPU, percent of its cores.
    #[serde(default)]
    pub cpu_pct: f64,
    /// Largest timer lag of the generator in this second.
    #[serde(default)]
    pub sched_lag_us: u64,
}

/// One second of one step name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepPoint {
    pub t_us: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl RunResult {
    /// The JSON Schema of `result.json` (published as `reports/result.schema.json`).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(RunResult)).unwrap_or_default()
    }

    /// Every check (or extraction) that failed at least once, with its step.
    pub fn failed_checks(&self) -> Vec<(&StepResult, &CheckResult)> {
        self.steps
            .iter()
            .flat_map(|st| st.checks.iter().map(move |c| (st, c)))
            .filter(|(_, c)| c.failed > 0)
            .collect()
    }

    /// The row of a step name.
    pub fn step(&self, name: &str) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.name == name)
    }
}
