//! `setup:` and `teardown:`, run once per process (each worker of a `--workers` run, each
//! shard of a `--shard` run runs its own): setup before any user starts, by a user of its
//! own (its own connections and cookies, the `variables:` rendered); what its `extract`s
//! write is copied into every user's variables before its own are rendered. A step of
//! setup that fails (a transport error, a failed check or extract, a request that cannot
//! be built) stops the run before the load starts, its results written, the run
//! interrupted with the reason. Teardown runs after the users have ended, with setup's
//! user (its variables and cookies), unless setup failed or the stop went hard.
//!
//! Their cells are those of two scenarios laid out after the plan's own, named `setup` and
//! `teardown` ([`crate::metrics::CellInfo::is_once`]): their own rows, out of the load's
//! totals.

use crate::metrics::{SETUP_SCENARIO, StopReason, TEARDOWN_SCENARIO};
use crate::scenario::template::Vars;
use crate::scenario::{Plan, ScenarioPlan, StepPlan, ThinkTime};

use super::user::{self, NotSent, StepEnd, Timing, UserState};
use super::{RunCtx, StopLevel};

/// The plan with `setup` and `teardown` as two more scenarios (for laying out cells), or
/// `None` when it has neither.
pub(super) fn with_once_scenarios(plan: &Plan) -> Option<Plan> {
    if plan.setup.is_empty() && plan.teardown.is_empty() {
        return None;
    }
    let mut p = plan.clone();
    for (name, steps) in [
        (SETUP_SCENARIO, &plan.setup),
        (TEARDOWN_SCENARIO, &plan.teardown),
    ] {
        p.scenarios.push(ScenarioPlan {
            name: name.to_string(),
            weight: 1,
            think_time: ThinkTime::None,
            on_start: Vec::new(),
            steps: steps.clone(),
            on_stop: Vec::new(),
            flow: None,
        });
    }
    Some(p)
}

/// Copy what setup extracted into a user's variables.
pub(super) fn give_setup_values(ctx: &RunCtx, vars: &mut Vars) {
    if let Some(values) = ctx.setup_values.get() {
        for (slot, v) in values {
            vars.set(*slot, v.clone());
        }
    }
}

/// Run `setup:` (if any) and keep what it extracted for the users. Returns the user that
/// ran it (for teardown), and why it failed, if it did (the caller stops the run).
pub(super) async fn setup(ctx: &RunCtx) -> (Option<UserState>, Option<String>) {
    let plan = &ctx.plan;
    if plan.setup.is_empty() && plan.teardown.is_empty() {
        return (None, None);
    }
    let mut st = match UserState::once(ctx) {
        Ok(st) => st,
        Err(e) => return (None, Some(format!("setup could not start: {e}"))),
    };
    let scenario = plan.scenarios.len();
    let failed = run_steps(ctx, scenario, &plan.setup, &mut st, true).await;
    if failed.is_none() {
        let mut values = Vec::new();
        for x in plan.setup.iter().flat_map(|s| &s.extracts) {
            if let Some(v) = st.vars.get(x.var)
                && !values.iter().any(|(slot, _)| *slot == x.var)
            {
                values.push((x.var, v.to_string()));
            }
        }
        let _ = ctx.setup_values.set(values);
    }
    (Some(st), failed)
}

/// Run `teardown:` (if any) with setup's user, unless the stop went hard.
pub(super) async fn teardown(ctx: &RunCtx, st: Option<UserState>) {
    let Some(mut st) = st else {
        return;
    };
    if ctx.plan.teardown.is_empty() || ctx.stop_level() == StopLevel::Hard {
        return;
    }
    let scenario = ctx.plan.scenarios.len() + 1;
    let _ = run_steps(ctx, scenario, &ctx.plan.teardown, &mut st, false).await;
}

/// Run `steps` in order, recorded in the cells of the laid-out `scenario`. `strict`
/// (setup): stop at the first step that fails, and say why; otherwise run them all.
async fn run_steps(
    ctx: &RunCtx,
    scenario: usize,
    steps: &[StepPlan],
    st: &mut UserState,
    strict: bool,
) -> Option<String> {
    for (k, step) in steps.iter().enumerate() {
        // Setup stops at a stop (Ctrl-C); teardown runs after the graceful one.
        if (strict && ctx.stop_level() != StopLevel::Running) || ctx.stop_level() == StopLevel::Hard
        {
            return Some("stopped during setup".into());
        }
        let cell = ctx.cell(scenario, 1, k);
        let failure = if step.page.is_some() {
            match user::run_step(ctx, cell, step, st, Timing::Once).await {
                StepEnd::Done => None,
                StepEnd::NotBuilt => Some("its request could not be built".to_string()),
                StepEnd::Gone => Some("it was cut off".to_string()),
            }
        } else {
            match user::send_step(ctx, cell, step, st, Timing::Once).await {
                Ok(o) if o.error.is_none() && o.failed_checks.is_empty() => None,
                Ok(o) => Some(why(step, o.error, o.detail.as_deref(), &o.failed_checks)),
                Err(NotSent::NotBuilt) => Some("its request could not be built".to_string()),
                Err(NotSent::Gone) => Some("it was cut off".to_string()),
            }
        };
        if let Some(f) = failure
            && strict
        {
            let msg = format!("setup failed at step `{}`: {f}", step.name);
            return Some(super::mask(&msg, &ctx.plan.secrets));
        }
    }
    None
}

/// What went wrong with a step's response, in words.
fn why(
    step: &StepPlan,
    error: Option<crate::metrics::ErrorKind>,
    detail: Option<&str>,
    failed: &[u16],
) -> String {
    let mut parts = Vec::new();
    if let Some(kind) = error {
        parts.push(format!("{kind:?}").to_lowercase());
    }
    let labels: Vec<String> = failed
        .iter()
        .map(|&i| {
            let i = usize::from(i);
            match step.checks.get(i) {
                Some(c) => format!("check `{}` failed", c.label),
                None => match step.extracts.get(i - step.checks.len()) {
                    Some(x) => format!("extract `{}` found nothing", x.name),
                    None => "a check failed".to_string(),
                },
            }
        })
        .collect();
    parts.extend(labels);
    if let Some(d) = detail {
        parts.push(d.to_string());
    }
    parts.join("; ")
}

/// The stop reason of a run whose setup failed.
pub(super) fn failed(why: String) -> StopReason {
    StopReason::Other(why)
}
