//! The live figures of a run that several processes write at once: a `--workers` run's
//! worker folders, or the shard folders `skein merge --watch` follows on a shared volume.
//!
//! Each part's journal (`intervals.jsonl`) and interval log (`latency.hlog`) are read as they
//! grow, from where the last read stopped. Parts join as their folders appear. The counts of
//! the parts' latest second are added and their response-time histograms merged exactly (HDR
//! histograms add without loss), so the live percentiles are those of every part's requests.
//!
//! Seconds are matched on a grid, `round(t_us / interval)`: on a common clock (`--start-at`)
//! that is the same second on every machine; without one it is each part's n-th second,
//! which for local workers started within milliseconds of each other is the same thing.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use super::store::{HLOG_FILE, HistKind, JOURNAL_FILE, JournalLine, RESULT_FILE, split_tag};
use super::{CellInfo, Hist, TimePoint};

/// How many of a part's latest seconds are kept (the newest few are all that is shown).
const KEEP_SECONDS: u64 = 4;

/// The parts of one run, read as they grow.
pub struct LiveParts {
    parts: Vec<Part>,
    /// The length of an interval, µs: the grid seconds are keyed on.
    interval_us: u64,
    requests: u64,
    errors: u64,
}

/// The figures of every part so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveTotals {
    /// The latest second that every running part has written, added up.
    pub last: TimePoint,
    /// Requests and errors (failed checks included) since the start.
    pub requests: u64,
    pub errors: u64,
}

/// One part: a run folder being written.
struct Part {
    dir: PathBuf,
    /// Interval-log tags of its cells whose samples are requests (page views are not), from
    /// its `result.json` (written before any interval).
    request_tags: Option<HashSet<String>>,
    /// How far its journal and interval log have been read.
    journal_offset: u64,
    hlog_offset: u64,
    /// Its latest seconds by grid index: the journal's counts (once written) and the
    /// response times of its requests.
    seconds: BTreeMap<u64, PartSecond>,
}

#[derive(Default)]
struct PartSecond {
    line: Option<JournalLine>,
    hist: Option<Hist>,
}

impl Part {
    /// Its newest second whose journal line is there (the line is written after the
    /// second's histograms).
    fn newest(&self) -> Option<u64> {
        self.seconds
            .iter()
            .rev()
            .find(|(_, s)| s.line.is_some())
            .map(|(k, _)| *k)
    }
}

impl LiveParts {
    /// No parts yet; `interval_us` is the length of the run's intervals.
    pub fn new(interval_us: u64) -> LiveParts {
        LiveParts {
            parts: Vec::new(),
            interval_us: interval_us.max(1),
            requests: 0,
            errors: 0,
        }
    }

    /// Follow the run folder `dir` too (nothing when it is followed already).
    pub fn add(&mut self, dir: &Path) {
        if self.parts.iter().any(|p| p.dir == dir) {
            return;
        }
        self.parts.push(Part {
            dir: dir.to_path_buf(),
            request_tags: None,
            journal_offset: 0,
            hlog_offset: 0,
            seconds: BTreeMap::new(),
        });
    }

    /// How many parts are followed.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Read what the parts added since the last call: the latest second of all of them
    /// together, and the totals so far.
    ///
    /// The latest second is the newest grid second any part has written, unless a part is
    /// one second behind (about to write it: the parts harvest a few ms apart, and a shared
    /// volume shows appends late): then the one before, which every running part has. A
    /// part further behind has finished (or stalled) and adds nothing old.
    pub fn read(&mut self) -> LiveTotals {
        for i in 0..self.parts.len() {
            // The journal first: a line seen there has its histograms in the log already.
            self.read_journal(i);
            self.read_hlog(i);
        }
        let newest: Vec<u64> = self.parts.iter().filter_map(Part::newest).collect();
        let mut p = TimePoint::default();
        let Some(&top) = newest.iter().max() else {
            return self.totals(p);
        };
        let shown = if newest.iter().any(|&n| n + 1 == top) {
            top - 1
        } else {
            top
        };
        let mut h = Hist::new();
        for part in &self.parts {
            let Some(s) = part.seconds.get(&shown) else {
                continue;
            };
            if let Some(j) = &s.line {
                p.users += j.users;
                for c in &j.cells {
                    p.requests += c.requests;
                    p.errors += c.errors.values().sum::<u64>();
                    p.check_failed += c.check_failed;
                }
                p.duration_us = p.duration_us.max(j.duration_us);
            }
            if let Some(sh) = &s.hist {
                h.add(sh);
            }
        }
        p.t_us = shown * self.interval_us;
        if p.duration_us > 0 {
            p.rps = p.requests as f64 * 1e6 / p.duration_us as f64;
        }
        p.mean_us = h.mean().round() as u64;
        p.p50_us = h.quantile(0.5);
        p.p90_us = h.quantile(0.9);
        p.p95_us = h.quantile(0.95);
        p.p99_us = h.quantile(0.99);
        p.max_us = h.max();
        self.totals(p)
    }

    fn totals(&self, last: TimePoint) -> LiveTotals {
        LiveTotals {
            last,
            requests: self.requests,
            errors: self.errors,
        }
    }

    /// Keep the part's seconds near its newest only.
    fn prune(part: &mut Part) {
        let Some(&newest) = part.seconds.keys().next_back() else {
            return;
        };
        let oldest = newest.saturating_sub(KEEP_SECONDS - 1);
        part.seconds = part.seconds.split_off(&oldest);
    }

    /// Read what part `i` added to its journal since the last call.
    fn read_journal(&mut self, i: usize) {
        let path = self.parts[i].dir.join(JOURNAL_FILE);
        let Some(text) = read_whole_lines(&path, &mut self.parts[i].journal_offset) else {
            return;
        };
        for line in text.lines() {
            let Ok(j) = serde_json::from_str::<JournalLine>(line) else {
                continue;
            };
            for c in &j.cells {
                self.requests += c.requests;
                self.errors += c.errors.values().sum::<u64>() + c.check_failed;
            }
            let k = grid_second(j.t_us, self.interval_us);
            self.parts[i].seconds.entry(k).or_default().line = Some(j);
        }
        LiveParts::prune(&mut self.parts[i]);
    }

    /// Read what part `i` added to its interval log since the last call: the response
    /// times of its requests, by second.
    fn read_hlog(&mut self, i: usize) {
        if self.parts[i].request_tags.is_none() {
            self.parts[i].request_tags = request_tags(&self.parts[i].dir);
        }
        let part = &mut self.parts[i];
        let Some(tags) = &part.request_tags else {
            // Its cells are not known yet: its log is read once they are.
            return;
        };
        let Some(text) = read_whole_lines(&part.dir.join(HLOG_FILE), &mut part.hlog_offset) else {
            return;
        };
        let interval_us = self.interval_us;
        for line in text.lines() {
            let Some((start_s, h)) = response_entry(line, tags) else {
                continue;
            };
            let k = grid_second((start_s * 1e6).round() as u64, interval_us);
            // Seconds older than those kept are gone: not brought back half-filled.
            if part.seconds.keys().next().is_some_and(|&first| k < first) {
                continue;
            }
            match &mut part.seconds.entry(k).or_default().hist {
                Some(sum) => sum.add(&h),
                slot => *slot = Some(h),
            }
        }
        LiveParts::prune(part);
    }
}

/// The interval-log tags of the cells of the run folder `dir` whose samples are requests,
/// from its `result.json`; `None` before it is there.
fn request_tags(dir: &Path) -> Option<HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct Cells {
        cells: Vec<CellInfo>,
    }
    let bytes = std::fs::read(dir.join(RESULT_FILE)).ok()?;
    let cells: Cells = serde_json::from_slice(&bytes).ok()?;
    Some(
        cells
            .cells
            .into_iter()
            .filter(|c| !c.is_page())
            .map(|c| c.tag)
            .collect(),
    )
}

/// The grid second an interval starting `t_us` after the start falls in (a harvest runs a
/// few ms after its tick: 1.004 s is second 1).
fn grid_second(t_us: u64, interval_us: u64) -> u64 {
    (t_us + interval_us / 2) / interval_us
}

/// An interval-log line's start (s) and histogram, when it holds the response times of one
/// of `request_tags`.
fn response_entry(line: &str, request_tags: &HashSet<String>) -> Option<(f64, Hist)> {
    let rest = line.strip_prefix("Tag=")?;
    let mut fields = rest.splitn(5, ',');
    let (tag, start, _, _, b64) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let (cell, HistKind::Response) = split_tag(tag)? else {
        return None;
    };
    if !request_tags.contains(cell) {
        return None;
    }
    let start: f64 = start.parse().ok()?;
    Some((start, Hist::from_base64(b64).ok()?))
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::metrics::accumulate::{Accumulator, Gauges};
    use crate::metrics::{CellData, RunInfo, RunWriter};

    fn cells() -> Vec<CellInfo> {
        vec![CellInfo {
            id: 0,
            scenario: "s".into(),
            step: "GET /x".into(),
            method: "GET".into(),
            tag: "s/GET_/x".into(),
            checks: Vec::new(),
            tags: Vec::new(),
        }]
    }

    /// A part's run folder under `root/name`, as a run writes it.
    fn part(root: &Path, name: &str) -> (PathBuf, RunWriter) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let initial =
            Accumulator::new(cells()).finish(RunInfo::blank(), serde_json::Value::Null, Vec::new());
        let w = RunWriter::create(&dir, &initial, SystemTime::now()).unwrap();
        (dir, w)
    }

    /// One second of `n` requests taking `us` each, starting `t_us` after the start, with
    /// `users` users.
    fn second(w: &mut RunWriter, t_us: u64, users: u64, n: u64, us: u64) {
        let mut data = vec![CellData::new(0)];
        for _ in 0..n {
            data[0].hist.record(us);
            data[0].service.record(us);
        }
        data[0].requests = n;
        data[0].ok = n;
        w.write_interval_with(t_us, 1_000_000, &Gauges::users(users), &data)
            .unwrap();
    }

    /// Issue 12, defect 3: with several workers the live line showed p95 `0µs`. Two
    /// workers' folders as they write them, one second each: the live percentiles are those
    /// of both workers' requests merged.
    #[test]
    fn issue12_live_percentiles_merge_the_workers_histograms() {
        let out = tempfile::tempdir().unwrap();
        let mut live = LiveParts::new(1_000_000);
        for (i, us) in [(0, 1_000u64), (1, 100_000)] {
            let (dir, mut w) = part(out.path(), &i.to_string());
            second(&mut w, 0, 1, 100, us);
            live.add(&dir);
        }
        let t = live.read();
        let p = &t.last;
        assert_eq!(
            (t.requests, t.errors, p.requests, p.users),
            (200, 0, 200, 2)
        );
        // Half the samples at 1 ms, half at 100 ms: p95 and p99 are the slow worker's.
        assert!((99_000..=100_100).contains(&p.p95_us), "{p:?}");
        assert!((99_000..=100_100).contains(&p.p99_us), "{p:?}");
        assert!((990..=1_001).contains(&p.p50_us), "{p:?}");
        assert!((50_000..=51_000).contains(&p.mean_us), "{p:?}");
    }

    /// Issue 15: shards on a common clock harvest a few ms apart and are read at any moment.
    /// Their seconds are matched on the grid, not by position (a late shard has no second
    /// 0); a shard one second behind holds the line on the second every shard has; a shard
    /// that has finished adds nothing old; parts that appear later join in.
    #[test]
    fn issue15_live_seconds_are_the_common_grid_seconds() {
        let out = tempfile::tempdir().unwrap();
        let mut live = LiveParts::new(1_000_000);
        assert_eq!(live.read(), LiveTotals::default());
        let (a_dir, mut a) = part(out.path(), "shard-0");
        live.add(&a_dir);
        live.add(&a_dir);
        assert_eq!(live.len(), 1);
        second(&mut a, 4_000, 2, 10, 1_000);
        second(&mut a, 1_003_000, 2, 20, 1_000);
        // Shard 1 started late: its first second is the grid's second 1.
        let (b_dir, mut b) = part(out.path(), "shard-1");
        second(&mut b, 1_180_000, 3, 30, 9_000);
        live.add(&b_dir);
        let t = live.read();
        assert_eq!(
            (t.last.t_us, t.last.users, t.last.requests),
            (1_000_000, 5, 50)
        );
        assert_eq!((t.requests, t.last.max_us > 8_000), (60, true));
        // Shard 0 writes second 2 first: shard 1 is one behind, so second 1 stays.
        second(&mut a, 2_002_000, 2, 40, 1_000);
        let t = live.read();
        assert_eq!(
            (t.last.t_us, t.last.requests, t.requests),
            (1_000_000, 50, 100)
        );
        second(&mut b, 2_001_000, 3, 50, 9_000);
        let t = live.read();
        assert_eq!(
            (t.last.t_us, t.last.users, t.last.requests),
            (2_000_000, 5, 90)
        );
        // Shard 1 has finished (at second 2); shard 0 goes on: only its seconds are shown.
        second(&mut a, 3_001_000, 2, 60, 1_000);
        second(&mut a, 4_001_000, 2, 70, 1_000);
        let t = live.read();
        assert_eq!(
            (t.last.t_us, t.last.users, t.last.requests),
            (4_000_000, 2, 70)
        );
        assert!(t.last.max_us < 2_000, "{:?}", t.last);
        assert_eq!(t.requests, 10 + 20 + 30 + 40 + 50 + 60 + 70);
        assert!((69.0..=71.0).contains(&t.last.rps), "{:?}", t.last);
    }
}
