//! An HDR histogram as a Prometheus native histogram: schema 3 (each bucket 2^(1/8), about
//! 9 %, wider than the last), bucket `i` holding the values in (2^((i-1)/8), 2^(i/8)]
//! seconds, the zero bucket those at or below [`ZERO_THRESHOLD`].

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::prompb::{self, BucketSpan, histogram};

pub const SCHEMA: i32 = 3;
/// The zero bucket's upper bound, seconds (client_golang's default): a recorded time is at
/// least 1 µs, so it stays empty.
pub const ZERO_THRESHOLD: f64 = 1e-128;

/// The schema-3 bucket of `v` seconds (`v` > 0): ceil(log2(v) * 8).
pub fn bucket_index(v: f64) -> i32 {
    let (frac, exp) = frexp(v);
    // v = frac * 2^exp with frac in [0.5, 1): an exact power of two lands on its bound.
    if frac == 0.5 {
        return (exp - 1) * (1 << SCHEMA);
    }
    (v.log2() * f64::from(1 << SCHEMA)).ceil() as i32
}

fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (f, e) = frexp(v * 2f64.powi(64));
        return (f, e - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp - 1022)
}

/// Counts by bucket, and the totals.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Buckets {
    pub count: u64,
    pub sum: f64,
    pub zero_count: u64,
    pub positive: BTreeMap<i32, u64>,
}

/// Bucket the recorded values of `h` (each at its HDR bucket's highest equivalent value,
/// as HDR quantiles report) scaled by `unit` seconds per unit of `h`.
pub fn buckets(h: &Histogram<u64>, unit: f64) -> Buckets {
    let mut b = Buckets::default();
    for it in h.iter_recorded() {
        let n = it.count_at_value();
        let v = h.highest_equivalent(it.value_iterated_to()) as f64 * unit;
        b.count += n;
        b.sum += v * n as f64;
        if v <= ZERO_THRESHOLD {
            b.zero_count += n;
        } else {
            *b.positive.entry(bucket_index(v)).or_default() += n;
        }
    }
    b
}

/// Add `other`'s counts to `b`.
pub fn add(b: &mut Buckets, other: &Buckets) {
    b.count += other.count;
    b.sum += other.sum;
    b.zero_count += other.zero_count;
    for (i, n) in &other.positive {
        *b.positive.entry(*i).or_default() += n;
    }
}

/// The native-histogram sample of `b`: spans of consecutive buckets, delta-coded counts.
pub fn to_proto(b: &Buckets, timestamp_ms: i64) -> prompb::Histogram {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(b.positive.len());
    let mut prev_index: Option<i32> = None;
    let mut prev_count = 0i64;
    for (&i, &n) in &b.positive {
        match prev_index {
            Some(p) if i == p + 1 => {
                if let Some(s) = spans.last_mut() {
                    s.length += 1;
                }
            }
            Some(p) => spans.push(BucketSpan {
                offset: i - p - 1,
                length: 1,
            }),
            None => spans.push(BucketSpan {
                offset: i,
                length: 1,
            }),
        }
        deltas.push(n as i64 - prev_count);
        prev_count = n as i64;
        prev_index = Some(i);
    }
    prompb::Histogram {
        count: Some(histogram::Count::CountInt(b.count)),
        sum: b.sum,
        schema: SCHEMA,
        zero_threshold: ZERO_THRESHOLD,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(b.zero_count)),
        positive_spans: spans,
        positive_deltas: deltas,
        reset_hint: 0,
        timestamp: timestamp_ms,
    }
}

/// The counts by bucket index a native histogram sample holds (its spans and deltas
/// decoded).
pub fn decode_positive(h: &prompb::Histogram) -> BTreeMap<i32, u64> {
    let mut out = BTreeMap::new();
    let mut index = 0i32;
    let mut count = 0i64;
    let mut deltas = h.positive_deltas.iter();
    // The first offset is an index, the others count from the end of the previous span.
    for s in &h.positive_spans {
        index += s.offset;
        for _ in 0..s.length {
            count += deltas.next().copied().unwrap_or(0);
            out.insert(index, count as u64);
            index += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Hist;

    /// The bucket of `v` found the slow way: the first bound 2^(i/8) at or above it.
    fn brute_index(v: f64) -> i32 {
        let mut i = -400;
        while 2f64.powf(f64::from(i) / 8.0) < v {
            i += 1;
        }
        i
    }

    #[test]
    fn bucket_index_matches_the_bounds() {
        for v in [
            1e-6, 2e-6, 0.001, 0.0125, 0.02, 0.5, 1.0, 1.0905, 2.0, 3.0, 59.9, 60.0,
        ] {
            assert_eq!(bucket_index(v), brute_index(v), "v = {v}");
        }
        // Powers of two sit on their bucket's upper bound.
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(0.5), -8);
        assert_eq!(bucket_index(1.0000001), 1);
    }

    #[test]
    fn hdr_to_native_matches_a_brute_force_count() {
        let mut h = Hist::new();
        let mut values = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            // A spread from 1 µs to ~4 s (xorshift).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let us = 1 + (x % 4_000_000) / (1 + (x >> 40) % 1000);
            h.record(us);
            values.push(us);
        }
        let b = buckets(h.inner(), 1e-6);
        let mut brute: BTreeMap<i32, u64> = BTreeMap::new();
        for &us in &values {
            let v = h.inner().highest_equivalent(us) as f64 * 1e-6;
            *brute.entry(brute_index(v)).or_default() += 1;
        }
        assert_eq!(b.positive, brute);
        assert_eq!(b.count, values.len() as u64);
        assert_eq!(b.zero_count, 0);
        // Spans and deltas carry the same counts.
        let p = to_proto(&b, 1);
        assert_eq!(decode_positive(&p), b.positive);
        assert_eq!(
            p.positive_spans
                .iter()
                .map(|s| s.length as usize)
                .sum::<usize>(),
            p.positive_deltas.len()
        );
    }

    #[test]
    fn spans_skip_empty_buckets() {
        let b = Buckets {
            count: 6,
            sum: 1.0,
            zero_count: 0,
            positive: BTreeMap::from([(-3, 1), (-2, 2), (2, 3)]),
        };
        let p = to_proto(&b, 7);
        assert_eq!(
            p.positive_spans,
            vec![
                BucketSpan {
                    offset: -3,
                    length: 2
                },
                BucketSpan {
                    offset: 3,
                    length: 1
                }
            ]
        );
        assert_eq!(p.positive_deltas, vec![1, 1, 1]);
        assert_eq!(p.timestamp, 7);
    }
}
