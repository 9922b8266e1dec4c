//! The once-a-second harvest: what the users recorded in the last second, with the
//! generator's gauges, folded into the run's totals and published as a [`Second`] to every
//! [`Subscriber`]. The results folder is the first subscriber; the live console, the abort
//! checks (targets with `abort_on_fail`, a step test's early stop) and whatever a caller
//! adds (a metrics exporter, a live dashboard) are others. A worker of a `--workers` run
//! publishes through its results folder, whose journal its parent reads.
//!
//! At the end, [`Harvester::finish`] turns the totals into the run's [`RunResult`] and hands
//! it to each subscriber (the folder writes `result.json`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::context::{RunCtx, rfc3339};
use super::health::Monitor;
use super::open::OpenTotals;
use super::stop::{StopHandle, StopLevel};
use super::{AbortCheck, EngineError};
use crate::metrics::accumulate::Gauges;
use crate::metrics::{
    Accumulator, CellInfo, CoCorrection, IntervalData, RunInfo, RunResult, RunStatus, RunWriter,
    TimePoint, find_stalls, saturation, significant_blocked,
};

/// One harvested second (the last one may be shorter), as every subscriber sees it.
pub struct Second<'a> {
    /// Its start from the run's start, and its length, µs (millisecond resolution).
    pub t_us: u64,
    pub duration_us: u64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Users, the open model's schedule counts, the generator's CPU and timer lag.
    pub gauges: &'a Gauges,
    /// The generator was saturated in this second.
    pub saturated: bool,
    /// Each cell's measurements (histograms, counts, errors by kind), by cell id.
    pub cells: &'a IntervalData,
    /// The cells: scenario, step, tag, by id.
    pub layout: &'a [CellInfo],
    /// The second over all requests (what a time series shows).
    pub point: &'a TimePoint,
    /// The run so far.
    pub totals: &'a Accumulator,
    /// The run is stopping.
    pub stopping: bool,
    info: &'a RunInfo,
}

impl Second<'_> {
    /// The run so far as a result (totals, no examples): what targets are judged on.
    pub fn so_far(&self) -> RunResult {
        self.totals
            .finish(self.info.clone(), serde_json::Value::Null, Vec::new())
    }
}

/// Receives each harvested second, and the result at the end.
pub trait Subscriber: Send {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError>;
    fn finish(&mut self, _result: &RunResult) -> Result<(), EngineError> {
        Ok(())
    }
}

/// The results folder: each second into the interval log and journal, the result into
/// `result.json`.
impl Subscriber for RunWriter {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        Ok(self.write_interval_with(s.t_us, s.duration_us, s.gauges, s.cells)?)
    }

    fn finish(&mut self, result: &RunResult) -> Result<(), EngineError> {
        Ok(self.write_result(result)?)
    }
}

/// What the console shows while a run goes.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub elapsed: Duration,
    pub planned: Duration,
    pub users: u64,
    /// The last second.
    pub last: TimePoint,
    pub requests: u64,
    pub errors: u64,
    pub stopping: bool,
}

/// The live console: a [`Progress`] each second.
pub(super) struct ProgressFeed {
    pub tx: watch::Sender<Progress>,
    pub planned: Duration,
}

impl Subscriber for ProgressFeed {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        let all = s.totals.overall();
        let _ = self.tx.send(Progress {
            elapsed: s.elapsed,
            planned: self.planned,
            users: s.point.users,
            requests: all.requests,
            errors: all.error_count() + all.check_failed,
            last: s.point.clone(),
            stopping: s.stopping,
        });
        Ok(())
    }
}

/// Judges the run so far each second; a reason stops it.
pub(super) struct AbortWatch {
    pub check: AbortCheck,
    pub stop: StopHandle,
}

impl Subscriber for AbortWatch {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        if !s.stopping
            && let Some(reason) = (self.check)(&s.so_far())
        {
            self.stop.stop(reason);
        }
        Ok(())
    }
}

/// Folds each second into the run's totals and hands it to every subscriber: the
/// [`Harvester`] of a run, and whatever publishes seconds it did not harvest itself (the
/// `--workers` parent publishes its workers' seconds, merged, through one).
pub struct Publisher {
    acc: Accumulator,
    info: RunInfo,
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl Publisher {
    /// `acc`: the run's totals so far (its cells are the seconds' layout); `info`: the run's
    /// facts, what [`Second::so_far`] judges.
    pub fn new(acc: Accumulator, info: RunInfo, subscribers: Vec<Box<dyn Subscriber>>) -> Self {
        Publisher {
            acc,
            info,
            subscribers,
        }
    }

    /// No subscriber listens.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// The run so far.
    pub fn totals(&self) -> &Accumulator {
        &self.acc
    }

    /// Fold the second starting `t_us` after the start, `duration_us` long, into the totals
    /// and hand it to every subscriber (the first error stops there and is returned).
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &mut self,
        t_us: u64,
        duration_us: u64,
        elapsed: Duration,
        gauges: &Gauges,
        cells: &IntervalData,
        saturated: bool,
        stopping: bool,
    ) -> Result<(), EngineError> {
        let point = self.acc.add_interval_with(t_us, duration_us, gauges, cells);
        let second = Second {
            t_us,
            duration_us,
            elapsed,
            gauges,
            saturated,
            cells,
            layout: self.acc.cells(),
            point: &point,
            totals: &self.acc,
            stopping,
            info: &self.info,
        };
        for s in &mut self.subscribers {
            s.second(&second)?;
        }
        Ok(())
    }

    /// Hand the run's result to every subscriber.
    pub fn finish(&mut self, result: &RunResult) -> Result<(), EngineError> {
        for s in &mut self.subscribers {
            s.finish(result)?;
        }
        Ok(())
    }
}

/// Folds each second into the run's totals and publishes it.
pub(super) struct Harvester {
    ctx: Arc<RunCtx>,
    publisher: Publisher,
    monitor: Monitor,
    /// End of the last second harvested, µs from the start.
    last_us: u64,
    /// When the last tick ran, from the start.
    now: Duration,
    open: OpenTotals,
    usual: UsualTimes,
    /// The Lighthouse audits, put into the result when it is finished.
    pub lighthouse: Option<crate::metrics::lighthouse::LighthouseResult>,
}

impl Harvester {
    pub fn new(
        ctx: Arc<RunCtx>,
        acc: Accumulator,
        monitor: Monitor,
        info: RunInfo,
        subscribers: Vec<Box<dyn Subscriber>>,
    ) -> Harvester {
        let usual = UsualTimes::new(acc.cells().len());
        Harvester {
            ctx,
            publisher: Publisher::new(acc, info, subscribers),
            monitor,
            last_us: 0,
            now: Duration::ZERO,
            open: OpenTotals::default(),
            usual,
            lighthouse: None,
        }
    }

    /// A run on a common clock that this process joined `lateness` after its start: its
    /// first interval starts at the last multiple of `every` before then.
    pub fn skip_to(&mut self, lateness: Duration, every: Duration) {
        let every_us = (every.as_micros() as u64).max(1);
        let late_us = lateness.as_micros() as u64;
        self.last_us = late_us / every_us * every_us;
    }

    /// Harvest what was recorded since the last tick (nothing when no millisecond passed)
    /// and publish it.
    pub fn tick(&mut self) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        self.now = ctx.start.elapsed();
        let now_us = ms_us(self.now).max(self.last_us);
        if now_us == self.last_us {
            return Ok(());
        }
        let data = ctx.recorder.harvest();
        let o = ctx
            .open
            .as_ref()
            .map(|o| o.counters.take())
            .unwrap_or_default();
        let users = match &ctx.open {
            // Mean users busy over the interval.
            Some(open) => open
                .counters
                .busy
                .take_mean(Duration::from_micros(now_us - self.last_us))
                .round() as u64,
            None => ctx.active.load(Ordering::Relaxed),
        };
        let h = self.monitor.sample(o.scheduled, o.late_by_generator);
        self.open.add(&o);
        let g = Gauges {
            users,
            scheduled: o.scheduled,
            started: o.started,
            late: o.late,
            dropped: o.dropped,
            cpu_pct: saturation::round_cpu_pct(h.cpu_pct),
            sched_lag_us: h.lag_max_us,
        };
        let (t_us, duration_us) = (self.last_us, now_us - self.last_us);
        if ctx.open.is_none() {
            self.usual.update(&ctx.median_service, &data);
        }
        self.last_us = now_us;
        self.publisher.publish(
            t_us,
            duration_us,
            self.now,
            &g,
            &data,
            h.saturated,
            ctx.stop_level() != StopLevel::Running,
        )
    }

    /// The run's result, handed to every subscriber: the totals, the generator's health,
    /// the open model's facts or the closed model's correction, how the run ended.
    pub fn finish(mut self) -> Result<RunResult, EngineError> {
        let ctx = &self.ctx;
        let cells = self.publisher.acc.cells();
        let mut run = self.publisher.info.clone();
        run.generator_health = Some(self.monitor.finish());
        match &ctx.open {
            Some(open) => {
                let stats = self.open.stats(
                    open,
                    ctx.plan.load.shard,
                    ctx.start,
                    self.now,
                    ctx.stop.stopped_at(),
                );
                run.open_model = Some(stats);
            }
            None => {
                run.co_correction = Some(CoCorrection {
                    method: "user_cycle".into(),
                    synthetic_samples: self.publisher.acc.overall().corrected,
                    blocked: ctx.blocked.finish(cells),
                    // Found below, on the run's seconds.
                    stalls: Vec::new(),
                })
            }
        }
        run.ended_at = Some(rfc3339(SystemTime::now()));
        run.cut_off = ctx.cut_off.load(Ordering::Relaxed);
        if let Some(counted) = &ctx.counted {
            run.iterations = Some(counted.stats());
        }
        run.stop_reason = ctx.stop.reason();
        run.status = match run.stop_reason {
            Some(_) => RunStatus::Interrupted,
            None => RunStatus::Complete,
        };
        let examples = ctx.examples.finish(cells);
        let mut result = self
            .publisher
            .acc
            .finish(run, ctx.plan.scenario_copy.clone(), examples);
        // Open model: the most users busy at once (the series holds per-second means).
        // Closed model: the most users active at once, counted as they start and stop (the
        // series samples them once a second, and the last second may see them leave).
        let peak = match &result.run.open_model {
            Some(o) => o.peak_busy,
            None => ctx.peak.load(Ordering::Relaxed),
        };
        result.run.peak_users = result.run.peak_users.max(peak);
        let (outages, dropped) = ctx.recorder.outages(result.run.duration_us);
        result.availability = Some(crate::metrics::Availability::new(
            result.overall.requests,
            result.overall.ok,
            outages,
            dropped,
        ));
        if let Some(co) = result.run.co_correction.as_mut() {
            co.stalls = find_stalls(&co.blocked, &result.timeseries);
            co.blocked = significant_blocked(&co.blocked, &result.timeseries);
        }
        result.lighthouse = self.lighthouse.take();
        self.publisher.finish(&result)?;
        Ok(result)
    }
}

/// Closed model: each step's usual service time follows the load: the median of the last
/// 5 seconds' medians (of the seconds it had responses in), so a ramp's or a step test's
/// higher levels are not judged by the lower levels' times, and one odd second does not
/// move it.
struct UsualTimes {
    recent: Vec<Vec<u64>>,
}

impl UsualTimes {
    fn new(cells: usize) -> UsualTimes {
        UsualTimes {
            recent: vec![Vec::new(); cells],
        }
    }

    fn update(&mut self, usual: &[AtomicU64], data: &IntervalData) {
        for ((m, d), recent) in usual.iter().zip(data.iter()).zip(self.recent.iter_mut()) {
            if d.service.is_empty() {
                continue;
            }
            if recent.len() == 5 {
                recent.remove(0);
            }
            recent.push(d.service.quantile(0.5));
            let mut sorted = recent.clone();
            sorted.sort_unstable();
            // The lower median: with two seconds so far, one stalled second must not
            // become the usual time.
            m.store(sorted[(sorted.len() - 1) / 2], Ordering::Relaxed);
        }
    }
}

/// Round to whole milliseconds, in µs (interval-log timestamps have ms resolution).
fn ms_us(d: Duration) -> u64 {
    d.as_millis() as u64 * 1000
}
