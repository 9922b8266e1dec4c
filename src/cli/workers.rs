//! `--workers N`: one run split across N worker processes, the way wrk scales its threads.
//!
//! goose keeps process-wide state and one attack does not scale across many cores, so each
//! worker is a `skein` process of its own (its own runtime, its own goose attack) that runs
//! a share of the users or of the arrival rate ([`crate::scenario::LoadPlan::share`])
//! against the same target and writes its own results folder under `workers/<i>/`. The
//! parent starts them, shows their progress from their journals, forwards Ctrl-C, and then
//! merges their folders exactly ([`crate::metrics::merge`]) into the run's folder, where
//! the targets are judged on the merged histograms as for any run.
//!
//! The parent also publishes the run's seconds to the run's subscribers (metrics exporters,
//! a live dashboard) as a single process does: each grid second, once every worker has
//! written it, with every worker's counts and histograms added exactly ([`LiveParts`]).
//!
//! A worker is the same command line with hidden options: `--as-worker I/N` and where to
//! send the load and write. The same share-and-merge carries a run across machines: run
//! the shares anywhere, copy the folders back, merge.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::exit;
use crate::engine::{EngineError, Progress, Publisher, Subscriber};
use crate::metrics::live::{LiveParts, LiveTotals};
use crate::metrics::merge::{MergeInfo, WORKERS_DIR, merge_runs};
use crate::metrics::saturation::Busy;
use crate::metrics::{Accumulator, RunInfo, RunResult, RunStatus, StopReason, StopSignal};
use crate::scenario::Plan;

/// A common start for the workers (`--start-at`), and the shard the run is (`--shard`).
#[derive(Clone, Default)]
pub struct Start {
    /// When every worker starts its load; `None`: each when it is ready.
    pub at: Option<std::time::SystemTime>,
    /// `--strict-start`'s tolerance.
    pub strict: Option<Duration>,
    /// The marker of the shard this run is, written into the merged folder.
    pub shard: Option<crate::metrics::ShardInfo>,
    /// Stops the run from inside this process (the dashboard's Stop button): passed on to
    /// the workers as Ctrl-C is, and recorded as the run's stop reason.
    pub stop: Option<crate::engine::StopHandle>,
}

/// The `before` audits of `plan`'s `lighthouse:` block, made by a `--workers` parent
/// before it starts its workers (not on a common start, which they would delay).
async fn lighthouse_before(
    plan: &Plan,
    base_url: &str,
    dir: &Path,
    start: &Start,
) -> Option<crate::engine::lighthouse::Session> {
    let lh = plan.lighthouse.clone()?;
    let (dir, base_url) = (dir.to_path_buf(), base_url.to_string());
    let cancel: std::sync::Arc<dyn Fn() -> bool + Send + Sync> = match &start.stop {
        Some(s) => crate::engine::lighthouse::cancel_on(s),
        None => std::sync::Arc::new(|| false),
    };
    let skip = start.at.is_some().then_some(
        "not run: the load starts at a common time (--start-at), which audits before it would delay",
    );
    tokio::task::spawn_blocking(move || {
        crate::engine::lighthouse::Session::before(&lh, &dir, &base_url, &*cancel, skip)
    })
    .await
    .ok()
}

/// When the workers' load starts, as an `Instant`: the common start, or now.
fn start_instant(at: Option<std::time::SystemTime>) -> std::time::Instant {
    let now = std::time::Instant::now();
    match at.map(|a| a.duration_since(std::time::SystemTime::now())) {
        Some(Ok(ahead)) => now + ahead,
        Some(Err(behind)) => now.checked_sub(behind.duration()).unwrap_or(now),
        None => now,
    }
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How many workers to use: `--workers`, or one per available core, never more than the
/// plan's users (or its pool in the open model) and never more than 64. A plan with
/// `setup:` or `teardown:` runs in one process unless `--workers` asks for more (each
/// process runs them once).
pub fn count(plan: &Plan, asked: Option<usize>) -> usize {
    let users = plan.load.max_users().max(1);
    match asked {
        Some(n) => n.clamp(1, users),
        None if !plan.setup.is_empty() || !plan.teardown.is_empty() => 1,
        None => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(users)
            .min(64),
    }
}

/// Run `plan` as `n` worker processes against `base_url` and merge their folders into
/// `dir`. `progress` receives the summed journals each second; `subscribers` each second of
/// the workers together (as [`crate::engine::Second`]s) once every worker has written it,
/// and the merged result at the end. A subscriber's error stops the workers (as a worker's
/// failure does); their folders are merged and the error returned.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    plan: &Plan,
    n: usize,
    base_url: &str,
    dir: &Path,
    seed: u64,
    progress: tokio::sync::watch::Sender<Progress>,
    start: &Start,
    subscribers: Vec<Box<dyn Subscriber>>,
) -> anyhow::Result<RunResult> {
    let exe = std::env::current_exe().context("finding the skein executable")?;
    let info = write_initial(plan, n, base_url, dir, start)?;
    // `lighthouse:`: this process audits, around its workers' load (they audit nothing).
    let mut audits = lighthouse_before(plan, base_url, dir, start).await;
    let mut seconds = Seconds::new(info, subscribers);
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut children = Vec::with_capacity(n);
    let mut outs = Vec::with_capacity(n);
    for i in 0..n {
        let out = dir.join(WORKERS_DIR).join(i.to_string());
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&args)
            .arg("--as-worker")
            .arg(format!("{i}/{n}"))
            .arg("--worker-target")
            .arg(base_url)
            .arg("--worker-output")
            .arg(&out)
            // The run's seed: each worker derives its own ([`crate::scenario::Shard::seed`]).
            .arg("--worker-seed")
            .arg(seed.to_string());
        if let Some(at) = start.at {
            cmd.arg("--worker-start-at").arg(rfc3339(at));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Their own process group: a Ctrl-C in the terminal reaches the parent only, which
        // passes it on once (twice would cut the workers' in-flight requests off).
        #[cfg(unix)]
        cmd.process_group(0);
        children.push(
            cmd.spawn()
                .with_context(|| format!("starting worker {i} of {n}"))?,
        );
        outs.push(out);
    }
    // The workers' clock, for the hold the `during` audits wait for.
    let load_start = start_instant(start.at);
    if let Some(a) = audits.as_mut() {
        let (hold, _) = crate::scenario::lighthouse::full_load_hold(&plan.load);
        let cancel = match &start.stop {
            Some(s) => crate::engine::lighthouse::cancel_on(s),
            None => std::sync::Arc::new(|| false),
        };
        a.start_during(dir, base_url, load_start + hold, cancel);
    }
    // Each worker's exit and what it wrote on stderr, sent as each one ends (the child
    // goes with its task: killed if the task is dropped).
    let mut alive: Vec<Option<u32>> = children.iter().map(|c| c.id()).collect();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, mut c) in children.into_iter().enumerate() {
        let tx = done_tx.clone();
        tokio::spawn(async move {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                use tokio::io::AsyncReadExt as _;
                let _ = e.read_to_string(&mut err).await;
            }
            let _ = tx.send((i, c.wait().await, err));
        });
    }
    drop(done_tx);
    // The workers' journals, summed each second (their folders appear as they start).
    let mut poll = if seconds.is_empty() {
        LiveParts::new(1_000_000)
    } else {
        // Publishing: each second whole, histograms and all.
        LiveParts::publishing(1_000_000)
    };
    let started = Instant::now();
    let planned = plan.load.duration();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut signals = Signals::new().context("listening for signals")?;
    let mut interrupts = 0;
    // The first signal this process got, as a stop reason.
    let mut stopped_by: Option<StopSignal> = None;
    // Workers that died or failed, in words.
    let mut failed: Vec<String> = Vec::new();
    let mut remaining = n;
    // A stop asked for in this process (not a signal): once.
    let asked = async {
        match &start.stop {
            Some(s) => s.requested().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(asked);
    let mut stop_asked = false;
    while remaining > 0 {
        tokio::select! {
            () = &mut asked, if !stop_asked => {
                stop_asked = true;
                interrupts += 1;
                for pid in alive.iter().flatten() {
                    send(*pid, SIGINT);
                }
            }
            Some((i, status, err)) = done_rx.recv() => {
                remaining -= 1;
                alive[i] = None;
                if let Some(d) = run_folder_any(&outs[i]) {
                    poll.add(&d);
                    poll.end(&d);
                }
                if let Some(why) = failure(&status, &err) {
                    let first = failed.is_empty();
                    failed.push(format!("worker {i} of {n} {why}"));
                    // Its share of the load is gone: stop the others gracefully rather
                    // than go on with a different load, and merge what each wrote.
                    if first && remaining > 0 && stopped_by.is_none() {
                        for pid in alive.iter().flatten() {
                            send(*pid, SIGINT);
                        }
                    }
                }
            }
            sig = signals.recv() => {
                interrupts += 1;
                let (number, reason) = sig;
                stopped_by.get_or_insert(reason);
                for pid in alive.iter().flatten() {
                    send(*pid, number);
                }
                if interrupts > 2 {
                    for pid in alive.iter().flatten() {
                        send(*pid, SIGKILL);
                    }
                    anyhow::bail!(
                        "interrupted three times: the workers were killed; their folders under workers/ hold what they measured"
                    );
                }
            }
            _ = tick.tick() => {
                for out in &outs {
                    if let Some(d) = run_folder_any(out) {
                        poll.add(&d);
                    }
                }
                let LiveTotals { last, requests, errors } = poll.read();
                let stopping = interrupts > 0 || !failed.is_empty() || seconds.failed.is_some();
                let _ = progress.send(Progress {
                    elapsed: started.elapsed(),
                    planned,
                    users: last.users,
                    last,
                    requests,
                    errors,
                    stopping,
                });
                // Publish only once every worker is followed (or has ended without a
                // folder): a worker's seconds never arrive after theirs were published.
                let all_followed = outs.iter().zip(&alive).all(|(out, pid)| {
                    pid.is_none() || run_folder_any(out).is_some_and(|d| poll.follows(&d))
                });
                if all_followed && seconds.publish(&mut poll, stopping, false).is_err() {
                    // As when a worker fails: stop the others gracefully, merge what
                    // each wrote, then say why.
                    if remaining > 0 && stopped_by.is_none() && failed.is_empty() {
                        for pid in alive.iter().flatten() {
                            send(*pid, SIGINT);
                        }
                    }
                }
            }
        }
    }
    if stopped_by == Some(StopSignal::HangUp) {
        super::run::detach_from_hung_up_terminal();
    }
    // The seconds not published yet: every worker has ended.
    if !seconds.is_empty() {
        poll.read();
        let stopping = interrupts > 0 || !failed.is_empty();
        let _ = seconds.publish(&mut poll, stopping, true);
    }
    let parts = crate::metrics::merge::worker_folders(dir);
    if parts.is_empty() {
        anyhow::bail!("no worker left a results folder; {}", failed.join("; "));
    }
    if parts.len() < n {
        failed.push(format!(
            "{} of {n} workers left no results folder: merged from the other {}",
            n - parts.len(),
            parts.len()
        ));
    }
    for f in &failed {
        eprintln!("warning: {f}");
    }
    let info = MergeInfo {
        id: dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        target: base_url.to_string(),
        max_users: plan.load.max_users() as u64,
        planned_duration_us: plan.load.duration().as_micros() as u64,
        scenario: plan.scenario_copy.clone(),
        shard: start.shard.clone(),
        shards: None,
    };
    let mut result = merge_runs(&parts, dir, info)
        .with_context(|| format!("merging the workers' folders into {}", dir.display()))?;
    if let Some(a) = audits.take() {
        let lh = tokio::task::spawn_blocking(move || a.finish(load_start)).await;
        result.lighthouse = lh.ok();
        let path = dir.join(crate::metrics::store::RESULT_FILE);
        crate::metrics::store::write_atomic(&path, &serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Why the run stopped: the signal this process got first, then any worker that died
    // (the exit code follows the first: see `exit::interrupted`).
    let why = match (stopped_by, failed.is_empty()) {
        (signal, false) => Some(StopReason::WorkerDied {
            signal,
            detail: failed.join("; "),
        }),
        (Some(signal), true) => Some(StopReason::Signal(signal)),
        (None, true) => seconds
            .failed
            .as_ref()
            .map(|e| StopReason::Other(format!("the run's harvest failed: {e}")))
            .or_else(|| start.stop.as_ref().and_then(|s| s.reason())),
    };
    if let Some(why) = why {
        result.run.status = RunStatus::Interrupted;
        result.run.stop_reason = Some(why);
        let path = dir.join(crate::metrics::store::RESULT_FILE);
        crate::metrics::store::write_atomic(&path, &serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    seconds.finish(&result)?;
    Ok(result)
}

/// The run's subscribers, and the seconds published to them.
struct Seconds {
    info: RunInfo,
    /// Until the workers' cells are known.
    waiting: Vec<Box<dyn Subscriber>>,
    publisher: Option<Publisher>,
    /// A subscriber's error: nothing more is published.
    failed: Option<EngineError>,
}

impl Seconds {
    fn new(info: RunInfo, subscribers: Vec<Box<dyn Subscriber>>) -> Seconds {
        Seconds {
            info,
            waiting: subscribers,
            publisher: None,
            failed: None,
        }
    }

    /// No subscriber listens.
    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.publisher.as_ref().is_none_or(Publisher::is_empty)
    }

    /// The publisher, made once the cells are known.
    fn publisher(&mut self, poll: &LiveParts) -> Option<&mut Publisher> {
        if self.publisher.is_none() {
            let mut acc = Accumulator::new(poll.cells()?.to_vec());
            if let Some(names) = poll.server_timing_names() {
                acc.set_server_timing_names(names.clone());
            }
            let subs = std::mem::take(&mut self.waiting);
            self.publisher = Some(Publisher::new(acc, self.info.clone(), subs));
        }
        self.publisher.as_mut()
    }

    /// Publish the seconds the workers have completed since the last call (`end`: the
    /// workers have ended, and the last of them is the run's last, stopping); `Err` once a
    /// subscriber failed (the failure is kept for the end).
    fn publish(&mut self, poll: &mut LiveParts, stopping: bool, end: bool) -> Result<(), ()> {
        if self.failed.is_some() {
            return Err(());
        }
        if self.is_empty() {
            return Ok(());
        }
        let done = poll.completed();
        if done.is_empty() {
            return Ok(());
        }
        let Some(p) = self.publisher(poll) else {
            return Ok(());
        };
        let last = done.len() - 1;
        for (i, s) in done.into_iter().enumerate() {
            let stopping = stopping || (end && i == last);
            let elapsed = Duration::from_micros(s.t_us + s.duration_us);
            let saturated = Busy::of(s.gauges.cpu_pct, s.gauges.sched_lag_us).any();
            let r = p.publish(
                s.t_us,
                s.duration_us,
                elapsed,
                &s.gauges,
                &s.data,
                saturated,
                stopping,
            );
            if let Err(e) = r {
                self.failed = Some(e);
                return Err(());
            }
        }
        Ok(())
    }

    /// The merged result to every subscriber; the first failure, if any.
    fn finish(mut self, result: &RunResult) -> anyhow::Result<()> {
        if let Some(e) = self.failed {
            return Err(anyhow::Error::new(e).context("publishing the run's seconds"));
        }
        if self.is_empty() {
            return Ok(());
        }
        let p = self.publisher.get_or_insert_with(|| {
            Publisher::new(
                Accumulator::new(result.cells.clone()),
                self.info.clone(),
                std::mem::take(&mut self.waiting),
            )
        });
        p.finish(result)
            .context("handing the merged result to the run's subscribers")
    }
}

/// Why a worker's exit is a failure, in words (`None` when it finished, or stopped on a
/// signal the parent passed on): killed by a signal, or an exit code with its last words.
fn failure(status: &std::io::Result<std::process::ExitStatus>, err: &str) -> Option<String> {
    let tail = || {
        let t: Vec<&str> = err.lines().rev().take(3).collect();
        if t.is_empty() {
            String::new()
        } else {
            format!(": {}", t.into_iter().rev().collect::<Vec<_>>().join(" / "))
        }
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return Some(format!("could not be waited for ({e})")),
    };
    if let Some(code) = status.code() {
        let stopped = [exit::OK, exit::INTERRUPTED, exit::TERMINATED, exit::HUNG_UP];
        return u8::try_from(code)
            .map_or(true, |c| !stopped.contains(&c))
            .then(|| format!("failed (exit {code}){}", tail()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return Some(format!("was killed by signal {sig}{}", signal_name(sig)));
        }
    }
    Some(format!("ended ({status}){}", tail()))
}

/// ` (SIGKILL)` for 9, and so on for the usual ones.
fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGHUP => " (SIGHUP)",
        SIGINT => " (SIGINT)",
        6 => " (SIGABRT)",
        SIGKILL => " (SIGKILL)",
        11 => " (SIGSEGV)",
        SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

// The POSIX numbers, as `kill -l` lists them.
const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// The signals that stop a run, as they reach this process: (number, which).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(&mut self) -> (i32, StopSignal) {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.int.recv() => (SIGINT, StopSignal::Interrupt),
                Some(()) = self.term.recv() => (SIGTERM, StopSignal::Terminate),
                Some(()) = self.hup.recv() => (SIGHUP, StopSignal::HangUp),
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            (SIGINT, StopSignal::Interrupt)
        }
    }
}

/// In a worker: stop (as on Ctrl-C) when the parent dies, so a parent killed with SIGKILL
/// leaves no worker running; their folders still get written.
pub fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid take no pointers.
    unsafe {
        let parent = libc::getppid();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
        // The parent may have died before the call.
        if libc::getppid() != parent {
            std::process::exit(130);
        }
    }
}

/// Send signal `sig` to worker `pid`.
fn send(pid: u32, sig: i32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid this process started and has not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
    #[cfg(not(unix))]
    let _ = (pid, sig);
}

/// The run's `result.json` before the workers start (`running`, with the run's facts and
/// `workers`), so `skein report DIR` can merge the workers' folders if this process dies.
fn write_initial(
    plan: &Plan,
    n: usize,
    base_url: &str,
    dir: &Path,
    start: &Start,
) -> anyhow::Result<RunInfo> {
    let id = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let started_at = start.at.unwrap_or_else(std::time::SystemTime::now);
    let run = RunInfo {
        workers: Some(n as u64),
        shard: start.shard.clone(),
        start: start.at.map(|at| crate::metrics::PlannedStart {
            at: rfc3339(at),
            lateness_us: 0,
            tolerance_us: start.strict.map(|d| d.as_micros() as u64),
            shards_lateness_us: Vec::new(),
        }),
        ..crate::engine::run_info(plan, &id, base_url, started_at)
    };
    let initial = crate::metrics::Accumulator::new(Vec::new()).finish(
        run.clone(),
        plan.scenario_copy.clone(),
        Vec::new(),
    );
    let path = dir.join(crate::metrics::store::RESULT_FILE);
    let bytes = serde_json::to_vec_pretty(&initial)?;
    crate::metrics::store::write_atomic(&path, &bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(run)
}

/// The run folder under `out`, even before its `result.json` is complete.
pub(super) fn run_folder_any(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::SystemTime;

    use super::*;
    use crate::engine::Second;
    use crate::metrics::accumulate::Gauges;
    use crate::metrics::{CellData, CellInfo, Hist, RunWriter};

    fn cells() -> Vec<CellInfo> {
        ["GET /a", "GET /b"]
            .iter()
            .enumerate()
            .map(|(id, step)| CellInfo {
                id,
                scenario: "s".into(),
                step: (*step).into(),
                method: "GET".into(),
                tag: format!("s/GET_/{id}"),
                checks: Vec::new(),
                tags: Vec::new(),
            })
            .collect()
    }

    /// A worker's run folder under `root/name`, as a worker writes it.
    fn part(root: &Path, name: &str) -> (PathBuf, RunWriter) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let initial =
            Accumulator::new(cells()).finish(RunInfo::blank(), serde_json::Value::Null, Vec::new());
        let w = RunWriter::create(&dir, &initial, SystemTime::now()).unwrap();
        (dir, w)
    }

    /// The samples of `worker`'s second `k` in cell `cell`: a few, different in each.
    fn samples(worker: u64, k: u64, cell: u64) -> Vec<u64> {
        let n = 5 + worker * 7 + k * 3 + cell * 11;
        (0..n)
            .map(|i| 100 + worker * 50_000 + k * 1_000 + cell * 333 + i * 97)
            .collect()
    }

    /// `worker` writes its second `k` (starting a few ms after the grid second) with
    /// `users` users.
    fn second(w: &mut RunWriter, worker: u64, k: u64, users: u64) {
        let mut data: Vec<CellData> = (0..2).map(|_| CellData::new(0)).collect();
        for (cell, d) in data.iter_mut().enumerate() {
            let s = samples(worker, k, cell as u64);
            for &us in &s {
                d.hist.record(us);
                d.service.record(us / 2);
            }
            d.requests = s.len() as u64;
            d.ok = s.len() as u64 - 1;
            d.errors[crate::metrics::ErrorKind::Timeout as usize] = 1;
            d.bytes = 10 * s.len() as u64;
        }
        let t_us = k * 1_000_000 + 2_000 + worker * 1_000;
        w.write_interval_with(t_us, 1_000_000, &Gauges::users(users), &data)
            .unwrap();
    }

    /// What a subscriber saw of one second.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        t_us: u64,
        users: u64,
        requests: Vec<u64>,
        timeouts: Vec<u64>,
        hists: Vec<Hist>,
        service: Vec<Hist>,
        point_requests: u64,
        total_requests: u64,
        layout: usize,
        stopping: bool,
    }

    #[derive(Default)]
    struct Log {
        seconds: Vec<Seen>,
        finished: Option<u64>,
    }

    /// Records what it is given; fails on the second `fail_at`, when set.
    struct Recorder {
        log: Arc<Mutex<Log>>,
        fail_at: Option<usize>,
    }

    impl Subscriber for Recorder {
        fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
            let mut log = self.log.lock().unwrap();
            if self.fail_at == Some(log.seconds.len()) {
                return Err(EngineError::Config("the exporter broke".into()));
            }
            log.seconds.push(Seen {
                t_us: s.t_us,
                users: s.gauges.users,
                requests: s.cells.iter().map(|c| c.requests).collect(),
                timeouts: s
                    .cells
                    .iter()
                    .map(|c| c.errors[crate::metrics::ErrorKind::Timeout as usize])
                    .collect(),
                hists: s.cells.iter().map(|c| c.hist.clone()).collect(),
                service: s.cells.iter().map(|c| c.service.clone()).collect(),
                point_requests: s.point.requests,
                total_requests: s.totals.overall().requests,
                layout: s.layout.len(),
                stopping: s.stopping,
            });
            Ok(())
        }

        fn finish(&mut self, result: &RunResult) -> Result<(), EngineError> {
            self.log.lock().unwrap().finished = Some(result.overall.requests);
            Ok(())
        }
    }

    /// Issue 16, the seam: a `--workers` run publishes its workers' seconds to the run's
    /// subscribers. Two workers write their folders second by second (one a second ahead
    /// of the other at times, the other ending two seconds early) and the parent reads them
    /// at any moment: each grid second is published once, in order, only once both have
    /// written it (or the slower has ended), with the counts of both added and histograms
    /// equal to one histogram fed every sample.
    #[test]
    fn issue16_workers_publish_each_merged_second_once_in_order() {
        let out = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let subs: Vec<Box<dyn Subscriber>> = vec![Box::new(Recorder {
            log: log.clone(),
            fail_at: None,
        })];
        let mut seconds = Seconds::new(RunInfo::blank(), subs);
        let mut poll = LiveParts::publishing(1_000_000);
        let (a_dir, mut a) = part(out.path(), "0");
        let (b_dir, mut b) = part(out.path(), "1");
        poll.add(&a_dir);
        poll.add(&b_dir);
        let published = |log: &Arc<Mutex<Log>>| log.lock().unwrap().seconds.len();
        // Worker 0 is ahead: nothing is complete before worker 1 has written a later second.
        second(&mut a, 0, 0, 3);
        second(&mut a, 0, 1, 3);
        poll.read();
        assert!(seconds.publish(&mut poll, false, false).is_ok());
        assert_eq!(published(&log), 0);
        second(&mut b, 1, 0, 4);
        poll.read();
        seconds.publish(&mut poll, false, false).unwrap();
        assert_eq!(published(&log), 0, "worker 1 may still write second 0");
        second(&mut b, 1, 1, 4);
        poll.read();
        seconds.publish(&mut poll, false, false).unwrap();
        assert_eq!(published(&log), 1);
        // Read twice with nothing new: nothing published twice.
        poll.read();
        seconds.publish(&mut poll, false, false).unwrap();
        assert_eq!(published(&log), 1);
        for k in 2..4 {
            second(&mut a, 0, k, 3);
            second(&mut b, 1, k, 4);
        }
        poll.read();
        seconds.publish(&mut poll, false, false).unwrap();
        assert_eq!(published(&log), 3);
        // Worker 1 ends after second 3; worker 0 goes on to second 5.
        poll.end(&b_dir);
        second(&mut a, 0, 4, 3);
        second(&mut a, 0, 5, 3);
        poll.read();
        seconds.publish(&mut poll, false, false).unwrap();
        assert_eq!(published(&log), 5);
        poll.end(&a_dir);
        poll.read();
        seconds.publish(&mut poll, false, true).unwrap();
        let result =
            Accumulator::new(cells()).finish(RunInfo::blank(), serde_json::Value::Null, Vec::new());
        seconds.finish(&result).unwrap();

        let log = log.lock().unwrap();
        assert_eq!(log.finished, Some(0));
        let ts: Vec<u64> = log.seconds.iter().map(|s| s.t_us).collect();
        assert_eq!(ts, (0..6).map(|k| k * 1_000_000).collect::<Vec<_>>());
        let mut total = 0;
        for (k, seen) in log.seconds.iter().enumerate() {
            let k = k as u64;
            let workers: &[u64] = if k < 4 { &[0, 1] } else { &[0] };
            assert_eq!(seen.layout, 2);
            assert_eq!(
                seen.stopping,
                k == 5,
                "only the run's last second is stopping"
            );
            assert_eq!(seen.users, if k < 4 { 7 } else { 3 }, "second {k}");
            for cell in 0..2u64 {
                let mut one = Hist::new();
                let mut half = Hist::new();
                let mut n = 0;
                for &w in workers {
                    for us in samples(w, k, cell) {
                        one.record(us);
                        half.record(us / 2);
                        n += 1;
                    }
                }
                let c = cell as usize;
                assert_eq!(seen.requests[c], n, "second {k} cell {cell}");
                assert_eq!(seen.timeouts[c], workers.len() as u64);
                assert_eq!(seen.hists[c], one, "second {k} cell {cell}");
                assert_eq!(seen.service[c], half, "second {k} cell {cell}");
            }
            let here: u64 = seen.requests.iter().sum();
            total += here;
            assert_eq!(seen.point_requests, here);
            assert_eq!(seen.total_requests, total, "the totals are the run so far");
        }
    }

    /// A subscriber's error: nothing more is published, and the end reports it.
    #[test]
    fn issue16_a_subscribers_error_stops_publishing_and_is_returned() {
        let out = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let subs: Vec<Box<dyn Subscriber>> = vec![Box::new(Recorder {
            log: log.clone(),
            fail_at: Some(1),
        })];
        let mut seconds = Seconds::new(RunInfo::blank(), subs);
        let mut poll = LiveParts::publishing(1_000_000);
        let (dir, mut w) = part(out.path(), "0");
        poll.add(&dir);
        for k in 0..3 {
            second(&mut w, 0, k, 1);
        }
        poll.end(&dir);
        poll.read();
        assert!(seconds.publish(&mut poll, false, false).is_err());
        assert!(seconds.publish(&mut poll, false, false).is_err());
        assert_eq!(log.lock().unwrap().seconds.len(), 1);
        let result =
            Accumulator::new(cells()).finish(RunInfo::blank(), serde_json::Value::Null, Vec::new());
        let err = seconds.finish(&result).unwrap_err();
        assert!(format!("{err:#}").contains("the exporter broke"), "{err:#}");
        assert_eq!(log.lock().unwrap().finished, None);
    }

    /// No subscribers: the reader keeps nothing whole and nothing is published.
    #[test]
    fn issue16_no_subscribers_publish_nothing() {
        let seconds = Seconds::new(RunInfo::blank(), Vec::new());
        assert!(seconds.is_empty());
        let mut poll = LiveParts::new(1_000_000);
        assert!(poll.completed().is_empty());
        assert!(poll.cells().is_none());
    }
}
