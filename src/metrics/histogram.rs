//! The one histogram type of a run: microseconds from 1 µs to 60 s at 3 significant digits.
//!
//! Every histogram in a run has identical bounds, so any two can be merged exactly
//! (`add`), which is what lets per-thread, per-second and per-worker data fold into totals.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::MetricsError;

/// Lowest value tracked, in µs.
pub const LOW_US: u64 = 1;
/// Highest value tracked, in µs (60 s); larger samples are clamped to it.
pub const HIGH_US: u64 = 60_000_000;
/// Significant decimal digits kept (0.1 % resolution).
pub const SIGFIG: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Clone, Debug)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Hist {
    pub fn new() -> Hist {
        // Bounds are constants that satisfy the crate's preconditions.
        Hist(
            Histogram::new_with_bounds(LOW_US, HIGH_US, SIGFIG)
                .expect("constant histogram bounds are valid"),
        )
    }

    /// Record one sample, clamped into [1 µs, 60 s].
    #[inline]
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(LOW_US, HIGH_US));
    }

    /// Record `us` and, as HdrHistogram's `record_correct` does, the samples a closed-loop
    /// generator omitted while it waited: `us - k * interval` for k = 1, 2, ... while the
    /// value is at least `interval`. Returns how many samples were added.
    pub fn record_correct(&mut self, us: u64, expected_interval_us: u64) -> u64 {
        self.record(us);
        self.record_omitted(us, expected_interval_us)
    }

    /// Only the samples [`Hist::record_correct`] adds beside `us`: `us - k * interval` for
    /// k = 1, 2, ... while the value is at least `interval` (none unless `us` is at least
    /// twice the interval). Returns how many were recorded.
    ///
    /// Samples that fall into one bucket are recorded together, so the cost grows with the
    /// number of buckets spanned, not with `us / interval` (a 30 s stall at a 100 µs cadence
    /// is about 3,000 bucket updates, not 300,000 records).
    pub fn record_omitted(&mut self, us: u64, expected_interval_us: u64) -> u64 {
        let v = us.clamp(LOW_US, HIGH_US);
        let step = expected_interval_us;
        if step == 0 || v <= step {
            return 0;
        }
        let mut added = 0;
        let mut x = v - step;
        while x >= step {
            // Every member of the sequence in [lowest_equivalent(x), x] shares x's bucket.
            let lo = self.0.lowest_equivalent(x).max(step);
            let n = (x - lo) / step + 1;
            self.0.saturating_record_n(x, n);
            added += n;
            match x.checked_sub(n * step) {
                Some(next) => x = next,
                None => break,
            }
        }
        added
    }

    /// Add every sample of `other` (same bounds, so this cannot fail).
    pub fn add(&mut self, other: &Hist) {
        let _ = self.0.add(&other.0);
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn min(&self) -> u64 {
        if self.is_empty() { 0 } else { self.0.min() }
    }

    pub fn max(&self) -> u64 {
        self.0.max()
    }

    pub fn mean(&self) -> f64 {
        self.0.mean()
    }

    pub fn stddev(&self) -> f64 {
        self.0.stdev()
    }

    /// Value at quantile `q` in [0, 1] (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    /// Share of samples at or below `us`.
    pub fn quantile_below(&self, us: u64) -> f64 {
        self.0.quantile_below(us)
    }

    /// The percentile spectrum: (quantile, value µs) points, `ticks` per halving distance.
    pub fn spectrum(&self, ticks: u32) -> Vec<(f64, u64)> {
        self.0
            .iter_quantiles(ticks)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
            .collect()
    }

    /// The underlying histogram (for interval-log writing and tests).
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// Serialise as HdrHistogram V2 + DEFLATE bytes (readable by every HdrHistogram port).
    pub fn to_v2_deflate(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail for a histogram with valid bounds.
        let _ = V2DeflateSerializer::new().serialize(&self.0, &mut out);
        out
    }

    /// Base64 of the V2 + DEFLATE bytes, as stored in `result.json` and `latency.hlog`.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_v2_deflate())
    }

    /// Read a histogram written by [`Hist::to_base64`] (or any V2 / V2 + DEFLATE encoder),
    /// re-bucketed into the run's standard bounds.
    pub fn from_base64(s: &str) -> Result<Hist, MetricsError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| MetricsError::Histogram(format!("base64: {e}")))?;
        Hist::from_v2(&bytes)
    }

    /// Read V2 or V2 + DEFLATE bytes.
    pub fn from_v2(bytes: &[u8]) -> Result<Hist, MetricsError> {
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| MetricsError::Histogram(format!("{e:?}")))?;
        // Written by Skein (the usual case): same bounds, use it as it is.
        if h.low() == LOW_US && h.high() == HIGH_US && h.sigfig() == SIGFIG {
            return Ok(Hist(h));
        }
        let mut out = Hist::new();
        for v in h.iter_recorded() {
            out.0.saturating_record_n(
                v.value_iterated_to().clamp(LOW_US, HIGH_US),
                v.count_at_value(),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_resolution() {
        let mut h = Hist::new();
        for v in 1..=10_000u64 {
            h.record(v * 10);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.001, "{p50}");
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.min(), 10);
    }

    #[test]
    fn base64_round_trip_is_exact() {
        let mut h = Hist::new();
        for v in [1, 5, 900, 20_000, 20_100, 59_000_000, 70_000_000] {
            h.record(v);
        }
        let back = Hist::from_base64(&h.to_base64()).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn correction_back_fills_a_stall() {
        let mut h = Hist::new();
        for _ in 0..9_900 {
            h.record_correct(1_000, 10_000);
        }
        assert_eq!(h.record_correct(1_000_000, 10_000), 99);
        assert_eq!(h.count(), 9_900 + 100);
        assert!(h.quantile(0.999) > 800_000);
    }

    #[test]
    fn bulk_correction_equals_hdrhistograms_one_by_one() {
        for (v, step) in [
            (1_000_000u64, 10_000u64),
            (1_000_000, 1),
            (30_000_000, 100),
            (59_999_999, 7_777),
            (5, 3),
            (100, 100),
            (99, 100),
        ] {
            let mut ours = Hist::new();
            let added = ours.record_correct(v, step);
            let mut reference = Hist::new();
            reference.0.record_correct(v, step).unwrap();
            assert_eq!(ours, reference, "{v} / {step}");
            assert_eq!(added + 1, reference.count(), "{v} / {step}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Hist::from_base64("not base64!").is_err());
        assert!(Hist::from_base64("AAAA").is_err());
    }
}
