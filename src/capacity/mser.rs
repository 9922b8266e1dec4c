//! MSER-5 (White, 1997; Franklin and White): how much of a step's beginning is warm-up.
//!
//! The per-interval values are batched in means of 5 (`Y_1..Y_n`); the truncation `d*`
//! minimises `sum_{i>d} (Y_i - mean_d)^2 / (n - d)^2`, the squared standard error of the
//! mean of what is kept; `5*d*` raw intervals are discarded. A minimum in the second half
//! (`d* > n/2`) means the series never settled.
//!
//! The statistic is erratic when only a few batches remain (a short tail of similar values
//! wins by chance, and MSER-5 then discards most of a good step), so `d` is searched over
//! the first half only, `0..=n/2`; a minimum on the edge of that range, `d* = n/2`, means
//! the series had not settled by half-way (the `d* > n/2` of the full search). On pure
//! noise the edge still wins now and then (about 8 % of 60-interval series, 1 % at 120,
//! none at 300 in simulation), so an unsettled series is a hint to read with the trend of
//! what remains, not proof of a warm-up. MSER-5 errs towards cutting too much, never too
//! little.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Raw intervals per batch.
pub const BATCH: usize = 5;
/// Fewer batches than this and the series is not judged (nothing is discarded).
pub const MIN_BATCHES: usize = 6;

/// Where a series' warm-up ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Truncation {
    /// Raw intervals to discard from the start (a multiple of [`BATCH`]).
    pub discard: usize,
    /// `d* < n/2`: the series settled in its first half.
    pub settled: bool,
    /// Whether the series was long enough to judge ([`MIN_BATCHES`] batches); when not,
    /// nothing is discarded and `settled` is true.
    pub evaluated: bool,
}

/// The MSER-5 truncation of `series` (per-interval values in time order). Non-finite values
/// are treated as missing and make the series unjudged.
pub fn mser5(series: &[f64]) -> Truncation {
    let n = series.len() / BATCH;
    if n < MIN_BATCHES || !series.iter().all(|v| v.is_finite()) {
        return Truncation {
            discard: 0,
            settled: true,
            evaluated: false,
        };
    }
    let y: Vec<f64> = series
        .chunks_exact(BATCH)
        .map(|c| c.iter().sum::<f64>() / BATCH as f64)
        .collect();
    let last = n / 2;
    let mut best = (0, f64::INFINITY);
    for d in 0..=last {
        let kept = &y[d..];
        let m = kept.len() as f64;
        let mean = kept.iter().sum::<f64>() / m;
        let stat = kept.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m * m);
        // Ties go to the earliest cut (keep the most data).
        if stat < best.1 {
            best = (d, stat);
        }
    }
    Truncation {
        discard: best.0 * BATCH,
        settled: best.0 < last,
        evaluated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic normal-ish noise source (xorshift64*, sum of 4 uniforms).
    pub(crate) struct Noise(u64);

    impl Noise {
        pub(crate) fn new(seed: u64) -> Noise {
            Noise(seed.max(1))
        }

        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Mean 0, standard deviation about 1.
        pub(crate) fn next(&mut self) -> f64 {
            ((0..4).map(|_| self.uniform()).sum::<f64>() - 2.0) * 3f64.sqrt()
        }
    }

    #[test]
    fn a_warm_up_curve_is_cut_where_it_settles() {
        // 1,000 rps after a warm-up from 400 with a 6 s time constant (within 1 % of the
        // level by t = 6 * ln(60) = 25 s), plus 1 % noise. MSER-5 may cut more than the
        // warm-up (a quiet stretch later on wins by chance), never less.
        let mut cuts = Vec::new();
        for seed in 1..=20 {
            let mut noise = Noise::new(seed);
            let series: Vec<f64> = (0..120)
                .map(|t| 1_000.0 - 600.0 * (-(t as f64) / 6.0).exp() + 10.0 * noise.next())
                .collect();
            let cut = mser5(&series);
            assert!(cut.evaluated, "seed {seed}: {cut:?}");
            assert!(cut.discard >= 15, "seed {seed}: kept warm-up, {cut:?}");
            cuts.push(cut.discard);
        }
        cuts.sort_unstable();
        assert!((20..=35).contains(&cuts[10]), "median: {cuts:?}");
        assert!(
            cuts[17] <= 40,
            "most cuts near the end of the warm-up: {cuts:?}"
        );
    }

    #[test]
    fn a_flat_series_is_not_cut() {
        let mut cuts = Vec::new();
        for seed in 1..=20 {
            let mut noise = Noise::new(seed);
            let series: Vec<f64> = (0..120).map(|_| 500.0 + 5.0 * noise.next()).collect();
            cuts.push(mser5(&series).discard);
        }
        cuts.sort_unstable();
        // Discard ~0: the median cut is at most one batch.
        assert!(cuts[cuts.len() / 2] <= BATCH, "{cuts:?}");
        // Constant data: nothing to cut.
        assert_eq!(mser5(&[7.0; 60]).discard, 0);
    }

    #[test]
    fn a_series_still_climbing_never_settles() {
        let series: Vec<f64> = (0..60).map(|t| 100.0 + t as f64).collect();
        let cut = mser5(&series);
        assert!(cut.evaluated);
        assert!(!cut.settled, "{cut:?}");
        assert_eq!(cut.discard, 30);
    }

    #[test]
    fn short_or_broken_series_are_not_judged() {
        let short = mser5(&[1.0; 29]);
        assert_eq!(
            short,
            Truncation {
                discard: 0,
                settled: true,
                evaluated: false
            }
        );
        let mut nan = vec![1.0; 60];
        nan[3] = f64::NAN;
        assert!(!mser5(&nan).evaluated);
        assert!(!mser5(&[]).evaluated);
    }
}
