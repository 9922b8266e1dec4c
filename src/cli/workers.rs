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

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::exit;
use crate::engine::Progress;
use crate::metrics::merge::{MergeInfo, WORKERS_DIR, merge_runs};
use crate::metrics::store::{HLOG_FILE, HistKind, JOURNAL_FILE, JournalLine, split_tag};
use crate::metrics::{Hist, RunInfo, RunResult, RunStatus, StopReason, StopSignal, TimePoint};
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
    let mut poll = Journals::new(&outs, plan);
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
                let (last, requests, errors) = poll.read();
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

/// The workers' journals and interval logs, read as they grow, for the live line: the
/// counts of each worker's latest second added, and its response-time histograms merged
/// exactly (HDR histograms add without loss), so the live percentiles are those of all the
/// workers' requests.
struct Journals {
    outs: Vec<PathBuf>,
    offsets: Vec<u64>,
    last: Vec<JournalLine>,
    requests: u64,
    errors: u64,
    /// How far each worker's interval log has been read.
    hlog_offsets: Vec<u64>,
    /// Each worker's latest second in its interval log: its start (ms) and the response
    /// times of its requests.
    latest: Vec<Option<(u64, Hist)>>,
    /// Interval-log tags of the cells whose samples are requests (page views are not).
    request_tags: HashSet<String>,
}

impl Journals {
    fn new(outs: &[PathBuf], plan: &Plan) -> Journals {
        Journals {
            outs: outs.to_vec(),
            offsets: vec![0; outs.len()],
            last: vec![JournalLine::default(); outs.len()],
            requests: 0,
            errors: 0,
            hlog_offsets: vec![0; outs.len()],
            latest: vec![None; outs.len()],
            request_tags: crate::engine::cells(plan)
                .into_iter()
                .filter(|c| !c.is_page())
                .map(|c| c.tag)
                .collect(),
        }
    }

    /// Read what worker `i` added to its interval log since the last call.
    fn read_hlog(&mut self, i: usize, dir: &Path) {
        let Some(text) = read_whole_lines(&dir.join(HLOG_FILE), &mut self.hlog_offsets[i]) else {
            return;
        };
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("Tag=") else {
                continue;
            };
            let mut fields = rest.splitn(5, ',');
            let (Some(tag), Some(start), Some(_), Some(_), Some(b64)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let Some((cell, HistKind::Response)) = split_tag(tag) else {
                continue;
            };
            let (Ok(start), true) = (start.parse::<f64>(), self.request_tags.contains(cell)) else {
                continue;
            };
            let Ok(h) = Hist::from_base64(b64) else {
                continue;
            };
            let ms = (start * 1000.0).round() as u64;
            match &mut self.latest[i] {
                Some((at, sum)) if *at == ms => sum.add(&h),
                Some((at, _)) if *at > ms => {}
                slot => *slot = Some((ms, h)),
            }
        }
    }

    /// The latest second of all workers together, and the totals so far.
    fn read(&mut self) -> (TimePoint, u64, u64) {
        for i in 0..self.outs.len() {
            let Some(dir) = run_folder_any(&self.outs[i]) else {
                continue;
            };
            self.read_hlog(i, &dir);
            let Some(text) = read_whole_lines(&dir.join(JOURNAL_FILE), &mut self.offsets[i]) else {
                continue;
            };
            for line in text.lines() {
                if let Ok(j) = serde_json::from_str::<JournalLine>(line) {
                    for c in &j.cells {
                        self.requests += c.requests;
                        self.errors += c.errors.values().sum::<u64>() + c.check_failed;
                    }
                    self.last[i] = j;
                }
            }
        }
        let mut p = TimePoint::default();
        for j in &self.last {
            p.users += j.users;
            for c in &j.cells {
                p.requests += c.requests;
                p.errors += c.errors.values().sum::<u64>();
                p.check_failed += c.check_failed;
            }
            p.duration_us = p.duration_us.max(j.duration_us);
        }
        if p.duration_us > 0 {
            p.rps = p.requests as f64 * 1e6 / p.duration_us as f64;
        }
        // The workers' latest second: the newest interval any worker wrote, and each other
        // worker's at about the same time (they start within milliseconds of each other);
        // a worker that has finished, or had no response lately, adds nothing old.
        let newest = self.latest.iter().flatten().map(|(at, _)| *at).max();
        let mut h = Hist::new();
        for (at, latest) in self.latest.iter().flatten() {
            if newest.is_some_and(|n| at + 500 >= n) {
                h.add(latest);
            }
        }
        p.mean_us = h.mean().round() as u64;
        p.p50_us = h.quantile(0.5);
        p.p90_us = h.quantile(0.9);
        p.p95_us = h.quantile(0.95);
        p.p99_us = h.quantile(0.99);
        p.max_us = h.max();
        (p, self.requests, self.errors)
    }
}

/// The whole lines added to `path` since `offset` (which moves past them); a line being
/// written is read next time.
fn read_whole_lines(path: &Path, offset: &mut u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(*offset)).ok()?;
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    let whole = text.rfind('\n').map_or(0, |p| p + 1);
    *offset += whole as u64;
    text.truncate(whole);
    Some(text)
}

/// The run folder under `out`, even before its `result.json` is complete.
fn run_folder_any(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12, defect 3: with several workers the live line showed p95 `0µs`. Two
    /// workers' folders as they write them, one second each: the live percentiles are those
    /// of both workers' requests merged.
    #[test]
    fn issue12_live_percentiles_merge_the_workers_histograms() {
        use crate::metrics::accumulate::{Accumulator, Gauges};
        use crate::metrics::{CellData, RunWriter};
        let plan = crate::scenario::quick(
            "http://127.0.0.1:9/x",
            Some(2),
            Duration::from_secs(1),
            None,
            None,
        )
        .unwrap();
        let cells = crate::engine::cells(&plan);
        let out = tempfile::tempdir().unwrap();
        let mut outs = Vec::new();
        for (i, us) in [(0, 1_000u64), (1, 100_000)] {
            let o = out.path().join(i.to_string());
            let dir = o.join("run");
            std::fs::create_dir_all(&dir).unwrap();
            let info = crate::engine::run_info(
                &plan,
                "run",
                "http://127.0.0.1:9",
                std::time::SystemTime::now(),
            );
            let initial =
                Accumulator::new(cells.clone()).finish(info, serde_json::Value::Null, Vec::new());
            let mut w = RunWriter::create(&dir, &initial, std::time::SystemTime::now()).unwrap();
            let mut data: Vec<CellData> = cells
                .iter()
                .map(|c| CellData::new(c.checks.len()))
                .collect();
            for _ in 0..100 {
                data[0].hist.record(us);
                data[0].service.record(us);
            }
            data[0].requests = 100;
            data[0].ok = 100;
            w.write_interval_with(0, 1_000_000, &Gauges::users(1), &data)
                .unwrap();
            outs.push(o);
        }
        let mut j = Journals::new(&outs, &plan);
        let (p, requests, errors) = j.read();
        assert_eq!((requests, errors, p.requests, p.users), (200, 0, 200, 2));
        // Half the samples at 1 ms, half at 100 ms: p95 and p99 are the slow worker's.
        assert!((99_000..=100_100).contains(&p.p95_us), "{p:?}");
        assert!((99_000..=100_100).contains(&p.p99_us), "{p:?}");
        assert!((990..=1_001).contains(&p.p50_us), "{p:?}");
        assert!((50_000..=51_000).contains(&p.mean_us), "{p:?}");
    }
}
