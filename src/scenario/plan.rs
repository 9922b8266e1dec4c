//! The validated, typed plan that the engine runs.
//!
//! Everything here has been checked: durations are [`Duration`]s, templates are compiled
//! and every variable they name has a slot, regexes and JSON paths are compiled. The engine
//! never sees a raw string it has to parse at request time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{Check, Extract};
use super::template::Template;

/// A scenario file, validated and compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Short name of the run, used for the results folder (`name:` key or the file stem).
    pub name: String,
    /// The file the plan came from, if any (quick mode has none).
    pub source: Option<PathBuf>,
    pub target: Target,
    pub defaults: HttpDefaults,
    /// Every per-user variable: declared under `variables:` or written by an `extract`.
    /// A [`Template`] refers to a variable by its index in this list (its slot). A feeder's
    /// fields have slots too, named `feeder.field`.
    pub variables: Vec<VarDef>,
    /// Test data read from files (`feeders:`), rows loaded and checked.
    pub feeders: Vec<FeederPlan>,
    pub scenarios: Vec<ScenarioPlan>,
    pub load: LoadPlan,
    /// The scenario as run, as JSON, with secrets redacted (literal `Authorization`,
    /// `Cookie` and token-like header values replaced by `"[redacted]"`; `${env.*}`
    /// references are kept as written, never substituted).
    pub scenario_copy: serde_json::Value,
    /// Values that came from the environment (`${env.NAME}`) and must never appear in
    /// any output; the engine masks them in error messages.
    pub secrets: Secrets,
    /// Pass/fail thresholds checked against the run (`targets:`), presets expanded.
    pub targets: Vec<TargetPlan>,
    /// Things that will run, but probably not as meant (shown by `validate` and `run`).
    pub warnings: Vec<super::error::Diagnostic>,
    /// Capacity planning of a step test (`load.steps` and the `capacity:` block).
    pub capacity: Option<CapacitySpec>,
    /// Worker `.0` of `.1` of a `--workers` run ((0, 1) for a whole run): its share of the
    /// load ([`LoadPlan::share`]) and of the feeders' `sequential` and `unique` rows (rows
    /// `.0`, `.0 + .1`, ... so no two workers hand out the same row).
    pub worker: (usize, usize),
}

impl Plan {
    /// This plan as worker `index` of `count` runs it.
    pub fn share(&mut self, index: usize, count: usize) {
        self.load = self.load.share(index, count);
        self.worker = (index, count.max(1));
    }
}

/// What a step must keep to count as sustainable, when to stop early, and the plan's
/// inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CapacitySpec {
    /// The p95 response time of a sustainable step.
    pub slo_p95: Option<Duration>,
    /// Largest error rate of a sustainable step (a share).
    pub max_error_rate: f64,
    /// Stop early once a step's p95 passes this many times the SLO (`None`: never).
    pub stop_at_slo_times: Option<f64>,
    /// Stop early once a step's error rate passes this share (`None`: never).
    pub stop_at_error_rate: Option<f64>,
    pub planning: Option<PlanningSpec>,
}

/// The capacity plan's inputs (shares as fractions: 0.05 = 5 %).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanningSpec {
    pub peak_users: Option<f64>,
    pub peak_rps: Option<f64>,
    pub growth_per_month: f64,
    pub headroom: f64,
    pub redundancy: u32,
    pub cost_per_instance_hour: Option<f64>,
    pub instances_tested: u32,
    pub months: f64,
}

/// Values that must never appear in any output (environment values, credentials derived
/// from them), each in every encoding it may take on the way out (percent-encoded in a URL
/// or a form, JSON-escaped, base64), longest first, so that replacing each string in turn
/// masks them all. Its `Debug` shows how many, never the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<String>);

impl Secrets {
    /// The secrets `values` with every encoding of each ([`super::redact::encodings`]).
    pub fn of(values: &[String]) -> Secrets {
        let mut all: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for v in values {
            for e in super::redact::encodings(v) {
                if seen.insert(e.clone()) {
                    all.push(e);
                }
            }
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(all)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} redacted]", self.0.len())
    }
}

impl std::ops::Deref for Secrets {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.0
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Secrets {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.0.iter().map(String::as_str).eq(other.iter().copied())
    }
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A base URL such as `http://127.0.0.1:8080`; step paths are joined to it.
    Url(String),
    /// The built-in demo target, started in-process on 127.0.0.1:0.
    Embedded(EmbeddedTarget),
}

/// Settings for the embedded demo target (`target: {embedded: phase9, ...}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddedTarget {
    /// Size of the demo's worker pool (requests served at once); `None` = its default.
    pub workers: Option<usize>,
    /// Per-route service-time overrides, keyed by the demo's route name
    /// (`home`, `static`, `products`, `product`, `search`, `login`, `cart`, `health`).
    pub routes: BTreeMap<String, RouteTiming>,
}

/// Service-time model of one demo route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteTiming {
    /// Mean time a request holds a worker.
    pub service_time: Option<Duration>,
    /// Uniform jitter added or subtracted (`service_time +- jitter`).
    pub jitter: Option<Duration>,
    /// The part of the service time reported as `Server-Timing: db;dur=..`.
    pub db: Option<Duration>,
}

/// HTTP settings shared by every step unless a step overrides them.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpDefaults {
    pub headers: Vec<(String, Template)>,
    pub timeout: Duration,
    pub http_version: HttpVersion,
    /// Verify TLS certificates (on unless the file says `tls_verify: false`).
    pub tls_verify: bool,
    /// Give each user a cookie jar.
    pub cookies: bool,
    pub user_agent: String,
    /// Redirects a step follows unless it says otherwise (0: none, the 3xx is the answer).
    pub follow_redirects: u32,
    /// CA certificates trusted besides the system's (`ca_file:`).
    pub ca_file: Option<CaFile>,
}

/// Redirects followed when neither the step nor `defaults` says.
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// A PEM file of CA certificates (`defaults.ca_file`), read and checked when the scenario
/// is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct CaFile {
    /// As resolved against the scenario file's folder.
    pub path: PathBuf,
    /// The certificates, DER-encoded.
    pub certs: Vec<Vec<u8>>,
}

impl Default for HttpDefaults {
    fn default() -> Self {
        HttpDefaults {
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            http_version: HttpVersion::Auto,
            tls_verify: true,
            cookies: true,
            user_agent: format!("skein/{}", env!("CARGO_PKG_VERSION")),
            follow_redirects: DEFAULT_MAX_REDIRECTS,
            ca_file: None,
        }
    }
}

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1, or HTTP/2 when TLS ALPN offers it.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 with prior knowledge (also over cleartext).
    Http2,
}

/// A feeder (`feeders:`): rows of test data, shared read-only by every user.
#[derive(Clone, PartialEq)]
pub struct FeederPlan {
    pub name: String,
    /// The file the rows came from (as resolved against the scenario file).
    pub file: PathBuf,
    pub order: FeedOrder,
    /// What happens once every row has been taken (`sequential` and `unique`).
    pub when_exhausted: WhenExhausted,
    /// Field names, from the CSV header or the JSON objects' keys.
    pub fields: Vec<String>,
    /// The variable slot of each field (`${users.username}` reads the slot of `username`).
    pub slots: Vec<usize>,
    /// The rows, one value per field; shared, never copied per user.
    pub rows: std::sync::Arc<[Box<[String]>]>,
    /// Which scenarios (by index) take rows: those whose templates, or the `variables:`,
    /// read one of its fields.
    pub scenarios: Vec<usize>,
}

impl std::fmt::Debug for FeederPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeederPlan")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("order", &self.order)
            .field("when_exhausted", &self.when_exhausted)
            .field("fields", &self.fields)
            .field("rows", &self.rows.len())
            .field("scenarios", &self.scenarios)
            .finish()
    }
}

/// How a feeder hands out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrder {
    /// The next row in file order, shared by all users: one per iteration.
    Sequential,
    /// A random row (from the user's random numbers): one per iteration.
    Random,
    /// The next row in file order, once per user, kept for its whole life.
    Unique,
}

/// What a feeder does when every row has been taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenExhausted {
    /// Start again from the first row.
    Recycle,
    /// The user that needs a row stops (counted as a `template` error).
    Error,
}

/// One per-user variable.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDef {
    pub name: String,
    /// Initial value, rendered when the user starts (may call functions such as
    /// `${randomInt(1,100)}`); `None` for variables only ever set by `extract` and for
    /// feeder fields.
    pub initial: Option<Template>,
    /// `true`: render `initial` again at the start of every iteration (in declaration
    /// order, after the iteration's feeder rows are taken). The default for a value that is
    /// not constant (it calls a function or reads a variable or feeder field) and that no
    /// `extract` writes; `per: user` or `per: iteration` in the file decides otherwise.
    pub per_iteration: bool,
}

/// One weighted scenario: a kind of user.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub name: String,
    /// Relative share of users (>= 1).
    pub weight: u32,
    pub think_time: ThinkTime,
    /// Steps run once when a user starts, before its first iteration.
    pub on_start: Vec<StepPlan>,
    /// Steps run in order, again and again, while the user is active.
    pub steps: Vec<StepPlan>,
    /// Steps run once when a user stops.
    pub on_stop: Vec<StepPlan>,
}

/// Pause after each step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ThinkTime {
    #[default]
    None,
    Constant(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    Gaussian {
        mean: Duration,
        stddev: Duration,
    },
}

impl ThinkTime {
    /// The mean pause.
    pub fn mean(self) -> Duration {
        match self {
            ThinkTime::None => Duration::ZERO,
            ThinkTime::Constant(d) => d,
            ThinkTime::Uniform { min, max } => (min + max) / 2,
            ThinkTime::Gaussian { mean, .. } => mean,
        }
    }
}

/// One HTTP request with its checks and extractions.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// Metric name: the `name:` key or `METHOD path-template`.
    pub name: String,
    pub method: Method,
    /// Path (joined to the target) or absolute URL.
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub body: Body,
    /// Overrides the default request timeout.
    pub timeout: Option<Duration>,
    pub checks: Vec<Check>,
    pub extracts: Vec<Extract>,
    /// Overrides the scenario's think time after this step.
    pub think_time: Option<ThinkTime>,
    /// Labels that group steps for targets (`p95(tag="api") < 100ms`), in the order written.
    pub tags: Vec<String>,
    /// A page step (`page:`): the request above fetches the HTML document, then these
    /// assets follow. `None` for an ordinary request.
    pub page: Option<PagePlan>,
    /// Credentials sent as the `Authorization` header: the step's `auth:`, else its
    /// scenario's, else `defaults.auth` (an `Authorization` header written at a more
    /// specific level wins over them).
    pub auth: Option<Auth>,
    /// Redirects followed (0: none); `None`: `defaults.follow_redirects`.
    pub follow_redirects: Option<u32>,
}

/// Credentials for the `Authorization` header, rendered per request.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Bearer(Template),
    /// `Authorization: Basic base64(USERNAME:PASSWORD)`.
    Basic {
        username: Template,
        password: Template,
    },
}

/// What a page step fetches after its document, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PagePlan {
    pub assets: PageAssets,
    /// Which hosts `auto` assets may come from besides the document's.
    pub other_hosts: OtherHosts,
    /// Keep each user's assets in a browser-like cache (`cache: true`).
    pub cache: bool,
}

/// The assets of a page step.
#[derive(Debug, Clone, PartialEq)]
pub enum PageAssets {
    /// The document alone.
    None,
    /// What the HTML links: stylesheets, scripts, images, icons.
    Auto,
    /// These paths or URLs (templates), resolved against the document's URL.
    List(Vec<Template>),
}

/// Hosts besides the document's that `auto` assets may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherHosts {
    /// None: assets on other hosts are skipped.
    None,
    /// Any host.
    Any,
    /// These hosts, lower case: `host` (any port) or `host:port`.
    Only(Vec<String>),
}

/// HTTP method of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }

    /// Parse an upper- or lower-case method name.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }
}

/// Request body of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    /// Sent as written (after templating); no content type unless a header sets one.
    Raw(Template),
    /// A JSON document whose string leaves are templates; sent as `application/json`.
    Json(JsonTemplate),
    /// `application/x-www-form-urlencoded` fields.
    Form(Vec<(String, Template)>),
    /// The bytes of a file (`body_file:`), read when the scenario is loaded, sent as they are.
    File(FileBody),
}

/// A request body read from a file.
#[derive(Clone, PartialEq)]
pub struct FileBody {
    /// As resolved against the scenario file's folder.
    pub path: PathBuf,
    /// `application/json` for a `.json` file, else none (a header may set one).
    pub content_type: Option<&'static str>,
    /// The file's bytes, shared by every request.
    pub bytes: bytes::Bytes,
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody")
            .field("path", &self.path)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A JSON value whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// The load profile, normalised to stages whatever the file said.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// Ramps and holds, in order: users change linearly to `users` over `over`.
    /// `users, ramp, duration` becomes `[{users, ramp_time}, {users, duration}]`.
    pub stages: Vec<Stage>,
    /// After the last stage, how long in-flight requests may finish before they are
    /// cancelled (and counted as interrupted, not as errors).
    pub graceful_stop: Duration,
    /// The open model (`arrival_rate`, or stages of `rate`): iterations start on this
    /// schedule, whatever the responses do. `stages` then holds one stage of `max_users`
    /// users over the whole run (the pool goose launches).
    pub open: Option<OpenLoad>,
    /// A step test: the levels and their timing (the stages above already hold them).
    pub steps: Option<StepLoad>,
    /// Closed model: which of the plan's users this process runs ([`LoadPlan::share`]).
    /// The stages stay those of the whole plan; this share runs every `count`-th user from
    /// `index` on, so the shares add up to the whole plan at every instant.
    pub slice: Slice,
}

/// Worker `index` of `count`'s users of a closed-model plan: the plan's user `g` (in the
/// order the whole plan starts them, from 0) belongs to worker `g % count`, as its local
/// user `g / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub index: usize,
    pub count: usize,
}

impl Slice {
    /// The whole plan in one process.
    pub const WHOLE: Slice = Slice { index: 0, count: 1 };

    /// How many of the whole plan's first `n` users are this share's.
    pub fn part(self, n: usize) -> usize {
        let count = self.count.max(1);
        n / count + usize::from(self.index < n % count)
    }

    /// The whole plan's number for this share's user `local` (both from 0).
    pub fn global(self, local: usize) -> usize {
        local
            .saturating_mul(self.count.max(1))
            .saturating_add(self.index)
    }
}

impl Default for Slice {
    fn default() -> Self {
        Slice::WHOLE
    }
}

/// A step test's levels: users (closed model) or arrival rates per second (open model),
/// each reached over `ramp` and then held for `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLoad {
    pub levels: Vec<f64>,
    pub hold: Duration,
    pub ramp: Duration,
}

impl StepLoad {
    /// Start and end of each level's hold, from the start of the load (the ramps excluded).
    pub fn windows(&self) -> Vec<(Duration, Duration)> {
        let each = self.ramp + self.hold;
        (0..self.levels.len())
            .map(|k| {
                let start = each * k as u32 + self.ramp;
                (start, start + self.hold)
            })
            .collect()
    }
}

/// The open model: an arrival-rate schedule and the pool of users that serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoad {
    /// Rate at the start of the first stage, iterations per second.
    pub start_rate: f64,
    /// The rate changes linearly to `rate` over `over`, stage after stage.
    pub stages: Vec<RateStage>,
    /// Most users (each with its own connections and cookies) the pool may hold.
    pub max_users: usize,
    /// Users set up before the first iteration; the pool grows to `max_users` when no
    /// user is free for an iteration that is due.
    pub pre_allocated: usize,
}

/// One ramp or hold of the arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// Iterations per second at the end of the stage.
    pub rate: f64,
    pub over: Duration,
}

impl OpenLoad {
    /// Length of the schedule.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.over).sum()
    }

    /// Highest rate of the schedule, per second.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.rate)
            .fold(self.start_rate, f64::max)
    }

    /// The rate `t` after the start (0 after the end).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut start = 0.0;
        let mut from = self.start_rate;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            if t < start + len {
                return from + (s.rate - from) * (t - start) / len;
            }
            start += len;
            from = s.rate;
        }
        0.0
    }

    /// Iterations due by `t` after the start (the integral of the rate).
    pub fn arrivals_by(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut start = 0.0;
        let mut from = self.start_rate;
        let mut total = 0.0;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            if t <= start {
                break;
            }
            let span = (t - start).min(len);
            let slope = if len > 0.0 {
                (s.rate - from) / len
            } else {
                0.0
            };
            total += from * span + 0.5 * slope * span * span;
            start += len;
            from = s.rate;
        }
        total
    }

    /// When iteration `i` (counting from 0) is due: the instant the arrivals reach `i`.
    /// `None` when the schedule ends first.
    pub fn time_of(&self, i: u64) -> Option<Duration> {
        let target = i as f64;
        let mut start = 0.0;
        let mut from = self.start_rate;
        let mut done = 0.0;
        for s in &self.stages {
            let len = s.over.as_secs_f64();
            let a = if len > 0.0 {
                (s.rate - from) / len
            } else {
                0.0
            };
            let in_stage = from * len + 0.5 * a * len * len;
            if len > 0.0 && done + in_stage > target {
                let need = target - done;
                // Solve from*x + a/2*x^2 = need for the smallest x in [0, len].
                let x = if a.abs() < 1e-12 {
                    if from > 0.0 { need / from } else { len }
                } else {
                    let disc = (from * from + 2.0 * a * need).max(0.0);
                    (disc.sqrt() - from) / a
                };
                return Duration::try_from_secs_f64(start + x.clamp(0.0, len)).ok();
            }
            done += in_stage;
            start += len;
            from = s.rate;
        }
        None
    }

    /// Iterations the whole schedule holds.
    pub fn total_iterations(&self) -> u64 {
        self.arrivals_by(self.duration()).ceil() as u64
    }
}

/// One ramp or hold of the closed model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub users: usize,
    pub over: Duration,
}

/// One pass/fail threshold on what a run measures: a `targets:` entry, a line of a shared
/// targets file, or one KPI of a preset.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    /// As written, e.g. `p99(step="GET /api/products/ID") < 250ms`; a preset's KPIs are
    /// spelt out in the same syntax.
    pub expression: String,
    pub metric: TargetMetric,
    /// The statistic of a distribution (response time, a Server-Timing entry); `None` for
    /// rates and counts.
    pub aggregate: Option<Aggregate>,
    pub scope: TargetScope,
    /// Window start (`after: 30s`): only intervals that start at or after it count.
    /// `None`: the whole run.
    pub after: Option<Duration>,
    pub op: TargetOp,
    /// The bound, in `unit`: microseconds, a share in [0, 1], per second, or a count.
    pub threshold: f64,
    pub unit: TargetUnit,
    /// Stop the run early once this target is lost for good (acted on by the engine).
    pub abort_on_fail: bool,
    /// With `abort_on_fail`: how long the target may be lost before the run stops.
    pub grace: Option<Duration>,
    pub source: TargetSource,
    /// The value before optimisation, in `unit` (presets).
    pub baseline: Option<f64>,
    /// Improvement over `baseline` the plan asks for, percent.
    pub improvement_goal_pct: Option<f64>,
    /// Where the scope's name was written, so that a shared targets file can be checked
    /// against a plan ([`Plan::add_targets`]); `None` when nobody wrote it (a preset's
    /// default mapping, which may select nothing: the KPI is then not measured).
    pub scope_at: Option<SourcePos>,
}

/// What a target measures.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetMetric {
    /// Time to the last byte of the response (with an [`Aggregate`]): from the intended
    /// start in the open model, corrected for coordinated omission in the closed one.
    ResponseTime,
    /// Service time, from the actual send to the last byte, raw (with an [`Aggregate`]):
    /// `service_p95 < 50ms`.
    ServiceTime,
    /// (transport errors + unexpected statuses + failed checks) / requests.
    ErrorRate,
    /// Share of checks passed.
    Checks,
    /// Requests per second.
    Rps,
    /// Peak concurrent users (whole run only).
    Users,
    /// An entry of the responses' `Server-Timing` header, e.g. `db` (with an [`Aggregate`]).
    ServerTiming(String),
}

/// The statistic of a distribution that a target bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Mean,
    Max,
    /// A percentile in (0, 100), e.g. `95.0`, `99.9`.
    Percentile(f64),
}

/// Which requests a target looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetScope {
    Overall,
    /// Steps of this name (in any scenario).
    Step(String),
    Scenario(String),
    /// Steps carrying this tag.
    Tag(String),
}

/// The comparison of a target: measured `op` threshold must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl TargetOp {
    pub fn symbol(self) -> &'static str {
        match self {
            TargetOp::Lt => "<",
            TargetOp::Le => "<=",
            TargetOp::Gt => ">",
            TargetOp::Ge => ">=",
        }
    }
}

/// Unit of a target's threshold and baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetUnit {
    Micros,
    /// A share in [0, 1], written as a percentage.
    Ratio,
    PerSecond,
    Count,
}

/// Where a target came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// The scenario file's `targets:`.
    Scenario,
    /// A targets file given apart from the scenario (`--targets FILE`).
    File(PathBuf),
    /// A preset's KPI, e.g. `phase9` / `API response time`.
    Preset { name: String, kpi: String },
}

/// A position in a scenario or targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Key path such as `targets[2]`.
    pub key: String,
}

impl LoadPlan {
    /// Largest number of users at any time (of this share, see [`LoadPlan::slice`]).
    pub fn max_users(&self) -> usize {
        self.slice.part(self.whole_max_users())
    }

    /// Largest number of users at any time, in the whole plan.
    pub fn whole_max_users(&self) -> usize {
        self.stages.iter().map(|s| s.users).max().unwrap_or(0)
    }

    /// Planned length of the run (sum of the stages).
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.over).sum()
    }

    /// Users of this share that should be active `t` after the start: its part of the
    /// whole plan's [`LoadPlan::whole_users_at`].
    pub fn users_at(&self, t: Duration) -> usize {
        self.slice.part(self.whole_users_at(t))
    }

    /// Users of the whole plan that should be active `t` after the start (linear ramps,
    /// starting from 0). Fractional values round up, so a ramp to N starts its first user
    /// at t = 0.
    pub fn whole_users_at(&self, t: Duration) -> usize {
        let mut start = Duration::ZERO;
        let mut from = 0usize;
        for s in &self.stages {
            let end = start + s.over;
            if t < end {
                let frac = (t - start).as_secs_f64() / s.over.as_secs_f64();
                let v = from as f64 + (s.users as f64 - from as f64) * frac;
                return if s.users >= from {
                    v.ceil() as usize
                } else {
                    v.floor() as usize
                };
            }
            start = end;
            from = s.users;
        }
        from
    }

    /// The earliest time at or after `t` when at least `n` users of this share should be
    /// active, or `None` if that never happens again.
    pub fn time_when_users_reach(&self, n: usize, t: Duration) -> Option<Duration> {
        if n == 0 {
            return Some(t);
        }
        // This share's n-th user is the whole plan's user `global(n - 1)`.
        self.whole_time_when_users_reach(self.slice.global(n - 1) + 1, t)
    }

    /// The earliest time at or after `t` when at least `n` users of the whole plan should
    /// be active, or `None` if that never happens again.
    fn whole_time_when_users_reach(&self, n: usize, t: Duration) -> Option<Duration> {
        let mut start = Duration::ZERO;
        let mut from = 0usize;
        for s in &self.stages {
            let end = start + s.over;
            if end > t {
                let seg_start = start.max(t);
                if self.whole_users_at(seg_start) >= n {
                    return Some(seg_start);
                }
                if s.users >= n && s.users > from {
                    // Linear ramp from `from` to `s.users`: first instant where ceil(v) >= n.
                    let need = (n - 1).saturating_sub(from) as f64;
                    let frac = need / (s.users - from) as f64;
                    let at = start + s.over.mul_f64(frac.clamp(0.0, 1.0));
                    let at = at.max(seg_start);
                    if at < end {
                        return Some(at + Duration::from_micros(1));
                    }
                }
            }
            start = end;
            from = s.users;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn users_at_follows_ramps_and_holds() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 10,
                    over: ms(1000),
                },
                Stage {
                    users: 10,
                    over: ms(1000),
                },
                Stage {
                    users: 0,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            slice: Slice::WHOLE,
        };
        assert_eq!(l.users_at(ms(0)), 0);
        assert_eq!(l.users_at(ms(1)), 1);
        assert_eq!(l.users_at(ms(500)), 5);
        assert_eq!(l.users_at(ms(1500)), 10);
        assert_eq!(l.users_at(ms(2500)), 5);
        assert_eq!(l.users_at(ms(5000)), 0);
        assert_eq!(l.max_users(), 10);
        assert_eq!(l.duration(), ms(3000));
    }

    #[test]
    fn time_when_users_reach_inverts_the_ramp() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 100,
                    over: ms(1000),
                },
                Stage {
                    users: 100,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            slice: Slice::WHOLE,
        };
        let t = l.time_when_users_reach(50, Duration::ZERO).unwrap();
        assert!(t > ms(489) && t <= ms(491), "{t:?}");
        assert!(l.users_at(t) >= 50);
        assert_eq!(
            l.time_when_users_reach(1, Duration::ZERO),
            Some(Duration::from_micros(1))
        );
        assert_eq!(l.time_when_users_reach(101, Duration::ZERO), None);
        // Immediate start: a zero-length ramp puts everyone on at t = 0.
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 5,
                    over: ms(0),
                },
                Stage {
                    users: 5,
                    over: ms(1000),
                },
            ],
            graceful_stop: ms(0),
            open: None,
            steps: None,
            slice: Slice::WHOLE,
        };
        assert_eq!(l.users_at(Duration::ZERO), 5);
        assert_eq!(
            l.time_when_users_reach(5, Duration::ZERO),
            Some(Duration::ZERO)
        );
    }
}

impl LoadPlan {
    /// Scale every stage so the peak is `users` (the shape of the profile is kept).
    /// Open model: `users` becomes the pool's size (`max_users`).
    pub fn scale_users(&mut self, users: usize) {
        if let Some(open) = &mut self.open {
            open.max_users = users.max(1);
            open.pre_allocated = open.pre_allocated.min(open.max_users);
            for s in &mut self.stages {
                s.users = open.max_users;
            }
            return;
        }
        let max = self.max_users().max(1) as f64;
        for s in &mut self.stages {
            s.users = ((s.users as f64) * users as f64 / max).round() as usize;
        }
        if self.stages.is_empty() {
            self.stages.push(Stage {
                users,
                over: Duration::ZERO,
            });
        }
    }

    /// Set the length of the run. A ramp-then-hold profile keeps its ramp and holds for
    /// `d`; any other profile has every stage scaled so the total is `d`.
    pub fn set_duration(&mut self, d: Duration) {
        if let Some(open) = &mut self.open {
            set_duration(
                &mut open.stages,
                d,
                |s| &mut s.over,
                |a, b| a.rate == b.rate,
            );
            let total = open.duration();
            if let Some(pool) = self.stages.first_mut() {
                pool.over = total;
            }
            self.stages.truncate(1);
            return;
        }
        set_duration(
            &mut self.stages,
            d,
            |s| &mut s.over,
            |a, b| a.users == b.users,
        );
    }
}

/// `set_duration` for any list of stages: a ramp then a hold keeps its ramp.
fn set_duration<S>(
    stages: &mut [S],
    d: Duration,
    over: impl Fn(&mut S) -> &mut Duration,
    same_level: impl Fn(&S, &S) -> bool,
) {
    match stages {
        [ramp, hold] if same_level(ramp, hold) => *over(hold) = d,
        [only] => *over(only) = d,
        stages => {
            let total = stages
                .iter_mut()
                .map(|s| over(s).as_secs_f64())
                .sum::<f64>()
                .max(1e-9);
            for s in stages {
                let o = over(s);
                *o = o.mul_f64(d.as_secs_f64() / total);
            }
        }
    }
}

impl LoadPlan {
    /// Open model: scale every rate so the peak is `rate` per second (the shape is kept).
    pub fn scale_rate(&mut self, rate: f64) {
        if let Some(open) = &mut self.open {
            let peak = open.peak_rate().max(1e-9);
            let k = rate / peak;
            open.start_rate *= k;
            for s in &mut open.stages {
                s.rate *= k;
            }
        }
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    fn open(start: f64, stages: &[(f64, u64)]) -> OpenLoad {
        OpenLoad {
            start_rate: start,
            stages: stages
                .iter()
                .map(|&(rate, ms)| RateStage {
                    rate,
                    over: Duration::from_millis(ms),
                })
                .collect(),
            max_users: 10,
            pre_allocated: 1,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let o = open(1000.0, &[(1000.0, 10_000)]);
        assert_eq!(o.time_of(0), Some(Duration::ZERO));
        assert_eq!(o.time_of(1), Some(Duration::from_millis(1)));
        assert_eq!(o.time_of(5000), Some(Duration::from_secs(5)));
        assert_eq!(o.time_of(10_000), None);
        assert_eq!(o.total_iterations(), 10_000);
        assert!((o.arrivals_by(Duration::from_millis(2500)) - 2500.0).abs() < 1e-6);
    }

    #[test]
    fn a_ramp_inverts_its_integral() {
        // 0 -> 100/s over 10 s (500 iterations), then 100/s for 5 s (500 more).
        let o = open(0.0, &[(100.0, 10_000), (100.0, 5_000)]);
        assert!((o.arrivals_by(Duration::from_secs(10)) - 500.0).abs() < 1e-6);
        assert_eq!(o.total_iterations(), 1000);
        for i in [1u64, 10, 125, 499, 500, 750, 999] {
            let t = o.time_of(i).unwrap();
            assert!((o.arrivals_by(t) - i as f64).abs() < 1e-6, "{i}: {t:?}");
        }
        // Quarter of the ramp's iterations by half its time.
        let t = o.time_of(125).unwrap().as_secs_f64();
        assert!((t - 5.0).abs() < 1e-9, "{t}");
        assert!((o.rate_at(Duration::from_secs(5)) - 50.0).abs() < 1e-9);
        assert_eq!(o.peak_rate(), 100.0);
    }

    #[test]
    fn a_spike_jumps_at_once() {
        // 10/s for 2 s, jump to 1000/s for 1 s, back to 10/s for 2 s.
        let o = open(
            10.0,
            &[
                (10.0, 2000),
                (1000.0, 0),
                (1000.0, 1000),
                (10.0, 0),
                (10.0, 2000),
            ],
        );
        assert!((o.arrivals_by(Duration::from_secs(5)) - 1040.0).abs() < 1e-6);
        let t = o.time_of(520).unwrap();
        assert!((t.as_secs_f64() - 2.5).abs() < 1e-9, "{t:?}");
        assert_eq!(o.rate_at(Duration::from_millis(2500)), 1000.0);
    }
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn overrides_keep_the_shape() {
        let mut l = LoadPlan {
            stages: vec![
                Stage {
                    users: 100,
                    over: Duration::from_secs(10),
                },
                Stage {
                    users: 100,
                    over: Duration::from_secs(60),
                },
            ],
            graceful_stop: Duration::ZERO,
            open: None,
            steps: None,
            slice: Slice::WHOLE,
        };
        l.set_duration(Duration::from_secs(5));
        assert_eq!(l.duration(), Duration::from_secs(15));
        l.scale_users(10);
        assert_eq!(l.max_users(), 10);
    }
}

impl LoadPlan {
    /// Worker `index` of `count`'s share of the load (`--workers`), so that the shares add
    /// up to the whole. Closed model: the whole plan's users are dealt out one by one in
    /// the order the plan starts them (worker `i` runs users `i`, `i + count`, ...), so at
    /// every instant the shares' users add up to the plan's exactly (10 users over 4
    /// workers: 3, 3, 2, 2), and each user keeps the scenario it has in a run of one
    /// process. Open model: every rate and the pool divided. The timing is the same in
    /// every share.
    pub fn share(&self, index: usize, count: usize) -> LoadPlan {
        let count = count.max(1);
        let part = |n: usize| n / count + usize::from(index < n % count);
        let mut out = self.clone();
        if out.open.is_none() {
            out.slice = Slice { index, count };
        }
        if let Some(open) = &mut out.open {
            let k = 1.0 / count as f64;
            open.start_rate *= k;
            for s in &mut open.stages {
                s.rate *= k;
            }
            open.max_users = part(open.max_users).max(1);
            open.pre_allocated = part(open.pre_allocated).clamp(1, open.max_users);
            for s in &mut out.stages {
                s.users = open.max_users;
            }
        }
        if let Some(steps) = &mut out.steps {
            let open = out.open.is_some();
            for l in &mut steps.levels {
                *l = if open {
                    *l / count as f64
                } else {
                    part(*l as usize) as f64
                };
            }
        }
        out
    }
}

#[cfg(test)]
mod share_tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_whole() {
        let l = LoadPlan {
            stages: vec![
                Stage {
                    users: 10,
                    over: Duration::from_secs(1),
                },
                Stage {
                    users: 3,
                    over: Duration::from_secs(2),
                },
            ],
            graceful_stop: Duration::ZERO,
            open: None,
            steps: None,
            slice: Slice::WHOLE,
        };
        for n in [1, 2, 3, 4, 7] {
            let shares: Vec<LoadPlan> = (0..n).map(|i| l.share(i, n)).collect();
            // At every instant, ramp and ramp-down included, the shares add up exactly.
            for ms in (0..3100).step_by(7) {
                let t = Duration::from_millis(ms);
                let sum: usize = shares.iter().map(|s| s.users_at(t)).sum();
                assert_eq!(sum, l.users_at(t), "{n} workers at {ms} ms");
            }
            let peak: usize = shares.iter().map(LoadPlan::max_users).sum();
            assert_eq!(peak, 10);
            // Each share's k-th user starts when the whole plan's user i + k n does.
            for (i, s) in shares.iter().enumerate() {
                for k in 1..=s.max_users() {
                    let whole = l.time_when_users_reach(i + (k - 1) * n + 1, Duration::ZERO);
                    assert_eq!(s.time_when_users_reach(k, Duration::ZERO), whole);
                }
            }
        }
        let shares: Vec<LoadPlan> = (0..4).map(|i| l.share(i, 4)).collect();
        assert_eq!(shares[0].max_users(), 3);
        assert_eq!(shares[3].max_users(), 2);
        assert_eq!(shares[3].duration(), l.duration());
        let open = LoadPlan {
            stages: vec![Stage {
                users: 100,
                over: Duration::from_secs(10),
            }],
            graceful_stop: Duration::ZERO,
            open: Some(OpenLoad {
                start_rate: 0.0,
                stages: vec![RateStage {
                    rate: 1000.0,
                    over: Duration::from_secs(10),
                }],
                max_users: 100,
                pre_allocated: 10,
            }),
            steps: None,
            slice: Slice::WHOLE,
        };
        let s = open.share(1, 2);
        let o = s.open.as_ref().unwrap();
        assert_eq!(
            (o.peak_rate(), o.max_users, o.pre_allocated),
            (500.0, 50, 5)
        );
        assert_eq!(s.max_users(), 50);
    }
}
