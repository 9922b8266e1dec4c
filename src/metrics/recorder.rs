//! The hot path: every request's outcome lands here.
//!
//! There is no lock shared by all users. Each OS thread of the runtime records into its own
//! shard (found through a thread-local), whose mutex only the once-a-second harvest ever
//! contends for. The harvest moves each shard's counts into an [`IntervalData`] and leaves
//! the shard empty, so nothing grows with the run's length.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::availability::{Outage, OutageTracker};
use super::histogram::Hist;
use super::server_timing::{ServerTimingNames, ServerTimings};

/// Why a request did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listened on the port.
    ConnectionRefused,
    /// Any other failure to connect (DNS, unreachable, ...).
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// The peer reset or closed the connection mid-request.
    ConnectionReset,
    /// TLS handshake or certificate failure.
    Tls,
    /// Any other transport or protocol failure.
    Request,
    /// The response arrived but its body could not be read.
    Body,
    /// A 4xx status the step did not expect.
    Http4xx,
    /// A 5xx status the step did not expect.
    Http5xx,
    /// A final 1xx status (3xx are not errors: redirects are followed, 304 is fine).
    HttpOther,
    /// The request could not be built (an unset variable, a bad URL).
    Template,
    /// More redirects than the step may follow (`follow_redirects`).
    TooManyRedirects,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::ConnectionRefused,
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::ConnectionReset,
        ErrorKind::Tls,
        ErrorKind::Request,
        ErrorKind::Body,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::HttpOther,
        ErrorKind::Template,
        ErrorKind::TooManyRedirects,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectionRefused => "connection_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionReset => "connection_reset",
            ErrorKind::Tls => "tls",
            ErrorKind::Request => "request",
            ErrorKind::Body => "body",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::HttpOther => "http_other",
            ErrorKind::Template => "template",
            ErrorKind::TooManyRedirects => "too_many_redirects",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The HTTP version a response came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Http09,
    Http10,
    Http11,
    Http2,
    Http3,
}

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Protocol::Http09,
        Protocol::Http10,
        Protocol::Http11,
        Protocol::Http2,
        Protocol::Http3,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// `HTTP/1.1`, `HTTP/2`, as in `result.json`'s `http_versions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http09 => "HTTP/0.9",
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
            Protocol::Http3 => "HTTP/3",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What a response said besides its timing: its `Server-Timing` entries, the redirects
/// followed to get it, and its HTTP version.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResponseMeta {
    pub server_timing: ServerTimings,
    /// Redirects followed before the final response.
    pub redirects: u32,
    /// Times the request (or a redirect's) was sent again on a new connection because
    /// the kept-alive one closed before a byte of response came.
    pub retries: u32,
    /// HTTP version of the final response; `None` when no response came.
    pub protocol: Option<Protocol>,
}

/// What one request produced.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Which (scenario, step) cell.
    pub cell: usize,
    /// Response time, µs: from when the request was meant to start (the open model's
    /// intended start) to the last byte of the body; `None` when no response came.
    pub response_us: Option<u64>,
    /// Service time, µs: from the actual send to the last byte of the body.
    pub service_us: Option<u64>,
    /// Closed model: the user's own cycle, µs (one iteration of its scenario: every step's
    /// usual service time plus its mean think time), the interval at which it sends this
    /// step. When set, the samples
    /// a coordinated-omission correction would add (HdrHistogram's `record_correct`) go
    /// into [`CellData::omitted`], a separate *estimate*; the response-time histogram always
    /// keeps the measured value. `None` or 0: no estimate.
    pub co_interval_us: Option<u64>,
    pub error: Option<ErrorKind>,
    /// Indexes (into the cell's check labels) of the checks and extracts that failed.
    pub failed_checks: &'a [u16],
    pub bytes: u64,
    /// Server-Timing entries, redirects and HTTP version of the response, when one came.
    pub meta: Option<&'a ResponseMeta>,
}

impl Sample<'_> {
    /// A request that got no response: no latency, no checks, no bytes.
    pub fn failed(cell: usize, error: ErrorKind) -> Sample<'static> {
        Sample {
            cell,
            response_us: None,
            service_us: None,
            co_interval_us: None,
            error: Some(error),
            failed_checks: &[],
            bytes: 0,
            meta: None,
        }
    }
}

/// Counts and the histograms of one cell over some span of time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellData {
    /// Response time (what gates): intended start to last byte in the open model, send to
    /// last byte (as measured) in the closed model.
    pub hist: Hist,
    /// Service time: actual send to last byte, raw (one sample per response).
    pub service: Hist,
    /// Closed model: the samples a coordinated-omission correction with each user's own
    /// cycle would add (the requests users would have sent while they waited); `hist` plus
    /// these is the corrected *estimate*. `None` until the first one (most runs have none).
    pub omitted: Option<Hist>,
    /// Samples in `omitted`.
    pub corrected: u64,
    pub requests: u64,
    pub ok: u64,
    /// Requests with no error whose checks failed.
    pub check_failed: u64,
    pub bytes: u64,
    pub errors: [u64; ErrorKind::COUNT],
    /// Failures per check label index.
    pub checks: Vec<u64>,
    /// One histogram per `Server-Timing` entry name, by the name's id in the run's
    /// [`ServerTimingNames`](super::server_timing::ServerTimingNames) (µs); shorter when the
    /// later names were not seen here.
    pub server_timing: Vec<Hist>,
    /// `Server-Timing` entries that were malformed (skipped).
    pub server_timing_malformed: u64,
    /// `Server-Timing` entries with a duration not kept (too many distinct names).
    pub server_timing_overflow: u64,
    /// Redirects followed.
    pub redirects: u64,
    /// Requests sent again on a new connection (see [`ResponseMeta::retries`]).
    pub retries: u64,
    /// Responses by HTTP version ([`Protocol`] as index).
    pub protocols: [u64; Protocol::COUNT],
}

impl CellData {
    pub fn new(checks: usize) -> CellData {
        CellData {
            checks: vec![0; checks],
            ..CellData::default()
        }
    }

    #[inline]
    fn record(&mut self, s: &Sample<'_>) {
        self.requests += 1;
        self.bytes += s.bytes;
        if let Some(us) = s.response_us {
            self.hist.record(us);
            if let Some(i) = s
                .co_interval_us
                .filter(|&i| i > 0 && us >= i.saturating_mul(2))
            {
                let omitted = self.omitted.get_or_insert_with(Hist::new);
                self.corrected += omitted.record_omitted(us, i);
            }
        }
        if let Some(us) = s.service_us {
            self.service.record(us);
        }
        match s.error {
            Some(k) => self.errors[k.index()] += 1,
            None if s.failed_checks.is_empty() => self.ok += 1,
            None => self.check_failed += 1,
        }
        for &c in s.failed_checks {
            if let Some(n) = self.checks.get_mut(c as usize) {
                *n += 1;
            }
        }
        if let Some(m) = s.meta {
            self.record_meta(m);
        }
    }

    #[inline]
    fn record_meta(&mut self, m: &ResponseMeta) {
        for (id, us) in m.server_timing.iter() {
            if self.server_timing.len() <= id {
                // Once per name and cell: names are few (bounded by the run's table).
                self.server_timing.resize_with(id + 1, Hist::new);
            }
            self.server_timing[id].record(us);
        }
        self.server_timing_malformed += u64::from(m.server_timing.malformed);
        self.server_timing_overflow += u64::from(m.server_timing.overflow);
        self.redirects += u64::from(m.redirects);
        self.retries += u64::from(m.retries);
        if let Some(p) = m.protocol {
            self.protocols[p as usize] += 1;
        }
    }

    /// Add `other` into `self`.
    pub fn add(&mut self, other: &CellData) {
        self.hist.add(&other.hist);
        self.service.add(&other.service);
        if let Some(o) = other.omitted.as_ref().filter(|o| !o.is_empty()) {
            self.omitted.get_or_insert_with(Hist::new).add(o);
        }
        self.corrected += other.corrected;
        self.requests += other.requests;
        self.ok += other.ok;
        self.check_failed += other.check_failed;
        self.bytes += other.bytes;
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        if self.checks.len() < other.checks.len() {
            self.checks.resize(other.checks.len(), 0);
        }
        for (a, b) in self.checks.iter_mut().zip(other.checks.iter()) {
            *a += b;
        }
        if self.server_timing.len() < other.server_timing.len() {
            self.server_timing
                .resize_with(other.server_timing.len(), Hist::new);
        }
        for (a, b) in self
            .server_timing
            .iter_mut()
            .zip(other.server_timing.iter())
        {
            if !b.is_empty() {
                a.add(b);
            }
        }
        self.server_timing_malformed += other.server_timing_malformed;
        self.server_timing_overflow += other.server_timing_overflow;
        self.redirects += other.redirects;
        self.retries += other.retries;
        for (a, b) in self.protocols.iter_mut().zip(other.protocols.iter()) {
            *a += b;
        }
    }

    /// Move everything into `into` and leave `self` empty.
    fn drain_into(&mut self, into: &mut CellData) {
        if self.requests == 0 {
            return;
        }
        into.add(self);
        self.hist.reset();
        self.service.reset();
        if let Some(o) = self.omitted.as_mut() {
            o.reset();
        }
        self.corrected = 0;
        self.requests = 0;
        self.ok = 0;
        self.check_failed = 0;
        self.bytes = 0;
        self.errors = [0; ErrorKind::COUNT];
        self.checks.iter_mut().for_each(|c| *c = 0);
        self.server_timing.iter_mut().for_each(Hist::reset);
        self.server_timing_malformed = 0;
        self.server_timing_overflow = 0;
        self.redirects = 0;
        self.retries = 0;
        self.protocols = [0; Protocol::COUNT];
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Closed model: the corrected estimate (measured response times plus the samples the
    /// users omitted while they waited); `None` when nothing was omitted.
    pub fn co_estimate(&self) -> Option<Hist> {
        let omitted = self.omitted.as_ref().filter(|o| !o.is_empty())?;
        let mut h = self.hist.clone();
        h.add(omitted);
        Some(h)
    }

    /// Errors by kind name, the kinds with none left out (`result.json`, the journal).
    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        ErrorKind::ALL
            .iter()
            .zip(self.errors.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.as_str().to_string(), *n))
            .collect()
    }

    /// Responses by HTTP version name, the versions with none left out.
    pub fn http_versions(&self) -> BTreeMap<String, u64> {
        Protocol::ALL
            .iter()
            .zip(self.protocols.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (p.as_str().to_string(), *n))
            .collect()
    }
}

/// Per-cell data for one interval (or any span), indexed by cell id.
pub type IntervalData = Vec<CellData>;

struct Shard {
    cells: Vec<CellData>,
}

struct Inner {
    id: u64,
    checks_per_cell: Vec<usize>,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
    server_timing: ServerTimingNames,
    /// Outage windows, from the requests' timestamps.
    outages: OutageTracker,
    /// The cells whose samples count in the outage windows (all when unset).
    tracked: std::sync::OnceLock<Vec<bool>>,
}

/// This thread's shard of one recorder, and the slot of its last success's completion.
type Local = (u64, Arc<Mutex<Shard>>, Arc<AtomicU64>);

/// Cheap to clone; every user of a run holds one.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static LOCAL: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves plain counters behind: keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    /// A recorder for cells with these numbers of check labels each.
    pub fn new(checks_per_cell: Vec<usize>) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                checks_per_cell,
                shards: Mutex::new(Vec::new()),
                server_timing: ServerTimingNames::new(),
                outages: OutageTracker::new(),
                tracked: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Time the requests (for outage windows) from the run's start `start`.
    pub fn set_start(&self, start: std::time::Instant) {
        self.inner.outages.set_start(start);
    }

    /// Count only the cells marked `true` in the outage windows (the load's requests: a
    /// page view, a group or a custom metric is not one).
    pub fn track_only(&self, cells: Vec<bool>) {
        let _ = self.inner.tracked.set(cells);
    }

    /// The outage windows so far (one still open closes at `end_us`), and how many were
    /// dropped beyond the most kept.
    pub fn outages(&self, end_us: u64) -> (Vec<Outage>, u64) {
        self.inner.outages.finish(end_us)
    }

    /// The run's `Server-Timing` names: [`CellData::server_timing`] is indexed by their ids.
    pub fn server_timing_names(&self) -> &ServerTimingNames {
        &self.inner.server_timing
    }

    pub fn cells(&self) -> usize {
        self.inner.checks_per_cell.len()
    }

    fn empty_cells(&self) -> Vec<CellData> {
        self.inner
            .checks_per_cell
            .iter()
            .map(|&n| CellData::new(n))
            .collect()
    }

    fn local_shard(&self) -> (Arc<Mutex<Shard>>, Arc<AtomicU64>) {
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if let Some((_, s, slot)) = l.iter().find(|(id, ..)| *id == self.inner.id) {
                return (s.clone(), slot.clone());
            }
            // Drop shards of finished runs (their recorders are gone).
            l.retain(|(_, s, _)| Arc::strong_count(s) > 1);
            let shard = Arc::new(Mutex::new(Shard {
                cells: self.empty_cells(),
            }));
            let slot = self.inner.outages.slot();
            lock(&self.inner.shards).push(shard.clone());
            l.push((self.inner.id, shard.clone(), slot.clone()));
            (shard, slot)
        })
    }

    /// Record one request outcome. Takes only this thread's shard lock (and, for a
    /// failure, the outage tracker's).
    pub fn record(&self, s: &Sample<'_>) {
        let done = self.inner.outages.us_at(std::time::Instant::now());
        LOCAL.with(|l| {
            let l = l.borrow();
            if let Some((_, shard, slot)) = l.iter().find(|(id, ..)| *id == self.inner.id) {
                if let Some(c) = lock(shard).cells.get_mut(s.cell) {
                    c.record(s);
                }
                self.track(s, slot, done);
                return;
            }
            drop(l);
            let (shard, slot) = self.local_shard();
            if let Some(c) = lock(&shard).cells.get_mut(s.cell) {
                c.record(s);
            }
            self.track(s, &slot, done);
        })
    }

    /// The request's part in the outage windows: a success proves the target up from its
    /// send (completion minus service time) to its completion `done`.
    #[inline]
    fn track(&self, s: &Sample<'_>, slot: &AtomicU64, done: u64) {
        if let Some(t) = self.inner.tracked.get()
            && !t.get(s.cell).copied().unwrap_or(false)
        {
            return;
        }
        let send = done.saturating_sub(s.service_us.unwrap_or(0));
        if s.error.is_none() && s.failed_checks.is_empty() {
            self.inner.outages.success(slot, send, done);
        } else {
            self.inner.outages.failure(send);
        }
    }

    /// Move everything recorded since the last harvest into a fresh [`IntervalData`].
    pub fn harvest(&self) -> IntervalData {
        let mut out = self.empty_cells();
        let shards: Vec<_> = lock(&self.inner.shards).clone();
        for shard in shards {
            let mut s = lock(&shard);
            for (cell, into) in s.cells.iter_mut().zip(out.iter_mut()) {
                cell.drain_into(into);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_many_threads_and_harvests_everything_once() {
        let r = Recorder::new(vec![2, 0]);
        std::thread::scope(|s| {
            for t in 0..4 {
                let r = r.clone();
                s.spawn(move || {
                    for i in 0..1000u64 {
                        let failed: &[u16] = if i % 10 == 0 { &[1] } else { &[] };
                        r.record(&Sample {
                            cell: (t % 2) as usize,
                            response_us: Some(1000 + i),
                            service_us: Some(1000 + i),
                            co_interval_us: None,
                            error: if i % 100 == 0 {
                                Some(ErrorKind::Http5xx)
                            } else {
                                None
                            },
                            failed_checks: failed,
                            bytes: 10,
                            meta: None,
                        });
                    }
                });
            }
        });
        let d = r.harvest();
        assert_eq!(d[0].requests, 2000);
        assert_eq!(d[1].requests, 2000);
        assert_eq!(d[0].hist.count(), 2000);
        assert_eq!(d[0].errors[ErrorKind::Http5xx.index()], 20);
        // i % 100 == 0 is also i % 10 == 0: those are errors, the other 180 are check failures.
        assert_eq!(d[0].check_failed, 180);
        assert_eq!(d[0].ok, 2000 - 20 - 180);
        assert_eq!(d[0].checks, vec![0, 200]);
        assert_eq!(d[0].bytes, 20_000);
        let again = r.harvest();
        assert_eq!(again[0].requests, 0);
        assert!(again[0].hist.is_empty());
    }

    #[test]
    fn two_recorders_on_one_thread_stay_apart() {
        let a = Recorder::new(vec![0]);
        let b = Recorder::new(vec![0]);
        let s = Sample {
            cell: 0,
            response_us: Some(5),
            service_us: Some(5),
            co_interval_us: None,
            error: None,
            failed_checks: &[],
            bytes: 0,
            meta: None,
        };
        a.record(&s);
        a.record(&s);
        b.record(&s);
        assert_eq!(a.harvest()[0].requests, 2);
        assert_eq!(b.harvest()[0].requests, 1);
    }

    #[test]
    fn server_timing_redirects_and_versions_are_recorded_per_cell() {
        let r = Recorder::new(vec![0, 0]);
        let names = r.server_timing_names().clone();
        let mut meta = ResponseMeta {
            redirects: 2,
            retries: 1,
            protocol: Some(Protocol::Http2),
            ..ResponseMeta::default()
        };
        meta.server_timing
            .add_header(b"db;dur=12, app;dur=20, bad;dur=x", &names);
        let s = Sample {
            cell: 1,
            response_us: Some(25_000),
            service_us: Some(25_000),
            co_interval_us: None,
            error: None,
            failed_checks: &[],
            bytes: 0,
            meta: Some(&meta),
        };
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| {
                    for _ in 0..100 {
                        r.record(&s);
                    }
                });
            }
        });
        let d = r.harvest();
        assert!(d[0].server_timing.is_empty());
        let c = &d[1];
        assert_eq!(names.iter().collect::<Vec<_>>(), vec!["db", "app"]);
        assert_eq!(c.server_timing[0].count(), 300);
        // 12 ms and 20 ms are exact in the histogram's buckets (multiples of their width).
        assert_eq!(c.server_timing[0].min(), 12_000);
        assert_eq!(c.server_timing[1].min(), 20_000);
        assert_eq!(c.server_timing_malformed, 300);
        assert_eq!(c.redirects, 600);
        assert_eq!(c.retries, 300);
        assert_eq!(c.protocols[Protocol::Http2 as usize], 300);
        let again = r.harvest();
        assert!(again[1].server_timing.iter().all(Hist::is_empty));
        assert_eq!(again[1].redirects, 0);
        let mut total = CellData::default();
        total.add(c);
        total.add(c);
        assert_eq!(total.server_timing[1].count(), 600);
        assert_eq!(Protocol::parse("HTTP/2"), Some(Protocol::Http2));
    }

    #[test]
    fn error_kind_names_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
    }
}
