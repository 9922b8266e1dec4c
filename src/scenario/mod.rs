//! Scenario files: parse YAML or JSON with line and column for every node, validate against
//! the published schema and the semantic rules, and compile into a typed [`Plan`].
//!
//! It uses the types of [`crate::metrics`] (a target is the verdict's
//! [`Target`](crate::metrics::verdict::Target)) and of [`crate::capacity`] (the `capacity:`
//! block is a [`CapacitySpec`](crate::capacity::CapacitySpec)), never their logic. Every
//! problem in a file is collected and reported at once as [`Diagnostic`]s naming file, line, column, key path, what was found
//! and what was expected.
//!
//! The stages, each in its own file:
//!
//! 1. `node`: text -> a tree of nodes with positions (a syntax error stops here);
//! 2. `shape`: the tree against the JSON Schema generated from `raw` (unknown keys with
//!    suggestions, missing keys, wrong types), all problems at once;
//! 3. `raw`: the sound tree deserialized into serde types that mirror the file;
//! 4. `compile` and `step`: every semantic rule, all problems at once, then the [`Plan`].
//!
//! The load maths on a plan's numbers (users at an instant, arrivals due, shares of
//! workers) is in [`load`].

pub mod check;
pub mod error;
pub mod load;
pub mod plan;
pub mod template;

mod capacity;
mod compile;
mod feeder;
mod files;
mod fingerprint;
mod flow;
pub mod flow_control;
mod http_opts;
mod iterations;
mod json_template;
pub mod lighthouse;
mod node;
mod once;
mod page;
mod raw;
mod redact;
mod shape;
mod step;
mod suggest;
mod target_expr;
mod targets;
mod units;
mod ws;

mod batch;
pub mod custom_metrics;
pub mod multipart;

pub use capacity::parse_stairs;
pub use compile::{MAX_NAME_BYTES, MAX_USERS};
pub use error::{Diagnostic, ScenarioError};
pub use files::{
    MAX_BODY_FILE_BYTES, MAX_CA_FILE_BYTES, MAX_FEEDER_BYTES, MAX_SCENARIO_BYTES, show_bytes,
};
pub use plan::*;
pub use redact::{encodings as secret_encodings, is_secret_header, redact_url};
pub use targets::{PRESETS, load_targets, parse_targets_str};
pub use units::{millisecond_hint, parse_duration, parse_rate};
pub use ws::sub_names as sub_ws_names;

use std::path::{Path, PathBuf};
use std::time::Duration;

use template::Template;

/// Read, validate and compile a scenario file (YAML, or JSON): a regular file of at most
/// [`MAX_SCENARIO_BYTES`] of UTF-8.
pub fn load(path: impl AsRef<Path>) -> Result<Plan, ScenarioError> {
    let path = path.as_ref();
    let text =
        files::read_text(path, MAX_SCENARIO_BYTES).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse_str(&text, path)
}

/// Validate and compile scenario text; `file` names it in messages (and its stem is the
/// default run name). `${env.NAME}` reads the process environment.
pub fn parse_str(text: &str, file: &Path) -> Result<Plan, ScenarioError> {
    parse_with_env(text, file, &|name| std::env::var(name).ok())
}

/// [`parse_str`] with the environment supplied by the caller.
pub fn parse_with_env(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    let root = node::parse(text, file).map_err(invalid)?;
    let problems = shape::check(&root, raw::schema(), file);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    // One JSON copy of the tree: deserialized by reference, then kept (redacted) as the
    // scenario as run.
    let json = root.to_json();
    let raw = <raw::RawFile as serde::Deserialize>::deserialize(&json).map_err(|e| {
        // The shape pass admits only what deserializes; this is a last resort.
        invalid(vec![Diagnostic {
            file: file.to_path_buf(),
            line: root.line,
            column: root.col,
            key: String::new(),
            found: e.to_string(),
            expected: "a scenario the schema accepts".into(),
            hint: None,
        }])
    })?;
    compile::compile(&raw, &root, file, env, json).map_err(invalid)
}

fn invalid(mut diagnostics: Vec<Diagnostic>) -> ScenarioError {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    ScenarioError::Invalid { diagnostics }
}

/// The JSON Schema of scenario files (draft 2020-12), generated from the file's serde
/// types; `scenarios/scenario.schema.json` is a copy for editors.
pub fn json_schema() -> serde_json::Value {
    raw::schema().clone()
}

/// A plan without a file: `users` users GET `url` again and again for `duration` (all
/// starting at once), pausing `think` after each request; or, with `rate` (per second),
/// the open model: that many GETs started each second, by a pool of at most `users` users.
/// The target is the URL's origin and the one step is named `GET <path>`.
pub fn quick(
    url: &str,
    users: Option<usize>,
    duration: Duration,
    think: Option<Duration>,
    rate: Option<f64>,
) -> Result<Plan, ScenarioError> {
    let diag = |key: &str, found: String, expected: &str, hint: Option<String>| Diagnostic {
        file: PathBuf::from("<command line>"),
        line: 0,
        column: 0,
        key: key.to_string(),
        found,
        expected: expected.to_string(),
        hint,
    };
    let mut problems = Vec::new();
    let pool = users;
    let users = users.unwrap_or(10);
    let split = split_url(url);
    if let Err(hint) = &split {
        problems.push(diag(
            "url",
            // A `user:password@` URL is refused without showing the password.
            format!("{:?}", redact::redact_url(url)),
            "a URL such as http://127.0.0.1:8080/health",
            Some(hint.clone()),
        ));
    }
    if users == 0 {
        problems.push(diag("users", "0".into(), "at least 1 user", None));
    }
    if users > MAX_USERS {
        problems.push(diag(
            "users",
            users.to_string(),
            &format!("at most {MAX_USERS} users"),
            Some(compile::LOAD_LIMIT_HINT.to_string()),
        ));
    }
    if duration.is_zero() {
        problems.push(diag(
            "duration",
            "0s".into(),
            "a duration longer than 0s",
            None,
        ));
    }
    if let Some(r) = rate
        && !(r.is_finite() && r > 0.0)
    {
        problems.push(diag(
            "rate",
            format!("{r}/s"),
            "a rate above 0, e.g. 100/s",
            None,
        ));
    }
    let Ok((origin, path)) = split else {
        return Err(invalid(problems));
    };
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let step = StepPlan {
        name: format!("GET {path}"),
        method: Method::Get,
        path: Template::literal(&path),
        query: Vec::new(),
        headers: Vec::new(),
        body: Body::None,
        timeout: None,
        checks: Vec::new(),
        extracts: Vec::new(),
        think_time: None,
        tags: Vec::new(),
        page: None,
        auth: None,
        follow_redirects: None,
        records: Vec::new(),
        batch: None,
        ws: None,
    };
    let mut copy_scenario = serde_json::json!({"name": "quick", "steps": [{"get": path}]});
    if let Some(t) = think {
        copy_scenario["think_time"] = units::show_duration(t).into();
    }
    let mut plan = Plan {
        name: "quick".into(),
        source: None,
        target: Target::Url(origin.clone()),
        defaults: HttpDefaults::default(),
        variables: Vec::new(),
        feeders: Vec::new(),
        scenarios: vec![ScenarioPlan {
            name: "quick".into(),
            weight: 1,
            think_time: think.map_or(ThinkTime::None, ThinkTime::Constant),
            on_start: Vec::new(),
            steps: vec![step],
            on_stop: Vec::new(),
            flow: None,
        }],
        load: LoadPlan {
            stages: vec![
                Stage {
                    users,
                    over: Duration::ZERO,
                },
                Stage {
                    users,
                    over: duration,
                },
            ],
            graceful_stop: Duration::from_secs(5),
            open: None,
            steps: None,
            shard: Shard::WHOLE,
            iterations: None,
        },
        scenario_copy: serde_json::json!({
            "name": "quick",
            "target": origin,
            "scenarios": [copy_scenario],
            "load": {"users": users, "duration": units::show_duration(duration)},
        }),
        secrets: Secrets::default(),
        targets: Vec::new(),
        warnings: Vec::new(),
        capacity: None,
        setup: Vec::new(),
        teardown: Vec::new(),
        lighthouse: None,
    };
    if let Some(r) = rate {
        plan.make_open(r, pool);
        plan.scenario_copy["load"] = serde_json::json!({
            "arrival_rate": units::show_rate(r),
            "duration": units::show_duration(duration),
            "max_users": plan.load.max_users(),
        });
        if plan.load.whole_max_users() > MAX_USERS {
            return Err(invalid(vec![diag(
                "rate",
                units::show_rate(r),
                &format!("a rate whose pool of users fits in {MAX_USERS} (`--users`)"),
                Some(compile::LOAD_LIMIT_HINT.to_string()),
            )]));
        }
    }
    Ok(plan)
}

impl Plan {
    /// What is wrong with the load after `--users` or `--rate` changed it: more than
    /// [`MAX_USERS`] users (a file is checked when it is loaded).
    pub fn load_limit_problem(&self) -> Option<String> {
        let users = self.load.whole_max_users();
        (users > MAX_USERS).then(|| {
            format!(
                "{users} users: at most {MAX_USERS}\n  hint: {}",
                compile::LOAD_LIMIT_HINT
            )
        })
    }

    /// Run the plan in the open model at a constant `rate` per second for its planned
    /// duration (`--rate`). A closed plan's peak users become the pool unless `max_users`
    /// is given; an open plan keeps its shape, scaled to peak at `rate`.
    pub fn make_open(&mut self, rate: f64, max_users: Option<usize>) {
        if self.load.open.is_some() {
            self.load.scale_rate(rate);
            if let Some(u) = max_users {
                self.load.scale_users(u);
            }
            return;
        }
        let duration = self.load.duration();
        let pool = max_users.unwrap_or_else(|| compile::default_max_users(rate, &self.scenarios));
        let pool = pool.max(1);
        self.load = LoadPlan {
            stages: vec![Stage {
                users: pool,
                over: duration,
            }],
            graceful_stop: self.load.graceful_stop,
            steps: None,
            open: Some(OpenLoad {
                start_rate: rate,
                stages: vec![RateStage {
                    rate,
                    over: duration,
                }],
                max_users: pool,
                pre_allocated: compile::default_pre_allocated(rate, &self.scenarios, pool),
            }),
            shard: Shard::WHOLE,
            iterations: None,
        };
    }
}

/// `http://host:port/path?q#frag` -> (`http://host:port`, `/path?q`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("add the scheme: http://{url}"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("only http:// and https:// are supported".into());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err("name a host, e.g. http://127.0.0.1:8080/".into());
    }
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; use a scenario file with headers".into(),
        );
    }
    let tail = tail.split('#').next().unwrap_or("");
    let path = match tail {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    Ok((
        format!("{}://{authority}", scheme.to_ascii_lowercase()),
        path,
    ))
}

#[cfg(test)]
mod tests;
