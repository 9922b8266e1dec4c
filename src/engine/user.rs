//! A user's life, whatever drives it: its start (scenario, slot, client, variables, feeder
//! rows, `on_start` steps), its iterations (its scenario's steps in order, with think
//! times, started by the plan's users or the open model's tickets), its end (`on_stop`),
//! and how each step's request is sent, timed and recorded.
//!
//! Which scenario a user runs comes from its place in the order the plan starts users
//! ([`super::slots`]), so a run split across workers has the users of one process. Each
//! user waits for its own start time on the plan's stages, so ramps, holds and ramp-downs
//! follow the plan to the millisecond.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::metrics::{ErrorKind, Sample};
use crate::scenario::template::Vars;
use crate::scenario::{StepPlan, ThinkTime};

use super::http::{self, Outcome};
use super::slots::Slot;
use super::{RunCtx, StopLevel};

/// What a user keeps between its iterations.
#[derive(Clone)]
pub(super) struct UserState {
    /// Order in which this process launched the user: user `local` is active while the
    /// plan wants more than `local` users of this process.
    local: usize,
    /// The user's scenario and its number in the whole plan.
    slot: Slot,
    pub(super) scenario: usize,
    /// The user's connections and cookie jar (`None`: not set up, or retired).
    pub(super) http: Option<http::UserHttp>,
    pub(super) vars: Vars,
    pub(super) rng: SmallRng,
    active: bool,
    pub(super) buf: String,
    /// Page steps with `cache: true`: the user's cached assets.
    pub(super) cache: super::page::AssetCache,
    /// The user has a feeder row it has not used for an iteration yet (taken at set-up,
    /// for `on_start` and the first iteration).
    fresh_row: bool,
    /// Pause after an iteration that stopped at a request that could not be built, when
    /// the step has no think time: doubles each time, from [`BACKOFF_MIN`] to
    /// [`BACKOFF_MAX`], and resets after an iteration that went through.
    pub(super) backoff: Duration,
    /// The status of the user's last response (`None`: none yet, or the last request got
    /// none), which `if: {status: ...}` and `while:` test.
    pub(super) last_status: Option<u16>,
    /// Iterations in a row that sent no request (flow control chose none): after a few, the
    /// user pauses so it does not spin.
    pub(super) empty_passes: u32,
    /// Counted iterations: how many this user has taken, and whether it is done with them.
    iterations: u64,
    iterations_over: bool,
}

pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How a step's request is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timing {
    /// `on_start`, `on_stop`, a page's document: measured, no schedule.
    Once,
    /// Closed model: a step of the user's iteration. Measured; the user's own pace gives
    /// the coordinated-omission estimate, and waits far beyond the step's usual time are
    /// noted for the stall finder.
    Closed,
    /// Open model: a step of an iteration; the first carries the iteration's intended
    /// start, from which its response time runs.
    Open(Option<Instant>),
}

impl Timing {
    /// The open model's intended start of the iteration, on its first step.
    pub(super) fn intended(self) -> Option<Instant> {
        match self {
            Timing::Open(t) => t,
            _ => None,
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepEnd {
    /// Sent, and answered or failed in transport (recorded).
    Done,
    /// Its request could not be built (an unset variable, a bad URL; recorded as a
    /// `template` error): the iteration cannot go on.
    NotBuilt,
    /// Cut off by a hard stop, or the user has no client (not recorded).
    Gone,
}

/// Which list of a scenario's steps (the index of its cells in [`RunCtx::cell`]).
#[derive(Clone, Copy)]
pub(super) enum Steps {
    OnStart = 0,
    Main = 1,
    OnStop = 2,
}

impl UserState {
    /// The next user of this process, not set up yet.
    pub(super) fn new(ctx: &RunCtx) -> UserState {
        let local = ctx.next_slot.fetch_add(1, Ordering::Relaxed);
        let slot = ctx.slots.user(local);
        let seed = ctx.seed ^ (slot.global as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        UserState::fresh(ctx, local, slot, seed)
    }

    /// The user that runs `setup:` and `teardown:` (not one of the plan's users): its own
    /// connections and cookies, its `variables:` rendered, no feeder rows. `scenario` is
    /// the first one's, only so that the user's state is whole; its steps say their cells.
    pub(super) fn once(ctx: &RunCtx) -> Result<UserState, String> {
        let slot = Slot {
            scenario: 0,
            global: usize::MAX,
        };
        let mut st = UserState::fresh(ctx, usize::MAX, slot, ctx.seed ^ 0x5E70_5E70_5E70_5E70);
        let h = ctx
            .factory
            .user(ctx.factory.needs_client(&ctx.base_url))
            .map_err(|e| e.to_string())?;
        st.http = Some(h);
        render_variables(ctx, &mut st, false);
        Ok(st)
    }

    /// A user in `slot`, launched `local`-th by this process, with nothing set up yet.
    fn fresh(ctx: &RunCtx, local: usize, slot: Slot, seed: u64) -> UserState {
        let scenario = slot
            .scenario
            .min(ctx.plan.scenarios.len().saturating_sub(1));
        UserState {
            local,
            slot,
            scenario,
            http: None,
            vars: Vars::new(ctx.plan.variables.len()),
            rng: SmallRng::seed_from_u64(seed),
            active: false,
            buf: String::new(),
            cache: Default::default(),
            fresh_row: false,
            backoff: Duration::ZERO,
            last_status: None,
            empty_passes: 0,
            iterations: 0,
            iterations_over: false,
        }
    }

    /// Count the user in (or out of) the users active now (closed model).
    fn set_active(&mut self, ctx: &RunCtx, active: bool) {
        if self.active != active {
            self.active = active;
            ctx.user_active(active);
        }
    }
}

/// A user's start: wait until the plan wants it (closed model) or set it up before the
/// schedule starts or when the pool runs short (open model), then set it up.
pub(super) async fn start(ctx: &RunCtx, st: &mut UserState) {
    let scenario = st.scenario;
    match &ctx.open {
        Some(open) => {
            // Open model: the first users of each scenario are set up before the schedule
            // starts; the rest wait in reserve until a ticket finds no idle user.
            let index = open.launched[scenario].fetch_add(1, Ordering::Relaxed);
            if index >= open.pre_allocated[scenario] {
                open.settled.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    _ = open.dispatch[scenario].reserve.notified() => {}
                    _ = ctx.wait_for(StopLevel::Graceful) => return,
                }
                setup_user(ctx, st).await;
            } else {
                setup_user(ctx, st).await;
                open.settled.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            // Stopped before it was due (a failed `setup:`, a late start): never active.
            if ctx.stop_level() != StopLevel::Running || !gate(ctx, st).await {
                return;
            }
            setup_user(ctx, st).await;
        }
    }
}

/// Build the user's client and variables and run its `on_start` steps.
async fn setup_user(ctx: &RunCtx, st: &mut UserState) {
    if ctx.stop_level() != StopLevel::Running {
        return;
    }
    // Set up the user's HTTP and variables only once the user is due: a 10,000-user ramp
    // spreads this work over the ramp instead of front-loading it.
    match ctx.factory.user(ctx.factory.needs_client(&ctx.base_url)) {
        Ok(h) => st.http = Some(h),
        Err(e) => {
            ctx.note_error(usize::MAX, ErrorKind::Request, &e.to_string());
            return;
        }
    }
    // Feeder rows before the variables, which may read them.
    if let Err(why) = ctx
        .feeds
        .setup(st.slot, &ctx.slots, &mut st.vars, &mut st.rng)
    {
        return retire(ctx, st, &why);
    }
    st.fresh_row = true;
    // What setup extracted, before the variables (which may read it) and after them (an
    // extracted value wins over an initial one).
    super::once::give_setup_values(ctx, &mut st.vars);
    render_variables(ctx, st, false);
    super::once::give_setup_values(ctx, &mut st.vars);
    let scenario = st.scenario;
    if let Some(flow) = &ctx.plan.scenarios[scenario].flow {
        super::flow::run_list(ctx, st, &flow.on_start, Steps::OnStart as usize, None).await;
        return;
    }
    let steps = &ctx.plan.scenarios[scenario].on_start;
    for (k, step) in steps.iter().enumerate() {
        if ctx.stop_level() != StopLevel::Running {
            return;
        }
        let cell = ctx.cell(scenario, Steps::OnStart as usize, k);
        // A login that cannot be sent leaves the user without what later steps need:
        // its iterations then stop at the first step that reads it (and say so).
        if run_step(ctx, cell, step, st, Timing::Once).await == StepEnd::Gone {
            return;
        }
    }
}

/// Render the `variables:` with an initial value into the user's slots: all of them when
/// the user is set up, those redrawn per iteration at the start of each later one.
fn render_variables(ctx: &RunCtx, st: &mut UserState, iteration: bool) {
    for (slot, v) in ctx.plan.variables.iter().enumerate() {
        if iteration && !v.per_iteration {
            continue;
        }
        if let Some(t) = &v.initial {
            match t.render(&st.vars, &mut st.rng) {
                Ok(s) => st.vars.set(slot, s),
                Err(e) => ctx.note_error(usize::MAX, ErrorKind::Template, &e.to_string()),
            }
        }
    }
}

/// One iteration of the user's scenario: wait for its start (the plan's users, or a
/// ticket), take new feeder rows and redraw per-iteration variables, run the steps in
/// order with their think times.
pub(super) async fn iterate(ctx: &RunCtx, st: &mut UserState) {
    if ctx.stop_level() == StopLevel::Running
        && st.http.is_none()
        && let Some(counted) = &ctx.counted
    {
        // Counted iterations: a user that could not be set up (or was retired) runs none.
        return iterations_over(ctx, counted, st).await;
    }
    if ctx.stop_level() != StopLevel::Running || st.http.is_none() {
        // goose calls the next transaction at once: without a pause, a stopping user would
        // spin and starve the runtime (goose's own loop included) until goose notices.
        return idle().await;
    }
    let scenario = st.scenario;
    // The open model's iteration waits for its ticket: the first step's response time
    // runs from the ticket's intended start. Later steps follow at once (after think
    // time), so any lateness shows on the first step.
    let intended = match &ctx.open {
        Some(open) => {
            let Some(t) = open.take(ctx, scenario).await else {
                return idle().await;
            };
            open.busy(true);
            Some(t)
        }
        None => {
            // Users ramped down park here, between iterations.
            if !gate(ctx, st).await {
                return idle().await;
            }
            if let Some(counted) = &ctx.counted {
                if !counted.take(st.iterations) {
                    return iterations_over(ctx, counted, st).await;
                }
                st.iterations += 1;
            }
            None
        }
    };
    let end = iteration(ctx, st, intended).await;
    if let Some(open) = &ctx.open {
        open.busy(false);
    }
    if let Some(counted) = &ctx.counted {
        counted.ended(end == StepEnd::Done);
    }
    if end == StepEnd::Done {
        st.backoff = Duration::ZERO;
    }
}

/// The steps of one iteration. `NotBuilt` when it stopped at a request that could not be
/// built (after the pause that keeps the user from spinning), `Gone` when the user was
/// retired or cut off.
async fn iteration(ctx: &RunCtx, st: &mut UserState, intended: Option<Instant>) -> StepEnd {
    let scenario = st.scenario;
    let sc = &ctx.plan.scenarios[scenario];
    // A new iteration takes new feeder rows (the first uses the row taken at set-up) and
    // redraws the per-iteration variables.
    if !std::mem::take(&mut st.fresh_row) {
        if ctx.feeds.per_iteration(scenario)
            && let Err(why) = ctx.feeds.iteration(scenario, &mut st.vars, &mut st.rng)
        {
            retire(ctx, st, &why);
            return StepEnd::Gone;
        }
        render_variables(ctx, st, true);
    }
    if let Some(flow) = &sc.flow {
        return super::flow::run_list(ctx, st, &flow.steps, Steps::Main as usize, intended).await;
    }
    for (k, step) in sc.steps.iter().enumerate() {
        if ctx.stop_level() != StopLevel::Running {
            // Stopping: the rest of the iteration is not started (`Gone`: not complete).
            return StepEnd::Gone;
        }
        let timing = match (&ctx.open, k) {
            (Some(_), 0) => Timing::Open(intended),
            (Some(_), _) => Timing::Open(None),
            (None, _) => Timing::Closed,
        };
        let cell = ctx.cell(scenario, Steps::Main as usize, k);
        let think = sc.think_of(step);
        match run_step(ctx, cell, step, st, timing).await {
            StepEnd::Done => pause(ctx, think_duration(think, &mut st.rng)).await,
            StepEnd::NotBuilt => {
                // Counted once, as a `template` error of this step; the iteration stops
                // here. In the closed model the user goes on after its think time, or backs
                // off; in the open model the schedule sets the pace, and a user held back
                // would make the next iterations start late.
                if ctx.open.is_none() {
                    let mut wait = think_duration(think, &mut st.rng);
                    if wait.is_zero() {
                        st.backoff = (st.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                        wait = st.backoff;
                    }
                    pause(ctx, wait).await;
                }
                return StepEnd::NotBuilt;
            }
            StepEnd::Gone => return StepEnd::Gone,
        }
    }
    StepEnd::Done
}

/// Counted iterations: this user has none left. It is counted done once, and waits for
/// the stop (the last user done makes it) without spinning.
async fn iterations_over(ctx: &RunCtx, counted: &super::iterations::Counted, st: &mut UserState) {
    if !std::mem::replace(&mut st.iterations_over, true) {
        st.set_active(ctx, false);
        counted.user_done(&ctx.stop);
    }
    ctx.wait_for(StopLevel::Graceful).await;
}

/// A think time (or back-off), cut short by a stop.
pub(super) async fn pause(ctx: &RunCtx, d: Duration) {
    if d.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = ctx.wait_for(StopLevel::Graceful) => {}
    }
}

/// A user's end: its `on_stop` steps (unless the stop is hard).
pub(super) async fn stop(ctx: &RunCtx, st: &mut UserState) {
    let scenario = st.scenario;
    if st.http.is_some()
        && ctx.stop_level() != StopLevel::Hard
        && let Some(flow) = &ctx.plan.scenarios[scenario].flow
    {
        super::flow::run_list(ctx, st, &flow.on_stop, Steps::OnStop as usize, None).await;
    } else if st.http.is_some() && ctx.stop_level() != StopLevel::Hard {
        let steps = &ctx.plan.scenarios[scenario].on_stop;
        for (k, step) in steps.iter().enumerate() {
            let cell = ctx.cell(scenario, Steps::OnStop as usize, k);
            if run_step(ctx, cell, step, st, Timing::Once).await == StepEnd::Gone {
                break;
            }
        }
    }
    st.set_active(ctx, false);
}

/// Stop a user for the rest of the run (a feeder ran out of rows): counted as one
/// `template` error at its scenario's first request, with `why` as the example.
fn retire(ctx: &RunCtx, st: &mut UserState, why: &str) {
    let sc = &ctx.plan.scenarios[st.scenario];
    let (phase, steps) = if sc.on_start.is_empty() {
        (Steps::Main, &sc.steps)
    } else {
        (Steps::OnStart, &sc.on_start)
    };
    if !steps.is_empty() {
        let cell = super::page::request_cell(ctx, ctx.cell(st.scenario, phase as usize, 0));
        let cell = super::ws::request_cell(ctx, cell);
        if ctx.record {
            ctx.recorder
                .record(&Sample::failed(cell, ErrorKind::Template));
        }
        ctx.note_error(cell, ErrorKind::Template, why);
    }
    st.http = None;
    st.set_active(ctx, false);
}

/// Pause of a user with nothing to do while the driver winds the attack down.
pub(super) async fn idle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Wait until the plan wants this user active. `false` when the run stops first.
async fn gate(ctx: &RunCtx, st: &mut UserState) -> bool {
    // A common start ahead (`--start-at`): nobody starts before it.
    if Instant::now() < ctx.start {
        tokio::select! {
            _ = tokio::time::sleep_until(ctx.start.into()) => {}
            _ = ctx.wait_for(StopLevel::Graceful) => return false,
        }
    }
    loop {
        let now = ctx.start.elapsed();
        if ctx.plan.load.users_at(now) > st.local {
            st.set_active(ctx, true);
            return true;
        }
        st.set_active(ctx, false);
        match ctx.plan.load.time_when_users_reach(st.local + 1, now) {
            Some(t) => {
                let at = tokio::time::Instant::from_std(ctx.start + t);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = ctx.wait_for(StopLevel::Graceful) => return false,
                }
            }
            None => {
                // Not needed again in this plan: sleep until the run stops.
                ctx.wait_for(StopLevel::Graceful).await;
                return false;
            }
        }
    }
}

/// Run one step (a page step loads its assets too) and record what happened.
pub(super) async fn run_step(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    st: &mut UserState,
    timing: Timing,
) -> StepEnd {
    // An open-model ticket may come a little before its instant (`open::Open::take`): a
    // plain request, or a page's document, waits for it once built (`send_step`); a batch
    // or a WebSocket session here.
    if let Some(t) = timing.intended()
        && (step.batch.is_some() || step.ws.is_some())
    {
        super::open::spin_until(t);
    }
    if let Some(batch) = &step.batch {
        return super::batch::run(ctx, cell, batch, st, timing).await;
    }
    if let Some(ws) = &step.ws {
        return super::ws::run(ctx, cell, step, ws, st, timing).await;
    }
    match &step.page {
        Some(page) => super::page::run(ctx, cell, step, page, st, timing).await,
        None => match send_step(ctx, cell, step, st, timing).await {
            Ok(o) => {
                // A timeout is a wait too: a freeze longer than the timeout is a stall.
                if o.service_us.is_some() || o.error == Some(ErrorKind::Timeout) {
                    note_wait(ctx, cell, timing, o.sent, o.elapsed_us);
                }
                StepEnd::Done
            }
            Err(NotSent::NotBuilt) => StepEnd::NotBuilt,
            Err(NotSent::Gone) => StepEnd::Gone,
        },
    }
}

/// Why a step's request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotSent {
    /// It could not be built (recorded as a `template` error).
    NotBuilt,
    /// Cut off, or the user has no client (not recorded).
    Gone,
}

/// Send one step's request and record it in `cell`: its outcome once sent (answered, or
/// failed in transport).
pub(super) async fn send_step(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    st: &mut UserState,
    timing: Timing,
) -> Result<Outcome, NotSent> {
    let Some(user_http) = st.http.as_mut() else {
        return Err(NotSent::Gone);
    };
    let req = match http::build_request(
        &ctx.base_url,
        &ctx.plan.defaults,
        step,
        &st.vars,
        &mut st.rng,
        &mut st.buf,
    ) {
        Ok(r) => r,
        Err(detail) => {
            if ctx.record {
                ctx.recorder
                    .record(&Sample::failed(cell, ErrorKind::Template));
            }
            ctx.note_error(cell, ErrorKind::Template, &detail);
            return Err(NotSent::NotBuilt);
        }
    };
    // The open model's first request goes at the iteration's intended instant, built
    // before it (its ticket came early) so that building it is not in the response time.
    if let Some(t) = timing.intended() {
        super::open::spin_until(t);
    }
    let outcome: Outcome = tokio::select! {
        o = http::execute(
            user_http,
            req,
            step,
            &mut st.vars,
            ctx.recorder.server_timing_names(),
        ) => o,
        _ = ctx.wait_for(StopLevel::Hard) => {
            ctx.cut_off.fetch_add(1, Ordering::Relaxed);
            return Err(NotSent::Gone);
        }
    };
    st.last_status = outcome.status;
    if !ctx.record {
        return Ok(outcome);
    }
    // What the user waited: from the intended start (open model) or the send, to the end.
    // A timeout is a wait too: it goes into the response time, not the service time.
    let waited = outcome.elapsed_us
        + timing.intended().map_or(0, |t| {
            outcome.sent.saturating_duration_since(t).as_micros() as u64
        });
    let response_us = match (outcome.service_us, outcome.error) {
        (Some(_), _) | (None, Some(ErrorKind::Timeout)) => Some(waited),
        _ => None,
    };
    ctx.recorder.record(&Sample {
        cell,
        response_us,
        service_us: outcome.service_us,
        co_interval_us: co_interval_us(ctx, st, timing),
        error: outcome.error,
        failed_checks: &outcome.failed_checks,
        bytes: outcome.bytes,
        meta: Some(&outcome.meta),
    });
    if let (Some(kind), Some(detail)) = (outcome.error, outcome.detail.as_deref()) {
        ctx.note_error(cell, kind, detail);
    }
    super::record::record_values(ctx, st.scenario, step, &outcome.records);
    Ok(outcome)
}

/// Closed model: the interval of the coordinated-omission estimate for a step of the
/// user's iteration: the user's own cycle, the time one iteration of its scenario usually
/// takes (every step's usual service time plus its mean think time), the interval at
/// which it sends each of its steps. `None` otherwise: the open model's response time
/// already runs from the intended start, a step run once has no pace, and before every
/// step has a usual time (the run's first second) there is no schedule to go by.
pub(super) fn co_interval_us(ctx: &RunCtx, st: &UserState, timing: Timing) -> Option<u64> {
    if timing != Timing::Closed {
        return None;
    }
    let sc = &ctx.plan.scenarios[st.scenario];
    if let Some(flow) = &sc.flow {
        // Flow control: the expected cycle (`choose` branches weighted by their chance,
        // `repeat` multiplied), or none when an `if` or a `while` makes it depend on the
        // responses (`flow_control::expected`).
        return super::flow::expected_cycle_us(ctx, st.scenario, &flow.steps);
    }
    let mut cycle = 0u64;
    for (k, step) in sc.steps.iter().enumerate() {
        let usual = ctx.median_service_us(ctx.cell(st.scenario, Steps::Main as usize, k));
        if usual == 0 {
            return None;
        }
        cycle += usual + micros(sc.think_of(step).mean());
    }
    Some(cycle).filter(|c| *c > 0)
}

/// Closed model, after a step of an iteration was answered: a wait of at least twice the
/// step's usual service time (its median over the last seconds) is noted for the stall
/// finder.
pub(super) fn note_wait(ctx: &RunCtx, cell: usize, timing: Timing, sent: Instant, waited_us: u64) {
    if timing != Timing::Closed {
        return;
    }
    let usual = ctx.median_service_us(cell);
    if ctx.record && usual > 0 && waited_us >= usual.saturating_mul(2) {
        ctx.blocked.note(ctx.start, cell, sent, usual, waited_us);
    }
}

/// A duration in whole µs, saturating.
pub(super) fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Draw one think time.
pub(super) fn think_duration(t: ThinkTime, rng: &mut SmallRng) -> Duration {
    use rand::Rng;
    match t {
        ThinkTime::None => Duration::ZERO,
        ThinkTime::Constant(d) => d,
        ThinkTime::Uniform { min, max } => {
            if max <= min {
                min
            } else {
                Duration::from_micros(
                    rng.random_range(min.as_micros() as u64..=max.as_micros() as u64),
                )
            }
        }
        ThinkTime::Gaussian { mean, stddev } => {
            // Box-Muller; negative draws clamp to zero.
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            Duration::from_secs_f64((mean.as_secs_f64() + z * stddev.as_secs_f64()).max(0.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_time_distributions_have_the_right_mean() {
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 20_000;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mean = |t: ThinkTime, rng: &mut SmallRng| {
            (0..n).map(|_| ms(think_duration(t, rng))).sum::<f64>() / n as f64
        };
        let c = mean(ThinkTime::Constant(Duration::from_millis(100)), &mut rng);
        assert!((c - 100.0).abs() < 1e-9);
        let u = mean(
            ThinkTime::Uniform {
                min: Duration::from_millis(50),
                max: Duration::from_millis(150),
            },
            &mut rng,
        );
        assert!((u - 100.0).abs() < 2.0, "{u}");
        let g = mean(
            ThinkTime::Gaussian {
                mean: Duration::from_millis(100),
                stddev: Duration::from_millis(10),
            },
            &mut rng,
        );
        assert!((g - 100.0).abs() < 1.0, "{g}");
        assert_eq!(think_duration(ThinkTime::None, &mut rng), Duration::ZERO);
    }
}
