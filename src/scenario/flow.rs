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

use std::collections::{HashMap, HashSet};

use super::compile::{Compiler, step_lists};
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
struct Use<'a> {
    src: &'a str,
    at: KeyPath,
    from: Inherited,
    credentials: bool,
}

/// A step that writes a variable with `extract`.
struct Setter {
    scenario: usize,
    list: &'static str,
    index: usize,
}

/// Every name an `extract` writes, in any scenario.
pub(super) fn extracted_names(raw: &RawFile) -> HashSet<String> {
    raw.scenarios
        .iter()
        .flat_map(|sc| {
            step_lists(sc)
                .into_iter()
                .flat_map(|(_, steps)| steps.iter())
        })
        .flat_map(|st| {
            st.extract
                .iter()
                .flat_map(|m| &m.0)
                .map(|(name, _)| name)
                .chain(super::ws::extract_names(st).map(|(_, name)| name))
        })
        .cloned()
        .collect()
}

/// The variables a user reads in its `on_start` or `on_stop` steps, and those that the
/// `variables:` among them read in turn: a value that identifies the user (a username it
/// signs up with) and must stay the same for its whole life.
pub(super) fn read_once_names(raw: &RawFile) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::new();
    for (i, sc) in raw.scenarios.iter().enumerate() {
        let sc_at = KeyPath::root().key("scenarios").idx(i);
        for (list, steps) in step_lists(sc) {
            if list == "steps" {
                continue;
            }
            for (j, s) in steps.iter().enumerate() {
                let at = sc_at.key(list).idx(j);
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
fn names_in(src: &str) -> Vec<String> {
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
fn offset_of(src: &str, name: &str) -> usize {
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
fn step_uses<'a>(
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
            let mut have: HashSet<String> = HashSet::new();
            for (list, steps) in step_lists(sc) {
                for (j, s) in steps.iter().enumerate() {
                    let at = sc_at.key(list).idx(j);
                    let mut reported = Vec::new();
                    for u in step_uses(raw, sc, &sc_at, s, &at) {
                        for name in names_in(u.src) {
                            if late.contains(&name) && !have.contains(&name) {
                                self.used_too_early(raw, &setters, (i, list, j), &name, &u);
                                // One report per step and variable.
                                have.insert(name.clone());
                                reported.push(name);
                            }
                        }
                    }
                    // Names reported above only silence this step's other uses: `have`
                    // otherwise holds what earlier steps extracted, all set before this one.
                    for n in &reported {
                        debug_assert!(!was_set_before(&setters, n, i, list, j));
                        have.remove(n);
                    }
                    for (name, _) in s.extract.iter().flat_map(|m| &m.0) {
                        have.insert(name.clone());
                    }
                    for (_, name) in super::ws::extract_names(s) {
                        have.insert(name.clone());
                    }
                }
            }
        }
    }

    /// `variables:` are rendered in order when a user is set up, before any step: each may
    /// read the ones above it and feeder fields, nothing else.
    fn variables_in_order(&mut self, raw: &RawFile, declared: &HashMap<&str, usize>) {
        let vars = KeyPath::root().key("variables");
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
        (i, list, j): (usize, &'static str, usize),
        name: &str,
        u: &Use<'_>,
    ) {
        let sc = &raw.scenarios[i];
        let steps = step_lists(sc)
            .into_iter()
            .find(|(l, _)| *l == list)
            .map_or(&[][..], |(_, s)| s);
        let step = step_name(&steps[j]);
        let step_at = KeyPath::root().key("scenarios").idx(i).key(list).idx(j);
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
        let at_of = |s: &Setter| {
            KeyPath::root()
                .key("scenarios")
                .idx(s.scenario)
                .key(s.list)
                .idx(s.index)
        };
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

/// Every `(variable, step)` pair where a step's `extract` writes the variable.
fn setters(raw: &RawFile) -> Vec<(String, Setter)> {
    let mut out = Vec::new();
    for (i, sc) in raw.scenarios.iter().enumerate() {
        for (list, steps) in step_lists(sc) {
            for (j, s) in steps.iter().enumerate() {
                let ws = super::ws::extract_names(s).map(|(_, n)| n);
                for name in s
                    .extract
                    .iter()
                    .flat_map(|m| &m.0)
                    .map(|(n, _)| n)
                    .chain(ws)
                {
                    out.push((
                        name.clone(),
                        Setter {
                            scenario: i,
                            list,
                            index: j,
                        },
                    ));
                }
            }
        }
    }
    out
}

/// Whether a step of scenario `i` before `(list, j)` (in the order a user runs them)
/// writes `name`.
fn was_set_before(
    setters: &[(String, Setter)],
    name: &str,
    i: usize,
    list: &str,
    j: usize,
) -> bool {
    let rank = |l: &str| match l {
        "on_start" => 0,
        "steps" => 1,
        _ => 2,
    };
    setters
        .iter()
        .any(|(n, s)| n == name && s.scenario == i && (rank(s.list), s.index) < (rank(list), j))
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
