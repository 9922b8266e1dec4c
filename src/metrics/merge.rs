//! Several results folders of one plan, run side by side (worker processes, later machines),
//! merged into one: the same cells, each interval's counts added and its histograms merged
//! exactly, so the merged folder holds every request of every part.
//!
//! Intervals are matched by their position (the n-th second of each run): the runs start
//! within milliseconds of each other, and each one's intervals are one second long.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::accumulate::{Accumulator, Gauges};
use super::recorder::IntervalData;
use super::result::{
    BlockedSecond, CoCorrection, ErrorExample, GeneratorHealth, OpenModelStats, RunInfo, RunResult,
    RunStatus, StopReason,
};
use super::server_timing::ServerTimingNames;
use super::store::{self, RunWriter, StoredInterval};
use super::{MetricsError, load_result};

/// The folder under a `--workers` run's folder that holds one folder per worker.
pub const WORKERS_DIR: &str = "workers";

/// The run folders of a `--workers` run's parts: `workers/<i>/<run>/`, in worker order.
pub fn worker_folders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(WORKERS_DIR)) else {
        return Vec::new();
    };
    let mut ids: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let i = e.file_name().to_str()?.parse().ok()?;
            Some((i, e.path()))
        })
        .collect();
    ids.sort();
    ids.into_iter()
        .filter_map(|(_, p)| {
            std::fs::read_dir(&p)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|f| f.join(store::RESULT_FILE).is_file())
        })
        .collect()
}

/// A `--workers` run whose parent died before merging (its `result.json` says
/// `running`): merge whatever its workers wrote, and mark it interrupted.
pub fn recover_workers(dir: &Path, initial: RunResult) -> Result<RunResult, MetricsError> {
    let parts = worker_folders(dir);
    let info = MergeInfo {
        id: initial.run.id.clone(),
        target: initial.run.target.clone(),
        max_users: initial.run.max_users,
        planned_duration_us: initial.run.planned_duration_us,
        scenario: initial.scenario.clone(),
    };
    let mut r = merge_runs(&parts, dir, info)?;
    r.run.status = RunStatus::Interrupted;
    r.run.stop_reason = Some(StopReason::ParentEnded);
    store::write_atomic(
        &dir.join(store::RESULT_FILE),
        &serde_json::to_vec_pretty(&r).map_err(|e| MetricsError::Json {
            path: dir.join(store::RESULT_FILE),
            source: e,
        })?,
    )?;
    Ok(r)
}

/// The merged run's facts that the parts cannot know: its folder name, target, plan.
pub struct MergeInfo {
    pub id: String,
    pub target: String,
    pub max_users: u64,
    pub planned_duration_us: u64,
    pub scenario: serde_json::Value,
}

/// Merge the run folders `parts` (each as its process left it; a part that died is rebuilt
/// from its journal) into `into`, which gets `result.json`, `latency.hlog` and
/// `intervals.jsonl`. Returns the merged result.
pub fn merge_runs(
    parts: &[PathBuf],
    into: &Path,
    info: MergeInfo,
) -> Result<RunResult, MetricsError> {
    let mut results = Vec::with_capacity(parts.len());
    for p in parts {
        results.push(load_result(p)?);
    }
    let Some(first) = results.first() else {
        return Err(MetricsError::Missing {
            path: into.to_path_buf(),
            what: "runs to merge",
        });
    };
    let cells = first.cells.clone();
    for (r, p) in results.iter().zip(parts) {
        let same =
            r.cells.len() == cells.len() && r.cells.iter().zip(&cells).all(|(a, b)| a.tag == b.tag);
        if !same {
            return Err(MetricsError::Schema {
                path: p.clone(),
                detail: "its steps differ from the first part's: not the same plan".into(),
            });
        }
    }
    // One interning of the Server-Timing names for every part, so their ids agree.
    let names = ServerTimingNames::new();
    let mut series: Vec<Vec<StoredInterval>> = Vec::with_capacity(parts.len());
    for (r, p) in results.iter().zip(parts) {
        series.push(store::read_intervals(p, r, &names)?);
    }

    let run = merged_info(&results, &info, parts.len());
    let initial = Accumulator::new(cells.clone()).finish(
        RunInfo {
            status: RunStatus::Running,
            ..run.clone()
        },
        info.scenario.clone(),
        Vec::new(),
    );
    let started = chrono::DateTime::parse_from_rfc3339(&first.run.started_at)
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now());
    let mut writer = RunWriter::create(into, &initial, started)?;
    writer.set_server_timing_names(names.clone());
    let mut acc = Accumulator::new(cells.clone());
    acc.set_server_timing_names(names.clone());
    let n = series.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..n {
        let here: Vec<&StoredInterval> = series.iter().filter_map(|s| s.get(k)).collect();
        let Some(head) = here.first() else {
            continue;
        };
        let mut data: IntervalData = cells
            .iter()
            .map(|c| super::CellData::new(c.checks.len()))
            .collect();
        let mut g = Gauges::default();
        for iv in &here {
            for (d, x) in data.iter_mut().zip(iv.data.iter()) {
                d.add(x);
            }
            g.users += iv.gauges.users;
            g.scheduled += iv.gauges.scheduled;
            g.started += iv.gauges.started;
            g.late += iv.gauges.late;
            g.dropped += iv.gauges.dropped;
            g.cpu_pct += iv.gauges.cpu_pct / here.len() as f64;
            g.sched_lag_us = g.sched_lag_us.max(iv.gauges.sched_lag_us);
        }
        let duration_us = here.iter().map(|i| i.duration_us).max().unwrap_or(0);
        writer.write_interval_with(head.t_us, duration_us, &g, &data)?;
        acc.add_interval_with(head.t_us, duration_us, &g, &data);
    }
    let examples = merged_examples(&results);
    let mut result = acc.finish(run, info.scenario, examples);
    if let Some(o) = &result.run.open_model {
        result.run.peak_users = result.run.peak_users.max(o.peak_busy);
    } else {
        // Closed model: the parts run their shares of one schedule, so their peaks come
        // together; their sum (at most the plan's users) is the whole's, which a second
        // matched by position can miss when the parts start a little apart.
        let parts: u64 = results.iter().map(|r| r.run.peak_users).sum();
        let cap = if info.max_users > 0 {
            info.max_users
        } else {
            parts
        };
        result.run.peak_users = result.run.peak_users.max(parts.min(cap));
    }
    if let Some(co) = result.run.co_correction.as_mut() {
        // Judged on the merged seconds: the users of every part together.
        co.stalls = super::result::find_stalls(&co.blocked, &result.timeseries);
    }
    writer.write_result(&result)?;
    Ok(result)
}

/// The merged run's facts: counts added, the worst of each health figure, the first stop
/// reason.
fn merged_info(results: &[RunResult], info: &MergeInfo, parts: usize) -> RunInfo {
    let first = &results[0].run;
    let interrupted = results.iter().find(|r| r.run.status != RunStatus::Complete);
    let ended_at = results.iter().filter_map(|r| r.run.ended_at.clone()).max();
    RunInfo {
        id: info.id.clone(),
        target: info.target.clone(),
        status: if interrupted.is_some() {
            RunStatus::Interrupted
        } else {
            RunStatus::Complete
        },
        stop_reason: interrupted.and_then(|r| r.run.stop_reason.clone()),
        ended_at,
        planned_duration_us: info.planned_duration_us,
        max_users: info.max_users,
        cut_off: results.iter().map(|r| r.run.cut_off).sum(),
        open_model: merged_open(results),
        co_correction: merged_co(results),
        generator_health: merged_health(results),
        workers: Some(parts as u64),
        ..first.clone()
    }
}

fn merged_open(results: &[RunResult]) -> Option<OpenModelStats> {
    let parts: Vec<&OpenModelStats> = results
        .iter()
        .filter_map(|r| r.run.open_model.as_ref())
        .collect();
    let first = (*parts.first()?).clone();
    let sum = |f: fn(&OpenModelStats) -> u64| parts.iter().map(|o| f(o)).sum::<u64>();
    let sumf = |f: fn(&OpenModelStats) -> f64| parts.iter().map(|o| f(o)).sum::<f64>();
    Some(OpenModelStats {
        peak_rate: sumf(|o| o.peak_rate),
        intended_rate: sumf(|o| o.intended_rate),
        achieved_rate: sumf(|o| o.achieved_rate),
        scheduled: sum(|o| o.scheduled),
        started: sum(|o| o.started),
        late: sum(|o| o.late),
        dropped: sum(|o| o.dropped),
        max_lateness_us: parts.iter().map(|o| o.max_lateness_us).max().unwrap_or(0),
        max_users: sum(|o| o.max_users),
        pre_allocated: sum(|o| o.pre_allocated),
        // Each part's peak came at its own moment: their sum bounds the whole's.
        peak_busy: sum(|o| o.peak_busy),
        pool_exhausted_seconds: parts
            .iter()
            .map(|o| o.pool_exhausted_seconds)
            .max()
            .unwrap_or(0),
        schedule_offset_us: parts
            .iter()
            .map(|o| o.schedule_offset_us)
            .max()
            .unwrap_or(0),
        ..first
    })
}

fn merged_co(results: &[RunResult]) -> Option<CoCorrection> {
    let parts: Vec<&CoCorrection> = results
        .iter()
        .filter_map(|r| r.run.co_correction.as_ref())
        .collect();
    let first = (*parts.first()?).clone();
    // Each second's waits added; the longest of them kept, with its step.
    let mut blocked: BTreeMap<u64, BlockedSecond> = BTreeMap::new();
    for b in parts.iter().flat_map(|c| c.blocked.iter()) {
        let e = blocked.entry(b.t_s).or_insert_with(|| BlockedSecond {
            t_s: b.t_s,
            ..BlockedSecond::default()
        });
        e.blocked_us += b.blocked_us;
        if b.longest_us > e.longest_us {
            e.longest_us = b.longest_us;
            e.usual_us = b.usual_us;
            e.step = b.step.clone();
        }
    }
    Some(CoCorrection {
        synthetic_samples: parts.iter().map(|c| c.synthetic_samples).sum(),
        blocked: blocked.into_values().collect(),
        // Found again on the merged seconds (`merge_runs`).
        stalls: Vec::new(),
        ..first
    })
}

fn merged_health(results: &[RunResult]) -> Option<GeneratorHealth> {
    let parts: Vec<(usize, &GeneratorHealth)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.run.generator_health.as_ref().map(|h| (i, h)))
        .collect();
    if parts.is_empty() {
        return None;
    }
    let n = parts.len() as f64;
    let mut reasons = Vec::new();
    for (i, h) in &parts {
        reasons.extend(h.reasons.iter().map(|r| format!("worker {i}: {r}")));
    }
    Some(GeneratorHealth {
        cores: parts.iter().map(|(_, h)| h.cores).sum(),
        cpu_pct_mean: parts.iter().map(|(_, h)| h.cpu_pct_mean).sum::<f64>() / n,
        cpu_pct_max: parts.iter().map(|(_, h)| h.cpu_pct_max).fold(0.0, f64::max),
        sched_lag_p99_us: parts
            .iter()
            .map(|(_, h)| h.sched_lag_p99_us)
            .max()
            .unwrap_or(0),
        sched_lag_max_us: parts
            .iter()
            .map(|(_, h)| h.sched_lag_max_us)
            .max()
            .unwrap_or(0),
        late_starts: parts.iter().map(|(_, h)| h.late_starts).sum(),
        saturated_seconds: parts
            .iter()
            .map(|(_, h)| h.saturated_seconds)
            .max()
            .unwrap_or(0),
        saturated: parts.iter().any(|(_, h)| h.saturated),
        reasons,
    })
}

/// The first example of each (scenario, step, kind) among the parts.
fn merged_examples(results: &[RunResult]) -> Vec<ErrorExample> {
    let mut seen: BTreeMap<(String, String, String), ErrorExample> = BTreeMap::new();
    for r in results {
        for e in &r.error_examples {
            seen.entry((e.scenario.clone(), e.step.clone(), e.kind.clone()))
                .or_insert_with(|| e.clone());
        }
    }
    seen.into_values().collect()
}
