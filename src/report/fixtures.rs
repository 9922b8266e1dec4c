//! Hand-built runs for the report tests: the report fixture of `tests/fixtures` as it is (a
//! result from before service times were recorded) and with the newer fields filled in.

use crate::metrics::{
    CoCorrection, GeneratorHealth, Hist, Latency, OpenModelStats, RunResult, Summary, Verdict,
};

/// The fixture as written by an older Skein.
pub fn old() -> (RunResult, Verdict) {
    let r = serde_json::from_str(include_str!(
        "../../tests/fixtures/results/report-fixture/result.json"
    ))
    .expect("the report fixture parses");
    let v = serde_json::from_str(include_str!(
        "../../tests/fixtures/results/report-fixture/summary.json"
    ))
    .expect("the fixture's verdict parses");
    (r, v)
}

/// Service times of a third of the response times, spread like them.
fn add_service(s: &mut Summary) {
    let l = &s.response_time;
    let mut h = Hist::new();
    for (v, n) in [(l.p50_us, 50), (l.p95_us, 45), (l.p99_us, 4), (l.max_us, 1)] {
        for _ in 0..n {
            h.record((v / 3).max(1));
        }
    }
    s.service_time = Latency::from_hist(&h);
}

/// A closed-model run with the correction applied and a healthy generator.
pub fn closed() -> (RunResult, Verdict) {
    let (mut r, v) = old();
    add_service(&mut r.overall);
    for st in &mut r.steps {
        add_service(&mut st.summary);
    }
    for sc in &mut r.scenarios {
        add_service(&mut sc.summary);
    }
    for p in &mut r.timeseries {
        p.service_p50_us = p.p50_us / 3;
        p.service_p99_us = p.p99_us / 3;
        p.cpu_pct = 35.0;
    }
    r.run.response_time_basis = "corrected".into();
    r.run.co_correction = Some(CoCorrection {
        method: "think_time_plus_median_service_time".into(),
        synthetic_samples: 321,
        ..CoCorrection::default()
    });
    r.run.generator_health = Some(GeneratorHealth {
        cores: 4,
        cpu_pct_mean: 35.0,
        cpu_pct_max: 52.0,
        sched_lag_p99_us: 1_200,
        sched_lag_max_us: 4_800,
        ..GeneratorHealth::default()
    });
    (r, v)
}

/// A closed-model run of this Skein (response times as measured) whose target stalled
/// for a second: the stall found, and the corrected estimate kept beside the measurements.
pub fn closed_stalled() -> (RunResult, Verdict) {
    let (mut r, v) = closed();
    r.run.response_time_basis = "measured".into();
    r.overall.service_time = r.overall.response_time.clone();
    let mut est = r
        .overall
        .response_time
        .hist()
        .expect("the fixture's histogram");
    for _ in 0..(est.count() / 10).max(1) {
        est.record(900_000);
    }
    r.overall.co_estimate = Some(Latency::from_hist(&est));
    r.run.co_correction = Some(CoCorrection {
        method: "user_cycle".into(),
        synthetic_samples: 990,
        blocked: Vec::new(),
        stalls: vec![crate::metrics::Stall {
            from_us: 2_000_000,
            to_us: 4_000_000,
            blocked_share: 0.5,
            longest_us: 1_011_000,
            usual_us: 11_000,
            step: "GET /api/products/ID".into(),
        }],
    });
    (r, v)
}

/// An open-model run at 130/s that dropped and started late some iterations.
pub fn open() -> (RunResult, Verdict) {
    let (mut r, v) = closed();
    r.run.model = "open".into();
    r.run.response_time_basis = "intended_start".into();
    r.run.co_correction = None;
    r.run.open_model = Some(OpenModelStats {
        peak_rate: 130.0,
        intended_rate: 130.0,
        achieved_rate: 127.2,
        scheduled: 7800,
        started: 7630,
        late: 412,
        dropped: 170,
        late_after_us: 10_000,
        max_lateness_us: 2_350_000,
        max_users: 60,
        pre_allocated: 10,
        peak_busy: 60,
        pool_exhausted_seconds: 3,
        schedule_offset_us: 0,
    });
    for (i, p) in r.timeseries.iter_mut().enumerate() {
        p.scheduled = 130;
        if (30..33).contains(&i) {
            p.late = 130;
            p.dropped = 55;
        }
    }
    (r, v)
}

/// The open-model run with a saturated generator.
pub fn saturated() -> (RunResult, Verdict) {
    let (mut r, v) = open();
    r.run.generator_health = Some(GeneratorHealth {
        cores: 2,
        cpu_pct_mean: 93.0,
        cpu_pct_max: 100.0,
        sched_lag_p99_us: 61_000,
        sched_lag_max_us: 180_000,
        late_starts: 95,
        saturated_seconds: 12,
        saturated: true,
        reasons: vec![
            "CPU at 90 % or more of the generator's cores in 12 s".into(),
            "timers fired up to 180ms late".into(),
        ],
    });
    (r, v)
}
