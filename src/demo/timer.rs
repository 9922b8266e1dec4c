//! Sleeps with sub-millisecond precision for the service times.
//!
//! tokio's timer counts whole milliseconds and wakes 1-2 ms late, so a 20 ms route would
//! take about 21.8 ms and a pool would top out near 92% of `workers / service_time`. Here
//! one thread per server keeps the deadlines in a heap and waits on a condition variable
//! (a high-resolution kernel timer), waking each sleeper within about 0.1 ms of its
//! deadline. Waiting is blocking on a condvar, never spinning.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use tokio::sync::oneshot;

pub(crate) struct Timer {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    sleepers: BinaryHeap<Reverse<Sleeper>>,
    next_seq: u64,
    closed: bool,
}

struct Sleeper {
    deadline: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl Timer {
    /// Starts the timer thread; it ends when the `Timer` is dropped.
    pub(crate) fn new() -> io::Result<Timer> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("skein-demo-timer".into())
            .spawn(move || thread_shared.run())?;
        Ok(Timer { shared })
    }

    /// Returns at `deadline` (or at once when the timer is shutting down).
    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        if deadline <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        {
            let mut queue = self.shared.lock();
            if queue.closed {
                return;
            }
            let earliest = queue
                .sleepers
                .peek()
                .is_none_or(|Reverse(s)| deadline < s.deadline);
            let seq = queue.next_seq;
            queue.next_seq += 1;
            queue.sleepers.push(Reverse(Sleeper {
                deadline,
                seq,
                wake,
            }));
            if earliest {
                self.shared.changed.notify_one();
            }
        }
        // An error means the timer closed and dropped the sender: stop sleeping.
        let _ = woken.await;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Timer {
    /// Ends the thread and wakes every sleeper now.
    fn close(&self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        queue.sleepers.clear();
        self.shared.changed.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&self) {
        let mut queue = self.lock();
        while !queue.closed {
            let now = Instant::now();
            queue = match queue.sleepers.peek() {
                None => self.changed.wait(queue).unwrap_or_else(|p| p.into_inner()),
                Some(Reverse(next)) if next.deadline <= now => {
                    if let Some(Reverse(due)) = queue.sleepers.pop() {
                        let _ = due.wake.send(()); // the request may have gone away
                    }
                    queue
                }
                Some(Reverse(next)) => {
                    let wait = next.deadline - now;
                    let (queue, _) = self
                        .changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(|p| p.into_inner());
                    queue
                }
            };
        }
    }
}

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Sleeper {}

impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sleeper {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleepers_wake_in_deadline_order_close_to_their_deadline() {
        let timer = Arc::new(Timer::new().unwrap());
        let start = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        // Deadlines 50 ms apart, so a loaded machine delaying a wake-up a few ms cannot
        // swap two of them.
        let tasks: Vec<_> = [150u64, 50, 100, 50]
            .into_iter()
            .map(|ms| {
                let (timer, order) = (Arc::clone(&timer), Arc::clone(&order));
                tokio::spawn(async move {
                    timer.sleep_until(start + Duration::from_millis(ms)).await;
                    order.lock().unwrap().push(ms);
                    start.elapsed()
                })
            })
            .collect();
        let mut late = Duration::ZERO;
        for (task, ms) in tasks.into_iter().zip([150u64, 50, 100, 50]) {
            let elapsed = task.await.unwrap();
            assert!(
                elapsed >= Duration::from_millis(ms),
                "{elapsed:?} < {ms} ms"
            );
            late = late.max(elapsed - Duration::from_millis(ms));
        }
        assert_eq!(*order.lock().unwrap(), [50, 50, 100, 150]);
        // A shared 2-core machine running other tests can delay any thread a few ms.
        assert!(late < Duration::from_millis(20), "woke {late:?} late");
    }

    #[tokio::test]
    async fn closing_the_timer_releases_sleepers() {
        let timer = Arc::new(Timer::new().unwrap());
        let far = Instant::now() + Duration::from_secs(3600);
        let sleeper = tokio::spawn({
            let timer = Arc::clone(&timer);
            async move { timer.sleep_until(far).await }
        });
        while timer.shared.lock().sleepers.is_empty() {
            tokio::task::yield_now().await;
        }
        timer.close();
        let woke = tokio::time::timeout(Duration::from_secs(1), sleeper).await;
        assert!(woke.is_ok_and(|joined| joined.is_ok()));
    }
}
