//! Availability and outage windows, measured from the requests' own timestamps.
//!
//! Availability is the share of requests that succeeded (no error, every check passed):
//! per second in the time series, and over the run. An **outage** is a maximal span of the
//! run's timeline in which no request succeeded and at least one failed. Every request is
//! a span `[send, completion]` (µs from the run's start); a success proves the target up
//! over its own span. An outage therefore starts at the **completion of the last success**
//! before the failures (the last instant the target was seen serving) and ends at the
//! **send time of the first success** after them (the first request that found it serving
//! again). The real downtime lies inside it: the window is longer than the real one by at
//! most the gap between two requests on each side (5 ms at 200 requests a second), never
//! shorter, and no whole-second rounding is involved. A failure's instant is its send
//! time when it got a response (a 5xx), else its completion (refused, reset: known to have
//! failed then). A run that fails from its first request is out from 0; a window still
//! open when the run ends closes at the run's end and says so (`open_at_end`).
//!
//! [`OutageTracker`] does it while the run goes, O(1) per request: each recording thread
//! keeps the completion of its last success in its own atomic (no shared write on the
//! success path); a failure (rare in a healthy run) takes the tracker's lock and reads the
//! threads' atomics. Parts of one run (`--workers`, `skein merge` of shards) are combined
//! by [`intersect`]: a span is an outage of the whole only where every part that was
//! running had no success, the intersection of the parts' windows over their shared
//! timeline.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Outages kept per run; more are counted in [`Availability::outages_dropped`].
pub const MAX_OUTAGES: usize = 10_000;

/// One span in which no request succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Completion of the last success before it, µs from the run's start (0: the run
    /// failed from its start).
    pub start_us: u64,
    /// Send time of the first success after it, µs from the run's start (the run's end
    /// when `open_at_end`).
    pub end_us: u64,
    /// `end_us - start_us`.
    pub duration_us: u64,
    /// Requests that failed in it (merged: the failures of the parts' windows it overlaps).
    pub failures: u64,
    /// No success came before the run ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_at_end: bool,
}

impl Outage {
    pub fn new(start_us: u64, end_us: u64, failures: u64, open_at_end: bool) -> Outage {
        Outage {
            start_us,
            end_us,
            duration_us: end_us.saturating_sub(start_us),
            failures,
            open_at_end,
        }
    }
}

/// The run's availability and its outages (`result.json`'s `availability`). Absent from a
/// result rebuilt from its journal (the windows are not in it) and from older results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Requests that succeeded / requests, over the run (1 when none was made).
    pub availability: f64,
    pub requests: u64,
    /// Requests with no error and every check passed.
    pub ok: u64,
    /// The outages, in time order.
    pub outages: Vec<Outage>,
    /// The longest outage, µs (0: none).
    pub max_outage_us: u64,
    /// All outages together, µs.
    pub total_outage_us: u64,
    /// Outages beyond the first [`MAX_OUTAGES`], not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outages_dropped: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Availability {
    /// From the run's counts and its outages.
    pub fn new(requests: u64, ok: u64, mut outages: Vec<Outage>, dropped: u64) -> Availability {
        outages.sort_by_key(|o| o.start_us);
        Availability {
            availability: if requests == 0 {
                1.0
            } else {
                ok as f64 / requests as f64
            },
            requests,
            ok,
            max_outage_us: outages.iter().map(|o| o.duration_us).max().unwrap_or(0),
            total_outage_us: outages.iter().map(|o| o.duration_us).sum(),
            outages,
            outages_dropped: dropped,
        }
    }

    /// The outages clipped to `[after_us, ∞)` (a target's window).
    pub fn outages_after(&self, after_us: u64) -> impl Iterator<Item = Outage> + '_ {
        self.outages
            .iter()
            .filter(move |o| o.end_us > after_us)
            .map(move |o| {
                Outage::new(
                    o.start_us.max(after_us),
                    o.end_us,
                    o.failures,
                    o.open_at_end,
                )
            })
    }
}

/// A part of a run to merge: its outages and how long it ran (µs from the shared start).
pub struct Part<'a> {
    pub outages: &'a [Outage],
    pub end_us: u64,
}

/// The outages of a run made of `parts` that ran on one timeline: the spans in which every
/// part that was running was in an outage (a part that had ended, or not started its
/// timeline yet, has no say), and at least one part was. Exact: a span is in the result
/// iff no part had a success in it.
pub fn intersect(parts: &[Part<'_>]) -> Vec<Outage> {
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    // Each part's "no success here" spans: its outages, and everything after its end.
    let down = |p: &Part<'_>| -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = p.outages.iter().map(|o| (o.start_us, o.end_us)).collect();
        v.push((p.end_us, u64::MAX));
        v.sort();
        union_spans(&v)
    };
    let mut acc = down(first);
    for p in &parts[1..] {
        acc = intersect_spans(&acc, &down(p));
    }
    // Some part must have been in a real outage (not only ended).
    let mut real: Vec<(u64, u64)> = parts
        .iter()
        .flat_map(|p| p.outages.iter().map(|o| (o.start_us, o.end_us)))
        .collect();
    real.sort();
    let real = union_spans(&real);
    let spans = intersect_spans(&acc, &real);
    spans
        .into_iter()
        .filter(|(s, e)| e > s)
        .map(|(s, e)| {
            let overlapping = parts
                .iter()
                .flat_map(|p| p.outages.iter())
                .filter(|o| o.start_us < e && o.end_us > s);
            let (mut failures, mut open) = (0, false);
            for o in overlapping {
                failures += o.failures;
                open |= o.open_at_end && o.end_us == e;
            }
            Outage::new(s, e, failures, open)
        })
        .collect()
}

/// The intersection of two sorted lists of disjoint spans.
fn intersect_spans(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Overlapping spans of a sorted list joined.
fn union_spans(v: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

const NONE: u64 = u64::MAX;

/// The window open now.
#[derive(Debug, Clone, Copy)]
struct Open {
    start_us: u64,
    /// Earliest and latest failure instant in it.
    first_failure_us: u64,
    last_failure_us: u64,
    failures: u64,
}

#[derive(Debug, Default)]
struct State {
    open: Option<Open>,
    closed: Vec<Outage>,
    dropped: u64,
}

impl State {
    fn close(&mut self, o: Outage) {
        if self.closed.len() < MAX_OUTAGES {
            self.closed.push(o);
        } else {
            self.dropped += 1;
        }
    }
}

/// The outages of one process's run, found as its requests are recorded (see the module).
#[derive(Debug)]
pub struct OutageTracker {
    base: Instant,
    /// The run's start, ns after `base` (negative: before).
    epoch_ns: AtomicI64,
    /// Start of the open window, or [`NONE`]: what the success path reads.
    open_since: AtomicU64,
    /// Each recording thread's last success completion, µs.
    slots: Mutex<Vec<Arc<AtomicU64>>>,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for OutageTracker {
    fn default() -> Self {
        OutageTracker::new()
    }
}

impl OutageTracker {
    pub fn new() -> OutageTracker {
        OutageTracker {
            base: Instant::now(),
            epoch_ns: AtomicI64::new(0),
            open_since: AtomicU64::new(NONE),
            slots: Mutex::new(Vec::new()),
            state: Mutex::new(State::default()),
        }
    }

    /// Measure times from `start` (the run's start; by default, when the tracker was made).
    pub fn set_start(&self, start: Instant) {
        let ns = match start.checked_duration_since(self.base) {
            Some(d) => d.as_nanos() as i64,
            None => -(self.base.duration_since(start).as_nanos() as i64),
        };
        self.epoch_ns.store(ns, Ordering::SeqCst);
    }

    /// µs from the run's start to `at` (0 before it).
    pub fn us_at(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.base).as_nanos() as i64
            - self.epoch_ns.load(Ordering::Relaxed);
        (ns.max(0) / 1000) as u64
    }

    /// A slot for one recording thread's successes.
    pub fn slot(&self) -> Arc<AtomicU64> {
        let s = Arc::new(AtomicU64::new(0));
        lock(&self.slots).push(s.clone());
        s
    }

    /// A request that succeeded, sent at `send_us`, completed at `done_us`, recorded by
    /// the thread that owns `slot`.
    #[inline]
    pub fn success(&self, slot: &AtomicU64, send_us: u64, done_us: u64) {
        if done_us > slot.load(Ordering::Relaxed) {
            slot.store(done_us, Ordering::SeqCst);
        }
        if self.open_since.load(Ordering::SeqCst) == NONE {
            return;
        }
        let mut st = lock(&self.state);
        let Some(mut o) = st.open else {
            return;
        };
        if send_us >= o.first_failure_us {
            // The first success after the failures: the window ends at its send.
            st.open = None;
            self.open_since.store(NONE, Ordering::SeqCst);
            st.close(Outage::new(
                o.start_us,
                send_us.max(o.start_us),
                o.failures,
                false,
            ));
        } else if done_us >= o.last_failure_us {
            // A success in flight over every failure so far: the target was serving.
            st.open = None;
            self.open_since.store(NONE, Ordering::SeqCst);
        } else {
            // It covers the window's beginning: the window starts after it.
            o.start_us = o.start_us.max(done_us);
            o.first_failure_us = o.first_failure_us.max(o.start_us);
            st.open = Some(o);
            self.open_since.store(o.start_us, Ordering::SeqCst);
        }
    }

    /// A request that failed at `at_us` (its send time when it got a response, else its
    /// completion).
    pub fn failure(&self, at_us: u64) {
        let mut st = lock(&self.state);
        if let Some(o) = st.open.as_mut() {
            o.failures += 1;
            o.first_failure_us = o.first_failure_us.min(at_us).max(o.start_us);
            o.last_failure_us = o.last_failure_us.max(at_us);
            return;
        }
        // Publish "maybe open" before reading the successes, so that a success recorded
        // at the same time either is seen here or sees the window (and waits on the lock).
        self.open_since.store(at_us, Ordering::SeqCst);
        let last_ok = lock(&self.slots)
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0);
        if at_us >= last_ok {
            st.open = Some(Open {
                start_us: last_ok,
                first_failure_us: at_us,
                last_failure_us: at_us,
                failures: 1,
            });
            self.open_since.store(last_ok, Ordering::SeqCst);
        } else {
            // A success completed after this request failed: no outage.
            self.open_since.store(NONE, Ordering::SeqCst);
        }
    }

    /// The outages so far; one still open closes at `end_us` (the run's end), marked
    /// `open_at_end`. Also the number dropped beyond [`MAX_OUTAGES`].
    pub fn finish(&self, end_us: u64) -> (Vec<Outage>, u64) {
        let st = lock(&self.state);
        let mut out = st.closed.clone();
        if let Some(o) = st.open {
            out.push(Outage::new(
                o.start_us,
                end_us.max(o.last_failure_us).max(o.start_us),
                o.failures,
                true,
            ));
        }
        out.sort_by_key(|o| o.start_us);
        (out, st.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `(send_ms, done_ms, ok)` requests (in completion order) to a tracker on one
    /// thread; times in ms.
    fn run(reqs: &[(u64, u64, bool)], end_ms: u64) -> Vec<(u64, u64, u64, bool)> {
        let t = OutageTracker::new();
        let slot = t.slot();
        for &(s, d, ok) in reqs {
            if ok {
                t.success(&slot, s * 1000, d * 1000);
            } else {
                t.failure(s * 1000);
            }
        }
        t.finish(end_ms * 1000)
            .0
            .into_iter()
            .map(|o| {
                (
                    o.start_us / 1000,
                    o.end_us / 1000,
                    o.failures,
                    o.open_at_end,
                )
            })
            .collect()
    }

    #[test]
    fn an_outage_runs_from_the_last_success_to_the_first_success_after() {
        // A request every 10 ms, each taking 1 ms; down from 1000 (the 100th fails) to
        // 2000 (the 200th succeeds).
        let reqs: Vec<_> = (0..300)
            .map(|i| (i * 10, i * 10 + 1, !(100..200).contains(&i)))
            .collect();
        assert_eq!(run(&reqs, 3000), vec![(991, 2000, 100, false)]);
    }

    #[test]
    fn failures_from_the_start_and_until_the_end() {
        let reqs = [
            (0, 1, false),
            (10, 11, false),
            (20, 21, true),
            (30, 31, false),
        ];
        assert_eq!(run(&reqs, 100), vec![(0, 20, 2, false), (21, 100, 1, true)]);
    }

    #[test]
    fn no_failure_no_outage_however_long_the_gap() {
        assert_eq!(run(&[(0, 1, true), (5000, 5001, true)], 6000), vec![]);
    }

    #[test]
    fn a_success_in_flight_over_the_failures_is_no_outage() {
        // A slow success sent at 0, done at 500; a failure at 100 completes first.
        let t = OutageTracker::new();
        let (a, b) = (t.slot(), t.slot());
        t.success(&a, 0, 10_000);
        t.failure(100_000);
        t.success(&b, 0, 500_000);
        assert_eq!(t.finish(1_000_000).0, vec![]);
        // Two threads: one's success is the other's evidence.
        let t = OutageTracker::new();
        let (a, b) = (t.slot(), t.slot());
        t.success(&a, 0, 700_000);
        t.failure(600_000);
        t.success(&b, 0, 10_000);
        assert_eq!(t.finish(1_000_000).0, vec![]);
    }

    #[test]
    fn a_success_covering_the_start_moves_it() {
        let t = OutageTracker::new();
        let s = t.slot();
        t.success(&s, 0, 100_000);
        t.failure(150_000);
        t.failure(400_000);
        // Sent at 50 ms, done at 200 ms: up until 200 ms.
        t.success(&s, 50_000, 200_000);
        t.success(&s, 500_000, 501_000);
        assert_eq!(
            t.finish(1_000_000).0,
            vec![Outage::new(200_000, 500_000, 2, false)]
        );
    }

    #[test]
    fn availability_counts_and_max() {
        let a = Availability::new(
            1000,
            990,
            vec![Outage::new(5, 10, 1, false), Outage::new(0, 3, 2, false)],
            0,
        );
        assert_eq!(a.availability, 0.99);
        assert_eq!(a.outages[0].start_us, 0);
        assert_eq!((a.max_outage_us, a.total_outage_us), (5, 8));
        let clipped: Vec<_> = a.outages_after(7).collect();
        assert_eq!(clipped, vec![Outage::new(7, 10, 1, false)]);
    }

    #[test]
    fn merged_windows_are_the_intersection_over_the_shared_timeline() {
        let o = |s, e| Outage::new(s, e, 10, false);
        // Part A down 1000..3000 and 5000..5500; part B down 1200..2800 and 5400..6000,
        // and it ended at 9000 while A ran to 10000 with an outage 9500..10000 at its end.
        let a = [
            o(1000, 3000),
            o(5000, 5500),
            Outage::new(9500, 10_000, 3, true),
        ];
        let b = [o(1200, 2800), o(5400, 6000)];
        let m = intersect(&[
            Part {
                outages: &a,
                end_us: 10_000,
            },
            Part {
                outages: &b,
                end_us: 9000,
            },
        ]);
        assert_eq!(
            m,
            vec![
                Outage::new(1200, 2800, 20, false),
                Outage::new(5400, 5500, 20, false),
                Outage::new(9500, 10_000, 3, true),
            ]
        );
        // A part with a success during the other's outage vetoes it.
        let m = intersect(&[
            Part {
                outages: &a[..1],
                end_us: 10_000,
            },
            Part {
                outages: &[],
                end_us: 10_000,
            },
        ]);
        assert_eq!(m, vec![]);
        // One part: its own windows.
        let m = intersect(&[Part {
            outages: &b,
            end_us: 9000,
        }]);
        assert_eq!(m, b.to_vec());
    }
}
