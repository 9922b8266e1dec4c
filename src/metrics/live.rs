//! The live figures of a run that several processes write at once: a `--workers` run's
//! worker folders, or the shard folders `skein merge --watch` follows on a shared volume.
//!
//! Each part's journal (`intervals.jsonl`) and interval log (`latency.hlog`) are read as they
//! grow, from where the last read stopped. Parts join as their folders appear. The counts of
//! the parts' latest second are added and their response-time histograms merged exactly (HDR
//! histograms add without loss), so the live percentiles are those of every part's requests.
//!
//! A reader that publishes the run's seconds ([`LiveParts::publishing`]) also gets each
//! completed grid second whole ([`LiveParts::completed`]): every cell's counts and
//! histograms of every part added exactly, and their gauges merged, as `skein merge` merges
//! the folders at the end.
//!
//! Seconds are matched on a grid, `round(t_us / interval)`: on a common clock (`--start-at`)
//! that is the same second on every machine; without one it is each part's n-th second,
//! which for local workers started within milliseconds of each other is the same thing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use super::merge::merge_second;
use super::store::{
    HLOG_FILE, HistKind, JOURNAL_FILE, JournalLine, RESULT_FILE, StoredInterval, hist_key, hlog_ms,
    split_tag, stored_interval, tag_ids,
};
use super::{CellInfo, Hist, ServerTimingNames, TimePoint};

/// How many of a part's latest seconds are kept (the newest few are all that is shown).
const KEEP_SECONDS: u64 = 4;

/// The parts of one run, read as they grow.
pub struct LiveParts {
    parts: Vec<Part>,
    /// The length of an interval, µs: the grid seconds are keyed on.
    interval_us: u64,
    requests: u64,
    errors: u64,
    /// Publishing: each part's seconds are kept whole until published.
    whole: Option<Whole>,
}

/// What a publishing reader keeps besides the console's figures.
struct Whole {
    /// One interning of the Server-Timing names for every part, so their ids agree.
    names: ServerTimingNames,
    /// The parts' cells (the first part's that has its `result.json`).
    cells: Option<Vec<CellInfo>>,
    /// The next grid second to publish.
    next: u64,
}

/// What a publishing reader keeps of one part.
#[derive(Default)]
struct PartWhole {
    /// Its interval-log tags' cell ids (once its `result.json` is read).
    tag_ids: Option<HashMap<String, usize>>,
    /// Journal lines read whose histograms are not joined yet.
    lines: Vec<JournalLine>,
    /// Histograms read, by (cell, kind, start in ms), until their line is read.
    hists: HashMap<(usize, usize, u64), Hist>,
    /// Its seconds not published yet, by grid index (two intervals can share one).
    seconds: BTreeMap<u64, Vec<StoredInterval>>,
    /// The newest grid second it has written.
    newest: Option<u64>,
    /// It has ended: nothing more is coming.
    ended: bool,
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
    whole: PartWhole,
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
            whole: None,
        }
    }

    /// As [`LiveParts::new`], and keep every part's seconds whole until
    /// [`LiveParts::completed`] hands them out.
    pub fn publishing(interval_us: u64) -> LiveParts {
        LiveParts {
            whole: Some(Whole {
                names: ServerTimingNames::new(),
                cells: None,
                next: 0,
            }),
            ..LiveParts::new(interval_us)
        }
    }

    /// The parts' cells (their layout), once a part's `result.json` was read by a
    /// publishing reader.
    pub fn cells(&self) -> Option<&[CellInfo]> {
        self.whole.as_ref()?.cells.as_deref()
    }

    /// The Server-Timing names the completed seconds' ids refer to.
    pub fn server_timing_names(&self) -> Option<&ServerTimingNames> {
        self.whole.as_ref().map(|w| &w.names)
    }

    /// The part in folder `dir` has ended (its process exited): once read, its seconds are
    /// complete and the others' are not held back for it.
    pub fn end(&mut self, dir: &Path) {
        if let Some(p) = self.parts.iter_mut().find(|p| p.dir == dir) {
            p.whole.ended = true;
        }
    }

    /// A publishing reader: the grid seconds completed since the last call, every part's
    /// data added (see [`merge_second`]), in order, each once. A second is complete when
    /// every part that has not ended has written a later one; call [`LiveParts::read`]
    /// first. Nothing for a reader that does not publish.
    pub fn completed(&mut self) -> Vec<StoredInterval> {
        let Some(whole) = &mut self.whole else {
            return Vec::new();
        };
        let Some(cells) = &whole.cells else {
            return Vec::new();
        };
        // The first grid second some running part may still write.
        let mut limit = u64::MAX;
        for p in &self.parts {
            if !p.whole.ended {
                match p.whole.newest {
                    Some(n) => limit = limit.min(n),
                    None => return Vec::new(),
                }
            }
        }
        let mut keys: Vec<u64> = self
            .parts
            .iter()
            .flat_map(|p| p.whole.seconds.range(whole.next..limit).map(|(k, _)| *k))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let here: Vec<(usize, StoredInterval)> = self
                .parts
                .iter_mut()
                .enumerate()
                .flat_map(|(i, p)| {
                    p.whole
                        .seconds
                        .remove(&k)
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |iv| (i, iv))
                })
                .collect();
            let refs: Vec<(usize, &StoredInterval)> = here.iter().map(|(i, iv)| (*i, iv)).collect();
            out.push(merge_second(cells, k * self.interval_us, &refs));
            whole.next = k + 1;
        }
        out
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
            whole: PartWhole::default(),
        });
    }

    /// Whether the run folder `dir` is followed.
    pub fn follows(&self, dir: &Path) -> bool {
        self.parts.iter().any(|p| p.dir == dir)
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
            self.join_whole(i);
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
            if self.whole.is_some() {
                self.parts[i].whole.lines.push(j.clone());
            }
            self.parts[i].seconds.entry(k).or_default().line = Some(j);
        }
        LiveParts::prune(&mut self.parts[i]);
    }

    /// Read what part `i` added to its interval log since the last call: the response
    /// times of its requests, by second.
    fn read_hlog(&mut self, i: usize) {
        if self.parts[i].request_tags.is_none()
            && let Some(cells) = part_cells(&self.parts[i].dir)
        {
            let part = &mut self.parts[i];
            part.request_tags = Some(request_tags(&cells));
            if let Some(whole) = &mut self.whole {
                part.whole.tag_ids = Some(tag_ids(&cells));
                whole.cells.get_or_insert(cells);
            }
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
            let Some(e) = hlog_line(line) else {
                continue;
            };
            let response = match (&self.whole, &part.whole.tag_ids) {
                // Publishing: every histogram of a cell is kept until its line is read.
                (Some(whole), Some(ids)) => {
                    let Some((cell, kind)) = hist_key(e.tag, ids, &whole.names) else {
                        continue;
                    };
                    let Ok(h) = Hist::from_base64(e.b64) else {
                        continue;
                    };
                    let ms = hlog_ms(std::time::Duration::from_secs_f64(e.start_s));
                    let response = is_response(e.tag, tags).then(|| h.clone());
                    part.whole.hists.insert((cell, kind, ms), h);
                    response
                }
                _ if is_response(e.tag, tags) => Hist::from_base64(e.b64).ok(),
                _ => None,
            };
            let Some(h) = response else {
                continue;
            };
            let k = grid_second((e.start_s * 1e6).round() as u64, interval_us);
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

    /// A publishing reader: join part `i`'s journal lines read so far with their
    /// histograms (a line is written after its histograms, and the journal is read first).
    fn join_whole(&mut self, i: usize) {
        let Some(whole) = &self.whole else {
            return;
        };
        let Some(cells) = &whole.cells else {
            return;
        };
        let part = &mut self.parts[i].whole;
        if part.tag_ids.is_none() {
            return;
        }
        let mut last_ms = None;
        for j in std::mem::take(&mut part.lines) {
            let iv = stored_interval(&j, cells, &whole.names, &mut part.hists);
            let k = grid_second(j.t_us, self.interval_us);
            part.seconds.entry(k).or_default().push(iv);
            part.newest = Some(part.newest.map_or(k, |n| n.max(k)));
            last_ms = Some((j.t_us as f64 / 1000.0).round() as u64);
        }
        // Histograms of seconds whose line is read are not wanted any more.
        if let Some(last) = last_ms {
            part.hists.retain(|&(_, _, ms), _| ms > last);
        }
    }
}

/// The cells of the run folder `dir`, from its `result.json`; `None` before it is there.
fn part_cells(dir: &Path) -> Option<Vec<CellInfo>> {
    #[derive(serde::Deserialize)]
    struct Cells {
        cells: Vec<CellInfo>,
    }
    let bytes = std::fs::read(dir.join(RESULT_FILE)).ok()?;
    let cells: Cells = serde_json::from_slice(&bytes).ok()?;
    Some(cells.cells)
}

/// The interval-log tags of `cells` whose samples are requests (page views are not).
fn request_tags(cells: &[CellInfo]) -> HashSet<String> {
    cells
        .iter()
        .filter(|c| c.is_request())
        .map(|c| c.tag.clone())
        .collect()
}

/// The grid second an interval starting `t_us` after the start falls in (a harvest runs a
/// few ms after its tick: 1.004 s is second 1).
fn grid_second(t_us: u64, interval_us: u64) -> u64 {
    (t_us + interval_us / 2) / interval_us
}

/// One interval-log line of a cell: its tag, start (s) and histogram, encoded.
struct HlogLine<'a> {
    tag: &'a str,
    start_s: f64,
    b64: &'a str,
}

fn hlog_line(line: &str) -> Option<HlogLine<'_>> {
    let rest = line.strip_prefix("Tag=")?;
    let mut fields = rest.splitn(5, ',');
    let (tag, start, _, _, b64) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    Some(HlogLine {
        tag,
        start_s: start.parse().ok()?,
        b64,
    })
}

/// Whether the tag is of the response times of one of `request_tags`.
fn is_response(tag: &str, request_tags: &HashSet<String>) -> bool {
    matches!(split_tag(tag), Some((cell, HistKind::Response)) if request_tags.contains(cell))
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
