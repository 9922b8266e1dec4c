//! `skein merge --watch DIR`: follow a run's shards while they run, from the shared volume
//! they write to. Each second it looks for `shard-*` folders, reads their `result.json`
//! (the run's id, shard count, common start and planned duration, and whether the shard has
//! ended) and sums their journals for the live line ([`crate::metrics::live`]); once every
//! shard of the count has ended (complete or interrupted) it merges them as `skein merge`
//! does. It gives up at its timeout (exit 2 naming the shards not ended, or with
//! `--allow-missing` merging those that did); a signal stops watching only: the shards are
//! not this process's to stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use super::{MergeArgs, join, merge_folders, shard_folders};
use crate::cli::{Invalid, console, exit};
use crate::engine::Progress;
use crate::metrics::live::{LiveParts, LiveTotals};
use crate::metrics::merge::WORKERS_DIR;
use crate::metrics::{RunInfo, RunStatus, store};

/// How long past the planned end `--watch` waits by default, and how long for a first shard.
const WATCH_GRACE: Duration = Duration::from_secs(300);

/// How `--watch` ended.
#[derive(Debug)]
enum Watched {
    /// Every shard ended.
    Ended,
    /// Stopped by a signal: the exit code.
    Stopped(u8),
    /// The time ran out with these shards' folders ended, and these shards not, in words;
    /// `waited`: how long, in words.
    TimedOut {
        ended: Vec<PathBuf>,
        pending: String,
        waited: String,
    },
}

/// `merge --watch DIR`: follow the run's shards until they have all ended, then merge them.
pub(super) fn watch(a: &MergeArgs) -> anyhow::Result<u8> {
    let [dir] = a.dirs.as_slice() else {
        return Err(Invalid(format!(
            "--watch follows one run's folder (<output>/<run-id>), not {}",
            a.dirs.len()
        ))
        .into());
    };
    let timeout = a
        .timeout
        .as_deref()
        .map(crate::cli::parse_duration)
        .transpose()?;
    let watched = crate::cli::runtime()?.block_on(follow(dir, timeout, a.quiet))?;
    match watched {
        Watched::Ended => merge_folders(a, shard_folders(std::slice::from_ref(dir))?),
        Watched::Stopped(code) => {
            eprintln!(
                "stopped watching {}: nothing merged; the shards go on (merge them later with \
                 `skein merge {}`)",
                dir.display(),
                dir.display()
            );
            Ok(code)
        }
        Watched::TimedOut {
            ended,
            pending,
            waited,
        } => {
            if !a.allow_missing || ended.is_empty() {
                let or = if ended.is_empty() {
                    "no shard has ended yet"
                } else {
                    "or merge the shards that ended with --allow-missing"
                };
                return Err(Invalid(format!(
                    "stopped watching {} after {waited}: {pending}; nothing merged\n  hint: \
                     merge later with `skein merge {}`, {or}",
                    dir.display(),
                    dir.display()
                ))
                .into());
            }
            eprintln!(
                "warning: stopped watching {} after {waited}: {pending}; merging the {} that \
                 ended",
                dir.display(),
                ended.len()
            );
            merge_folders(a, ended)
        }
    }
}

/// A shard's `result.json` as `--watch` reads it: the run's facts.
#[derive(serde::Deserialize)]
struct Head {
    run: RunInfo,
}

impl Head {
    fn read(dir: &Path) -> Option<Head> {
        let bytes = std::fs::read(dir.join(store::RESULT_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn ended(&self) -> bool {
        self.run.status != RunStatus::Running
    }

    /// When its load starts: the common start, else its own.
    fn start(&self) -> Option<SystemTime> {
        let at = self
            .run
            .start
            .as_ref()
            .map_or(&self.run.started_at, |s| &s.at);
        chrono::DateTime::parse_from_rfc3339(at)
            .ok()
            .map(Into::into)
    }
}

/// The shards under a run's folder, as last read.
#[derive(Default)]
struct Shards {
    /// By folder: its `result.json` once there (reread until it says the shard ended).
    seen: BTreeMap<PathBuf, Option<Head>>,
}

impl Shards {
    /// Look for new `shard-*` folders under `dir`, and reread the heads of those running.
    fn scan(&mut self, dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                let shard = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(crate::cli::shard::SHARD_PREFIX));
                if shard && p.is_dir() {
                    self.seen.entry(p).or_default();
                }
            }
        }
        for (dir, head) in &mut self.seen {
            if !head.as_ref().is_some_and(Head::ended) {
                *head = Head::read(dir).or(head.take());
            }
        }
    }

    fn heads(&self) -> impl Iterator<Item = (&PathBuf, &Head)> {
        self.seen.iter().filter_map(|(d, h)| Some((d, h.as_ref()?)))
    }

    /// The first shard that has a head: the run's id, count, cells and clock come from it.
    fn first(&self) -> Option<&Head> {
        self.heads().map(|(_, h)| h).find(|h| h.run.shard.is_some())
    }

    /// How many shards the run has (from their markers).
    fn count(&self) -> Option<u64> {
        self.first()?.run.shard.as_ref().map(|m| m.count)
    }

    fn running(&self) -> usize {
        self.heads().filter(|(_, h)| !h.ended()).count()
    }

    /// Every shard of the run has ended.
    fn all_ended(&self) -> bool {
        let Some(count) = self.count() else {
            return false;
        };
        let mut ended = vec![false; count as usize];
        for (_, h) in self.heads() {
            if !h.ended() {
                return false;
            }
            if let Some(slot) = h
                .run
                .shard
                .as_ref()
                .and_then(|m| ended.get_mut(m.index as usize))
            {
                *slot = true;
            }
        }
        ended.iter().all(|e| *e)
    }

    /// The folders of the shards that ended.
    fn ended(&self) -> Vec<PathBuf> {
        self.heads()
            .filter(|(_, h)| h.ended())
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// The shards not ended, in words: `shard 1 of 2 still running (DIR/shard-1); shard 2
    /// never started`.
    fn pending(&self) -> String {
        let Some(count) = self.count() else {
            return match self.seen.len() {
                0 => "no shard folder appeared".to_string(),
                _ => format!(
                    "no shard wrote its result.json ({})",
                    self.seen
                        .keys()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        };
        let mut words = Vec::new();
        let mut there = vec![false; count as usize];
        for (dir, h) in self.heads() {
            let Some(m) = &h.run.shard else { continue };
            if let Some(slot) = there.get_mut(m.index as usize) {
                *slot = true;
            }
            if !h.ended() {
                words.push(format!(
                    "shard {} of {count} still running ({})",
                    m.index,
                    dir.display()
                ));
            }
        }
        let missing: Vec<u64> = (0..count).filter(|i| !there[*i as usize]).collect();
        if !missing.is_empty() {
            words.push(format!(
                "{} {} of {count} never started",
                if missing.len() == 1 {
                    "shard"
                } else {
                    "shards"
                },
                join(&missing)
            ));
        }
        words.join("; ")
    }

    /// The run folders the shards' measurements are being written to: a shard's own folder,
    /// or with `--workers` its workers' (the shard's own journal is their merge, at its end).
    fn parts(&self) -> Vec<PathBuf> {
        let mut parts = Vec::new();
        for dir in self.seen.keys() {
            let workers = dir.join(WORKERS_DIR);
            if let Ok(entries) = std::fs::read_dir(&workers) {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter_map(|w| crate::cli::workers::run_folder_any(&w))
                    .collect();
                found.sort();
                parts.extend(found);
            } else if dir.join(store::JOURNAL_FILE).is_file() {
                parts.push(dir.clone());
            }
        }
        parts
    }

    /// The note after the live figures: `2 of 3 shards running, 1 ended`, and before the
    /// common start when it is (a note that changes only when the shards do).
    fn note(&self, now: SystemTime) -> String {
        let count = self.count().unwrap_or(0);
        let mut note = format!("{} of {count} shards running", self.running());
        let ended = self.heads().filter(|(_, h)| h.ended()).count();
        if ended > 0 {
            note.push_str(&format!(", {ended} ended"));
        }
        if let Some(first) = self.first()
            && first.start().is_some_and(|s| s > now)
        {
            let at = first
                .run
                .start
                .as_ref()
                .map_or(&first.run.started_at, |s| &s.at);
            note.push_str(&format!(", the load starts at {at}"));
        }
        note
    }

    /// When watching stops without every shard ended: `timeout` after `began`, else 5 min
    /// past the planned end (5 min after `began` while no shard has said when that is).
    fn deadline(&self, began: SystemTime, timeout: Option<Duration>) -> SystemTime {
        if let Some(t) = timeout {
            return began + t;
        }
        let end = self
            .first()
            .and_then(|h| Some(h.start()? + Duration::from_micros(h.run.planned_duration_us)));
        end.unwrap_or(began) + WATCH_GRACE
    }
}

/// The signals that stop watching, as an exit code: SIGINT 130, SIGTERM 143.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn recv(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.int.recv() => exit::INTERRUPTED,
                Some(()) = self.term.recv() => exit::TERMINATED,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            exit::INTERRUPTED
        }
    }
}

/// Follow the shards under `dir` each second: their summed live figures on the console,
/// until they have all ended, a signal, or the deadline.
async fn follow(dir: &Path, timeout: Option<Duration>, quiet: bool) -> anyhow::Result<Watched> {
    let began = SystemTime::now();
    let mut signals = StopSignals::new().context("listening for signals")?;
    if !quiet {
        eprintln!(
            "watching {} for shard folders; Ctrl-C stops watching, not the shards",
            dir.display()
        );
    }
    let mut shards = Shards::default();
    // The live figures, once a shard has said what the run is.
    let mut live: Option<(LiveParts, console::Live, tokio::sync::watch::Sender<_>)> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let watched = loop {
        tokio::select! {
            code = signals.recv() => break Watched::Stopped(code),
            _ = tick.tick() => {}
        }
        shards.scan(dir);
        let now = SystemTime::now();
        if live.is_none()
            && let Some(first) = shards.first()
        {
            let (tx, rx) = tokio::sync::watch::channel((Progress::default(), String::new()));
            let marker = first.run.shard.as_ref();
            let name = marker.map_or(first.run.name.as_str(), |m| m.run_id.as_str());
            let planned = Duration::from_micros(first.run.planned_duration_us);
            let console = console::Live::start_named(rx, quiet, name, planned, &first.run.target);
            let interval_us = marker.map_or(1_000_000, |m| m.interval_us);
            live = Some((LiveParts::new(interval_us), console, tx));
        }
        if let Some((parts, _, tx)) = &mut live {
            for p in shards.parts() {
                parts.add(&p);
            }
            let LiveTotals {
                last,
                requests,
                errors,
            } = parts.read();
            let first = shards.first();
            let _ = tx.send((
                Progress {
                    elapsed: first
                        .and_then(Head::start)
                        .and_then(|s| now.duration_since(s).ok())
                        .unwrap_or_default(),
                    planned: Duration::from_micros(first.map_or(0, |h| h.run.planned_duration_us)),
                    users: last.users,
                    last,
                    requests,
                    errors,
                    stopping: false,
                },
                shards.note(now),
            ));
        }
        if shards.all_ended() {
            break Watched::Ended;
        }
        if now >= shards.deadline(began, timeout) {
            break Watched::TimedOut {
                ended: shards.ended(),
                pending: shards.pending(),
                waited: match (timeout, shards.first()) {
                    (Some(t), _) => format!("{} s", t.as_secs_f64()),
                    (None, Some(_)) => "5 min past the planned end".into(),
                    (None, None) => "5 min".into(),
                },
            };
        }
    };
    if let Some((_, console, _)) = live {
        console.finish().await;
    }
    Ok(watched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;

    fn shard(index: u64, count: u64, run_id: &str, hash: &str) -> metrics::RunResult {
        super::super::tests::shard_result(index, count, run_id, hash)
    }

    /// Issue 15, `merge --watch`: the shards' states as their folders and `result.json`s
    /// appear; every shard must have ended, the count comes from the markers, and what is
    /// not ended is named.
    #[test]
    fn issue15_watch_knows_which_shards_ended() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("t");
        let write = |index: u64, status: RunStatus| {
            let mut r = shard(index, 3, "t", "h");
            r.run.status = status;
            let dir = run.join(format!("shard-{index}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(store::RESULT_FILE),
                serde_json::to_vec(&r).unwrap(),
            )
            .unwrap();
        };
        let mut shards = Shards::default();
        shards.scan(&run);
        assert_eq!(
            (shards.count(), shards.all_ended()),
            (None, false),
            "nothing there yet"
        );
        assert_eq!(shards.pending(), "no shard folder appeared");
        write(0, RunStatus::Complete);
        write(2, RunStatus::Running);
        // A folder whose result.json is not written yet.
        std::fs::create_dir_all(run.join("shard-1")).unwrap();
        std::fs::create_dir_all(run.join("other")).unwrap();
        shards.scan(&run);
        let now = SystemTime::now();
        assert_eq!(shards.count(), Some(3));
        assert!(!shards.all_ended());
        assert_eq!(shards.note(now), "1 of 3 shards running, 1 ended");
        assert_eq!(
            shards.pending(),
            format!(
                "shard 2 of 3 still running ({}); shard 1 of 3 never started",
                run.join("shard-2").display()
            )
        );
        assert_eq!(shards.ended(), vec![run.join("shard-0")]);
        write(1, RunStatus::Interrupted);
        write(2, RunStatus::Complete);
        shards.scan(&run);
        assert!(shards.all_ended());
        assert_eq!(shards.note(now), "0 of 3 shards running, 3 ended");
        let began = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            shards.deadline(began, Some(Duration::from_secs(3))),
            began + Duration::from_secs(3)
        );
    }
}
