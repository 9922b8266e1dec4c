//! Comparisons of hand-built runs: latency samples drawn from log-normal distributions
//! (the shape of real response times), spread over one-second intervals.

use super::*;
use crate::metrics::accumulate::Accumulator;
use crate::metrics::recorder::{CellData, ErrorKind, IntervalData};
use crate::metrics::result::{CellInfo, RunInfo};

const MS: f64 = 1000.0;

/// One endpoint of a synthetic run.
struct Ep {
    name: &'static str,
    /// Response times, µs.
    samples: Vec<u64>,
    /// Seconds the samples are spread over (round robin).
    seconds: u64,
    /// Requests that failed (with no response time), spread the same way.
    failed: u64,
}

fn ep(name: &'static str, samples: Vec<u64>, seconds: u64) -> Ep {
    Ep {
        name,
        samples,
        seconds,
        failed: 0,
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        id: "t-20250101T000000Z".into(),
        name: "t".into(),
        status: RunStatus::Complete,
        response_time_basis: "corrected".into(),
        started_at: "2025-01-01T00:00:00Z".into(),
        max_users: 10,
        ..RunInfo::blank()
    }
}

/// A run of `eps`, recorded one second at a time as the engine does.
fn build(eps: &[Ep]) -> RunResult {
    let cells = eps
        .iter()
        .enumerate()
        .map(|(id, e)| CellInfo {
            id,
            scenario: "s".into(),
            step: e.name.into(),
            method: "GET".into(),
            tag: format!("s/{id}"),
            checks: Vec::new(),
            tags: Vec::new(),
        })
        .collect();
    let mut acc = Accumulator::new(cells);
    let secs = eps.iter().map(|e| e.seconds).max().unwrap_or(1);
    for t in 0..secs {
        let data: IntervalData = eps
            .iter()
            .map(|e| {
                let mut d = CellData::new(0);
                if t >= e.seconds {
                    return d;
                }
                for (_, v) in
                    (e.samples.iter().enumerate()).filter(|(i, _)| *i as u64 % e.seconds == t)
                {
                    d.hist.record(*v);
                    d.requests += 1;
                    d.ok += 1;
                }
                let f = e.failed / e.seconds + u64::from(t < e.failed % e.seconds);
                d.errors[ErrorKind::Http5xx as usize] += f;
                d.requests += f;
                d
            })
            .collect();
        acc.add_interval(t * 1_000_000, 1_000_000, 10, &data);
    }
    acc.finish(run_info(), serde_json::Value::Null, Vec::new())
}

/// Inverse of the normal CDF, by bisection (tests only).
fn probit(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// `n` samples that are exactly the quantiles of a log-normal distribution with this median
/// (ms) and shape: the same distribution every time, without sampling noise.
fn lognormal(n: usize, median_ms: f64, sigma: f64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let p = (i as f64 + 0.5) / n as f64;
            (median_ms * MS * (sigma * probit(p)).exp()).round() as u64
        })
        .collect()
}

/// `n` random log-normal samples (xorshift and Box-Muller), for A/A pairs.
fn random_lognormal(n: usize, median_ms: f64, sigma: f64, seed: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (median_ms * MS * (sigma * z).exp()).round() as u64
        })
        .collect()
}

fn scaled(samples: &[u64], k: f64) -> Vec<u64> {
    samples
        .iter()
        .map(|v| (*v as f64 * k).round() as u64)
        .collect()
}

fn p95<'a>(c: &'a Comparison, endpoint: &str) -> &'a MetricComparison {
    c.endpoints
        .iter()
        .find(|r| r.name == endpoint)
        .and_then(|r| r.metric("p95"))
        .unwrap()
}

fn opts() -> CompareOptions {
    CompareOptions::default()
}

#[test]
fn identical_runs_are_no_regression() {
    let r = build(&[
        ep("GET /", lognormal(6_000, 20.0, 0.6), 60),
        ep("POST /cart", lognormal(3_000, 80.0, 0.4), 60),
    ]);
    let c = compare(&r, &r, &opts());
    assert!(!c.verdict.regressed, "{:?}", c.verdict);
    assert!(c.verdict.improvements.is_empty());
    for row in c.endpoints.iter().chain([&c.overall]) {
        assert!(!row.regression && !row.improvement, "{}", row.name);
        let m = row.metric("p95").unwrap();
        assert_eq!(m.delta_us, Some(0));
        assert_eq!(m.call, Call::WithinTolerance);
        assert!(m.gated);
        assert_eq!(row.error_rate.call, Call::WithinTolerance);
    }
    // p50, p95, p99 and the mean, in that order; only p95 gates.
    let names: Vec<&str> = c
        .overall
        .latency
        .iter()
        .map(|m| m.metric.as_str())
        .collect();
    assert_eq!(names, ["p50", "p95", "p99", "mean"]);
    assert_eq!(c.overall.metric("p99").unwrap().call, Call::NotGated);
}

#[test]
fn fifty_percent_slower_with_many_samples_is_a_regression() {
    let base = lognormal(10_000, 20.0, 0.6);
    let b = build(&[
        ep("GET /", base.clone(), 60),
        ep("GET /a", base.clone(), 60),
    ]);
    let c = build(&[
        ep("GET /", base.clone(), 60),
        ep("GET /a", scaled(&base, 1.5), 60),
    ]);
    let cmp = compare(&b, &c, &opts());
    let m = p95(&cmp, "GET /a");
    assert_eq!(m.call, Call::Regression, "{m:?}");
    assert!(m.regression);
    let rel = m.delta_rel.unwrap();
    assert!((rel - 0.5).abs() < 0.01, "{rel}");
    let (bci, cci) = (m.base_ci_us.unwrap(), m.candidate_ci_us.unwrap());
    assert!(cci.lo > bci.hi, "{bci:?} {cci:?}");
    // 60 seconds x 10 per second.
    let side = cmp.endpoints[1].base.as_ref().unwrap();
    assert_eq!(
        (side.intervals, side.n_eff, side.responses),
        (60, 600, 10_000)
    );
    assert_eq!(p95(&cmp, "GET /").call, Call::WithinTolerance);
    assert!(cmp.verdict.regressed);
    assert!(
        cmp.verdict
            .reasons
            .iter()
            .any(|r| r.starts_with("GET /a: p95")),
        "{:?}",
        cmp.verdict.reasons
    );
    assert!(!cmp.verdict.reasons.iter().any(|r| r.starts_with("GET /:")));
}

#[test]
fn fifty_percent_slower_with_twenty_samples_is_within_noise() {
    let base = lognormal(20, 20.0, 0.6);
    let b = build(&[ep("GET /", base.clone(), 20)]);
    let c = build(&[ep("GET /", scaled(&base, 1.5), 20)]);
    let cmp = compare(&b, &c, &opts());
    let m = p95(&cmp, "GET /");
    // Beyond tolerance and minimum change, but 20 samples say little about a p95.
    assert!(m.delta_rel.unwrap() > 0.4);
    assert!(m.delta_us.unwrap() > 2_000);
    assert_eq!(m.call, Call::WithinNoise, "{m:?}");
    assert_eq!(cmp.endpoints[0].base.as_ref().unwrap().n_eff, 20);
    assert!(!cmp.verdict.regressed);
}

#[test]
fn five_percent_slower_is_within_tolerance() {
    let base = lognormal(10_000, 20.0, 0.6);
    let b = build(&[ep("GET /", base.clone(), 60)]);
    let c = build(&[ep("GET /", scaled(&base, 1.05), 60)]);
    let cmp = compare(&b, &c, &opts());
    assert_eq!(p95(&cmp, "GET /").call, Call::WithinTolerance);
    assert!(!cmp.verdict.regressed);
    // With no tolerance and no minimum change left, the noise still holds it: 5 % is well
    // inside the p95's interval at n_eff = 600.
    let strict = CompareOptions {
        tolerance: 0.0,
        min_delta_us: 0,
        ..opts()
    };
    assert_eq!(
        p95(&compare(&b, &c, &strict), "GET /").call,
        Call::WithinNoise
    );
}

#[test]
fn a_small_absolute_change_on_a_fast_endpoint_is_not_flagged() {
    let base = lognormal(10_000, 1.0, 0.3);
    let b = build(&[ep("GET /health", base.clone(), 60)]);
    let c = build(&[ep("GET /health", scaled(&base, 1.5), 60)]);
    let cmp = compare(&b, &c, &opts());
    let m = p95(&cmp, "GET /health");
    assert!(m.delta_rel.unwrap() > 0.4);
    assert!(m.delta_us.unwrap() < 2_000, "{m:?}");
    assert_eq!(m.call, Call::BelowMinDelta);
    assert!(!cmp.verdict.regressed);
}

#[test]
fn faster_is_an_improvement_and_never_fails() {
    let base = lognormal(10_000, 30.0, 0.6);
    let b = build(&[ep("GET /", base.clone(), 60)]);
    let c = build(&[ep("GET /", scaled(&base, 0.6), 60)]);
    let cmp = compare(&b, &c, &opts());
    let m = p95(&cmp, "GET /");
    assert_eq!(m.call, Call::Improvement);
    assert!(m.improvement && !m.regression);
    assert!(cmp.endpoints[0].improvement);
    assert!(!cmp.verdict.regressed);
    assert_eq!(cmp.verdict.improvements.len(), 2, "{:?}", cmp.verdict);
    // Swapped, it is a regression.
    assert!(compare(&c, &b, &opts()).verdict.regressed);
}

#[test]
fn independent_a_a_pairs_do_not_flag() {
    for seed in 0..20u64 {
        let b = build(&[ep(
            "GET /",
            random_lognormal(5_000, 20.0, 0.7, 2 * seed + 1),
            60,
        )]);
        let c = build(&[ep(
            "GET /",
            random_lognormal(5_000, 20.0, 0.7, 2 * seed + 2),
            60,
        )]);
        let cmp = compare(&b, &c, &opts());
        assert!(!cmp.verdict.regressed, "seed {seed}: {:?}", cmp.verdict);
        assert!(cmp.verdict.improvements.is_empty(), "seed {seed}");
    }
}

#[test]
fn gated_quantiles_are_configurable() {
    let base = lognormal(10_000, 20.0, 0.6);
    let b = build(&[ep("GET /", base.clone(), 60)]);
    let c = build(&[ep("GET /", scaled(&base, 2.0), 60)]);
    let o = CompareOptions {
        gated: vec![0.99, 0.999],
        ..opts()
    };
    let cmp = compare(&b, &c, &o);
    let row = &cmp.endpoints[0];
    let names: Vec<&str> = row.latency.iter().map(|m| m.metric.as_str()).collect();
    assert_eq!(names, ["p50", "p95", "p99", "p99.9", "mean"]);
    assert_eq!(row.metric("p95").unwrap().call, Call::NotGated);
    assert_eq!(row.metric("p99").unwrap().call, Call::Regression);
    assert!(row.metric("p99.9").unwrap().gated);
    assert!(cmp.verdict.regressed);
}

#[test]
fn added_and_removed_endpoints_are_never_regressions() {
    let base = lognormal(5_000, 20.0, 0.6);
    let b = build(&[
        ep("GET /", base.clone(), 60),
        ep("GET /old", base.clone(), 60),
    ]);
    let c = build(&[
        ep("GET /", base.clone(), 60),
        ep("GET /new", scaled(&base, 20.0), 60),
    ]);
    let cmp = compare(&b, &c, &opts());
    let names: Vec<(&str, Presence)> = cmp
        .endpoints
        .iter()
        .map(|r| (r.name.as_str(), r.presence))
        .collect();
    assert_eq!(
        names,
        [
            ("GET /", Presence::Both),
            ("GET /old", Presence::Removed),
            ("GET /new", Presence::Added)
        ]
    );
    let added = &cmp.endpoints[2];
    assert!(added.base.is_none() && added.candidate.is_some());
    let m = added.metric("p95").unwrap();
    assert_eq!((m.base_us, m.call), (None, Call::NotGated));
    assert!(m.candidate_us.unwrap() > 100_000);
    // The slow new endpoint lifts the overall p95, but the mix changed: not gated.
    let all = cmp.overall.metric("p95").unwrap();
    assert!(all.delta_rel.unwrap() > 0.5);
    assert_eq!(all.call, Call::NotGated);
    assert!(!cmp.verdict.regressed, "{:?}", cmp.verdict);
    assert_eq!(cmp.verdict.notes.len(), 3, "{:?}", cmp.verdict.notes);
    assert!(cmp.verdict.notes[0].contains("GET /old"));
}

#[test]
fn error_rate_uses_a_two_proportion_z_test() {
    // The statistic itself is checked by hand in `stats`.
    let lat = lognormal(9_950, 20.0, 0.5);
    let with = |failed: u64, n: usize| {
        let samples = lat[..n].to_vec();
        build(&[Ep {
            name: "POST /pay",
            samples,
            seconds: 60,
            failed,
        }])
    };
    let errors = |b: &RunResult, c: &RunResult| {
        let cmp = compare(b, c, &opts());
        (cmp.endpoints[0].error_rate.clone(), cmp.verdict)
    };
    // 0.5 % -> 1.5 % of 10,000: significant, beyond tolerance and 0.1 pp.
    let (e, v) = errors(&with(50, 9_950), &with(150, 9_850));
    assert_eq!(e.call, Call::Regression, "{e:?}");
    assert!((e.z.unwrap() - 7.1067).abs() < 1e-3);
    assert!(e.p_value.unwrap() < 1e-6);
    assert!((e.delta.unwrap() - 0.01).abs() < 1e-9);
    assert!(v.regressed);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.starts_with("POST /pay: error rate 0.50 % → 1.50 %")),
        "{:?}",
        v.reasons
    );
    // 1 % -> 3 % of 100: beyond the guards, but not significant at 0.01.
    let (e, v) = errors(&with(1, 99), &with(3, 97));
    assert_eq!(e.call, Call::WithinNoise, "{e:?}");
    assert!(!v.regressed);
    // 0.01 % -> 0.05 % of 100,000 would be significant, but is under 0.1 pp.
    let b = Summary {
        requests: 100_000,
        errors: 10,
        ..Summary::default()
    };
    let c = Summary {
        errors: 50,
        ..b.clone()
    };
    let e = error_comparison(Some(&b), Some(&c), true, &opts());
    assert!(e.p_value.unwrap() < 0.01);
    assert_eq!(e.call, Call::BelowMinDelta);
    // Fewer errors: an improvement.
    let e = error_comparison(Some(&c), Some(&b), true, &opts());
    assert_eq!(e.call, Call::BelowMinDelta);
    let (e, v) = errors(&with(150, 9_850), &with(50, 9_950));
    assert_eq!(e.call, Call::Improvement);
    assert!(!v.regressed);
}

#[test]
fn quantiles_are_named_as_written() {
    assert_eq!(quantile_name(0.95), "p95");
    assert_eq!(quantile_name(0.999), "p99.9");
    assert_eq!(quantile_name(0.5), "p50");
}

#[test]
fn an_unreadable_histogram_shows_stored_percentiles_without_judging() {
    let base = lognormal(5_000, 20.0, 0.6);
    let b = build(&[ep("GET /", base.clone(), 60)]);
    let mut c = build(&[ep("GET /", scaled(&base, 2.0), 60)]);
    c.steps[0].summary.response_time.histogram = "not base64".into();
    let cmp = compare(&b, &c, &opts());
    let m = p95(&cmp, "GET /");
    assert_eq!(
        m.candidate_us,
        Some(c.steps[0].summary.response_time.p95_us)
    );
    assert!(m.candidate_ci_us.is_none());
    assert_eq!(m.call, Call::NoData);
    assert!(!cmp.endpoints[0].regression);
}

#[test]
fn comparison_round_trips_through_json() {
    let r = build(&[ep("GET /", lognormal(100, 20.0, 0.6), 10)]);
    let cmp = compare(&r, &r, &opts());
    let json = serde_json::to_string(&cmp).unwrap();
    let back: Comparison = serde_json::from_str(&json).unwrap();
    assert_eq!(back.verdict, cmp.verdict);
    assert_eq!(back.overall.latency, cmp.overall.latency);
    let schema = serde_json::to_value(schemars::schema_for!(Comparison)).unwrap();
    assert!(schema.get("properties").is_some());
}
