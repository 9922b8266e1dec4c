//! Stopping a run: from outside (Ctrl-C, SIGTERM, SIGHUP, an abort check, a test) through a
//! [`StopHandle`], and from inside by the stop timer (the end of the plan, then the end of
//! the graceful stop). A stop goes in two levels: graceful (start nothing new, let what is
//! in flight finish) and hard (cut in-flight requests off).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RunCtx;
use super::driver::Driver;
use crate::metrics::{StopReason, StopSignal};

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Running,
    /// Start nothing new; in-flight requests may finish.
    Graceful,
    /// Cut in-flight requests off now.
    Hard,
}

/// Stops a run from outside (Ctrl-C, SIGTERM, SIGHUP, a test).
#[derive(Clone)]
pub struct StopHandle {
    tx: Arc<watch::Sender<StopLevel>>,
    reason: Arc<Mutex<Option<StopReason>>>,
    /// When [`StopHandle::stop`] was first called.
    at: Arc<OnceLock<Instant>>,
}

impl Default for StopHandle {
    fn default() -> Self {
        StopHandle::new()
    }
}

impl StopHandle {
    pub fn new() -> StopHandle {
        StopHandle {
            tx: Arc::new(watch::channel(StopLevel::Running).0),
            reason: Arc::default(),
            at: Arc::default(),
        }
    }

    /// Ask the run to stop: the first call is graceful, the next one hard. `reason` marks the
    /// run interrupted (the first reason is kept).
    pub fn stop(&self, reason: impl Into<StopReason>) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.into());
        let _ = self.at.set(Instant::now());
        self.tx.send_modify(|l| {
            *l = match *l {
                StopLevel::Running => StopLevel::Graceful,
                _ => StopLevel::Hard,
            }
        });
    }

    pub(super) fn raise_to(&self, level: StopLevel) {
        self.tx.send_if_modified(|l| {
            if *l < level {
                *l = level;
                true
            } else {
                false
            }
        });
    }

    pub fn level(&self) -> StopLevel {
        *self.tx.borrow()
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<StopLevel> {
        self.tx.subscribe()
    }

    /// When the run was stopped from outside, if it was.
    pub(super) fn stopped_at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    /// Both handles stop the same run (one is a clone of the other).
    fn same_run(&self, other: &StopHandle) -> bool {
        Arc::ptr_eq(&self.tx, &other.tx)
    }

    /// Resolves once the run is asked to stop (by [`StopHandle::stop`] or a signal).
    pub async fn requested(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|l| *l != StopLevel::Running).await;
    }

    /// Why the run was asked to stop, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The run Ctrl-C stops. goose installs its own Ctrl-C handler on every attack (and exits the
/// process on the second press), so Skein installs one first and keeps it.
static CURRENT: Mutex<Option<StopHandle>> = Mutex::new(None);
static CTRLC: OnceLock<()> = OnceLock::new();

/// Ctrl-C, SIGTERM and SIGHUP stop the run: the first one gracefully (in-flight requests
/// finish, the folder and reports are completed), the next signal of any of the three cuts
/// in-flight requests off. Listened to until the returned guard is dropped; once listened
/// to, the process no longer dies of them by default.
pub(super) fn listen(stop: &StopHandle) -> Listening {
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
    CTRLC.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            if let Some(s) = CURRENT.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                s.stop(StopSignal::Interrupt);
            }
        });
    });
    Listening {
        stop: stop.clone(),
        _signals: watch_termination(stop),
    }
}

/// Stops listening for signals when dropped.
pub(super) struct Listening {
    /// The run Ctrl-C stops while this is held.
    stop: StopHandle,
    _signals: TaskGuard,
}

impl Drop for Listening {
    /// Ctrl-C stops no run once this one ends, unless another run (in the same process,
    /// as tests run) has taken it over since: that one keeps it.
    fn drop(&mut self) {
        release(
            &mut CURRENT.lock().unwrap_or_else(|p| p.into_inner()),
            &self.stop,
        );
    }
}

/// Clear `current` if it still holds `mine`'s run.
fn release(current: &mut Option<StopHandle>, mine: &StopHandle) {
    if current.as_ref().is_some_and(|c| c.same_run(mine)) {
        *current = None;
    }
}

fn watch_termination(stop: &StopHandle) -> TaskGuard {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return TaskGuard(None);
        };
        let stop = stop.clone();
        TaskGuard(Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = term.recv() => stop.stop(StopSignal::Terminate),
                    Some(()) = hup.recv() => stop.stop(StopSignal::HangUp),
                    else => break,
                }
            }
        })))
    }
    #[cfg(not(unix))]
    {
        let _ = stop;
        TaskGuard(None)
    }
}

/// Aborts its task when dropped.
pub(super) struct TaskGuard(Option<tokio::task::JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

/// The stop timer: the end of the plan (counted from the open model's schedule start, when
/// there is one) stops the run gracefully, and the graceful stop's end hard. Once stopping,
/// the driver is asked to stop every 100 ms until the timer is dropped (goose forgets a stop
/// asked for before its attack started).
pub(super) fn timer(ctx: Arc<RunCtx>, driver: Arc<dyn Driver>) -> TaskGuard {
    TaskGuard(Some(tokio::spawn(async move {
        let t0 = match &ctx.open {
            Some(open) => tokio::select! {
                t = open.started() => t,
                _ = ctx.wait_for(StopLevel::Graceful) => ctx.start,
            },
            None => ctx.start,
        };
        let end = tokio::time::Instant::from_std(t0 + ctx.plan.load.duration());
        tokio::select! {
            _ = tokio::time::sleep_until(end) => match &ctx.counted {
                // Counted iterations: the end of the plan is the `max_duration` bound.
                Some(counted) if ctx.stop_level() == StopLevel::Running => {
                    ctx.stop.stop(counted.out_of_time())
                }
                _ => ctx.stop.raise_to(StopLevel::Graceful),
            },
            _ = ctx.wait_for(StopLevel::Graceful) => {}
        }
        let hard_at = tokio::time::Instant::now() + ctx.plan.load.graceful_stop;
        loop {
            driver.stop();
            if tokio::time::Instant::now() >= hard_at {
                ctx.stop.raise_to(StopLevel::Hard);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_ending_leaves_ctrl_c_to_the_run_that_took_it_over() {
        let (first, second) = (StopHandle::new(), StopHandle::new());
        // The second run took Ctrl-C over while the first still ran: the first ending
        // leaves it alone.
        let mut current = Some(second.clone());
        release(&mut current, &first);
        assert!(current.as_ref().is_some_and(|c| c.same_run(&second)));
        // A clone is the same run.
        release(&mut current, &second.clone());
        assert!(current.is_none());
    }
}
