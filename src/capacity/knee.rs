//! Kneedle (Satopää et al., 2011): the knee of an increasing convex curve, here latency
//! against load, the point past which latency grows much faster than load.
//!
//! Both axes are normalised to [0, 1] and the difference `d = x_n - y_n` taken; at each
//! local maximum of `d` a threshold `T = d_max - S * mean(diff(x_n))` is set; the first
//! maximum after which `d` falls below its threshold, before a higher maximum comes, is the
//! knee. With the 6 to 12 steps of a step test the curve is coarse, so a knee is reported
//! only when the largest difference is at least [`MIN_DIFFERENCE`] (a straight line has
//! none).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Sensitivity `S` of the threshold.
pub const SENSITIVITY: f64 = 1.0;
/// A knee is reported only when `d` reaches this (the curve bends visibly).
pub const MIN_DIFFERENCE: f64 = 0.1;

/// A knee found by [`kneedle`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Knee {
    /// Index of the knee in the input.
    pub index: usize,
    pub x: f64,
    pub y: f64,
    /// The normalised difference at the knee (0 to 1; larger is a sharper bend).
    pub strength: f64,
}

/// The knee of the increasing convex curve `y(x)`, with `x` strictly increasing. `None`
/// when there are fewer than 3 points, the input is not finite, `x` does not increase,
/// `y` does not rise, or the curve bends less than [`MIN_DIFFERENCE`].
pub fn kneedle(x: &[f64], y: &[f64]) -> Option<Knee> {
    kneedle_with(x, y, SENSITIVITY, MIN_DIFFERENCE)
}

/// [`kneedle`] with another sensitivity and minimum difference.
pub fn kneedle_with(x: &[f64], y: &[f64], sensitivity: f64, min_difference: f64) -> Option<Knee> {
    let n = x.len();
    if n < 3 || y.len() != n || !x.iter().chain(y).all(|v| v.is_finite()) {
        return None;
    }
    if x.windows(2).any(|w| w[1] <= w[0]) {
        return None;
    }
    let (x0, x1) = (x[0], x[n - 1]);
    let y0 = y.iter().copied().fold(f64::INFINITY, f64::min);
    let y1 = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if y1 <= y0 {
        return None;
    }
    let xn: Vec<f64> = x.iter().map(|v| (v - x0) / (x1 - x0)).collect();
    let d: Vec<f64> = xn
        .iter()
        .zip(y)
        .map(|(xv, yv)| xv - (yv - y0) / (y1 - y0))
        .collect();
    let step = 1.0 / (n - 1) as f64; // mean(diff(x_n)): x_n runs from 0 to 1.
    let is_max = |i: usize| i > 0 && i + 1 < n && d[i] > d[i - 1] && d[i] >= d[i + 1];
    let mut i = 1;
    while i + 1 < n {
        if !is_max(i) {
            i += 1;
            continue;
        }
        let threshold = d[i] - sensitivity * step;
        let mut next = None;
        for j in i + 1..n {
            if d[j] < threshold {
                return (d[i] >= min_difference).then(|| Knee {
                    index: i,
                    x: x[i],
                    y: y[i],
                    strength: d[i],
                });
            }
            if is_max(j) && d[j] > d[i] {
                next = Some(j);
                break;
            }
        }
        match next {
            Some(j) => i = j,
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(from: f64, to: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| from + (to - from) * i as f64 / (n - 1) as f64)
            .collect()
    }

    #[test]
    fn parabola_knee_is_at_one_half() {
        let x = grid(0.0, 1.0, 101);
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let k = kneedle(&x, &y).unwrap();
        // d = x - x^2 peaks at exactly 0.5, a grid point.
        assert!((k.x - 0.5).abs() < 1e-9, "{k:?}");
        assert!((k.strength - 0.25).abs() < 1e-9);
        // On a coarse grid of 11 points too.
        let x = grid(0.0, 1.0, 11);
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        assert!((kneedle(&x, &y).unwrap().x - 0.5).abs() < 1e-9);
    }

    #[test]
    fn mm1_response_time_knee_is_near_eighty_percent() {
        // R = S/(1 - rho) over rho in [0, 0.95]: d = rho/0.95 - (R - S)/(19 S) is largest
        // where (1 - rho)^2 = 0.95/19, at rho = 1 - sqrt(0.05) = 0.776. On a 0.01 grid the
        // knee is that point to within one grid step; the notes round it to 0.8, so the
        // test allows 0.8 +- 0.03 (and checks the exact maximum too).
        let rho = grid(0.0, 0.95, 96);
        let r: Vec<f64> = rho.iter().map(|p| 0.02 / (1.0 - p)).collect();
        let k = kneedle(&rho, &r).unwrap();
        assert!((k.x - 0.8).abs() <= 0.03, "{k:?}");
        assert!((k.x - (1.0 - 0.05f64.sqrt())).abs() <= 0.01, "{k:?}");
        // The coarse grid of a step test (0.05 steps) lands on 0.75 or 0.8.
        let rho = grid(0.0, 0.95, 20);
        let r: Vec<f64> = rho.iter().map(|p| 0.02 / (1.0 - p)).collect();
        let k = kneedle(&rho, &r).unwrap();
        assert!((k.x - 0.775).abs() <= 0.03, "{k:?}");
    }

    #[test]
    fn a_straight_line_has_no_knee() {
        let x = grid(1.0, 12.0, 12);
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v + 7.0).collect();
        assert_eq!(kneedle(&x, &y), None);
        // Nor a flat one, nor too few points, nor unsorted x.
        assert_eq!(kneedle(&x, &[5.0; 12]), None);
        assert_eq!(kneedle(&[1.0, 2.0], &[1.0, 4.0]), None);
        assert_eq!(kneedle(&[1.0, 3.0, 2.0], &[1.0, 2.0, 9.0]), None);
        assert_eq!(kneedle(&[1.0, 2.0, 3.0], &[1.0, f64::NAN, 9.0]), None);
    }

    #[test]
    fn a_hockey_stick_knees_at_its_corner() {
        // Closed system, 32 servers at 20 ms: flat to 32 users, then N/1600 s.
        let users: Vec<f64> = (1..=12).map(|i| i as f64 * 8.0).collect();
        let p95: Vec<f64> = users.iter().map(|n| 20.0f64.max(n / 1.6)).collect();
        let k = kneedle(&users, &p95).unwrap();
        assert_eq!(k.x, 32.0, "{k:?}");
    }

    #[test]
    fn a_slight_bend_is_not_reported() {
        let x = grid(0.0, 1.0, 12);
        let y: Vec<f64> = x.iter().map(|v| v + 0.3 * v * v).collect();
        assert_eq!(kneedle(&x, &y), None);
        // With no minimum it is found where the bend is greatest.
        let x = grid(0.0, 1.0, 101);
        let y: Vec<f64> = x.iter().map(|v| v + 0.3 * v * v).collect();
        assert_eq!(kneedle(&x, &y), None);
        let k = kneedle_with(&x, &y, 1.0, 0.0).unwrap();
        assert!((k.x - 0.5).abs() < 1e-9, "{k:?}");
    }
}
