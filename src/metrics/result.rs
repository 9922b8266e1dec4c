//! `result.json`: everything a report needs, schema-versioned.
//!
//! Every duration is an integer number of microseconds in a key ending `_us`. Histograms are
//! stored (base64 HdrHistogram V2 + DEFLATE) beside the percentiles read from them, so a
//! saved result alone is enough to re-render, compare or re-fit.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::recorder::{CellData, ErrorKind};

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
    /// Load model: `closed` (a fixed number of users, each waiting for its response).
    pub model: String,
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
    /// Time from sending the request to the last byte of the response body, for requests
    /// that got a response.
    pub response_time: Latency,
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
    /// Summarise `d` measured over `secs` seconds.
    pub fn from_cell(d: &CellData, secs: f64) -> Summary {
        let errors = d.error_count();
        let errors_by_kind = ErrorKind::ALL
            .iter()
            .zip(d.errors.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.as_str().to_string(), *n))
            .collect();
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
            errors_by_kind,
            response_time: Latency::from_hist(&d.hist),
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
    /// Users active at the end of the interval.
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
