//! Counted iterations (`iterations_per_user`, `iterations`; k6's `per-vu-iterations` and
//! `shared-iterations`): each user takes an iteration before it starts one; a user with
//! none left is done, and once every user of this process is done the run stops
//! gracefully, as at the end of a `duration` (users finish their iteration and run their
//! `on_stop`; the run is `completed`). `max_duration` bounds it (the stop timer).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::stop::{StopHandle, StopLevel};
use crate::metrics::{IterationStats, StopReason};
use crate::scenario::{Iterations, LoadPlan};

/// The iterations of this process and who is done with them.
pub(super) struct Counted {
    kind: Iterations,
    /// This process's iterations: its users' counts, or its part of the shared count.
    planned: u64,
    /// Shared count: the iterations not taken yet.
    remaining: AtomicU64,
    /// Users of this process, and how many of them are done.
    users: usize,
    done: AtomicUsize,
    started: AtomicU64,
    completed: AtomicU64,
}

impl Counted {
    /// `None` for a timed run.
    pub(super) fn new(load: &LoadPlan) -> Option<Counted> {
        let kind = load.iterations?;
        let planned = load.planned_iterations().unwrap_or(0);
        Some(Counted {
            kind,
            planned,
            remaining: AtomicU64::new(planned),
            users: load.max_users(),
            done: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        })
    }

    /// Take the next iteration for a user that has run `ran` so far; `false` when it has
    /// none left (its own count, or the shared one, is spent).
    pub(super) fn take(&self, ran: u64) -> bool {
        let ok = match self.kind {
            Iterations::PerUser(n) => ran < n,
            Iterations::Shared(_) => self
                .remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1))
                .is_ok(),
        };
        if ok {
            self.started.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// An iteration ended: `complete` when all its steps ran.
    pub(super) fn ended(&self, complete: bool) {
        if complete {
            self.completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A user is done (no iteration left, or it can run none); the last one stops the run
    /// gracefully, with no reason: the run is complete.
    pub(super) fn user_done(&self, stop: &StopHandle) {
        let n = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.users {
            stop.raise_to(StopLevel::Graceful);
        }
    }

    /// A process with no user (a shard of fewer users than shards) is done at once.
    pub(super) fn start(&self, stop: &StopHandle) {
        if self.users == 0 {
            stop.raise_to(StopLevel::Graceful);
        }
    }

    /// Why the run stopped at `max_duration` with iterations left.
    pub(super) fn out_of_time(&self) -> StopReason {
        StopReason::Other(format!(
            "max_duration reached with {} of {} iterations completed",
            self.completed.load(Ordering::Relaxed),
            self.planned
        ))
    }

    pub(super) fn stats(&self) -> IterationStats {
        IterationStats {
            mode: mode(self.kind).into(),
            planned: self.planned,
            started: self.started.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
        }
    }
}

/// `per_user` or `shared`, as `result.json` says.
pub(super) fn mode(kind: Iterations) -> &'static str {
    match kind {
        Iterations::PerUser(_) => "per_user",
        Iterations::Shared(_) => "shared",
    }
}

/// What `result.json` says of a run's iterations before any has run.
pub(super) fn planned(load: &LoadPlan) -> Option<IterationStats> {
    Some(IterationStats {
        mode: mode(load.iterations?).into(),
        planned: load.planned_iterations()?,
        started: 0,
        completed: 0,
    })
}
