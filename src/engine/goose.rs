//! The plan compiled into a goose attack: one goose scenario per Skein scenario, one closure
//! transaction per step, plus an on-start and an on-stop transaction that own the user's
//! state (client, variables, random numbers).
//!
//! goose launches every user at once; each user then waits for its own start time on the
//! plan's stages, so ramps, holds and ramp-downs follow the plan to the millisecond and goose
//! never needs a test plan (whose `N users launched.` goes to stdout unconditionally).
//! goose's own metrics, logger, telnet controller and Ctrl-C handler are all kept out: see
//! `shared/notes/goose-0.19.md`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::metrics::{ErrorKind, Sample};
use crate::scenario::template::Vars;
use crate::scenario::{StepPlan, ThinkTime};

use super::http::{self, Outcome};
use super::{EngineError, RunCtx, StopLevel};

/// What goose keeps for each user.
#[derive(Clone)]
pub(super) struct UserState {
    /// Order in which the user was launched: user `slot` is active while the plan wants
    /// more than `slot` users.
    slot: usize,
    pub(super) scenario: usize,
    /// The user's connections and cookie jar (`None`: not set up, or retired).
    pub(super) http: Option<http::UserHttp>,
    pub(super) vars: Vars,
    pub(super) rng: SmallRng,
    active: bool,
    buf: String,
    /// Open model: the intended start of the iteration under way (`None`: between
    /// iterations).
    ticket: Option<std::time::Instant>,
    /// Closed model: the user's last service time, µs (the expected interval before the
    /// run has a median).
    last_service_us: u64,
    /// Page steps with `cache: true`: the user's cached assets.
    pub(super) cache: super::page::AssetCache,
    /// The user has a feeder row it has not used for an iteration yet (taken at set-up,
    /// for `on_start` and the first iteration).
    fresh_row: bool,
}

/// Which list of a scenario's steps.
#[derive(Clone, Copy)]
enum Phase {
    OnStart,
    Main,
    OnStop,
}

/// A logger that drops everything: goose logs every failed request, and Skein owns the
/// console. Installed once per process before the first attack.
struct Silent;

impl log::Log for Silent {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

static SILENT: Silent = Silent;

/// Run the attack to its end (the plan's duration, or a stop).
pub(super) async fn attack(ctx: Arc<RunCtx>) -> Result<(), EngineError> {
    let _ = log::set_logger(&SILENT);
    log::set_max_level(log::LevelFilter::Off);

    let users = ctx.plan.load.max_users().max(1);
    let mut cfg = GooseConfiguration::default();
    cfg.host = Some(ctx.base_url.clone());
    cfg.users = Some(users);
    // Launch everyone at once; each user waits for its own start time (see module docs).
    cfg.increase_rate = Some(format!("{}", users.max(1) * 1000));
    // A backstop only: Skein stops the attack itself at the end of the plan.
    let backstop = ctx.plan.load.duration()
        + ctx.plan.load.graceful_stop
        + super::SETUP_LIMIT
        + Duration::from_secs(5);
    cfg.run_time = Some(backstop.as_secs().max(1).to_string());
    cfg.quiet = 1;
    cfg.no_print_metrics = true;
    cfg.no_metrics = true;
    cfg.no_telnet = true;
    cfg.no_websocket = true;

    let mut attack = GooseAttack::initialize_with_config(cfg).map_err(goose_err)?;
    // One shared client for goose's own (unused) requests: cheap to build. Each Skein user
    // builds its own client when it starts.
    attack = attack
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )
        .map_err(goose_err)?;
    for (si, sc) in ctx.plan.scenarios.iter().enumerate() {
        let mut s = Scenario::new(&sc.name)
            .set_weight(sc.weight.max(1) as usize)
            .map_err(goose_err)?;
        s = s.register_transaction(
            transaction(&ctx, si, Phase::OnStart, 0)
                .set_name("skein:start")
                .set_on_start(),
        );
        for (k, step) in sc.steps.iter().enumerate() {
            s = s.register_transaction(
                transaction(&ctx, si, Phase::Main, k)
                    .set_name(&step.name)
                    .set_sequence(k + 1),
            );
        }
        s = s.register_transaction(
            transaction(&ctx, si, Phase::OnStop, 0)
                .set_name("skein:stop")
                .set_on_stop(),
        );
        attack = attack.register_scenario(s);
    }
    attack.execute().await.map_err(goose_err)?;
    Ok(())
}

fn goose_err(e: GooseError) -> EngineError {
    EngineError::Goose(format!("{e:?}"))
}

fn transaction(ctx: &Arc<RunCtx>, scenario: usize, phase: Phase, step: usize) -> Transaction {
    let ctx = ctx.clone();
    let f: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move {
            match phase {
                Phase::OnStart => user_start(&ctx, scenario, user).await,
                Phase::Main => user_step(&ctx, scenario, step, user).await,
                Phase::OnStop => user_stop(&ctx, scenario, user).await,
            }
            Ok(())
        })
    });
    Transaction::new(f)
}

async fn user_start(ctx: &RunCtx, scenario: usize, user: &mut GooseUser) {
    let slot = ctx.next_slot.fetch_add(1, Ordering::Relaxed);
    let seed = ctx.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    user.set_session_data(UserState {
        slot,
        scenario,
        http: None,
        vars: Vars::new(ctx.plan.variables.len()),
        rng: SmallRng::seed_from_u64(seed),
        active: false,
        buf: String::new(),
        ticket: None,
        last_service_us: 0,
        cache: Default::default(),
        fresh_row: false,
    });
    let Some(st) = user.get_session_data_mut::<UserState>() else {
        return;
    };
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
                setup_user(ctx, scenario, st).await;
            } else {
                setup_user(ctx, scenario, st).await;
                open.settled.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            if !gate(ctx, st).await {
                return;
            }
            setup_user(ctx, scenario, st).await;
        }
    }
}

/// Build the user's client and variables and run its `on_start` steps.
async fn setup_user(ctx: &RunCtx, scenario: usize, st: &mut UserState) {
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
    if let Err(why) = ctx.feeds.setup(scenario, &mut st.vars, &mut st.rng) {
        return retire(ctx, st, &why);
    }
    st.fresh_row = true;
    for (slot, v) in ctx.plan.variables.iter().enumerate() {
        if let Some(t) = &v.initial {
            match t.render(&st.vars, &mut st.rng) {
                Ok(s) => st.vars.set(slot, s),
                Err(e) => ctx.note_error(usize::MAX, ErrorKind::Template, &e.to_string()),
            }
        }
    }
    let steps = &ctx.plan.scenarios[scenario].on_start;
    for (k, step) in steps.iter().enumerate() {
        if ctx.stop_level() != StopLevel::Running {
            return;
        }
        run_step(
            ctx,
            ctx.cell(scenario, Phase::OnStart as usize, k),
            step,
            st,
            None,
        )
        .await;
    }
}

async fn user_step(ctx: &RunCtx, scenario: usize, k: usize, user: &mut GooseUser) {
    let Some(st) = user.get_session_data_mut::<UserState>() else {
        return idle().await;
    };
    if ctx.stop_level() != StopLevel::Running || st.http.is_none() {
        // goose calls the next transaction at once: without a pause, a stopping user would
        // spin and starve the runtime (goose's own loop included) until goose notices.
        return idle().await;
    }
    let sc = &ctx.plan.scenarios[scenario];
    let last = k + 1 == sc.steps.len();
    // The open model's first step waits for its ticket: the response time runs from the
    // ticket's intended start. Later steps of the iteration follow at once (after think
    // time), so any lateness shows on the first step.
    let intended = match &ctx.open {
        Some(open) => {
            if k == 0 {
                let Some(t) = open.take(ctx, scenario).await else {
                    return idle().await;
                };
                st.ticket = Some(t);
                open.busy(true);
                Some(t)
            } else if st.ticket.is_none() {
                return idle().await;
            } else {
                None
            }
        }
        None => {
            // Users ramped down park here, at the start of an iteration; a parked user
            // skips the rest of the iteration.
            if (k == 0 && !gate(ctx, st).await) || !st.active {
                return idle().await;
            }
            None
        }
    };
    // A new iteration takes new feeder rows (the first uses the row taken at set-up).
    if k == 0 && ctx.feeds.per_iteration(scenario) && !std::mem::take(&mut st.fresh_row) {
        let drawn = ctx.feeds.iteration(scenario, &mut st.vars, &mut st.rng);
        if let Err(why) = drawn {
            if st.ticket.take().is_some()
                && let Some(open) = &ctx.open
            {
                open.busy(false);
            }
            retire(ctx, st, &why);
            return idle().await;
        }
    }
    let step = &sc.steps[k];
    run_step(
        ctx,
        ctx.cell(scenario, Phase::Main as usize, k),
        step,
        st,
        intended,
    )
    .await;
    let think = step.think_time.unwrap_or(sc.think_time);
    let pause = think_duration(think, &mut st.rng);
    if !pause.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = ctx.wait_for(StopLevel::Graceful) => {}
        }
    }
    if last && let Some(open) = &ctx.open {
        st.ticket = None;
        open.busy(false);
    }
}

async fn user_stop(ctx: &RunCtx, scenario: usize, user: &mut GooseUser) {
    let Some(st) = user.get_session_data_mut::<UserState>() else {
        return;
    };
    if st.http.is_some() && ctx.stop_level() != StopLevel::Hard {
        let steps = &ctx.plan.scenarios[scenario].on_stop;
        for (k, step) in steps.iter().enumerate() {
            run_step(
                ctx,
                ctx.cell(scenario, Phase::OnStop as usize, k),
                step,
                st,
                None,
            )
            .await;
        }
    }
    if st.ticket.take().is_some()
        && let Some(open) = &ctx.open
    {
        open.busy(false);
    }
    if st.active {
        st.active = false;
        ctx.active.fetch_sub(1, Ordering::Relaxed);
    }
    debug_assert_eq!(st.scenario, scenario);
}

/// Stop a user for the rest of the run (a feeder ran out of rows): counted as one
/// `template` error at its scenario's first request, with `why` as the example.
fn retire(ctx: &RunCtx, st: &mut UserState, why: &str) {
    let sc = &ctx.plan.scenarios[st.scenario];
    let (phase, steps) = if sc.on_start.is_empty() {
        (Phase::Main, &sc.steps)
    } else {
        (Phase::OnStart, &sc.on_start)
    };
    if !steps.is_empty() {
        let cell = super::page::request_cell(ctx, ctx.cell(st.scenario, phase as usize, 0));
        if ctx.record {
            ctx.recorder
                .record(&Sample::failed(cell, ErrorKind::Template));
        }
        ctx.note_error(cell, ErrorKind::Template, why);
    }
    st.http = None;
    if st.active {
        st.active = false;
        ctx.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Pause of a user with nothing to do while goose winds the attack down.
async fn idle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Wait until the plan wants this user active. `false` when the run stops first.
async fn gate(ctx: &RunCtx, st: &mut UserState) -> bool {
    loop {
        let now = ctx.start.elapsed();
        if ctx.plan.load.users_at(now) > st.slot {
            if !st.active {
                st.active = true;
                let n = ctx.active.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.peak.fetch_max(n, Ordering::Relaxed);
            }
            return true;
        }
        if st.active {
            st.active = false;
            ctx.active.fetch_sub(1, Ordering::Relaxed);
        }
        match ctx.plan.load.time_when_users_reach(st.slot + 1, now) {
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

/// Run one step (a page step loads its assets too) and record what happened. `intended`:
/// the open model's intended start of the iteration (first step only); the response time
/// runs from it.
async fn run_step(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    st: &mut UserState,
    intended: Option<std::time::Instant>,
) {
    match &step.page {
        Some(page) => super::page::run(ctx, cell, step, page, st, intended).await,
        None => {
            send_step(ctx, cell, step, st, intended).await;
        }
    }
}

/// Send one step's request and record it in `cell`. The outcome, unless the request could
/// not be built (recorded as a `template` error) or was cut off.
pub(super) async fn send_step(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    st: &mut UserState,
    intended: Option<std::time::Instant>,
) -> Option<Outcome> {
    let user_http = st.http.as_mut()?;
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
            ctx.recorder
                .record(&Sample::failed(cell, ErrorKind::Template));
            ctx.note_error(cell, ErrorKind::Template, &detail);
            return None;
        }
    };
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
            return None;
        }
    };
    if !ctx.record {
        return Some(outcome);
    }
    // What the user waited: from the intended start (open model) or the send, to the end.
    // A timeout is a wait too: it goes into the response time, not the service time.
    let waited = outcome.elapsed_us
        + intended.map_or(0, |t| {
            outcome.sent.saturating_duration_since(t).as_micros() as u64
        });
    let response_us = match (outcome.service_us, outcome.error) {
        (Some(_), _) | (None, Some(ErrorKind::Timeout)) => Some(waited),
        _ => None,
    };
    let co_interval_us = co_interval_us(ctx, cell, step, st);
    if let Some(s) = outcome.service_us {
        st.last_service_us = s;
    }
    ctx.recorder.record(&Sample {
        cell,
        response_us,
        service_us: outcome.service_us,
        co_interval_us,
        error: outcome.error,
        failed_checks: &outcome.failed_checks,
        bytes: outcome.bytes,
        meta: Some(&outcome.meta),
    });
    if let (Some(kind), Some(detail)) = (outcome.error, outcome.detail.as_deref()) {
        ctx.note_error(cell, kind, detail);
    }
    Some(outcome)
}

/// Closed model: correct for coordinated omission with the user's expected interval, its
/// think time plus the cell's normal (median) service time. Never in the open model, whose
/// response time already runs from the intended start.
pub(super) fn co_interval_us(
    ctx: &RunCtx,
    cell: usize,
    step: &StepPlan,
    st: &UserState,
) -> Option<u64> {
    if ctx.open.is_some() {
        return None;
    }
    let think = step
        .think_time
        .unwrap_or(ctx.plan.scenarios[st.scenario].think_time)
        .mean()
        .as_micros() as u64;
    let median = match ctx.median_service_us(cell) {
        0 => st.last_service_us,
        m => m,
    };
    Some(think + median).filter(|i| *i > 0)
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
