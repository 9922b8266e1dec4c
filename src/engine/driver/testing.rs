//! A driver without a network, for tests: users that answer themselves. It records a
//! steady rate of samples, with a chosen response time per step and every n-th one
//! failed, into the run's cells until the run stops; the engine does the rest as for a
//! real run (the harvest, its subscribers, the stop, `result.json`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Attack, Driver};
use crate::engine::{RunCtx, StopLevel};
use crate::metrics::{ErrorKind, Sample};

/// Made-up traffic: `rate` samples a second in all, spread over every step of every
/// scenario in turn; step `k` of a scenario answers in `latency[k]` (the last one for
/// steps beyond), and with `fail_every = Some(n)` every n-th sample is an `http_5xx`.
/// Closed-model plans only: all the plan's users count as active while it runs.
pub struct Synthetic {
    pub rate: f64,
    pub latency: Vec<Duration>,
    pub fail_every: Option<u64>,
    recorded: Arc<AtomicU64>,
}

impl Synthetic {
    pub fn new(rate: f64, latency: Vec<Duration>) -> Synthetic {
        Synthetic {
            rate,
            latency,
            fail_every: None,
            recorded: Arc::default(),
        }
    }

    /// Samples recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }
}

impl Driver for Synthetic {
    fn attack(&self, run: Arc<RunCtx>) -> Attack {
        let (rate, recorded, fail_every) = (self.rate, self.recorded.clone(), self.fail_every);
        let latency = self.latency.clone();
        Box::pin(async move {
            let steps: Vec<(usize, usize)> = (run.plan().scenarios.iter().enumerate())
                .flat_map(|(s, sc)| (0..sc.steps.len()).map(move |k| (s, k)))
                .collect();
            let users = run.plan().load.max_users();
            (0..users).for_each(|_| run.user_active(true));
            let start = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut n = 0u64;
            while run.stop_level() == StopLevel::Running && !steps.is_empty() {
                let due = (start.elapsed().as_secs_f64() * rate) as u64;
                for i in n..due {
                    let (s, k) = steps[i as usize % steps.len()];
                    let us = latency
                        .get(k)
                        .or(latency.last())
                        .map_or(1_000, |d| d.as_micros() as u64);
                    let failed = fail_every.is_some_and(|f| f > 0 && (i + 1) % f == 0);
                    let error = failed.then_some(ErrorKind::Http5xx);
                    let cell = run.step_cell(s, k);
                    run.recorder().record(&Sample {
                        cell,
                        response_us: Some(us),
                        service_us: Some(us),
                        co_interval_us: None,
                        error,
                        failed_checks: &[],
                        bytes: 100,
                        meta: None,
                    });
                    if failed {
                        run.note_error(cell, ErrorKind::Http5xx, "HTTP 503 (synthetic)");
                    }
                    recorded.fetch_add(1, Ordering::Relaxed);
                }
                n = n.max(due);
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = run.wait_for(StopLevel::Graceful) => {}
                }
            }
            (0..users).for_each(|_| run.user_active(false));
            Ok(())
        })
    }

    fn stop(&self) {}
}
