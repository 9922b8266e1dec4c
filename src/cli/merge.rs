//! `skein merge DIR...`: the shard folders of one run (`run --shard I/N`), from however many
//! machines, merged into one results folder: histograms and counters added exactly, seconds
//! aligned on the common clock, the targets judged once on the merged figures, every report
//! written, and the exit code the merged verdict's.
//!
//! `--watch` follows the shards while they run, on the shared volume they write to: their
//! combined live figures from their journals ([`crate::metrics::live`]), until every shard's
//! `result.json` says it has ended; then it merges as without it.

mod watch;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{Invalid, console};
use crate::metrics::merge::{MergeInfo, merge_runs};
use crate::metrics::{self, MergedShards, RunResult, RunStatus, ShardInfo, StopReason, store};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// A run's folder holding its `shard-<i>` folders (`<output>/<run-id>`), or shard folders
    /// themselves; several may be given (folders copied back from several machines).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged run's results and reports go [default: the shards' common parent,
    /// `<output>/<run-id>`].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Merge the shards that are there when some are missing (a machine that failed), and
    /// say so in every report; without it a missing shard is an error (exit 2).
    #[arg(long)]
    pub allow_missing: bool,
    /// A file with a `targets:` list, judged on the merged run on top of the shards' own.
    #[arg(long, value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// Exit 1 when a shard's load generator was saturated (as `run --fail-on-saturation`).
    #[arg(long)]
    pub fail_on_saturation: bool,
    /// Follow the shards while they run (DIR is the run's folder, `<output>/<run-id>`, and
    /// need not exist yet): their combined live figures, then, once every shard has ended,
    /// the merge. Ctrl-C stops watching (not the shards) and merges nothing.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: give up after this long (exit 2 naming the shards still running, or
    /// with --allow-missing merge those that ended) [default: 5 min past the planned end].
    #[arg(long, value_name = "DURATION", requires = "watch", value_parser = super::duration_arg)]
    pub timeout: Option<String>,
    /// With --watch: no live progress.
    #[arg(long, short = 'q', requires = "watch")]
    pub quiet: bool,
}

pub fn merge(a: &MergeArgs) -> anyhow::Result<u8> {
    if a.watch {
        return watch::watch(a);
    }
    merge_folders(a, shard_folders(&a.dirs)?)
}

/// Merge the shard folders `folders` as `a` says.
fn merge_folders(a: &MergeArgs, folders: Vec<PathBuf>) -> anyhow::Result<u8> {
    let mut shards = Vec::with_capacity(folders.len());
    for dir in folders {
        let r = super::report::read_run(&dir)?;
        shards.push((dir, r));
    }
    let plan = check_shards(&shards, a.allow_missing)?;
    shards.sort_by_key(|(_, r)| r.run.shard.as_ref().map_or(0, |s| s.index));
    let mut targets = same_targets(&shards)?;
    for f in &a.targets {
        for t in crate::scenario::load_targets(f).map_err(super::run::invalid)? {
            targets.push(t.target);
        }
    }
    let out = match &a.output {
        Some(o) => o.clone(),
        None => common_parent(&shards)?,
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if out.join(store::RESULT_FILE).exists() {
        eprintln!(
            "note: {} held a merged run already: merged again",
            out.display()
        );
    }
    store::write_targets(&out, &targets)?;
    let (_, first) = &shards[0];
    let mut hosts_differ = false;
    let target = if shards.iter().all(|(_, r)| r.run.target == first.run.target) {
        first.run.target.clone()
    } else {
        hosts_differ = true;
        let mut all: Vec<String> = shards.iter().map(|(_, r)| r.run.target.clone()).collect();
        all.dedup();
        all.join(", ")
    };
    if hosts_differ {
        eprintln!("warning: the shards sent their load to different URLs: {target}");
    }
    let info = MergeInfo {
        id: plan.run_id.clone(),
        target,
        max_users: shards.iter().map(|(_, r)| r.run.max_users).sum(),
        planned_duration_us: first.run.planned_duration_us,
        scenario: first.scenario.clone(),
        shard: None,
        shards: Some(plan),
    };
    let parts: Vec<PathBuf> = shards.iter().map(|(d, _)| d.clone()).collect();
    let result = merge_runs(&parts, &out, info)
        .with_context(|| format!("merging the shards into {}", out.display()))?;
    console::print_summary(&result, &out);
    if let Some(m) = &result.run.shards
        && !m.missing.is_empty()
    {
        eprintln!(
            "warning: merged {} of {} shards; missing: {} (their part of the load is not in \
             these figures)",
            m.merged.len(),
            m.count,
            join(&m.missing)
        );
    }
    if let (Some(start), Some(m)) = (&result.run.start, &result.run.shards) {
        for (index, late) in m.merged.iter().zip(&start.shards_lateness_us) {
            // Beyond a tenth of a second a shard's first seconds ran short of users.
            if *late >= 100_000 {
                eprintln!(
                    "warning: shard {index} started {:.3} s after --start-at {}: it joined the \
                     run late (closed model: its users already due started together; open \
                     model: the iterations it missed count as dropped)",
                    *late as f64 / 1e6,
                    start.at
                );
            }
        }
    }
    let verdict = super::run::judge_and_report(&out, &result, &targets, None)?;
    let saturated = console::print_saturation(&result, a.fail_on_saturation);
    // A shard that did not run its part (stopped by a signal, late under --strict-start, or
    // still `running`: dead, or not finished yet) leaves the run short of its load: a
    // runtime failure whatever the verdict, as a `--workers` worker that died.
    let short: Vec<String> = shards
        .iter()
        .filter_map(|(dir, r)| {
            let why = r.run.stop_reason.as_ref()?;
            let own_rule = matches!(
                why,
                StopReason::TargetFailed { .. } | StopReason::EarlyStop { .. }
            );
            (r.run.status == RunStatus::Interrupted && !own_rule).then(|| {
                let index = r.run.shard.as_ref().map_or(0, |s| s.index);
                format!("shard {index} ({}): {why}", dir.display())
            })
        })
        .collect();
    if !short.is_empty() {
        for s in &short {
            eprintln!("warning: {s}");
        }
        eprintln!(
            "error: {} of {} shards did not run their part to the end: the merged figures \
             lack part of the load",
            short.len(),
            shards.len()
        );
        return Ok(super::exit::RUNTIME);
    }
    Ok(super::run::exit_code(&result, &verdict, false, saturated))
}

/// Every shard folder under `dirs`: a folder with a `result.json` is one; otherwise its
/// `shard-*` subfolders are.
fn shard_folders(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, Invalid> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join(store::RESULT_FILE).is_file() && !has_shards(d) {
            out.push(d.clone());
            continue;
        }
        let entries = std::fs::read_dir(d)
            .map_err(|e| Invalid(format!("cannot read {}: {e}", d.display())))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(super::shard::SHARD_PREFIX))
                    && p.is_dir()
            })
            .collect();
        if found.is_empty() {
            return Err(Invalid(format!(
                "{}: no shard folders in it (expected a run's folder holding shard-<i> \
                 folders written by `skein run --shard`, or a shard folder)",
                d.display()
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// A merged run's folder holds `result.json` and its shards' folders.
fn has_shards(d: &Path) -> bool {
    std::fs::read_dir(d).is_ok_and(|mut it| {
        it.any(|e| {
            e.ok().is_some_and(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(super::shard::SHARD_PREFIX))
            })
        })
    })
}

/// Do `shards` belong to one run? The same run id, plan, histogram settings, count and
/// Skein version, each index once, none missing (unless `allow_missing`). Returns the
/// merged run's record of them.
pub fn check_shards(
    shards: &[(PathBuf, RunResult)],
    allow_missing: bool,
) -> Result<MergedShards, Invalid> {
    let marker = |(dir, r): &(PathBuf, RunResult)| -> Result<ShardInfo, Invalid> {
        r.run.shard.clone().ok_or_else(|| {
            Invalid(format!(
                "{}: not a shard's folder (its result.json has no `run.shard`: it was not run \
                 with --shard)",
                dir.display()
            ))
        })
    };
    let (first_dir, first_result) = &shards[0];
    let first = marker(&shards[0])?;
    let mut seen: Vec<Option<&Path>> = vec![None; first.count as usize];
    let mut merged = Vec::new();
    let mut folders = Vec::new();
    let mut hosts = Vec::new();
    for s in shards {
        let (dir, r) = s;
        let m = marker(s)?;
        let differs = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
            Invalid(format!(
                "{} does not belong with {}: {what} `{a}`, not `{b}`",
                dir.display(),
                first_dir.display()
            ))
        };
        if m.run_id != first.run_id {
            return Err(differs("run id", &m.run_id, &first.run_id));
        }
        if m.count != first.count {
            return Err(differs("shard count", &m.count, &first.count));
        }
        if m.scenario_hash != first.scenario_hash {
            return Err(differs(
                "plan (scenario, load, feeders or targets; hash)",
                &m.scenario_hash,
                &first.scenario_hash,
            ));
        }
        if m.histogram != first.histogram || m.interval_us != first.interval_us {
            return Err(differs(
                "histogram settings",
                &format!("{:?}, {} µs intervals", m.histogram, m.interval_us),
                &format!("{:?}, {} µs intervals", first.histogram, first.interval_us),
            ));
        }
        if r.tool.version != first_result.tool.version {
            return Err(differs(
                "Skein version",
                &r.tool.version,
                &first_result.tool.version,
            ));
        }
        let Some(slot) = seen.get_mut(m.index as usize) else {
            return Err(differs(
                "shard index",
                &m.index,
                &format!("below {}", m.count),
            ));
        };
        if let Some(other) = slot {
            return Err(Invalid(format!(
                "shard {} of run `{}` is there twice: {} and {}",
                m.index,
                m.run_id,
                other.display(),
                dir.display()
            )));
        }
        *slot = Some(dir.as_path());
        merged.push(m.index);
        folders.push(dir.display().to_string());
        hosts.push(r.run.generator.hostname.clone());
    }
    let seeds: std::collections::BTreeSet<u64> = shards
        .iter()
        .filter_map(|(_, r)| r.run.shard.as_ref().map(|m| m.seed))
        .collect();
    if seeds.len() > 1 {
        eprintln!(
            "warning: the shards ran with different seeds ({}): their users' random numbers \
             are not those of one process (give every shard the same --seed, or none)",
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let starts: std::collections::BTreeSet<Option<&str>> = shards
        .iter()
        .map(|(_, r)| r.run.start.as_ref().map(|s| s.at.as_str()))
        .collect();
    if starts.len() > 1 {
        eprintln!(
            "warning: the shards did not share one --start-at: their seconds are matched by \
             position, and a second may mix moments apart"
        );
    }
    let missing: Vec<u64> = (0..first.count)
        .filter(|i| seen[*i as usize].is_none())
        .collect();
    if !missing.is_empty() && !allow_missing {
        return Err(Invalid(format!(
            "run `{}` has {} shards; missing: {} (found {})\n  hint: copy every shard's folder \
             here, or merge what there is with --allow-missing",
            first.run_id,
            first.count,
            join(&missing),
            join(&merged)
        )));
    }
    let mut order: Vec<usize> = (0..merged.len()).collect();
    order.sort_by_key(|&k| merged[k]);
    Ok(MergedShards {
        run_id: first.run_id,
        count: first.count,
        merged: order.iter().map(|&k| merged[k]).collect(),
        missing,
        folders: order.iter().map(|&k| folders[k].clone()).collect(),
        hosts: order.iter().map(|&k| hosts[k].clone()).collect(),
    })
}

/// The targets every shard was judged by: the same in each (they come from the plan, whose
/// hash matched), read from the first.
fn same_targets(shards: &[(PathBuf, RunResult)]) -> Result<Vec<metrics::verdict::Target>, Invalid> {
    let read = |dir: &Path| {
        store::read_targets(dir).map_err(|e| {
            Invalid(format!(
                "{}: cannot read the shard's targets: {e}",
                dir.display()
            ))
        })
    };
    let first = read(&shards[0].0)?;
    for (dir, _) in &shards[1..] {
        if read(dir)? != first {
            return Err(Invalid(format!(
                "{}: its targets differ from {}'s",
                dir.display(),
                shards[0].0.display()
            )));
        }
    }
    Ok(first)
}

/// The folder that holds every shard's folder (`<output>/<run-id>`).
fn common_parent(shards: &[(PathBuf, RunResult)]) -> Result<PathBuf, Invalid> {
    let parents: Vec<PathBuf> = shards
        .iter()
        .map(|(d, _)| {
            let d = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            d.parent().map(Path::to_path_buf).unwrap_or(d)
        })
        .collect();
    if parents.windows(2).all(|w| w[0] == w[1]) {
        return Ok(parents[0].clone());
    }
    Err(Invalid(
        "the shard folders are in different folders: say where the merged run goes with -o DIR"
            .into(),
    ))
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u64, count: u64, run_id: &str, hash: &str) -> (PathBuf, RunResult) {
        let r = shard_result(index, count, run_id, hash);
        (PathBuf::from(format!("r/shard-{index}")), r)
    }

    /// A shard's result with nothing measured: its marker only (also for `watch`'s tests).
    pub(super) fn shard_result(index: u64, count: u64, run_id: &str, hash: &str) -> RunResult {
        let mut r = metrics::Accumulator::new(Vec::new()).finish(
            metrics::RunInfo::blank(),
            serde_json::Value::Null,
            Vec::new(),
        );
        r.run.shard = Some(ShardInfo {
            index,
            count,
            run_id: run_id.into(),
            scenario_hash: hash.into(),
            histogram: metrics::HistogramSettings::CURRENT,
            seed: 7,
            interval_us: 1_000_000,
        });
        r
    }

    #[test]
    fn issue15_shards_must_belong_together() {
        let ok = [
            shard(1, 3, "t", "h"),
            shard(0, 3, "t", "h"),
            shard(2, 3, "t", "h"),
        ];
        let m = check_shards(&ok, false).unwrap();
        assert_eq!(
            (m.merged.clone(), m.missing.clone()),
            (vec![0, 1, 2], vec![])
        );
        assert_eq!(m.folders[0], "r/shard-0");
        let cases: Vec<(Vec<(PathBuf, RunResult)>, &str)> = vec![
            (
                vec![shard(0, 2, "t", "h"), shard(1, 2, "u", "h")],
                "run id `u`, not `t`",
            ),
            (
                vec![shard(0, 2, "t", "h"), shard(1, 2, "t", "x")],
                "hash)` x`",
            ),
            (
                vec![shard(0, 2, "t", "h"), shard(1, 3, "t", "h")],
                "shard count `3`",
            ),
            (
                vec![shard(0, 2, "t", "h"), shard(0, 2, "t", "h")],
                "is there twice",
            ),
            (
                vec![shard(0, 3, "t", "h"), shard(2, 3, "t", "h")],
                "missing: 1 (found 0, 2)",
            ),
        ];
        for (shards, text) in cases {
            let e = check_shards(&shards, false).unwrap_err();
            let norm = e.0.replace("hash) `", "hash)` ");
            assert!(norm.contains(text), "{text}: {}", e.0);
        }
        let partial = check_shards(&[shard(0, 3, "t", "h"), shard(2, 3, "t", "h")], true).unwrap();
        assert_eq!((partial.merged, partial.missing), (vec![0, 2], vec![1]));
        let mut plain = shard(0, 1, "t", "h");
        plain.1.run.shard = None;
        let e = check_shards(&[plain], false).unwrap_err();
        assert!(e.0.contains("not a shard's folder"), "{}", e.0);
    }
}
