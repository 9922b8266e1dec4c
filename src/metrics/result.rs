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

mod shard;
mod stop;
pub use shard::{HistogramSettings, MergedShards, PlannedStart, ShardInfo};
pub use stop::{NO_LATENCIES, StopReason, StopSignal};

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
    /// Custom metrics (`metrics:` and `record:`), in their own units; their cells' rows
    /// are in `steps` too (method `METRIC`, values in stored units).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_metrics: Vec<super::custom::CustomMetric>,
    /// Availability (share of requests that succeeded) and the outage windows, measured
    /// from the requests' timestamps. Absent from results rebuilt from the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<super::availability::Availability>,
    /// Lighthouse audits of the target's pages (`lighthouse:` in the scenario): scores and
    /// page metrics per page, before the load and during its hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lighthouse: Option<super::lighthouse::LighthouseResult>,
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
    #[schemars(with = "Option<String>")]
    pub stop_reason: Option<StopReason>,
    pub scenario_file: Option<String>,
    /// Base URL the load went to.
    pub target: String,
    /// Load model: `closed` (a number of users, each waiting for its response before it
    /// sends the next request) or `open` (iterations start on a schedule, an arrival rate,
    /// whatever the responses do).
    pub model: String,
    /// What `response_time` measures in this run: `intended_start` (open model: from the
    /// scheduled start of the iteration, queueing in the generator included) or `measured`
    /// (closed model: send to last byte, as measured; a closed-model user has no schedule
    /// to correct against, see `co_correction`). Runs of older versions say `corrected`:
    /// their closed-model response times hold synthetic samples. `service_time` is always
    /// the raw send-to-last-byte time.
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
    /// Closed model: stalls (users blocked far beyond their own pace) and the corrected
    /// estimate kept beside the measured `response_time` (older runs: the correction that
    /// was applied to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_correction: Option<CoCorrection>,
    /// How the generator itself fared: CPU, scheduler lag, saturation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_health: Option<GeneratorHealth>,
    /// Worker processes that generated the load (`--workers`), their measurements merged;
    /// absent for a run from one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u64>,
    /// One shard of a run split across processes or machines (`--shard`): a partial result,
    /// merged by `skein merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// A run merged from its shards' folders (`skein merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<MergedShards>,
    /// The common start the run waited for (`--start-at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<PlannedStart>,
    /// A run of counted iterations (`load: {iterations_per_user: N}` or
    /// `{iterations: N}`): how many were planned and how many were done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<IterationStats>,
}

/// The iterations of a run of counted iterations (`iterations_per_user`, `iterations`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IterationStats {
    /// `per_user` (`iterations_per_user`) or `shared` (`iterations`).
    pub mode: String,
    /// Iterations the plan asks for (of this process, for a worker or shard; the whole
    /// run's once merged).
    pub planned: u64,
    /// Iterations started.
    pub started: u64,
    /// Iterations whose steps all ran (a request that failed counts; one cut short by a
    /// stop, or by a request that could not be built, does not).
    pub completed: u64,
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

/// The closed model's view of coordinated omission.
///
/// A closed-model user sends its next request when the last one is answered: it has no
/// schedule, so its measured times are what the server took, and they are what Skein shows
/// and judges. What they cannot show by themselves is a stall: a user blocked for a second
/// sends one request instead of a hundred, and the hundred are never measured. So Skein
/// finds the seconds in which users were blocked far beyond their own pace (`stalls`), and
/// keeps a corrected *estimate* beside the measurements (each step's `co_estimate`): the
/// samples HdrHistogram's `record_correct` adds with the interval of each user's own
/// cycle: one iteration of its scenario, every step's usual service time plus its mean
/// think time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoCorrection {
    /// How the estimate's interval is found: `user_cycle` (one iteration of the user's
    /// scenario: each step's usual service time, the lower median of its last 5 seconds'
    /// medians, plus its mean think time; nothing before every step has one). Runs of older
    /// versions: `think_time_plus_median_service_time`, applied to `response_time` itself
    /// (`run.response_time_basis` = `corrected`).
    pub method: String,
    /// Samples in the estimate beyond the measured ones (requests the users would have
    /// sent had they kept their pace while they waited). Not in `response_time` unless
    /// `run.response_time_basis` is `corrected`.
    pub synthetic_samples: u64,
    /// The seconds in which some user waited at least twice its step's usual service time:
    /// how long they waited beyond it, per second of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<BlockedSecond>,
    /// Windows in which users were blocked far beyond their own pace: the target stalled
    /// (see [`find_stalls`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stalls: Vec<Stall>,
}

/// How long users waited beyond their steps' usual time in one second of a closed-model run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedSecond {
    /// The second, counted from the start of the run (0 = the first).
    pub t_s: u64,
    /// User-time spent in this second waiting beyond the step's usual service time, by
    /// requests that took at least twice it, µs.
    pub blocked_us: u64,
    /// The longest such wait that overlapped this second, its step's usual time, and its
    /// step.
    pub longest_us: u64,
    pub usual_us: u64,
    pub step: String,
}

/// A window in which users were blocked far beyond their own pace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    /// Start and end, from the start of the run (whole seconds).
    pub from_us: u64,
    pub to_us: u64,
    /// Share of the active users' time in the window spent waiting beyond their steps'
    /// usual time (0 to 1).
    pub blocked_share: f64,
    /// The longest wait, its step's usual time, and its step.
    pub longest_us: u64,
    pub usual_us: u64,
    pub step: String,
}

/// A second is part of a stall when at least this share of the users' time went to waits
/// beyond their steps' usual time...
pub const STALL_SHARE: f64 = 0.1;
/// ... and at least this many times the run's median share (a target whose slow requests
/// are steady, such as cache misses, is not stalling; one that freezes is)...
pub const STALL_OVER_MEDIAN: f64 = 3.0;
/// ... and the active users did not change by more than [`STALL_USERS_CHANGE`] over this
/// many seconds before it (a step's usual time follows the load over 5 seconds, so right
/// after a ramp or a step test's next level every wait looks long against it).
pub const STALL_STEADY_SECONDS: usize = 5;
/// See [`STALL_STEADY_SECONDS`].
pub const STALL_USERS_CHANGE: f64 = 0.1;

/// For each point of `timeseries`, the share of its users' time spent in waits beyond the
/// steps' usual time (0 to 1). A blocked second counts in the point whose interval holds
/// its middle (the points are the harvest's seconds, which may drift from whole seconds).
fn blocked_shares(blocked: &[BlockedSecond], timeseries: &[TimePoint]) -> Vec<f64> {
    let mut us = vec![0u64; timeseries.len()];
    for b in blocked {
        if let Some(u) = point_of(b, timeseries).and_then(|i| us.get_mut(i)) {
            *u += b.blocked_us;
        }
    }
    timeseries
        .iter()
        .zip(us)
        .map(|(p, us)| share_of(us, p))
        .collect()
}

/// The point of `timeseries` whose interval holds the middle of blocked second `b`: the
/// last that starts at or before it.
fn point_of(b: &BlockedSecond, timeseries: &[TimePoint]) -> Option<usize> {
    let mid = b.t_s.saturating_mul(1_000_000).saturating_add(500_000);
    timeseries.partition_point(|p| p.t_us <= mid).checked_sub(1)
}

/// `us` of blocked user-time as a share of the user-time of point `p`.
fn share_of(us: u64, p: &TimePoint) -> f64 {
    let user_us = p.users.max(1) as f64 * p.duration_us.max(1) as f64;
    (us as f64 / user_us).min(1.0)
}

/// The seconds worth keeping in `result.json`: those in which the users lost at least a
/// tenth of [`STALL_SHARE`] of their time (a server with a heavy tail has a few long waits
/// almost every second; the rest change no stall and no median that matters).
pub fn significant_blocked(
    blocked: &[BlockedSecond],
    timeseries: &[TimePoint],
) -> Vec<BlockedSecond> {
    blocked
        .iter()
        .filter(|b| {
            point_of(b, timeseries)
                .and_then(|i| timeseries.get(i))
                .is_some_and(|p| share_of(b.blocked_us, p) >= STALL_SHARE / 10.0)
        })
        .cloned()
        .collect()
}

/// The stalls of a closed-model run: runs of consecutive seconds in which the users spent
/// at least [`STALL_SHARE`] of their time, and [`STALL_OVER_MEDIAN`] times the run's median
/// share, waiting beyond their steps' usual time, while the load was steady (see
/// [`STALL_STEADY_SECONDS`]). `timeseries` gives the active users of each second.
pub fn find_stalls(blocked: &[BlockedSecond], timeseries: &[TimePoint]) -> Vec<Stall> {
    let shares = blocked_shares(blocked, timeseries);
    let mut sorted = shares.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let limit = STALL_SHARE.max(STALL_OVER_MEDIAN * median);
    // The longest wait of each point, with its step.
    let mut longest: Vec<Option<&BlockedSecond>> = vec![None; timeseries.len()];
    for b in blocked {
        if let Some(l) = point_of(b, timeseries).and_then(|i| longest.get_mut(i))
            && l.is_none_or(|x| b.longest_us > x.longest_us)
        {
            *l = Some(b);
        }
    }
    let steady = |i: usize| {
        let from = i.saturating_sub(STALL_STEADY_SECONDS);
        let users = timeseries[from..=i].iter().map(|p| p.users);
        let (lo, hi) = (users.clone().min().unwrap_or(0), users.max().unwrap_or(0));
        (hi - lo) as f64 <= STALL_USERS_CHANGE * hi as f64
    };
    let mut out: Vec<Stall> = Vec::new();
    let mut open: Option<(Stall, f64, u64)> = None;
    for (i, p) in timeseries.iter().enumerate() {
        if shares[i] >= limit && steady(i) {
            let (stall, sum, n) = open.get_or_insert_with(|| {
                (
                    Stall {
                        from_us: p.t_us,
                        ..Stall::default()
                    },
                    0.0,
                    0,
                )
            });
            stall.to_us = p.t_us + p.duration_us;
            if let Some(b) = longest[i]
                && b.longest_us > stall.longest_us
            {
                stall.longest_us = b.longest_us;
                stall.usual_us = b.usual_us;
                stall.step = b.step.clone();
            }
            *sum += shares[i];
            *n += 1;
        } else if let Some((stall, sum, n)) = open.take() {
            out.push(Stall {
                blocked_share: sum / n as f64,
                ..stall
            });
        }
    }
    if let Some((stall, sum, n)) = open.take() {
        out.push(Stall {
            blocked_share: sum / n as f64,
            ..stall
        });
    }
    out
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// [`CellInfo::method`] of a group's cell (`group:`): one sample per pass through the group,
/// from the start of its first step to the end of its last (think times inside included).
pub const GROUP_METHOD: &str = "GROUP";

/// [`CellInfo::method`] of a batch step's whole: one sample per batch, from the first
/// request's send to the last one's end; each request has its own cell as well.
pub const BATCH_METHOD: &str = "BATCH";

/// [`CellInfo::method`] of a custom metric's cell: one sample per value recorded from a
/// response (`metrics:` on a step), in the metric's unit.
pub const METRIC_METHOD: &str = "METRIC";

/// [`CellInfo::method`] of a WebSocket step's session cell: one sample per session, from
/// the upgrade request's send to the close.
pub const WS_SESSION_METHOD: &str = "WS";

/// [`CellInfo::method`] of a WebSocket step's message cell: one sample per message answered,
/// from its send to the reply that matched.
pub const WS_MESSAGE_METHOD: &str = "WS MESSAGE";

/// The methods of cells whose samples are not HTTP requests: a page view, a group, a
/// batch's whole, a custom metric, a WebSocket session or message. They have their own
/// rows and targets but stay out of the run's and the scenarios' request totals, which
/// count the requests inside them once, in their own cells.
pub const NOT_REQUEST_METHODS: [&str; 6] = [
    PAGE_METHOD,
    GROUP_METHOD,
    BATCH_METHOD,
    METRIC_METHOD,
    WS_SESSION_METHOD,
    WS_MESSAGE_METHOD,
];

/// [`CellInfo::scenario`] of the `setup:` steps' cells (a user scenario may not take it).
pub const SETUP_SCENARIO: &str = "setup";

/// [`CellInfo::scenario`] of the `teardown:` steps' cells (a user scenario may not take it).
pub const TEARDOWN_SCENARIO: &str = "teardown";

impl CellInfo {
    /// Is this a page step's page-load cell ([`PAGE_METHOD`])?
    pub fn is_page(&self) -> bool {
        self.method == PAGE_METHOD
    }

    /// Are this cell's samples HTTP requests of the load (not a page view, group, batch,
    /// custom metric or WebSocket session or message, [`NOT_REQUEST_METHODS`]; nor a
    /// request of `setup:` or `teardown:`, [`CellInfo::is_once`])?
    pub fn is_request(&self) -> bool {
        !NOT_REQUEST_METHODS.contains(&self.method.as_str()) && !self.is_once()
    }

    /// Is this a cell of the `setup:` or `teardown:` steps (run once, reported apart from
    /// the load: out of `overall`, in their own scenario's totals)?
    pub fn is_once(&self) -> bool {
        self.scenario == SETUP_SCENARIO || self.scenario == TEARDOWN_SCENARIO
    }

    /// Do this cell's samples count in its scenario's totals: the load's requests, and the
    /// requests of `setup:` and `teardown:` in theirs?
    pub fn counts_in_scenario(&self) -> bool {
        !NOT_REQUEST_METHODS.contains(&self.method.as_str())
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
    /// Closed model: the corrected estimate, `response_time` plus the samples the users
    /// would have sent had they kept their own pace while they waited (see
    /// `run.co_correction`); absent when nothing was omitted. An estimate, never judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_estimate: Option<Latency>,
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
    /// Requests sent a second time on a new connection, because the kept-alive connection
    /// they went out on closed before a byte of response came (idempotent methods only;
    /// the request counts once, with the second attempt's outcome, timed from the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u64,
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
            co_estimate: d.co_estimate().as_ref().map(Latency::from_hist),
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
            retries: d.retries,
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
    /// Share of this second's requests that succeeded (no error, every check passed);
    /// absent when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
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

/// A closed-model run's facts with nothing measured yet (id `r`, target
/// `http://127.0.0.1:1`), for unit tests to adjust with struct update syntax.
#[cfg(test)]
impl RunInfo {
    pub(crate) fn blank() -> RunInfo {
        RunInfo {
            id: "r".into(),
            name: "r".into(),
            status: RunStatus::Running,
            stop_reason: None,
            scenario_file: None,
            target: "http://127.0.0.1:1".into(),
            model: "closed".into(),
            response_time_basis: "measured".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: None,
            duration_us: 0,
            planned_duration_us: 0,
            max_users: 1,
            peak_users: 0,
            cut_off: 0,
            tls_verify: true,
            generator: Generator::this_machine(),
            open_model: None,
            co_correction: None,
            generator_health: None,
            workers: None,
            shard: None,
            shards: None,
            start: None,
            iterations: None,
        }
    }
}

#[cfg(test)]
mod stall_tests {
    use super::*;

    fn seconds(users: &[u64]) -> Vec<TimePoint> {
        users
            .iter()
            .enumerate()
            .map(|(i, &u)| TimePoint {
                t_us: i as u64 * 1_000_000 + 3_000,
                duration_us: 1_000_000,
                users: u,
                ..TimePoint::default()
            })
            .collect()
    }

    fn wait(t_s: u64, users: u64, share: f64) -> BlockedSecond {
        BlockedSecond {
            t_s,
            blocked_us: (users as f64 * share * 1e6) as u64,
            longest_us: 900_000 + t_s,
            usual_us: 10_000,
            step: format!("s{t_s}"),
        }
    }

    #[test]
    fn a_freeze_is_a_stall_with_its_window_and_longest_wait() {
        let ts = seconds(&[10; 8]);
        let b = vec![wait(1, 10, 0.005), wait(3, 10, 0.4), wait(4, 10, 0.6)];
        let s = find_stalls(&b, &ts);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!((s[0].from_us, s[0].to_us), (3_003_000, 5_003_000));
        assert!((s[0].blocked_share - 0.5).abs() < 1e-3, "{s:?}");
        assert_eq!((s[0].longest_us, s[0].step.as_str()), (900_004, "s4"));
        // The second at 0.5% is not worth keeping; the others are.
        let kept: Vec<u64> = significant_blocked(&b, &ts).iter().map(|b| b.t_s).collect();
        assert_eq!(kept, [3, 4]);
    }

    #[test]
    fn steady_slow_requests_and_load_changes_are_not_stalls() {
        // A quarter of every second lost to slow requests (cache misses): the median share
        // is that, so nothing stands out.
        let ts = seconds(&[10; 8]);
        let b: Vec<_> = (0..8).map(|t| wait(t, 10, 0.25)).collect();
        assert!(find_stalls(&b, &ts).is_empty());
        // A step test's next level: long waits right after the users doubled.
        let ts = seconds(&[10, 10, 10, 10, 20, 20, 20, 20, 20, 20, 20]);
        let b = vec![wait(4, 20, 0.5), wait(5, 20, 0.3)];
        assert!(find_stalls(&b, &ts).is_empty());
        // ... but the same waits once the level has held for 5 seconds are a stall.
        let b = vec![wait(10, 20, 0.5)];
        assert_eq!(find_stalls(&b, &ts).len(), 1);
        assert!(find_stalls(&[], &[]).is_empty());
    }
}
