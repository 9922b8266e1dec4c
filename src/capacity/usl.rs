//! Gunther's Universal Scalability Law, fitted by bounded Levenberg-Marquardt.
//!
//! `X(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1))`: `sigma` is contention (the serial
//! share that caps throughput at `lambda/sigma`), `kappa` is coherency (crosstalk that makes
//! throughput fall past `N* = sqrt((1-sigma)/kappa)`), `lambda` the throughput of one user.
//!
//! The fit follows the recipe in `notes/measurement.md` section 3, with no dependency: an
//! initial guess by ordinary least squares on the linearised model, then Levenberg-Marquardt
//! on the sum of squared throughput residuals with the analytic Jacobian, projected onto
//! `sigma` in [0, 1], `kappa` >= 0, `lambda` > 0 (a parameter on its bound that the step
//! pushes outward is held there for that step). It reproduces the published coefficients of
//! the 32-point Cisco reference dataset (see the tests).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Fewer usable points than this and there is no fit (three parameters, one degree of
/// freedom left for the residual error).
pub const MIN_POINTS: usize = 4;
/// Fewer points than this and the fit is flagged as resting on thin data.
pub const RECOMMENDED_POINTS: usize = 6;
/// R² below this and the fit is flagged as poor.
pub const POOR_R2: f64 = 0.9;
/// N* beyond this many times the largest measured load is flagged as an extrapolation.
pub const FAR_PEAK_FACTOR: f64 = 3.0;
/// Holding out the top point, a prediction off by more than this share is flagged.
pub const HOLDOUT_TOLERANCE: f64 = 0.10;

const MAX_ITERATIONS: u32 = 500;
/// Stop when an accepted step improves the SSE by less than this share.
const REL_TOLERANCE: f64 = 1e-12;
/// Give up when the damping grows past this (no step reduces the SSE any more).
const MAX_DAMPING: f64 = 1e30;

/// Why there is no fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UslError {
    #[error(
        "{usable} usable point(s) of {given} (a point needs load > 0 and throughput > 0): \
         the model has three parameters and needs at least {MIN_POINTS}"
    )]
    TooFewPoints { given: usize, usable: usize },
    #[error("only {distinct} distinct load level(s): the model needs at least 3")]
    TooFewLevels { distinct: usize },
    #[error("the fit did not reach finite values (the data are degenerate)")]
    NotFinite,
}

/// A fitted USL with its uncertainty, goodness of fit and the figures read from it.
///
/// Throughput is in the unit of the data (requests per second for Skein's runs), load in
/// users or requests in flight; `mape` and `holdout_error` are shares (0.019 = 1.9 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UslFit {
    /// Contention, in [0, 1].
    pub sigma: f64,
    /// Coherency, >= 0.
    pub kappa: f64,
    /// Throughput at N = 1.
    pub lambda: f64,
    /// Standard error of `sigma` (95 % interval about +-1.96 SE); `null` when the
    /// information matrix is singular.
    pub sigma_se: Option<f64>,
    pub kappa_se: Option<f64>,
    pub lambda_se: Option<f64>,
    /// Coefficient of determination of the throughput fit.
    pub r2: f64,
    /// Root mean squared residual, in throughput units.
    pub rmse: f64,
    /// Mean absolute percentage error, as a share.
    pub mape: f64,
    /// Residual standard error `sqrt(SSE / (n - 3))`.
    pub residual_se: f64,
    /// N* = sqrt((1 - sigma)/kappa), the load of peak throughput; `null` when kappa = 0
    /// (no retrograde region: throughput approaches the Amdahl ceiling).
    pub peak_concurrency: Option<f64>,
    /// X(N*); `null` when kappa = 0.
    pub peak_throughput: Option<f64>,
    /// lambda/sigma, the asymptote when kappa = 0; `null` when sigma = 0.
    pub amdahl_ceiling: Option<f64>,
    /// `contention` (sigma > kappa), `coherency` (kappa > sigma) or `linear` (both 0).
    pub bound: String,
    /// Points fitted.
    pub points: usize,
    /// Smallest and largest load fitted.
    pub load_min: f64,
    pub load_max: f64,
    /// Levenberg-Marquardt iterations.
    pub iterations: u32,
    /// Fitting all but the point of the largest load, the relative error of the prediction
    /// at that load (only with at least 6 points).
    pub holdout_error: Option<f64>,
    /// What to be careful about when reading this fit.
    pub warnings: Vec<String>,
}

/// Throughput of the USL with these parameters at load `n`.
pub fn throughput(sigma: f64, kappa: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

impl UslFit {
    /// Fitted throughput at load `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        throughput(self.sigma, self.kappa, self.lambda, n)
    }

    /// Response time at load `n` in a closed system without think time, `N / X(N)`, in the
    /// reciprocal of the throughput unit (seconds for requests per second); `None` for
    /// `n <= 0`.
    pub fn latency_at(&self, n: f64) -> Option<f64> {
        (n > 0.0).then(|| (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)) / self.lambda)
    }

    /// The smallest load that reaches throughput `t`: the smaller positive root of
    /// `t*kappa*N^2 + (t*sigma - t*kappa - lambda)*N + t*(1 - sigma) = 0`. `None` when the
    /// model never reaches `t` (t above the peak, or above the Amdahl ceiling when kappa = 0).
    pub fn users_for(&self, t: f64) -> Option<f64> {
        users_for(self.sigma, self.kappa, self.lambda, t)
    }
}

fn users_for(sigma: f64, kappa: f64, lambda: f64, t: f64) -> Option<f64> {
    if !(t.is_finite() && t >= 0.0) {
        return None;
    }
    if t == 0.0 {
        return Some(0.0);
    }
    let a = t * kappa;
    let b = t * sigma - t * kappa - lambda;
    let c = t * (1.0 - sigma);
    if a == 0.0 {
        // Linear: b*N + c = 0.
        return (b < 0.0)
            .then(|| -c / b)
            .filter(|n| n.is_finite() && *n >= 0.0);
    }
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 {
        return None;
    }
    // Stable roots: q = -(b + sign(b)*sqrt(disc))/2, roots q/a and c/q.
    let q = -0.5 * (b + b.signum() * disc.sqrt());
    let mut roots = [q / a, if q != 0.0 { c / q } else { f64::NAN }];
    roots.sort_by(f64::total_cmp);
    roots.into_iter().find(|n| n.is_finite() && *n >= 0.0)
}

/// Fit the USL to (load, throughput) points. Points with load <= 0 or throughput <= 0 (or
/// not finite) are dropped; at least [`MIN_POINTS`] must remain, at three or more loads.
pub fn fit(points: &[(f64, f64)]) -> Result<UslFit, UslError> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| n.is_finite() && x.is_finite() && *n > 0.0 && *x > 0.0)
        .collect();
    let core = fit_core(&pts, points.len())?;
    let mut out = core.into_fit(&pts);
    out.holdout_error = holdout(&pts);
    out.warnings = warnings(&out);
    Ok(out)
}

/// Parameters and iteration count of a converged fit.
struct Core {
    p: [f64; 3],
    iterations: u32,
}

fn fit_core(pts: &[(f64, f64)], given: usize) -> Result<Core, UslError> {
    if pts.len() < MIN_POINTS {
        return Err(UslError::TooFewPoints {
            given,
            usable: pts.len(),
        });
    }
    let mut loads: Vec<f64> = pts.iter().map(|p| p.0).collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup();
    if loads.len() < 3 {
        return Err(UslError::TooFewLevels {
            distinct: loads.len(),
        });
    }
    let mut p = initial_guess(pts);
    let lambda_floor = p[2] * 1e-12;
    let (mut a, mut g, mut sse) = normal_equations(&p, pts);
    let mut mu = 1e-3;
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS && sse > 0.0 && mu < MAX_DAMPING {
        iterations += 1;
        let Some(step) = bounded_step(&a, &g, mu, &p, lambda_floor) else {
            mu *= 4.0;
            continue;
        };
        let cand = project(
            [p[0] + step[0], p[1] + step[1], p[2] + step[2]],
            lambda_floor,
        );
        let cand_sse = sse_of(&cand, pts);
        if cand_sse.is_finite() && cand_sse < sse {
            let rel = (sse - cand_sse) / sse;
            p = cand;
            (a, g, sse) = normal_equations(&p, pts);
            mu /= 3.0;
            if rel < REL_TOLERANCE {
                break;
            }
        } else {
            mu *= 4.0;
        }
    }
    if p.iter().all(|v| v.is_finite()) && sse.is_finite() {
        snap_to_bounds(&mut p, pts);
        Ok(Core { p, iterations })
    } else {
        Err(UslError::NotFinite)
    }
}

impl Core {
    fn into_fit(self, pts: &[(f64, f64)]) -> UslFit {
        let [sigma, kappa, lambda] = self.p;
        let n = pts.len() as f64;
        let (a, _, sse) = normal_equations(&self.p, pts);
        let mean = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sst: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
        let residual_se = (sse / (n - 3.0)).sqrt();
        let mape = pts
            .iter()
            .map(|&(load, x)| ((x - throughput(sigma, kappa, lambda, load)) / x).abs())
            .sum::<f64>()
            / n;
        let se = inverse_diagonal(&a).map(|d| d.map(|v| finite((v * residual_se.powi(2)).sqrt())));
        let peak_concurrency = (kappa > 0.0).then(|| ((1.0 - sigma) / kappa).sqrt());
        let bound = if sigma == 0.0 && kappa == 0.0 {
            "linear"
        } else if sigma >= kappa {
            "contention"
        } else {
            "coherency"
        };
        UslFit {
            sigma,
            kappa,
            lambda,
            sigma_se: se.and_then(|s| s[0]),
            kappa_se: se.and_then(|s| s[1]),
            lambda_se: se.and_then(|s| s[2]),
            r2: if sst > 0.0 { 1.0 - sse / sst } else { 1.0 },
            rmse: (sse / n).sqrt(),
            mape,
            residual_se,
            peak_concurrency,
            peak_throughput: peak_concurrency.map(|ns| throughput(sigma, kappa, lambda, ns)),
            amdahl_ceiling: (sigma > 0.0).then(|| lambda / sigma),
            bound: bound.into(),
            points: pts.len(),
            load_min: pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
            load_max: pts.iter().map(|p| p.0).fold(0.0, f64::max),
            iterations: self.iterations,
            holdout_error: None,
            warnings: Vec::new(),
        }
    }
}

/// LM approaches a bound geometrically and may stop a hair inside it: a `sigma` or
/// `kappa` whose whole effect on the denominator over the measured loads is below 1e-9 is
/// set to its bound 0 (so that "on its bound", "no peak" and "no ceiling" read true).
fn snap_to_bounds(p: &mut [f64; 3], pts: &[(f64, f64)]) {
    let n_max = pts.iter().map(|q| q.0).fold(1.0, f64::max);
    if p[0] * (n_max - 1.0) < 1e-9 {
        p[0] = 0.0;
    }
    if p[1] * n_max * (n_max - 1.0) < 1e-9 {
        p[1] = 0.0;
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Relative error of the prediction at the largest load, fitting the others.
fn holdout(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < RECOMMENDED_POINTS {
        return None;
    }
    let top = pts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))?
        .0;
    let rest: Vec<(f64, f64)> = pts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != top)
        .map(|(_, p)| *p)
        .collect();
    let core = fit_core(&rest, rest.len()).ok()?;
    let (n, x) = pts[top];
    let [s, k, l] = core.p;
    finite(((throughput(s, k, l, n) - x) / x).abs())
}

fn warnings(f: &UslFit) -> Vec<String> {
    let mut w = Vec::new();
    if f.points < RECOMMENDED_POINTS {
        w.push(format!(
            "the fit rests on {} points; at least {RECOMMENDED_POINTS} are recommended, \
             including the smallest load and several past the knee",
            f.points
        ));
    }
    if f.sigma == 0.0 {
        w.push(
            "sigma sits on its lower bound 0: throughput grew at least linearly with load \
             (a superlinear artefact such as caches warming up, or a cold first step), so \
             the fit says nothing about contention"
                .into(),
        );
    }
    if f.r2 < POOR_R2 {
        w.push(format!(
            "poor fit: R² = {:.3} (below {POOR_R2}); look for an unstable step or a load \
             range the model does not describe",
            f.r2
        ));
    }
    if let Some(ns) = f.peak_concurrency
        && ns > FAR_PEAK_FACTOR * f.load_max
    {
        w.push(format!(
            "the peak N* = {ns:.1} lies far beyond the largest load measured ({}): the \
             retrograde part of the curve is an extrapolation",
            trim(f.load_max)
        ));
    }
    if let Some(e) = f.holdout_error
        && e > HOLDOUT_TOLERANCE
    {
        w.push(format!(
            "fitted without the top step, the model misses it by {:.1}%: predictions \
             beyond the measured range are unreliable",
            e * 100.0
        ));
    }
    w
}

/// A number without a needless fraction: `32`, `12.5`.
fn trim(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.2}")
    }
}

/// `lambda0 = X(N_min)/N_min`, then OLS without intercept of `N*lambda0/X - 1` on `N - 1`
/// and `N*(N - 1)`.
fn initial_guess(pts: &[(f64, f64)]) -> [f64; 3] {
    let n_min = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let at_min: Vec<f64> = pts.iter().filter(|p| p.0 == n_min).map(|p| p.1).collect();
    let lambda0 = at_min.iter().sum::<f64>() / at_min.len() as f64 / n_min;
    let (mut saa, mut sab, mut sbb, mut say, mut sby) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(n, x) in pts {
        let y = n * lambda0 / x - 1.0;
        let a = n - 1.0;
        let b = n * (n - 1.0);
        saa += a * a;
        sab += a * b;
        sbb += b * b;
        say += a * y;
        sby += b * y;
    }
    let det = saa * sbb - sab * sab;
    let (sigma0, kappa0) = if det.abs() > f64::EPSILON * saa * sbb && det != 0.0 {
        ((say * sbb - sby * sab) / det, (saa * sby - sab * say) / det)
    } else {
        (0.01, 1e-4)
    };
    [
        finite(sigma0).unwrap_or(0.01).clamp(1e-6, 1.0),
        finite(kappa0).unwrap_or(1e-4).max(1e-9),
        lambda0,
    ]
}

fn project(p: [f64; 3], lambda_floor: f64) -> [f64; 3] {
    [p[0].clamp(0.0, 1.0), p[1].max(0.0), p[2].max(lambda_floor)]
}

fn sse_of(p: &[f64; 3], pts: &[(f64, f64)]) -> f64 {
    pts.iter()
        .map(|&(n, x)| (x - throughput(p[0], p[1], p[2], n)).powi(2))
        .sum()
}

type Mat3 = [[f64; 3]; 3];

/// `J'J`, `J'r` and the SSE at `p`, with the analytic Jacobian.
fn normal_equations(p: &[f64; 3], pts: &[(f64, f64)]) -> (Mat3, [f64; 3], f64) {
    let [sigma, kappa, lambda] = *p;
    let mut a = [[0.0; 3]; 3];
    let mut g = [0.0; 3];
    let mut sse = 0.0;
    for &(n, x) in pts {
        let d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0);
        let d2 = d * d;
        let j = [
            -lambda * n * (n - 1.0) / d2,
            -lambda * n * n * (n - 1.0) / d2,
            n / d,
        ];
        let r = x - lambda * n / d;
        sse += r * r;
        for i in 0..3 {
            g[i] += j[i] * r;
            for k in 0..3 {
                a[i][k] += j[i] * j[k];
            }
        }
    }
    (a, g, sse)
}

/// One damped Gauss-Newton step `(J'J + mu*diag(J'J)) d = J'r`; a parameter on a bound
/// that the step would push outward is held at the bound and the others solved again.
fn bounded_step(
    a: &Mat3,
    g: &[f64; 3],
    mu: f64,
    p: &[f64; 3],
    lambda_floor: f64,
) -> Option<[f64; 3]> {
    let mut free = [true; 3];
    for _ in 0..3 {
        let mut m = *a;
        let mut rhs = *g;
        for i in 0..3 {
            m[i][i] += mu * a[i][i].max(f64::MIN_POSITIVE);
            if !free[i] {
                // Hold parameter i: its row and column become the identity's.
                m[i] = [0.0; 3];
                for row in m.iter_mut() {
                    row[i] = 0.0;
                }
                m[i][i] = 1.0;
                rhs[i] = 0.0;
            }
        }
        let d = solve3(&m, &rhs)?;
        let outward = [
            (p[0] <= 0.0 && d[0] < 0.0) || (p[0] >= 1.0 && d[0] > 0.0),
            p[1] <= 0.0 && d[1] < 0.0,
            p[2] <= lambda_floor && d[2] < 0.0,
        ];
        let mut changed = false;
        for i in 0..3 {
            if free[i] && outward[i] {
                free[i] = false;
                changed = true;
            }
        }
        if !changed {
            return Some(d);
        }
    }
    None
}

/// Solve `m x = b` for a symmetric positive semi-definite 3x3 `m`, equilibrated by its
/// diagonal (the parameters differ by seven orders of magnitude), with partial pivoting.
fn solve3(m: &Mat3, b: &[f64; 3]) -> Option<[f64; 3]> {
    let s: [f64; 3] = std::array::from_fn(|i| {
        let d = m[i][i];
        if d > 0.0 && d.is_finite() {
            d.sqrt()
        } else {
            1.0
        }
    });
    let mut e = [[0.0; 4]; 3];
    for i in 0..3 {
        for k in 0..3 {
            e[i][k] = m[i][k] / (s[i] * s[k]);
        }
        e[i][3] = b[i] / s[i];
    }
    for col in 0..3 {
        let piv = (col..3).max_by(|&x, &y| e[x][col].abs().total_cmp(&e[y][col].abs()))?;
        // Singular (or NaN) after equilibration.
        if e[piv][col].is_nan() || e[piv][col].abs() <= 1e-14 {
            return None;
        }
        e.swap(col, piv);
        let pivot = e[col];
        for (r, row) in e.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot[col];
                for (v, p) in row.iter_mut().zip(pivot).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let x: [f64; 3] = std::array::from_fn(|i| e[i][3] / e[i][i] / s[i]);
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The diagonal of `a^-1`, or `None` when `a` is singular.
fn inverse_diagonal(a: &Mat3) -> Option<[f64; 3]> {
    let mut d = [0.0; 3];
    for (i, di) in d.iter_mut().enumerate() {
        let mut unit = [0.0; 3];
        unit[i] = 1.0;
        *di = solve3(a, &unit)?[i];
    }
    Some(d)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The 32-point Cisco dataset from Schwartz, *Practical Scalability Analysis with the
    /// Universal Scalability Law* (as used by usl4j and usl-rs): (N, X).
    pub(crate) const CISCO: [(f64, f64); 32] = [
        (1.0, 955.16),
        (2.0, 1878.91),
        (3.0, 2688.01),
        (4.0, 3548.68),
        (5.0, 4315.54),
        (6.0, 5130.43),
        (7.0, 5931.37),
        (8.0, 6531.08),
        (9.0, 7219.8),
        (10.0, 7867.61),
        (11.0, 8278.71),
        (12.0, 8646.7),
        (13.0, 9047.84),
        (14.0, 9426.55),
        (15.0, 9645.37),
        (16.0, 9897.24),
        (17.0, 10097.6),
        (18.0, 10240.5),
        (19.0, 10532.39),
        (20.0, 10798.52),
        (21.0, 11151.43),
        (22.0, 11518.63),
        (23.0, 11806.0),
        (24.0, 12089.37),
        (25.0, 12075.41),
        (26.0, 12177.29),
        (27.0, 12211.41),
        (28.0, 12158.93),
        (29.0, 12155.27),
        (30.0, 12118.04),
        (31.0, 12140.4),
        (32.0, 12074.39),
    ];

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn golden_cisco_dataset_gives_the_published_coefficients() {
        let f = fit(&CISCO).unwrap();
        assert!(rel(f.sigma, 0.02671591) < 1e-4, "sigma {}", f.sigma);
        assert!(rel(f.kappa, 7.690945e-4) < 1e-4, "kappa {}", f.kappa);
        assert!(rel(f.lambda, 995.6486) < 1e-4, "lambda {}", f.lambda);
        let ns = f.peak_concurrency.unwrap();
        assert_eq!(ns.floor(), 35.0, "N* {ns}");
        assert!(rel(f.peak_throughput.unwrap(), 12_342.85) < 1e-4);
        assert!(rel(f.amdahl_ceiling.unwrap(), 37_268.0) < 1e-3);
        assert!((f.r2 - 0.99715).abs() < 1e-4, "r2 {}", f.r2);
        assert!((f.mape - 0.019).abs() < 0.001, "mape {}", f.mape);
        assert_eq!(f.bound, "contention");
        assert!(f.sigma_se.unwrap() > 0.0 && f.kappa_se.unwrap() > 0.0);
        assert!(f.lambda_se.unwrap() > 0.0);
        assert!(f.iterations < 50, "{} iterations", f.iterations);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        // The book's X_max = 12,341 is X(35).
        assert!(rel(f.throughput(35.0), 12_341.0) < 1e-4);
    }

    #[test]
    fn exact_synthetic_data_recovers_its_parameters() {
        for (s, k, l) in [
            (0.05, 0.002, 100.0),
            (0.2, 1e-5, 3.5),
            (0.01, 0.0005, 2_000.0),
        ] {
            let pts: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0]
                .iter()
                .map(|&n| (n, throughput(s, k, l, n)))
                .collect();
            let f = fit(&pts).unwrap();
            assert!(rel(f.sigma, s) < 1e-6, "sigma {} vs {s}", f.sigma);
            assert!(rel(f.kappa, k) < 1e-6, "kappa {} vs {k}", f.kappa);
            assert!(rel(f.lambda, l) < 1e-6, "lambda {} vs {l}", f.lambda);
            assert!(f.r2 > 0.999_999_9);
        }
    }

    #[test]
    fn amdahl_only_data_fits_no_coherency_and_no_peak() {
        let pts: Vec<(f64, f64)> = (1..=12)
            .map(|n| (n as f64 * 4.0, throughput(0.08, 0.0, 50.0, n as f64 * 4.0)))
            .collect();
        let f = fit(&pts).unwrap();
        assert_eq!(f.kappa, 0.0);
        assert!(rel(f.sigma, 0.08) < 1e-6, "sigma {}", f.sigma);
        assert!(rel(f.lambda, 50.0) < 1e-6);
        assert_eq!(f.peak_concurrency, None);
        assert_eq!(f.peak_throughput, None);
        assert!(rel(f.amdahl_ceiling.unwrap(), 625.0) < 1e-5);
    }

    #[test]
    fn amdahl_data_with_noise_puts_kappa_on_its_bound() {
        // Alternating +-1 % noise pulls the unconstrained kappa below zero.
        let pts: Vec<(f64, f64)> = (1..=10)
            .map(|i| {
                let n = i as f64 * 5.0;
                let noise = if i % 2 == 0 { 1.01 } else { 0.99 };
                let bend = 1.0 + 0.002 * (i as f64 - 5.0);
                (n, throughput(0.1, 0.0, 20.0, n) * noise * bend)
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert_eq!(f.kappa, 0.0);
        assert_eq!(f.peak_concurrency, None);
        assert!(f.amdahl_ceiling.is_some());
    }

    #[test]
    fn linear_data_fits_no_contention_and_warns() {
        let pts: Vec<(f64, f64)> = (1..=8).map(|n| (n as f64, 10.0 * n as f64)).collect();
        let f = fit(&pts).unwrap();
        assert_eq!((f.sigma, f.kappa), (0.0, 0.0));
        assert!(rel(f.lambda, 10.0) < 1e-9);
        assert_eq!(f.amdahl_ceiling, None);
        assert_eq!(f.bound, "linear");
        assert!(
            f.warnings.iter().any(|w| w.contains("lower bound")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn too_few_points_is_an_error_not_a_panic() {
        assert_eq!(
            fit(&CISCO[..3]),
            Err(UslError::TooFewPoints {
                given: 3,
                usable: 3
            })
        );
        let bad = [
            (0.0, 5.0),
            (1.0, -1.0),
            (2.0, f64::NAN),
            (3.0, 30.0),
            (4.0, 40.0),
        ];
        assert!(matches!(
            fit(&bad),
            Err(UslError::TooFewPoints { usable: 2, .. })
        ));
        let same = [(4.0, 10.0), (4.0, 11.0), (8.0, 19.0), (8.0, 20.0)];
        assert_eq!(fit(&same), Err(UslError::TooFewLevels { distinct: 2 }));
        assert!(fit(&[]).is_err());
    }

    #[test]
    fn warnings_flag_thin_data_poor_fits_and_far_peaks() {
        // Four points of nearly linear growth: thin, and N* far beyond the range.
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|&n| (n, throughput(0.01, 1e-5, 100.0, n)))
            .collect();
        let f = fit(&pts).unwrap();
        let all = f.warnings.join("\n");
        assert!(all.contains("4 points"), "{all}");
        assert!(all.contains("far beyond"), "{all}");
        // Scattered data: a poor fit.
        let noisy = [
            (1.0, 10.0),
            (2.0, 40.0),
            (3.0, 12.0),
            (4.0, 45.0),
            (5.0, 15.0),
            (6.0, 44.0),
        ];
        let f = fit(&noisy).unwrap();
        assert!(f.r2 < POOR_R2);
        assert!(
            f.warnings.iter().any(|w| w.contains("poor fit")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn users_for_a_throughput_inverts_the_curve() {
        let f = fit(&CISCO).unwrap();
        for n in [1.0, 5.0, 20.0, 30.0] {
            let back = f.users_for(f.throughput(n)).unwrap();
            assert!(rel(back, n) < 1e-9, "{n} -> {back}");
        }
        assert_eq!(f.users_for(f.peak_throughput.unwrap() * 1.01), None);
        assert_eq!(f.users_for(0.0), Some(0.0));
        // Amdahl: reachable below the ceiling only.
        assert!(rel(users_for(0.1, 0.0, 10.0, 50.0).unwrap(), 9.0) < 1e-12);
        assert_eq!(users_for(0.1, 0.0, 10.0, 100.0), None);
        // Latency at N is N / X(N).
        let r = f.latency_at(20.0).unwrap();
        assert!(rel(r, 20.0 / f.throughput(20.0)) < 1e-12);
        assert_eq!(f.latency_at(0.0), None);
    }
}
