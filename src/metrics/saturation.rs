//! When the generator, not the target, limited the load: the one rule by which the end of a
//! run (`generator_health.saturated`), the live console line and a capacity step's stability
//! are all judged.
//!
//! A second is **busy** when the generator's CPU was at 90 % of its cores or more, or its
//! timers fired 50 ms late or more, or (open model) more than 1 % of the iterations due were
//! dispatched late while a user was free. A span of seconds (a whole run, a step's hold) is
//! **saturated** when at least 2 of its seconds, and at least a tenth of them, were busy.
//!
//! What the three uses see differs, and only in this: the end of a run is judged by the
//! engine's monitor, second by second as it samples ([`Busy::of`], then
//! [`Busy::with_late`]); the console line and a step's hold are judged on the recorded
//! [`TimePoint`]s (`From<&TimePoint>`), which keep the CPU share (to 0.1 %) and the timer
//! lag but not the late-dispatch count. [`Busy::of`] judges the CPU share rounded as a
//! [`TimePoint`] keeps it, so a second is busy on CPU or lag for all three alike; a second
//! busy by late dispatch alone is busy for the end of the run only. (A step's hold is a span
//! of its own: a saturated run may have every hold below the threshold, and the reverse.)

use super::TimePoint;

/// A second is busy at this CPU share of the generator's cores ...
pub const CPU_BUSY_PCT: f64 = 90.0;
/// ... or when a timer fired this late ...
pub const LAG_BUSY_US: u64 = 50_000;
/// ... or when more than this share of the second's iterations were dispatched late while
/// a user was free (open model).
pub const LATE_SHARE_BUSY: f64 = 0.01;

/// A CPU share to 0.1 %, as a [`TimePoint`]'s `cpu_pct` holds it.
pub fn round_cpu_pct(cpu_pct: f64) -> f64 {
    (cpu_pct * 10.0).round() / 10.0
}

/// Why one second counts as busy (any of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Busy {
    pub cpu: bool,
    pub lag: bool,
    pub late: bool,
}

impl Busy {
    /// A second with this CPU share (percent of the generator's cores) and largest timer lag.
    /// The share is judged to 0.1 %, as a [`TimePoint`] keeps it ([`round_cpu_pct`]), so a
    /// second judged live and read back agree.
    pub fn of(cpu_pct: f64, lag_us: u64) -> Busy {
        Busy {
            cpu: round_cpu_pct(cpu_pct) >= CPU_BUSY_PCT,
            lag: lag_us >= LAG_BUSY_US,
            late: false,
        }
    }

    /// The same second, knowing that `late_by_generator` of its `scheduled` iterations were
    /// dispatched late while a user was free.
    pub fn with_late(self, scheduled: u64, late_by_generator: u64) -> Busy {
        Busy {
            late: scheduled > 0
                && late_by_generator as f64 > LATE_SHARE_BUSY * scheduled as f64
                && late_by_generator > 1,
            ..self
        }
    }

    pub fn any(self) -> bool {
        self.cpu || self.lag || self.late
    }
}

impl From<&TimePoint> for Busy {
    fn from(p: &TimePoint) -> Busy {
        Busy::of(p.cpu_pct, p.sched_lag_us)
    }
}

/// The judgement of a span of seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saturation {
    pub seconds: u64,
    pub busy_seconds: u64,
    /// At least 2 seconds, and at least a tenth of them, were busy.
    pub saturated: bool,
}

impl Saturation {
    /// The span whose seconds were busy or not, in any order.
    pub fn of_seconds(busy: impl IntoIterator<Item = bool>) -> Saturation {
        let (mut seconds, mut busy_seconds) = (0u64, 0u64);
        for b in busy {
            seconds += 1;
            busy_seconds += u64::from(b);
        }
        Saturation {
            seconds,
            busy_seconds,
            saturated: busy_seconds >= 2 && busy_seconds * 10 >= seconds,
        }
    }
}

/// The span of these one-second points.
pub fn saturated(points: &[TimePoint]) -> Saturation {
    Saturation::of_seconds(points.iter().map(|p| Busy::from(p).any()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(cpu_pct: f64, sched_lag_us: u64) -> TimePoint {
        TimePoint {
            cpu_pct,
            sched_lag_us,
            ..TimePoint::default()
        }
    }

    #[test]
    fn a_second_is_busy_on_cpu_lag_or_late_dispatch() {
        assert!(Busy::from(&second(90.0, 0)).cpu);
        assert!(Busy::from(&second(0.0, 50_000)).lag);
        assert!(!Busy::from(&second(89.9, 49_999)).any());
        // The CPU share is judged to 0.1 %, as a second read back holds it.
        assert!(Busy::of(89.95, 0).cpu);
        assert!(!Busy::of(89.94, 0).cpu);
        for cpu in [89.94, 89.95, 89.96, 90.04] {
            let kept = second(round_cpu_pct(cpu), 0);
            assert_eq!(Busy::of(cpu, 0), Busy::from(&kept), "{cpu}");
        }
        // More than 1 % of the due iterations, and more than one.
        assert!(Busy::of(0.0, 0).with_late(1000, 11).late);
        assert!(!Busy::of(0.0, 0).with_late(1000, 10).any());
        assert!(!Busy::of(0.0, 0).with_late(100, 1).any());
        assert!(!Busy::of(0.0, 0).with_late(0, 5).any());
    }

    #[test]
    fn a_span_needs_two_busy_seconds_and_a_tenth_of_them() {
        let busy = second(100.0, 0);
        let idle = second(10.0, 0);
        assert!(!saturated(std::slice::from_ref(&busy)).saturated);
        assert!(saturated(&[busy.clone(), busy.clone()]).saturated);
        let mut run = vec![busy.clone(), busy.clone()];
        run.extend(std::iter::repeat_n(idle.clone(), 18));
        assert_eq!(
            saturated(&run),
            Saturation {
                seconds: 20,
                busy_seconds: 2,
                saturated: true
            }
        );
        run.push(idle);
        assert!(!saturated(&run).saturated);
        assert!(!saturated(&[]).saturated);
    }
}
