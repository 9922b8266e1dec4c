//! The measurement path: what every request costs to record, and what the once-a-second
//! harvest, the fold into run totals and the histogram encoding cost, plus parsing a
//! realistic scenario file.
//!
//! Data: 20 cells (2 scenarios of 10 steps, 2 checks each), latencies log-uniform between
//! 100 µs and 2 s from a fixed seed, about 10,000 requests per second of data.
//!
//! Needs `[[bench]] name = "metrics" harness = false` in Cargo.toml.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use skein::metrics::{
    Accumulator, CellData, CellInfo, Hist, IntervalData, Recorder, ResponseMeta, Sample,
    ServerTimings,
};

const CELLS: usize = 20;
/// Requests in one second of data, spread over the cells.
const PER_SECOND: u64 = 10_000;

/// A fixed table of latencies, log-uniform between 100 µs and 2 s (xorshift64*), read in a
/// ring so that drawing one costs a load, not a `powf`.
struct Latencies {
    table: Vec<u64>,
    i: usize,
}

impl Latencies {
    fn new() -> Latencies {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let table = (0..4096)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
                (100.0 * 20_000.0f64.powf(u)) as u64
            })
            .collect();
        Latencies { table, i: 0 }
    }

    fn next_us(&mut self) -> u64 {
        self.i = (self.i + 1) & 4095;
        self.table[self.i]
    }
}

/// Built from JSON, so that fields with serde defaults (such as `tags`) need no mention.
fn cells() -> Vec<CellInfo> {
    (0..CELLS)
        .map(|id| {
            let (scenario, step) = (format!("s{}", id / 10), format!("step {}", id % 10));
            serde_json::from_value(serde_json::json!({
                "id": id,
                "tag": format!("{scenario}/{step}"),
                "scenario": scenario,
                "step": step,
                "method": "GET",
                "checks": ["status 200", "json $.ok"],
            }))
            .expect("a valid CellInfo")
        })
        .collect()
}

fn sample(cell: usize, us: u64) -> Sample<'static> {
    Sample {
        cell,
        response_us: Some(us),
        service_us: Some(us),
        co_interval_us: None,
        error: None,
        failed_checks: &[],
        bytes: 512,
        meta: None,
    }
}

/// One second of data over the 20 cells.
fn interval(lat: &mut Latencies) -> IntervalData {
    let mut data: IntervalData = (0..CELLS).map(|_| CellData::new(2)).collect();
    for i in 0..PER_SECOND {
        let d = &mut data[i as usize % CELLS];
        d.hist.record(lat.next_us());
        d.requests += 1;
        d.ok += 1;
        d.bytes += 512;
    }
    data
}

fn hist_of(n: u64, lat: &mut Latencies) -> Hist {
    let mut h = Hist::new();
    for _ in 0..n {
        h.record(lat.next_us());
    }
    h
}

fn recorder(c: &mut Criterion) {
    let r = Recorder::new(vec![2; CELLS]);
    let mut lat = Latencies::new();
    let mut cell = 0;
    c.bench_function("recorder/record one sample, one thread", |b| {
        b.iter(|| {
            cell = (cell + 1) % CELLS;
            r.record(black_box(&sample(cell, lat.next_us())));
        })
    });
    // Harvest and keep the shard small between iterations.
    let _ = r.harvest();

    let r = Recorder::new(vec![2; CELLS]);
    c.bench_function(
        "recorder/harvest 20 cells, 1 s of data (10k samples)",
        |b| {
            b.iter_batched(
                || {
                    for i in 0..PER_SECOND {
                        r.record(&sample(i as usize % CELLS, lat.next_us()));
                    }
                },
                |()| black_box(r.harvest()),
                BatchSize::PerIteration,
            )
        },
    );
    c.bench_function("recorder/harvest 20 cells, nothing recorded", |b| {
        b.iter(|| black_box(r.harvest()))
    });

    // Server-Timing: what a response with the header adds to the hot path.
    let r = Recorder::new(vec![2; CELLS]);
    let names = r.server_timing_names().clone();
    const HEADER: &[u8] = br#"db;dur=23.4, cache;desc="hit";dur=0.2, app;dur=47.2"#;
    c.bench_function("server_timing/parse a 3-entry header (names known)", |b| {
        b.iter(|| {
            let mut t = ServerTimings::default();
            t.add_header(black_box(HEADER), &names);
            black_box(t)
        })
    });
    let mut meta = ResponseMeta::default();
    meta.server_timing.add_header(HEADER, &names);
    c.bench_function(
        "recorder/record one sample with 3 Server-Timing entries",
        |b| {
            b.iter(|| {
                cell = (cell + 1) % CELLS;
                let mut s = sample(cell, lat.next_us());
                s.meta = Some(&meta);
                r.record(black_box(&s));
            })
        },
    );
    let _ = r.harvest();
}

fn histogram(c: &mut Criterion) {
    let mut lat = Latencies::new();
    let mut a = hist_of(10_000, &mut lat);
    let other = hist_of(10_000, &mut lat);
    c.bench_function("hist/add two 1us-60s histograms (10k samples each)", |b| {
        b.iter(|| a.add(black_box(&other)))
    });
    let one_second = hist_of(PER_SECOND, &mut lat);
    c.bench_function("hist/to_base64 (10k samples, 100us-2s)", |b| {
        b.iter(|| black_box(one_second.to_base64()))
    });
    let mut h = Hist::new();
    c.bench_function("hist/record one sample", |b| {
        b.iter(|| h.record(black_box(lat.next_us())))
    });
}

fn accumulator(c: &mut Criterion) {
    let mut lat = Latencies::new();
    let data = interval(&mut lat);
    let info = cells();
    // A run keeps one point per second; start a fresh accumulator every hour of data so the
    // time series stay run-sized.
    c.bench_function("accumulator/add_interval 20 cells (10k samples)", |b| {
        b.iter_custom(|iters| {
            let mut acc = Accumulator::new(info.clone());
            let mut spent = Duration::ZERO;
            for i in 0..iters {
                if i > 0 && i % 3600 == 0 {
                    acc = Accumulator::new(info.clone());
                }
                let t = Instant::now();
                black_box(acc.add_interval(i * 1_000_000, 1_000_000, 1000, black_box(&data)));
                spent += t.elapsed();
            }
            spent
        })
    });
}

fn scenario(c: &mut Criterion) {
    let text = include_str!("../scenarios/phase9.yaml");
    let path = Path::new("scenarios/phase9.yaml");
    skein::scenario::parse_str(text, path).expect("phase9.yaml is valid");
    c.bench_function("scenario/parse_str phase9.yaml", |b| {
        b.iter(|| black_box(skein::scenario::parse_str(black_box(text), path).unwrap()))
    });
}

criterion_group!(benches, recorder, histogram, accumulator, scenario);
criterion_main!(benches);
