//! Amdahl's law: the USL with no coherency term (`kappa = 0`),
//! `X(N) = lambda*N / (1 + sigma*(N-1))`. Throughput rises towards the ceiling
//! `lambda/sigma` and never falls.
//!
//! Fitted like the USL (`notes/measurement.md` section 3) with two parameters: an initial
//! guess from the linear form `N/X = (1 - sigma)/lambda + (sigma/lambda)*N` by ordinary
//! least squares, then Levenberg-Marquardt on the squared throughput residuals, `sigma`
//! projected onto [0, 1] and `lambda` kept above 0.

/// A fitted Amdahl curve.
#[derive(Debug, Clone, PartialEq)]
pub struct AmdahlParams {
    pub sigma: f64,
    pub lambda: f64,
    pub sigma_se: Option<f64>,
    pub lambda_se: Option<f64>,
    pub sse: f64,
}

/// Throughput at load `n`.
pub fn throughput(sigma: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0))
}

fn sse(p: [f64; 2], pts: &[(f64, f64)]) -> f64 {
    pts.iter()
        .map(|&(n, x)| (x - throughput(p[0], p[1], n)).powi(2))
        .sum()
}

/// `J'J`, `J'r`: `dX/dsigma = -lambda*N*(N-1)/D^2`, `dX/dlambda = N/D`.
fn normal(p: [f64; 2], pts: &[(f64, f64)]) -> ([[f64; 2]; 2], [f64; 2]) {
    let mut a = [[0.0; 2]; 2];
    let mut g = [0.0; 2];
    for &(n, x) in pts {
        let d = 1.0 + p[0] * (n - 1.0);
        let j = [-p[1] * n * (n - 1.0) / (d * d), n / d];
        let r = x - p[1] * n / d;
        for i in 0..2 {
            g[i] += j[i] * r;
            for k in 0..2 {
                a[i][k] += j[i] * j[k];
            }
        }
    }
    (a, g)
}

fn solve2(m: [[f64; 2]; 2], b: [f64; 2]) -> Option<[f64; 2]> {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    Some([
        (b[0] * m[1][1] - b[1] * m[0][1]) / det,
        (m[0][0] * b[1] - m[1][0] * b[0]) / det,
    ])
}

/// Fit to `(load, throughput)` points (load > 0, throughput > 0; at least 3 at two or more
/// loads).
pub fn fit(points: &[(f64, f64)]) -> Option<AmdahlParams> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| n.is_finite() && x.is_finite() && *n > 0.0 && *x > 0.0)
        .collect();
    if pts.len() < 3 {
        return None;
    }
    // OLS of y = N/X on N: intercept a = (1-sigma)/lambda, slope b = sigma/lambda.
    let m = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / m;
    let my = pts.iter().map(|p| p.0 / p.1).sum::<f64>() / m;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 / p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    let lambda0 = 1.0 / (a + b);
    let mut p = if lambda0.is_finite() && lambda0 > 0.0 {
        [(b * lambda0).clamp(0.0, 1.0), lambda0]
    } else {
        let (n0, x0) = pts[0];
        [0.01, x0 / n0]
    };
    let floor = p[1] * 1e-12;
    let project = |q: [f64; 2]| [q[0].clamp(0.0, 1.0), q[1].max(floor)];
    let mut cur = sse(p, &pts);
    let mut mu = 1e-3;
    for _ in 0..500 {
        if cur == 0.0 || mu > 1e30 {
            break;
        }
        let (a, g) = normal(p, &pts);
        let mut m = a;
        for i in 0..2 {
            m[i][i] += mu * a[i][i].max(f64::MIN_POSITIVE);
        }
        let Some(d) = solve2(m, g) else {
            mu *= 4.0;
            continue;
        };
        let cand = project([p[0] + d[0], p[1] + d[1]]);
        let s = sse(cand, &pts);
        if s.is_finite() && s < cur {
            let rel = (cur - s) / cur;
            p = cand;
            cur = s;
            mu /= 3.0;
            if rel < 1e-12 {
                break;
            }
        } else {
            mu *= 4.0;
        }
    }
    if !(p[0].is_finite() && p[1].is_finite()) {
        return None;
    }
    let n_max = pts.iter().map(|q| q.0).fold(1.0, f64::max);
    if p[0] * (n_max - 1.0) < 1e-9 {
        p[0] = 0.0;
    }
    let dof = pts.len() as f64 - 2.0;
    let s2 = if dof > 0.0 { cur / dof } else { f64::NAN };
    let (a, _) = normal(p, &pts);
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let se = |v: f64| {
        let e = (v / det * s2).sqrt();
        e.is_finite().then_some(e)
    };
    let (sigma_se, lambda_se) = if det != 0.0 && det.is_finite() {
        (se(a[1][1]), se(a[0][0]))
    } else {
        (None, None)
    };
    Some(AmdahlParams {
        sigma: p[0],
        lambda: p[1],
        sigma_se,
        lambda_se,
        sse: cur,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_its_own_curve() {
        let pts: Vec<(f64, f64)> = (1..=12)
            .map(|n| (n as f64, throughput(0.08, 100.0, n as f64)))
            .collect();
        let f = fit(&pts).unwrap();
        assert!((f.sigma - 0.08).abs() < 1e-6, "{f:?}");
        assert!((f.lambda - 100.0).abs() < 1e-4, "{f:?}");
    }
}
