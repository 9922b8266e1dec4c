//! The scenario file as written: serde types that mirror the YAML keys one for one.
//!
//! These types are the single source of the published JSON Schema ([`json_schema`]): their
//! doc comments become the schema's descriptions, which editors show on completion and hover.
//! Nothing here is validated beyond its shape; `compile` turns a [`RawFile`] into a
//! [`super::Plan`] and reports every semantic problem.

use std::borrow::Cow;
use std::sync::OnceLock;

use schemars::{JsonSchema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Skein scenario: who the virtual users are, what they request, and how many of them run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Skein scenario")]
pub struct RawFile {
    /// Location of this JSON Schema, for editors; ignored by skein.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Short name of the run, used for the results folder. Default: the file name without
    /// its extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the load goes: a base URL such as `http://127.0.0.1:8080`, `embedded:phase9`
    /// for the built-in demo target, or `{embedded: phase9, workers: 64, routes: {...}}`.
    pub target: RawTarget,
    /// HTTP settings shared by every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<RawDefaults>,
    /// Per-user variables in order, e.g. `product_id: "${randomInt(1, 500)}"`; steps use
    /// them as `${product_id}`. A value that calls a function or reads a variable is drawn
    /// again at the start of every iteration, unless an `extract` writes the variable;
    /// `{value: ..., per: user}` keeps one value per user, `per: iteration` redraws it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<OrderedMap<RawVariable>>,
    /// Test data read from files, by name: `{users: {file: data/users.csv, order: unique}}`.
    /// Templates read a row's fields as `${users.username}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeders: Option<OrderedMap<RawFeeder>>,
    /// The kinds of users; each user runs one scenario, chosen by weight.
    #[schemars(length(min = 1))]
    pub scenarios: Vec<RawScenario>,
    /// How many users run and for how long: `users` + `ramp` + `duration`, or `stages`.
    pub load: RawLoad,
    /// Pass/fail thresholds checked after the run: expressions such as `p95 < 100ms`,
    /// `p99(step="GET /api/products/ID") < 250ms` or `error_rate < 0.1%`, maps such as
    /// `{expr: "p95 < 200ms", after: 30s}`, or `preset: phase9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<RawThreshold>>,
    /// Capacity planning of a step test (`load: {steps: ...}`): the SLO a sustainable step
    /// keeps, when to stop early, and the planning figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<RawCapacity>,
    /// Steps run once before the load starts (after the target answers), e.g. to log a
    /// service account in or create test data. What their `extract`s write, every user
    /// reads (`${token}`). A failed check stops the run before any user starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Vec<RawStep>>,
    /// Steps run once after the load has ended (also after a stopped run, unless the stop
    /// was hard), with what `setup` extracted, e.g. to delete test data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<Vec<RawStep>>,
    /// Custom metrics, by name, that steps fill from their responses (`record:`):
    /// `{queue_ms: {type: trend, unit: ms}, items_seen: {type: counter}}`. A `trend` keeps
    /// every value in its own histogram (mean, percentiles, max); a `counter` adds them up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<OrderedMap<RawMetric>>,
    /// Lighthouse audits of the target's pages, by the real `lighthouse` on headless
    /// Chromium, before the load and during its hold at full load:
    /// `{pages: [/], runs: 3, when: both}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lighthouse: Option<super::lighthouse::RawLighthouse>,
}

/// A custom metric (`metrics:`): what kind, and the unit of its values.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Metric")]
pub struct RawMetric {
    /// `trend` (a distribution: mean, percentiles, max) or `counter` (a sum).
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit of the values read: `ms`, `s` or `us` for times (kept in microseconds), or
    /// any other word for plain numbers (kept with 3 decimals, at most 60,000 per value
    /// in a trend), e.g. `items`. Default: a plain number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A `multipart/form-data` body: text fields and files.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Multipart")]
pub struct RawMultipart {
    /// Text fields in order, e.g. `{title: "${name}"}`; values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<OrderedMap<Text>>,
    /// File parts by field name: `{avatar: {file: data/cat.png}}` (read when the scenario
    /// is loaded, relative to it) or `{blob: {size: 64KiB}}` (generated bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<OrderedMap<RawMultipartFile>>,
}

/// One file part of a multipart body: `file:` or `size:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MultipartFile")]
pub struct RawMultipartFile {
    /// A file to send, relative to the scenario file, e.g. `data/cat.png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Generated content of this size instead of a file, e.g. `64KiB`, `1MB`, `512`
    /// (bytes): the same deterministic bytes every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Text>,
    /// File name sent in the part. Default: the file's own name, or the field's name
    /// with `.bin` for generated content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The part's `Content-Type`. Default: from the file's extension, else
    /// `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// Capacity planning: what a step must keep to count as sustainable, and the plan's inputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Capacity")]
pub struct RawCapacity {
    /// The p95 response time a sustainable step keeps, e.g. `200ms`. Default: the bound of
    /// the tightest whole-run p95 target, else none (latency then bounds nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_p95: Option<Dur>,
    /// The largest error rate of a sustainable step, e.g. `1%`. Default `1%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<Text>,
    /// Stop the test early once a step's p95 passes this many times the SLO. Default 3;
    /// 0 never stops on latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub stop_at_slo_times: Option<f64>,
    /// Stop the test early once a step's error rate passes this, e.g. `10%`. Default `10%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at_error_rate: Option<Text>,
    /// The figures the plan needs: expected peak, growth, headroom, redundancy, cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planning: Option<RawPlanning>,
}

/// What the business expects: the inputs of the capacity plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Planning")]
pub struct RawPlanning {
    /// Expected peak concurrent users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub peak_users: Option<f64>,
    /// Expected peak requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub peak_rps: Option<f64>,
    /// Growth of the peak per month, e.g. `5%`. Default `0%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_per_month: Option<Text>,
    /// Share of capacity to keep unused at the peak, e.g. `30%`. Default `30%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<Text>,
    /// Spare instances on top of those the load needs: 1 for N+1. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redundancy: Option<u32>,
    /// Price of one instance for one hour, in any currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cost_per_instance_hour: Option<f64>,
    /// Instances that served the test. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub instances_tested: Option<u32>,
    /// Planning horizon in months. Default 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub months: Option<f64>,
}

/// A step test: the load in stairs, each level held, for capacity planning.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Steps")]
pub struct RawSteps {
    /// Closed model: users in stairs, e.g. `{from: 8, to: 64, step: 8}` or `{from: 4,
    /// to: 256, factor: 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<RawStairs>,
    /// Open model: arrival rates in stairs, e.g. `{from: 100/s, to: 2000/s, step: 100/s}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RawRateStairs>,
    /// How long each level is held (the part that is measured), e.g. `30s`.
    pub hold: Dur,
    /// How long the load takes to move to each next level, e.g. `5s`. Default `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<Dur>,
}

/// Levels of users: `from`, then `step` more (or `factor` times more) each time, up to `to`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UserStairs")]
pub struct RawStairs {
    #[schemars(range(min = 1))]
    pub from: u64,
    #[schemars(range(min = 1))]
    pub to: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

/// Levels of arrival rate: `from`, then `step` more (or `factor` times more), up to `to`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateStairs")]
pub struct RawRateStairs {
    pub from: Rate,
    pub to: Rate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

/// Where the load goes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Target")]
pub enum RawTarget {
    /// A base URL (`http://host:port`) or `embedded:phase9` for the built-in demo target.
    Url(String),
    /// The built-in demo target with tuned settings.
    Embedded(Box<RawEmbedded>),
}

/// The built-in demo target, started in-process on a free local port.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EmbeddedTarget")]
pub struct RawEmbedded {
    /// Which demo application to start; `phase9` is the only one.
    pub embedded: String,
    /// Size of the demo's worker pool: requests served at once. Default: the demo's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub workers: Option<u64>,
    /// Service-time overrides per demo route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<RawRoutes>,
    /// Database connections shared by the routes' `db` time, e.g. `8`: a pool narrower
    /// than `workers` makes the database the bottleneck. Each request holds its worker
    /// while it waits for a connection, and `Server-Timing` reports `app` (outside the
    /// database) and `db` (the wait for a connection plus the database time) apart.
    /// Default: no database pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub db_pool: Option<u64>,
}

/// Service-time overrides of the demo's routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DemoRoutes")]
pub struct RawRoutes {
    /// `GET /` (HTML page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<RawRoute>,
    /// `GET /static/*` (CSS, JS, SVG).
    #[serde(rename = "static", default, skip_serializing_if = "Option::is_none")]
    pub static_files: Option<RawRoute>,
    /// `GET /api/products?page=&per_page=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<RawRoute>,
    /// `GET /api/products/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<RawRoute>,
    /// `GET /api/search?q=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<RawRoute>,
    /// `POST /api/login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<RawRoute>,
    /// `GET` and `POST /api/cart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<RawRoute>,
    /// `GET /health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<RawRoute>,
}

impl RawRoutes {
    /// The routes that were set, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &RawRoute)> {
        [
            ("home", &self.home),
            ("static", &self.static_files),
            ("products", &self.products),
            ("product", &self.product),
            ("search", &self.search),
            ("login", &self.login),
            ("cart", &self.cart),
            ("health", &self.health),
        ]
        .into_iter()
        .filter_map(|(n, r)| r.as_ref().map(|r| (n, r)))
    }
}

/// Service-time model of one demo route.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DemoRoute")]
pub struct RawRoute {
    /// Mean time a request holds a worker, e.g. `20ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_time: Option<Dur>,
    /// Uniform jitter around the service time, e.g. `2ms` (service_time +- jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// Part of the service time reported as `Server-Timing: db;dur=..`, e.g. `12ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<Dur>,
}

/// HTTP settings shared by every step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub struct RawDefaults {
    /// Headers sent with every request, e.g. `{Accept: application/json}`; values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<OrderedMap<Text>>,
    /// Request timeout, e.g. `10s`. Default: `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// `auto` or `"1.1"`: HTTP/1.1, over TLS too; `"2"`: HTTP/2 (ALPN `h2` over TLS, prior
    /// knowledge over plain HTTP). Default: `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "http_version_schema")]
    pub http_version: Option<Text>,
    /// Verify TLS certificates. Default: `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
    /// Give each user its own cookie jar. Default: `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<bool>,
    /// The `User-Agent` header. Default: `skein/VERSION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Follow redirects: `true` (up to 10), `false` (the 3xx response is the answer), or
    /// the most to follow, e.g. `3`. Default: `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<RawRedirects>,
    /// A PEM file of CA certificates to trust besides the system's, relative to the
    /// scenario file, e.g. `certs/staging-ca.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// `true` accepts any TLS certificate (self-signed staging servers); the same as
    /// `tls_verify: false`, and said in every report. Default: `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Credentials for every request: `{bearer: "${env.TOKEN}"}` or
    /// `{basic: {username: ada, password: "${env.PASS}"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawAuth>,
}

/// Whether and how far to follow redirects.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "FollowRedirects")]
pub enum RawRedirects {
    /// `true`: follow up to 10; `false`: do not follow.
    Follow(bool),
    /// Follow at most this many redirects (0: none).
    Max(u32),
}

/// Credentials sent as the `Authorization` header: exactly one of `bearer`, `basic`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Auth")]
pub struct RawAuth {
    /// A bearer token (template), sent as `Authorization: Bearer TOKEN`, e.g.
    /// `"${token}"` or `"${env.API_TOKEN}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<Text>,
    /// A user name and password (templates), sent as `Authorization: Basic ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<RawBasicAuth>,
}

/// Credentials of a scenario or a step, or `none`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "AuthOrNone")]
pub enum RawAuthOrNone {
    /// `none`: no credentials from a less specific level.
    None(NoAuth),
    /// These credentials.
    Auth(RawAuth),
}

impl RawAuthOrNone {
    /// The credentials, unless `none` was written.
    pub fn credentials(&self) -> Option<&RawAuth> {
        match self {
            RawAuthOrNone::None(_) => None,
            RawAuthOrNone::Auth(a) => Some(a),
        }
    }
}

/// The word `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoAuth {
    // Plain comment (see `FeederOrder`): no credentials.
    None,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BasicAuth")]
pub struct RawBasicAuth {
    /// The user name (template), e.g. `ada`.
    pub username: Text,
    /// The password (template); keep it out of the file: `"${env.PASSWORD}"`.
    pub password: Text,
}

fn http_version_schema(_: &mut SchemaGenerator) -> schemars::Schema {
    json_schema!({
        "description": "`auto` or `\"1.1\"`: HTTP/1.1, over TLS too; `\"2\"`: HTTP/2 (ALPN `h2` \
                        over TLS, prior knowledge over plain HTTP). Default: `auto`.",
        "enum": ["auto", "1.1", "2", 1.1, 2]
    })
}

/// One kind of user: the steps it runs, again and again.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Scenario")]
pub struct RawScenario {
    /// Name of the scenario, unique in the file; shown in reports.
    pub name: String,
    /// Relative share of users that run this scenario. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub weight: Option<u32>,
    /// Pause after each step: `1s`, `{min: 500ms, max: 2s}` (uniform) or
    /// `{mean: 1s, stddev: 250ms}` (gaussian). Default: no pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<RawThink>,
    /// Headers sent with every request of this scenario, over `defaults.headers` and under
    /// each step's `headers`; values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<OrderedMap<Text>>,
    /// Credentials for every request of this scenario, over `defaults.auth`:
    /// `{bearer: "${token}"}` or `{basic: {username: ..., password: ...}}`; `none`: none,
    /// not even `defaults.auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawAuthOrNone>,
    /// Steps run once when a user starts, e.g. a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_start: Option<Vec<RawStep>>,
    /// Steps run in order, again and again, while the user is active.
    #[schemars(length(min = 1))]
    pub steps: Vec<RawStep>,
    /// Steps run once when a user stops, e.g. a logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_stop: Option<Vec<RawStep>>,
}

/// A per-user variable: its initial value (a template), or the value with how long it lasts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Variable")]
pub enum RawVariable {
    /// The initial value (a template), e.g. `"${randomInt(1, 500)}"`.
    Value(Text),
    /// The initial value and when it is drawn.
    Spec(RawVariableSpec),
}

impl RawVariable {
    /// The initial value as written.
    pub fn value(&self) -> &str {
        match self {
            RawVariable::Value(Text(v))
            | RawVariable::Spec(RawVariableSpec { value: Text(v), .. }) => v,
        }
    }

    /// `per:` as written, if it was.
    pub fn per(&self) -> Option<VarPer> {
        match self {
            RawVariable::Value(_) => None,
            RawVariable::Spec(s) => s.per,
        }
    }
}

/// A variable's initial value and when it is drawn.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "VariableSpec")]
pub struct RawVariableSpec {
    /// The initial value (a template), e.g. `"${randomInt(1, 500)}"`.
    pub value: Text,
    /// `user`: drawn once when the user starts and kept; `iteration`: drawn again at the
    /// start of every iteration. Default: `iteration` for a value that calls a function or
    /// reads a variable or feeder field and that no `extract` writes, else `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<VarPer>,
}

/// How long a variable's drawn value lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarPer {
    // Plain comments (see `FeederOrder`).
    // Drawn once when the user starts, kept for its whole life.
    User,
    // Drawn again at the start of every iteration.
    Iteration,
}

/// Pause after each step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ThinkTime")]
pub enum RawThink {
    /// The same pause every time, e.g. `1s`.
    Constant(Dur),
    /// A uniformly random pause between `min` and `max`.
    Uniform(RawUniform),
    /// A normally distributed pause (never below zero).
    Gaussian(RawGaussian),
}

/// A uniformly random pause.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UniformThinkTime")]
pub struct RawUniform {
    /// Shortest pause, e.g. `500ms`.
    pub min: Dur,
    /// Longest pause, e.g. `2s`.
    pub max: Dur,
}

/// A normally distributed pause.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GaussianThinkTime")]
pub struct RawGaussian {
    /// Mean pause, e.g. `1s`.
    pub mean: Dur,
    /// Standard deviation, e.g. `250ms`.
    pub stddev: Dur,
}

/// One HTTP request, with its checks and extractions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct RawStep {
    /// Name in reports. Default: `METHOD path`, e.g. `GET /api/products/${product_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `GET` this path (or absolute URL), e.g. `/api/products/${product_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<String>,
    /// `POST` to this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<String>,
    /// `PUT` to this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<String>,
    /// `PATCH` this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `DELETE` this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
    /// `HEAD` this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// `OPTIONS` on this path (or absolute URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Load this page like a browser: `GET` the HTML document at this path (or absolute URL),
    /// then its `assets`, concurrently (at most 6 connections per host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// HTTP method, with `path:`; instead of a shorthand such as `get:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path (or absolute URL), with `method:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Query parameters, e.g. `{page: "2"}`; values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<OrderedMap<Text>>,
    /// Request headers, e.g. `{X-Trace: "${uuid()}"}`; values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<OrderedMap<Text>>,
    /// A JSON body whose strings are templates, e.g. `{user: "${name}", qty: 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// A form body (`application/x-www-form-urlencoded`); values are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<OrderedMap<Text>>,
    /// A raw body, sent as written after templating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A body read from a file, relative to the scenario file, sent byte for byte (not a
    /// template), e.g. `data/payload.json` (`.json` sets `Content-Type: application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
    /// Credentials for this request, over the scenario's and `defaults.auth`:
    /// `{bearer: "${token}"}` or `{basic: {username: ..., password: ...}}`; `none`: this
    /// request goes without theirs (a login that fetches the token they send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawAuthOrNone>,
    /// Follow redirects for this request: `true`, `false`, or the most to follow;
    /// instead of `defaults.follow_redirects`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<RawRedirects>,
    /// Request timeout for this step, e.g. `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Pause after this step, instead of the scenario's `think_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<RawThink>,
    /// Assertions on the response; a failed one counts the request as failed. Without
    /// `status`, any 2xx or 3xx status passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<RawCheck>,
    /// Values taken from the response into per-user variables, e.g.
    /// `token: {json: "$.token"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<OrderedMap<RawExtract>>,
    /// Labels that group steps for targets, e.g. `[api]`; `p95(tag="api") < 100ms` bounds
    /// the steps tagged `api` together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// With `page:`: the assets to fetch after the document, as a list of paths or URLs
    /// (templates, resolved against the document's URL), or `auto`: the stylesheets,
    /// scripts, images and icons the HTML links. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<RawAssets>,
    /// With `assets: auto`: also fetch assets on other hosts: `true`, or a list of hosts
    /// (`cdn.example.com`, `host:port`). Default: `false`, the document's host only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_hosts: Option<RawOtherHosts>,
    /// With `page:`: keep each user's assets in a browser-like cache (Cache-Control
    /// max-age/no-store, ETag, Last-Modified), so repeat views skip fresh assets and
    /// revalidate stale ones. Default: `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Flow control: run the `then` steps when this condition holds, else the `else`
    /// steps, e.g. `{status: 200}`, `{var: cart_id, exists: true}` or
    /// `{var: role, equals: admin}`.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub if_: Option<RawCondition>,
    /// With `if`: the steps run when the condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<RawStep>>,
    /// With `if`: the steps run when the condition does not hold. Default: none.
    #[serde(rename = "else", default, skip_serializing_if = "Option::is_none")]
    pub else_: Option<Vec<RawStep>>,
    /// Flow control: run `steps` this many times in a row, e.g. `3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub repeat: Option<u32>,
    /// Flow control: run `steps` again while this condition holds (checked before each
    /// pass), at most `max` times, e.g. `{status: 202}`.
    #[serde(rename = "while", default, skip_serializing_if = "Option::is_none")]
    pub while_: Option<RawCondition>,
    /// With `while`: the most passes, so the loop always ends, e.g. `10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max: Option<u32>,
    /// The steps of a `repeat`, `while` or `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<RawStep>>,
    /// Flow control: run one of these branches, picked at random by weight each time
    /// (Locust's `@task(3)`), e.g. `[{weight: 3, steps: [...]}, {weight: 1, steps: [...]}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub choose: Option<Vec<RawBranch>>,
    /// A named group of `steps` (a transaction) timed as a whole, from the start of its
    /// first request to the end of its last (think times between them included), in its
    /// own row; targets select it as `p95(group="checkout") < 2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Values from the response recorded into custom metrics (declared under `metrics:`),
    /// read like `extract:` does, e.g. `{queue_ms: {header: X-Queue-Time}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<OrderedMap<RawExtract>>,
    /// A `multipart/form-data` body: `{fields: {...}, files: {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<RawMultipart>,
    /// Several requests sent at once (like k6's `http.batch`), each a request as a step
    /// writes it (`get:`, `post:` ... with its own checks and extracts); measured one by
    /// one and as a whole, from the first send to the last response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Vec<RawStep>>,
    /// Open a WebSocket: a path (resolved against the target, `http` becoming `ws`) or a
    /// `ws://` / `wss://` URL, upgraded with the user's cookies, the headers and `auth`;
    /// then send `messages` in order and close. E.g. `/ws/echo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<String>,
    /// With `ws:`: the messages to send in order, each optionally waiting for a reply,
    /// e.g. `[{send: "hi ${username}", expect: {contains: hi}}, {pause: 1s}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<super::ws::RawWsMessage>>,
    /// With `ws:`: the most the whole session may last, connect to close, e.g. `30s`; a
    /// session cut short is a timeout. Default: no bound but each part's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Dur>,
}

impl RawStep {
    /// The variables this step's `extract:` writes, and those of its batch's requests.
    pub fn extracts(&self) -> impl Iterator<Item = &(String, RawExtract)> {
        self.extract.iter().flat_map(|m| &m.0).chain(
            self.batch
                .iter()
                .flatten()
                .flat_map(|s| s.extract.iter().flat_map(|m| &m.0)),
        )
    }

    /// Every variable this step writes: [`RawStep::extracts`], and what its WebSocket
    /// messages extract.
    pub fn written(&self) -> impl Iterator<Item = &(String, RawExtract)> {
        self.extracts().chain(
            self.messages
                .iter()
                .flatten()
                .flat_map(|m| m.extract.iter().flat_map(|e| &e.0)),
        )
    }
}

/// A condition of `if` or `while`: the last response's `status`, or a test on a
/// variable (`var` with one of `exists`, `equals`, `not_equals`, `contains`, `matches`,
/// `gt`, `lt`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Condition")]
pub struct RawCondition {
    /// The status of the user's last response is one of these: `200`, `[200, 201]`,
    /// `"2xx"`. False when no response came (a transport error, or no request yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RawStatus>,
    /// The variable tested: declared under `variables:`, set by an `extract`, or a feeder
    /// field (`users.role`). A variable without a value is equal to nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    /// The variable has a value (`true`) or has none (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The variable's value is this text (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Text>,
    /// The variable has no value or another value than this text (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Text>,
    /// The variable's value contains this text (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Text>,
    /// The variable's value matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The variable's value is a number greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// The variable's value is a number less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
}

/// One branch of `choose`: its weight and its steps.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Branch")]
pub struct RawBranch {
    /// Relative chance of this branch, e.g. `3` against another's `1`. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub weight: Option<u32>,
    /// The steps of this branch; may be empty (do nothing this time).
    pub steps: Vec<RawStep>,
}

/// The assets of a page step: `auto` or a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawAssets {
    /// These paths or URLs, e.g. `[/static/app.css, /static/app.js]`.
    List(Vec<String>),
    /// `auto`: what the HTML links.
    Keyword(String),
}

impl JsonSchema for RawAssets {
    fn schema_name() -> Cow<'static, str> {
        "Assets".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "description": "`auto` (the stylesheets, scripts, images and icons the HTML links), or a list of paths or URLs.",
            "anyOf": [
                { "type": "string", "enum": ["auto"] },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// Which other hosts a page's assets may come from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "OtherHosts")]
pub enum RawOtherHosts {
    /// `true`: any host; `false`: the document's host only.
    All(bool),
    /// These hosts (`cdn.example.com`, or `host:port`).
    List(Vec<String>),
}

/// A file of test data: one row per user or per iteration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Feeder")]
pub struct RawFeeder {
    /// The data: a CSV file whose first row names the fields, or a JSON array of objects;
    /// relative to the scenario file, e.g. `data/users.csv`.
    pub file: String,
    /// `sequential` (the next row for each iteration, in file order), `random` (a random
    /// row for each iteration) or `unique` (each user its own row for its whole life).
    /// Default: `sequential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<FeederOrder>,
    /// When every row has been taken (`sequential`, `unique`): `recycle` (start again from
    /// the first row) or `error` (the user stops, counted as an error). Default: `error` for
    /// `unique`, `recycle` for `sequential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_exhausted: Option<WhenExhausted>,
}

/// How a feeder hands out its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeederOrder {
    // Plain comments: doc comments on the variants would turn the schema's `enum` into a
    // `oneOf` of `const`s, which the shape pass does not read.
    // The next row, in file order, for each iteration.
    Sequential,
    // A random row for each iteration.
    Random,
    // Each user its own row, taken when it starts, for its whole life.
    Unique,
}

/// What a feeder does when every row has been taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenExhausted {
    // Start again from the first row.
    Recycle,
    // The user that needs a row stops, counted as an error.
    Error,
}

/// Assertions on a response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Check")]
pub struct RawCheck {
    /// Expected status: `200`, `[200, 201]`, `"2xx"`, or a list mixing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RawStatus>,
    /// Response headers by name, e.g. `{content-type: {contains: json}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<OrderedMap<RawStrOp>>,
    /// The body contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The body matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_matches: Option<String>,
    /// Tests on JSONPath selections of the body, e.g. `[{path: "$.total", gt: 0}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<RawJsonCheck>>,
}

/// Expected status code(s).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "StatusCheck")]
pub enum RawStatus {
    /// One code or class.
    One(StatusItem),
    /// Any of these codes or classes.
    Any(Vec<StatusItem>),
}

/// A status code or class.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Status")]
pub enum StatusItem {
    /// A status code, e.g. `200`.
    Code(#[schemars(range(min = 100, max = 599))] u16),
    /// A class such as `"2xx"`.
    Class(String),
}

/// A test on a header value: exactly one of `exists`, `equals`, `contains`, `matches`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HeaderCheck")]
pub struct RawStrOp {
    /// `true`: the header is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The value equals this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Text>,
    /// The value contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Text>,
    /// The value matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
}

/// A test on a JSONPath selection: `path` and exactly one operator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "JsonCheck")]
pub struct RawJsonCheck {
    /// An RFC 9535 JSONPath, e.g. `$.items[0].id`.
    pub path: String,
    /// `true`: the path selects something; `false`: it selects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The selected value equals this JSON value.
    #[serde(
        default,
        deserialize_with = "some_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<serde_json::Value>,
    /// The selected number is greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// The selected number is greater than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    /// The selected number is less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    /// The selected number is less than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    /// The selected string contains this text, or the selected array contains this string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Text>,
}

/// `equals: null` means "equals JSON null", not "absent".
fn some_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Where an extracted value comes from: exactly one of `json`, `regex`, `header`, `cookie`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Extract")]
pub struct RawExtract {
    /// The first value this JSONPath selects in the body, e.g. `$.token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// A regular expression on the body; the capture `group` is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Capture group of `regex` (0 = the whole match). Default: 1 when the regex has a
    /// capture group, else the whole match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// A response header's value, e.g. `etag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A cookie set by the response (`Set-Cookie`), e.g. `sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// How many users run, and for how long.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Load")]
pub struct RawLoad {
    /// Number of users, e.g. `1000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub users: Option<u64>,
    /// How fast users start: a rate such as `200/s` or `600/m`, or the whole ramp's length
    /// such as `30s`. Default: all at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<Ramp>,
    /// How long all `users` run after the ramp, e.g. `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Instead of `users`/`ramp`/`duration`: ramps and holds in order, e.g.
    /// `[{users: 100, over: 30s}, {users: 100, over: 1m}, {users: 0, over: 10s}]`; or, for
    /// the open model, of the arrival rate: `[{rate: 100/s, over: 30s}, {rate: 500/s, over: 1m}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub stages: Option<Vec<RawStage>>,
    /// Open model: iterations started per second (`500/s`) or minute (`600/m`) on a fixed
    /// schedule, however slowly the target answers. With `duration` (and optionally `ramp`
    /// as a length, e.g. `30s`, from `start_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_rate: Option<Rate>,
    /// Open model: the rate at the start, from which the first ramp or stage climbs.
    /// Default: `0/s` with a ramp, else the first stage's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_rate: Option<Rate>,
    /// Open model: the most users the pool may grow to (each with its own connections and
    /// cookies). Default: enough for the peak rate at 1 s per iteration plus think time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_users: Option<u64>,
    /// Open model: users set up before the first iteration. Default: what the peak rate
    /// needs at 100 ms per step plus think time, at most `max_users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pre_allocated: Option<u64>,
    /// A step test for capacity planning: users or arrival rates in stairs, each level
    /// held, e.g. `{users: {from: 8, to: 64, step: 8}, hold: 30s, ramp: 5s}`. Instead of
    /// `users`/`stages`/`arrival_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<RawSteps>,
    /// After the end, how long in-flight requests may finish. Default: `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_stop: Option<Dur>,
    /// Instead of `duration`: each of the `users` runs this many iterations of its
    /// scenario, then its `on_stop`; the run ends when all have (k6's `per-vu-iterations`),
    /// e.g. `{users: 10, iterations_per_user: 5}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub iterations_per_user: Option<u64>,
    /// Instead of `duration`: this many iterations in all, shared by the `users` (each takes
    /// the next one while any remain); the run ends when they are done (k6's
    /// `shared-iterations`), e.g. `{users: 10, iterations: 200}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub iterations: Option<u64>,
    /// With `iterations` or `iterations_per_user`: the longest the run may take, a safety
    /// bound (the run then stops, interrupted, as at the end of a `duration`). Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Dur>,
}

/// One ramp or hold: the number of users (closed model) or the arrival rate (open model)
/// changes linearly to `users` or `rate` over `over`; `over: 0s` jumps (a spike).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Stage")]
pub struct RawStage {
    /// Users at the end of the stage (closed model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Arrival rate at the end of the stage (open model), e.g. `200/s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Length of the stage, e.g. `30s`.
    pub over: Dur,
}

/// One target: an expression, an expression with options, or a preset.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Threshold")]
pub enum RawThreshold {
    /// `METRIC[(step|scenario|tag="NAME")] OP VALUE`, e.g. `p95 < 100ms`,
    /// `mean(scenario="browse") < 80ms`, `error_rate < 0.1%`, `rps > 500/s`, `users >= 1000`.
    /// Metrics: mean, p50, p75, p90, p95, p99, p99.9, max (response time), service_mean,
    /// service_pN, service_max (service time), error_rate, checks (share passed), rps,
    /// users (peak concurrent).
    Expr(String),
    /// An expression with options.
    Options(Box<RawThresholdOptions>),
    /// A preset's KPIs, e.g. `preset: phase9`.
    Preset(RawPresetItem),
}

/// An expression with options.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ThresholdOptions")]
pub struct RawThresholdOptions {
    /// The expression, e.g. `p95 < 200ms`.
    pub expr: String,
    /// Ignore the start of the run (the ramp-up): only measure from this time on, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Dur>,
    /// Stop the run early once this target is lost. Default: `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_on_fail: Option<bool>,
    /// With `abort_on_fail`: how long the target may be lost before the run stops, e.g. `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Dur>,
}

/// `preset: NAME` or `preset: {name: NAME, ...}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PresetTargets")]
pub struct RawPresetItem {
    /// `phase9`: the Phase 9 plan's KPIs (API mean < 100ms, page load < 1s, database query
    /// < 50ms, 1000+ concurrent users, error rate <= 0.1%), with its baselines.
    pub preset: RawPreset,
}

/// A preset by name, or with its mapping spelt out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Preset")]
pub enum RawPreset {
    /// The preset's name, e.g. `phase9`.
    Name(String),
    /// The preset with its mapping of KPIs to measurements.
    Options(Box<RawPresetOptions>),
}

/// A preset with its mapping of KPIs to what the run measures.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PresetOptions")]
pub struct RawPresetOptions {
    /// The preset's name, e.g. `phase9`.
    pub name: String,
    /// The API requests. Default: `{tag: api}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<RawKpiSelector>,
    /// The page loads. Default: `{tag: page}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<RawKpiSelector>,
    /// The database queries. Default: `{server_timing: db}` (the `db` entry of the
    /// responses' `Server-Timing` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<RawKpiSelector>,
    /// Only measure from this time on (skip the ramp-up), e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Dur>,
}

/// Which measurements a KPI reads: at most one of `step`, `scenario`, `tag`, and optionally a
/// `Server-Timing` entry instead of the response time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KpiSelector")]
pub struct RawKpiSelector {
    /// Steps of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Steps of this scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Steps with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Read this `Server-Timing` entry (e.g. `db`) instead of the response time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timing: Option<String>,
}

/// A file holding only targets, shared by several scenarios (`--targets FILE`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Skein targets")]
pub struct RawTargetsFile {
    /// Location of this JSON Schema, for editors; ignored by skein.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Pass/fail thresholds, as under a scenario's `targets:`.
    pub targets: Vec<RawThreshold>,
}

/// A duration as written, e.g. `250ms`; parsed by `compile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Dur(pub String);

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "description": "A duration: numbers with units us, ms, s, m, h, e.g. `250ms`, `1.5s`, `1m30s`.",
            "type": "string",
            "pattern": DURATION_PATTERN
        })
    }
}

/// What editors check a duration against; `compile` parses it for real.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(us|µs|ms|s|m|h))+$";

/// A ramp as written, e.g. `200/s` or `30s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ramp(pub String);

impl JsonSchema for Ramp {
    fn schema_name() -> Cow<'static, str> {
        "Ramp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "description": "Users started per second (`200/s`) or minute (`600/m`), or the ramp's length (`30s`).",
            "type": "string",
            "pattern": r"^([0-9]+(\.[0-9]+)?/(s|m)|([0-9]+(\.[0-9]+)?(us|µs|ms|s|m|h))+)$"
        })
    }
}

/// An arrival rate as written, e.g. `500/s` or `600/m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rate(pub String);

impl JsonSchema for Rate {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "description": "Iterations started per second (`500/s`) or minute (`600/m`).",
            "type": "string",
            "pattern": r"^[0-9]+(\.[0-9]+)?/(s|m)$"
        })
    }
}

/// A scalar taken as text: a string, or a number or boolean written without quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Text(s)),
            serde_json::Value::Number(n) => Ok(Text(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Text(b.to_string())),
            other => Err(D::Error::custom(format!("expected text, found {other}"))),
        }
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A YAML mapping whose keys keep their written order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OrderedMap<V>, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({ "type": "object", "additionalProperties": g.subschema_for::<V>() })
    }
}

/// The JSON Schema of scenario files (draft 2020-12), generated from the types above once.
pub(crate) fn schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(RawFile).to_value())
}

/// The JSON Schema of targets files, generated once.
pub(crate) fn targets_schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(RawTargetsFile).to_value())
}
