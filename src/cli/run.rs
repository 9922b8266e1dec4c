//! `skein run` and `skein quick`: one path from a plan to a results folder.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use super::{
    CommonRunArgs, Invalid, QuickArgs, RunArgs, console, exit, parse_duration, parse_rate,
};
use crate::demo;
use crate::engine::{self, RunOptions, StopHandle};
use crate::metrics::{self, RunStatus, StopReason, StopSignal, store};
use crate::observe::prometheus;
use crate::report;
use crate::scenario::{self, EmbeddedTarget, Plan, ScenarioError, Target};

/// Turn a scenario error into an exit-2 error with every diagnostic.
pub fn invalid(e: ScenarioError) -> anyhow::Error {
    match e {
        ScenarioError::Read { path, source } => {
            Invalid(format!("reading scenario {}: {source}", path.display())).into()
        }
        other => Invalid(other.to_string()).into(),
    }
}

pub async fn run(a: RunArgs) -> anyhow::Result<u8> {
    let mut plan = scenario::load(&a.scenario).map_err(invalid)?;
    if a.users == Some(0) {
        return Err(Invalid("--users must be at least 1".into()).into());
    }
    if let Some(d) = &a.duration {
        plan.load.set_duration(parse_duration(d)?);
    }
    match &a.rate {
        Some(r) => plan.make_open(parse_rate(r)?, a.users),
        None => {
            if let Some(u) = a.users {
                plan.load.scale_users(u);
            }
        }
    }
    if let Some(p) = plan.load_limit_problem() {
        return Err(Invalid(format!("--users/--rate: {p}")).into());
    }
    print_warnings(&plan);
    if let Some(t) = &a.target {
        plan.target = Target::Url(check_url(t)?);
    }
    // The targets files first: the Lighthouse check drops their Lighthouse targets too
    // when the tools are missing and the block says `required: false`.
    add_targets_files(&mut plan, &a.common)?;
    let without_tools = super::lighthouse::check(&mut plan, &a.scenario)?;
    if without_tools.is_none() && a.common.as_worker.is_none() {
        super::lighthouse::announce(&plan, a.common.quiet);
    }
    // --baseline: read before the run, so a bad folder fails at once (exit 2).
    let baseline = (a.baseline.as_deref())
        .map(|d| super::compare::load("baseline", d))
        .transpose()?;
    execute(plan, &a.common, baseline.as_ref()).await
}

pub async fn quick(a: QuickArgs) -> anyhow::Result<u8> {
    let url = check_url(&a.url)?;
    if a.users == Some(0) {
        return Err(Invalid("--users must be at least 1".into()).into());
    }
    let duration = parse_duration(&a.duration)?;
    let think = a.think.as_deref().map(parse_duration).transpose()?;
    let rate = a.rate.as_deref().map(parse_rate).transpose()?;
    let mut plan = scenario::quick(&url, a.users, duration, think, rate).map_err(invalid)?;
    add_targets_files(&mut plan, &a.common)?;
    execute(plan, &a.common, None).await
}

/// Things in the scenario that will run, but probably not as meant.
pub fn print_warnings(plan: &Plan) {
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
}

/// `--targets FILE`: targets shared across scenarios, checked against this plan's steps.
fn add_targets_files(plan: &mut Plan, common: &CommonRunArgs) -> anyhow::Result<()> {
    for f in &common.targets {
        let t = scenario::load_targets(f).map_err(invalid)?;
        plan.add_targets(t).map_err(invalid)?;
    }
    Ok(())
}

fn check_url(u: &str) -> Result<String, Invalid> {
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(Invalid(format!(
            "`{}` is not an http:// or https:// URL",
            scenario::redact_url(u)
        )));
    }
    // The target is written into every report: credentials in it would be too.
    let authority = u
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', '?', '#'])
        .next();
    if authority.is_some_and(|a| a.contains('@')) {
        return Err(Invalid(format!(
            "`{}` holds credentials (`user:password@`), which would be written into every \
             report\n  hint: give the target without them, and the credentials as \
             `defaults.auth` with `${{env.NAME}}`",
            scenario::redact_url(u)
        )));
    }
    Ok(u.to_string())
}

/// The demo's settings from the scenario's `target: {embedded: phase9, ...}`.
pub fn demo_config(e: &EmbeddedTarget) -> demo::DemoConfig {
    let mut c = demo::DemoConfig::default();
    if let Some(w) = e.workers {
        c.workers = w;
    }
    c.db_pool = e.db_pool;
    for (name, t) in &e.routes {
        let mut r = c.route(name);
        if let Some(s) = t.service_time {
            r.service_time = s;
        }
        if let Some(j) = t.jitter {
            r.jitter = j;
        }
        if t.db.is_some() {
            r.db = t.db;
        }
        c.routes.insert(name.clone(), r);
    }
    c
}

/// This process's part of a run split across processes or machines (`--shard`).
struct Sharding {
    shard: crate::scenario::Shard,
    marker: metrics::ShardInfo,
}

impl Sharding {
    /// From `--shard` (and `--run-id`), for `plan` as the whole run runs it.
    fn new(
        plan: &Plan,
        common: &CommonRunArgs,
        arg: super::shard::ShardArg,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Sharding> {
        if matches!(plan.target, Target::Embedded(_)) {
            return Err(Invalid(
                "--shard: the target is the embedded demo, which each shard would start on \
                 its own machine\n  hint: start it once (`skein serve-demo`) and give its URL \
                 with --target"
                    .into(),
            )
            .into());
        }
        if let Some(super::shard::StartAt::In(d)) = common.start_at {
            return Err(Invalid(format!(
                "--start-at +{}s: with --shard, every machine would count from its own start; \
                 give every shard one absolute time\n  hint: START=$(date -u -d '+{} \
                 seconds' +%FT%TZ), then --start-at \"$START\" on each",
                d.as_secs_f64(),
                d.as_secs().max(1)
            ))
            .into());
        }
        let shard = super::shard::resolve(arg, env)?;
        let run_id = super::shard::run_id(
            common.run_id.as_deref(),
            env,
            &plan.name,
            common.start_at.as_ref(),
        )?;
        let marker = metrics::ShardInfo {
            index: shard.index as u64,
            count: shard.count as u64,
            run_id,
            scenario_hash: plan.fingerprint(),
            histogram: metrics::HistogramSettings::CURRENT,
            seed: 0,
            interval_us: 1_000_000,
        };
        Ok(Sharding { shard, marker })
    }
}

/// Run a plan: start the demo target if asked, run, judge the targets, write every report,
/// print the summary, compare with the baseline if given. Exit 1 when the verdict failed (a
/// target failed, or a run without targets had no request succeed), the run regressed
/// against the baseline, or the generator was saturated under `--fail-on-saturation`; 130
/// when Ctrl-C stopped the run, 143 SIGTERM, 129 SIGHUP; 3 when a worker died or a shard
/// started later than `--strict-start` allows. A shard (`--shard`) judges its targets on its
/// part only and exits 0 once it has run its course: the run's verdict is `skein merge`'s.
pub async fn execute(
    mut plan: Plan,
    common: &CommonRunArgs,
    baseline: Option<&super::compare::Loaded>,
) -> anyhow::Result<u8> {
    if let Some(worker) = common.as_worker {
        return worker_run(plan, common, worker).await;
    }
    if let Some(u) = &common.remote_write {
        use crate::observe::remote_write::{check_url, redact};
        // Before any folder is made; the message names no credentials.
        check_url(u).map_err(|e| Invalid(format!("--remote-write {}: {e}", redact(u))))?;
    }
    let env = |k: &str| std::env::var(k).ok();
    let sharding = common
        .shard
        .map(|arg| Sharding::new(&plan, common, arg, &env))
        .transpose()?;
    let start_at = common.start_at.map(|s| s.at(std::time::SystemTime::now()));
    let strict_start = common
        .strict_start
        .as_deref()
        .map(parse_duration)
        .transpose()?;
    if let Some(at) = start_at {
        // A start so far back that the whole plan would be over: a mistake, not a late shard.
        let span = plan.load.duration() + plan.load.graceful_stop;
        if at + span < std::time::SystemTime::now() {
            return Err(Invalid(format!(
                "--start-at {}: the run (planned {:.1} s) would have ended before now\n  \
                 hint: give a time ahead, e.g. +60s or $(date -u -d '+60 seconds' +%FT%TZ)",
                chrono::DateTime::<chrono::Utc>::from(at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                plan.load.duration().as_secs_f64()
            ))
            .into());
        }
    }
    if let Some(s) = &sharding {
        plan.shard(s.shard);
    }
    // --metrics-listen: the address is had before anything else is set up.
    let listener = common
        .metrics_listen
        .map(|addr| {
            prometheus::bind(addr)
                .map_err(|e| Invalid(format!("--metrics-listen {addr}: cannot listen there: {e}")))
        })
        .transpose()?;
    let (base_url, demo_server) = match &plan.target {
        Target::Url(u) => (u.clone(), None),
        Target::Embedded(e) => {
            let addr: SocketAddr = "127.0.0.1:0".parse()?;
            let server = demo::serve(addr, demo_config(e)).await.map_err(|err| {
                // A setting the demo refuses (db longer than a route's default service time)
                // is the scenario's fault: exit 2, like every other invalid input.
                if err.kind() == std::io::ErrorKind::InvalidInput {
                    anyhow::Error::from(Invalid(format!("target.embedded: {err}")))
                } else {
                    anyhow::Error::from(err).context("starting the embedded demo target")
                }
            })?;
            (server.url(), Some(server))
        }
    };
    let dir = match &sharding {
        Some(s) => super::shard::shard_dir(&common.output, &s.marker.run_id, s.shard.index)?,
        None => engine::results_dir(&common.output, &plan)?,
    };
    let targets = plan.verdict_targets();
    store::write_targets(&dir, &targets)?;
    let stop = StopHandle::new();
    let (tx, rx) = tokio::sync::watch::channel(engine::Progress::default());
    let seed = common.seed.unwrap_or_else(|| match &sharding {
        // Every shard alike, so the closed model's users draw what they would in one process.
        Some(s) => super::shard::seed_of(&s.marker.run_id),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    });
    let marker = sharding.as_ref().map(|s| metrics::ShardInfo {
        seed,
        ..s.marker.clone()
    });
    if let Some(at) = start_at {
        announce_start(at, marker.as_ref(), common.quiet);
    }
    // --metrics-listen: serving before the load starts.
    let (scrape, exporter) = match listener {
        Some(l) => {
            let run_id = match &marker {
                // A shard: the run's id, not its folder's (`shard-<I>`).
                Some(m) => m.run_id.clone(),
                None => (dir.file_name())
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let (server, exporter) = start_scrape(l, &plan, run_id, common.quiet)?;
            (Some(server), Some(exporter))
        }
        None => (None, None),
    };
    // Too late for --strict-start already: one process records that and starts nobody,
    // rather than workers that would each fail alike.
    let too_late = match (start_at, strict_start) {
        (Some(at), Some(tolerance)) => std::time::SystemTime::now()
            .duration_since(at)
            .is_ok_and(|late| late > tolerance),
        _ => false,
    };
    let n = if too_late {
        1
    } else {
        super::workers::count(&plan, common.workers)
    };
    if n > 1 && !common.quiet && !(plan.setup.is_empty() && plan.teardown.is_empty()) {
        eprintln!("note: `setup:` and `teardown:` run once in each of the {n} worker processes");
    }
    // --dashboard: its Stop button stops the run like Ctrl-C (a `--workers` parent passes it
    // on to its workers as it does a signal).
    let dashboard = match common.dashboard {
        Some(addr) => {
            let stop = Some(stop.clone());
            Some(start_dashboard(addr, &targets, stop).await?)
        }
        None => None,
    };
    let live = console::Live::start(rx, common.quiet, &plan, &base_url);
    // The live exporters: each one more receiver of every second, in one process or from a
    // `--workers` parent's merged seconds; none when no flag asks for one.
    let mut subscribers: Vec<Box<dyn engine::Subscriber>> = Vec::new();
    if let Some(e) = exporter {
        subscribers.push(Box::new(e));
    }
    let dashboard = dashboard.map(|(server, feed)| {
        subscribers.push(Box::new(feed));
        server
    });
    let remote_write = match remote_write(common, &plan, &dir, marker.as_ref())? {
        Some((rw, slot)) => {
            subscribers.push(Box::new(rw));
            Some(slot)
        }
        None => None,
    };
    let outcome = if n > 1 {
        let start = super::workers::Start {
            at: start_at,
            strict: strict_start,
            shard: marker.clone(),
            stop: Some(stop.clone()),
        };
        super::workers::run(&plan, n, &base_url, &dir, seed, tx, &start, subscribers).await
    } else {
        let mut opts = RunOptions::new(dir.clone(), &base_url);
        opts.stop = stop;
        opts.progress = Some(tx);
        opts.seed = match &sharding {
            Some(s) => s.shard.seed(seed, plan.load.open.is_some()),
            None => seed,
        };
        opts.abort = aborts(&plan, &targets);
        opts.start_at = start_at;
        opts.strict_start = strict_start;
        opts.shard = marker.clone();
        opts.subscribers = subscribers;
        engine::run(&plan, opts).await.map_err(anyhow::Error::from)
    };
    // The dashboard sends `end` and closes before the reports: it never outlives the run.
    if let Some(d) = dashboard {
        d.close().await;
    }
    // The endpoint answers a moment longer (the run's totals for a last scrape) while the
    // reports are written, and is stopped before this returns.
    let scrape = scrape.map(|s| tokio::spawn(s.stop()));
    live.finish().await;
    if let Some(o) = remote_write.and_then(|slot| slot.take()) {
        report_remote_write(&o);
    }
    if let Some(s) = demo_server {
        s.shutdown().await;
    }
    let result = outcome
        .with_context(|| format!("run failed; what was measured is in {}", dir.display()))?;
    let reason = result.run.stop_reason.as_ref();
    if reason.and_then(StopReason::signal) == Some(StopSignal::HangUp) {
        detach_from_hung_up_terminal();
    }
    console::print_summary(&result, &dir);
    // A step test: the capacity analysis goes first, so the reports include it.
    let capacity = super::capacity::analyze_step_test(&plan, &result, &dir)?;
    let verdict = judge_and_report_with(
        &dir,
        &result,
        &targets,
        capacity.as_ref(),
        baseline.map(|b| (b.dir.as_path(), &b.result)),
    )?;
    if let Some(m) = &marker {
        eprintln!(
            "note: shard {} of {} of run `{}`: its targets were judged on its part of the load \
             only; the run's verdict is `skein merge {}`'s",
            m.index,
            m.count,
            m.run_id,
            dir.parent().unwrap_or(&dir).display()
        );
    }
    // --baseline (cli/compare.rs): a regression fails the run like a failed target.
    let regressed = match baseline {
        Some(b) => {
            let opts = metrics::CompareOptions::default();
            let judged = b.targets.as_deref().map(|t| (t, targets.as_slice()));
            super::compare::report_comparison(&b.result, &result, judged, &opts, &dir)?
                .verdict
                .regressed
        }
        None => false,
    };
    // --fail-on-saturation: a generator that was itself the bottleneck fails the run like a
    // missed target; without the flag it is a warning.
    let saturated = console::print_saturation(&result, common.fail_on_saturation);
    if marker.is_some() {
        // A shard's figures are a part of the run's: it fails only when it could not run
        // its part (a signal, a late start under --strict-start). Its own targets, an
        // `abort_on_fail` target or a step test's early stop are the merge's to judge.
        let own_rule = matches!(
            reason,
            Some(StopReason::TargetFailed { .. } | StopReason::EarlyStop { .. })
        );
        let code = match result.run.status {
            RunStatus::Interrupted if !own_rule => exit::interrupted(reason),
            _ => exit::OK,
        };
        stop_scrape(scrape).await;
        return Ok(code);
    }
    let code = exit_code(&result, &verdict, regressed, saturated);
    stop_scrape(scrape).await;
    Ok(code)
}

/// `--metrics-listen`: serve on `listener` and say where.
fn start_scrape(
    listener: std::net::TcpListener,
    plan: &Plan,
    run_id: String,
    quiet: bool,
) -> anyhow::Result<(prometheus::Server, prometheus::Exporter)> {
    let run = prometheus::RunLabels {
        run_id,
        name: plan.name.clone(),
        model: if plan.load.open.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
    };
    let (server, exporter) =
        prometheus::start(listener, run).context("--metrics-listen: starting the endpoint")?;
    if !quiet {
        eprintln!("metrics: http://{}/metrics", server.addr());
    }
    Ok((server, exporter))
}

/// Wait for the endpoint to have stopped (a moment after the run's end).
async fn stop_scrape(scrape: Option<tokio::task::JoinHandle<()>>) {
    if let Some(s) = scrape {
        let _ = s.await;
    }
}

/// The exit code of a finished run (or a merged one) from its verdict: one policy for `run`,
/// `quick` and `merge`. Stopped by a signal, or a worker that died: a worker's death (or a
/// shard too late for `--strict-start`) is a runtime failure whatever the verdict (the load
/// was not the plan's); a signal's code yields to a failed verdict. A step test that
/// stopped early past its limit did what it was for.
pub fn exit_code(
    result: &metrics::RunResult,
    verdict: &metrics::Verdict,
    regressed: bool,
    saturated: bool,
) -> u8 {
    let reason = result.run.stop_reason.as_ref();
    let aborted = matches!(reason, Some(StopReason::TargetFailed { .. }));
    let early_stop = matches!(reason, Some(StopReason::EarlyStop { .. }));
    let interrupted = (result.run.status == RunStatus::Interrupted && !early_stop)
        .then(|| exit::interrupted(reason));
    if interrupted == Some(exit::RUNTIME) {
        exit::RUNTIME
    } else if !verdict.passed || aborted || regressed || saturated {
        exit::TARGETS_FAILED
    } else {
        interrupted.unwrap_or(exit::OK)
    }
}

/// `--dashboard`: listen (a port in use is the user's to fix: exit 2) and say where.
async fn start_dashboard(
    addr: SocketAddr,
    targets: &[metrics::verdict::Target],
    stop: Option<StopHandle>,
) -> anyhow::Result<(
    crate::observe::dashboard::DashboardServer,
    crate::observe::dashboard::DashboardFeed,
)> {
    let (server, feed) = crate::observe::dashboard::start(addr, targets.to_vec(), stop)
        .await
        .map_err(|e| Invalid(format!("--dashboard {addr}: cannot listen: {e}")))?;
    eprintln!("dashboard: {}", server.url());
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: --dashboard {addr}: listening beyond this machine; anyone who can reach \
             it can watch the run and stop it"
        );
    }
    Ok((server, feed))
}

/// Say when the load starts (a common `--start-at`), and how far off that is.
fn announce_start(at: std::time::SystemTime, shard: Option<&metrics::ShardInfo>, quiet: bool) {
    let when = chrono::DateTime::<chrono::Utc>::from(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let who = shard.map_or(String::new(), |m| {
        format!("shard {} of {} of run `{}`: ", m.index, m.count, m.run_id)
    });
    let msg = match at.duration_since(std::time::SystemTime::now()) {
        Ok(ahead) => format!("{who}starting at {when} (in {:.1} s)", ahead.as_secs_f64()),
        Err(late) => format!(
            "{who}starting at once: --start-at {when} was {:.3} s ago",
            late.duration().as_secs_f64()
        ),
    };
    if !quiet || shard.is_some() {
        eprintln!("{msg}");
    }
}

/// What stops a run early: targets with `abort_on_fail`, and a step test past its limit.
fn aborts(plan: &Plan, targets: &[metrics::verdict::Target]) -> Option<engine::AbortCheck> {
    let abort_check = metrics::verdict::abort::AbortOnFail::new(targets)
        .map(|mut a| Box::new(move |r: &metrics::RunResult| a.check(r)) as engine::AbortCheck);
    match (abort_check, super::capacity::early_stop(plan)) {
        (Some(mut a), Some(mut b)) => Some(Box::new(move |r: &metrics::RunResult| {
            a(r).or_else(|| b(r))
        })),
        (a, b) => a.or(b),
    }
}

/// One worker of a `--workers` run (cli/workers.rs): its part of the load (of this shard's,
/// under `--shard`) against the parent's target, into its own folder, nothing printed.
/// Targets with `abort_on_fail` and a step test's early stop are judged on the part.
async fn worker_run(
    mut plan: Plan,
    common: &CommonRunArgs,
    worker: crate::scenario::Shard,
) -> anyhow::Result<u8> {
    super::workers::die_with_parent();
    // The user's own --shard (the child has the parent's command line), then the worker's.
    if let Some(arg) = common.shard {
        plan.shard(super::shard::resolve(arg, |k| std::env::var(k).ok())?);
    }
    plan.shard(worker);
    // The parent audits (`lighthouse:`), around all its workers' load.
    plan.lighthouse = None;
    if let Some(t) = &common.worker_target {
        plan.target = Target::Url(t.clone());
    }
    let Target::Url(base_url) = plan.target.clone() else {
        return Err(Invalid("a worker needs --worker-target".into()).into());
    };
    let out = common.worker_output.as_ref().unwrap_or(&common.output);
    let dir = engine::results_dir(out, &plan)?;
    let targets = plan.verdict_targets();
    let mut opts = RunOptions::new(dir, &base_url);
    let base_seed = common.worker_seed.unwrap_or(1);
    opts.seed = plan.load.shard.seed(base_seed, plan.load.open.is_some());
    opts.abort = aborts(&plan, &targets);
    opts.start_at = common
        .worker_start_at
        .map(|s| s.at(std::time::SystemTime::now()));
    opts.strict_start = common
        .strict_start
        .as_deref()
        .map(parse_duration)
        .transpose()?;
    // The machine's cores shared out, as wrk gives each thread its core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    opts.threads = Some((cores / worker.count).max(1));
    let result = engine::run(&plan, opts).await?;
    Ok(match result.run.status {
        RunStatus::Interrupted => exit::interrupted(result.run.stop_reason.as_ref()),
        _ => exit::OK,
    })
}

/// `--remote-write`: its subscriber (none without the flag), and where its outcome appears.
fn remote_write(
    common: &CommonRunArgs,
    plan: &Plan,
    dir: &std::path::Path,
    marker: Option<&metrics::ShardInfo>,
) -> anyhow::Result<
    Option<(
        crate::observe::remote_write::RemoteWrite,
        crate::observe::remote_write::OutcomeSlot,
    )>,
> {
    use crate::observe::remote_write::{Auth, Config, RemoteWrite};
    let Some(url) = &common.remote_write else {
        return Ok(None);
    };
    let (run_id, shard) = match marker {
        Some(m) => (m.run_id.clone(), format!("{}/{}", m.index, m.count)),
        None => (
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            "0/1".to_string(),
        ),
    };
    let cfg = Config {
        url: url.clone(),
        auth: Auth::from_env(|k| std::env::var(k).ok()),
        run_id,
        shard,
        name: plan.name.clone(),
        model: if plan.load.open.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_string(),
    };
    Ok(Some(RemoteWrite::start(cfg).map_err(Invalid)?))
}

/// What `--remote-write` could not send, on stderr.
fn report_remote_write(o: &crate::observe::remote_write::Outcome) {
    if o.unsent == 0 {
        return;
    }
    eprintln!(
        "warning: remote write to {}: {} samples not sent ({} sent){}",
        o.url,
        o.unsent,
        o.sent,
        o.last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    );
}

/// After SIGHUP: a terminal that hung up fails every write (EIO), and a failed print would
/// end the process before its reports are written. Standard output and error that fail so
/// go to `/dev/null` instead; working ones (a live terminal, a log, a pipe) are kept.
pub(super) fn detach_from_hung_up_terminal() {
    #[cfg(unix)]
    // SAFETY: write of no bytes, open, dup2 and close on this process's own descriptors;
    // the path is a NUL-terminated literal, and the descriptor opened is closed once
    // duplicated.
    unsafe {
        let dead = |fd: libc::c_int| {
            libc::write(fd, c"".as_ptr().cast(), 0) < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EIO)
        };
        let fds: Vec<libc::c_int> = [libc::STDOUT_FILENO, libc::STDERR_FILENO]
            .into_iter()
            .filter(|fd| dead(*fd))
            .collect();
        if fds.is_empty() {
            return;
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null < 0 {
            return;
        }
        for fd in fds {
            libc::dup2(null, fd);
        }
        libc::close(null);
    }
}

/// Judge `result` against `targets`, write `summary.json` and every report (with a step
/// test's `capacity` analysis) into `dir`, print the verdict, and feed GitHub Actions when
/// running there.
pub fn judge_and_report(
    dir: &Path,
    result: &metrics::RunResult,
    targets: &[metrics::verdict::Target],
    capacity: Option<&crate::capacity::CapacityReport>,
) -> anyhow::Result<metrics::Verdict> {
    judge_and_report_with(dir, result, targets, capacity, None)
}

/// The intervals of the run in `dir` that `targets` need: a window (`after:`), or a tag
/// whose steps may be tagged in some scenarios only; merged into one per span between
/// window starts, which gives those targets exactly the same sums. Empty when none does.
fn windows_for(
    dir: &Path,
    result: &metrics::RunResult,
    targets: &[metrics::verdict::Target],
) -> anyhow::Result<metrics::WindowData> {
    let needs_intervals = targets
        .iter()
        .any(|t| t.after_us.is_some() || matches!(t.scope, metrics::verdict::Scope::Tag(_)));
    Ok(if needs_intervals {
        let starts: Vec<u64> = targets.iter().filter_map(|t| t.after_us).collect();
        metrics::WindowData::from_dir_segmented(dir, &result.cells, &starts)
            .with_context(|| format!("reading the intervals of {}", dir.display()))?
    } else {
        metrics::WindowData::default()
    })
}

/// [`judge_and_report`], with the "before" of every target taken from the earlier run
/// `before` (its folder and result: `--baseline DIR`) instead of the plan's figures.
pub fn judge_and_report_with(
    dir: &Path,
    result: &metrics::RunResult,
    targets: &[metrics::verdict::Target],
    capacity: Option<&crate::capacity::CapacityReport>,
    before: Option<(&Path, &metrics::RunResult)>,
) -> anyhow::Result<metrics::Verdict> {
    let windows = windows_for(dir, result, targets)?;
    let before_windows = match before {
        Some((d, r)) => Some((r, windows_for(d, r, targets)?)),
        None => None,
    };
    let verdict = metrics::verdict::evaluate_with_baseline(
        result,
        &windows,
        targets,
        before_windows.as_ref().map(|(r, w)| (*r, w)),
    );
    report::write_all(dir, result, &verdict, capacity)
        .with_context(|| format!("writing the reports into {}", dir.display()))?;
    let lines = report::text::verdict_lines(&verdict);
    match &result.run.shard {
        // A shard's figures are a part of the run's: its verdict is not the run's.
        Some(s) => eprint!(
            "{}",
            lines.replace(
                "verdict: ",
                &format!(
                    "verdict of shard {}/{} alone (partial; the run's verdict is skein \
                     merge's): ",
                    s.index, s.count
                )
            )
        ),
        None => eprint!("{lines}"),
    }
    eprint!("{}", report::before_after::text(&verdict));
    if std::env::var_os("GITHUB_ACTIONS").is_some()
        || std::env::var_os("GITHUB_STEP_SUMMARY").is_some()
    {
        let gh = report::markdown::github(result, &verdict);
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| {
                    format!("opening GITHUB_STEP_SUMMARY {}", Path::new(&path).display())
                })?;
            f.write_all(gh.step_summary.as_bytes())?;
        }
        if std::env::var_os("GITHUB_ACTIONS").is_some() {
            for a in &gh.annotations {
                println!("{a}");
            }
        }
    }
    Ok(verdict)
}
