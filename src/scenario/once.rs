//! `setup:` and `teardown:`: steps run once per run (per process of a `--workers` or
//! `--shard` run), before the load starts and after it ends, like k6's `setup()` and
//! `teardown()`. They are compiled as the steps of a scenario with no headers or
//! credentials of its own (`defaults` apply); what setup's `extract`s write, every user
//! reads, and so does teardown.
//!
//! Their requests are recorded in cells of their own, under the scenario names
//! [`SETUP_SCENARIO`] and [`TEARDOWN_SCENARIO`], which a user scenario may not take:
//! [`crate::metrics::CellInfo::is_request`] keeps them out of the run's totals.

use std::collections::HashSet;

pub use crate::metrics::{SETUP_SCENARIO, TEARDOWN_SCENARIO};

use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{Auth, StepPlan};
use super::raw::{RawFile, RawScenario, RawStep};

/// The once-per-run lists of a file, with their keys: `setup`, then `teardown`.
pub(super) fn lists(raw: &RawFile) -> [(&'static str, &[RawStep]); 2] {
    [
        ("setup", raw.setup.as_deref().unwrap_or_default()),
        ("teardown", raw.teardown.as_deref().unwrap_or_default()),
    ]
}

/// The names setup's `extract`s write: every user (and teardown) has them.
pub(super) fn setup_extracts(raw: &RawFile) -> HashSet<String> {
    raw.setup
        .iter()
        .flatten()
        .flat_map(|st| st.written())
        .map(|(name, _)| name.clone())
        .collect()
}

/// A scenario of `steps` with nothing of its own, for the checks that read a step with
/// what it inherits.
pub(super) fn as_scenario(name: &str, steps: &[RawStep]) -> RawScenario {
    RawScenario {
        name: name.to_string(),
        weight: None,
        think_time: None,
        headers: None,
        auth: None,
        on_start: None,
        steps: steps.to_vec(),
        on_stop: None,
    }
}

impl Compiler<'_> {
    /// Compile `setup:` and `teardown:`, with the `defaults'` credentials where a step has
    /// none of its own (nor `auth: none`) and the default redirect limit.
    pub(super) fn once_steps(
        &mut self,
        raw: &RawFile,
        default_auth: Option<&Auth>,
        follow_redirects: u32,
    ) -> (Vec<StepPlan>, Vec<StepPlan>) {
        let mut out: [Vec<StepPlan>; 2] = Default::default();
        for (k, (key, steps)) in lists(raw).into_iter().enumerate() {
            if steps.is_empty() {
                continue;
            }
            let no_auth = super::http_opts::no_auth(&as_scenario(key, steps), true);
            let mut plans = self.steps(steps, &KeyPath::root().key(key));
            for (i, step) in plans.iter_mut().enumerate() {
                let opted_out = no_auth.get(i).copied().unwrap_or(false);
                if step.auth.is_none()
                    && !super::http_opts::sets_authorization(&step.headers)
                    && !opted_out
                {
                    step.auth = default_auth.cloned();
                }
                step.follow_redirects.get_or_insert(follow_redirects);
            }
            out[k] = plans;
        }
        let [setup, teardown] = out;
        (setup, teardown)
    }

    /// A user scenario may not be named `setup` or `teardown`: those name the rows of the
    /// once-per-run steps.
    pub(super) fn reserved_scenario_names(&mut self, raw: &RawFile) {
        for (i, sc) in raw.scenarios.iter().enumerate() {
            if sc.name == SETUP_SCENARIO || sc.name == TEARDOWN_SCENARIO {
                self.err(
                    &KeyPath::root().key("scenarios").idx(i).key("name"),
                    format!("a scenario named {:?}", sc.name),
                    "a name other than `setup` and `teardown`",
                    Some(format!(
                        "`{}` names the row of the top-level `{}:` steps, which run once per run; rename this scenario, e.g. `{}_user`",
                        sc.name, sc.name, sc.name
                    )),
                );
            }
        }
    }

    /// Every variable setup or teardown reads has a value by then: setup runs before any
    /// user, so only `variables:`, `${env.NAME}` and what an earlier setup step extracts
    /// have one (feeder rows are dealt to users, not to setup); teardown also has all that
    /// setup extracted.
    pub(super) fn check_once_flow(&mut self, raw: &RawFile) {
        let declared: HashSet<&str> = raw
            .variables
            .iter()
            .flat_map(|m| &m.0)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut have: HashSet<String> = HashSet::new();
        for (key, steps) in lists(raw) {
            if key == "teardown" {
                have = setup_extracts(raw);
            }
            let sc = as_scenario(key, steps);
            let sc_at = KeyPath::root().key(key);
            for (j, s) in steps.iter().enumerate() {
                let at = sc_at.idx(j);
                let mut reported: HashSet<String> = HashSet::new();
                for u in super::flow::step_uses(raw, &sc, &sc_at, s, &at) {
                    for name in super::flow::names_in(u.src) {
                        let feeder = name.contains('.') && self.slots.contains(&name);
                        let late = !name.contains('.')
                            && self.slots.contains(&name)
                            && !declared.contains(name.as_str());
                        if !(feeder || (late && !have.contains(&name)))
                            || !reported.insert(name.clone())
                        {
                            continue;
                        }
                        let node = self.root.locate(&u.at);
                        let (line, col) =
                            (node.line, node.col_at(super::flow::offset_of(u.src, &name)));
                        let hint = if feeder {
                            format!(
                                "feeder rows are dealt to users; `{key}` runs once for the whole run and has none: give the value under `variables:` or `${{env.NAME}}`"
                            )
                        } else if key == "setup" {
                            format!(
                                "setup runs before any user: only `variables:`, `${{env.NAME}}` and what an earlier setup step extracts have values; extract `{name}` in a setup step before this one"
                            )
                        } else {
                            format!(
                                "teardown runs once, with what setup extracted, not with any user's variables: extract `{name}` in `setup:` (or an earlier teardown step)"
                            )
                        };
                        self.err_at(
                            line,
                            col,
                            &u.at,
                            format!("`${{{name}}}`, which has no value when `{key}` runs"),
                            format!("a variable declared under `variables:`, or extracted by an earlier `{key}` step"),
                            Some(hint),
                        );
                    }
                }
                for (name, _) in s.written() {
                    have.insert(name.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Diagnostic, Plan, ScenarioError, parse_with_env};

    fn load(text: &str) -> Result<Plan, Vec<Diagnostic>> {
        match parse_with_env(text, Path::new("t.yaml"), &|_| None) {
            Ok(p) => Ok(p),
            Err(ScenarioError::Invalid { diagnostics }) => Err(diagnostics),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn what_setup_extracts_every_user_and_teardown_may_read() {
        let p = load(
            r#"
target: http://127.0.0.1:1
defaults: {auth: {bearer: "${token}"}}
variables:
  header: "Bearer ${token}"
setup:
  - name: login
    post: /login
    auth: none
    extract: {token: {json: "$.token"}, org: {json: "$.org"}}
  - get: /orgs/${org}
scenarios:
  - name: s
    on_start: [{get: "/me?t=${token}"}]
    steps:
      - get: /a
        headers: {X-Auth: "${header}"}
teardown:
  - delete: /orgs/${org}
load: {users: 1, duration: 1s}
"#,
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(p.setup.len(), 2);
        assert_eq!(p.teardown.len(), 1);
        // `defaults.auth` applies to setup's later steps and teardown, not to `auth: none`.
        assert!(p.setup[0].auth.is_none());
        assert!(p.setup[1].auth.is_some());
        assert!(p.teardown[0].auth.is_some());
        // An extracted value is not redrawn each iteration.
        let token = p.variables.iter().find(|v| v.name == "token").unwrap();
        assert!(!token.per_iteration);
    }

    #[test]
    fn setup_cannot_read_what_a_later_step_or_a_user_extracts() {
        let d = load(
            r#"
target: http://127.0.0.1:1
setup:
  - get: /a/${later}
  - get: /b
    extract: {later: {json: "$.x"}}
scenarios:
  - name: s
    steps: [{get: /c}]
load: {users: 1, duration: 1s}
"#,
        )
        .unwrap_err();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].key.as_str()), (4, "setup[0].get"));
        assert!(d[0].to_string().contains("earlier setup step"), "{}", d[0]);
    }
}
