//! Running a [`Plan`]: the goose swarm, the once-a-second harvest into the results folder,
//! and stopping (end of plan, Ctrl-C) without losing what was measured.
//!
//! goose and reqwest are used only inside this module.

mod blocked;
mod feed;
#[doc(hidden)]
pub mod fuzzing;
mod goose;
mod h1;
mod health;
mod http;
mod open;
mod page;
mod slots;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::metrics::accumulate::Gauges;
use crate::metrics::{
    Accumulator, CellInfo, CoCorrection, ErrorExample, ErrorKind, Generator, MetricsError,
    OpenModelStats, Recorder, RunInfo, RunResult, RunStatus, RunWriter, SCHEMA_VERSION, Summary,
    TimePoint, Tool, store,
};
use crate::scenario::Plan;

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

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Running,
    /// Start nothing new; in-flight requests may finish.
    Graceful,
    /// Cut in-flight requests off now.
    Hard,
}

/// Stops a run from outside (Ctrl-C, SIGTERM, SIGHUP, a test).
#[derive(Clone)]
pub struct StopHandle {
    tx: Arc<watch::Sender<StopLevel>>,
    reason: Arc<Mutex<Option<String>>>,
    /// When [`StopHandle::stop`] was first called.
    at: Arc<OnceLock<Instant>>,
}

impl Default for StopHandle {
    fn default() -> Self {
        StopHandle::new()
    }
}

impl StopHandle {
    pub fn new() -> StopHandle {
        StopHandle {
            tx: Arc::new(watch::channel(StopLevel::Running).0),
            reason: Arc::default(),
            at: Arc::default(),
        }
    }

    /// Ask the run to stop: the first call is graceful, the next one hard. `reason` marks the
    /// run interrupted (the first reason is kept).
    pub fn stop(&self, reason: &str) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.to_string());
        let _ = self.at.set(Instant::now());
        self.escalate();
        ::goose::trigger_killswitch(reason);
    }

    fn escalate(&self) {
        self.tx.send_modify(|l| {
            *l = match *l {
                StopLevel::Running => StopLevel::Graceful,
                _ => StopLevel::Hard,
            }
        });
    }

    fn raise_to(&self, level: StopLevel) {
        self.tx.send_if_modified(|l| {
            if *l < level {
                *l = level;
                true
            } else {
                false
            }
        });
    }

    pub fn level(&self) -> StopLevel {
        *self.tx.borrow()
    }

    /// When the run was stopped from outside, if it was.
    fn stopped_at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The stop reason of a run stopped by Ctrl-C (SIGINT).
pub const SIGINT_REASON: &str = "interrupted (SIGINT)";
/// The stop reason of a run stopped by SIGTERM (`kill`, `docker stop`, Kubernetes, CI
/// cancellation, `timeout`).
pub const SIGTERM_REASON: &str = "terminated (SIGTERM)";
/// The stop reason of a run stopped by SIGHUP (its terminal closed).
pub const SIGHUP_REASON: &str = "hung up (SIGHUP)";

/// The run Ctrl-C stops. goose installs its own Ctrl-C handler on every attack (and exits the
/// process on the second press), so Skein installs one first and keeps it.
static CURRENT: Mutex<Option<StopHandle>> = Mutex::new(None);
static CTRLC: OnceLock<()> = OnceLock::new();

fn install_ctrlc(stop: &StopHandle) {
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
    CTRLC.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            if let Some(s) = CURRENT.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                s.stop(SIGINT_REASON);
            }
        });
    });
}

/// SIGTERM and SIGHUP stop the run as Ctrl-C does: the first one gracefully (in-flight
/// requests finish, the folder and reports are completed), the next signal of any of the
/// three cuts in-flight requests off. Listened to while the run goes (the returned guard
/// stops listening); once listened to, the process no longer dies of them by default.
fn watch_termination(stop: &StopHandle) -> TaskGuard {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return TaskGuard(None);
        };
        let stop = stop.clone();
        TaskGuard(Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = term.recv() => stop.stop(SIGTERM_REASON),
                    Some(()) = hup.recv() => stop.stop(SIGHUP_REASON),
                    else => break,
                }
            }
        })))
    }
    #[cfg(not(unix))]
    {
        let _ = stop;
        TaskGuard(None)
    }
}

/// Aborts its task when dropped.
struct TaskGuard(Option<tokio::task::JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

/// What the console shows while a run goes.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub elapsed: Duration,
    pub planned: Duration,
    pub users: u64,
    /// The last second.
    pub last: TimePoint,
    pub requests: u64,
    pub errors: u64,
    pub stopping: bool,
}

/// Options of one run.
pub struct RunOptions {
    /// The results folder (already created, empty).
    pub dir: PathBuf,
    /// Base URL the steps' paths are joined to.
    pub base_url: String,
    pub stop: StopHandle,
    /// Receives a snapshot every second.
    pub progress: Option<watch::Sender<Progress>>,
    /// Seed for the users' random numbers (think times, template functions).
    pub seed: u64,
    /// Record each request (the default). Off only to measure what recording costs.
    pub record: bool,
    /// Called once a second with the totals so far; returning a reason stops the run
    /// (targets with `abort_on_fail`).
    pub abort: Option<AbortCheck>,
    /// Threads of the generator's runtime; `None`: one per available core. A worker of a
    /// `--workers` run gets its share of the cores.
    pub threads: Option<usize>,
}

/// Judges a run while it goes: `Some(reason)` stops it.
pub type AbortCheck = Box<dyn FnMut(&RunResult) -> Option<String> + Send>;

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
        }
    }
}

/// Open model: how long the pre-allocated users may take to set up before the schedule
/// starts anyway.
const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// State shared by every user of a run.
pub(crate) struct RunCtx {
    plan: Plan,
    base_url: String,
    factory: Arc<http::ClientFactory>,
    recorder: Recorder,
    /// cell id by [scenario][phase][step].
    cells: Vec<[Vec<usize>; 3]>,
    start: Instant,
    stop: StopHandle,
    stop_rx: watch::Receiver<StopLevel>,
    active: AtomicU64,
    peak: AtomicU64,
    next_slot: AtomicUsize,
    cut_off: AtomicU64,
    seed: u64,
    record: bool,
    examples: Mutex<HashMap<(usize, ErrorKind), String>>,
    /// The open model's schedule and pool; `None` in the closed model.
    open: Option<open::Open>,
    /// Closed model: each cell's median service time so far, µs (0 until the first
    /// second is in), for the coordinated-omission correction.
    median_service: Vec<AtomicU64>,
    /// Page steps: the document and assets cells of each page cell, by cell id.
    page_cells: Vec<Option<page::PageCells>>,
    /// The feeders' rows and positions.
    feeds: feed::Feeds,
    /// Which scenario each user runs, and its first feeder rows.
    slots: slots::Slots,
    /// Closed model: waits far beyond the steps' usual time, by second.
    blocked: blocked::Blocked,
}

impl RunCtx {
    fn median_service_us(&self, cell: usize) -> u64 {
        self.median_service
            .get(cell)
            .map_or(0, |m| m.load(Ordering::Relaxed))
    }

    fn cell(&self, scenario: usize, phase: usize, step: usize) -> usize {
        self.cells[scenario][phase][step]
    }

    fn stop_level(&self) -> StopLevel {
        *self.stop_rx.borrow()
    }

    /// Resolves once the stop reaches `level`.
    async fn wait_for(&self, level: StopLevel) {
        let mut rx = self.stop_rx.clone();
        let _ = rx.wait_for(|l| *l >= level).await;
    }

    /// Keep the first example of each error kind at each cell (secrets masked).
    fn note_error(&self, cell: usize, kind: ErrorKind, detail: &str) {
        let mut ex = self.examples.lock().unwrap_or_else(|p| p.into_inner());
        if ex.len() < 1000 {
            ex.entry((cell, kind))
                .or_insert_with(|| mask(detail, &self.plan.secrets));
        }
    }
}

/// Replace every secret value in `s`.
pub fn mask(s: &str, secrets: &[String]) -> String {
    let mut out = s.to_string();
    for sec in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(sec.as_str(), "[redacted]");
    }
    out
}

/// The cells a run of `plan` records (the interval log's tags), in order.
pub fn cells(plan: &Plan) -> Vec<CellInfo> {
    layout(plan).0
}

/// Lay out the cells of a plan: one per (scenario, step name), on_start and on_stop steps
/// included. Steps of the same name in one scenario share a cell.
fn layout(plan: &Plan) -> (Vec<CellInfo>, Vec<[Vec<usize>; 3]>) {
    let mut cells: Vec<CellInfo> = Vec::new();
    let mut index = Vec::new();
    // Cells by (scenario, step name), and the tags given out, so a plan of thousands of
    // steps is laid out in linear time.
    let mut by_name: HashMap<(String, String), usize> = HashMap::new();
    let mut tags: std::collections::HashSet<String> = std::collections::HashSet::new();
    for sc in &plan.scenarios {
        let mut phases: [Vec<usize>; 3] = Default::default();
        for (p, steps) in [&sc.on_start, &sc.steps, &sc.on_stop]
            .into_iter()
            .enumerate()
        {
            for step in steps {
                if step.page.is_some() {
                    // A page step has three cells: the page, its document, its assets.
                    let before = cells.len();
                    phases[p].push(page::add_cells(&mut cells, &sc.name, step));
                    tags.extend(cells[before..].iter().map(|c| c.tag.clone()));
                    continue;
                }
                let mut checks: Vec<String> = step.checks.iter().map(|c| c.label.clone()).collect();
                checks.extend(step.extracts.iter().map(|x| format!("extract {}", x.name)));
                let id = match by_name
                    .get(&(sc.name.clone(), step.name.clone()))
                    .and_then(|&i| cells.get_mut(i))
                {
                    Some(c) => {
                        // Steps sharing a name share a cell, which carries all their tags.
                        for t in &step.tags {
                            if !c.tags.contains(t) {
                                c.tags.push(t.clone());
                            }
                        }
                        c.id
                    }
                    None => {
                        let id = cells.len();
                        let mut tag = store::sanitize(&format!("{}/{}", sc.name, step.name));
                        if tags.contains(&tag) {
                            tag = format!("{tag}.{id}");
                        }
                        tags.insert(tag.clone());
                        by_name.insert((sc.name.clone(), step.name.clone()), id);
                        cells.push(CellInfo {
                            id,
                            scenario: sc.name.clone(),
                            step: step.name.clone(),
                            method: step.method.as_str().to_string(),
                            tag,
                            checks,
                            tags: step.tags.clone(),
                        });
                        id
                    }
                };
                phases[p].push(id);
            }
        }
        index.push(phases);
    }
    (cells, index)
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The facts of a run of `plan` about to start (status `running`): the engine's own, and
/// the parent's of a `--workers` run.
pub fn run_info(plan: &Plan, id: &str, target: &str, started_at: SystemTime) -> RunInfo {
    let open = plan.load.open.is_some();
    RunInfo {
        id: id.to_string(),
        name: plan.name.clone(),
        status: RunStatus::Running,
        stop_reason: None,
        scenario_file: plan.source.as_ref().map(|p| p.display().to_string()),
        target: target.to_string(),
        model: if open { "open" } else { "closed" }.into(),
        response_time_basis: if open { "intended_start" } else { "measured" }.into(),
        started_at: rfc3339(started_at),
        ended_at: None,
        duration_us: 0,
        planned_duration_us: plan.load.duration().as_micros() as u64,
        max_users: plan.load.max_users() as u64,
        peak_users: 0,
        cut_off: 0,
        tls_verify: plan.defaults.tls_verify,
        generator: Generator::this_machine(),
        open_model: None,
        co_correction: None,
        generator_health: None,
        workers: None,
    }
}

/// The open model serves every scenario's share of the arrival rate from a pool of users
/// of that scenario: a pool smaller than the number of scenarios would leave some with
/// none, and their iterations would all be dropped. Such a pool (a small `max_users`, or a
/// worker's share of one) grows to one user per scenario.
fn with_a_user_per_scenario(plan: &Plan) -> std::borrow::Cow<'_, Plan> {
    let k = plan.scenarios.len();
    match &plan.load.open {
        Some(o) if o.max_users < k => {
            let mut p = plan.clone();
            if let Some(o) = p.load.open.as_mut() {
                o.max_users = k;
                o.pre_allocated = o.pre_allocated.max(k.min(o.max_users));
            }
            for s in &mut p.load.stages {
                s.users = k;
            }
            std::borrow::Cow::Owned(p)
        }
        _ => std::borrow::Cow::Borrowed(plan),
    }
}

/// Round to whole milliseconds, in µs (interval-log timestamps have ms resolution).
fn ms_us(d: Duration) -> u64 {
    d.as_millis() as u64 * 1000
}

/// Run `plan` and write its results folder. Returns the result also written to
/// `result.json`; an interrupted run returns normally, marked interrupted.
pub async fn run(plan: &Plan, mut opts: RunOptions) -> Result<RunResult, EngineError> {
    raise_nofile_limit();
    let plan = with_a_user_per_scenario(plan);
    let plan: &Plan = &plan;
    let (cells, index) = layout(plan);
    let recorder = Recorder::new(cells.iter().map(|c| c.checks.len()).collect());
    let factory = Arc::new(http::ClientFactory::new(&plan.defaults, &opts.base_url)?);
    let started_at = SystemTime::now();
    let id = opts
        .dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run_info = run_info(plan, &id, &opts.base_url, started_at);
    let initial = RunResult {
        schema_version: SCHEMA_VERSION,
        tool: Tool::default(),
        run: run_info.clone(),
        cells: cells.clone(),
        overall: Summary::default(),
        steps: Vec::new(),
        scenarios: Vec::new(),
        timeseries: Vec::new(),
        error_examples: Vec::new(),
        scenario: plan.scenario_copy.clone(),
    };
    let mut writer = RunWriter::create(&opts.dir, &initial, started_at)?;
    let mut acc = Accumulator::new(cells.clone());
    // Server-Timing histograms are named by the recorder's table, filled as entries arrive.
    writer.set_server_timing_names(recorder.server_timing_names().clone());
    acc.set_server_timing_names(recorder.server_timing_names().clone());

    let slots = slots::Slots::new(plan);
    let start = Instant::now();
    let ctx = Arc::new(RunCtx {
        plan: plan.clone(),
        base_url: opts.base_url.clone(),
        factory,
        recorder: recorder.clone(),
        cells: index,
        start,
        stop_rx: opts.stop.tx.subscribe(),
        stop: opts.stop.clone(),
        active: AtomicU64::new(0),
        peak: AtomicU64::new(0),
        next_slot: AtomicUsize::new(0),
        cut_off: AtomicU64::new(0),
        seed: opts.seed,
        record: opts.record,
        examples: Mutex::new(HashMap::new()),
        open: plan
            .load
            .open
            .as_ref()
            .map(|o| open::Open::new(o, slots.pool().1, plan.defaults.timeout)),
        median_service: cells.iter().map(|_| AtomicU64::new(0)).collect(),
        page_cells: page::sub_cells(&cells),
        feeds: feed::Feeds::new(plan, &slots),
        slots,
        blocked: blocked::Blocked::default(),
    });
    install_ctrlc(&opts.stop);
    let _signals = watch_termination(&opts.stop);

    // The attack gets its own runtime, so the generator's CPU can be told apart from an
    // embedded target's, and its timer lag probed.
    let cores = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let gen_rt = GenRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name(health::THREAD_NAME)
            .enable_all()
            .build()
            .map_err(|e| EngineError::Config(format!("starting the generator's runtime: {e}")))?,
    ));
    let probe = Arc::new(health::LagProbe::default());
    let probe_task = gen_rt.spawn(probe.clone().run());
    let mut monitor = health::Monitor::new(probe, cores);

    let planned = plan.load.duration();
    let grace = plan.load.graceful_stop;
    // End of plan -> graceful stop; grace later -> hard stop. Keep goose's killswitch set while
    // stopping (goose clears it when an attack starts, so an early Ctrl-C must be repeated).
    let timer = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let t0 = match &ctx.open {
                Some(open) => tokio::select! {
                    t = open.started() => t,
                    _ = ctx.wait_for(StopLevel::Graceful) => start,
                },
                None => start,
            };
            let end = tokio::time::Instant::from_std(t0 + planned);
            let mut rx = ctx.stop_rx.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(end) => ctx.stop.raise_to(StopLevel::Graceful),
                _ = rx.wait_for(|l| *l >= StopLevel::Graceful) => {}
            }
            let hard_at = tokio::time::Instant::now() + grace;
            loop {
                ::goose::trigger_killswitch("skein: end of run");
                if tokio::time::Instant::now() >= hard_at {
                    ctx.stop.raise_to(StopLevel::Hard);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut attack = gen_rt.spawn(goose::attack(ctx.clone()));
    let scheduler = ctx.open.is_some().then(|| {
        let ctx = ctx.clone();
        let users = plan.load.max_users();
        std::thread::Builder::new()
            // Not `skein-gen*`: its waiting is not the generator's load (see health.rs).
            .name("skein-schedule".into())
            .spawn(move || open::schedule(ctx, users, SETUP_LIMIT))
    });
    let scheduler = scheduler
        .transpose()
        .map_err(|e| EngineError::Config(format!("starting the scheduler: {e}")))?;
    let mut open_total = open::OpenInterval::default();
    let mut recent_medians: Vec<Vec<u64>> = vec![Vec::new(); cells.len()];
    let mut exhausted_seconds = 0u64;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_us = 0u64;
    let mut harvest = |acc: &mut Accumulator,
                       writer: &mut RunWriter,
                       last_us: &mut u64,
                       now: Duration|
     -> Result<TimePoint, EngineError> {
        let data = recorder.harvest();
        let now_us = ms_us(now).max(*last_us);
        let o = ctx
            .open
            .as_ref()
            .map(|o| o.counters.take())
            .unwrap_or_default();
        let users = match &ctx.open {
            // Mean users busy over the interval.
            Some(open) => open
                .counters
                .busy
                .take_mean(Duration::from_micros(now_us.saturating_sub(*last_us)))
                .round() as u64,
            None => ctx.active.load(Ordering::Relaxed),
        };
        let h = monitor.sample(o.scheduled, o.late_by_generator);
        open_total.scheduled += o.scheduled;
        open_total.started += o.started;
        open_total.late += o.late;
        open_total.late_by_generator += o.late_by_generator;
        open_total.dropped += o.dropped;
        exhausted_seconds += u64::from(o.exhausted);
        let g = Gauges {
            users,
            scheduled: o.scheduled,
            started: o.started,
            late: o.late,
            dropped: o.dropped,
            cpu_pct: (h.cpu_pct * 10.0).round() / 10.0,
            sched_lag_us: h.lag_max_us,
        };
        writer.write_interval_with(*last_us, now_us - *last_us, &g, &data)?;
        let p = acc.add_interval_with(*last_us, now_us - *last_us, &g, &data);
        if ctx.open.is_none() {
            // Each step's usual service time follows the load: the median of the last 5
            // seconds' medians (of the seconds it had responses in), so a ramp's or a step
            // test's higher levels are not judged by the lower levels' times, and one odd
            // second does not move it.
            for ((m, d), recent) in ctx
                .median_service
                .iter()
                .zip(data.iter())
                .zip(recent_medians.iter_mut())
            {
                if !d.service.is_empty() {
                    if recent.len() == 5 {
                        recent.remove(0);
                    }
                    recent.push(d.service.quantile(0.5));
                    let mut sorted = recent.clone();
                    sorted.sort_unstable();
                    // The lower median: with two seconds so far, one stalled second must
                    // not become the usual time.
                    m.store(sorted[(sorted.len() - 1) / 2], Ordering::Relaxed);
                }
            }
        }
        *last_us = now_us;
        Ok(p)
    };
    let attack_result = loop {
        tokio::select! {
            r = &mut attack => break r,
            _ = tick.tick() => {
                let p = harvest(&mut acc, &mut writer, &mut last_us, start.elapsed())?;
                if let Some(tx) = &opts.progress {
                    let all = acc.overall();
                    let _ = tx.send(Progress {
                        elapsed: start.elapsed(),
                        planned,
                        users: p.users,
                        requests: all.requests,
                        errors: all.error_count() + all.check_failed,
                        last: p,
                        stopping: ctx.stop_level() != StopLevel::Running,
                    });
                }
                if ctx.stop_level() == StopLevel::Running
                    && let Some(check) = opts.abort.as_mut()
                {
                    let so_far = acc.finish(run_info.clone(), serde_json::Value::Null, Vec::new());
                    if let Some(reason) = check(&so_far) {
                        opts.stop.stop(&reason);
                    }
                }
            }
        }
    };
    timer.abort();
    // The attack may have ended on its own (an error, a panic): make sure nothing waits on.
    ctx.stop.raise_to(StopLevel::Hard);
    if let Some(s) = scheduler {
        // It ends within 10 ms of the stop.
        let _ = tokio::task::spawn_blocking(move || s.join()).await;
    }
    probe_task.abort();
    if let Some(open) = &ctx.open {
        open::drop_pending(open);
    }
    // The last, partial interval.
    let end = start.elapsed();
    if ms_us(end) > last_us {
        harvest(&mut acc, &mut writer, &mut last_us, end)?;
    }
    // The generator's runtime goes (its abandoned tasks with it); the harvest closure's
    // borrow of the monitor ends before this.
    drop(gen_rt);
    let mut run = run_info;
    run.generator_health = Some(monitor.finish());
    if let Some(open) = &ctx.open {
        // The schedule's own clock: from its start to when the scheduler stopped.
        let t0 = open.t0.get().copied().unwrap_or(start);
        // The schedule's own clock: from its start to the end of the plan, or to when the
        // scheduler stopped early (a stop). The scheduler ends at the plan's last arrival,
        // which can come well before the plan's end (10 arrivals in 5 s: the last at 4.5 s).
        let planned = open.load.duration();
        let t_end = match opts.stop.stopped_at() {
            Some(t) => t.max(t0),
            None => t0 + planned,
        };
        let ran = t_end
            .min(start + end)
            .saturating_duration_since(t0)
            .min(planned)
            .as_secs_f64()
            .max(1e-3);
        let c = &open.counters;
        run.open_model = Some(OpenModelStats {
            peak_rate: open.load.peak_rate(),
            intended_rate: open.load.arrivals_by(Duration::from_secs_f64(ran)) / ran,
            achieved_rate: open_total.started as f64 / ran,
            scheduled: open_total.scheduled,
            started: open_total.started,
            late: open_total.late,
            dropped: open_total.dropped,
            late_after_us: open::LATE_AFTER.as_micros() as u64,
            max_lateness_us: c.max_lateness_us.load(Ordering::Relaxed),
            max_users: open.load.max_users as u64,
            pre_allocated: open.load.pre_allocated as u64,
            peak_busy: c.peak_busy.load(Ordering::Relaxed),
            pool_exhausted_seconds: exhausted_seconds,
            schedule_offset_us: t0.saturating_duration_since(start).as_micros() as u64,
        });
    } else {
        run.co_correction = Some(CoCorrection {
            method: "user_cycle".into(),
            synthetic_samples: acc.overall().corrected,
            blocked: ctx.blocked.finish(&cells),
            // Found below, on the run's seconds.
            stalls: Vec::new(),
        });
    }
    run.ended_at = Some(rfc3339(SystemTime::now()));
    run.cut_off = ctx.cut_off.load(Ordering::Relaxed);
    match opts.stop.reason() {
        Some(r) => {
            run.status = RunStatus::Interrupted;
            run.stop_reason = Some(r);
        }
        None => run.status = RunStatus::Complete,
    }
    let examples = {
        let ex = ctx.examples.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<ErrorExample> = ex
            .iter()
            .map(|((cell, kind), msg)| {
                let c = cells.get(*cell);
                ErrorExample {
                    scenario: c.map(|c| c.scenario.clone()).unwrap_or_default(),
                    step: c
                        .map(|c| c.step.clone())
                        .unwrap_or_else(|| "(user start)".into()),
                    kind: kind.as_str().into(),
                    message: msg.clone(),
                }
            })
            .collect();
        v.sort_by(|a, b| (&a.scenario, &a.step, &a.kind).cmp(&(&b.scenario, &b.step, &b.kind)));
        v
    };
    let mut result = acc.finish(run, plan.scenario_copy.clone(), examples);
    if let Some(o) = &result.run.open_model {
        // Open model: the most users busy at once (the series holds per-second means).
        result.run.peak_users = result.run.peak_users.max(o.peak_busy);
    } else {
        // Closed model: the most users active at once, counted as they start and stop (the
        // series samples them once a second, and the last second may see them leave).
        result.run.peak_users = result.run.peak_users.max(ctx.peak.load(Ordering::Relaxed));
    }
    if let Some(co) = result.run.co_correction.as_mut() {
        co.stalls = crate::metrics::find_stalls(&co.blocked, &result.timeseries);
        co.blocked = crate::metrics::significant_blocked(&co.blocked, &result.timeseries);
    }
    writer.write_result(&result)?;
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = None;
    match attack_result {
        Ok(Ok(())) => Ok(result),
        // The results are written; still say why goose failed.
        Ok(Err(e)) => Err(e),
        Err(join) => Err(EngineError::Goose(format!(
            "the attack task failed: {join}"
        ))),
    }
}

/// The generator's runtime. Dropped without waiting for its tasks (users cut off at a hard
/// stop are abandoned), which is also allowed inside an async context.
struct GenRuntime(Option<tokio::runtime::Runtime>);

impl GenRuntime {
    fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(rt) => rt.spawn(f),
            None => tokio::spawn(f),
        }
    }
}

impl Drop for GenRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// 1,000 users need 1,000+ sockets: raise the soft open-files limit to the hard limit.
pub fn raise_nofile_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// Where the results of a run of `plan` go: a new folder under `base`.
pub fn results_dir(base: &Path, plan: &Plan) -> Result<PathBuf, EngineError> {
    Ok(store::new_run_dir(base, &plan.name, chrono::Utc::now())?)
}
