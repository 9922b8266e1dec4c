//! The production [`Driver`]: the plan's users as a goose attack. goose launches the users
//! and calls one transaction at a time; Skein decides everything else ([`super::user`]).
//! Every user runs three closure transactions of one goose scenario: a start, an iteration
//! that goose repeats, and a stop.
//!
//! goose launches every user at once; each user then waits for its own start time on the
//! plan's stages, so goose never needs a test plan (whose `N users launched.` goes to
//! stdout unconditionally). goose's own metrics, logger, telnet controller and Ctrl-C
//! handler are all kept out: see `shared/notes/goose-0.19.md`. This is the only file that
//! uses goose.

use std::sync::Arc;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;

use super::driver::{Attack, Driver};
use super::open::SETUP_LIMIT;
use super::user::{self, UserState};
use super::{EngineError, RunCtx};

/// Runs the users as a goose attack.
#[derive(Debug, Clone, Copy, Default)]
pub struct GooseDriver;

impl Driver for GooseDriver {
    fn attack(&self, run: Arc<RunCtx>) -> Attack {
        Box::pin(attack(run))
    }

    /// goose's killswitch ends the attack after the users' current transactions; goose
    /// clears it when an attack starts, hence asking again until the attack has ended.
    fn stop(&self) {
        ::goose::trigger_killswitch("skein: end of run");
    }
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
async fn attack(ctx: Arc<RunCtx>) -> Result<(), EngineError> {
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
        + ctx
            .start
            .saturating_duration_since(std::time::Instant::now())
        + ctx.plan.load.graceful_stop
        + SETUP_LIMIT
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
    let users = Scenario::new("skein")
        .register_transaction(
            transaction(&ctx, Phase::OnStart)
                .set_name("skein:start")
                .set_on_start(),
        )
        .register_transaction(transaction(&ctx, Phase::Iteration).set_name("skein:iteration"))
        .register_transaction(
            transaction(&ctx, Phase::OnStop)
                .set_name("skein:stop")
                .set_on_stop(),
        );
    attack = attack.register_scenario(users);
    attack.execute().await.map_err(goose_err)?;
    Ok(())
}

fn goose_err(e: GooseError) -> EngineError {
    EngineError::Goose(format!("{e:?}"))
}

/// Which of a user's transactions.
#[derive(Clone, Copy)]
enum Phase {
    OnStart,
    Iteration,
    OnStop,
}

/// A transaction running one part of a user's life; the user's state is goose's session
/// data.
fn transaction(ctx: &Arc<RunCtx>, phase: Phase) -> Transaction {
    let ctx = ctx.clone();
    let f: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move {
            match phase {
                Phase::OnStart => {
                    let mut st = UserState::new(&ctx);
                    user::start(&ctx, &mut st).await;
                    user.set_session_data(st);
                }
                Phase::Iteration => match user.get_session_data_mut::<UserState>() {
                    Some(st) => user::iterate(&ctx, st).await,
                    None => user::idle().await,
                },
                Phase::OnStop => {
                    if let Some(st) = user.get_session_data_mut::<UserState>() {
                        user::stop(&ctx, st).await;
                    }
                }
            }
            Ok(())
        })
    });
    Transaction::new(f)
}
