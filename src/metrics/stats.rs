//! The statistics a comparison of two runs rests on, apart from what it decides with them:
//! the order-statistic confidence interval of a quantile read from a histogram, the
//! effective sample size of autocorrelated latencies, the pooled two-proportion z test, the
//! Wilson score interval of a rate, and the standard normal distribution. Formulas in
//! `notes/measurement.md` §5.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::histogram::Hist;

/// A confidence interval in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalUs {
    pub lo: u64,
    pub hi: u64,
}

/// A confidence interval of a rate (fractions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalRate {
    pub lo: f64,
    pub hi: f64,
}

/// `intervals × factor`, capped at the number of samples (a factor of 0 means 1).
pub fn effective_n(intervals: u64, samples: u64, factor: u64) -> u64 {
    intervals.saturating_mul(factor.max(1)).min(samples)
}

/// The order-statistic confidence interval of quantile `q` of `h`, for `n` independent
/// samples: the values at ranks `floor(n·q - z·sqrt(n·q·(1-q)))` and
/// `ceil(n·q + z·sqrt(n·q·(1-q)))`, clamped to 1..n, read as quantiles `rank / n`.
pub fn quantile_ci(h: &Hist, q: f64, n: u64, z: f64) -> Option<IntervalUs> {
    if h.is_empty() || n == 0 {
        return None;
    }
    let nf = n as f64;
    let half = z * (nf * q * (1.0 - q)).sqrt();
    let r_lo = (nf * q - half).floor().clamp(1.0, nf);
    let r_hi = (nf * q + half).ceil().clamp(1.0, nf);
    Some(IntervalUs {
        lo: h.quantile(r_lo / nf),
        hi: h.quantile(r_hi / nf),
    })
}

/// Pooled two-proportion z statistic of `x2 / n2` against `x1 / n1` (0 when undefined).
pub fn two_proportion_z(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (x1 as f64 / n1f, x2 as f64 / n2f);
    let pool = (x1 + x2) as f64 / (n1f + n2f);
    let se = (pool * (1.0 - pool) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se > 0.0 { (p2 - p1) / se } else { 0.0 }
}

/// Wilson score interval of `x` successes in `n` trials.
pub fn wilson(x: u64, n: u64, z: f64) -> Option<IntervalRate> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let p = x as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    Some(IntervalRate {
        lo: if x == 0 {
            0.0
        } else {
            (center - half).max(0.0)
        },
        hi: if x >= n {
            1.0
        } else {
            (center + half).min(1.0)
        },
    })
}

/// Standard normal CDF, from `erfc` (Numerical Recipes' Chebyshev fit, relative error
/// under 1.2e-7 everywhere, so small tail probabilities stay accurate).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_proportions_and_the_normal_distribution() {
        // Hand computed: pooled p = 0.01, se = sqrt(0.01 * 0.99 * 2 / 10000) = 0.0014071.
        let z = two_proportion_z(50, 10_000, 150, 10_000);
        assert!((z - 7.1067).abs() < 1e-3, "{z}");
        assert_eq!(two_proportion_z(0, 100, 0, 100), 0.0);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-2.326) - 0.01).abs() < 1e-4);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        // Wilson intervals contain the rate.
        let w = wilson(50, 10_000, 1.96).unwrap();
        assert!(
            w.lo < 0.005 && 0.005 < w.hi && w.lo > 0.003 && w.hi < 0.007,
            "{w:?}"
        );
    }

    #[test]
    fn order_statistic_interval_follows_the_notes() {
        let mut h = Hist::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        // n = 100, p = 0.95: ranks floor(95 - 4.27) = 90 and ceil(95 + 4.27) = 100.
        let ci = quantile_ci(&h, 0.95, 100, 1.96).unwrap();
        let near = |a: u64, b: u64| (a as f64 - b as f64).abs() / b as f64 <= 0.001;
        assert!(near(ci.lo, 900_000), "{ci:?}");
        assert!(near(ci.hi, 1_000_000), "{ci:?}");
        // More samples, narrower interval around the p95.
        let wide = quantile_ci(&h, 0.95, 1000, 1.96).unwrap();
        assert!(wide.lo > ci.lo && wide.hi < ci.hi && wide.lo < 950_000 && wide.hi > 950_000);
        assert!(quantile_ci(&Hist::new(), 0.95, 100, 1.96).is_none());
        assert_eq!(effective_n(60, 10_000, 10), 600);
        assert_eq!(effective_n(60, 20, 10), 20);
    }
}
