//! The validated, typed plan that the engine runs.
//!
//! Everything here has been checked: durations are [`Duration`]s, templates are compiled
//! and every variable they name has a slot, regexes and JSON paths are compiled. The engine
//! never sees a raw string it has to parse at request time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{Check, Extract};
pub use super::load::{
    DEFAULT_MAX_DURATION, Iterations, LoadPlan, OpenLoad, RateStage, Shard, Stage, StepLoad,
};
use super::template::Template;
pub use super::ws::{WsExpect, WsMessage, WsPayload, WsPlan};
use crate::capacity::CapacitySpec;
use crate::metrics::verdict::Target as VerdictTarget;

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
    /// Capacity planning of a step test (`load.steps` and the `capacity:` block), in the
    /// capacity analysis' own terms.
    pub capacity: Option<CapacitySpec>,
    /// `setup:` steps, run once before the load starts; what their `extract`s write is
    /// copied into every user's variables before its own are rendered.
    pub setup: Vec<StepPlan>,
    /// `teardown:` steps, run once after the load has ended, with setup's variables.
    pub teardown: Vec<StepPlan>,
    /// Lighthouse audits of the target's pages (`lighthouse:`), before the load and during
    /// its hold at full load.
    pub lighthouse: Option<super::lighthouse::LighthousePlan>,
}

impl Plan {
    /// This plan as shard `shard` runs it (`--shard`, `--workers`): its part of the load
    /// ([`LoadPlan::shard`]) and of the feeders' `sequential` and `unique` rows (rows
    /// `index`, `index + count`, ... after the first ones, so no two shards hand out the
    /// same row). A shard of a shard composes.
    pub fn shard(&mut self, shard: super::load::Shard) {
        self.load = self.load.shard(shard);
    }
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
    /// Database connections of the demo (`db_pool`); `None` = no database pool.
    pub db_pool: Option<usize>,
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
    /// Flow control (`if`, `repeat`, `while`, `choose`) and groups in the lists above,
    /// whose leaf steps they hold flat, depth first in file order; `None` when the
    /// scenario has none: each list runs in order.
    pub flow: Option<super::flow_control::Flow>,
}

impl ScenarioPlan {
    /// The pause after `step`: its own think time, else the scenario's.
    pub fn think_of(&self, step: &StepPlan) -> ThinkTime {
        step.think_time.unwrap_or(self.think_time)
    }

    /// Mean pause over one iteration: its steps' mean think times added up (with flow
    /// control, as [`Self::requests_per_iteration`] counts the steps).
    pub fn think_per_iteration(&self) -> Duration {
        let flat = || self.steps.iter().map(|st| self.think_of(st).mean()).sum();
        let Some(flow) = &self.flow else {
            return flat();
        };
        let secs = super::flow_control::expected(&flow.steps, &mut |k| {
            self.steps
                .get(k)
                .map(|st| self.think_of(st).mean().as_secs_f64())
        });
        secs.map_or_else(flat, Duration::from_secs_f64)
    }

    /// Requests one iteration sends on average: each step once, or with flow control,
    /// `repeat` multiplied and `choose` branches weighted by their chance (an `if` or a
    /// `while` counts each of its steps once).
    pub fn requests_per_iteration(&self) -> f64 {
        let flat = self.steps.len() as f64;
        self.flow.as_ref().map_or(flat, |f| {
            super::flow_control::expected(&f.steps, &mut |_| Some(1.0)).unwrap_or(flat)
        })
    }

    /// Mean pause per request of one iteration.
    fn mean_think_per_request(&self) -> Duration {
        match self.flow {
            None => self.think_per_iteration() / self.steps.len().max(1) as u32,
            Some(_) => self
                .think_per_iteration()
                .div_f64(self.requests_per_iteration().max(1.0)),
        }
    }
}

impl Plan {
    /// Mean think time per request over the scenarios' mix (weighted by their users).
    pub fn mean_think_per_request(&self) -> Duration {
        let total: f64 = self.scenarios.iter().map(|s| s.weight.max(1) as f64).sum();
        let secs: f64 = self
            .scenarios
            .iter()
            .map(|s| {
                s.weight.max(1) as f64 / total.max(1.0) * s.mean_think_per_request().as_secs_f64()
            })
            .sum();
        Duration::from_secs_f64(secs)
    }
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
    /// Values read from the response into custom metrics (`record:`).
    pub records: Vec<super::custom_metrics::RecordPlan>,
    /// A batch step (`batch:`): these requests go out at once instead of the one above
    /// (which is a placeholder). `None` for an ordinary request.
    pub batch: Option<BatchPlan>,
    /// A WebSocket step (`ws:`): the request above is its upgrade (`GET`, never
    /// redirected), then these messages. `None` for other steps.
    pub ws: Option<WsPlan>,
}

/// The requests of a batch step, sent concurrently over the user's connections.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// Each request as a step: its own name (cell), checks and extracts.
    pub requests: Vec<StepPlan>,
    /// By request: it wrote `auth: none`, so it takes no credentials from its batch's
    /// scenario or `defaults`.
    pub no_auth: Vec<bool>,
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
    /// `multipart/form-data` (`multipart:`): text fields (templates), then files.
    Multipart(super::multipart::MultipartBody),
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

/// One pass/fail threshold on what a run measures: a `targets:` entry, a line of a shared
/// targets file, or one KPI of a preset. What is measured and the bound are the verdict's
/// own [`Target`](VerdictTarget) (one vocabulary from the file to `summary.json`); where it
/// came from is what only the scenario knows.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    /// The target as the verdict evaluates it; its `expression` is as written, e.g.
    /// `p99(step="GET /api/products/ID") < 250ms` (a preset's KPIs are spelt out in the
    /// same syntax), and its `source` is [`TargetSource::label`] of [`TargetPlan::source`],
    /// set by [`TargetPlan::new`] alone.
    pub target: VerdictTarget,
    source: TargetSource,
    /// Where the scope's name was written, so that a shared targets file can be checked
    /// against a plan ([`Plan::add_targets`]); `None` when nobody wrote it (a preset's
    /// default mapping, which may select nothing: the KPI is then not measured).
    pub scope_at: Option<SourcePos>,
}

impl TargetPlan {
    /// The target `target` written at `source`: `target.source` is set here, from
    /// [`TargetSource::label`], and nowhere else, so the text follows the enum.
    pub fn new(
        mut target: VerdictTarget,
        source: TargetSource,
        scope_at: Option<SourcePos>,
    ) -> TargetPlan {
        target.source = source.label();
        TargetPlan {
            target,
            source,
            scope_at,
        }
    }

    /// Where the target came from (`target.source` says it in words).
    pub fn source(&self) -> &TargetSource {
        &self.source
    }
}

impl Plan {
    /// The plan's targets as the verdict takes them.
    pub fn verdict_targets(&self) -> Vec<VerdictTarget> {
        self.targets.iter().map(|t| t.target.clone()).collect()
    }
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

impl TargetSource {
    /// `scenario`, `targets file <path>`, `preset phase9: API response time`.
    pub fn label(&self) -> String {
        match self {
            TargetSource::Scenario => "scenario".into(),
            TargetSource::File(p) => format!("targets file {}", p.display()),
            TargetSource::Preset { name, kpi } => format!("preset {name}: {kpi}"),
        }
    }
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
