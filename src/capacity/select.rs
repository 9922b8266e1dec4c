//! Model selection: the Universal Scalability Law ([`super::usl`]), Amdahl's law
//! ([`super::amdahl`], the USL with `kappa = 0`) and a closed multi-server queue solved by
//! exact MVA ([`super::mva`]) fitted to the same points, each with its parameters, standard
//! errors, R² and hold-out error, and one chosen.
//!
//! **The choice** is by hold-out error: each model is fitted again without the point of the
//! largest load and predicts it; the relative miss is its hold-out error, which is what a
//! capacity review leans on (a prediction past the data). Models whose hold-out errors lie
//! within [`TIE`] (one percentage point) of the best are tied, and the tie goes to the model
//! with the smaller corrected Akaike criterion (AICc: the fit over all points, penalised for
//! each parameter), so a third parameter has to earn its place. Without a hold-out (fewer
//! than [`super::usl::RECOMMENDED_POINTS`] points) the choice is by AICc alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{amdahl, mva, usl};

/// Hold-out errors this close (a share) count as a tie, broken by AICc.
pub const TIE: f64 = 0.01;

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Universal Scalability Law: `lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1))`.
    Usl,
    /// Amdahl's law: the USL with `kappa = 0`.
    Amdahl,
    /// A closed queue of `c` servers with service time `S` (and think time `Z`), exact MVA.
    Mva,
}

impl ModelKind {
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Usl => "USL",
            ModelKind::Amdahl => "Amdahl",
            ModelKind::Mva => "MVA (c servers)",
        }
    }
}

/// One fitted parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// `sigma`, `kappa`, `lambda`; `servers` (c), `service_s` (S), `think_s` (Z).
    pub name: String,
    pub value: f64,
    /// Standard error; `null` when not estimated (a parameter given, searched over the
    /// integers, or a singular information matrix).
    pub se: Option<f64>,
}

/// One model fitted to the steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFit {
    pub model: ModelKind,
    pub parameters: Vec<Parameter>,
    /// Coefficient of determination of the throughput fit.
    pub r2: f64,
    /// Root mean squared residual, in requests per second.
    pub rmse: f64,
    /// Mean absolute percentage error, as a share.
    pub mape: f64,
    /// Corrected Akaike information criterion (smaller is better; compared between models);
    /// `null` with too few points for the correction (then `aic` is compared).
    pub aicc: Option<f64>,
    /// Fitted without the point of the largest load, the relative error of its prediction
    /// there (a share); `null` with too few points.
    pub holdout_error: Option<f64>,
    /// The load held out.
    pub holdout_load: Option<f64>,
    /// The highest throughput the model predicts at any load (its plateau or peak).
    pub max_throughput: Option<f64>,
    /// The load where that is reached: N* for the USL, `c` for the queue; `null` for an
    /// asymptote never reached.
    pub max_load: Option<f64>,
    /// Whether the model predicts throughput falling as load grows (USL with kappa > 0).
    pub retrograde: bool,
    /// Points fitted and their load range.
    pub points: usize,
    pub load_min: f64,
    pub load_max: f64,
    /// Akaike information criterion without the small-sample correction.
    pub aic: Option<f64>,
}

impl ModelFit {
    fn param(&self, name: &str) -> f64 {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .map_or(0.0, |p| p.value)
    }

    /// Predicted throughput at load `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        match self.model {
            ModelKind::Usl => usl::throughput(
                self.param("sigma"),
                self.param("kappa"),
                self.param("lambda"),
                n,
            ),
            ModelKind::Amdahl => amdahl::throughput(self.param("sigma"), self.param("lambda"), n),
            ModelKind::Mva => mva::throughput(
                self.param("servers").round().max(1.0) as u32,
                self.param("service_s"),
                self.param("think_s"),
                n,
            ),
        }
    }

    /// Mean response time at load `n` (requests in flight), `N / X(N)` (seconds).
    pub fn response_time(&self, n: f64) -> Option<f64> {
        let x = self.throughput(n);
        (n > 0.0 && x > 0.0).then(|| n / x)
    }

    /// The parameters in a line: `c = 4, S = 51.2 ms ± 0.3 ms`.
    pub fn parameter_text(&self) -> String {
        self.parameters
            .iter()
            .map(|p| {
                let (name, v, se) = match p.name.as_str() {
                    "servers" => ("c", format!("{}", p.value.round()), None),
                    "service_s" => ("S", ms(p.value), p.se.map(|e| format!(" ± {}", ms(e)))),
                    "think_s" => ("Z", ms(p.value), None),
                    "sigma" => (
                        "σ",
                        format!("{:.5}", p.value),
                        p.se.map(|e| format!(" ± {e:.5}")),
                    ),
                    "kappa" => (
                        "κ",
                        format!("{:.3e}", p.value),
                        p.se.map(|e| format!(" ± {e:.2e}")),
                    ),
                    "lambda" => (
                        "λ",
                        format!("{:.2}", p.value),
                        p.se.map(|e| format!(" ± {e:.2}")),
                    ),
                    other => (other, format!("{}", p.value), None),
                };
                format!("{name} = {v}{}", se.unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1000.0)
}

/// Which model was chosen, and why, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    pub model: ModelKind,
    pub reason: String,
}

fn param(name: &str, value: f64, se: Option<f64>) -> Parameter {
    Parameter {
        name: name.into(),
        value,
        se,
    }
}

/// Fit every model to `(load, throughput)` points (think time `think` for the queue, 0 when
/// the load is requests in flight; `servers` fixes its `c`), and choose.
pub fn fit_all(
    points: &[(f64, f64)],
    think: f64,
    servers: Option<u32>,
) -> (Vec<ModelFit>, Option<ModelChoice>) {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| n.is_finite() && x.is_finite() && *n > 0.0 && *x > 0.0)
        .collect();
    let mut fits = Vec::new();
    if let Ok(u) = usl::fit(&pts) {
        fits.push(from_usl(&u, &pts));
    }
    if let Some(a) = amdahl::fit(&pts) {
        fits.push(finish(
            ModelKind::Amdahl,
            vec![
                param("sigma", a.sigma, a.sigma_se),
                param("lambda", a.lambda, a.lambda_se),
            ],
            &pts,
            2,
            think,
            servers,
        ));
    }
    if let Some(m) = mva::fit(&pts, think, servers) {
        let se = service_se(&pts, &m, servers.is_none());
        fits.push(finish(
            ModelKind::Mva,
            vec![
                param("servers", m.servers as f64, None),
                param("service_s", m.service, se),
                param("think_s", think, None),
            ],
            &pts,
            if servers.is_some() { 1 } else { 2 },
            think,
            servers,
        ));
    }
    let choice = choose(&fits);
    (fits, choice)
}

fn from_usl(u: &usl::UslFit, pts: &[(f64, f64)]) -> ModelFit {
    let mut f = finish(
        ModelKind::Usl,
        vec![
            param("sigma", u.sigma, u.sigma_se),
            param("kappa", u.kappa, u.kappa_se),
            param("lambda", u.lambda, u.lambda_se),
        ],
        pts,
        3,
        0.0,
        None,
    );
    // The USL's own hold-out (identical procedure) keeps the two reports in agreement.
    if u.holdout_error.is_some() {
        f.holdout_error = u.holdout_error;
    }
    f
}

/// Goodness of fit, hold-out and the figures read off a fitted model.
fn finish(
    model: ModelKind,
    parameters: Vec<Parameter>,
    pts: &[(f64, f64)],
    k: usize,
    think: f64,
    servers: Option<u32>,
) -> ModelFit {
    let mut f = ModelFit {
        model,
        parameters,
        r2: 0.0,
        rmse: 0.0,
        mape: 0.0,
        aicc: None,
        holdout_error: None,
        holdout_load: None,
        max_throughput: None,
        max_load: None,
        retrograde: false,
        points: pts.len(),
        load_min: pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        load_max: pts.iter().map(|p| p.0).fold(0.0, f64::max),
        aic: None,
    };
    let n = pts.len() as f64;
    let sse: f64 = pts
        .iter()
        .map(|&(l, x)| (x - f.throughput(l)).powi(2))
        .sum();
    let mean = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sst: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
    f.r2 = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    f.rmse = (sse / n).sqrt();
    f.mape = pts
        .iter()
        .map(|&(l, x)| ((x - f.throughput(l)) / x).abs())
        .sum::<f64>()
        / n;
    let kf = k as f64 + 1.0; // the residual variance is a parameter too
    f.aic = Some(n * (sse.max(f64::MIN_POSITIVE) / n).ln() + 2.0 * kf).filter(|v| v.is_finite());
    f.aicc = (n - kf - 1.0 > 0.0)
        .then(|| {
            n * (sse.max(f64::MIN_POSITIVE) / n).ln()
                + 2.0 * kf
                + 2.0 * kf * (kf + 1.0) / (n - kf - 1.0)
        })
        .filter(|v| v.is_finite());
    let (hold_err, hold_load) = holdout(model, pts, think, servers);
    f.holdout_error = hold_err;
    f.holdout_load = hold_load;
    match model {
        ModelKind::Usl => {
            let (s, kp, l) = (f.param("sigma"), f.param("kappa"), f.param("lambda"));
            if kp > 0.0 {
                let ns = ((1.0 - s) / kp).sqrt();
                f.max_load = Some(ns);
                f.max_throughput = Some(usl::throughput(s, kp, l, ns));
                f.retrograde = true;
            } else if s > 0.0 {
                f.max_throughput = Some(l / s);
            }
        }
        ModelKind::Amdahl => {
            let (s, l) = (f.param("sigma"), f.param("lambda"));
            if s > 0.0 {
                f.max_throughput = Some(l / s);
            }
        }
        ModelKind::Mva => {
            let c = f.param("servers");
            f.max_throughput = Some(c / f.param("service_s"));
            f.max_load = (think == 0.0).then_some(c);
        }
    }
    f
}

/// The standard error of S from the curvature of the SSE in S (c held at its value).
fn service_se(pts: &[(f64, f64)], m: &mva::MvaParams, c_fitted: bool) -> Option<f64> {
    let dof = pts.len() as f64 - if c_fitted { 2.0 } else { 1.0 };
    if dof <= 0.0 {
        return None;
    }
    let h = m.service * 1e-6;
    let jj: f64 = pts
        .iter()
        .map(|&(n, _)| {
            let d = (mva::throughput(m.servers, m.service + h, m.think, n)
                - mva::throughput(m.servers, m.service - h, m.think, n))
                / (2.0 * h);
            d * d
        })
        .sum();
    let e = (m.sse / dof / jj).sqrt();
    (jj > 0.0 && e.is_finite()).then_some(e)
}

/// Fit `model` without the point of the largest load; the relative error of its
/// prediction there.
fn holdout(
    model: ModelKind,
    pts: &[(f64, f64)],
    think: f64,
    servers: Option<u32>,
) -> (Option<f64>, Option<f64>) {
    if pts.len() < usl::RECOMMENDED_POINTS {
        return (None, None);
    }
    let Some(top) = pts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
        .map(|(i, _)| i)
    else {
        return (None, None);
    };
    let rest: Vec<(f64, f64)> = pts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != top)
        .map(|(_, p)| *p)
        .collect();
    let (n, x) = pts[top];
    let predicted = match model {
        ModelKind::Usl => usl::fit(&rest).ok().map(|u| u.throughput(n)),
        ModelKind::Amdahl => amdahl::fit(&rest).map(|a| amdahl::throughput(a.sigma, a.lambda, n)),
        ModelKind::Mva => {
            mva::fit(&rest, think, servers).map(|m| mva::throughput(m.servers, m.service, think, n))
        }
    };
    (
        predicted
            .map(|p| ((p - x) / x).abs())
            .filter(|e| e.is_finite()),
        Some(n),
    )
}

/// The model with the smallest hold-out error, ties (within [`TIE`]) to the smaller AICc.
pub fn choose(fits: &[ModelFit]) -> Option<ModelChoice> {
    // AICc when every model has one, else the plain AIC for all (too few points for the
    // correction of the model with most parameters).
    let corrected = fits.iter().all(|f| f.aicc.is_some());
    let aicc = |f: &ModelFit| if corrected { f.aicc } else { f.aic }.unwrap_or(f64::INFINITY);
    let criterion = if corrected { "AICc" } else { "AIC" };
    let best_holdout = fits
        .iter()
        .filter_map(|f| f.holdout_error)
        .fold(f64::INFINITY, f64::min);
    if best_holdout.is_finite() {
        let tied: Vec<&ModelFit> = fits
            .iter()
            .filter(|f| f.holdout_error.is_some_and(|e| e <= best_holdout + TIE))
            .collect();
        let pick = tied
            .iter()
            .min_by(|a, b| aicc(a).total_cmp(&aicc(b)))
            .copied()?;
        let others: Vec<String> = fits
            .iter()
            .filter(|f| f.model != pick.model)
            .map(|f| {
                format!(
                    "{} {}",
                    f.model.label(),
                    f.holdout_error
                        .map_or("no hold-out".to_string(), |e| format!("{:.1}%", e * 100.0))
                )
            })
            .collect();
        let held = pick
            .holdout_load
            .map_or(String::new(), |l| format!(" at load {}", trim(l)));
        let mut reason = format!(
            "{} predicts the top level{held}, fitted without it, within {:.1}% (others: {})",
            pick.model.label(),
            pick.holdout_error.unwrap_or(0.0) * 100.0,
            others.join(", ")
        );
        if tied.len() > 1 {
            reason.push_str(&format!(
                "; {} model(s) within {:.0} point of the best hold-out error, so the one with \
                 the smallest {criterion} (fit over all points, penalised per parameter) was taken",
                tied.len(),
                TIE * 100.0
            ));
        }
        if pick.retrograde {
            reason.push_str("; it predicts a retrograde fall past its peak");
        }
        return Some(ModelChoice {
            model: pick.model,
            reason,
        });
    }
    let pick = fits.iter().min_by(|a, b| aicc(a).total_cmp(&aicc(b)))?;
    Some(ModelChoice {
        model: pick.model,
        reason: format!(
            "too few points for a hold-out test (at least {} needed): {} has the smallest \
             {criterion}, the fit over all points penalised per parameter (R² {:.3})",
            usl::RECOMMENDED_POINTS,
            pick.model.label(),
            pick.r2
        ),
    })
}

fn trim(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_pool_is_the_queue_and_a_retrograde_curve_is_the_usl() {
        // 4 workers at 51 ms, a little noise.
        let pts: Vec<(f64, f64)> = (1..=10)
            .map(|n| {
                let x = (n.min(4)) as f64 / 0.051;
                (n as f64, x * (1.0 + 0.003 * ((n * 7 % 5) as f64 - 2.0)))
            })
            .collect();
        let (fits, choice) = fit_all(&pts, 0.0, None);
        assert_eq!(fits.len(), 3);
        let c = choice.unwrap();
        assert_eq!(c.model, ModelKind::Mva, "{c:?} {fits:#?}");
        let mva = fits.iter().find(|f| f.model == ModelKind::Mva).unwrap();
        assert_eq!(mva.param("servers"), 4.0);
        assert!(!mva.retrograde);

        let pts: Vec<(f64, f64)> = (1..=32)
            .map(|n| (n as f64, usl::throughput(0.03, 8e-4, 1000.0, n as f64)))
            .collect();
        let (_, choice) = fit_all(&pts, 0.0, None);
        assert_eq!(choice.unwrap().model, ModelKind::Usl);
    }
}
