//! The data-flow check: every variable a step reads has a value by the time the step runs.
//!
//! A user renders its `variables:` in order when it is set up (after taking its feeder
//! rows), runs its `on_start` steps, then its `steps` again and again, then its `on_stop`
//! steps; each `extract` writes a variable once its response is in. A step whose request
//! (path, query, headers, body, credentials, and the expected values of its checks) reads a
//! variable that nothing has set yet cannot be sent: at run time it is a `template` error
//! on every try. This pass finds such uses when the file is loaded, in the order the user
//! runs the steps, with what a step inherits (its scenario's headers and `auth`, and
//! `defaults`') included: a scenario's `auth: {bearer: "${token}"}` also applies to the
//! `on_start` login that is meant to fetch `token`.
//!
//! An extract in a later step of `steps` only helps later iterations: on a user's first
//! iteration the variable has no value yet, so such a use is reported too.
//!
//! Flow control (`flow_control`): a variable is *sure* after a block when every way
//! through it sets it (both branches of an `if`, every branch of a `choose`, the steps of a
//! `repeat` or a `group`, which run at least once); one set only on some ways (one branch,
//! or inside a `while`, which may not run) is *maybe* set, and a later use of it is a
//! warning, not an error: the file may be right (a later `if` may test the same thing
//! another way), and the run says so if not. Inside `then` of `if: {var: X, ...}` (any
//! test but `exists: false` and `not_equals`), and inside `else` of `exists: false`, `X`
//! is sure.

use std::collections::{HashMap, HashSet};

use super::compile::{Compiler, step_lists};
use super::flow_control::{Kind, children, kind, leaf_lists, leaves};
use super::node::KeyPath;
use super::raw::{
    OrderedMap, RawAssets, RawAuth, RawAuthOrNone, RawCheck, RawFile, RawScenario, RawStep, Text,
};
use super::template::Template;

/// Where a use of a variable was written, when not in the step itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inherited {
    /// In the step's own keys.
    No,
    /// The scenario's `headers` or `auth`.
    Scenario,
    /// `defaults.headers` or `defaults.auth`.
    Defaults,
}

/// A template a step renders: its text, where it is written, and whether it carries
/// credentials (`auth`, an `Authorization` header).
pub(super) struct Use<'a> {
    pub(super) src: &'a str,
    pub(super) at: KeyPath,
    from: Inherited,
    credentials: bool,
}

/// A step that writes a variable with `extract`.
struct Setter {
    scenario: usize,
    list: &'static str,
    /// Its place among the list's leaf steps (flow control flattened).
    index: usize,
    /// Where it is written.
    at: KeyPath,
}

/// Every name an `extract` writes, in any scenario.
pub(super) fn extracted_names(raw: &RawFile) -> HashSet<String> {
    raw.scenarios
        .iter()
        .flat_map(|sc| {
            step_lists(sc)
                .into_iter()
                .flat_map(|(_, steps)| leaves(steps, &KeyPath::root()))
        })
        .map(|(_, st)| st)
        .chain(
            super::once::lists(raw)
                .into_iter()
                .flat_map(|(_, l)| l.iter()),
        )
        .flat_map(|st| st.written())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The variables a user reads in its `on_start` or `on_stop` steps, and those that the
/// `variables:` among them read in turn: a value that identifies the user (a username it
/// signs up with) and must stay the same for its whole life.
pub(super) fn read_once_names(raw: &RawFile) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::new();
    for (i, sc) in raw.scenarios.iter().enumerate() {
        let sc_at = KeyPath::root().key("scenarios").idx(i);
        for (list, steps) in leaf_lists(sc, &sc_at) {
            if list == "steps" {
                continue;
            }
            for (at, s) in steps {
                for u in step_uses(raw, sc, &sc_at, s, &at) {
                    names.extend(names_in(u.src));
                }
            }
        }
    }
    // What those variables read, to a fixed point (variables read only the ones above
    // them, so one pass from the bottom up is enough).
    let vars: Vec<(&String, &str)> = raw
        .variables
        .iter()
        .flat_map(|m| &m.0)
        .map(|(n, v)| (n, v.value()))
        .collect();
    for (name, value) in vars.iter().rev() {
        if names.contains(*name) {
            names.extend(names_in(value));
        }
    }
    names
}

/// The names of the variables (and feeder fields) a template reads, in order; nothing for
/// a template that does not parse (that is reported where it is compiled).
pub(super) fn names_in(src: &str) -> Vec<String> {
    if !src.contains("${") {
        return Vec::new();
    }
    let mut names = Vec::new();
    let _ = Template::parse(
        src,
        &mut |n: &str| {
            names.push(n.to_string());
            Some(0)
        },
        &|_| Some(String::new()),
    );
    names
}

/// Byte offset of the placeholder that reads `name` in `src` (0 if not found).
pub(super) fn offset_of(src: &str, name: &str) -> usize {
    let mut from = 0;
    while let Some(i) = src[from..].find("${").map(|i| i + from) {
        let rest = src[i + 2..].trim_start();
        if let Some(after) = rest.strip_prefix(name)
            && after.trim_start().starts_with(['}', ':'])
        {
            return i;
        }
        from = i + 2;
    }
    0
}

/// The step's name as reports show it: `name:`, else `METHOD path` or `page path`.
fn step_name(s: &RawStep) -> String {
    super::targets::raw_step_name(s)
        .or_else(|| s.page.as_ref().map(|p| format!("page {p}")))
        .unwrap_or_else(|| "this step".to_string())
}

fn is_authorization(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization")
}

fn has_header(map: Option<&OrderedMap<Text>>, name: &str) -> bool {
    map.is_some_and(|m| m.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
}

/// The templates of `auth` credentials at `at`.
fn auth_uses<'a>(a: &'a RawAuth, at: &KeyPath, from: Inherited, out: &mut Vec<Use<'a>>) {
    if let Some(Text(t)) = &a.bearer {
        out.push(Use {
            src: t,
            at: at.key("bearer"),
            from,
            credentials: true,
        });
    }
    if let Some(b) = &a.basic {
        for (key, Text(t)) in [("username", &b.username), ("password", &b.password)] {
            out.push(Use {
                src: t,
                at: at.key("basic").key(key),
                from,
                credentials: true,
            });
        }
    }
}

fn map_uses<'a>(map: Option<&'a OrderedMap<Text>>, at: &KeyPath, out: &mut Vec<Use<'a>>) {
    for (k, Text(v)) in map.iter().flat_map(|m| &m.0) {
        out.push(Use {
            src: v,
            at: at.key(k),
            from: Inherited::No,
            credentials: false,
        });
    }
}

fn json_uses<'a>(v: &'a serde_json::Value, at: KeyPath, out: &mut Vec<Use<'a>>) {
    use serde_json::Value;
    match v {
        Value::String(s) => out.push(Use {
            src: s,
            at,
            from: Inherited::No,
            credentials: false,
        }),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                json_uses(x, at.idx(i), out);
            }
        }
        Value::Object(fields) => {
            for (k, x) in fields {
                json_uses(x, at.key(k), out);
            }
        }
        _ => {}
    }
}

fn check_uses<'a>(c: &'a RawCheck, at: &KeyPath, out: &mut Vec<Use<'a>>) {
    let own = |src: &'a str, at: KeyPath| Use {
        src,
        at,
        from: Inherited::No,
        credentials: false,
    };
    for (name, op) in c.headers.iter().flat_map(|h| &h.0) {
        let p = at.key("headers").key(name);
        for (key, v) in [("equals", &op.equals), ("contains", &op.contains)] {
            if let Some(Text(t)) = v {
                out.push(own(t, p.key(key)));
            }
        }
    }
    if let Some(t) = &c.body_contains {
        out.push(own(t, at.key("body_contains")));
    }
    for (i, j) in c.json.iter().flatten().enumerate() {
        let p = at.key("json").idx(i);
        if let Some(v) = &j.equals {
            json_uses(v, p.key("equals"), out);
        }
        if let Some(Text(t)) = &j.contains {
            out.push(own(t, p.key("contains")));
        }
    }
}

/// The templates of a WebSocket step's messages (what they send and expect), but those
/// that read a variable one of its own messages extracts: a later message may read what
/// an earlier one took from its reply.
fn ws_uses<'a>(s: &'a RawStep, at: &KeyPath, out: &mut Vec<Use<'a>>) {
    let own: HashSet<&String> = super::ws::extract_names(s).map(|(_, n)| n).collect();
    let mut uses = Vec::new();
    for (i, m) in s.messages.iter().flatten().enumerate() {
        let p = at.key("messages").idx(i);
        if let Some(t) = &m.send {
            uses.push(Use {
                src: t,
                at: p.key("send"),
                from: Inherited::No,
                credentials: false,
            });
        }
        if let Some(j) = &m.send_json {
            json_uses(j, p.key("send_json"), &mut uses);
        }
        if let Some(super::ws::RawWsExpect::Check(c)) = &m.expect {
            for (k, t) in [("contains", &c.contains), ("equals", &c.equals)] {
                if let Some(Text(t)) = t {
                    uses.push(Use {
                        src: t,
                        at: p.key("expect").key(k),
                        from: Inherited::No,
                        credentials: false,
                    });
                }
            }
        }
    }
    out.extend(
        uses.into_iter()
            .filter(|u| !names_in(u.src).iter().any(|n| own.contains(n))),
    );
}

/// Every template step `s` (at `at`, in scenario `sc` at `sc_at`) renders, its inherited
/// headers and credentials included, by the rules of `http_opts`.
pub(super) fn step_uses<'a>(
    raw: &'a RawFile,
    sc: &'a RawScenario,
    sc_at: &KeyPath,
    s: &'a RawStep,
    at: &KeyPath,
) -> Vec<Use<'a>> {
    let mut out = Vec::new();
    let own = |src: &'a str, at: KeyPath| Use {
        src,
        at,
        from: Inherited::No,
        credentials: false,
    };
    let line = [
        ("get", &s.get),
        ("post", &s.post),
        ("put", &s.put),
        ("patch", &s.patch),
        ("delete", &s.delete),
        ("head", &s.head),
        ("options", &s.options),
        ("page", &s.page),
        ("path", &s.path),
        ("ws", &s.ws),
    ];
    for (k, v) in line {
        if let Some(p) = v {
            out.push(own(p, at.key(k)));
        }
    }
    map_uses(s.query.as_ref(), &at.key("query"), &mut out);
    map_uses(s.headers.as_ref(), &at.key("headers"), &mut out);
    map_uses(s.form.as_ref(), &at.key("form"), &mut out);
    if let Some(b) = &s.body {
        out.push(own(b, at.key("body")));
    }
    if let Some(j) = &s.json {
        json_uses(j, at.key("json"), &mut out);
    }
    if let Some(RawAssets::List(list)) = &s.assets {
        for (i, a) in list.iter().enumerate() {
            out.push(own(a, at.key("assets").idx(i)));
        }
    }
    if let Some(c) = &s.check {
        check_uses(c, &at.key("check"), &mut out);
    }
    ws_uses(s, at, &mut out);
    // Credentials: the step's own, else (unless `auth: none` or its own `Authorization`
    // header) the scenario's, else `defaults'`.
    let step_none = matches!(s.auth, Some(RawAuthOrNone::None(_)));
    let sc_none = matches!(sc.auth, Some(RawAuthOrNone::None(_)));
    let step_header = has_header(s.headers.as_ref(), "authorization");
    let mut auth_set = step_header;
    match &s.auth {
        Some(RawAuthOrNone::Auth(a)) => {
            auth_uses(a, &at.key("auth"), Inherited::No, &mut out);
            auth_set = true;
        }
        Some(RawAuthOrNone::None(_)) => {}
        None if step_header => {}
        None => {
            if let Some(RawAuthOrNone::Auth(a)) = &sc.auth {
                auth_uses(a, &sc_at.key("auth"), Inherited::Scenario, &mut out);
                auth_set = true;
            }
        }
    }
    // The scenario's headers the step does not write itself.
    let mut sent: Vec<&str> = s
        .headers
        .iter()
        .flat_map(|m| &m.0)
        .map(|(n, _)| n.as_str())
        .collect();
    for (name, Text(v)) in sc.headers.iter().flat_map(|m| &m.0) {
        let authorization = is_authorization(name);
        if has_header(s.headers.as_ref(), name) || (authorization && (step_none || auth_set)) {
            continue;
        }
        auth_set |= authorization;
        sent.push(name);
        out.push(Use {
            src: v,
            at: sc_at.key("headers").key(name),
            from: Inherited::Scenario,
            credentials: authorization,
        });
    }
    let Some(d) = &raw.defaults else {
        return out;
    };
    let top = KeyPath::root().key("defaults");
    if !auth_set
        && !step_none
        && !sc_none
        && s.auth.is_none()
        && let Some(a) = &d.auth
    {
        auth_uses(a, &top.key("auth"), Inherited::Defaults, &mut out);
        auth_set = true;
    }
    for (name, Text(v)) in d.headers.iter().flat_map(|m| &m.0) {
        let authorization = is_authorization(name);
        if sent.iter().any(|n| n.eq_ignore_ascii_case(name)) || (authorization && auth_set) {
            continue;
        }
        out.push(Use {
            src: v,
            at: top.key("headers").key(name),
            from: Inherited::Defaults,
            credentials: authorization,
        });
    }
    out
}

impl Compiler<'_> {
    /// Report every variable used before anything can have set it: in `variables:` (which
    /// are rendered in order, before any step) and in each scenario's steps, in the order a
    /// user runs them.
    pub(super) fn check_data_flow(&mut self, raw: &RawFile) {
        // Each declared name with its first position (a map: there may be tens of thousands).
        let mut declared: HashMap<&str, usize> = HashMap::new();
        for (k, (n, _)) in raw.variables.iter().flat_map(|m| &m.0).enumerate() {
            declared.entry(n.as_str()).or_insert(k);
        }
        self.variables_in_order(raw, &declared);
        // Only variables no `variables:` entry declares can lack a value in a step
        // (feeder fields are filled before anything else).
        let late: HashSet<String> = self
            .slots
            .iter()
            .filter(|n| !n.contains('.') && !declared.contains_key(n.as_str()))
            .cloned()
            .collect();
        if late.is_empty() {
            return;
        }
        let setters = setters(raw);
        for (i, sc) in raw.scenarios.iter().enumerate() {
            let sc_at = KeyPath::root().key("scenarios").idx(i);
            // What setup extracted, every user has from its start.
            let mut sure: HashSet<String> = super::once::setup_extracts(raw);
            let mut maybe: HashSet<String> = HashSet::new();
            for (list, steps) in step_lists(sc) {
                let mut w = Walk {
                    raw,
                    sc,
                    sc_at: &sc_at,
                    scenario: i,
                    list,
                    late: &late,
                    setters: &setters,
                    leaf: 0,
                };
                self.walk(&mut w, steps, &sc_at.key(list), &mut sure, &mut maybe);
            }
        }
    }

    /// The data flow through `list` (at `at`): uses checked against what is `sure`ly set
    /// (else an error) or `maybe` set (else a warning); both grow with what it extracts.
    fn walk(
        &mut self,
        w: &mut Walk<'_>,
        list: &[RawStep],
        at: &KeyPath,
        sure: &mut HashSet<String>,
        maybe: &mut HashSet<String>,
    ) {
        for (j, s) in list.iter().enumerate() {
            let p = at.idx(j);
            match kind(s) {
                Kind::Leaf => {
                    self.leaf_flow(w, s, &p, sure, maybe);
                    w.leaf += 1;
                }
                Kind::Repeat | Kind::Group => {
                    // They run their steps at least once.
                    for (cp, l) in children(s, &p) {
                        self.walk(w, l, &cp, sure, maybe);
                    }
                }
                Kind::While => {
                    // It may not run at all.
                    let mut inner = sure.clone();
                    for (cp, l) in children(s, &p) {
                        self.walk(w, l, &cp, &mut inner, maybe);
                    }
                    maybe.extend(inner);
                }
                Kind::If | Kind::Choose => {
                    let mut all: Option<HashSet<String>> = None;
                    let ways = children(s, &p);
                    let has_else = s.else_.is_some();
                    for (cp, l) in &ways {
                        let mut inner = sure.clone();
                        if let Some(name) = guarded(s, cp) {
                            inner.insert(name);
                        }
                        self.walk(w, l, cp, &mut inner, maybe);
                        maybe.extend(inner.iter().cloned());
                        all = Some(match all {
                            None => inner,
                            Some(a) => a.intersection(&inner).cloned().collect(),
                        });
                    }
                    // An `if` without `else` may run nothing.
                    if (kind(s) == Kind::Choose || has_else)
                        && let Some(a) = all
                    {
                        sure.extend(a);
                    }
                }
            }
        }
    }

    /// One leaf step's uses and extracts.
    fn leaf_flow(
        &mut self,
        w: &Walk<'_>,
        s: &RawStep,
        at: &KeyPath,
        sure: &mut HashSet<String>,
        maybe: &HashSet<String>,
    ) {
        // One report per step and variable.
        let mut reported: HashSet<String> = HashSet::new();
        for u in step_uses(w.raw, w.sc, w.sc_at, s, at) {
            for name in names_in(u.src) {
                if !w.late.contains(&name) || sure.contains(&name) || reported.contains(&name) {
                    continue;
                }
                reported.insert(name.clone());
                if maybe.contains(&name) {
                    self.maybe_unset(s, &name, &u);
                } else {
                    self.used_too_early(
                        w.raw,
                        w.setters,
                        (w.scenario, w.list, w.leaf, s, at),
                        &name,
                        &u,
                    );
                }
            }
        }
        for (name, _) in s.written() {
            sure.insert(name.clone());
        }
    }

    /// A warning: `name`, read through `u` by step `s`, is set only on some ways here.
    fn maybe_unset(&mut self, s: &RawStep, name: &str, u: &Use<'_>) {
        let node = self.root.locate(&u.at);
        let step = step_name(s);
        self.warns.push(super::error::Diagnostic {
            file: self.file.to_path_buf(),
            line: node.line,
            column: node.col_at(offset_of(u.src, name)),
            key: u.at.to_string(),
            found: format!(
                "`${{{name}}}`, which may have no value when step `{step}` runs: it is set only in some branches of an `if` or `choose`, or in a `while`"
            ),
            expected: "a variable set on every way to this step".into(),
            hint: Some(format!(
                "put the step inside `if: {{var: {name}, exists: true}}`, or give `{name}` an initial value under `variables:`; without a value the request is not sent (a `template` error)"
            )),
        });
    }

    /// `variables:` are rendered in order when a user is set up, before any step: each may
    /// read the ones above it and feeder fields, nothing else.
    fn variables_in_order(&mut self, raw: &RawFile, declared: &HashMap<&str, usize>) {
        let vars = KeyPath::root().key("variables");
        let from_setup = super::once::setup_extracts(raw);
        for (k, (name, v)) in raw.variables.iter().flat_map(|m| &m.0).enumerate() {
            let at = match v {
                super::raw::RawVariable::Value(_) => vars.key(name),
                super::raw::RawVariable::Spec(_) => vars.key(name).key("value"),
            };
            for used in names_in(v.value()) {
                if used.contains('.') || !self.slots.contains(&used) {
                    continue;
                }
                let hint = match declared.get(used.as_str()).copied() {
                    Some(p) if p < k => continue,
                    Some(p) if p == k => {
                        "a variable cannot read itself: it has no value before it is rendered"
                            .to_string()
                    }
                    Some(_) => format!(
                        "variables are rendered in the order written: move `{used}` above `{name}`"
                    ),
                    // Setup's values are copied into each user before its variables.
                    None if from_setup.contains(&used) => continue,
                    None => format!(
                        "`{used}` is only set by an `extract`, and variables are rendered when the user starts, before any step: write `${{{used}}}` in the step that needs it instead"
                    ),
                };
                let node = self.root.locate(&at);
                let col = node.col_at(offset_of(v.value(), &used));
                let line = node.line;
                self.err_at(
                    line,
                    col,
                    &at,
                    format!("`${{{used}}}` in the initial value of `{name}`, before `{used}` has a value"),
                    "variables declared above this one, feeder fields, functions or `${env.NAME}`",
                    Some(hint),
                );
            }
        }
    }

    /// Report `name`, read by step `(scenario, list, index)` through `u`, before anything
    /// has set it.
    fn used_too_early(
        &mut self,
        raw: &RawFile,
        setters: &[(String, Setter)],
        (i, list, j, step, step_at): (usize, &'static str, usize, &RawStep, &KeyPath),
        name: &str,
        u: &Use<'_>,
    ) {
        let step = step_name(step);
        let step_at = step_at.clone();
        let written = |c: &Self, at: &KeyPath| format!("`{at}` (line {})", c.root.locate(at).line);
        let (line, col, key, found) = match u.from {
            Inherited::No => {
                let node = self.root.locate(&u.at);
                (
                    node.line,
                    node.col_at(offset_of(u.src, name)),
                    u.at.clone(),
                    format!("`${{{name}}}`, which has no value yet when step `{step}` runs"),
                )
            }
            Inherited::Scenario | Inherited::Defaults => {
                let node = self.root.locate(&step_at);
                let whose = if u.from == Inherited::Scenario {
                    "the scenario's"
                } else {
                    "the defaults'"
                };
                (
                    node.line,
                    node.col,
                    step_at.clone(),
                    format!(
                        "`${{{name}}}` in {whose} {}, sent with step `{step}` before `{name}` has a value",
                        written(self, &u.at)
                    ),
                )
            }
        };
        let here: Vec<&Setter> = setters
            .iter()
            .filter(|(n, s)| n == name && s.scenario == i)
            .map(|(_, s)| s)
            .collect();
        let elsewhere = setters
            .iter()
            .find(|(n, s)| n == name && s.scenario != i)
            .map(|(_, s)| s);
        let at_of = |s: &Setter| s.at.clone();
        let self_sets = here.iter().any(|s| s.list == list && s.index == j);
        let hint = if u.credentials && u.from != Inherited::No && (self_sets || list == "on_start")
        {
            let what = if self_sets {
                format!("this step is the one that sets `{name}` (its `extract`)")
            } else {
                format!("`{name}` is not set before this step")
            };
            format!(
                "{what}: add `auth: none` to the step so it is sent without the inherited credentials"
            )
        } else if self_sets {
            format!(
                "this step's own `extract` sets `{name}`, after its request is sent: set it in an earlier step, or give it an initial value under `variables:`"
            )
        } else if let Some(s) = here.first() {
            let runs_later = if list == "steps" && s.list == "steps" {
                ", so on a user's first iteration it has no value yet"
            } else {
                ""
            };
            format!(
                "`{name}` is set by the `extract` of {}, which runs after this step{runs_later}: move that step before this one (or into `on_start`), or give `{name}` an initial value under `variables:`",
                written(self, &at_of(s).key("extract").key(name))
            )
        } else if let Some(s) = elsewhere {
            format!(
                "only scenario `{}` sets `{name}` ({}), and each user runs one scenario: extract it in this scenario too, or give it an initial value under `variables:`",
                raw.scenarios[s.scenario].name,
                written(self, &at_of(s).key("extract").key(name))
            )
        } else {
            format!("give `{name}` an initial value under `variables:`")
        };
        self.err_at(
            line,
            col,
            &key,
            found,
            format!(
                "a variable with a value by then: declared under `variables:`, a feeder field, or set by an `extract` of a step that runs before `{step}`"
            ),
            Some(hint),
        );
    }
}

/// What the data-flow walk of one step list knows.
struct Walk<'a> {
    raw: &'a RawFile,
    sc: &'a RawScenario,
    sc_at: &'a KeyPath,
    scenario: usize,
    list: &'static str,
    /// Variables only an `extract` sets.
    late: &'a HashSet<String>,
    setters: &'a [(String, Setter)],
    /// Leaf steps of the list walked so far.
    leaf: usize,
}

/// The variable that the way `way` (a `then` or `else` list) of an `if` step `s` is sure
/// to find set, by its condition.
fn guarded(s: &RawStep, way: &KeyPath) -> Option<String> {
    let c = s.if_.as_ref()?;
    let name = c.var.clone()?;
    let then = way.to_string().ends_with(".then");
    let set_in_then = c.exists != Some(false) && c.not_equals.is_none();
    let set_in_else = c.exists == Some(false);
    (if then { set_in_then } else { set_in_else }).then_some(name)
}

/// Every `(variable, step)` pair where a step's `extract` writes the variable.
fn setters(raw: &RawFile) -> Vec<(String, Setter)> {
    let mut out = Vec::new();
    for (i, sc) in raw.scenarios.iter().enumerate() {
        let sc_at = KeyPath::root().key("scenarios").idx(i);
        for (list, steps) in leaf_lists(sc, &sc_at) {
            for (j, (at, s)) in steps.into_iter().enumerate() {
                for (name, _) in s.written() {
                    out.push((
                        name.clone(),
                        Setter {
                            scenario: i,
                            list,
                            index: j,
                            at: at.clone(),
                        },
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Diagnostic, Plan, ScenarioError, parse_with_env};

    fn env(name: &str) -> Option<String> {
        (name == "PASS").then(|| "hunter2".to_string())
    }

    fn load(text: &str) -> Result<Plan, Vec<Diagnostic>> {
        match parse_with_env(text, Path::new("t.yaml"), &env) {
            Ok(p) => Ok(p),
            Err(ScenarioError::Invalid { diagnostics }) => Err(diagnostics),
            Err(e) => panic!("{e}"),
        }
    }

    fn problems(text: &str) -> Vec<String> {
        match load(text) {
            Ok(_) => panic!("loaded, but should not have:\n{text}"),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    const LOAD: &str = "load: {users: 1, duration: 1s}\n";

    #[test]
    fn issue12_scenario_auth_on_the_login_that_fetches_the_token() {
        let file = format!(
            "target: embedded:phase9
scenarios:
  - name: shopper
    auth: {{bearer: \"${{token}}\"}}
    on_start:
      - name: login
        post: /api/login
        json: {{username: ada, password: \"${{env.PASS}}\"}}
        extract: {{token: {{json: $.token}}}}
    steps:
      - get: /api/cart
{LOAD}"
        );
        let p = problems(&file);
        assert_eq!(p.len(), 1, "{p:#?}");
        let d = &p[0];
        assert!(
            d.starts_with("t.yaml:6:9: `scenarios[0].on_start[0]`: found `${token}` in the scenario's `scenarios[0].auth.bearer` (line 4), sent with step `login` before `token` has a value"),
            "{d}"
        );
        assert!(
            d.contains("hint: this step is the one that sets `token`"),
            "{d}"
        );
        assert!(d.contains("add `auth: none`"), "{d}");
        // The fix the hint gives: the login goes without the scenario's credentials, and the
        // other steps keep them.
        let fixed = file.replace(
            "      - name: login\n",
            "      - name: login\n        auth: none\n",
        );
        let plan = load(&fixed).unwrap_or_else(|d| panic!("{d:#?}"));
        let sc = &plan.scenarios[0];
        assert!(sc.on_start[0].auth.is_none());
        assert!(sc.steps[0].auth.is_some());
    }

    #[test]
    fn issue12_a_variable_set_by_a_later_step_is_named_with_its_setter() {
        let p = problems(&format!(
            "target: embedded:phase9
scenarios:
  - name: s
    steps:
      - get: /api/products/${{id}}
      - get: /api/products
        extract: {{id: {{json: \"$.items[0].id\"}}}}
{LOAD}"
        ));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with("t.yaml:5:28: `scenarios[0].steps[0].get`: found `${id}`, which has no value yet when step `GET /api/products/${id}` runs"),
            "{}",
            p[0]
        );
        assert!(
            p[0].contains("`id` is set by the `extract` of `scenarios[0].steps[1].extract.id` (line 7), which runs after this step, so on a user's first iteration it has no value yet"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn uses_in_checks_headers_and_other_scenarios_are_found() {
        let p = problems(&format!(
            "target: embedded:phase9
defaults:
  headers: {{X-Session: \"${{sid}}\"}}
scenarios:
  - name: a
    steps:
      - get: /
        check: {{json: [{{path: $.token, equals: \"${{token}}\"}}]}}
        extract: {{token: {{json: $.token}}, sid: {{cookie: sid}}}}
  - name: b
    on_start:
      - get: /login
        extract: {{sid: {{cookie: sid}}}}
    steps:
      - get: /x
{LOAD}"
        ));
        // Step a.0 reads `sid` (defaults' header) and `token` (its check) before its own
        // extract writes them; scenario b's login reads `sid` too.
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p.iter().any(|d| d
                .contains("`scenarios[0].steps[0].check.json[0].equals`: found `${token}`")
                && d.contains("this step's own `extract` sets `token`")),
            "{p:#?}"
        );
        assert!(p.iter().any(|d| d.contains("`scenarios[0].steps[0]`: found `${sid}` in the defaults' `defaults.headers.X-Session` (line 3)")), "{p:#?}");
        assert!(
            p.iter().any(|d| d.contains("`scenarios[1].on_start[0]`")),
            "{p:#?}"
        );
    }

    #[test]
    fn only_another_scenario_sets_it() {
        let p = problems(&format!(
            "target: embedded:phase9
scenarios:
  - name: a
    on_start: [{{get: /login, extract: {{token: {{header: x-token}}}}}}]
    steps: [{{get: /a}}]
  - name: b
    steps: [{{get: \"/b/${{token}}\"}}]
{LOAD}"
        ));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("only scenario `a` sets `token`"), "{}", p[0]);
    }

    #[test]
    fn variables_may_read_only_those_above_them() {
        let p = problems(&format!(
            "target: embedded:phase9
variables:
  url: \"/p/${{id}}\"
  id: \"${{randomInt(1, 9)}}\"
  auth: \"Bearer ${{token}}\"
scenarios:
  - name: s
    on_start: [{{get: /login, extract: {{token: {{header: x-token}}}}}}]
    steps: [{{get: \"${{url}}\"}}]
{LOAD}"
        ));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].contains("move `id` above `url`"), "{}", p[0]);
        assert!(
            p[1].contains("`token` is only set by an `extract`"),
            "{}",
            p[1]
        );
    }

    #[test]
    fn what_runs_before_is_fine() {
        load(&format!(
            "target: embedded:phase9
defaults:
  auth: {{bearer: \"${{token}}\"}}
feeders:
  users: {{file: scenarios/data/users.csv, order: unique}}
variables: {{id: \"${{randomInt(1, 9)}}\", path: \"/p/${{id}}\"}}
scenarios:
  - name: s
    on_start:
      - post: /api/login
        auth: none
        json: {{username: \"${{users.username}}\"}}
        extract: {{token: {{json: $.token}}}}
    steps:
      - get: \"${{path}}\"
        extract: {{etag: {{header: etag}}}}
      - get: /x
        headers: {{If-None-Match: \"${{etag}}\"}}
    on_stop:
      - get: \"/bye/${{etag}}\"
{LOAD}"
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
    }
}
