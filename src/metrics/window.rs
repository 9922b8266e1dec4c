//! A run's measurements interval by interval, for targets over a window (`after: 30s`).
//!
//! `result.json` holds the totals; a window needs the one-second intervals: the counts from
//! the journal (`intervals.jsonl`) and the histograms from the interval log
//! (`latency.hlog`), joined by cell and start time. A window's percentiles come from the
//! merged histograms of its intervals, never from averaged per-interval percentiles. Each
//! cell has two histograms in the log: the response time under its tag and the service time
//! under `TAG~service` ([`store::SERVICE_SUFFIX`]); logs from before service times were
//! recorded have the first only. A cell's `Server-Timing` entries are under `TAG~st:NAME`
//! ([`store::SERVER_TIMING_INFIX`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::MetricsError;
use super::histogram::Hist;
use super::result::CellInfo;
use super::server_timing::ServerTimingNames;
use super::store::{self, HistKind, HlogEntry, JournalLine};

/// Every interval of a run, each with the cells that had requests in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowData {
    pub intervals: Vec<Interval>,
}

/// One interval (about a second) of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interval {
    /// Start, from the start of the run.
    pub t_us: u64,
    pub duration_us: u64,
    /// Users active at the end of the interval.
    pub users: u64,
    pub cells: Vec<IntervalCell>,
}

/// One cell's measurements in one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalCell {
    /// Index into `RunResult::cells`.
    pub cell: usize,
    /// Response times, µs.
    pub hist: Hist,
    /// Service times, µs (empty in runs from before they were recorded).
    pub service: Hist,
    pub requests: u64,
    /// Requests that failed in transport, or got a 4xx/5xx status from a step without a
    /// `status` check.
    pub errors: u64,
    /// Requests that got a response but failed a check (a `status` check included).
    pub check_failed: u64,
    /// Failures per check label of the cell.
    pub check_failures: Vec<u64>,
    /// `Server-Timing` entries by name, µs (empty in runs from before they were recorded).
    pub server_timing: BTreeMap<String, Hist>,
}

impl IntervalCell {
    /// Responses received: one service time each. The response-time histogram can hold
    /// more (the closed model's coordinated-omission correction adds samples), so it
    /// counts only when there are no service times (an older run).
    pub fn responses(&self) -> u64 {
        if self.service.is_empty() {
            self.hist.count()
        } else {
            self.service.count()
        }
    }
}

/// Which histogram of an interval cell: 0 the response time, 1 the service time, 2 + id
/// the `Server-Timing` entry with that id in `names` (interned here: the log has at most the
/// run's few names). `None` for a kind this version does not know.
fn kind_slot(kind: HistKind<'_>, names: &ServerTimingNames) -> Option<usize> {
    match kind {
        HistKind::Response => Some(0),
        HistKind::Service => Some(1),
        HistKind::ServerTiming(n) => names.id(n).map(|id| 2 + id),
        // An estimate beside the measurements: targets judge what was measured.
        HistKind::Omitted => None,
    }
}

/// Put histogram `h` of kind slot `kind` into `c`.
fn put(c: &mut IntervalCell, kind: usize, h: Hist, names: &ServerTimingNames) {
    match kind {
        0 => c.hist.add(&h),
        1 => c.service.add(&h),
        k => {
            if let Some(name) = names.get(k - 2) {
                c.server_timing.entry(name.to_string()).or_default().add(&h);
            }
        }
    }
}

/// Interval start in whole milliseconds: the key that joins the journal to the interval log
/// (whose timestamps have millisecond resolution).
fn ms_key(us: f64) -> u64 {
    (us / 1000.0).round() as u64
}

impl WindowData {
    /// Read a run folder's journal and interval log (cells from its `result.json`).
    pub fn from_dir(dir: &Path) -> Result<WindowData, MetricsError> {
        let result = store::load_result(dir)?;
        let journal = store::read_journal(dir)?;
        let hpath = dir.join(store::HLOG_FILE);
        let hlog = if hpath.is_file() {
            store::read_hlog(&hpath)?
        } else {
            Vec::new()
        };
        Ok(WindowData::from_parts(&result.cells, &journal, hlog))
    }

    /// Read a run folder's intervals merged into one per segment between consecutive
    /// window starts (`starts`, e.g. the targets' `after_us`; 0 is always one). For a window
    /// that starts at one of `starts`, and for the whole run, the sums, merged histograms,
    /// durations and peak users are exactly those of the one-second intervals, at a
    /// fraction of the memory: the interval log is streamed, one histogram alive at a time.
    pub fn from_dir_segmented(
        dir: &Path,
        cells: &[CellInfo],
        starts: &[u64],
    ) -> Result<WindowData, MetricsError> {
        let journal = store::read_journal(dir)?;
        let mut bounds: Vec<u64> = starts.to_vec();
        bounds.push(0);
        bounds.sort_unstable();
        bounds.dedup();
        let segment_of = |t_us: u64| bounds.partition_point(|b| *b <= t_us) - 1;
        // One interval per non-empty segment, its cells by id.
        let mut segments: Vec<Interval> = Vec::new();
        let mut slots: Vec<Vec<Option<usize>>> = Vec::new();
        let mut last_segment = None;
        // (cell, interval start in ms) of every journal cell -> (segment, position).
        let mut wanted: HashMap<(usize, u64), (usize, usize)> = HashMap::new();
        for j in &journal {
            let seg = segment_of(j.t_us);
            if last_segment != Some(seg) {
                segments.push(Interval {
                    t_us: j.t_us,
                    ..Interval::default()
                });
                slots.push(vec![None; cells.len()]);
                last_segment = Some(seg);
            }
            let k = segments.len() - 1;
            let s = &mut segments[k];
            s.duration_us += j.duration_us;
            s.users = s.users.max(j.users);
            for c in &j.cells {
                if slots[k].len() <= c.cell {
                    slots[k].resize(c.cell + 1, None);
                }
                let pos = *slots[k][c.cell].get_or_insert_with(|| {
                    s.cells.push(IntervalCell {
                        cell: c.cell,
                        ..IntervalCell::default()
                    });
                    s.cells.len() - 1
                });
                let m = &mut s.cells[pos];
                m.requests += c.requests;
                m.errors += c.errors.values().sum::<u64>();
                m.check_failed += c.check_failed;
                if m.check_failures.len() < c.checks.len() {
                    m.check_failures.resize(c.checks.len(), 0);
                }
                for (a, b) in m.check_failures.iter_mut().zip(&c.checks) {
                    *a += b;
                }
                wanted.insert((c.cell, ms_key(j.t_us as f64)), (k, pos));
            }
        }
        let hpath = dir.join(store::HLOG_FILE);
        if hpath.is_file() {
            let ids: HashMap<&str, usize> = cells.iter().map(|c| (c.tag.as_str(), c.id)).collect();
            // Decoding the histograms is nearly all the work: collect the wanted ones, then
            // decode and merge them on every core, one partial sum per thread.
            let names = ServerTimingNames::new();
            let mut jobs: Vec<((usize, usize, usize), String)> = Vec::new();
            let mut seen: HashSet<(usize, u64, usize)> = HashSet::new();
            store::for_each_hlog(&hpath, |e| {
                let Some((tag, kind)) = e.tag.and_then(store::split_tag) else {
                    return Ok(());
                };
                let Some(&id) = ids.get(tag) else {
                    return Ok(());
                };
                let Some(kind) = kind_slot(kind, &names) else {
                    return Ok(());
                };
                let ms = ms_key(e.start.as_secs_f64() * 1e6);
                if let Some(&(k, pos)) = wanted.get(&(id, ms))
                    && seen.insert((id, ms, kind))
                {
                    jobs.push(((k, pos, kind), e.encoded.to_string()));
                }
                Ok(())
            })?;
            for ((k, pos, kind), h) in decode_and_merge(&jobs)? {
                put(&mut segments[k].cells[pos], kind, h, &names);
            }
        }
        Ok(WindowData {
            intervals: segments,
        })
    }

    /// Join journal lines with interval-log histograms (matched by the cells' tags).
    pub fn from_parts(
        cells: &[CellInfo],
        journal: &[JournalLine],
        hlog: Vec<HlogEntry>,
    ) -> WindowData {
        let ids: HashMap<&str, usize> = cells.iter().map(|c| (c.tag.as_str(), c.id)).collect();
        let names = ServerTimingNames::new();
        let mut hists: HashMap<(usize, u64, usize), Hist> = HashMap::new();
        for e in hlog {
            let Some((tag, kind)) = e.tag.as_deref().and_then(store::split_tag) else {
                continue;
            };
            let Some(kind) = kind_slot(kind, &names) else {
                continue;
            };
            if let Some(&id) = ids.get(tag) {
                hists.insert((id, ms_key(e.start.as_secs_f64() * 1e6), kind), e.hist);
            }
        }
        let kinds = 2 + names.len();
        let intervals = journal
            .iter()
            .map(|j| Interval {
                t_us: j.t_us,
                duration_us: j.duration_us,
                users: j.users,
                cells: j
                    .cells
                    .iter()
                    .map(|c| {
                        let mut cell = IntervalCell {
                            cell: c.cell,
                            requests: c.requests,
                            errors: c.errors.values().sum(),
                            check_failed: c.check_failed,
                            check_failures: c.checks.clone(),
                            ..IntervalCell::default()
                        };
                        for kind in 0..kinds {
                            if let Some(h) = hists.remove(&(c.cell, ms_key(j.t_us as f64), kind)) {
                                put(&mut cell, kind, h, &names);
                            }
                        }
                        cell
                    })
                    .collect(),
            })
            .collect();
        WindowData { intervals }
    }

    /// The intervals that start at or after `after_us`.
    pub fn starting_at(&self, after_us: u64) -> impl Iterator<Item = &Interval> {
        self.intervals.iter().filter(move |i| i.t_us >= after_us)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::metrics::store::JournalCell;

    fn cell(id: usize, tag: &str) -> CellInfo {
        CellInfo {
            id,
            scenario: "s".into(),
            step: tag.into(),
            method: "GET".into(),
            tag: tag.into(),
            checks: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn journal_and_log_join_by_cell_and_start() {
        let cells = [cell(0, "s/a"), cell(1, "s/b")];
        let jc = |cell, requests| JournalCell {
            cell,
            requests,
            ok: requests,
            check_failed: 0,
            bytes: 0,
            errors: BTreeMap::from([("timeout".to_string(), 1)]),
            checks: Vec::new(),
            ..JournalCell::default()
        };
        let journal = [
            JournalLine {
                t_us: 0,
                duration_us: 1_000_000,
                users: 5,
                cells: vec![jc(0, 3), jc(1, 2)],
                ..JournalLine::default()
            },
            JournalLine {
                t_us: 1_000_000,
                duration_us: 1_000_000,
                users: 7,
                cells: vec![jc(1, 4)],
                ..JournalLine::default()
            },
        ];
        let h = |v: u64| {
            let mut h = Hist::new();
            h.record(v);
            h
        };
        let entry = |tag: &str, s: u64, v| HlogEntry {
            tag: Some(tag.into()),
            start: Duration::from_secs(s),
            duration: Duration::from_secs(1),
            hist: h(v),
        };
        let w = WindowData::from_parts(
            &cells,
            &journal,
            vec![
                entry("s/a", 0, 10),
                entry("s/b", 0, 20),
                entry("s/b", 1, 30),
                entry("s/b~service", 1, 25),
                entry("other", 1, 40),
                entry("other~service", 1, 40),
            ],
        );
        assert_eq!(w.intervals.len(), 2);
        assert_eq!(w.intervals[0].cells[1].hist.max(), 20);
        assert!(w.intervals[0].cells[1].service.is_empty());
        assert_eq!(w.intervals[0].cells[1].responses(), 1);
        assert_eq!(w.intervals[1].cells[0].hist.max(), 30);
        assert_eq!(w.intervals[1].cells[0].service.max(), 25);
        assert_eq!(w.intervals[1].cells[0].errors, 1);
        assert_eq!(w.starting_at(500_000).count(), 1);
        assert_eq!(w.starting_at(0).count(), 2);
    }
}

#[cfg(test)]
mod segmented_tests {
    use std::time::SystemTime;

    use super::*;
    use crate::metrics::accumulate::Accumulator;
    use crate::metrics::recorder::{CellData, ErrorKind};
    use crate::metrics::result::{RunInfo, RunStatus};
    use crate::metrics::store::RunWriter;
    use crate::metrics::verdict::{Aggregate, Metric, Op, Scope, Target};
    use crate::metrics::{Unit, evaluate};

    fn cell(id: usize, step: &str, tags: &[&str]) -> CellInfo {
        CellInfo {
            id,
            scenario: format!("s{id}"),
            step: step.into(),
            method: "GET".into(),
            tag: format!("s{id}/{step}"),
            checks: vec!["status 200".into()],
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn segments_give_windowed_targets_the_same_values_as_seconds() {
        let cells = vec![cell(0, "a", &["api"]), cell(1, "a", &[]), cell(2, "b", &[])];
        let run = RunInfo {
            status: RunStatus::Complete,
            target: "http://x".into(),
            response_time_basis: "corrected".into(),
            max_users: 5,
            ..RunInfo::blank()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut acc = Accumulator::new(cells.clone());
        let initial = acc.finish(run.clone(), serde_json::Value::Null, Vec::new());
        let mut w = RunWriter::create(dir.path(), &initial, SystemTime::now()).unwrap();
        for sec in 0..10u64 {
            let mut data: Vec<CellData> = cells.iter().map(|_| CellData::new(1)).collect();
            for (c, d) in data.iter_mut().enumerate() {
                if (sec + c as u64) % 4 == 3 {
                    continue; // a cell idle this second
                }
                for k in 0..(5 + sec * 3 + c as u64) {
                    d.requests += 1;
                    let v = 1_000 * (1 + sec * 7 + k * (c as u64 + 1));
                    d.hist.record(v);
                    d.service.record(v / 3 + 10);
                    match k % 9 {
                        0 => d.errors[ErrorKind::Http5xx as usize] += 1,
                        1 => {
                            d.check_failed += 1;
                            d.checks[0] += 1;
                        }
                        _ => d.ok += 1,
                    }
                }
            }
            let t = sec * 1_000_000 + 137;
            w.write_interval(t, 1_000_000, sec % 5 + 1, &data).unwrap();
            acc.add_interval(t, 1_000_000, sec % 5 + 1, &data);
        }
        let result = acc.finish(run, serde_json::Value::Null, Vec::new());
        w.write_result(&result).unwrap();

        let t = |metric, aggregate, scope, after_us| Target {
            expression: "x".into(),
            source: "test".into(),
            metric,
            aggregate,
            scope,
            after_us,
            op: Op::Lt,
            threshold: 1.0,
            unit: Unit::Us,
            abort_on_fail: false,
            grace_us: None,
            baseline: None,
            improvement_goal_pct: None,
        };
        let p = |q| Some(Aggregate::Percentile(q));
        let targets = vec![
            t(
                Metric::ResponseTime,
                p(95.0),
                Scope::Overall,
                Some(3_000_000),
            ),
            t(
                Metric::ResponseTime,
                p(50.0),
                Scope::Step("a".into()),
                Some(7_500_000),
            ),
            t(Metric::ErrorRate, None, Scope::Overall, Some(3_000_000)),
            t(Metric::Checks, None, Scope::Scenario("s1".into()), Some(0)),
            t(Metric::Rps, None, Scope::Overall, Some(7_500_000)),
            t(Metric::Users, None, Scope::Overall, Some(7_500_000)),
            t(
                Metric::ResponseTime,
                Some(Aggregate::Max),
                Scope::Tag("api".into()),
                None,
            ),
            t(Metric::ErrorRate, None, Scope::Tag("api".into()), None),
            t(
                Metric::ResponseTime,
                p(99.0),
                Scope::Overall,
                Some(60_000_000),
            ),
            t(
                Metric::ServiceTime,
                p(95.0),
                Scope::Overall,
                Some(3_000_000),
            ),
            t(
                Metric::ServiceTime,
                Some(Aggregate::Mean),
                Scope::Tag("api".into()),
                None,
            ),
            t(Metric::ServiceTime, p(50.0), Scope::Step("b".into()), None),
        ];
        let starts: Vec<u64> = targets.iter().filter_map(|t| t.after_us).collect();
        let seconds = WindowData::from_dir(dir.path()).unwrap();
        let segments = WindowData::from_dir_segmented(dir.path(), &result.cells, &starts).unwrap();
        assert_eq!(seconds.intervals.len(), 10);
        assert!(
            segments.intervals.len() <= 3,
            "{}",
            segments.intervals.len()
        );
        let a = evaluate(&result, &seconds, &targets);
        let b = evaluate(&result, &segments, &targets);
        assert_eq!(a, b);
        assert!(a.targets.iter().filter(|o| o.measured.is_some()).count() >= 11);
        // Service times are judged on their own histograms: a third of the response times.
        let (resp, serv) = (&a.targets[0], &a.targets[9]);
        assert_eq!(serv.metric, "service_time.p95");
        let (r, s) = (resp.measured.unwrap(), serv.measured.unwrap());
        assert!((s - (r / 3.0 + 10.0)).abs() <= r * 0.01, "{s} vs {r}");
    }
}

/// Histograms summed by (segment, position, kind slot).
type Sums = HashMap<(usize, usize, usize), Hist>;

/// Decode base64 histograms and sum them by slot, on up to four threads.
fn decode_and_merge(jobs: &[((usize, usize, usize), String)]) -> Result<Sums, MetricsError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let chunk = jobs.len().div_ceil(threads).max(1);
    let partials: Vec<Result<Sums, MetricsError>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut sums = Sums::new();
                    for (slot, encoded) in part {
                        let h = Hist::from_base64(encoded)?;
                        sums.entry(*slot).or_default().add(&h);
                    }
                    Ok(sums)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(MetricsError::Histogram("a decoding thread panicked".into()))
                })
            })
            .collect()
    });
    let mut out = Sums::new();
    for part in partials {
        for (slot, h) in part? {
            out.entry(slot).or_default().add(&h);
        }
    }
    Ok(out)
}
