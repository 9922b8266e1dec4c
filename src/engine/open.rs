//! The open model on top of goose, which has none (its issue #87).
//!
//! A scheduler task walks the plan's arrival-rate schedule: iteration `i` is due when the
//! integral of the rate reaches `i`. Each due iteration (a *ticket* carrying its intended
//! start) goes to one scenario, chosen by smooth weighted round robin, and is handed to the
//! user of that scenario that became idle most recently (so connections stay warm and the
//! pool stays small). When no user is idle the ticket waits in a queue and one more user of
//! the pool is woken; whoever takes a queued ticket starts late, and the lateness is part
//! of the response time (measured from the intended start). Tickets that wait longer than
//! the request timeout are dropped and counted. Nothing catches up silently: every late
//! start, every drop and the achieved rate are counted per second.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::metrics::OpenModelStats;
use crate::scenario::{OpenLoad, Shard};

use super::slots::RoundRobin;
use super::{EngineError, RunCtx, StopLevel};

/// A start counts as late beyond this (timers have 1 ms resolution; 10 ms is a delay a
/// user would not notice but a schedule should).
pub(super) const LATE_AFTER: Duration = Duration::from_millis(10);

/// The scheduler spins, rather than sleeps, for the last stretch before a ticket is due
/// (yielding the core to anything else that wants it).
const SPIN: Duration = Duration::from_micros(150);

/// The most a ticket is handed to an idle user before it is due; the user builds its first
/// request meanwhile and spins the rest on its own thread, so the request goes out on time
/// however long the runtime takes to wake the user (tens of µs on a virtual machine: all of
/// it used to show in the response time) and however long the request takes to build.
const LEAD: Duration = Duration::from_micros(150);

/// A ticket is handed early by at most this share of the time since the ticket before, so
/// the users' spinning costs a few percent of a core at most: a sparse schedule's tickets
/// go early, a dense one's (whose users are awake anyway) on time.
const LEAD_SHARE: u32 = 20;

/// Per-run state of the open model.
pub(super) struct Open {
    pub load: OpenLoad,
    /// One dispatcher per scenario.
    pub dispatch: Vec<Dispatch>,
    /// Users of each scenario set up before the schedule starts.
    pub pre_allocated: Vec<usize>,
    /// Users of each scenario launched so far (their index within the scenario).
    pub launched: Vec<AtomicUsize>,
    /// Users that have either set up (pre-allocated) or parked in reserve.
    pub settled: AtomicUsize,
    /// When the schedule started (after the pre-allocated users were set up).
    pub t0: OnceLock<Instant>,
    pub t0_set: Notify,
    /// When the scheduler stopped (the schedule's end, or a stop).
    pub t_end: OnceLock<Instant>,
    /// Tickets older than this are dropped (the request timeout: the user would have given
    /// up by then).
    pub drop_after: Duration,
    pub counters: Counters,
}

/// Counts of the open model: per interval (swapped out each second) and totals.
#[derive(Default)]
pub(super) struct Counters {
    pub scheduled: AtomicU64,
    pub started: AtomicU64,
    pub late: AtomicU64,
    /// Dispatched late while a user was free: the generator's own delay.
    pub late_by_generator: AtomicU64,
    pub dropped: AtomicU64,
    /// Some ticket had to queue this interval (no user was free).
    pub exhausted: AtomicBool,
    pub busy: BusyGauge,
    pub peak_busy: AtomicU64,
    pub max_lateness_us: AtomicU64,
}

/// Users busy with an iteration: the count now, and its integral over time, so an interval
/// reports the mean number busy (Little's L) rather than a snapshot.
#[derive(Default)]
pub(super) struct BusyGauge {
    state: Mutex<BusyState>,
}

#[derive(Default)]
struct BusyState {
    now: u64,
    since: Option<Instant>,
    /// Sum of busy users x µs since the last `take_mean`.
    area: f64,
}

impl BusyGauge {
    fn change(&self, up: bool) -> u64 {
        let mut s = lock(&self.state);
        let t = Instant::now();
        if let Some(since) = s.since {
            s.area += s.now as f64 * t.duration_since(since).as_secs_f64() * 1e6;
        }
        s.since = Some(t);
        s.now = if up {
            s.now + 1
        } else {
            s.now.saturating_sub(1)
        };
        s.now
    }

    /// Mean users busy since the last call (which was `interval` ago).
    pub fn take_mean(&self, interval: Duration) -> f64 {
        let mut s = lock(&self.state);
        let t = Instant::now();
        if let Some(since) = s.since {
            s.area += s.now as f64 * t.duration_since(since).as_secs_f64() * 1e6;
        }
        s.since = Some(t);
        let mean = s.area / (interval.as_micros() as f64).max(1.0);
        s.area = 0.0;
        mean
    }
}

/// One interval's open-model counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OpenInterval {
    pub scheduled: u64,
    pub started: u64,
    pub late: u64,
    pub late_by_generator: u64,
    pub dropped: u64,
    pub exhausted: bool,
}

impl Counters {
    pub fn take(&self) -> OpenInterval {
        OpenInterval {
            scheduled: self.scheduled.swap(0, Ordering::Relaxed),
            started: self.started.swap(0, Ordering::Relaxed),
            late: self.late.swap(0, Ordering::Relaxed),
            late_by_generator: self.late_by_generator.swap(0, Ordering::Relaxed),
            dropped: self.dropped.swap(0, Ordering::Relaxed),
            exhausted: self.exhausted.swap(false, Ordering::Relaxed),
        }
    }

    fn started_at(&self, intended: Instant, now: Instant) {
        self.started.fetch_add(1, Ordering::Relaxed);
        let late = now.saturating_duration_since(intended);
        if late > LATE_AFTER {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.max_lateness_us
            .fetch_max(late.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Hands tickets of one scenario to its idle users.
#[derive(Default)]
pub(super) struct Dispatch {
    state: Mutex<DispatchState>,
    /// Wakes a user of the reserve when a ticket had to queue.
    pub reserve: Notify,
}

#[derive(Default)]
struct DispatchState {
    /// Intended starts of due tickets nobody has taken yet, oldest first.
    pending: VecDeque<Instant>,
    /// Idle users, the most recent last.
    idle: Vec<oneshot::Sender<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dispatch {
    /// Give a due ticket to the most recently idle user; `false` when it had to queue.
    fn offer(&self, intended: Instant) -> bool {
        let mut st = lock(&self.state);
        while let Some(tx) = st.idle.pop() {
            // A user that stopped waiting (the run is stopping) dropped its receiver.
            match tx.send(intended) {
                Ok(()) => return true,
                Err(_) => continue,
            }
        }
        st.pending.push_back(intended);
        false
    }

    /// Tickets still queued (at the end of the run they were never started).
    fn drain(&self) -> u64 {
        let mut st = lock(&self.state);
        let n = st.pending.len() as u64;
        st.pending.clear();
        st.idle.clear();
        n
    }
}

impl Open {
    /// `pre_allocated`: the users of each scenario set up before the schedule starts.
    pub fn new(load: &OpenLoad, pre_allocated: &[usize], drop_after: Duration) -> Open {
        Open {
            load: load.clone(),
            dispatch: pre_allocated.iter().map(|_| Dispatch::default()).collect(),
            pre_allocated: pre_allocated.to_vec(),
            launched: pre_allocated.iter().map(|_| AtomicUsize::new(0)).collect(),
            settled: AtomicUsize::new(0),
            t0: OnceLock::new(),
            t0_set: Notify::new(),
            t_end: OnceLock::new(),
            drop_after,
            counters: Counters::default(),
        }
    }

    /// Resolves once the schedule has started.
    pub async fn started(&self) -> Instant {
        loop {
            let notified = self.t0_set.notified();
            if let Some(t) = self.t0.get() {
                return *t;
            }
            notified.await;
        }
    }

    /// A user takes its next ticket: a queued one at once, else it waits (idle) for the
    /// scheduler. `None` when the run stops first. A ticket may come up to [`LEAD`] before
    /// its instant: the user builds its first request meanwhile and waits for the instant
    /// with [`spin_until`] just before sending it.
    pub async fn take(&self, ctx: &RunCtx, scenario: usize) -> Option<Instant> {
        let d = &self.dispatch[scenario];
        let rx = {
            let mut st = lock(&d.state);
            let now = Instant::now();
            while let Some(&t) = st.pending.front() {
                st.pending.pop_front();
                if now.saturating_duration_since(t) > self.drop_after {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                drop(st);
                self.counters.started_at(t, Instant::now().max(t));
                return Some(t);
            }
            let (tx, rx) = oneshot::channel();
            st.idle.push(tx);
            rx
        };
        tokio::select! {
            t = rx => {
                let t = t.ok()?;
                let now = Instant::now();
                // The user was idle, so a late start here is the generator's own delay: the
                // scheduler dispatched late, or the runtime was slow to run the user.
                if now.saturating_duration_since(t) > LATE_AFTER {
                    self.counters.late_by_generator.fetch_add(1, Ordering::Relaxed);
                }
                self.counters.started_at(t, now);
                Some(t)
            }
            _ = ctx.wait_for(StopLevel::Graceful) => None,
        }
    }

    /// Mark a user busy with an iteration (or done with it).
    pub fn busy(&self, on: bool) {
        let n = self.counters.busy.change(on);
        self.counters.peak_busy.fetch_max(n, Ordering::Relaxed);
    }
}

/// Wait for the pre-allocated users (at most `limit`), start the schedule and run it to its
/// end or a stop. Returns the number of tickets scheduled.
///
/// Runs on its own OS thread: tokio's timers have a resolution of 1 ms, which would add
/// about a millisecond to every response time; `thread::sleep` wakes within tens of µs.
fn schedule(ctx: Arc<RunCtx>, total_users: usize, limit: Duration) -> u64 {
    let Some(open) = ctx.open.as_ref() else {
        return 0;
    };
    let running = || ctx.stop_level() == StopLevel::Running;
    // A common start (`--start-at`) does not wait for the pool beyond it: the schedule is
    // the whole run's, and a late pool starts late (counted so) rather than shifting it.
    let deadline = if ctx.fixed_start {
        ctx.start
    } else {
        Instant::now() + limit
    };
    while open.settled.load(Ordering::Relaxed) < total_users
        && Instant::now() < deadline
        && running()
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    while ctx.fixed_start && Instant::now() < ctx.start && running() {
        let left = ctx.start.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
    let t0 = if ctx.fixed_start {
        ctx.start
    } else {
        Instant::now()
    };
    // A process that joined a common start late does not fire the iterations it missed in a
    // burst (their response times would be its lateness, not the server's): they count as
    // scheduled and dropped, and the schedule goes on from now.
    let missed_before = Instant::now();
    let late = ctx.fixed_start && missed_before > t0 + LATE_AFTER;
    let _ = open.t0.set(t0);
    open.t0_set.notify_waiters();
    let weights: Vec<u64> = ctx
        .plan
        .scenarios
        .iter()
        .map(|s| u64::from(s.weight.max(1)))
        .collect();
    let mut tickets = Tickets::new(&open.load, ctx.plan.load.shard, &weights);
    let c = &open.counters;
    let mut i = 0u64;
    // The due time of the ticket before, for the gap to the next one.
    let mut last = Duration::ZERO;
    fine_timer();
    while let Some(t) = tickets.peek() {
        if !running() {
            break;
        }
        // The ticket is released (offered) `lead` before it is due.
        let release = t0 + t.saturating_sub(lead(t.saturating_sub(last)));
        let now = Instant::now();
        if release > now {
            let wait = release - now;
            if wait > SPIN {
                // Short sleeps, so a stop is seen within 10 ms even at a rate of 1/min;
                // the sleep ends early enough that the OS's timer slack cannot make it late.
                std::thread::sleep((wait - SPIN).min(Duration::from_millis(10)));
            } else {
                // Give the core away while waiting, if anything else wants it.
                std::thread::yield_now();
            }
            continue;
        }
        // Everything released by now, in order.
        while let Some(t) = tickets.peek() {
            let at = t0 + t;
            if at > now + lead(t.saturating_sub(last)) {
                break;
            }
            last = t;
            let s = tickets.pop();
            c.scheduled.fetch_add(1, Ordering::Relaxed);
            i += 1;
            if late && at < missed_before {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if !open.dispatch[s].offer(at) {
                c.exhausted.store(true, Ordering::Relaxed);
                open.dispatch[s].reserve.notify_one();
            }
        }
    }
    let _ = open.t_end.set(Instant::now());
    i
}

/// How early a ticket due `gap` after the one before may be handed to an idle user.
fn lead(gap: Duration) -> Duration {
    (gap / LEAD_SHARE).min(LEAD)
}

/// Ask the OS to wake this thread's sleeps on time: Linux lets a sleep run over by the
/// thread's timer slack, 50 µs by default; 1 ns asks for the high-resolution timer's own
/// precision, so less of the wait is spent spinning. Elsewhere a no-op.
fn fine_timer() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a number, no pointers, and affects only the
    // calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Wait on this thread until `t`, spinning: the rest of a ticket released early (at most
/// [`LEAD`], a sparse schedule's), so the request starts on time rather than when the
/// runtime gets round to the user. Called once the first request is built, just before it
/// is sent, so that building it is not part of the response time either.
pub(super) fn spin_until(t: Instant) {
    let limit = Instant::now() + LEAD;
    while Instant::now() < t.min(limit) {
        std::hint::spin_loop();
    }
}

/// A shard's tickets, in the order they are due. The whole schedule's iterations get their
/// scenarios by the plan's round robin, as in one process; then each scenario's iterations
/// are dealt out to the shards in turn (its m-th goes to shard `m % count`), so every shard
/// serves every scenario in proportion to the weights (its pool holds them so) and the
/// union of every shard's tickets is the whole schedule: the same instants and scenarios,
/// none twice, none missing. (Dealing the whole schedule's iterations by `i % count` would
/// give a shard one scenario only whenever the count and the weights share a factor.)
pub(super) struct Tickets<'a> {
    load: &'a OpenLoad,
    shard: Shard,
    rr: RoundRobin,
    /// The whole schedule's next iteration, and how many there are.
    i: u64,
    total: u64,
    /// The whole schedule's iterations of each scenario so far.
    of_scenario: Vec<u64>,
    /// This shard's next ticket: when it is due, and its scenario.
    next: Option<(Duration, usize)>,
}

impl<'a> Tickets<'a> {
    pub fn new(load: &'a OpenLoad, shard: Shard, weights: &[u64]) -> Tickets<'a> {
        let mut t = Tickets {
            load,
            shard,
            rr: RoundRobin::new(weights),
            i: 0,
            total: load.total_iterations(),
            of_scenario: vec![0; weights.len().max(1)],
            next: None,
        };
        t.next = t.find();
        t
    }

    /// This shard's next iteration of the whole schedule from `self.i` on.
    fn find(&mut self) -> Option<(Duration, usize)> {
        let count = self.shard.count.max(1) as u64;
        while self.i < self.total {
            let i = self.i;
            self.i += 1;
            let s = self.rr.next();
            let m = self.of_scenario[s];
            self.of_scenario[s] += 1;
            if m % count == self.shard.index as u64 {
                return Some((self.load.time_of(i)?, s));
            }
        }
        None
    }

    /// When the next ticket is due, from the schedule's start; `None` after the last.
    pub fn peek(&self) -> Option<Duration> {
        self.next.map(|(due, _)| due)
    }

    /// Take the next ticket: its scenario.
    pub fn pop(&mut self) -> usize {
        let s = self.next.map_or(0, |(_, s)| s);
        self.next = self.find();
        s
    }
}

impl Iterator for Tickets<'_> {
    /// When the ticket is due and its scenario.
    type Item = (Duration, usize);

    fn next(&mut self) -> Option<(Duration, usize)> {
        let due = self.peek()?;
        Some((due, self.pop()))
    }
}

/// Open model: how long the pre-allocated users may take to set up before the schedule
/// starts anyway.
pub(super) const SETUP_LIMIT: Duration = Duration::from_secs(30);

/// The scheduler's thread (open model only).
pub(super) struct Scheduler(Option<std::thread::JoinHandle<u64>>);

impl Scheduler {
    /// Start [`schedule`] on its own thread when the run is in the open model.
    pub fn start(ctx: &Arc<RunCtx>) -> Result<Scheduler, EngineError> {
        if ctx.open.is_none() {
            return Ok(Scheduler(None));
        }
        let (ctx, users) = (ctx.clone(), ctx.plan.load.max_users());
        std::thread::Builder::new()
            // Not `skein-gen*`: its waiting is not the generator's load (see health.rs).
            .name("skein-schedule".into())
            .spawn(move || schedule(ctx, users, SETUP_LIMIT))
            .map(|t| Scheduler(Some(t)))
            .map_err(|e| EngineError::Config(format!("starting the scheduler: {e}")))
    }

    /// After a hard stop: wait for the scheduler (it ends within 10 ms), and count the
    /// tickets still queued, which were never started, as dropped.
    pub async fn finish(self, ctx: &RunCtx) {
        if let Some(s) = self.0 {
            let _ = tokio::task::spawn_blocking(move || s.join()).await;
        }
        if let Some(open) = &ctx.open {
            let n: u64 = open.dispatch.iter().map(Dispatch::drain).sum();
            open.counters.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The open model's counts over the whole run, added up second by second.
#[derive(Debug, Default)]
pub(super) struct OpenTotals {
    sum: OpenInterval,
    /// Seconds in which some ticket had to queue.
    exhausted_seconds: u64,
}

impl OpenTotals {
    pub fn add(&mut self, o: &OpenInterval) {
        self.sum.scheduled += o.scheduled;
        self.sum.started += o.started;
        self.sum.late += o.late;
        self.sum.dropped += o.dropped;
        self.exhausted_seconds += u64::from(o.exhausted);
    }

    /// The run's open-model facts. `start`: the run's start; `end`: when it ended, from
    /// `start`; `stopped_at`: when it was stopped early, if it was.
    pub fn stats(
        &self,
        open: &Open,
        shard: Shard,
        start: Instant,
        end: Duration,
        stopped_at: Option<Instant>,
    ) -> OpenModelStats {
        let t0 = open.t0.get().copied().unwrap_or(start);
        // The schedule's own clock: from its start to the end of the plan, or to when the
        // scheduler stopped early (a stop). The scheduler ends at the plan's last arrival,
        // which can come well before the plan's end (10 arrivals in 5 s: the last at 4.5 s).
        let planned = open.load.duration();
        let t_end = match stopped_at {
            Some(t) => t.max(t0),
            None => t0 + planned,
        };
        let ran = t_end
            .min(start + end)
            .saturating_duration_since(t0)
            .min(planned)
            .as_secs_f64()
            .max(1e-3);
        let c = &open.counters;
        // This shard's part of the rates, so that the shards' figures add up to the plan's.
        let part = 1.0 / shard.count.max(1) as f64;
        OpenModelStats {
            peak_rate: open.load.peak_rate() * part,
            intended_rate: open
                .load
                .shard_arrivals_by(shard, Duration::from_secs_f64(ran))
                / ran,
            achieved_rate: self.sum.started as f64 / ran,
            scheduled: self.sum.scheduled,
            started: self.sum.started,
            late: self.sum.late,
            dropped: self.sum.dropped,
            late_after_us: LATE_AFTER.as_micros() as u64,
            max_lateness_us: c.max_lateness_us.load(Ordering::Relaxed),
            max_users: open.load.max_users as u64,
            pre_allocated: open.load.pre_allocated as u64,
            peak_busy: c.peak_busy.load(Ordering::Relaxed),
            pool_exhausted_seconds: self.exhausted_seconds,
            schedule_offset_us: t0.saturating_duration_since(start).as_micros() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ticket that came early is waited out to its instant, never sent before it; a late
    /// one goes at once; the wait is bounded by [`LEAD`] whatever the instant.
    #[test]
    fn spin_until_waits_to_the_instant_and_no_longer_than_the_lead() {
        for ahead in [
            Duration::ZERO,
            Duration::from_micros(40),
            Duration::from_micros(140),
        ] {
            let t = Instant::now() + ahead;
            spin_until(t);
            assert!(
                Instant::now() >= t,
                "returned before the instant ({ahead:?} ahead)"
            );
        }
        let start = Instant::now();
        spin_until(start - Duration::from_millis(5));
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "a late ticket waited"
        );
        let start = Instant::now();
        spin_until(start + Duration::from_secs(3600));
        let waited = start.elapsed();
        assert!(
            waited >= LEAD && waited < Duration::from_secs(1),
            "{waited:?}"
        );
    }

    #[test]
    fn offers_go_to_the_latest_idle_user_or_queue() {
        let d = Dispatch::default();
        let t = Instant::now();
        assert!(!d.offer(t));
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        {
            let mut st = lock(&d.state);
            st.idle.push(tx1);
            st.idle.push(tx2);
        }
        assert!(d.offer(t));
        assert!(rx2.try_recv().is_ok());
        assert!(rx1.try_recv().is_err());
        drop(rx1);
        // The only idle user left has gone: the ticket queues.
        assert!(!d.offer(t));
        assert_eq!(d.drain(), 2);
    }

    /// Every shard's tickets together are the whole schedule's: the same instants with the
    /// same scenarios, none twice and none missing, for constant, ramping and spiking rates.
    #[test]
    fn issue15_open_tickets_of_all_shards_are_the_whole_schedule() {
        use crate::scenario::RateStage;
        let stage = |rate: f64, ms: u64| RateStage {
            rate,
            over: Duration::from_millis(ms),
        };
        let shapes = [
            (50.0, vec![stage(50.0, 2_000)]),
            (
                0.0,
                vec![stage(200.0, 1_000), stage(200.0, 500), stage(0.0, 700)],
            ),
            (
                10.0,
                vec![
                    stage(10.0, 800),
                    stage(400.0, 1),
                    stage(400.0, 300),
                    stage(10.0, 1),
                ],
            ),
        ];
        let weights = [3u64, 1, 2];
        for (start_rate, stages) in shapes {
            let load = OpenLoad {
                start_rate,
                stages,
                max_users: 10,
                pre_allocated: 1,
            };
            let mut whole: Vec<(Duration, usize)> =
                Tickets::new(&load, Shard::WHOLE, &weights).collect();
            assert_eq!(whole.len() as u64, load.total_iterations());
            // The scenarios are in proportion over the whole schedule.
            let of = |s: usize| whole.iter().filter(|t| t.1 == s).count() as f64;
            let n = whole.len() as f64;
            assert!((of(0) / n - 0.5).abs() < 0.02, "{}", of(0) / n);
            whole.sort();
            for count in 1..=12 {
                let mut union: Vec<(Duration, usize)> = Vec::new();
                for index in 0..count {
                    let shard = Shard { index, count };
                    let mine: Vec<(Duration, usize)> =
                        Tickets::new(&load, shard, &weights).collect();
                    // Every shard serves every scenario, its part of that scenario's
                    // iterations exactly (weights 3:1:2 over 2, 3 or 6 shards included).
                    for s in 0..weights.len() {
                        let of = |v: &[(Duration, usize)]| v.iter().filter(|t| t.1 == s).count();
                        assert_eq!(of(&mine), shard.part(of(&whole)), "{count} shards, {s}");
                    }
                    union.extend(mine);
                }
                union.sort();
                assert_eq!(union, whole, "{count} shards");
            }
        }
    }
}
