//! The hot path: every request's outcome lands here.
//!
//! There is no lock shared by all users. Each OS thread of the runtime records into its own
//! shard (found through a thread-local), whose mutex only the once-a-second harvest ever
//! contends for. The harvest moves each shard's counts into an [`IntervalData`] and leaves
//! the shard empty, so nothing grows with the run's length.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::histogram::Hist;

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
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
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
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
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
    /// Closed model: the user's expected interval between requests (think time plus normal
    /// service time), µs. When set, the response-time histogram is corrected for
    /// coordinated omission with it (HdrHistogram's `record_correct`); the service-time
    /// histogram always keeps the raw value. `None` or 0: no correction.
    pub co_interval_us: Option<u64>,
    pub error: Option<ErrorKind>,
    /// Indexes (into the cell's check labels) of the checks and extracts that failed.
    pub failed_checks: &'a [u16],
    pub bytes: u64,
}

/// Counts and the histograms of one cell over some span of time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellData {
    /// Response time (what gates): intended start to last byte in the open model,
    /// corrected for coordinated omission in the closed model.
    pub hist: Hist,
    /// Service time: actual send to last byte, raw (one sample per response).
    pub service: Hist,
    /// Samples the coordinated-omission correction added to `hist` (closed model).
    pub corrected: u64,
    pub requests: u64,
    pub ok: u64,
    /// Requests with no error whose checks failed.
    pub check_failed: u64,
    pub bytes: u64,
    pub errors: [u64; ErrorKind::COUNT],
    /// Failures per check label index.
    pub checks: Vec<u64>,
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
            match s.co_interval_us {
                Some(i) if i > 0 => self.corrected += self.hist.record_correct(us, i),
                _ => self.hist.record(us),
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
    }

    /// Add `other` into `self`.
    pub fn add(&mut self, other: &CellData) {
        self.hist.add(&other.hist);
        self.service.add(&other.service);
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
    }

    /// Move everything into `into` and leave `self` empty.
    fn drain_into(&mut self, into: &mut CellData) {
        if self.requests == 0 {
            return;
        }
        into.add(self);
        self.hist.reset();
        self.service.reset();
        self.corrected = 0;
        self.requests = 0;
        self.ok = 0;
        self.check_failed = 0;
        self.bytes = 0;
        self.errors = [0; ErrorKind::COUNT];
        self.checks.iter_mut().for_each(|c| *c = 0);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
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
}

/// Cheap to clone; every user of a run holds one.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Arc<Mutex<Shard>>)>> = const { RefCell::new(Vec::new()) };
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
            }),
        }
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

    fn local_shard(&self) -> Arc<Mutex<Shard>> {
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if let Some((_, s)) = l.iter().find(|(id, _)| *id == self.inner.id) {
                return s.clone();
            }
            // Drop shards of finished runs (their recorders are gone).
            l.retain(|(_, s)| Arc::strong_count(s) > 1);
            let shard = Arc::new(Mutex::new(Shard {
                cells: self.empty_cells(),
            }));
            lock(&self.inner.shards).push(shard.clone());
            l.push((self.inner.id, shard.clone()));
            shard
        })
    }

    /// Record one request outcome. Takes only this thread's shard lock.
    pub fn record(&self, s: &Sample<'_>) {
        LOCAL.with(|l| {
            let l = l.borrow();
            if let Some((_, shard)) = l.iter().find(|(id, _)| *id == self.inner.id) {
                if let Some(c) = lock(shard).cells.get_mut(s.cell) {
                    c.record(s);
                }
                return;
            }
            drop(l);
            let shard = self.local_shard();
            if let Some(c) = lock(&shard).cells.get_mut(s.cell) {
                c.record(s);
            }
        })
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
        };
        a.record(&s);
        a.record(&s);
        b.record(&s);
        assert_eq!(a.harvest()[0].requests, 2);
        assert_eq!(b.harvest()[0].requests, 1);
    }

    #[test]
    fn error_kind_names_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
    }
}
