//! The capacity analysis of a step test: the goal is that a 12-step run is
//! analysed "well under a second".
//!
//! Data: a closed system of 32 workers at 20 ms (1,600 rps), stepped from 8 to 96 users,
//! 12 steps of 60 one-second points each (a 5 s warm-up at 70 % and 1 % noise from a fixed
//! seed), and per step a histogram of its steady part (60,000 samples, lognormal-ish
//! around the step's response time). Timed: per-step analysis (MSER-5 on throughput and
//! p95, stability, Little's law), the maximum sustainable load, the knee, the USL fit with
//! its hold-out refit, and the plan; then the same plus both charts (SVG and PNG) and the
//! Markdown and HTML pages, in memory.
//!
//! `capacity fit` on big tables (issue 13, D7: 16k rows took 0.5 s, 32k rows 7-8.5 s,
//! 100k and 1M rows over a minute): a CSV of 100,000 and of 1,000,000 rows at 64 load
//! levels, and of 1,000,000 distinct loads (taken in bands), each parsed, analysed and
//! rendered as text and Markdown, in memory. Linear: 1M rows take about ten times 100k.
//!
//! Run: `cargo bench --bench capacity`. Needs `[[bench]] name = "capacity" harness = false`
//! in Cargo.toml.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use skein::capacity::{
    self, CapacityOptions, LoadModel, Planning, StabilityRules, StepRun, StepWindow,
};
use skein::metrics::{Hist, TimePoint};

const STEPS: u64 = 12;
const SECONDS_PER_STEP: u64 = 60;
const SAMPLES_PER_HIST: u64 = 60_000;

/// xorshift64*: a fixed, dependency-free sequence in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Run {
    points: Vec<TimePoint>,
    windows: Vec<StepWindow>,
    hists: Vec<Hist>,
}

fn synthetic_run() -> Run {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut points = Vec::new();
    let mut windows = Vec::new();
    let mut hists = Vec::new();
    let mut t = 0u64;
    for step in 1..=STEPS {
        let users = step * 8;
        let x = (users as f64 / 0.02).min(1_600.0);
        let r_us = users as f64 / x * 1e6;
        let start = t;
        for k in 0..SECONDS_PER_STEP {
            let warm = if k < 5 { 0.7 } else { 1.0 };
            let rps = (x * warm * (1.0 + 0.02 * (rng.next() - 0.5))).round();
            points.push(TimePoint {
                t_us: t * 1_000_000,
                duration_us: 1_000_000,
                users,
                requests: rps as u64,
                ok: rps as u64,
                rps,
                mean_us: r_us as u64,
                p50_us: (r_us * 0.95) as u64,
                p90_us: (r_us * 1.2) as u64,
                p95_us: (r_us * 1.3) as u64,
                p99_us: (r_us * 1.6) as u64,
                max_us: (r_us * 2.5) as u64,
                ..TimePoint::default()
            });
            t += 1;
        }
        windows.push(StepWindow {
            load: users as f64,
            start_us: start * 1_000_000,
            end_us: t * 1_000_000,
            offered_rate: None,
            generator_saturated: false,
        });
        let mut h = Hist::new();
        for _ in 0..SAMPLES_PER_HIST {
            // A product of uniforms: a right-skewed spread around r_us.
            let f = 0.6 + 0.8 * rng.next() * (0.5 + rng.next());
            h.record((r_us * f) as u64);
        }
        hists.push(h);
    }
    Run {
        points,
        windows,
        hists,
    }
}

fn options() -> CapacityOptions {
    CapacityOptions {
        slo_p95_us: Some(50_000),
        planning: Some(Planning {
            peak_users: Some(1_000.0),
            growth_per_month: 0.05,
            cost_per_instance_hour: Some(0.4),
            redundancy: 1,
            ..Planning::default()
        }),
        ..CapacityOptions::default()
    }
}

fn analyse(run: &Run) -> capacity::CapacityReport {
    let step_run = StepRun {
        model: LoadModel::Closed,
        points: &run.points,
        steps: &run.windows,
        think_us: Some(0.0),
        rules: StabilityRules::default(),
    };
    capacity::analyze_run(
        "bench",
        &step_run,
        |i, _, _| run.hists.get(i).cloned(),
        &options(),
    )
}

fn bench(c: &mut Criterion) {
    let run = synthetic_run();
    let report = analyse(&run);
    assert!(report.usl.is_some() && report.max_sustainable.is_some());
    c.bench_function("capacity/analyse 12 steps x 60 s + histograms", |b| {
        b.iter(|| black_box(analyse(black_box(&run))))
    });
    c.bench_function("capacity/analyse + charts (SVG, PNG) + md + html", |b| {
        b.iter(|| {
            let r = analyse(black_box(&run));
            let charts = skein::report::capacity::render_charts(&r).expect("charts draw");
            let md = skein::report::capacity::markdown(&r);
            black_box((skein::report::capacity::html(&r, &charts), md))
        })
    });
}

/// A `capacity fit` table of `rows` rows: `levels` load levels in turn (each row's load
/// distinct when `levels` is 0), throughput on a USL curve with 2 % noise, and a p95.
fn table(rows: usize, levels: usize) -> String {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut s = String::with_capacity(rows * 24);
    s.push_str("load,throughput,p95_ms\n");
    for i in 0..rows {
        let n = if levels == 0 {
            1.0 + 63.0 * i as f64 / rows as f64
        } else {
            (1 + i % levels) as f64
        };
        let x = capacity::usl::throughput(0.02, 0.0005, 100.0, n) * (0.98 + 0.04 * rng.next());
        let p95 = 5.0 + 0.5 * n + rng.next();
        s.push_str(&format!("{n},{x:.2},{p95:.2}\n"));
    }
    s
}

/// What `skein capacity fit` does with a table, short of writing the files.
fn fit(csv: &str) -> (String, String) {
    let rows = capacity::table::parse(csv).expect("the table parses");
    let r = capacity::analyze_table("bench.csv", &rows, &CapacityOptions::default());
    (
        skein::report::capacity::text(&r),
        skein::report::capacity::markdown(&r),
    )
}

fn bench_tables(c: &mut Criterion) {
    let mut g = c.benchmark_group("capacity fit");
    g.sample_size(10);
    for (name, rows, levels) in [
        ("100k rows, 64 levels", 100_000, 64),
        ("1M rows, 64 levels", 1_000_000, 64),
        ("1M rows, distinct loads", 1_000_000, 0),
    ] {
        let csv = table(rows, levels);
        g.bench_function(name, |b| b.iter(|| black_box(fit(black_box(&csv)))));
    }
    g.finish();
}

criterion_group!(benches, bench, bench_tables);
criterion_main!(benches);
