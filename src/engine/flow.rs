//! Running a scenario's flow control (`if`, `repeat`, `while`, `choose`) and groups: the
//! tree of [`Block`]s beside the plan's flat lists of leaf steps
//! ([`crate::scenario::flow_control`]).
//!
//! A leaf runs as in a flat list (its cell, its think time after it, the iteration's stop
//! at a request that cannot be built). In the open model the iteration's intended start
//! goes to the first request actually sent, whichever branch it is in. A group records one
//! sample per pass in its GROUP cell: from the group's start to the end of its last
//! request (the think times between its requests included, the one after its last
//! request not), failed when one of its requests failed in transport or status, or when
//! the iteration stopped inside it at a request that could not be built; a pass that sent
//! nothing, or that the run's end cut short, records nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::metrics::{CellInfo, ErrorKind, GROUP_METHOD, Sample};
use crate::scenario::Plan;
use crate::scenario::flow_control::{self, Block};

use super::user::{self, NotSent, StepEnd, Steps, Timing, UserState};
use super::{RunCtx, StopLevel};

/// The GROUP cell of each group of each scenario, by [scenario][group].
pub(super) fn group_cells(plan: &Plan, cells: &[CellInfo]) -> Vec<Vec<Option<usize>>> {
    plan.scenarios
        .iter()
        .map(|sc| {
            sc.flow
                .iter()
                .flat_map(|f| &f.groups)
                .map(|g| {
                    cells
                        .iter()
                        .find(|c| c.scenario == sc.name && &c.step == g && c.method == GROUP_METHOD)
                        .map(|c| c.id)
                })
                .collect()
        })
        .collect()
}

/// What one run through a list knows.
struct Pass {
    /// Which list (`Steps as usize`).
    phase: usize,
    /// The open model's intended start, until the first request takes it.
    intended: Option<Instant>,
    /// Requests sent (or tried) so far.
    sent: u64,
    /// When the last request ended.
    last_end: Option<Instant>,
    /// Requests that failed so far, and the last one's error.
    failed: u64,
    last_error: Option<ErrorKind>,
    /// The run is stopping: nothing more is started.
    stopped: bool,
}

/// Run `blocks`, the flow of list `phase` of the user's scenario. `intended`: the open
/// model's intended start of the iteration. Ends like a flat list's iteration does.
pub(super) async fn run_list(
    ctx: &RunCtx,
    st: &mut UserState,
    blocks: &[Block],
    phase: usize,
    intended: Option<Instant>,
) -> StepEnd {
    let mut pass = Pass {
        phase,
        intended,
        sent: 0,
        last_end: None,
        failed: 0,
        last_error: None,
        stopped: false,
    };
    let end = run(ctx, st, blocks, &mut pass).await;
    if phase == Steps::Main as usize {
        // An iteration whose branches sent nothing (an `if` without `else`, an empty
        // `choose` branch) must not spin: yield, and after a few in a row, pause.
        if pass.sent == 0 && end == StepEnd::Done {
            st.empty_passes = st.empty_passes.saturating_add(1);
            if st.empty_passes >= 8 {
                user::pause(ctx, Duration::from_millis(10)).await;
            } else {
                tokio::task::yield_now().await;
            }
        } else {
            st.empty_passes = 0;
        }
    }
    end
}

type Run<'a> = Pin<Box<dyn Future<Output = StepEnd> + Send + 'a>>;

fn run<'a>(
    ctx: &'a RunCtx,
    st: &'a mut UserState,
    blocks: &'a [Block],
    pass: &'a mut Pass,
) -> Run<'a> {
    Box::pin(async move {
        for b in blocks {
            if pass.stopped {
                return StepEnd::Done;
            }
            let end = match b {
                Block::Step(k) => leaf(ctx, st, *k, pass).await,
                Block::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let yes = cond.holds(st.last_status, &st.vars, &mut st.rng);
                    run(ctx, st, if yes { then } else { otherwise }, pass).await
                }
                Block::Repeat { times, body } => {
                    let mut end = StepEnd::Done;
                    for _ in 0..*times {
                        end = run(ctx, st, body, pass).await;
                        if end != StepEnd::Done || pass.stopped {
                            break;
                        }
                    }
                    end
                }
                Block::While { cond, max, body } => {
                    let mut end = StepEnd::Done;
                    for _ in 0..*max {
                        if !cond.holds(st.last_status, &st.vars, &mut st.rng) {
                            break;
                        }
                        end = run(ctx, st, body, pass).await;
                        if end != StepEnd::Done || pass.stopped {
                            break;
                        }
                    }
                    end
                }
                Block::Choose { branches } => {
                    let total = flow_control::total_weight(branches);
                    if total == 0 {
                        StepEnd::Done
                    } else {
                        let draw = st.rng.random_range(0..total);
                        let pick = flow_control::branch_for(branches, draw);
                        run(ctx, st, &branches[pick].body, pass).await
                    }
                }
                Block::Group { group, body } => {
                    let start = Instant::now();
                    let (sent, failed) = (pass.sent, pass.failed);
                    let end = run(ctx, st, body, pass).await;
                    record_group(ctx, st, *group, start, pass, (sent, failed), end);
                    end
                }
            };
            if end != StepEnd::Done {
                return end;
            }
        }
        StepEnd::Done
    })
}

/// Run leaf step `k` of the pass's list: its request, then (in the iteration) its think
/// time, or the back-off of a request that could not be built.
async fn leaf(ctx: &RunCtx, st: &mut UserState, k: usize, pass: &mut Pass) -> StepEnd {
    let scenario = st.scenario;
    let sc = &ctx.plan.scenarios[scenario];
    let main = pass.phase == Steps::Main as usize;
    if pass.phase != Steps::OnStop as usize && ctx.stop_level() != StopLevel::Running {
        // Stopping: the rest is not started.
        pass.stopped = true;
        return StepEnd::Done;
    }
    let list = match pass.phase {
        0 => &sc.on_start,
        1 => &sc.steps,
        _ => &sc.on_stop,
    };
    let Some(step) = list.get(k) else {
        return StepEnd::Done;
    };
    let cell = ctx.cell(scenario, pass.phase, k);
    let timing = match (main, &ctx.open) {
        (true, Some(_)) => Timing::Open(pass.intended.take()),
        (true, None) => Timing::Closed,
        (false, _) => Timing::Once,
    };
    let (end, error) = match &step.page {
        Some(page) => (
            super::page::run(ctx, cell, step, page, st, timing).await,
            None,
        ),
        None => match user::send_step(ctx, cell, step, st, timing).await {
            Ok(o) => {
                // A timeout is a wait too: a freeze longer than the timeout is a stall.
                if o.service_us.is_some() || o.error == Some(ErrorKind::Timeout) {
                    user::note_wait(ctx, cell, timing, o.sent, o.elapsed_us);
                }
                (StepEnd::Done, o.error)
            }
            Err(NotSent::NotBuilt) => (StepEnd::NotBuilt, Some(ErrorKind::Template)),
            Err(NotSent::Gone) => (StepEnd::Gone, None),
        },
    };
    pass.sent += 1;
    pass.last_end = Some(Instant::now());
    if let Some(e) = error {
        pass.failed += 1;
        pass.last_error = Some(e);
    }
    let think = sc.think_of(step);
    match end {
        StepEnd::Done => {
            if main {
                user::pause(ctx, user::think_duration(think, &mut st.rng)).await;
            }
            StepEnd::Done
        }
        // `on_start` and `on_stop` go on after a request that could not be built, as flat
        // lists do.
        StepEnd::NotBuilt if !main => StepEnd::Done,
        StepEnd::NotBuilt => {
            // As in a flat iteration: the iteration stops here; the closed model's user
            // goes on after its think time, or backs off.
            if ctx.open.is_none() {
                let mut wait = user::think_duration(think, &mut st.rng);
                if wait.is_zero() {
                    st.backoff = (st.backoff * 2).clamp(user::BACKOFF_MIN, user::BACKOFF_MAX);
                    wait = st.backoff;
                }
                user::pause(ctx, wait).await;
            }
            StepEnd::NotBuilt
        }
        StepEnd::Gone => StepEnd::Gone,
    }
}

/// Record one pass through group `group` (started at `start`; `before`: the pass's sent
/// and failed counts when it started) that ended with `end`.
fn record_group(
    ctx: &RunCtx,
    st: &UserState,
    group: usize,
    start: Instant,
    pass: &Pass,
    before: (u64, u64),
    end: StepEnd,
) {
    let Some(cell) = ctx
        .group_cells
        .get(st.scenario)
        .and_then(|g| g.get(group))
        .copied()
        .flatten()
    else {
        return;
    };
    // A pass cut short by the run's end (or one that sent nothing) is no measurement.
    if !ctx.record || end == StepEnd::Gone || pass.stopped || pass.sent == before.0 {
        return;
    }
    let error = (pass.failed > before.1)
        .then_some(pass.last_error)
        .flatten();
    let us = match (end, pass.last_end) {
        (StepEnd::Done, Some(t)) => Some(user::micros(t.saturating_duration_since(start))),
        _ => None,
    };
    let error = match us {
        None => error.or(Some(ErrorKind::Template)),
        Some(_) => error,
    };
    ctx.recorder.record(&Sample {
        cell,
        response_us: us,
        service_us: us,
        co_interval_us: None,
        error,
        failed_checks: &[],
        bytes: 0,
        meta: None,
    });
}

/// Closed model: the user's expected cycle over its flow, µs (see
/// [`flow_control::expected`]): `choose` branches weighted, `repeat` multiplied; `None`
/// when an `if` or a `while` makes it unknown, or before every step has a usual time.
pub(super) fn expected_cycle_us(ctx: &RunCtx, scenario: usize, blocks: &[Block]) -> Option<u64> {
    let sc = &ctx.plan.scenarios[scenario];
    let cycle = flow_control::expected(blocks, &mut |k| {
        let usual = ctx.median_service_us(ctx.cell(scenario, Steps::Main as usize, k));
        let step = sc.steps.get(k)?;
        (usual > 0).then(|| (usual + user::micros(sc.think_of(step).mean())) as f64)
    })?;
    Some(cycle.round() as u64).filter(|c| *c > 0)
}
