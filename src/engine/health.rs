//! The generator watching itself: CPU used by its runtime's threads, how late its timers
//! fire, and from those, whether the generator rather than the target limited the load.
//!
//! The attack runs on its own runtime whose threads are named [`THREAD_NAME`], so an
//! embedded demo target (on the caller's runtime) is not counted as generator CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::saturation::{self, Busy, CPU_BUSY_PCT, LAG_BUSY_US, Saturation};
use crate::metrics::{GeneratorHealth, Hist};

/// Name of the generator runtime's threads.
pub(super) const THREAD_NAME: &str = "skein-gen";

/// The probe's sleep: its overshoot is the scheduler's lag.
const PROBE: Duration = Duration::from_millis(5);

/// Timer lag, shared with the probe task.
#[derive(Default)]
pub(super) struct LagProbe {
    hist: Mutex<Hist>,
    max_us: AtomicU64,
}

impl LagProbe {
    /// Every [`PROBE`], measure how long a task that yields waits to run again (the depth
    /// of the runtime's queue of ready tasks) plus how late the timer fired beyond its
    /// 1 ms resolution; record the sum.
    pub async fn run(self: Arc<Self>) {
        loop {
            let t = Instant::now();
            tokio::time::sleep(PROBE).await;
            let overshoot = t.elapsed().saturating_sub(PROBE + Duration::from_millis(1));
            let y = Instant::now();
            tokio::task::yield_now().await;
            let lag = (overshoot + y.elapsed()).as_micros() as u64;
            self.max_us.fetch_max(lag, Ordering::Relaxed);
            self.hist
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(lag.max(1));
        }
    }

    /// The largest lag since the last call, µs.
    fn take_max(&self) -> u64 {
        self.max_us.swap(0, Ordering::Relaxed)
    }

    fn whole_run(&self) -> (u64, u64) {
        let h = self.hist.lock().unwrap_or_else(|p| p.into_inner());
        (h.quantile(0.99), h.max())
    }
}

/// CPU time of the generator's threads, read from `/proc/self/task/*/stat` (Linux; zero
/// elsewhere).
fn generator_cpu_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for e in dir.flatten() {
        let p = e.path();
        let named = std::fs::read_to_string(p.join("comm"))
            .is_ok_and(|c| c.trim_end().starts_with(THREAD_NAME));
        if !named {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(p.join("stat")) {
            total += parse_stat_ticks(&stat).unwrap_or(0);
        }
    }
    total
}

/// utime + stime of a `stat` line (fields 14 and 15; the name in parentheses may hold
/// spaces, so count from the closing parenthesis).
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After ")": state is field 3, so utime (14) is the 12th here.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    #[cfg(unix)]
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    #[cfg(not(unix))]
    let t = 100;
    if t > 0 { t as f64 } else { 100.0 }
}

/// One second of the generator's health.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HealthPoint {
    pub cpu_pct: f64,
    pub lag_max_us: u64,
    pub saturated: bool,
}

/// Samples the generator once a second and judges the run at the end.
pub(super) struct Monitor {
    probe: Arc<LagProbe>,
    cores: usize,
    read_ticks: fn() -> u64,
    tick_hz: f64,
    last_ticks: u64,
    last_at: Instant,
    points: Vec<HealthPoint>,
    late_by_generator: u64,
    cpu_seconds: u64,
    lag_seconds: u64,
    late_seconds: u64,
}

impl Monitor {
    pub fn new(probe: Arc<LagProbe>, cores: usize) -> Monitor {
        Monitor::with_cpu_source(probe, cores, generator_cpu_ticks)
    }

    fn with_cpu_source(probe: Arc<LagProbe>, cores: usize, read_ticks: fn() -> u64) -> Monitor {
        Monitor {
            probe,
            cores: cores.max(1),
            read_ticks,
            tick_hz: clock_ticks_per_second(),
            last_ticks: read_ticks(),
            last_at: Instant::now(),
            points: Vec::new(),
            late_by_generator: 0,
            cpu_seconds: 0,
            lag_seconds: 0,
            late_seconds: 0,
        }
    }

    /// Sample the last interval. `scheduled` and `late_by_generator` are the open model's
    /// counts for it (0 in the closed model).
    pub fn sample(&mut self, scheduled: u64, late_by_generator: u64) -> HealthPoint {
        let ticks = (self.read_ticks)();
        let now = Instant::now();
        let wall = now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        let cpu = ticks.saturating_sub(self.last_ticks) as f64 / self.tick_hz;
        let cpu_pct = (100.0 * cpu / (wall * self.cores as f64)).min(100.0);
        self.last_ticks = ticks;
        self.last_at = now;
        let lag_max_us = self.probe.take_max();
        self.late_by_generator += late_by_generator;
        let busy = Busy::of(cpu_pct, lag_max_us).with_late(scheduled, late_by_generator);
        self.cpu_seconds += u64::from(busy.cpu);
        self.lag_seconds += u64::from(busy.lag);
        self.late_seconds += u64::from(busy.late);
        let p = HealthPoint {
            cpu_pct,
            lag_max_us,
            saturated: busy.any(),
        };
        self.points.push(p);
        p
    }

    /// The verdict on the whole run ([`Saturation`]: saturated when at least 2 seconds,
    /// and at least 10 % of them, were).
    pub fn finish(&self) -> GeneratorHealth {
        let Saturation {
            seconds: n,
            busy_seconds: saturated_seconds,
            saturated,
        } = Saturation::of_seconds(self.points.iter().map(|p| p.saturated));
        let (lag_p99, lag_max) = self.probe.whole_run();
        let cpu_max = self.points.iter().map(|p| p.cpu_pct).fold(0.0, f64::max);
        let cpu_mean = if n == 0 {
            0.0
        } else {
            self.points.iter().map(|p| p.cpu_pct).sum::<f64>() / n as f64
        };
        let mut reasons = Vec::new();
        if saturated {
            if self.cpu_seconds > 0 {
                reasons.push(format!(
                    "the generator's CPU was at {CPU_BUSY_PCT:.0}% or more of its {} core{} for {} s",
                    self.cores,
                    if self.cores == 1 { "" } else { "s" },
                    self.cpu_seconds
                ));
            }
            if self.lag_seconds > 0 {
                reasons.push(format!(
                    "its timers fired up to {:.0} ms late ({} s with {} ms or more)",
                    lag_max as f64 / 1000.0,
                    self.lag_seconds,
                    LAG_BUSY_US / 1000
                ));
            }
            if self.late_seconds > 0 {
                reasons.push(format!(
                    "{} iterations were dispatched late while users were free ({} s)",
                    self.late_by_generator, self.late_seconds
                ));
            }
        }
        GeneratorHealth {
            cores: self.cores as u64,
            cpu_pct_mean: saturation::round_cpu_pct(cpu_mean),
            cpu_pct_max: saturation::round_cpu_pct(cpu_max),
            sched_lag_p99_us: lag_p99,
            sched_lag_max_us: lag_max,
            late_starts: self.late_by_generator,
            saturated_seconds,
            saturated,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "1234 (skein-gen (x) 1) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(line), Some(281));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    /// A spinning generator thread's CPU is what the thread itself used, however busy the
    /// machine is (it runs at the lowest priority, so a busy machine gives it little: the
    /// test waits until it has had some CPU, at most 10 s).
    #[test]
    fn a_thread_burning_cpu_shows_up() {
        use std::sync::atomic::AtomicU64;
        let probe = Arc::new(LagProbe::default());
        let started = std::time::Instant::now();
        let mut m = Monitor::new(probe, 1);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The thread's CPU time so far, µs, published as it spins.
        let used = Arc::new(AtomicU64::new(0));
        let (flag, published) = (stop.clone(), used.clone());
        let t = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                // Lowest priority, so the other tests' timing is not disturbed.
                #[cfg(unix)]
                // SAFETY: setpriority on this thread's own id.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
                }
                let mut x = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    for _ in 0..100_000 {
                        x = x.wrapping_mul(31).wrapping_add(7);
                    }
                    published.store(thread_cpu().as_micros() as u64, Ordering::Relaxed);
                }
                std::hint::black_box(x);
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        while used.load(Ordering::Relaxed) < 100_000 && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let truth_us = used.load(Ordering::Relaxed);
        let busy = m.sample(0, 0);
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let idle = m.sample(0, 0);
        // What the thread itself used over the sample, in percent of one core; both sides
        // count in 10 ms clock ticks, and the thread publishes its time every few ms.
        let truth = truth_us as f64 / elapsed.as_micros() as f64 * 100.0;
        assert!(truth_us > 0, "the thread never ran");
        assert!(
            (busy.cpu_pct - truth).abs() <= 5.0 + 0.2 * truth,
            "{busy:?}, the thread used {truth:.1} %"
        );
        assert!(busy.cpu_pct > 0.0, "{busy:?}");
        assert!(idle.cpu_pct < busy.cpu_pct, "{idle:?} {busy:?}");
    }

    /// CPU time of the calling thread.
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime with a valid pointer to a local struct.
        unsafe {
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        }
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn saturation_needs_two_seconds_and_a_tenth_of_the_run() {
        let mut m = Monitor::with_cpu_source(Arc::new(LagProbe::default()), 4, || 0);
        // Open model: 1,000 due, 500 dispatched late while users were free.
        m.sample(1000, 500);
        assert!(!m.finish().saturated);
        m.sample(1000, 500);
        let h = m.finish();
        assert!(h.saturated, "{h:?}");
        assert_eq!(h.saturated_seconds, 2);
        assert!(
            h.reasons.iter().any(|r| r.contains("1000 iterations")),
            "{h:?}"
        );
        for _ in 0..30 {
            m.sample(1000, 0);
        }
        assert!(!m.finish().saturated);
    }
}
