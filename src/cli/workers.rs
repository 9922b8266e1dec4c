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
//! A worker is the same command line with hidden options: `--as-worker I/N` and where to
//! send the load and write. The same share-and-merge carries a run across machines: run
//! the shares anywhere, copy the folders back, merge.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::exit;
use crate::engine::Progress;
use crate::metrics::live::{LiveParts, LiveTotals};
use crate::metrics::merge::{MergeInfo, WORKERS_DIR, merge_runs};
use crate::metrics::{RunInfo, RunResult, RunStatus, StopReason, StopSignal};
use crate::scenario::Plan;

/// A common start for the workers (`--start-at`), and the shard the run is (`--shard`).
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// When every worker starts its load; `None`: each when it is ready.
    pub at: Option<std::time::SystemTime>,
    /// `--strict-start`'s tolerance.
    pub strict: Option<Duration>,
    /// The marker of the shard this run is, written into the merged folder.
    pub shard: Option<crate::metrics::ShardInfo>,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How many workers to use: `--workers`, or one per available core, never more than the
/// plan's users (or its pool in the open model) and never more than 64.
pub fn count(plan: &Plan, asked: Option<usize>) -> usize {
    let users = plan.load.max_users().max(1);
    match asked {
        Some(n) => n.clamp(1, users),
        None => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(users)
            .min(64),
    }
}

/// Run `plan` as `n` worker processes against `base_url` and merge their folders into
/// `dir`. `progress` receives the summed journals each second.
pub async fn run(
    plan: &Plan,
    n: usize,
    base_url: &str,
    dir: &Path,
    seed: u64,
    progress: tokio::sync::watch::Sender<Progress>,
    start: &Start,
) -> anyhow::Result<RunResult> {
    let exe = std::env::current_exe().context("finding the skein executable")?;
    write_initial(plan, n, base_url, dir, start)?;
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
    let mut poll = LiveParts::new(1_000_000);
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
    while remaining > 0 {
        tokio::select! {
            Some((i, status, err)) = done_rx.recv() => {
                remaining -= 1;
                alive[i] = None;
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
                let _ = progress.send(Progress {
                    elapsed: started.elapsed(),
                    planned,
                    users: last.users,
                    last,
                    requests,
                    errors,
                    stopping: interrupts > 0 || !failed.is_empty(),
                });
            }
        }
    }
    if stopped_by == Some(StopSignal::HangUp) {
        super::run::detach_from_hung_up_terminal();
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
    // Why the run stopped: the signal this process got first, then any worker that died
    // (the exit code follows the first: see `exit::interrupted`).
    let why = match (stopped_by, failed.is_empty()) {
        (signal, false) => Some(StopReason::WorkerDied {
            signal,
            detail: failed.join("; "),
        }),
        (Some(signal), true) => Some(StopReason::Signal(signal)),
        (None, true) => None,
    };
    if let Some(why) = why {
        result.run.status = RunStatus::Interrupted;
        result.run.stop_reason = Some(why);
        let path = dir.join(crate::metrics::store::RESULT_FILE);
        crate::metrics::store::write_atomic(&path, &serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(result)
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
) -> anyhow::Result<()> {
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
        run,
        plan.scenario_copy.clone(),
        Vec::new(),
    );
    let path = dir.join(crate::metrics::store::RESULT_FILE);
    let bytes = serde_json::to_vec_pretty(&initial)?;
    crate::metrics::store::write_atomic(&path, &bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The run folder under `out`, even before its `result.json` is complete.
pub(super) fn run_folder_any(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
}
