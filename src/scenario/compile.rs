//! The semantic pass: a structurally sound [`RawFile`] becomes a [`Plan`].
//!
//! Every rule the schema cannot express is checked here (durations, ramps, templates,
//! regexes, JSON paths, method shorthands, duplicate names, ...), and every problem is
//! collected before giving up, so one run of `skein validate` shows them all. Positions
//! come from the node tree, found again through each value's [`KeyPath`].

use std::path::Path;
use std::time::Duration;

use super::error::Diagnostic;
use super::node::{KeyPath, Node};
use super::plan::{
    EmbeddedTarget, HttpDefaults, HttpVersion, LoadPlan, OpenLoad, Plan, RateStage, RouteTiming,
    ScenarioPlan, Shard, Stage, Target, TargetPlan, TargetSource, ThinkTime, VarDef,
};
use super::raw::{
    Dur, OrderedMap, Rate, RawAuthOrNone, RawEmbedded, RawFile, RawLoad, RawRoute, RawScenario,
    RawStage, RawThink, RawVariable, Text, VarPer,
};
use super::suggest;
use super::targets::Known;
use super::template::Template;
use super::units::{self, DURATION_EXPECTED, RAMP_EXPECTED, RATE_EXPECTED};
use crate::metrics::verdict::{Metric, Unit};

/// Users an arrival rate of `peak` keeps busy when every step takes `latency` seconds
/// (Little's law over the scenarios' mix), with the arithmetic in words.
pub(super) fn pool_need(peak: f64, scenarios: &[ScenarioPlan], latency: f64) -> (f64, String) {
    let total_weight: f64 = scenarios.iter().map(|s| s.weight.max(1) as f64).sum();
    let mut users = 0.0;
    let mut parts = Vec::new();
    for s in scenarios {
        let share = s.weight.max(1) as f64 / total_weight.max(1.0);
        let steps = s.requests_per_iteration();
        let think = s.think_per_iteration().as_secs_f64();
        users += peak * share * (steps * latency + think);
        parts.push(format!(
            "{}{} x ({} step{} x {} + {} think time)",
            units::show_rate(peak * share),
            if scenarios.len() > 1 {
                format!(" ({})", s.name)
            } else {
                String::new()
            },
            (steps * 100.0).round() / 100.0,
            if steps == 1.0 { "" } else { "s" },
            units::show_duration(Duration::from_secs_f64(latency)),
            units::show_duration(Duration::from_secs_f64(think).round_ms()),
        ));
    }
    // Round away float noise before rounding up (100 x 2.2 is 220.00000000000003).
    ((users - 1e-6).ceil().max(0.0), parts.join(" + "))
}

/// The pool when the file does not say: enough for 1 s per step plus think time.
pub(super) fn default_max_users(peak: f64, scenarios: &[ScenarioPlan]) -> usize {
    (pool_need(peak, scenarios, 1.0).0 as usize).clamp(10, 100_000)
}

/// Users set up in advance when the file does not say: enough for 100 ms per step.
pub(super) fn default_pre_allocated(
    peak: f64,
    scenarios: &[ScenarioPlan],
    max_users: usize,
) -> usize {
    (pool_need(peak, scenarios, 0.1).0 as usize).clamp(1, max_users.max(1))
}

trait RoundMs {
    fn round_ms(self) -> Duration;
}

impl RoundMs for Duration {
    fn round_ms(self) -> Duration {
        Duration::from_millis((self.as_secs_f64() * 1000.0).round() as u64)
    }
}

/// Names accepted by `target: embedded:NAME`.
pub const EMBEDDED_TARGETS: &[&str] = &["phase9"];
/// The longest run a plan may describe; longer is surely a typo (and keeps sums finite).
pub(crate) const MAX_RUN: Duration = Duration::from_secs(366 * 24 * 3600);
/// The longest `name:`, in bytes: it starts the results folder's name, `<name>-<UTC time>`,
/// which must fit in the 255 bytes of a file name.
pub const MAX_NAME_BYTES: usize = 128;
/// The most users a plan may have at once (the closed model's users, the open model's
/// pool): far beyond what one generator holds, so more is surely a typo. (Rates stop at
/// 10,000,000 a second when they are parsed, `units::parse_rate`.)
pub const MAX_USERS: usize = 1_000_000;
/// What to do about more users.
pub const LOAD_LIMIT_HINT: &str = "one generator holds far less (each user keeps its own connection; `--workers` only spreads them over one machine's cores): for more, run a share of the load on each of several machines";
/// `graceful_stop` when the file does not say.
const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);

/// Reads an environment variable for `${env.NAME}`.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The state of one compilation: where messages point, and what has been found so far.
pub(super) struct Compiler<'a> {
    pub file: &'a Path,
    pub root: &'a Node,
    pub env: EnvFn<'a>,
    pub diags: Vec<Diagnostic>,
    /// Things that will run but probably not as meant.
    pub warns: Vec<Diagnostic>,
    /// Variable names, by slot: declared ones first, then those only an `extract` writes.
    pub slots: Slots,
    /// Environment values substituted into templates.
    pub secrets: Vec<String>,
    /// The feeders, and which scenarios read them.
    pub feed: super::feeder::FeedState,
    /// Custom metrics declared (`metrics:`), in order.
    pub metric_defs: Vec<super::custom_metrics::MetricDef>,
}

/// Variable names by slot, found by name in O(1) (a file may declare tens of thousands).
#[derive(Debug, Default, Clone)]
pub(super) struct Slots {
    names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Slots {
    /// Add `name` (again, if it is there: the first slot keeps the name); its new slot.
    pub fn push(&mut self, name: String) -> usize {
        let slot = self.names.len();
        self.index.entry(name.clone()).or_insert(slot);
        self.names.push(name);
        slot
    }
    /// The first slot named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.names.iter()
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// Compile `raw` (read from `root`, whose JSON is `json`) into a plan, or return every
/// problem found.
pub(super) fn compile(
    raw: &RawFile,
    root: &Node,
    file: &Path,
    env: EnvFn<'_>,
    json: serde_json::Value,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut c = Compiler {
        file,
        root,
        env,
        diags: Vec::new(),
        warns: Vec::new(),
        slots: Slots::default(),
        secrets: Vec::new(),
        feed: Default::default(),
        metric_defs: Vec::new(),
    };
    let top = KeyPath::root();
    let name = c.run_name(raw.name.as_deref(), &top.key("name"));
    c.declare_variables(raw);
    c.load_feeders(raw);
    c.declare_metrics(raw);
    let target = c.target(&raw.target, &top.key("target"));
    let defaults = c.defaults(raw, &top.key("defaults"));
    let variables = c.variables(raw, &top.key("variables"));
    let mut scenarios = c.scenarios(&raw.scenarios, &top.key("scenarios"));
    c.metric_names_apart(&scenarios);
    let default_auth = raw.defaults.as_ref().and_then(|d| {
        let at = top.key("defaults").key("auth");
        d.auth
            .as_ref()
            .and_then(|a| c.auth(a, d.headers.as_ref(), &at))
    });
    let no_auth: Vec<Vec<bool>> = raw
        .scenarios
        .iter()
        .map(|s| super::http_opts::no_auth(s, true))
        .collect();
    super::http_opts::fold_defaults(
        &mut scenarios,
        default_auth.as_ref(),
        defaults.follow_redirects,
        &no_auth,
    );
    let (setup, teardown) = c.once_steps(raw, default_auth.as_ref(), defaults.follow_redirects);
    c.reserved_scenario_names(raw);
    c.check_data_flow(raw);
    c.check_once_flow(raw);
    c.unused_feeders();
    let feeders = std::mem::take(&mut c.feed).finish(scenarios.len());
    let mut load = c.load(&raw.load, &top.key("load"));
    let targets = match &raw.targets {
        Some(list) => {
            let known = Known::from_raw(raw);
            c.targets(
                list,
                &top.key("targets"),
                &TargetSource::Scenario,
                Some(&known),
            )
        }
        None => Vec::new(),
    };
    if let Some(load) = load.as_mut() {
        c.size_pool(load, &scenarios, &targets, &top.key("load"));
        c.load_limits(load, &raw.load, &top.key("load"));
    }
    let capacity = c.capacity(raw, load.as_ref(), &targets, &top.key("capacity"));
    let mut targets = targets;
    let lighthouse = c.lighthouse(raw, load.as_ref(), &mut targets);
    match (target, load) {
        (Some(target), Some(load)) if c.diags.is_empty() => Ok(Plan {
            name,
            source: Some(file.to_path_buf()),
            target,
            defaults,
            variables,
            feeders,
            scenarios,
            load,
            scenario_copy: super::redact::redact(json),
            secrets: super::plan::Secrets::of(&c.secrets),
            targets,
            warnings: c.warns,
            capacity,
            setup,
            teardown,
            lighthouse,
        }),
        _ => Err(c.diags),
    }
}

impl Compiler<'_> {
    /// A problem with the value at `path`, shown as written.
    pub fn bad(&mut self, path: &KeyPath, expected: impl Into<String>, hint: Option<String>) {
        let found = self.root.locate(path).found();
        self.err(path, found, expected, hint);
    }

    /// A problem at `path` (or the nearest node above it that exists).
    pub fn err(
        &mut self,
        path: &KeyPath,
        found: impl Into<String>,
        expected: impl Into<String>,
        hint: Option<String>,
    ) {
        let n = self.root.locate(path);
        let (line, col) = (n.line, n.col);
        self.err_at(line, col, path, found, expected, hint);
    }

    pub fn err_at(
        &mut self,
        line: usize,
        column: usize,
        path: &KeyPath,
        found: impl Into<String>,
        expected: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            key: path.to_string(),
            found: found.into(),
            expected: expected.into(),
            hint,
        });
    }

    pub fn duration(&mut self, d: &Dur, path: &KeyPath) -> Option<Duration> {
        match units::parse_duration(&d.0) {
            Ok(v) if v > MAX_RUN => {
                self.bad(
                    path,
                    format!("a duration of at most {}h", MAX_RUN.as_secs() / 3600),
                    None,
                );
                None
            }
            Ok(v) => Some(v),
            Err(hint) => {
                let hint = match path.0.last() {
                    Some(super::node::Seg::Key(k)) if units::is_bare_number(&d.0) => {
                        units::unit_hint(&d.0, k)
                    }
                    _ => hint,
                };
                self.bad(path, DURATION_EXPECTED, Some(hint));
                None
            }
        }
    }

    /// A duration that must be more than zero (a timeout).
    pub fn positive_duration(&mut self, d: &Dur, path: &KeyPath) -> Option<Duration> {
        let v = self.duration(d, path)?;
        if v.is_zero() {
            self.bad(path, "a duration longer than 0s", None);
            return None;
        }
        Some(v)
    }

    fn run_name(&mut self, name: Option<&str>, path: &KeyPath) -> String {
        let Some(name) = name else {
            // The file's name, cut to fit a folder name (a run of it must not fail on it).
            let stem = self.file.file_stem().map_or_else(
                || "scenario".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            let mut end = stem.len().min(MAX_NAME_BYTES);
            while !stem.is_char_boundary(end) {
                end -= 1;
            }
            return stem[..end].to_string();
        };
        if name.trim().is_empty()
            || name.contains(['/', '\\'])
            || name.chars().any(char::is_control)
        {
            self.bad(path, "a short name without slashes, e.g. checkout", None);
        } else if name.len() > MAX_NAME_BYTES {
            // The results folder is `<name>-<UTC time>`, and a file name has at most 255 bytes.
            self.err(
                path,
                format!("a name of {} bytes", name.len()),
                format!("a name of at most {MAX_NAME_BYTES} bytes (UTF-8)"),
                Some(
                    "the name starts the results folder's name (`<name>-<UTC time>`), which must fit in a file name; describe the run in a comment instead".into(),
                ),
            );
        }
        name.to_string()
    }

    /// Slots: declared variables in order, then each name an `extract` writes.
    fn declare_variables(&mut self, raw: &RawFile) {
        let vars = KeyPath::root().key("variables");
        for (name, _) in raw.variables.iter().flat_map(|m| &m.0) {
            self.check_var_name(name, &vars.key(name));
            self.slots.push(name.clone());
        }
        for (i, sc) in raw.scenarios.iter().enumerate() {
            let sc_at = KeyPath::root().key("scenarios").idx(i);
            for (_, steps) in super::flow_control::leaf_lists(sc, &sc_at) {
                for (step_at, step) in steps {
                    for (name, _) in step.extracts() {
                        let at = step_at.key("extract").key(name);
                        self.check_var_name(name, &at);
                        if !self.slots.contains(name) {
                            self.slots.push(name.clone());
                        }
                    }
                    for (m, name) in super::ws::extract_names(step) {
                        let at = step_at.key("messages").idx(m).key("extract").key(name);
                        self.check_var_name(name, &at);
                        if !self.slots.contains(name) {
                            self.slots.push(name.clone());
                        }
                    }
                }
            }
        }
        for (list, steps) in super::once::lists(raw) {
            for (j, step) in steps.iter().enumerate() {
                for (name, _) in step.written() {
                    let at = KeyPath::root().key(list).idx(j).key("extract").key(name);
                    self.check_var_name(name, &at);
                    if !self.slots.contains(name) {
                        self.slots.push(name.clone());
                    }
                }
            }
        }
    }

    fn check_var_name(&mut self, name: &str, path: &KeyPath) {
        if !units::is_identifier(name) || name == "env" {
            let hint = if name == "env" {
                "`env` is reserved for `${env.NAME}`".to_string()
            } else {
                format!(
                    "try `{}`",
                    name.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-'), "_")
                )
            };
            self.err(
                path,
                format!("the variable name `{name}`"),
                "letters, digits, `_` and `-`, starting with a letter or `_`",
                Some(hint),
            );
        }
    }

    fn target(&mut self, t: &super::raw::RawTarget, path: &KeyPath) -> Option<Target> {
        use super::raw::RawTarget;
        match t {
            RawTarget::Url(s) if s.contains("${") => self.env_target(s, path),
            RawTarget::Url(s) => match s.strip_prefix("embedded:") {
                Some(name) => self
                    .embedded_name(name.trim(), path)
                    .then(|| Target::Embedded(EmbeddedTarget::default())),
                None => self.base_url(s, path).map(Target::Url),
            },
            RawTarget::Embedded(e) => self.embedded(e, path).map(Target::Embedded),
        }
    }

    /// `target: ${env.BASE_URL}` (or `http://${env.HOST}:8080`): environment references
    /// resolved now, then the URL checked. A value from the environment that is not a URL
    /// is not shown (it may be a secret set by mistake).
    fn env_target(&mut self, s: &str, path: &KeyPath) -> Option<Target> {
        const EXPECTED: &str = "a URL such as http://127.0.0.1:8080, or embedded:phase9";
        let mut variable = None;
        let unset: std::cell::RefCell<Option<String>> = Default::default();
        let read = self.env;
        let parsed = Template::parse(
            s,
            &mut |name: &str| {
                variable.get_or_insert_with(|| name.to_string());
                None
            },
            &|name: &str| {
                let v = read(name);
                if v.is_none() {
                    unset.borrow_mut().get_or_insert_with(|| name.to_string());
                }
                v
            },
        );
        let url = match parsed.as_ref().map(|t| (t.as_literal(), t.json_type())) {
            Ok((Some(url), None)) => url.to_string(),
            Ok(_) => {
                self.bad(
                    path,
                    EXPECTED,
                    Some("a target may read the environment (`${env.BASE_URL}`), but not functions or types".into()),
                );
                return None;
            }
            Err(e) => {
                let hint = if let Some(name) = unset.borrow().as_ref() {
                    format!(
                        "set it before running skein, e.g. `export {name}=http://127.0.0.1:8080`"
                    )
                } else if let Some(name) = &variable {
                    format!(
                        "the target is fixed for the whole run, so it cannot read the per-user variable `{name}`; use `${{env.NAME}}`"
                    )
                } else {
                    e.message.clone()
                };
                let expected = if unset.borrow().is_some() {
                    "an environment variable that is set"
                } else {
                    EXPECTED
                };
                let node = self.root.locate(path);
                let (line, col) = (node.line, node.col_at(e.offset));
                self.err_at(line, col, path, node.found(), expected, Some(hint));
                return None;
            }
        };
        if let Some(name) = url.strip_prefix("embedded:") {
            return self
                .embedded_name(name.trim(), path)
                .then(|| Target::Embedded(EmbeddedTarget::default()));
        }
        let shown = url.starts_with("http://") || url.starts_with("https://");
        let secret_free = !url.contains('@');
        if shown && secret_free {
            return self.base_url(&url, path).map(Target::Url);
        }
        let why = if !secret_free {
            "it holds credentials (`user:password@`): put them in `defaults.auth` instead"
        } else {
            "it has no http:// or https:// scheme"
        };
        self.err(
            path,
            format!("{s:?}, whose value from the environment (not shown) is not a URL"),
            EXPECTED,
            Some(format!("{why}; e.g. `export NAME=http://127.0.0.1:8080`")),
        );
        None
    }

    fn embedded_name(&mut self, name: &str, path: &KeyPath) -> bool {
        if EMBEDDED_TARGETS.contains(&name) {
            return true;
        }
        let hint = match suggest::closest(name, EMBEDDED_TARGETS) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("the embedded targets are: {}", EMBEDDED_TARGETS.join(", ")),
        };
        self.bad(
            path,
            "embedded:phase9, or a URL such as http://127.0.0.1:8080",
            Some(hint),
        );
        false
    }

    fn base_url(&mut self, s: &str, path: &KeyPath) -> Option<String> {
        const EXPECTED: &str = "a URL such as http://127.0.0.1:8080, or embedded:phase9";
        let Some(rest) = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
        else {
            let hint = if s.contains("://") {
                "only http:// and https:// are supported".to_string()
            } else {
                format!("add the scheme: http://{s}")
            };
            self.bad(path, EXPECTED, Some(hint));
            return None;
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.contains('@') {
            // The target is written into every report, and the message would show it too.
            let n = self.root.locate(path);
            self.err_at(
                n.line,
                n.col,
                path,
                format!("{:?}", super::redact::redact_url(s)),
                EXPECTED,
                Some(
                    "it holds credentials (`user:password@`), which would be written into \
                     every report: put them in `defaults.auth`, with `${env.NAME}`"
                        .into(),
                ),
            );
            return None;
        }
        if host.is_empty() || s.chars().any(char::is_whitespace) {
            self.bad(
                path,
                EXPECTED,
                Some("a URL names a host and has no spaces".into()),
            );
            return None;
        }
        Some(s.trim_end_matches('/').to_string())
    }

    fn embedded(&mut self, e: &RawEmbedded, path: &KeyPath) -> Option<EmbeddedTarget> {
        let name_ok = self.embedded_name(e.embedded.trim(), &path.key("embedded"));
        let workers = e.workers.map(|w| usize::try_from(w).unwrap_or(usize::MAX));
        let mut routes = std::collections::BTreeMap::new();
        let mut ok = name_ok;
        for (name, r) in e.routes.iter().flat_map(|r| r.iter()) {
            match self.route(r, &path.key("routes").key(name)) {
                Some(t) => {
                    routes.insert(name.to_string(), t);
                }
                None => ok = false,
            }
        }
        // 0 is refused by the schema's range (`db_pool` has a minimum of 1).
        let db_pool = e.db_pool.map(|w| usize::try_from(w).unwrap_or(usize::MAX));
        ok.then_some(EmbeddedTarget {
            workers,
            routes,
            db_pool,
        })
    }

    fn route(&mut self, r: &RawRoute, path: &KeyPath) -> Option<RouteTiming> {
        let mut ok = true;
        let mut get = |c: &mut Self, d: &Option<Dur>, key: &str| match d {
            None => None,
            Some(d) => {
                let v = c.duration(d, &path.key(key));
                ok &= v.is_some();
                v
            }
        };
        let t = RouteTiming {
            service_time: get(self, &r.service_time, "service_time"),
            jitter: get(self, &r.jitter, "jitter"),
            db: get(self, &r.db, "db"),
        };
        if let (Some(s), Some(j)) = (t.service_time, t.jitter)
            && j > s
        {
            self.bad(
                &path.key("jitter"),
                format!("at most service_time ({})", units::show_duration(s)),
                None,
            );
            ok = false;
        }
        if let (Some(s), Some(db)) = (t.service_time, t.db)
            && db > s
        {
            self.bad(
                &path.key("db"),
                format!("at most service_time ({})", units::show_duration(s)),
                None,
            );
            ok = false;
        }
        ok.then_some(t)
    }

    fn defaults(&mut self, raw: &RawFile, path: &KeyPath) -> HttpDefaults {
        let mut out = HttpDefaults::default();
        let Some(d) = &raw.defaults else { return out };
        if let Some(h) = &d.headers {
            out.headers = self.headers(h, &path.key("headers"));
        }
        if let Some(t) = d
            .timeout
            .as_ref()
            .and_then(|t| self.positive_duration(t, &path.key("timeout")))
        {
            out.timeout = t;
        }
        if let Some(Text(v)) = &d.http_version {
            match v.as_str() {
                "auto" => out.http_version = HttpVersion::Auto,
                "1.1" => out.http_version = HttpVersion::Http1,
                "2" => out.http_version = HttpVersion::Http2,
                _ => self.bad(&path.key("http_version"), "one of auto, 1.1, 2", None),
            }
        }
        out.tls_verify = match (d.tls_verify, d.insecure) {
            (Some(verify), Some(insecure)) if verify == insecure => {
                self.err(
                    &path.key("insecure"),
                    format!("`insecure: {insecure}` with `tls_verify: {verify}`"),
                    "one of them (`insecure: true` is `tls_verify: false`)",
                    None,
                );
                true
            }
            (Some(verify), _) => verify,
            (None, Some(insecure)) => !insecure,
            (None, None) => true,
        };
        out.cookies = d.cookies.unwrap_or(true);
        if let Some(ua) = &d.user_agent {
            out.user_agent = ua.clone();
        }
        if let Some(r) = &d.follow_redirects {
            out.follow_redirects = self.redirects(r);
        }
        if let Some(f) = &d.ca_file {
            out.ca_file = self.ca_file(f, &path.key("ca_file"));
            if !out.tls_verify && out.ca_file.is_some() {
                let n = self.root.locate(&path.key("ca_file"));
                self.warns.push(Diagnostic {
                    file: self.file.to_path_buf(),
                    line: n.line,
                    column: n.col,
                    key: path.key("ca_file").to_string(),
                    found: "`ca_file` with TLS verification off".into(),
                    expected: "`ca_file` to verify certificates against, with `tls_verify: true`"
                        .into(),
                    hint: Some(
                        "with `tls_verify: false` (or `insecure: true`) every certificate is \
                         accepted and the CA file is not used"
                            .into(),
                    ),
                });
            }
        }
        out
    }

    /// Every slot as a variable: the declared ones with their initial values and whether
    /// they are drawn again each iteration (`per:`, else: a value that is not constant and
    /// that no `extract` writes), then the extract-only ones and the feeder fields.
    fn variables(&mut self, raw: &RawFile, path: &KeyPath) -> Vec<VarDef> {
        let extracted = super::flow::extracted_names(raw);
        let read_once = super::flow::read_once_names(raw);
        let declared: std::collections::HashMap<&str, &RawVariable> = raw
            .variables
            .iter()
            .flat_map(|m| &m.0)
            .map(|(k, v)| (k.as_str(), v))
            .rev()
            .collect();
        let slots: Vec<String> = self.slots.iter().cloned().collect();
        slots
            .into_iter()
            .map(|name| {
                // The first entry of that name (`.rev()` above: the first one inserted wins).
                let spec = declared.get(name.as_str()).copied();
                let Some(spec) = spec else {
                    return VarDef {
                        name,
                        initial: None,
                        per_iteration: false,
                    };
                };
                let at = match spec {
                    RawVariable::Value(_) => path.key(&name),
                    RawVariable::Spec(_) => path.key(&name).key("value"),
                };
                let initial = self.template_or_literal(&at, spec.value());
                let per_iteration = match spec.per() {
                    Some(VarPer::User) => false,
                    Some(VarPer::Iteration) => true,
                    // A value read in `on_start` or `on_stop` (a username to sign up
                    // with) identifies the user: it stays.
                    None => {
                        initial.as_literal().is_none()
                            && !extracted.contains(&name)
                            && !read_once.contains(&name)
                    }
                };
                VarDef {
                    name,
                    initial: Some(initial),
                    per_iteration,
                }
            })
            .collect()
    }

    fn scenarios(&mut self, list: &[RawScenario], path: &KeyPath) -> Vec<ScenarioPlan> {
        let mut out = Vec::with_capacity(list.len());
        let mut first_named: std::collections::HashMap<&str, usize> = Default::default();
        for (i, s) in list.iter().enumerate() {
            let p = path.idx(i);
            // Feeders read by this scenario's templates give its users rows.
            self.feed.scenario = Some(i);
            let first = *first_named.entry(s.name.as_str()).or_insert(i);
            if s.name.trim().is_empty() {
                self.bad(&p.key("name"), "a name, e.g. browse", None);
            } else if first < i {
                let line = self.root.locate(&path.idx(first).key("name")).line;
                self.err(
                    &p.key("name"),
                    format!("{:?} a second time", s.name),
                    "a name no other scenario has",
                    Some(format!(
                        "scenarios[{first}] on line {line} has this name too"
                    )),
                );
            }
            let think_time = s
                .think_time
                .as_ref()
                .and_then(|t| self.think(t, &p.key("think_time")));
            // The leaf steps of each list, flat, and the flow control beside them.
            let ([on_start, steps, on_stop], flow) = self.flow_steps(s, &p);
            let headers = s
                .headers
                .as_ref()
                .map(|h| self.headers(h, &p.key("headers")))
                .unwrap_or_default();
            let auth = s
                .auth
                .as_ref()
                .and_then(RawAuthOrNone::credentials)
                .and_then(|a| self.auth(a, s.headers.as_ref(), &p.key("auth")));
            let mut sc = ScenarioPlan {
                name: s.name.clone(),
                weight: s.weight.unwrap_or(1),
                think_time: think_time.unwrap_or_default(),
                on_start,
                steps,
                on_stop,
                flow,
            };
            let no_auth = super::http_opts::no_auth(s, false);
            super::http_opts::fold_scenario(&mut sc, &headers, auth.as_ref(), &no_auth);
            out.push(sc);
        }
        self.feed.scenario = None;
        out
    }

    pub fn think(&mut self, t: &RawThink, path: &KeyPath) -> Option<ThinkTime> {
        match t {
            RawThink::Constant(d) => self.duration(d, path).map(ThinkTime::Constant),
            RawThink::Uniform(u) => {
                let min = self.duration(&u.min, &path.key("min"));
                let max = self.duration(&u.max, &path.key("max"));
                let (min, max) = (min?, max?);
                if min > max {
                    let expected =
                        format!("a min no larger than max ({})", units::show_duration(max));
                    self.bad(&path.key("min"), expected, Some("swap min and max".into()));
                    return None;
                }
                Some(ThinkTime::Uniform { min, max })
            }
            RawThink::Gaussian(g) => {
                let mean = self.duration(&g.mean, &path.key("mean"));
                let stddev = self.duration(&g.stddev, &path.key("stddev"));
                Some(ThinkTime::Gaussian {
                    mean: mean?,
                    stddev: stddev?,
                })
            }
        }
    }

    fn load(&mut self, l: &RawLoad, path: &KeyPath) -> Option<LoadPlan> {
        let graceful = match &l.graceful_stop {
            None => Some(DEFAULT_GRACEFUL_STOP),
            Some(d) => self.duration(d, &path.key("graceful_stop")),
        };
        if super::iterations::counted(l) {
            return self.iterations_load(l, path, graceful?);
        }
        if let Some(steps) = &l.steps {
            return self.step_load(l, steps, path, graceful?);
        }
        let rate_stages = l
            .stages
            .as_ref()
            .is_some_and(|st| st.iter().any(|s| s.rate.is_some()));
        if l.arrival_rate.is_some() || rate_stages {
            let open = self.open_load(l, path);
            return Some(LoadPlan {
                stages: vec![Stage {
                    users: 0,
                    over: open.as_ref()?.duration(),
                }],
                graceful_stop: graceful?,
                open: Some(open?),
                steps: None,
                shard: Shard::WHOLE,
                iterations: None,
            });
        }
        for (key, given) in [
            ("start_rate", l.start_rate.is_some()),
            ("max_users", l.max_users.is_some()),
            ("pre_allocated", l.pre_allocated.is_some()),
        ] {
            if given {
                self.err(
                    &path.key(key),
                    format!("`{key}` with `users`"),
                    "`arrival_rate` or stages of `rate` (the open model) beside it",
                    Some(format!(
                        "`{key}` belongs to the open model; with `users` (the closed model) the number of users is fixed by the stages"
                    )),
                );
            }
        }
        let stages = match (&l.users, &l.stages) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("stages"),
                    "both `users` and `stages`",
                    "either `users` (with `ramp` and `duration`) or `stages`",
                    Some("write the ramp and hold as stages, e.g. [{users: 100, over: 30s}, {users: 100, over: 1m}]".into()),
                );
                None
            }
            (None, None) => {
                self.err(
                    path,
                    "neither `users` nor `stages`",
                    "`users` with `duration`, or `stages`",
                    Some("e.g. `load: {users: 10, ramp: 5/s, duration: 1m}`".into()),
                );
                None
            }
            (None, Some(st)) => {
                self.nothing_beside_stages(
                    l,
                    path,
                    "a stage {users: N, over: 30s} moves linearly to N users",
                );
                self.stages(st, &path.key("stages"))
            }
            (Some(u), None) => self.users_load(*u, l, path),
        };
        Some(LoadPlan {
            stages: stages?,
            graceful_stop: graceful?,
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        })
    }

    /// No more than [`MAX_USERS`] users, said at the key that asks for them (a rate that
    /// needs a larger pool than that included).
    fn load_limits(&mut self, load: &LoadPlan, l: &RawLoad, path: &KeyPath) {
        let hint = || Some(LOAD_LIMIT_HINT.to_string());
        let steps = path.key("steps");
        let Some(open) = &load.open else {
            if load.whole_max_users() <= MAX_USERS {
                return;
            }
            let stage = (l.stages.iter().flatten())
                .position(|s| s.users.is_some_and(|u| u > MAX_USERS as u64));
            let at = match (l.users, stage) {
                (Some(_), _) => path.key("users"),
                (None, Some(i)) => path.key("stages").idx(i).key("users"),
                (None, None) => steps.key("users").key("to"),
            };
            self.bad(&at, format!("at most {MAX_USERS} users"), hint());
            return;
        };
        if open.max_users > MAX_USERS {
            let at = match l.max_users {
                Some(_) => {
                    let expected = format!("at most {MAX_USERS} users");
                    return self.bad(&path.key("max_users"), expected, hint());
                }
                None if l.steps.is_some() => steps,
                None if l.arrival_rate.is_some() => path.key("arrival_rate"),
                None => path.key("stages"),
            };
            self.err(
                &at,
                format!("a pool of {} users", open.max_users),
                format!("at most {MAX_USERS} users"),
                hint(),
            );
        }
    }

    /// Stages must last more than 0 s and at most a year in all; `false` (and a problem
    /// naming `what`) when they do not.
    fn run_length(
        &mut self,
        mut overs: impl Iterator<Item = Duration>,
        path: &KeyPath,
        what: &str,
    ) -> bool {
        let total = overs
            .try_fold(Duration::ZERO, |a, o| a.checked_add(o))
            .unwrap_or(Duration::MAX);
        if total.is_zero() || total > MAX_RUN {
            self.err(
                path,
                format!("{what} lasting {} in all", units::show_duration(total)),
                "a total longer than 0s and within a year",
                None,
            );
            return false;
        }
        true
    }

    /// `ramp` and `duration` have no place beside `stages`; `false` when one is there.
    fn nothing_beside_stages(&mut self, l: &RawLoad, path: &KeyPath, hint: &str) -> bool {
        let mut ok = true;
        for (key, given) in [
            ("ramp", l.ramp.is_some()),
            ("duration", l.duration.is_some()),
        ] {
            if given {
                self.err(
                    &path.key(key),
                    format!("`{key}` next to `stages`"),
                    "ramps and holds written as stages",
                    Some(hint.to_string()),
                );
                ok = false;
            }
        }
        ok
    }

    pub(super) fn rate(&mut self, r: &Rate, path: &KeyPath, positive: bool) -> Option<f64> {
        match units::parse_rate(&r.0) {
            Ok(v) if positive && v <= 0.0 => {
                self.bad(path, "a rate above 0, e.g. 500/s", None);
                None
            }
            Ok(v) => Some(v),
            Err(hint) => {
                self.bad(path, RATE_EXPECTED, Some(hint));
                None
            }
        }
    }

    /// The open model: `arrival_rate` (with `duration` and an optional `ramp` length), or
    /// stages of `rate`. `max_users` 0 means "not given": [`Compiler::size_pool`] fills it.
    fn open_load(&mut self, l: &RawLoad, path: &KeyPath) -> Option<OpenLoad> {
        let mut ok = true;
        if l.users.is_some() {
            self.err(
                &path.key("users"),
                "`users` beside an arrival rate",
                "either `users` (closed model) or an arrival rate (open model)",
                Some("in the open model `max_users` bounds the pool of users".into()),
            );
            ok = false;
        }
        let start = match &l.start_rate {
            Some(r) => Some(self.rate(r, &path.key("start_rate"), false)?),
            None => None,
        };
        let (start_rate, stages) = match (&l.arrival_rate, &l.stages) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("stages"),
                    "both `arrival_rate` and `stages`",
                    "either `arrival_rate` (with `duration`) or stages of `rate`",
                    None,
                );
                return None;
            }
            (Some(r), None) => {
                let rate = self.rate(r, &path.key("arrival_rate"), true);
                let Some(d) = &l.duration else {
                    self.err(
                        &path.key("arrival_rate"),
                        "an arrival rate with no `duration`",
                        "`duration` beside it, e.g. `{arrival_rate: 500/s, duration: 5m}`",
                        Some("the open model needs to know how long to keep the schedule".into()),
                    );
                    return None;
                };
                let hold = self.duration(d, &path.key("duration"));
                let ramp = match &l.ramp {
                    None => Some(Duration::ZERO),
                    Some(r) => match units::parse_ramp(&r.0) {
                        Ok(units::RampSpec::Over(d)) => Some(d),
                        Ok(units::RampSpec::Rate(_)) => {
                            self.bad(
                                &path.key("ramp"),
                                "the ramp's length, e.g. 30s (the rate climbs from `start_rate` to `arrival_rate`)",
                                Some("users per second belong to the closed model".into()),
                            );
                            None
                        }
                        Err(hint) => {
                            self.bad(&path.key("ramp"), DURATION_EXPECTED, Some(hint));
                            None
                        }
                    },
                };
                let (rate, hold, ramp) = (rate?, hold?, ramp?);
                if ramp.is_zero() {
                    if start.is_some() {
                        self.err(
                            &path.key("start_rate"),
                            "`start_rate` without a `ramp`",
                            "a `ramp` length for the rate to climb over, e.g. `ramp: 30s`",
                            None,
                        );
                        return None;
                    }
                    (rate, vec![RateStage { rate, over: hold }])
                } else {
                    (
                        start.unwrap_or(0.0),
                        vec![
                            RateStage { rate, over: ramp },
                            RateStage { rate, over: hold },
                        ],
                    )
                }
            }
            (None, Some(list)) => {
                ok &= self.nothing_beside_stages(
                    l,
                    path,
                    "a stage {rate: 100/s, over: 30s} moves linearly to 100/s",
                );
                let sp = path.key("stages");
                let mut out = Vec::new();
                for (i, st) in list.iter().enumerate() {
                    let p = sp.idx(i);
                    let over = self.duration(&st.over, &p.key("over"));
                    let rate = match (&st.rate, st.users) {
                        (Some(r), None) => self.rate(r, &p.key("rate"), false),
                        (Some(_), Some(_)) => {
                            self.err(
                                &p.key("users"),
                                "both `users` and `rate` in one stage",
                                "`rate` (open model) or `users` (closed model), the same in every stage",
                                None,
                            );
                            None
                        }
                        (None, _) => {
                            self.err(
                                &p,
                                "a stage without `rate` among stages of `rate`",
                                "`rate: N/s` in every stage (the open model)",
                                Some(
                                    "a run is either closed (users) or open (rate), not both"
                                        .into(),
                                ),
                            );
                            None
                        }
                    };
                    match (rate, over) {
                        (Some(rate), Some(over)) => out.push(RateStage { rate, over }),
                        _ => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                (start.unwrap_or(0.0), out)
            }
            (None, None) => return None,
        };
        if !ok {
            return None;
        }
        let open = OpenLoad {
            start_rate,
            stages,
            max_users: 0,
            pre_allocated: 0,
        };
        if !self.run_length(open.stages.iter().map(|s| s.over), path, "a schedule") {
            return None;
        }
        if open.peak_rate() <= 0.0 {
            self.err(
                path,
                "a schedule whose rate never rises above 0",
                "at least one stage with a rate above 0, e.g. {rate: 100/s, over: 1m}",
                None,
            );
            return None;
        }
        let mut open = open;
        if let Some(n) = l.max_users {
            open.max_users = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = l.pre_allocated {
            open.pre_allocated = usize::try_from(n).unwrap_or(usize::MAX);
            if open.max_users > 0 && open.pre_allocated > open.max_users {
                self.err(
                    &path.key("pre_allocated"),
                    format!("pre_allocated {n}, above max_users {}", open.max_users),
                    "at most `max_users` users set up in advance",
                    None,
                );
                return None;
            }
        }
        Some(open)
    }

    /// Open model: default the pool's size from the schedule and the scenarios, and warn
    /// when a `max_users` written in the file is below what the peak rate needs at the
    /// expected latency (Little's law: users = rate x time per iteration).
    pub(super) fn size_pool(
        &mut self,
        load: &mut LoadPlan,
        scenarios: &[ScenarioPlan],
        targets: &[TargetPlan],
        path: &KeyPath,
    ) {
        let Some(open) = load.open.as_mut() else {
            return;
        };
        let peak = open.peak_rate();
        let need = |latency: f64| pool_need(peak, scenarios, latency);
        if open.max_users == 0 {
            open.max_users = default_max_users(peak, scenarios);
        } else {
            // The expected latency: the tightest response-time bound among the targets,
            // else 100 ms.
            let latency = targets
                .iter()
                .map(|t| &t.target)
                .filter(|t| t.metric == Metric::ResponseTime && t.unit == Unit::Us)
                .map(|t| t.threshold / 1e6)
                .filter(|v| *v > 0.0)
                .fold(f64::INFINITY, f64::min);
            let latency = if latency.is_finite() { latency } else { 0.1 };
            let (users, arithmetic) = need(latency);
            if (open.max_users as f64) < users {
                let n = self.root.locate(&path.key("max_users"));
                self.warns.push(Diagnostic {
                    file: self.file.to_path_buf(),
                    line: n.line,
                    column: n.col,
                    key: path.key("max_users").to_string(),
                    found: format!("max_users {}", open.max_users),
                    expected: format!(
                        "at least {users} users for the peak rate: {arithmetic} = {users}"
                    ),
                    hint: Some(
                        "with fewer, iterations wait for a free user: they start late (counted, and in the response time) or are dropped".into(),
                    ),
                });
            }
        }
        if open.pre_allocated == 0 {
            open.pre_allocated = default_pre_allocated(peak, scenarios, open.max_users);
        }
        open.pre_allocated = open.pre_allocated.min(open.max_users);
        for s in &mut load.stages {
            s.users = open.max_users;
        }
    }

    /// `users, ramp, duration` as `[{users, ramp_time}, {users, duration}]`.
    fn users_load(&mut self, users: u64, l: &RawLoad, path: &KeyPath) -> Option<Vec<Stage>> {
        let n = usize::try_from(users).unwrap_or(usize::MAX);
        let ramp = match &l.ramp {
            None => Some(Duration::ZERO),
            Some(r) => match units::parse_ramp(&r.0) {
                Ok(spec) => Some(spec.time_for(users)),
                Err(hint) => {
                    self.bad(&path.key("ramp"), RAMP_EXPECTED, Some(hint));
                    None
                }
            },
        };
        let hold = match &l.duration {
            None => Some(Duration::ZERO),
            Some(d) => self.duration(d, &path.key("duration")),
        };
        let (ramp, hold) = (ramp?, hold?);
        let total = ramp.checked_add(hold).unwrap_or(Duration::MAX);
        if total.is_zero() {
            let found = if l.duration.is_some() {
                "a run of 0s".to_string()
            } else {
                "no `duration`".to_string()
            };
            let hint = "add e.g. `duration: 1m`: how long all users run after the ramp".to_string();
            self.err(
                &path.key("duration"),
                found,
                "a run longer than 0s",
                Some(hint),
            );
            return None;
        }
        if total > MAX_RUN {
            self.bad(
                &path.key("ramp"),
                "a ramp that ends within a year",
                Some("raise the rate, e.g. 100/s".into()),
            );
            return None;
        }
        Some(vec![
            Stage {
                users: n,
                over: ramp,
            },
            Stage {
                users: n,
                over: hold,
            },
        ])
    }

    fn stages(&mut self, list: &[RawStage], path: &KeyPath) -> Option<Vec<Stage>> {
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, s) in list.iter().enumerate() {
            let Some(users) = s.users else {
                self.err(
                    &path.idx(i),
                    "a stage without `users`",
                    "`users: N` in every stage (or `rate: N/s` in every stage for the open model)",
                    None,
                );
                ok = false;
                continue;
            };
            match self.duration(&s.over, &path.idx(i).key("over")) {
                Some(over) => out.push(Stage {
                    users: usize::try_from(users).unwrap_or(usize::MAX),
                    over,
                }),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        if out.is_empty() {
            self.bad(
                path,
                "at least one stage, e.g. [{users: 10, over: 1m}]",
                None,
            );
            return None;
        }
        if !self.run_length(out.iter().map(|s| s.over), path, "stages") {
            return None;
        }
        if out.iter().all(|s| s.users == 0) {
            self.err(
                path,
                "no stage with users",
                "at least one stage with `users` of 1 or more",
                None,
            );
            return None;
        }
        Some(out)
    }

    /// Compile a template; on failure the problem is recorded and `None` returned. A type
    /// suffix (`${n:int}`) is an error here: it only means something in a JSON value.
    pub fn template(&mut self, path: &KeyPath, src: &str) -> Option<Template> {
        let t = self.any_template(path, src)?;
        if let Some(at) = t.json_type_offset() {
            let node = self.root.locate(path);
            let (line, col) = (node.line, node.col_at(at));
            let ty = t.json_type().map_or("int", |t| t.name());
            self.err_at(
                line,
                col,
                path,
                format!("the type suffix `:{ty}` in {src:?}"),
                "a template without a type: this value is sent as text",
                Some(format!(
                    "`:{ty}` only applies to a whole string value under `json:` (a body or a JSON check's `equals`), where it sends a JSON {}; drop it here",
                    if ty == "bool" { "boolean" } else if ty == "json" { "value" } else { "number" }
                )),
            );
            return None;
        }
        Some(t)
    }

    /// Compile a template that may be a typed placeholder (`"${randomInt(1, 9):int}"`): a
    /// string value under `json:`. A constant one (`"${env.PORT:int}"`) is checked now.
    pub fn typed_template(&mut self, path: &KeyPath, src: &str) -> Option<Template> {
        let t = self.any_template(path, src)?;
        if let (Some(ty), Some(text)) = (t.json_type(), t.as_literal())
            && ty.coerce(text).is_none()
        {
            // An environment value may be a secret: never shown.
            let found = if t.env_values().is_empty() {
                format!("{src:?}, which gives {text:?}")
            } else {
                format!("{src:?}, whose environment value (not shown) is not of that type")
            };
            let expected = format!("{} for `:{}`", ty.expected(), ty.name());
            self.err(path, found, expected, None);
            return None;
        }
        Some(t)
    }

    fn any_template(&mut self, path: &KeyPath, src: &str) -> Option<Template> {
        let mut unknown: Vec<String> = Vec::new();
        let unset: std::cell::RefCell<Vec<String>> = std::cell::RefCell::new(Vec::new());
        let result = {
            let slots = &self.slots;
            let read = self.env;
            let mut resolve = |name: &str| {
                let slot = slots.position(name);
                if slot.is_none() {
                    unknown.push(name.to_string());
                }
                slot
            };
            let env = |name: &str| {
                let v = read(name);
                if v.is_none() {
                    unset.borrow_mut().push(name.to_string());
                }
                v
            };
            Template::parse(src, &mut resolve, &env)
        };
        match result {
            Ok(t) => {
                for v in t.env_values() {
                    if !v.is_empty() && !self.secrets.contains(&v) {
                        self.secrets.push(v);
                    }
                }
                self.note_feeder_use(&t);
                Some(t)
            }
            Err(e) => {
                let node = self.root.locate(path);
                let (line, col) = (node.line, node.col_at(e.offset));
                if unknown.first().is_some_and(|n| self.feeder_failed(n)) {
                    // The feeder's file could not be read: that problem is reported already.
                    return None;
                }
                let feeder = unknown.first().and_then(|n| self.feeder_name_problem(n));
                let (expected, hint) = if let Some((expected, hint)) = feeder {
                    (expected, hint)
                } else if let Some(name) = unknown.first() {
                    let known: Vec<&str> = self.slots.iter().map(String::as_str).collect();
                    let hint = match suggest::closest(name, &known) {
                        Some(s) => format!("did you mean \"{s}\"?"),
                        None => format!(
                            "declare it under `variables:` (e.g. `{name}: \"\"`) or set it with `extract:`"
                        ),
                    };
                    (
                        "a variable declared under `variables:` or set by an `extract:`".into(),
                        Some(hint),
                    )
                } else if let Some(name) = unset.borrow().first() {
                    (
                        "an environment variable that is set".into(),
                        Some(format!(
                            "set it before running skein, e.g. `export {name}=...`"
                        )),
                    )
                } else {
                    ("a valid `${...}` template".into(), None)
                };
                self.err_at(line, col, path, e.message, expected, hint);
                None
            }
        }
    }

    /// Like [`Compiler::template`], with the text itself standing in on failure (the plan
    /// is not built then anyway).
    pub fn template_or_literal(&mut self, path: &KeyPath, src: &str) -> Template {
        self.template(path, src)
            .unwrap_or_else(|| Template::literal(src))
    }

    /// Headers: names checked, values compiled as templates.
    pub fn headers(&mut self, map: &OrderedMap<Text>, path: &KeyPath) -> Vec<(String, Template)> {
        let mut out = Vec::with_capacity(map.0.len());
        for (name, Text(v)) in &map.0 {
            let p = path.key(name);
            self.header_name(name, &p);
            out.push((name.clone(), self.template_or_literal(&p, v)));
        }
        out
    }

    pub fn header_name(&mut self, name: &str, path: &KeyPath) -> bool {
        if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
            return true;
        }
        self.err(
            path,
            format!("the header name `{name}`"),
            "a header name: letters, digits and `-`",
            None,
        );
        false
    }

    /// Query or form fields: values compiled as templates.
    pub fn fields(&mut self, map: &OrderedMap<Text>, path: &KeyPath) -> Vec<(String, Template)> {
        map.0
            .iter()
            .map(|(k, Text(v))| (k.clone(), self.template_or_literal(&path.key(k), v)))
            .collect()
    }
}

/// The step lists of a scenario, with their keys.
pub(super) fn step_lists(sc: &RawScenario) -> [(&'static str, &[super::raw::RawStep]); 3] {
    [
        ("on_start", sc.on_start.as_deref().unwrap_or_default()),
        ("steps", &sc.steps),
        ("on_stop", sc.on_stop.as_deref().unwrap_or_default()),
    ]
}
