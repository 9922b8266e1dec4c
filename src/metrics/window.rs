//! A run's measurements interval by interval, for targets over a window (`after: 30s`).
//!
//! `result.json` holds the totals; a window needs the one-second intervals: the counts from
//! the journal (`intervals.jsonl`) and the histograms from the interval log
//! (`latency.hlog`), joined by cell and start time. A window's percentiles come from the
//! merged histograms of its intervals, never from averaged per-interval percentiles.

use std::collections::HashMap;
use std::path::Path;

use super::MetricsError;
use super::histogram::Hist;
use super::result::CellInfo;
use super::store::{self, HlogEntry, JournalLine};

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
    pub requests: u64,
    /// Requests that failed in transport, or got a 4xx/5xx status from a step without a
    /// `status` check.
    pub errors: u64,
    /// Requests that got a response but failed a check (a `status` check included).
    pub check_failed: u64,
    /// Failures per check label of the cell.
    pub check_failures: Vec<u64>,
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

    /// Join journal lines with interval-log histograms (matched by the cells' tags).
    pub fn from_parts(
        cells: &[CellInfo],
        journal: &[JournalLine],
        hlog: Vec<HlogEntry>,
    ) -> WindowData {
        let ids: HashMap<&str, usize> = cells.iter().map(|c| (c.tag.as_str(), c.id)).collect();
        let mut hists: HashMap<(usize, u64), Hist> = HashMap::new();
        for e in hlog {
            if let Some(&id) = e.tag.as_deref().and_then(|t| ids.get(t)) {
                hists.insert((id, ms_key(e.start.as_secs_f64() * 1e6)), e.hist);
            }
        }
        let intervals = journal
            .iter()
            .map(|j| Interval {
                t_us: j.t_us,
                duration_us: j.duration_us,
                users: j.users,
                cells: j
                    .cells
                    .iter()
                    .map(|c| IntervalCell {
                        cell: c.cell,
                        hist: hists
                            .remove(&(c.cell, ms_key(j.t_us as f64)))
                            .unwrap_or_default(),
                        requests: c.requests,
                        errors: c.errors.values().sum(),
                        check_failed: c.check_failed,
                        check_failures: c.checks.clone(),
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
        };
        let journal = [
            JournalLine {
                t_us: 0,
                duration_us: 1_000_000,
                users: 5,
                cells: vec![jc(0, 3), jc(1, 2)],
            },
            JournalLine {
                t_us: 1_000_000,
                duration_us: 1_000_000,
                users: 7,
                cells: vec![jc(1, 4)],
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
                entry("other", 1, 40),
            ],
        );
        assert_eq!(w.intervals.len(), 2);
        assert_eq!(w.intervals[0].cells[1].hist.max(), 20);
        assert_eq!(w.intervals[1].cells[0].hist.max(), 30);
        assert_eq!(w.intervals[1].cells[0].errors, 1);
        assert_eq!(w.starting_at(500_000).count(), 1);
        assert_eq!(w.starting_at(0).count(), 2);
    }
}
