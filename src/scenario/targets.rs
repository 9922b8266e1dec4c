//! `targets:`: expressions, their options and presets, compiled into [`TargetPlan`]s; step
//! `tags:`; and targets files shared by several scenarios ([`load_targets`]).
//!
//! An expression names steps, scenarios and tags; a scenario file's targets are checked
//! against its own steps, a targets file's when it is added to a plan
//! ([`Plan::add_targets`]). A preset's default mapping is not checked: a KPI that selects
//! nothing is reported as not measured after the run, never as passed.

use std::path::Path;

use super::compile::{Compiler, step_lists};
use super::error::{Diagnostic, ScenarioError};
use super::node::{self, KeyPath};
use super::plan::{Plan, SourcePos, TargetPlan, TargetSource};
use super::raw::{
    self, RawFile, RawKpiSelector, RawPreset, RawStep, RawTargetsFile, RawThreshold,
    RawThresholdOptions,
};
use super::target_expr::{self, Expr};
use super::units::micros;
use super::{invalid, shape, suggest};
use crate::metrics::verdict::{Scope, Target};

/// Names accepted by `preset:`.
pub const PRESETS: &[&str] = &["phase9"];

/// One KPI of a preset.
struct Kpi {
    /// Key of its mapping under `preset: {name: ..., KEY: {...}}`, when it has one.
    key: Option<&'static str>,
    label: &'static str,
    /// Metric word of the expression.
    metric: &'static str,
    /// Default mapping, as written in an expression's parentheses.
    default: &'static str,
    bound: &'static str,
    /// The value before optimisation, in the target's unit.
    baseline: f64,
    improvement_goal_pct: Option<f64>,
}

/// The Phase 9 plan's KPIs ("Success Criteria" and "Metrics & KPIs" of the plan). Where the
/// plan gives the baseline as a range the midpoint is used: API 200-300 ms -> 250 ms, page
/// load 2-3 s -> 2.5 s, database 100-200 ms -> 150 ms, 50-100 users -> 75; 95 % uptime is
/// an availability of 95 % (the share of requests that succeeded). "10x concurrent users" is a 900 % improvement. Averages are bounded
/// (the plan says "average" for the API and gives no other statistic).
const PHASE9: [Kpi; 5] = [
    Kpi {
        key: Some("api"),
        label: "API response time",
        metric: "mean",
        default: "tag=\"api\"",
        bound: "< 100ms",
        baseline: 250_000.0,
        improvement_goal_pct: Some(50.0),
    },
    Kpi {
        key: Some("page"),
        label: "page load time",
        metric: "mean",
        default: "tag=\"page\"",
        bound: "< 1s",
        baseline: 2_500_000.0,
        improvement_goal_pct: Some(60.0),
    },
    Kpi {
        key: Some("database"),
        label: "database query time",
        metric: "mean",
        default: "server_timing=\"db\"",
        bound: "< 50ms",
        baseline: 150_000.0,
        improvement_goal_pct: Some(50.0),
    },
    Kpi {
        key: None,
        label: "concurrent users",
        metric: "users",
        default: "",
        bound: ">= 1000",
        baseline: 75.0,
        improvement_goal_pct: Some(900.0),
    },
    Kpi {
        key: None,
        label: "availability",
        metric: "availability",
        default: "",
        bound: ">= 99.9%",
        baseline: 0.95,
        improvement_goal_pct: None,
    },
];

/// Read, validate and compile a file holding only a `targets:` list. Step, scenario and tag
/// names are checked when the targets are added to a plan ([`Plan::add_targets`]).
pub fn load_targets(path: impl AsRef<Path>) -> Result<Vec<TargetPlan>, ScenarioError> {
    let path = path.as_ref();
    let text =
        super::files::read_text(path, super::files::MAX_SCENARIO_BYTES).map_err(|source| {
            ScenarioError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
    parse_targets_str(&text, path)
}

/// [`load_targets`] on text; `file` names it in messages.
pub fn parse_targets_str(text: &str, file: &Path) -> Result<Vec<TargetPlan>, ScenarioError> {
    let root = node::parse(text, file).map_err(invalid)?;
    let problems = shape::check(&root, raw::targets_schema(), file);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let raw: RawTargetsFile = serde_json::from_value(root.to_json()).map_err(|e| {
        invalid(vec![Diagnostic {
            file: file.to_path_buf(),
            line: root.line,
            column: root.col,
            key: String::new(),
            found: e.to_string(),
            expected: "a targets file the schema accepts".into(),
            hint: None,
        }])
    })?;
    let mut c = Compiler {
        file,
        root: &root,
        env: &|_| None,
        diags: Vec::new(),
        warns: Vec::new(),
        slots: Default::default(),
        secrets: Vec::new(),
        feed: Default::default(),
        metric_defs: Vec::new(),
    };
    let source = TargetSource::File(file.to_path_buf());
    let targets = c.targets(&raw.targets, &KeyPath::root().key("targets"), &source, None);
    if c.diags.is_empty() {
        Ok(targets)
    } else {
        Err(invalid(c.diags))
    }
}

impl Plan {
    /// Add targets read apart from the scenario ([`load_targets`]) after checking the step,
    /// scenario and tag names they use against this plan.
    pub fn add_targets(&mut self, mut targets: Vec<TargetPlan>) -> Result<(), ScenarioError> {
        let known = Known::from_plan(self);
        let mut problems: Vec<Diagnostic> = targets
            .iter()
            .filter_map(|t| scope_problem(t, &known))
            .collect();
        // Bounds on custom metrics, in the units this plan declares.
        let defs = super::custom_metrics::defs_of(&self.scenario_copy);
        for t in &mut targets {
            let Some(name) = super::custom_metrics::scope_metric(&t.target.scope) else {
                continue;
            };
            let bare = t.target.unit != crate::metrics::verdict::Unit::Us;
            let name = name.to_string();
            let g = &mut t.target;
            match super::custom_metrics::metric_bound(&defs, &name, &g.metric, g.threshold, bare) {
                Ok((threshold, unit)) => {
                    g.threshold = threshold;
                    g.unit = unit;
                }
                Err((found, expected, hint)) => {
                    if let Some(at) = &t.scope_at {
                        problems.push(Diagnostic {
                            file: at.file.clone(),
                            line: at.line,
                            column: at.column,
                            key: at.key.clone(),
                            found,
                            expected,
                            hint,
                        });
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        self.targets.extend(targets);
        Ok(())
    }
}

/// The names a scope may use.
pub(super) struct Known {
    steps: Vec<String>,
    /// Names of the `group:` blocks.
    groups: Vec<String>,
    scenarios: Vec<String>,
    tags: Vec<String>,
    /// False when some step's name could not be worked out (its own problem is reported);
    /// step names are not checked then.
    complete: bool,
}

impl Known {
    pub(super) fn from_raw(raw: &RawFile) -> Known {
        let mut k = Known {
            steps: Vec::new(),
            groups: Vec::new(),
            scenarios: raw.scenarios.iter().map(|s| s.name.clone()).collect(),
            tags: Vec::new(),
            complete: true,
        };
        for sc in &raw.scenarios {
            for (_, steps) in step_lists(sc) {
                for (_, s) in super::flow_control::leaves(steps, &super::node::KeyPath::root()) {
                    // A batch's requests have rows of their own, and the batch its.
                    for s in std::iter::once(s).chain(s.batch.iter().flatten()) {
                        match raw_step_name(s) {
                            Some(n) => {
                                if s.ws.is_some() {
                                    k.steps.extend(super::ws::sub_names(&n));
                                }
                                k.steps.push(n);
                            }
                            None => k.complete = false,
                        }
                        k.tags.extend(s.tags.iter().flatten().cloned());
                    }
                }
                k.groups.extend(raw_groups(steps));
            }
        }
        // `setup:` and `teardown:` are rows too (scenarios `setup` and `teardown`).
        for (list, steps) in super::once::lists(raw) {
            if !steps.is_empty() {
                k.scenarios.push(list.to_string());
            }
            for s in steps {
                match raw_step_name(s) {
                    Some(n) => k.steps.push(n),
                    None => k.complete = false,
                }
                k.tags.extend(s.tags.iter().flatten().cloned());
            }
        }
        k.dedup()
    }

    fn from_plan(plan: &Plan) -> Known {
        let mut k = Known {
            steps: Vec::new(),
            groups: Vec::new(),
            scenarios: plan.scenarios.iter().map(|s| s.name.clone()).collect(),
            tags: Vec::new(),
            complete: true,
        };
        for sc in &plan.scenarios {
            for s in sc.on_start.iter().chain(&sc.steps).chain(&sc.on_stop) {
                for s in std::iter::once(s).chain(s.batch.iter().flat_map(|b| &b.requests)) {
                    if s.ws.is_some() {
                        k.steps.extend(super::ws::sub_names(&s.name));
                    }
                    k.steps.push(s.name.clone());
                    k.tags.extend(s.tags.iter().cloned());
                }
            }
            k.groups
                .extend(sc.flow.iter().flat_map(|f| f.groups.iter().cloned()));
        }
        for (name, steps) in [("setup", &plan.setup), ("teardown", &plan.teardown)] {
            if !steps.is_empty() {
                k.scenarios.push(name.to_string());
            }
            for s in steps {
                k.steps.push(s.name.clone());
                k.tags.extend(s.tags.iter().cloned());
            }
        }
        k.dedup()
    }
}

impl Known {
    /// Each name once, in the order first written (with a set: a file may have many steps).
    fn dedup(mut self) -> Known {
        for v in [&mut self.steps, &mut self.tags, &mut self.groups] {
            let mut seen = std::collections::HashSet::new();
            v.retain(|s| seen.insert(s.clone()));
        }
        self
    }
}

/// The names of the `group:` blocks in a list of raw steps, nested ones included.
fn raw_groups(list: &[RawStep]) -> Vec<String> {
    let mut out = Vec::new();
    for s in list {
        out.extend(s.group.iter().cloned());
        for (_, l) in super::flow_control::children(s, &super::node::KeyPath::root()) {
            out.extend(raw_groups(l));
        }
    }
    out
}

/// A step's metric name as `compile` will make it: `name:`, or `METHOD path`.
pub(super) fn raw_step_name(s: &RawStep) -> Option<String> {
    if let Some(n) = &s.name {
        return Some(n.clone());
    }
    let shorthands = [
        ("GET", &s.get),
        ("POST", &s.post),
        ("PUT", &s.put),
        ("PATCH", &s.patch),
        ("DELETE", &s.delete),
        ("HEAD", &s.head),
        ("OPTIONS", &s.options),
    ];
    if let Some(ws) = &s.ws {
        return Some(format!("ws {ws}"));
    }
    let mut given = shorthands
        .iter()
        .filter_map(|(m, p)| p.as_ref().map(|p| (m.to_string(), p)));
    match (given.next(), given.next(), &s.method, &s.path) {
        (Some((m, p)), None, None, None) => Some(format!("{m} {p}")),
        (None, None, Some(m), Some(p)) => Some(format!("{} {p}", m.trim().to_ascii_uppercase())),
        _ => None,
    }
}

/// The problem with a target's step, scenario or tag name, if it names one that `known`
/// lacks.
fn scope_problem(t: &TargetPlan, known: &Known) -> Option<Diagnostic> {
    let at = t.scope_at.as_ref()?;
    let (what, name, list, expected) = match &t.target.scope {
        Scope::Overall => return None,
        Scope::Step(n) if known.complete => (
            "step",
            n,
            &known.steps,
            "the name of a step of the scenario (`name:`, or `METHOD path`)",
        ),
        Scope::Step(_) => return None,
        Scope::Scenario(n) => ("scenario", n, &known.scenarios, "the name of a scenario"),
        Scope::Metric(_) => return None,
        Scope::Tag(n) => (
            "tag",
            n,
            &known.tags,
            "a tag that some step has (`tags: [...]` on the step)",
        ),
        Scope::Group(n) => (
            "group",
            n,
            &known.groups,
            "the name of a group (`group: NAME` above `steps:`)",
        ),
    };
    if list.contains(name) {
        return None;
    }
    let candidates: Vec<&str> = list.iter().map(String::as_str).collect();
    let hint = match suggest::closest(name, &candidates) {
        Some(s) => format!("did you mean \"{s}\"?"),
        None if list.is_empty() && what == "tag" => {
            "no step has tags yet; add e.g. `tags: [api]` to the steps".to_string()
        }
        None if list.is_empty() && what == "group" => {
            "the scenarios have no group yet; write `- group: NAME` with `steps: [...]`".to_string()
        }
        None => {
            let mut shown: Vec<String> = candidates
                .iter()
                .take(8)
                .map(|c| format!("\"{c}\""))
                .collect();
            if candidates.len() > 8 {
                shown.push("...".into());
            }
            format!("the {what}s are: {}", shown.join(", "))
        }
    };
    Some(Diagnostic {
        file: at.file.clone(),
        line: at.line,
        column: at.column,
        key: at.key.clone(),
        found: format!("unknown {what} \"{name}\""),
        expected: expected.to_string(),
        hint: Some(hint),
    })
}

impl Compiler<'_> {
    /// Compile a targets list; scope names are checked against `known` when given.
    pub(super) fn targets(
        &mut self,
        list: &[RawThreshold],
        path: &KeyPath,
        source: &TargetSource,
        known: Option<&Known>,
    ) -> Vec<TargetPlan> {
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let p = path.idx(i);
            match item {
                RawThreshold::Expr(e) => out.extend(self.target_expr(e, &p, source)),
                RawThreshold::Options(o) => out.extend(self.target_options(o, &p, source)),
                RawThreshold::Preset(pr) => out.extend(self.preset(&pr.preset, &p.key("preset"))),
            }
        }
        if let Some(k) = known {
            let problems: Vec<Diagnostic> =
                out.iter().filter_map(|t| scope_problem(t, k)).collect();
            self.diags.extend(problems);
        }
        out
    }

    /// One expression written at `path`.
    fn target_expr(
        &mut self,
        text: &str,
        path: &KeyPath,
        source: &TargetSource,
    ) -> Option<TargetPlan> {
        let n = self.root.locate(path);
        let (line, col_at) = (n.line, |o| n.col_at(o));
        match target_expr::parse(text) {
            Ok(mut x) => {
                // A targets file is read apart from the scenario: its bounds on custom
                // metrics are scaled when the plan takes it ([`Plan::add_targets`]); until
                // then a bare bound is a `Count`, a time a `Us`.
                let apart = matches!(source, TargetSource::File(_));
                let lighthouse = matches!(x.metric, crate::metrics::verdict::Metric::Lighthouse(_));
                if apart && !x.bare && !lighthouse {
                    x.unit = crate::metrics::verdict::Unit::Us;
                }
                if let Some(name) = super::custom_metrics::scope_metric(&x.scope).filter(|_| !apart)
                {
                    match self.metric_bound(name, &x.metric, x.threshold, x.bare) {
                        Ok((threshold, unit)) => {
                            x.threshold = threshold;
                            x.unit = unit;
                        }
                        Err((found, expected, hint)) => {
                            let column = col_at(x.scope_offset.unwrap_or(0));
                            self.err_at(line, column, path, found, expected, hint);
                            return None;
                        }
                    }
                }
                let scope_at = x.scope_offset.map(|o| SourcePos {
                    file: self.file.to_path_buf(),
                    line,
                    column: col_at(o),
                    key: path.to_string(),
                });
                Some(plan_of(text.trim(), x, source.clone(), scope_at))
            }
            Err(e) => {
                let column = col_at(e.offset);
                self.err_at(line, column, path, e.found, e.expected, e.hint);
                None
            }
        }
    }

    /// `{expr, after, abort_on_fail, grace}`.
    fn target_options(
        &mut self,
        o: &RawThresholdOptions,
        path: &KeyPath,
        source: &TargetSource,
    ) -> Option<TargetPlan> {
        let t = self.target_expr(&o.expr, &path.key("expr"), source);
        let after = o
            .after
            .as_ref()
            .and_then(|d| self.duration(d, &path.key("after")));
        let grace = o
            .grace
            .as_ref()
            .and_then(|d| self.duration(d, &path.key("grace")));
        let abort_on_fail = o.abort_on_fail.unwrap_or(false);
        if o.grace.is_some() && !abort_on_fail {
            self.err(
                &path.key("grace"),
                "`grace` without `abort_on_fail: true`",
                "`grace` only next to `abort_on_fail: true`",
                Some("grace is how long a lost target may stay lost before the run stops".into()),
            );
        }
        let mut t = t?;
        if abort_on_fail && t.target.metric == crate::metrics::verdict::Metric::MaxOutage {
            // Outage windows are found only when the run's requests are all in (a window
            // ends at the first success after it): nothing to watch while it runs.
            self.err(
                &path.key("abort_on_fail"),
                "`abort_on_fail: true` on `max_outage`",
                "`max_outage` without `abort_on_fail` (it is judged when the run ends)",
                Some(
                    "an outage's length is known once a request succeeds again; to stop a run \
                     that keeps failing, use `error_rate` with `abort_on_fail`"
                        .into(),
                ),
            );
            return None;
        }
        t.target.after_us = after.map(micros);
        t.target.abort_on_fail = abort_on_fail;
        t.target.grace_us = grace.map(micros);
        Some(t)
    }

    /// `preset: NAME` or `preset: {name: NAME, api: {...}, page: {...}, database: {...}}`.
    fn preset(&mut self, p: &RawPreset, path: &KeyPath) -> Vec<TargetPlan> {
        let (name, opts, name_path) = match p {
            RawPreset::Name(n) => (n.trim(), None, path.clone()),
            RawPreset::Options(o) => (o.name.trim(), Some(o), path.key("name")),
        };
        if !PRESETS.contains(&name) {
            let hint = match suggest::closest(name, PRESETS) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => format!("the presets are: {}", PRESETS.join(", ")),
            };
            self.bad(&name_path, "the name of a preset: phase9", Some(hint));
            return Vec::new();
        }
        let after = opts
            .and_then(|o| o.after.as_ref())
            .and_then(|d| self.duration(d, &path.key("after")));
        let mut out = Vec::new();
        for kpi in &PHASE9 {
            let chosen = opts.and_then(|o| match kpi.key {
                Some("api") => o.api.as_ref(),
                Some("page") => o.page.as_ref(),
                Some("database") => o.database.as_ref(),
                _ => None,
            });
            let (selector, scope_at) = match (chosen, kpi.key) {
                (Some(sel), Some(key)) => match self.kpi_selector(sel, &path.key(key)) {
                    Some(x) => x,
                    None => continue,
                },
                _ => (kpi.default.to_string(), None),
            };
            let text = if selector.is_empty() {
                format!("{} {}", kpi.metric, kpi.bound)
            } else {
                format!("{}({selector}) {}", kpi.metric, kpi.bound)
            };
            let source = TargetSource::Preset {
                name: name.to_string(),
                kpi: kpi.label.to_string(),
            };
            // The text is built from checked parts, so this parse succeeds.
            let Ok(x) = target_expr::parse(&text) else {
                continue;
            };
            let mut t = plan_of(&text, x, source, scope_at);
            t.target.after_us = after.map(micros);
            t.target.baseline = Some(kpi.baseline);
            t.target.improvement_goal_pct = kpi.improvement_goal_pct;
            out.push(t);
        }
        out
    }

    /// A KPI's mapping as an expression's parentheses, and where its scope name was written.
    fn kpi_selector(
        &mut self,
        s: &RawKpiSelector,
        path: &KeyPath,
    ) -> Option<(String, Option<SourcePos>)> {
        let mut scopes: Vec<(&str, &String)> = [
            ("step", &s.step),
            ("scenario", &s.scenario),
            ("tag", &s.tag),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        // In the order written, so a message points at the second one.
        scopes.sort_by_key(|(k, _)| {
            let n = self.root.locate(&path.key(k));
            (n.line, n.col)
        });
        if let [_, (second, _), ..] = scopes.as_slice() {
            self.err(
                &path.key(second),
                format!("both `{}` and `{second}`", scopes[0].0),
                "at most one of step, scenario, tag",
                None,
            );
            return None;
        }
        let mut parts = Vec::new();
        let mut scope_at = None;
        for (key, value) in scopes
            .into_iter()
            .chain(s.server_timing.as_ref().map(|v| ("server_timing", v)))
        {
            let p = path.key(key);
            if value.trim().is_empty() {
                self.bad(&p, format!("a name, e.g. {key}: api"), None);
                return None;
            }
            if key != "server_timing" {
                let n = self.root.locate(&p);
                scope_at = Some(SourcePos {
                    file: self.file.to_path_buf(),
                    line: n.line,
                    column: n.col,
                    key: p.to_string(),
                });
            }
            let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
            parts.push(format!("{key}=\"{quoted}\""));
        }
        Some((parts.join(", "), scope_at))
    }

    /// A step's `tags:`: each a word usable in `tag="..."`; repeats dropped.
    pub(super) fn step_tags(&mut self, tags: &[String], path: &KeyPath) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(tags.len());
        for (i, t) in tags.iter().enumerate() {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'));
            if !ok {
                self.bad(
                    &path.idx(i),
                    "a tag: letters, digits, `_`, `-`, `.`, `/`, `:`",
                    Some("e.g. `tags: [api, page]`".into()),
                );
            } else if !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }
}

/// A parsed expression as a plan entry with no options.
fn plan_of(text: &str, x: Expr, source: TargetSource, scope_at: Option<SourcePos>) -> TargetPlan {
    let target = Target {
        expression: text.to_string(),
        source: String::new(),
        metric: x.metric,
        aggregate: x.aggregate,
        scope: x.scope,
        after_us: None,
        op: x.op,
        threshold: x.threshold,
        unit: x.unit,
        abort_on_fail: false,
        grace_us: None,
        baseline: None,
        improvement_goal_pct: None,
    };
    TargetPlan::new(target, source, scope_at)
}

#[cfg(test)]
mod tests;
