//! Several results folders of one plan, run side by side (worker processes, later machines),
//! merged into one: the same cells, each interval's counts added and its histograms merged
//! exactly, so the merged folder holds every request of every part.
//!
//! Intervals are matched by their start when every part ran on a common clock (`--start-at`:
//! the same start, so the same grid of seconds, whatever machine and however late), and
//! otherwise by their position (the n-th second of each run): local workers start within
//! milliseconds of each other, and each one's intervals are one second long.

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
        shard: initial.run.shard.clone(),
        shards: None,
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
    /// The merged run is itself one shard (`--shard` with `--workers`): its marker.
    pub shard: Option<super::ShardInfo>,
    /// The merged run is a whole run merged from its shards (`skein merge`).
    pub shards: Option<super::MergedShards>,
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
    for (t_us, here) in aligned(&results, &series) {
        let m = merge_second(&cells, t_us, &here);
        writer.write_interval_with(t_us, m.duration_us, &m.gauges, &m.data)?;
        acc.add_interval_with(t_us, m.duration_us, &m.gauges, &m.data);
    }
    let examples = merged_examples(&results);
    let mut result = acc.finish(run, info.scenario, examples);
    result.availability = merged_availability(&results, &result);
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
        // Never more users than the plan has.
        if info.max_users > 0 {
            result.run.peak_users = result.run.peak_users.min(info.max_users);
        }
    }
    if let Some(co) = result.run.co_correction.as_mut() {
        // Judged on the merged seconds: the users of every part together.
        co.stalls = super::result::find_stalls(&co.blocked, &result.timeseries);
    }
    // Lighthouse audits run in one part only (the first shard): the whole run's.
    result.lighthouse = results.iter().find_map(|r| r.lighthouse.clone());
    writer.write_result(&result)?;
    Ok(result)
}

/// The intervals `here` of one second (each with its part; a part may have several), merged
/// into one starting at `t_us`: the measurements added exactly, the users of each part's
/// latest interval summed, the open model's counts summed, the mean CPU, the worst timer
/// lag, the longest span of any part.
pub fn merge_second(
    cells: &[super::CellInfo],
    t_us: u64,
    here: &[(usize, &StoredInterval)],
) -> StoredInterval {
    let mut data: IntervalData = cells
        .iter()
        .map(|c| super::CellData::new(c.checks.len()))
        .collect();
    let mut g = Gauges::default();
    // The users gauge is a level, not a count: each part's latest in this second.
    let mut users: BTreeMap<usize, u64> = BTreeMap::new();
    let mut cpu: BTreeMap<usize, f64> = BTreeMap::new();
    let mut span: BTreeMap<usize, u64> = BTreeMap::new();
    for (part, iv) in here {
        for (d, x) in data.iter_mut().zip(iv.data.iter()) {
            d.add(x);
        }
        users.insert(*part, iv.gauges.users);
        cpu.insert(*part, iv.gauges.cpu_pct);
        *span.entry(*part).or_default() += iv.duration_us;
        g.scheduled += iv.gauges.scheduled;
        g.started += iv.gauges.started;
        g.late += iv.gauges.late;
        g.dropped += iv.gauges.dropped;
        g.sched_lag_us = g.sched_lag_us.max(iv.gauges.sched_lag_us);
    }
    g.users = users.values().sum();
    g.cpu_pct = cpu.values().sum::<f64>() / cpu.len().max(1) as f64;
    StoredInterval {
        t_us,
        duration_us: span.values().copied().max().unwrap_or(0),
        gauges: g,
        data,
    }
}

/// Did every part run on one common clock (the same `--start-at`)?
fn common_clock(results: &[RunResult]) -> bool {
    results.iter().all(|r| r.run.start.is_some())
        && results.windows(2).all(|w| {
            w[0].run.start.as_ref().map(|s| &s.at) == w[1].run.start.as_ref().map(|s| &s.at)
        })
}

/// The parts' intervals, second by second, each group with its start and, for each
/// interval, its part. On the common clock ([`common_clock`]) an interval belongs to the
/// second of the shared grid it starts in (a harvest runs a few ms after its tick, never
/// before: 1.004 s is second 1); otherwise intervals are matched by position.
fn aligned<'a>(
    results: &[RunResult],
    series: &'a [Vec<StoredInterval>],
) -> Vec<(u64, Vec<(usize, &'a StoredInterval)>)> {
    if common_clock(results) {
        let grid = results
            .iter()
            .find_map(|r| r.run.shard.as_ref().map(|s| s.interval_us))
            .unwrap_or(1_000_000)
            .max(1);
        let mut by_start: BTreeMap<u64, Vec<(usize, &StoredInterval)>> = BTreeMap::new();
        for (part, s) in series.iter().enumerate() {
            for iv in s {
                by_start
                    .entry(iv.t_us / grid * grid)
                    .or_default()
                    .push((part, iv));
            }
        }
        return by_start.into_iter().collect();
    }
    let n = series.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .filter_map(|k| {
            let here: Vec<(usize, &StoredInterval)> = series
                .iter()
                .enumerate()
                .filter_map(|(part, s)| Some((part, s.get(k)?)))
                .collect();
            Some((here.first()?.1.t_us, here))
        })
        .collect()
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
        workers: match &info.shards {
            Some(_) => None,
            None => Some(parts as u64),
        },
        shard: info.shard.clone(),
        shards: info.shards.clone(),
        start: merged_start(results),
        iterations: merged_iterations(results),
        ..first.clone()
    }
}

/// The whole run's availability: its counts, and the outages every part had at once
/// ([`super::availability::intersect`]); `None` when a part's windows are unknown.
fn merged_availability(
    results: &[RunResult],
    merged: &RunResult,
) -> Option<super::availability::Availability> {
    // Each part's times are from its own start; the merged run's timeline is the first
    // part's (local workers start a few ms apart; on a common clock, at the same instant).
    let start = |r: &RunResult| {
        chrono::DateTime::parse_from_rfc3339(&r.run.started_at)
            .ok()
            .map(|t| t.timestamp_micros())
    };
    let origin = start(&results[0]);
    let shifted: Vec<(Vec<super::availability::Outage>, u64)> = results
        .iter()
        .map(|r| {
            let a = r.availability.as_ref()?;
            let off = match (origin, start(r)) {
                (Some(o), Some(s)) => s - o,
                _ => 0,
            };
            let at = |us: u64| (us as i64 + off).max(0) as u64;
            let mut outages: Vec<super::availability::Outage> = a
                .outages
                .iter()
                .map(|o| {
                    super::availability::Outage::new(
                        at(o.start_us),
                        at(o.end_us),
                        o.failures,
                        o.open_at_end,
                    )
                })
                .collect();
            // A part that started after the first had no success before its start: it has
            // no say there (as an ended part has none after its end), so it must not cut
            // the others' windows short.
            if off > 0 {
                let off = off as u64;
                match outages.first_mut() {
                    Some(first) if first.start_us <= off => {
                        *first = super::availability::Outage::new(
                            0,
                            first.end_us,
                            first.failures,
                            first.open_at_end,
                        );
                    }
                    _ => outages.insert(0, super::availability::Outage::new(0, off, 0, false)),
                }
            }
            Some((outages, at(r.run.duration_us)))
        })
        .collect::<Option<_>>()?;
    let parts: Vec<super::availability::Part<'_>> = shifted
        .iter()
        .map(|(outages, end_us)| super::availability::Part {
            outages,
            end_us: *end_us,
        })
        .collect();
    let dropped = results
        .iter()
        .filter_map(|r| r.availability.as_ref())
        .map(|a| a.outages_dropped)
        .sum();
    Some(super::availability::Availability::new(
        merged.overall.requests,
        merged.overall.ok,
        super::availability::intersect(&parts),
        dropped,
    ))
}

/// The iterations of a run of counted iterations: each part's added up.
fn merged_iterations(results: &[RunResult]) -> Option<super::IterationStats> {
    let parts: Vec<&super::IterationStats> = results
        .iter()
        .filter_map(|r| r.run.iterations.as_ref())
        .collect();
    let first = (*parts.first()?).clone();
    Some(super::IterationStats {
        planned: parts.iter().map(|p| p.planned).sum(),
        started: parts.iter().map(|p| p.started).sum(),
        completed: parts.iter().map(|p| p.completed).sum(),
        ..first
    })
}

/// The common start of parts that waited for one: the latest lateness, and each shard's.
fn merged_start(results: &[RunResult]) -> Option<super::PlannedStart> {
    if !common_clock(results) {
        return None;
    }
    let first = results.first()?.run.start.clone()?;
    let lateness: Vec<u64> = results
        .iter()
        .map(|r| r.run.start.as_ref().map_or(0, |s| s.lateness_us))
        .collect();
    let sharded = results.iter().all(|r| r.run.shard.is_some());
    Some(super::PlannedStart {
        lateness_us: lateness.iter().copied().max().unwrap_or(0),
        shards_lateness_us: if sharded { lateness } else { Vec::new() },
        ..first
    })
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
    let parts: Vec<(String, &GeneratorHealth)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            // A shard is named by its index and machine, a local worker by its position.
            let who = match &r.run.shard {
                Some(s) => format!("shard {} ({})", s.index, r.run.generator.hostname),
                None => format!("worker {i}"),
            };
            r.run.generator_health.as_ref().map(|h| (who, h))
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let n = parts.len() as f64;
    let mut reasons = Vec::new();
    for (i, h) in &parts {
        reasons.extend(h.reasons.iter().map(|r| format!("{i}: {r}")));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{CellData, Hist, HistogramSettings, PlannedStart, ShardInfo};

    /// Issue 19: the parts' outages are moved onto the first part's timeline (the second
    /// worker started 10 ms later) and intersected: the whole run was out only where both
    /// were.
    #[test]
    fn issue19_merged_outages_are_the_parts_intersection_on_one_timeline() {
        use crate::metrics::availability::{Availability, Outage};
        let plan = crate::scenario::quick(
            "http://127.0.0.1:9/x",
            Some(1),
            std::time::Duration::from_secs(5),
            None,
            None,
        )
        .unwrap();
        let part = |started: &str, outages: Vec<Outage>, dur: u64| {
            let mut info =
                crate::engine::run_info(&plan, "r", "http://127.0.0.1:9", std::time::UNIX_EPOCH);
            info.started_at = started.into();
            let mut r =
                Accumulator::new(Vec::new()).finish(info, serde_json::Value::Null, Vec::new());
            r.run.duration_us = dur;
            r.availability = Some(Availability::new(100, 90, outages, 0));
            r
        };
        // Worker 0: down 1.000..2.500 s of its timeline. Worker 1 (started 10 ms later):
        // down 0.900..2.400 s of its own, i.e. 0.910..2.410 s of worker 0's.
        let a = part(
            "2026-12-07T23:00:00.000Z",
            vec![Outage::new(1_000_000, 2_500_000, 30, false)],
            5_000_000,
        );
        let b = part(
            "2026-12-07T23:00:00.010Z",
            vec![
                Outage::new(900_000, 2_400_000, 28, false),
                Outage::new(4_000_000, 4_100_000, 2, false),
            ],
            5_000_000,
        );
        let mut merged = a.clone();
        merged.overall.requests = 200;
        merged.overall.ok = 180;
        let m = merged_availability(&[a.clone(), b.clone()], &merged).unwrap();
        assert_eq!(
            m.outages,
            vec![Outage::new(1_000_000, 2_410_000, 58, false)]
        );
        assert_eq!((m.max_outage_us, m.availability), (1_410_000, 0.9));
        // A part that had not started has no say: worker 0 down 5..30 ms of its timeline,
        // worker 1 started 50 ms after it with no outage; the merged window is worker 0's
        // whole one, not cut at 0 (before the fix: none at all).
        let early = part(
            "2026-12-07T23:00:00.000Z",
            vec![Outage::new(5_000, 30_000, 4, false)],
            5_000_000,
        );
        let late = part("2026-12-07T23:00:00.050Z", vec![], 4_950_000);
        let m = merged_availability(&[early, late], &merged).unwrap();
        assert_eq!(m.outages, vec![Outage::new(5_000, 30_000, 4, false)]);
        // A part without outage windows (rebuilt from its journal): none for the whole.
        let mut c = b;
        c.availability = None;
        assert_eq!(merged_availability(&[a, c], &merged), None);
    }

    /// Issue 15: shards' folders merged are one histogram fed every sample, per cell and per
    /// second, for 1 to 5 shards, with seconds keyed on the common clock (a shard's harvest
    /// runs a few ms after the grid's tick, and a late shard has no second 0).
    #[test]
    fn issue15_merged_shards_equal_one_histogram_fed_every_sample() {
        let plan = crate::scenario::quick(
            "http://127.0.0.1:9/x",
            Some(5),
            std::time::Duration::from_secs(3),
            None,
            None,
        )
        .unwrap();
        let cells = crate::engine::cells(&plan);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 1..=5u64 {
            let root = tempfile::tempdir().unwrap();
            // The whole run's histograms, per second, fed every sample.
            let mut whole: Vec<Hist> = (0..3).map(|_| Hist::new()).collect();
            let mut whole_requests = [0u64; 3];
            let mut parts = Vec::new();
            for i in 0..n {
                let dir = root.path().join(format!("shard-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut info = crate::engine::run_info(
                    &plan,
                    "r",
                    "http://127.0.0.1:9",
                    std::time::UNIX_EPOCH,
                );
                info.shard = Some(ShardInfo {
                    index: i,
                    count: n,
                    run_id: "t".into(),
                    scenario_hash: "h".into(),
                    histogram: HistogramSettings::CURRENT,
                    seed: 1,
                    interval_us: 1_000_000,
                });
                info.start = Some(PlannedStart {
                    at: "1970-01-01T00:00:00.000Z".into(),
                    lateness_us: 0,
                    tolerance_us: None,
                    shards_lateness_us: Vec::new(),
                });
                let initial = Accumulator::new(cells.clone()).finish(
                    info,
                    serde_json::Value::Null,
                    Vec::new(),
                );
                let mut w = RunWriter::create(&dir, &initial, std::time::UNIX_EPOCH).unwrap();
                let mut acc = Accumulator::new(cells.clone());
                // The last shard is late: it has no second 0.
                let first = if i == n - 1 && n > 1 { 1 } else { 0 };
                for s in first..3u64 {
                    let mut data: Vec<CellData> = cells
                        .iter()
                        .map(|c| CellData::new(c.checks.len()))
                        .collect();
                    for _ in 0..(next() % 200) {
                        // Latencies from 50 µs to about 2 s, spread over the magnitudes.
                        let us = 50 + next() % (1 << (6 + next() % 15));
                        data[0].hist.record(us);
                        data[0].service.record(us);
                        data[0].requests += 1;
                        data[0].ok += 1;
                        whole[s as usize].record(us);
                        whole_requests[s as usize] += 1;
                    }
                    // Harvests run a few ms after the tick, each shard its own.
                    let t_us = if s == 0 {
                        0
                    } else {
                        s * 1_000_000 + 1_000 * (i % 7)
                    };
                    let g = Gauges::users(1);
                    w.write_interval_with(t_us, 1_000_000, &g, &data).unwrap();
                    acc.add_interval_with(t_us, 1_000_000, &g, &data);
                }
                let done = acc.finish(
                    RunInfo {
                        status: RunStatus::Complete,
                        ..initial.run.clone()
                    },
                    serde_json::Value::Null,
                    Vec::new(),
                );
                w.write_result(&done).unwrap();
                parts.push(dir);
            }
            let into = root.path().join("merged");
            std::fs::create_dir_all(&into).unwrap();
            let info = MergeInfo {
                id: "t".into(),
                target: "http://127.0.0.1:9".into(),
                max_users: 5,
                planned_duration_us: 3_000_000,
                scenario: serde_json::Value::Null,
                shard: None,
                shards: None,
            };
            let merged = merge_runs(&parts, &into, info).unwrap();
            let total: u64 = whole_requests.iter().sum();
            assert_eq!(merged.overall.requests, total, "{n} shards");
            let read = load_result(&into).unwrap();
            let names = ServerTimingNames::new();
            let seconds = store::read_intervals(&into, &read, &names).unwrap();
            assert_eq!(
                seconds.len(),
                3,
                "{n} shards: one merged interval per second"
            );
            for (s, iv) in seconds.iter().enumerate() {
                assert_eq!(iv.t_us, s as u64 * 1_000_000, "{n} shards");
                assert_eq!(
                    iv.data[0].requests, whole_requests[s],
                    "{n} shards, second {s}"
                );
                assert!(iv.data[0].hist == whole[s], "{n} shards, second {s}");
            }
            assert_eq!(
                read.run.start.as_ref().map(|s| s.shards_lateness_us.len()),
                Some(n as usize)
            );
        }
    }
}
