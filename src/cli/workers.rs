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
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::engine::Progress;
use crate::metrics::merge::{MergeInfo, WORKERS_DIR, merge_runs};
use crate::metrics::store::{JOURNAL_FILE, JournalLine};
use crate::metrics::{RunInfo, RunResult, TimePoint};
use crate::scenario::Plan;

/// This process's part when it runs as a worker (`--as-worker I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub index: usize,
    pub count: usize,
}

/// Parse `I/N` (0 <= I < N).
pub fn parse_role(s: &str) -> Result<Role, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected INDEX/COUNT, e.g. 0/4"))?;
    let index: usize = i.trim().parse().map_err(|_| format!("`{s}`: bad index"))?;
    let count: usize = n.trim().parse().map_err(|_| format!("`{s}`: bad count"))?;
    if count == 0 || index >= count {
        return Err(format!("`{s}`: the index must be below the count"));
    }
    Ok(Role { index, count })
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
) -> anyhow::Result<RunResult> {
    let exe = std::env::current_exe().context("finding the skein executable")?;
    write_initial(plan, n, base_url, dir)?;
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
            .arg("--worker-seed")
            .arg(seed.wrapping_add(i as u64).to_string())
            .stdin(Stdio::null())
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
    let pids: Vec<u32> = children.iter().filter_map(|c| c.id()).collect();
    // Each worker's exit and what it wrote on stderr, in worker order.
    let all = futures::future::join_all(children.into_iter().map(|mut c| async move {
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            let _ = e.read_to_string(&mut err).await;
        }
        (c.wait().await, err)
    }));
    tokio::pin!(all);
    let mut poll = Journals::new(&outs);
    let started = Instant::now();
    let planned = plan.load.duration();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut interrupts = 0;
    let statuses = loop {
        tokio::select! {
            done = &mut all => break done,
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                for &pid in &pids {
                    signal(pid);
                }
                if interrupts > 2 {
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
                    stopping: interrupts > 0,
                });
            }
        }
    };
    let mut failed = Vec::new();
    for (i, (status, err)) in statuses.into_iter().enumerate() {
        let ok = status
            .as_ref()
            .is_ok_and(|s| s.success() || s.code() == Some(130));
        if !ok {
            let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" / ");
            failed.push(format!("worker {i}: {status:?}: {tail}"));
        }
    }
    let parts = crate::metrics::merge::worker_folders(dir);
    if parts.len() != n {
        anyhow::bail!(
            "{} of {n} workers left no results folder; {}",
            n - parts.len(),
            failed.join("; ")
        );
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
    };
    let mut result = merge_runs(&parts, dir, info)
        .with_context(|| format!("merging the workers' folders into {}", dir.display()))?;
    if interrupts > 0 && result.run.stop_reason.is_none() {
        result.run.stop_reason = Some("interrupted (SIGINT)".into());
    }
    Ok(result)
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

fn signal(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid this process started; at worst it is gone (ESRCH).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
}

/// The run's `result.json` before the workers start (`running`, with the run's facts and
/// `workers`), so `skein report DIR` can merge the workers' folders if this process dies.
fn write_initial(plan: &Plan, n: usize, base_url: &str, dir: &Path) -> anyhow::Result<()> {
    let id = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let run = RunInfo {
        workers: Some(n as u64),
        ..crate::engine::run_info(plan, &id, base_url, std::time::SystemTime::now())
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

/// The workers' journals, read as they grow, for the live line.
struct Journals {
    outs: Vec<PathBuf>,
    offsets: Vec<u64>,
    last: Vec<JournalLine>,
    requests: u64,
    errors: u64,
}

impl Journals {
    fn new(outs: &[PathBuf]) -> Journals {
        Journals {
            outs: outs.to_vec(),
            offsets: vec![0; outs.len()],
            last: vec![JournalLine::default(); outs.len()],
            requests: 0,
            errors: 0,
        }
    }

    /// The latest second of all workers together, and the totals so far.
    fn read(&mut self) -> (TimePoint, u64, u64) {
        for (i, out) in self.outs.iter().enumerate() {
            let Some(path) = run_folder_any(out).map(|d| d.join(JOURNAL_FILE)) else {
                continue;
            };
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            if f.seek(SeekFrom::Start(self.offsets[i])).is_err() {
                continue;
            }
            let mut text = String::new();
            if f.read_to_string(&mut text).is_err() {
                continue;
            }
            // Only whole lines; a line being written is read next time.
            let whole = text.rfind('\n').map_or(0, |p| p + 1);
            self.offsets[i] += whole as u64;
            for line in text[..whole].lines() {
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
        (p, self.requests, self.errors)
    }
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

    #[test]
    fn roles_parse() {
        assert_eq!(parse_role("1/4"), Ok(Role { index: 1, count: 4 }));
        assert!(parse_role("4/4").is_err());
        assert!(parse_role("x").is_err());
        assert!(parse_role("0/0").is_err());
    }
}
