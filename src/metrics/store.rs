//! The results folder: `result.json`, `latency.hlog` and the interval journal.
//!
//! Written incrementally: at the start `result.json` holds the run's facts with status
//! `running`; every second one line per cell goes to `latency.hlog` (HdrHistogram interval
//! log, V2 + DEFLATE, one tag per (scenario, step)) and one line to `intervals.jsonl` (the
//! counts), both flushed. At the end `result.json` is replaced atomically with the totals.
//! A process that dies loses at most the current second: [`load_result`] rebuilds the
//! totals from the journal when `result.json` still says `running`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde::{Deserialize, Serialize};

use super::MetricsError;
use super::accumulate::{Accumulator, Gauges};
use super::histogram::Hist;
use super::recorder::{CellData, ErrorKind, IntervalData, Protocol};
use super::result::{NO_LATENCIES, RunResult, RunStatus, SCHEMA_VERSION, StopReason};
use super::server_timing::ServerTimingNames;

pub const RESULT_FILE: &str = "result.json";
pub const HLOG_FILE: &str = "latency.hlog";
pub const JOURNAL_FILE: &str = "intervals.jsonl";
/// The targets the run is judged by, so `skein report` can judge it again from the folder.
pub const TARGETS_FILE: &str = "targets.json";
/// Tag suffix of the service-time histograms in the interval log (`browse/GET_/~service`);
/// the plain tag holds the response time.
pub const SERVICE_SUFFIX: &str = "~service";
/// Tag infix of the `Server-Timing` histograms in the interval log: `TAG~st:NAME` holds
/// the `dur` of the entry `NAME` (µs). Cell tags never contain `~`.
pub const SERVER_TIMING_INFIX: &str = "~st:";
/// Tag suffix of the closed model's coordinated-omission estimate in the interval log
/// (`TAG~omitted`): only the samples the users would have sent while they waited; the
/// plain tag plus these is the corrected estimate. Absent when nothing was omitted.
pub const OMITTED_SUFFIX: &str = "~omitted";

/// What an interval-log histogram holds, read from its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistKind<'a> {
    /// The response time (the plain tag).
    Response,
    /// The service time (`TAG~service`).
    Service,
    /// A `Server-Timing` entry (`TAG~st:NAME`).
    ServerTiming(&'a str),
    /// The closed model's omitted samples (`TAG~omitted`), an estimate kept apart.
    Omitted,
}

/// The cell tag of an interval-log tag, and what its histogram holds; `None` for a tag
/// with a suffix this version does not know.
pub fn split_tag(tag: &str) -> Option<(&str, HistKind<'_>)> {
    match tag.split_once('~') {
        None => Some((tag, HistKind::Response)),
        Some((cell, "service")) => Some((cell, HistKind::Service)),
        Some((cell, "omitted")) => Some((cell, HistKind::Omitted)),
        Some((cell, rest)) => rest
            .strip_prefix("st:")
            .filter(|n| !n.is_empty())
            .map(|n| (cell, HistKind::ServerTiming(n))),
    }
}

/// Save the targets of a run into its folder.
pub fn write_targets(dir: &Path, targets: &[super::verdict::Target]) -> Result<(), MetricsError> {
    let path = dir.join(TARGETS_FILE);
    let bytes = serde_json::to_vec_pretty(targets).map_err(|e| MetricsError::Json {
        path: path.clone(),
        source: e,
    })?;
    write_atomic(&path, &bytes)
}

/// The targets saved with a run (none when the folder has no `targets.json`).
pub fn read_targets(dir: &Path) -> Result<Vec<super::verdict::Target>, MetricsError> {
    let path = dir.join(TARGETS_FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map_err(|e| MetricsError::Json { path, source: e })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MetricsError + '_ {
    move |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Make a name safe for a folder or an interval-log tag: letters, digits, `-`, `_`, `.`, `/`
/// are kept, anything else becomes `_`.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// `<base>/<name>-<UTC yyyymmddThhmmssZ>`, made unique with a suffix if it exists.
pub fn new_run_dir(
    base: &Path,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf, MetricsError> {
    let stem = format!(
        "{}-{}",
        sanitize(name).replace('/', "_"),
        now.format("%Y%m%dT%H%M%SZ")
    );
    fs::create_dir_all(base).map_err(io_err(base))?;
    for i in 0..1000 {
        let p = if i == 0 {
            base.join(&stem)
        } else {
            base.join(format!("{stem}-{i}"))
        };
        match fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(MetricsError::Io { path: p, source: e }),
        }
    }
    Err(MetricsError::Io {
        path: base.join(stem),
        source: std::io::Error::other("too many runs with the same name in the same second"),
    })
}

/// Write `bytes` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MetricsError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// One journal line: the counts of one interval (histograms are in the interval log).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JournalLine {
    /// Start of the interval, from the start of the run.
    pub t_us: u64,
    pub duration_us: u64,
    /// Users active at the end of the interval.
    pub users: u64,
    /// Open model: iterations due, started late and dropped in the interval.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scheduled: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub started: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// Generator CPU, percent of its cores.
    #[serde(default)]
    pub cpu_pct: f64,
    /// Largest generator timer lag, µs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sched_lag_us: u64,
    /// The cells that had requests in the interval.
    pub cells: Vec<JournalCell>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl JournalLine {
    /// The interval's gauges.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            users: self.users,
            scheduled: self.scheduled,
            started: self.started,
            late: self.late,
            dropped: self.dropped,
            cpu_pct: self.cpu_pct,
            sched_lag_us: self.sched_lag_us,
        }
    }
}

/// One cell's counts in one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JournalCell {
    /// Index into `RunResult::cells`.
    pub cell: usize,
    pub requests: u64,
    pub ok: u64,
    pub check_failed: u64,
    pub bytes: u64,
    /// Errors by kind (`timeout`, `http_5xx`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// Failures per check label of the cell (empty when none failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<u64>,
    /// Samples the coordinated-omission correction added (closed model).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub corrected: u64,
    /// Malformed `Server-Timing` entries skipped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub server_timing_malformed: u64,
    /// `Server-Timing` entries with a duration not kept (too many names).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub server_timing_overflow: u64,
    /// Redirects followed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redirects: u64,
    /// Requests sent again on a new connection (a kept-alive one closed under them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u64,
    /// Responses by HTTP version (`HTTP/1.1`, `HTTP/2`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_versions: BTreeMap<String, u64>,
}

/// Read a run's interval journal (`intervals.jsonl`), one entry per interval. The last
/// line may be cut short (the process died while writing it) and is then left out; a
/// line before it that is not an interval (bytes that are not UTF-8, not JSON, another
/// file) means the journal is damaged: an error naming the line.
pub fn read_journal(dir: &Path) -> Result<Vec<JournalLine>, MetricsError> {
    let path = dir.join(JOURNAL_FILE);
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_slice::<JournalLine>(line) {
            Ok(j) => out.push(j),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(MetricsError::Schema {
                    path,
                    detail: format!(
                        "interval {} of {} is damaged ({e}): not a journal Skein wrote",
                        i + 1,
                        lines.len()
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Writes a run's folder as the run goes.
pub struct RunWriter {
    dir: PathBuf,
    hlog: BufWriter<File>,
    journal: BufWriter<File>,
    tags: Vec<String>,
    /// Names of the cells' `Server-Timing` histograms, by id.
    server_timing: ServerTimingNames,
}

impl RunWriter {
    /// Start the folder: `result.json` (status `running`), the interval log's header and an
    /// empty journal.
    pub fn create(
        dir: &Path,
        initial: &RunResult,
        started: SystemTime,
    ) -> Result<RunWriter, MetricsError> {
        let mut w = RunWriter {
            dir: dir.to_path_buf(),
            hlog: BufWriter::new(
                File::create(dir.join(HLOG_FILE)).map_err(io_err(&dir.join(HLOG_FILE)))?,
            ),
            journal: BufWriter::new(
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(dir.join(JOURNAL_FILE))
                    .map_err(io_err(&dir.join(JOURNAL_FILE)))?,
            ),
            tags: initial.cells.iter().map(|c| c.tag.clone()).collect(),
            server_timing: ServerTimingNames::new(),
        };
        w.write_result(initial)?;
        let epoch = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let date = chrono::DateTime::<chrono::Utc>::from(started).to_rfc3339();
        let header = format!(
            "#[Histogram log format version 1.3]\n\
             #[Written by skein {}: response times in microseconds, one tag per scenario step; TAG~service: service times; TAG~st:NAME: Server-Timing entry NAME; TAG~omitted: closed model, samples a coordinated-omission correction would add (an estimate, not in TAG)]\n\
             #[StartTime: {epoch:.3} (seconds since epoch), {date}]\n\
             #[BaseTime: {epoch:.3} (seconds since epoch)]\n\
             #[MaxValueDivisor: 1000.0 (maximums below are in milliseconds)]\n\
             \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
            env!("CARGO_PKG_VERSION")
        );
        w.hlog
            .write_all(header.as_bytes())
            .map_err(io_err(&dir.join(HLOG_FILE)))?;
        w.hlog.flush().map_err(io_err(&dir.join(HLOG_FILE)))?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Name the cells' `Server-Timing` histograms (by id) with the run's table, so they are
    /// written under `TAG~st:NAME`; without it they are not written.
    pub fn set_server_timing_names(&mut self, names: ServerTimingNames) {
        self.server_timing = names;
    }

    /// Append one interval with only its user count.
    pub fn write_interval(
        &mut self,
        t_us: u64,
        duration_us: u64,
        users: u64,
        data: &IntervalData,
    ) -> Result<(), MetricsError> {
        self.write_interval_with(t_us, duration_us, &Gauges::users(users), data)
    }

    /// Append one interval (start `t_us` after the run's start) and flush it to disk:
    /// each cell's response-time histogram under its tag, its service-time histogram under
    /// `TAG~service`, the counts and gauges to the journal.
    pub fn write_interval_with(
        &mut self,
        t_us: u64,
        duration_us: u64,
        g: &Gauges,
        data: &IntervalData,
    ) -> Result<(), MetricsError> {
        let hlog_path = self.dir.join(HLOG_FILE);
        let mut cells = Vec::new();
        for (i, d) in data.iter().enumerate() {
            if d.requests == 0 {
                continue;
            }
            let timings = d.server_timing.iter().enumerate().filter_map(|(id, h)| {
                let name = self.server_timing.get(id)?;
                Some((h, format!("{SERVER_TIMING_INFIX}{name}")))
            });
            let all = [
                (&d.hist, String::new()),
                (&d.service, SERVICE_SUFFIX.to_string()),
            ];
            let omitted = d.omitted.as_ref().map(|h| (h, OMITTED_SUFFIX.to_string()));
            for (h, suffix) in all.into_iter().chain(omitted).chain(timings) {
                if h.is_empty() {
                    continue;
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(h.to_v2_deflate());
                writeln!(
                    self.hlog,
                    "Tag={}{suffix},{:.3},{:.3},{:.3},{}",
                    self.tags[i],
                    t_us as f64 / 1e6,
                    duration_us as f64 / 1e6,
                    h.max() as f64 / 1000.0,
                    b64
                )
                .map_err(io_err(&hlog_path))?;
            }
            cells.push(JournalCell {
                cell: i,
                requests: d.requests,
                ok: d.ok,
                check_failed: d.check_failed,
                bytes: d.bytes,
                errors: d.errors_by_kind(),
                checks: if d.checks.iter().any(|c| *c > 0) {
                    d.checks.clone()
                } else {
                    Vec::new()
                },
                corrected: d.corrected,
                server_timing_malformed: d.server_timing_malformed,
                server_timing_overflow: d.server_timing_overflow,
                redirects: d.redirects,
                retries: d.retries,
                http_versions: d.http_versions(),
            });
        }
        let line = JournalLine {
            t_us,
            duration_us,
            users: g.users,
            scheduled: g.scheduled,
            started: g.started,
            late: g.late,
            dropped: g.dropped,
            cpu_pct: g.cpu_pct,
            sched_lag_us: g.sched_lag_us,
            cells,
        };
        let jpath = self.dir.join(JOURNAL_FILE);
        serde_json::to_writer(&mut self.journal, &line).map_err(|e| MetricsError::Json {
            path: jpath.clone(),
            source: e,
        })?;
        self.journal.write_all(b"\n").map_err(io_err(&jpath))?;
        self.hlog.flush().map_err(io_err(&hlog_path))?;
        self.journal.flush().map_err(io_err(&jpath))?;
        Ok(())
    }

    /// Replace `result.json` atomically.
    pub fn write_result(&mut self, result: &RunResult) -> Result<(), MetricsError> {
        let path = self.dir.join(RESULT_FILE);
        let bytes = serde_json::to_vec_pretty(result).map_err(|e| MetricsError::Json {
            path: path.clone(),
            source: e,
        })?;
        write_atomic(&path, &bytes)
    }
}

/// One histogram of the interval log.
#[derive(Debug, Clone)]
pub struct HlogEntry {
    pub tag: Option<String>,
    /// Start of the interval since the log's base time.
    pub start: Duration,
    pub duration: Duration,
    pub hist: Hist,
}

/// Read every interval histogram of an HdrHistogram interval log.
pub fn read_hlog(path: &Path) -> Result<Vec<HlogEntry>, MetricsError> {
    let mut out = Vec::new();
    for_each_hlog(path, |e| {
        let hist = e.hist().map_err(|err| MetricsError::Schema {
            path: path.to_path_buf(),
            detail: format!(
                "the histogram of `{}` at {:.3}s cannot be decoded ({err}): not an interval \
                 log Skein wrote",
                e.tag.unwrap_or_default(),
                e.start.as_secs_f64()
            ),
        })?;
        out.push(HlogEntry {
            tag: e.tag.map(str::to_string),
            start: e.start,
            duration: e.duration,
            hist,
        });
        Ok(())
    })?;
    Ok(out)
}

/// One interval of an interval log, its histogram not decoded yet.
pub struct RawHlogEntry<'a> {
    pub tag: Option<&'a str>,
    pub start: Duration,
    pub duration: Duration,
    /// The histogram as written: base64 of V2 + DEFLATE (decode with [`RawHlogEntry::hist`]).
    pub encoded: &'a str,
}

impl RawHlogEntry<'_> {
    /// Decode the histogram.
    pub fn hist(&self) -> Result<Hist, MetricsError> {
        Hist::from_base64(self.encoded)
    }
}

/// Stream an interval log, one interval at a time: `f` decodes only the histograms it
/// needs, and none has to stay alive, so a long run's log reads in constant memory.
pub fn for_each_hlog(
    path: &Path,
    mut f: impl FnMut(RawHlogEntry<'_>) -> Result<(), MetricsError>,
) -> Result<(), MetricsError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = match entry {
            Ok(e) => e,
            // The last line cut short (the process died while writing it): the log ends
            // before it, as the journal does.
            Err(hdrhistogram::serialization::interval_log::LogIteratorError::ParseError {
                offset,
            }) if is_last_line(&bytes, offset) => break,
            Err(e) => {
                return Err(MetricsError::Schema {
                    path: path.to_path_buf(),
                    detail: format!(
                        "damaged at line {} ({e:?}): not an interval log Skein wrote",
                        line_of(&bytes, offset_of(&e))
                    ),
                });
            }
        };
        if let LogEntry::Interval(ih) = entry {
            f(RawHlogEntry {
                tag: ih.tag().map(|t| t.as_str()),
                start: ih.start_timestamp(),
                duration: ih.duration(),
                encoded: ih.encoded_histogram(),
            })?;
        }
    }
    Ok(())
}

/// Where a parse error of the interval log is, in bytes.
fn offset_of(e: &hdrhistogram::serialization::interval_log::LogIteratorError) -> usize {
    match e {
        hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
            *offset
        }
    }
}

/// Is `offset` on the last line of `bytes` (nothing but a final newline after it)?
fn is_last_line(bytes: &[u8], offset: usize) -> bool {
    let rest = bytes.get(offset..).unwrap_or_default();
    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
    !rest.contains(&b'\n')
}

/// The line (from 1) of byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// Every histogram stored in `r` decodes; an error names the first that does not.
fn check_histograms(path: &Path, r: &RunResult) -> Result<(), MetricsError> {
    use super::result::{Latency, Summary};
    fn each<'a>(s: &'a Summary, mut f: impl FnMut(String, &'a Latency)) {
        f("response_time".into(), &s.response_time);
        f("service_time".into(), &s.service_time);
        if let Some(l) = &s.co_estimate {
            f("co_estimate".into(), l);
        }
        for (name, l) in &s.server_timing {
            f(format!("server_timing `{name}`"), l);
        }
    }
    let summaries = std::iter::once(("all requests".to_string(), &r.overall))
        .chain(
            r.steps
                .iter()
                .map(|s| (format!("step `{}`", s.name), &s.summary)),
        )
        .chain(
            r.scenarios
                .iter()
                .map(|s| (format!("scenario `{}`", s.name), &s.summary)),
        );
    let mut bad = None;
    for (whose, s) in summaries {
        each(s, |what, l| {
            if bad.is_some() || (l.count == 0 && l.histogram.is_empty()) {
                return;
            }
            if let Err(e) = l.hist() {
                bad = Some(format!(
                    "the {what} histogram of {whose} cannot be decoded ({e}): the file is \
                     damaged or was not written by skein"
                ));
            }
        });
    }
    match bad {
        None => Ok(()),
        Some(detail) => Err(MetricsError::Schema {
            path: path.to_path_buf(),
            detail,
        }),
    }
}

/// What a reader of the run folder `dir` should know about it that `result` does not
/// say, a line each for a `warning:`: a run rebuilt without its interval log has counts
/// but no latencies; a folder that has one of the interval log and the journal lost the
/// other. (A folder with `result.json` alone, copied or hand-made, is complete as it is.)
pub fn folder_notes(dir: &Path, result: &RunResult) -> Vec<String> {
    let rebuilt_without = matches!(
        result.run.stop_reason,
        Some(StopReason::Rebuilt { latencies: false })
    );
    if rebuilt_without {
        return vec![format!(
            "{}: missing; the run was rebuilt from its journal with counts only, {NO_LATENCIES}: \
             its percentiles are shown as `-`, and latency targets are not measured",
            dir.join(HLOG_FILE).display()
        )];
    }
    let (hlog, journal) = (dir.join(HLOG_FILE), dir.join(JOURNAL_FILE));
    match (hlog.is_file(), journal.is_file()) {
        (false, true) => vec![format!(
            "{}: missing; the totals and percentiles in {RESULT_FILE} are complete, but \
             targets over a window (`after:`) are not measured on latency",
            hlog.display()
        )],
        (true, false) => vec![format!(
            "{}: missing; the totals in {RESULT_FILE} are complete, but targets over a \
             window (`after:`) cannot be judged",
            journal.display()
        )],
        _ => Vec::new(),
    }
}

/// Read a run's `result.json`. A result still marked `running` (its process died) is rebuilt
/// from the interval journal and log and marked interrupted. Anything that makes the folder
/// unusable is an error naming the file and what is wrong: no folder or no `result.json`,
/// bytes that are not UTF-8 JSON, another schema, a stored histogram that does not decode,
/// and for a rebuilt run a damaged journal or interval log. [`folder_notes`] says what is
/// missing short of that.
pub fn load_result(dir: &Path) -> Result<RunResult, MetricsError> {
    let path = dir.join(RESULT_FILE);
    if !dir.is_dir() {
        return Err(MetricsError::Missing {
            path: dir.to_path_buf(),
            what: "a run folder",
        });
    }
    if !path.is_file() {
        return Err(MetricsError::Missing {
            path,
            what: "result.json: this is not a Skein run folder, or the run never started",
        });
    }
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(MetricsError::Schema {
            path,
            detail: format!(
                "not UTF-8 text (a bad byte at offset {}): damaged, or not a result Skein wrote",
                e.valid_up_to()
            ),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| MetricsError::Json {
            path: path.clone(),
            source: e,
        })?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        Some(v) => {
            return Err(MetricsError::Schema {
                path,
                detail: format!("schema_version {v}; this skein reads version {SCHEMA_VERSION}"),
            });
        }
        None => {
            return Err(MetricsError::Schema {
                path,
                detail: "no schema_version: not a Skein result".into(),
            });
        }
    }
    let result: RunResult = serde_json::from_value(value).map_err(|e| MetricsError::Json {
        path: path.clone(),
        source: e,
    })?;
    check_histograms(&path, &result)?;
    if result.run.status == RunStatus::Running {
        // A `--workers` run whose parent died: merge what its workers wrote.
        if result.run.workers.is_some() && dir.join(super::merge::WORKERS_DIR).is_dir() {
            return super::merge::recover_workers(dir, result);
        }
        return recover(dir, result);
    }
    Ok(result)
}

/// One interval of a run folder as stored: its counts from the journal joined with its
/// histograms from the interval log.
#[derive(Debug, Clone)]
pub struct StoredInterval {
    pub t_us: u64,
    pub duration_us: u64,
    pub gauges: Gauges,
    pub data: IntervalData,
}

/// Every interval of the run folder `dir` (whose cells `initial` lists), as the run
/// recorded it. `names` interns the `Server-Timing` entry names: pass the same one for
/// several folders that are to be merged, so their ids agree.
pub fn read_intervals(
    dir: &Path,
    initial: &RunResult,
    names: &ServerTimingNames,
) -> Result<Vec<StoredInterval>, MetricsError> {
    let journal = read_journal(dir)?;
    let tag_ids = tag_ids(&initial.cells);
    // Histograms by (cell, kind, interval start in ms).
    let mut hists: HashMap<(usize, usize, u64), Hist> = HashMap::new();
    let hpath = dir.join(HLOG_FILE);
    if hpath.is_file() {
        for e in read_hlog(&hpath)? {
            let Some((id, kind)) = e.tag.as_deref().and_then(|t| hist_key(t, &tag_ids, names))
            else {
                continue;
            };
            hists.insert((id, kind, hlog_ms(e.start)), e.hist);
        }
    }
    Ok(journal
        .iter()
        .map(|j| stored_interval(j, &initial.cells, names, &mut hists))
        .collect())
}

/// The interval-log histogram kind of the closed model's omitted samples (see [`hist_key`]).
const OMITTED_KIND: usize = usize::MAX;

/// The cell ids of the interval-log tags of `cells`.
pub fn tag_ids(cells: &[super::CellInfo]) -> HashMap<String, usize> {
    cells.iter().map(|c| (c.tag.clone(), c.id)).collect()
}

/// An interval-log histogram's cell and kind from its tag: kind 0 is the response time, 1
/// the service time, 2 + id a Server-Timing entry (ids interned in `names`) and
/// [`OMITTED_KIND`] the closed model's omitted samples. `None`: not a histogram of a cell.
pub fn hist_key(
    tag: &str,
    tag_ids: &HashMap<String, usize>,
    names: &ServerTimingNames,
) -> Option<(usize, usize)> {
    let (tag, kind) = split_tag(tag)?;
    let kind = match kind {
        HistKind::Response => 0,
        HistKind::Service => 1,
        HistKind::Omitted => OMITTED_KIND,
        HistKind::ServerTiming(name) => 2 + names.id(name)?,
    };
    Some((*tag_ids.get(tag)?, kind))
}

/// An interval-log start as the ms key [`stored_interval`] looks histograms up by.
pub fn hlog_ms(start: Duration) -> u64 {
    (start.as_secs_f64() * 1000.0).round() as u64
}

/// One interval as stored: the journal line `j`'s counts joined with its histograms, taken
/// out of `hists` (by cell, kind as [`hist_key`] gives it, start in ms as [`hlog_ms`]).
pub fn stored_interval(
    j: &JournalLine,
    cells: &[super::CellInfo],
    names: &ServerTimingNames,
    hists: &mut HashMap<(usize, usize, u64), Hist>,
) -> StoredInterval {
    let mut data: IntervalData = cells
        .iter()
        .map(|c| CellData::new(c.checks.len()))
        .collect();
    for c in &j.cells {
        let Some(d) = data.get_mut(c.cell) else {
            continue;
        };
        d.requests = c.requests;
        d.ok = c.ok;
        d.check_failed = c.check_failed;
        d.bytes = c.bytes;
        for (k, n) in &c.errors {
            if let Some(k) = ErrorKind::parse(k) {
                d.errors[k as usize] = *n;
            }
        }
        for (a, b) in d.checks.iter_mut().zip(c.checks.iter()) {
            *a = *b;
        }
        d.corrected = c.corrected;
        d.server_timing_malformed = c.server_timing_malformed;
        d.server_timing_overflow = c.server_timing_overflow;
        d.redirects = c.redirects;
        d.retries = c.retries;
        for (p, n) in &c.http_versions {
            if let Some(p) = Protocol::parse(p) {
                d.protocols[p as usize] = *n;
            }
        }
        let ms = (j.t_us as f64 / 1000.0).round() as u64;
        if let Some(h) = hists.remove(&(c.cell, 0, ms)) {
            d.hist = h;
        }
        if let Some(h) = hists.remove(&(c.cell, 1, ms)) {
            d.service = h;
        }
        d.omitted = hists.remove(&(c.cell, OMITTED_KIND, ms));
        for id in 0..names.len() {
            if let Some(h) = hists.remove(&(c.cell, 2 + id, ms)) {
                if d.server_timing.len() <= id {
                    d.server_timing.resize_with(id + 1, Hist::new);
                }
                d.server_timing[id] = h;
            }
        }
    }
    StoredInterval {
        t_us: j.t_us,
        duration_us: j.duration_us,
        gauges: j.gauges(),
        data,
    }
}

/// Rebuild the totals of a run whose process died, from its journal and interval log.
fn recover(dir: &Path, initial: RunResult) -> Result<RunResult, MetricsError> {
    let names = ServerTimingNames::new();
    let intervals = read_intervals(dir, &initial, &names)?;
    let mut acc = Accumulator::new(initial.cells.clone());
    acc.set_server_timing_names(names.clone());
    for iv in &intervals {
        acc.add_interval_with(iv.t_us, iv.duration_us, &iv.gauges, &iv.data);
    }
    let mut run = initial.run.clone();
    run.status = RunStatus::Interrupted;
    run.stop_reason = Some(StopReason::Rebuilt {
        latencies: dir.join(HLOG_FILE).is_file(),
    });
    Ok(acc.finish(run, initial.scenario, initial.error_examples))
}
