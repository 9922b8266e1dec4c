//! The worker pool: `workers` permits, a FIFO queue for them, and when each worker became
//! free.
//!
//! A request's service starts when a worker is free for it: on arrival if one is idle,
//! else the moment the previous request on that worker ended. Remembering that moment per
//! worker keeps the capacity at exactly `workers / service_time`: neither the timer waking
//! a little late nor tokio taking a while to schedule the next waiter is lost capacity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct Pool {
    permits: Semaphore,
    /// When idle workers became free, earliest first. A worker with no entry has been free
    /// since before any request that could take it arrived.
    free_since: Mutex<BinaryHeap<Reverse<Instant>>>,
    pub(crate) in_flight: Gauge,
    pub(crate) queued: Gauge,
}

impl Pool {
    pub(crate) fn new(workers: usize) -> Pool {
        Pool {
            permits: Semaphore::new(workers.min(Semaphore::MAX_PERMITS)),
            free_since: Mutex::default(),
            in_flight: Gauge::default(),
            queued: Gauge::default(),
        }
    }

    /// Waits in the queue for a worker; `None` once the pool is closed.
    pub(crate) async fn worker(&self) -> Option<Worker<'_>> {
        let permit = {
            let _waiting = self.queued.enter();
            self.permits.acquire().await.ok()?
        };
        let free_since = self.free_since().pop().map(|Reverse(t)| t);
        Some(Worker {
            pool: self,
            free_since,
            _busy: self.in_flight.enter(),
            _permit: permit,
        })
    }

    /// Fails every waiting and future [`Pool::worker`] call.
    pub(crate) fn close(&self) {
        self.permits.close();
    }

    fn free_since(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Instant>>> {
        self.free_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A worker busy with one request; dropping it returns the worker to the pool.
pub(crate) struct Worker<'a> {
    pool: &'a Pool,
    free_since: Option<Instant>,
    _busy: GaugeGuard<'a>,
    _permit: SemaphorePermit<'a>,
}

impl Worker<'_> {
    /// When this worker starts on a request that arrived at `arrival`.
    pub(crate) fn start(&self, arrival: Instant) -> Instant {
        self.free_since.map_or(arrival, |free| free.max(arrival))
    }

    /// The worker stays busy until `end`, even if the request is dropped before then.
    pub(crate) fn busy_until(&mut self, end: Instant) {
        self.free_since = Some(self.free_since.map_or(end, |free| free.max(end)));
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if let Some(free) = self.free_since {
            self.pool.free_since().push(Reverse(free));
        }
        // The permit is released after this, so the next waiter finds the entry.
    }
}

/// A count of requests in some state, with its high-water mark.
#[derive(Default)]
pub(crate) struct Gauge {
    current: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) -> GaugeGuard<'_> {
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
        GaugeGuard(self)
    }

    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }
}

/// Leaves the state when dropped, also when the client goes away mid-request.
struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_freed_worker_starts_the_next_request_when_it_became_free() {
        let pool = Pool::new(1);
        let t0 = Instant::now();
        let mut first = pool.worker().await.unwrap();
        assert_eq!(first.start(t0), t0);
        first.busy_until(t0 + Duration::from_millis(20));
        assert_eq!((pool.in_flight.current(), pool.queued.current()), (1, 0));
        drop(first);
        let later = t0 + Duration::from_millis(25);
        let second = pool.worker().await.unwrap();
        assert_eq!(
            second.start(t0),
            t0 + Duration::from_millis(20),
            "queued since t0"
        );
        assert_eq!(
            second.start(later),
            later,
            "arrived after the worker was free"
        );
        drop(second);
        assert_eq!((pool.in_flight.current(), pool.in_flight.max()), (0, 1));
    }

    #[tokio::test]
    async fn closing_fails_waiters() {
        let pool = Pool::new(1);
        let _busy = pool.worker().await.unwrap();
        let waiting = pool.worker();
        pool.close();
        assert!(waiting.await.is_none());
        assert_eq!(pool.queued.current(), 0);
    }
}
