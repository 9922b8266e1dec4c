use super::*;
use crate::capacity::steps::tests::point;
use crate::metrics::TimePoint;

/// The Cisco reference dataset (see `usl.rs`) as steps known by their figures.
fn cisco_steps() -> Vec<StepAnalysis> {
    usl::tests::CISCO
        .iter()
        .enumerate()
        .map(|(i, &(n, x))| StepAnalysis::from_figures(i, n, x, None))
        .collect()
}

fn steps_with_p95(rows: &[(f64, f64, u64)]) -> Vec<StepAnalysis> {
    rows.iter()
        .enumerate()
        .map(|(i, &(n, x, p95_ms))| StepAnalysis::from_figures(i, n, x, Some(p95_ms * 1000)))
        .collect()
}

#[test]
fn the_golden_dataset_through_the_whole_analysis() {
    let r = analyze(
        "cisco.csv",
        LoadModel::Closed,
        cisco_steps(),
        &CapacityOptions::default(),
    );
    let f = r.usl.as_ref().unwrap();
    assert!(((f.sigma - 0.02671591) / 0.02671591).abs() < 1e-4);
    assert!(((f.kappa - 7.690945e-4) / 7.690945e-4).abs() < 1e-4);
    assert!(((f.lambda - 995.6486) / 995.6486).abs() < 1e-4);
    assert_eq!(f.peak_concurrency.unwrap().floor(), 35.0);
    // No SLO: the top row is the maximum, and the report says the test could go further.
    let m = r.max_sustainable.as_ref().unwrap();
    assert_eq!((m.step, m.interpolated), (31, false));
    assert!(
        r.warnings.iter().any(|w| w.contains("extend the test")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.knee, None, "no p95 column, no knee");
    // capacity.json round-trips and its schema is an object.
    let json = serde_json::to_string(&r).unwrap();
    let back: CapacityReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.steps, r.steps);
    assert!((back.usl.unwrap().kappa - f.kappa).abs() < 1e-15);
    assert!(json.contains("\"sigma_se\""), "{json}");
    assert_eq!(CapacityReport::json_schema()["type"], "object");
}

#[test]
fn fewer_than_four_stable_steps_show_the_steps_without_a_fit() {
    let mut steps = steps_with_p95(&[
        (1.0, 100.0, 10),
        (2.0, 190.0, 11),
        (3.0, 270.0, 12),
        (4.0, 300.0, 20),
    ]);
    steps[3].stable = false;
    steps[3].reasons = vec!["throughput varies".into()];
    let r = analyze("t", LoadModel::Closed, steps, &CapacityOptions::default());
    assert_eq!(r.usl, None);
    assert_eq!(r.steps.len(), 4);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("only 3 stable step(s) of 4")),
        "{:?}",
        r.warnings
    );
    assert!(!r.steps[3].sustainable);
    assert!(r.steps[3].failures[0].starts_with("unstable: throughput varies"));
}

#[test]
fn the_maximum_is_interpolated_in_p95_towards_a_step_that_failed_on_p95_alone() {
    let steps = steps_with_p95(&[
        (10.0, 500.0, 20),
        (20.0, 1000.0, 22),
        (30.0, 1400.0, 30),
        (40.0, 1550.0, 70),
        (50.0, 1580.0, 150),
    ]);
    let opts = CapacityOptions {
        slo_p95_us: Some(50_000),
        ..CapacityOptions::default()
    };
    let r = analyze("t", LoadModel::Closed, steps, &opts);
    let m = r.max_sustainable.unwrap();
    // From step 3 (30 users, 30 ms) to step 4 (40 users, 70 ms): 50 ms is half way.
    assert!(m.interpolated);
    assert_eq!(m.step, 2);
    assert!((m.load - 35.0).abs() < 1e-9, "{}", m.load);
    assert!((m.throughput - 1475.0).abs() < 1e-9);
    assert_eq!(m.p95_us, Some(50_000));
    assert!(m.basis.contains("interpolated"), "{}", m.basis);
    assert!(
        r.steps[3].failures[0].contains("over the SLO 50.0ms"),
        "{:?}",
        r.steps[3].failures
    );
}

#[test]
fn no_interpolation_towards_a_step_that_failed_on_errors() {
    let mut steps = steps_with_p95(&[(10.0, 500.0, 20), (20.0, 900.0, 30), (30.0, 950.0, 80)]);
    steps[2].error_rate = 0.2;
    let opts = CapacityOptions {
        slo_p95_us: Some(50_000),
        ..CapacityOptions::default()
    };
    let r = analyze("t", LoadModel::Closed, steps, &opts);
    let m = r.max_sustainable.unwrap();
    assert!(!m.interpolated);
    assert_eq!((m.step, m.load), (1, 20.0));
    assert!(
        m.basis.contains("error rate 20.00% over 1.00%"),
        "{}",
        m.basis
    );
}

#[test]
fn nothing_sustainable_gives_no_maximum_and_no_plan() {
    let steps = steps_with_p95(&[(10.0, 500.0, 90), (20.0, 900.0, 95), (30.0, 950.0, 99)]);
    let opts = CapacityOptions {
        slo_p95_us: Some(50_000),
        planning: Some(Planning {
            peak_rps: Some(100.0),
            ..Planning::default()
        }),
        ..CapacityOptions::default()
    };
    let r = analyze("t", LoadModel::Closed, steps, &opts);
    assert_eq!(r.max_sustainable, None);
    assert_eq!(r.plan, None);
    assert!(
        r.warnings.iter().any(|w| w.contains("no plan")),
        "{:?}",
        r.warnings
    );
}

/// A closed system of 32 workers at 20 ms (1,600 rps), no think time, stepped from 8 to 96
/// users, 60 one-second points per step with a 5 s warm-up and a little noise.
fn demo_like_run() -> (Vec<TimePoint>, Vec<StepWindow>) {
    let mut pts = Vec::new();
    let mut windows = Vec::new();
    let mut t = 0;
    for step in 1..=12u64 {
        let users = step * 8;
        let x = (users as f64 / 0.02).min(1_600.0);
        let r_us = (users as f64 / x * 1e6) as u64;
        let start = t;
        for k in 0..60u64 {
            let warm = if k < 5 { 0.7 } else { 1.0 };
            let wobble = 1.0 + 0.01 * ((k * 7 + step) % 5) as f64 - 0.02;
            pts.push(point(t, users, x * warm * wobble, r_us));
            t += 1;
        }
        windows.push(StepWindow {
            load: users as f64,
            start_us: start * 1_000_000,
            end_us: t * 1_000_000,
            offered_rate: None,
            generator_saturated: false,
        });
    }
    (pts, windows)
}

#[test]
fn a_demo_like_step_run_finds_its_capacity_knee_and_model() {
    let (pts, windows) = demo_like_run();
    let run = StepRun {
        model: LoadModel::Closed,
        points: &pts,
        steps: &windows,
        think_us: Some(0.0),
        rules: StabilityRules::default(),
    };
    let opts = CapacityOptions {
        slo_p95_us: Some(50_000),
        planning: Some(Planning {
            peak_users: Some(1_000.0),
            growth_per_month: 0.05,
            ..Planning::default()
        }),
        ..CapacityOptions::default()
    };
    let r = analyze_run("demo", &run, |_, _, _| None, &opts);
    for s in &r.steps {
        assert!(s.stable, "step {}: {:?}", s.index, s.reasons);
        assert!(s.warmup_intervals >= 5 && s.warmup_intervals <= 15, "{s:?}");
    }
    // p95 = 1.2 R: 48 ms at 64 users, 54 ms at 72: 50 ms is a third of the way.
    let m = r.max_sustainable.as_ref().unwrap();
    assert!(m.interpolated, "{}", m.basis);
    assert!((m.load - 66.67).abs() < 0.5, "{m:?}");
    assert!((m.throughput - 1_600.0).abs() / 1_600.0 < 0.02, "{m:?}");
    let k = r.knee.as_ref().unwrap();
    assert_eq!(k.load, 32.0, "{k:?}");
    let f = r.usl.as_ref().unwrap();
    assert!(f.r2 > 0.9, "{f:?}");
    let plan = r.plan.as_ref().unwrap();
    assert_eq!(plan.basis.as_deref(), Some("users"));
    // 1000 * 1.05^12 / (66.67 * 0.7) = 38.5 -> 39 instances.
    assert_eq!(plan.instances_needed, Some(39));
    assert!(!plan.thousand_users.as_ref().unwrap().met);
    assert!(
        r.warnings.iter().any(|w| w.contains("approximation")),
        "{:?}",
        r.warnings
    );
}

/// Issue 13, D7: `capacity fit` slowed sharply with rows. A million rows at ten load
/// levels are ten fitted points, each level's throughput the mean of its rows.
#[test]
fn issue13_a_million_rows_at_ten_levels_are_ten_fitted_points() {
    let levels: Vec<(f64, f64)> = usl::tests::CISCO
        .iter()
        .step_by(3)
        .take(10)
        .copied()
        .collect();
    let rows: Vec<table::Row> = (0..1_000_000)
        .map(|i| {
            let (n, x) = levels[i % 10];
            // +-1 % around the level's throughput, alternating: the mean is exact.
            let wobble = if (i / 10) % 2 == 0 { 1.01 } else { 0.99 };
            table::Row {
                line: i + 2,
                load: n,
                throughput: x * wobble,
                p95_us: Some(1_000 + i as u64 % 10),
            }
        })
        .collect();
    let r = analyze_table("big.csv", &rows, &CapacityOptions::default());
    assert_eq!(r.steps.len(), 10);
    for (s, &(n, x)) in r.steps.iter().zip(&levels) {
        assert_eq!(s.load, n);
        assert!(
            (s.throughput - x).abs() < 1e-6 * x,
            "{} vs {x}",
            s.throughput
        );
    }
    let f = r.usl.as_ref().expect("ten levels fit");
    assert!(f.r2 > 0.99, "{f:?}");
    assert!(
        r.warnings[0].starts_with("1000000 rows at 10 load levels"),
        "{:?}",
        r.warnings
    );
    // A table of distinct loads is left as it is, without the warning.
    let r = analyze_table("small.csv", &rows[..10], &CapacityOptions::default());
    assert_eq!(r.steps.len(), 10);
    assert!(!r.warnings.iter().any(|w| w.contains("load levels")));
}

/// Issue 13: absurd planning inputs are refused by name, and a plan whose figures would
/// be absurd is refused with a sentence, never shown as `inf` or 4294967295 instances.
#[test]
fn issue13_absurd_planning_is_refused() {
    let bad = Planning {
        peak_rps: Some(1e300),
        growth_per_month: 1e6,
        redundancy: u32::MAX,
        cost_per_instance_hour: Some(f64::INFINITY),
        instances_tested: u32::MAX,
        months: 1e9,
        ..Planning::default()
    };
    let keys: Vec<&str> = bad.validate().unwrap_err().iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [
            "peak_rps",
            "growth_per_month",
            "redundancy",
            "cost_per_instance_hour",
            "instances_tested",
            "months"
        ]
    );
    // Each in range, together absurd: 1e9 rps doubling for ten years.
    let steep = Planning {
        peak_rps: Some(1e9),
        growth_per_month: 1.0,
        months: 120.0,
        ..Planning::default()
    };
    assert_eq!(steep.validate(), Ok(()));
    let sustained = plan::Sustained {
        rps: 1_000.0,
        users: Some(32.0),
    };
    let e = plan::plan(&steep, sustained).unwrap_err();
    assert!(e.to_string().starts_with("a peak above 1e12"), "{e}");
    // A headroom of nearly 100 %: more than a million instances.
    let thin = Planning {
        peak_rps: Some(1e6),
        headroom: 0.999_999_9,
        ..Planning::default()
    };
    let e = plan::plan(&thin, sustained).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("more than 1,000,000 instances: check the inputs"),
        "{e}"
    );
    // Through the analysis (a step test's planning block): a warning and no plan.
    let opts = CapacityOptions {
        planning: Some(thin),
        ..CapacityOptions::default()
    };
    let r = analyze("cisco.csv", LoadModel::Closed, cisco_steps(), &opts);
    assert_eq!(r.plan, None);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("more than 1,000,000 instances") && w.ends_with("no plan")),
        "{:?}",
        r.warnings
    );
}

/// Issue 13, D7: a table of a million distinct loads is analysed as `table::MAX_LEVELS`
/// bands, with a warning, not as a million steps.
#[test]
fn issue13_a_million_distinct_loads_are_taken_in_bands() {
    let rows: Vec<table::Row> = (0..1_000_000)
        .map(|i| {
            let n = 1.0 + 31.0 * i as f64 / 1e6;
            table::Row {
                line: i + 2,
                load: n,
                throughput: usl::throughput(0.02, 0.0005, 100.0, n),
                p95_us: None,
            }
        })
        .collect();
    let r = analyze_table("wide.csv", &rows, &CapacityOptions::default());
    assert_eq!(r.steps.len(), table::MAX_LEVELS);
    assert!(r.steps.windows(2).all(|w| w[0].load < w[1].load));
    let f = r.usl.as_ref().expect("a fit");
    assert!((f.sigma - 0.02).abs() < 0.002, "{f:?}");
    assert!(
        r.warnings[0].starts_with("1000000 rows at 1000000 load levels, more than 1000"),
        "{:?}",
        r.warnings
    );
}
