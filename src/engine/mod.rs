//! Running a [`Plan`], as a pipeline: the plan's users are started by a [`Driver`] (goose
//! in production) and record every request; once a second the [`harvest`](Subscriber)
//! takes what they recorded and publishes it to its subscribers (the results folder, the
//! live console, abort checks, exporters); at the end of the plan or on a stop (Ctrl-C, a
//! signal, a lost target) the users wind down and the run's [`RunResult`] is written.
//!
//! goose is used only in `goose.rs`, reqwest only under `http/`, httparse only in `h1/`,
//! the `h2` crate in `h2/` (and in `http/error.rs`, where reqwest's HTTP/2 errors are sorted).

mod batch;
mod blocked;
mod context;
pub mod driver;
mod examples;
mod feed;
mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod goose;
mod h1;
mod h2;
mod harvest;
mod health;
mod http;
mod iterations;
pub mod lighthouse;
mod once;
mod open;
mod page;
mod record;
mod runtime;
mod slots;
mod stop;
mod user;
mod ws;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use context::{RunCtx, cells, run_info};
pub use driver::Driver;
pub use examples::mask;
pub use goose::GooseDriver;
pub use harvest::{Progress, Publisher, Second, Subscriber};
pub use runtime::raise_nofile_limit;
pub use stop::{StopHandle, StopLevel};

use crate::metrics::{
    Accumulator, CellInfo, MetricsError, Recorder, RunInfo, RunResult, RunWriter, SCHEMA_VERSION,
    StopReason, Summary, Tool, store,
};
use crate::scenario::Plan;
use context::Setup;
use harvest::{AbortWatch, Harvester, ProgressFeed};
use runtime::GenRuntime;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("goose: {0}")]
    Goose(String),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// Options of one run.
pub struct RunOptions {
    /// The results folder (already created, empty).
    pub dir: PathBuf,
    /// Base URL the steps' paths are joined to.
    pub base_url: String,
    pub stop: StopHandle,
    /// Receives a snapshot every second.
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    /// Seed for the users' random numbers (think times, template functions).
    pub seed: u64,
    /// Record each request (the default). Off only to measure what recording costs.
    pub record: bool,
    /// Called once a second with the totals so far; returning a reason stops the run
    /// (targets with `abort_on_fail`, a step test's early stop).
    pub abort: Option<AbortCheck>,
    /// Threads of the generator's runtime; `None`: one per available core. A worker of a
    /// `--workers` run gets its share of the cores.
    pub threads: Option<usize>,
    /// More receivers of each second, after the results folder, the progress and the
    /// abort check.
    pub subscribers: Vec<Box<dyn Subscriber>>,
    /// How often the harvest runs: once a second (shorter only in tests; at least 1 ms).
    pub tick: Duration,
    /// A common start (`--start-at`): the users wait for it, and a process that gets there
    /// late starts its users at once on the common clock (those already due), recording how
    /// late it was ([`crate::metrics::PlannedStart`]). `None`: now.
    pub start_at: Option<SystemTime>,
    /// `--strict-start`: a process later than this after `start_at` starts no user and the
    /// run ends interrupted ([`StopReason::LateStart`]).
    pub strict_start: Option<Duration>,
    /// This run is one shard of a run split across processes or machines: the marker
    /// written into its `result.json` from the start.
    pub shard: Option<crate::metrics::ShardInfo>,
}

/// Judges a run while it goes: `Some(reason)` stops it.
pub type AbortCheck = Box<dyn FnMut(&RunResult) -> Option<StopReason> + Send>;

impl RunOptions {
    /// Options with a fresh stop handle, no progress, seed 1 and recording on.
    pub fn new(dir: PathBuf, base_url: &str) -> RunOptions {
        RunOptions {
            dir,
            base_url: base_url.to_string(),
            stop: StopHandle::new(),
            progress: None,
            seed: 1,
            record: true,
            abort: None,
            threads: None,
            subscribers: Vec::new(),
            tick: Duration::from_secs(1),
            start_at: None,
            strict_start: None,
            shard: None,
        }
    }
}

/// Run `plan` with goose and write its results folder. Returns the result also written to
/// `result.json`; an interrupted run returns normally, marked interrupted.
pub async fn run(plan: &Plan, opts: RunOptions) -> Result<RunResult, EngineError> {
    run_with(plan, opts, Arc::new(GooseDriver)).await
}

/// How long the users may take to end after a hard stop when the run fails (their attack
/// is abandoned after it).
const WIND_DOWN: Duration = Duration::from_secs(5);

/// Run `plan` with `driver`: set up, start the users, harvest each second until they have
/// ended, then write the result. A subscriber's error stops the run hard and is returned
/// once the users have ended (or been abandoned after 5 s), with what was measured written
/// if the folder still can, the run marked interrupted.
pub async fn run_with(
    plan: &Plan,
    mut opts: RunOptions,
    driver: Arc<dyn Driver>,
) -> Result<RunResult, EngineError> {
    raise_nofile_limit();
    let plan = context::with_a_user_per_scenario(plan);
    let (cells, index) = context::layout(&plan);
    let recorder = Recorder::new(cells.iter().map(|c| c.checks.len()).collect());
    recorder.track_only(cells.iter().map(|c| c.is_request()).collect());
    let factory = Arc::new(http::ClientFactory::new(&plan.defaults, &opts.base_url)?);
    let (mut started_at, start) = start_of(opts.start_at);
    let setup = Setup {
        base_url: &opts.base_url,
        factory,
        stop: &opts.stop,
        seed: opts.seed,
        record: opts.record,
        start,
        fixed_start: opts.start_at.is_some(),
    };
    let mut ctx = RunCtx::new(&plan, &cells, index, recorder, setup);
    let _signals = stop::listen(&opts.stop);
    // `setup:` before anything else; the run starts once it is done (unless it waits for
    // a common start). A failed setup stops the run: no user starts, the folder is written.
    let (once_user, setup_failed) = once::setup(&ctx).await;
    // `lighthouse:`: the `before` audits, the target idle, before the load's clock starts.
    let mut audits = lighthouse_before(&plan, &opts).await;
    if (!plan.setup.is_empty() || audits.is_some()) && opts.start_at.is_none() {
        (started_at, ctx.start) = start_of(None);
    }
    ctx.recorder.set_start(ctx.start);
    // (Stopped during setup, by a signal: that is the reason already, and a second stop
    // would make it hard.)
    if let Some(why) = &setup_failed
        && ctx.stop_level() == StopLevel::Running
    {
        ctx.stop.stop(once::failed(why.clone()));
    }
    let (folder, mut info) = results_folder(&opts, &plan, &cells, &ctx.recorder, started_at)?;
    let ctx = Arc::new(ctx);
    // The `during` audits wait in a thread of their own for the hold at full load.
    if let Some(a) = audits.as_mut() {
        let (hold_at, _) = crate::scenario::lighthouse::full_load_hold(&plan.load);
        let cancel = lighthouse::cancel_on(&opts.stop);
        a.start_during(&opts.dir, &opts.base_url, ctx.start + hold_at, cancel);
    }
    if let Some(counted) = &ctx.counted {
        counted.start(&ctx.stop);
    }
    // How late this process is for a common start; too late under --strict-start, no user
    // starts.
    let lateness = Instant::now().saturating_duration_since(ctx.start);
    if let Some(planned) = info.start.as_mut() {
        planned.lateness_us = lateness.as_micros() as u64;
        if let Some(tolerance) = opts.strict_start
            && lateness > tolerance
        {
            ctx.stop.stop(StopReason::LateStart {
                detail: format!(
                    "{} after --start-at {} (--strict-start allows {}); no user was started",
                    secs(lateness),
                    planned.at,
                    secs(tolerance)
                ),
            });
        }
    }
    let (generator, monitor) = GenRuntime::start(opts.threads)?;
    let mut acc = Accumulator::new(cells);
    // Server-Timing histograms are named by the recorder's table, filled as entries arrive.
    acc.set_server_timing_names(ctx.recorder.server_timing_names().clone());
    let subscribers = subscribers(folder, &mut opts, &plan);
    let mut harvester = Harvester::new(ctx.clone(), acc, monitor, info, subscribers);
    let every = opts.tick.max(Duration::from_millis(1));
    if opts.start_at.is_some() {
        // A late process's first interval starts on the common grid, where its first
        // sample falls, so its seconds line up with the other shards'.
        harvester.skip_to(lateness, every);
    }

    let timer = stop::timer(ctx.clone(), driver.clone());
    let mut attack = generator.spawn(driver.attack(ctx.clone()));
    let scheduler = open::Scheduler::start(&ctx)?;
    // The first tick: one interval after the start, or for a process that joined a common
    // start late, the grid's next tick after now (its first interval then starts at the
    // grid's last one, `skip_to`, and holds everything it recorded).
    let first_tick = match opts.start_at {
        Some(_) if lateness >= every => {
            ctx.start + every * (lateness.as_micros() / every.as_micros().max(1) + 1) as u32
        }
        _ => ctx.start + every,
    };
    let mut tick = tokio::time::interval_at(first_tick.into(), every);
    tick.set_missed_tick_behavior(if opts.start_at.is_some() {
        // On the common clock: a late process's ticks stay on the shared grid.
        tokio::time::MissedTickBehavior::Skip
    } else {
        tokio::time::MissedTickBehavior::Delay
    });
    let attacked = loop {
        tokio::select! {
            r = &mut attack => break Ok(r),
            _ = tick.tick() => {
                if let Err(e) = harvester.tick() {
                    // A subscriber failed: stop the users now (the timer keeps asking the
                    // driver), let the attack end, then wind down as at any end.
                    ctx.stop.stop(harvest_failed(&e));
                    ctx.stop.raise_to(StopLevel::Hard);
                    let _ = tokio::time::timeout(WIND_DOWN, &mut attack).await;
                    break Err(e);
                }
            }
        }
    };
    drop(timer);
    // `teardown:`, after the users (and their `on_stop`), unless setup failed or the stop
    // went hard (a second Ctrl-C, the graceful stop's end).
    if setup_failed.is_none() && attacked.is_ok() {
        once::teardown(&ctx, once_user).await;
    }
    // The attack may have ended on its own (an error, a panic): make sure nothing waits on.
    ctx.stop.raise_to(StopLevel::Hard);
    scheduler.finish(&ctx).await;
    generator.stop_probe();
    // The last, partial second, before the generator's threads (and their CPU) are gone.
    let last = harvester.tick();
    drop(generator);
    let attacked = match attacked.and_then(|a| last.map(|()| a)) {
        Ok(a) => a,
        Err(e) => {
            // Write what was measured if the folder still can; say the first failure.
            ctx.stop.stop(harvest_failed(&e));
            let _ = harvester.finish();
            return Err(e);
        }
    };
    // The `during` audits still running finish (each within its timeout) before the result.
    if let Some(a) = audits.take() {
        let start = ctx.start;
        harvester.lighthouse = tokio::task::spawn_blocking(move || a.finish(start))
            .await
            .ok();
    }
    let result = harvester.finish()?;
    match attacked {
        Ok(Ok(())) => Ok(result),
        // The results are written; still say why the driver failed.
        Ok(Err(e)) => Err(e),
        Err(join) => Err(EngineError::Goose(format!(
            "the attack task failed: {join}"
        ))),
    }
}

/// The `before` audits of `plan`'s `lighthouse:` block (none when it has none, or when this
/// process is a shard other than the first: one process of a split run audits), made off
/// the async threads; the session then holds the tools for the `during` ones. A run on a
/// common start (`--start-at`) cannot wait for them: its `before` rows say so.
async fn lighthouse_before(plan: &Plan, opts: &RunOptions) -> Option<lighthouse::Session> {
    let lh = plan.lighthouse.clone()?;
    if plan.load.shard.index != 0 || opts.shard.as_ref().is_some_and(|s| s.index != 0) {
        return None;
    }
    let (dir, base_url) = (opts.dir.clone(), opts.base_url.clone());
    let cancel = lighthouse::cancel_on(&opts.stop);
    let skip = opts.start_at.is_some().then_some(
        "not run: the load starts at a common time (--start-at), which audits before it would delay",
    );
    tokio::task::spawn_blocking(move || {
        lighthouse::Session::before(&lh, &dir, &base_url, &*cancel, skip)
    })
    .await
    .ok()
}

/// Why a run whose harvest failed (a subscriber's error) ended: `result.json` says so.
fn harvest_failed(e: &EngineError) -> StopReason {
    StopReason::Other(format!("the run's harvest failed: {e}"))
}

/// The run's start as a wall-clock time (for `result.json` and the interval log's
/// `BaseTime`) and as an `Instant` (for every timer), read together: now, or the common
/// `start_at`, ahead or behind.
fn start_of(start_at: Option<SystemTime>) -> (SystemTime, Instant) {
    let (wall, now) = (SystemTime::now(), Instant::now());
    match start_at {
        None => (wall, now),
        Some(at) => match at.duration_since(wall) {
            Ok(ahead) => (at, now + ahead),
            Err(behind) => (at, now.checked_sub(behind.duration()).unwrap_or(now)),
        },
    }
}

/// A duration in seconds with milliseconds, for messages: `2.345 s`.
fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Start the results folder: `result.json` (status `running`, with the facts of the run
/// about to start, which are returned), the interval log and the journal.
fn results_folder(
    opts: &RunOptions,
    plan: &Plan,
    cells: &[CellInfo],
    recorder: &Recorder,
    started_at: SystemTime,
) -> Result<(RunWriter, RunInfo), EngineError> {
    let id = (opts.dir.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = run_info(plan, &id, &opts.base_url, started_at);
    info.shard = opts.shard.clone();
    info.start = opts.start_at.map(|at| crate::metrics::PlannedStart {
        at: context::rfc3339(at),
        lateness_us: 0,
        tolerance_us: opts.strict_start.map(|d| d.as_micros() as u64),
        shards_lateness_us: Vec::new(),
    });
    let initial = RunResult {
        schema_version: SCHEMA_VERSION,
        tool: Tool::default(),
        run: info.clone(),
        cells: cells.to_vec(),
        overall: Summary::default(),
        steps: Vec::new(),
        scenarios: Vec::new(),
        timeseries: Vec::new(),
        error_examples: Vec::new(),
        scenario: plan.scenario_copy.clone(),
        custom_metrics: Vec::new(),
        availability: None,
        lighthouse: None,
    };
    let mut writer = RunWriter::create(&opts.dir, &initial, started_at)?;
    writer.set_server_timing_names(recorder.server_timing_names().clone());
    Ok((writer, info))
}

/// Who receives each second, in order: the results folder, the live console, the abort
/// check, then the caller's own.
fn subscribers(folder: RunWriter, opts: &mut RunOptions, plan: &Plan) -> Vec<Box<dyn Subscriber>> {
    let mut subs: Vec<Box<dyn Subscriber>> = vec![Box::new(folder)];
    if let Some(tx) = opts.progress.take() {
        let planned = plan.load.duration();
        subs.push(Box::new(ProgressFeed { tx, planned }));
    }
    if let Some(check) = opts.abort.take() {
        let stop = opts.stop.clone();
        subs.push(Box::new(AbortWatch { check, stop }));
    }
    subs.append(&mut opts.subscribers);
    subs
}

/// Where the results of a run of `plan` go: a new folder under `base`.
pub fn results_dir(base: &Path, plan: &Plan) -> Result<PathBuf, EngineError> {
    Ok(store::new_run_dir(base, &plan.name, chrono::Utc::now())?)
}
