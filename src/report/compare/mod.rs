//! Two runs compared, for people: the terminal table ([`text`](text())), `compare.md`
//! ([`markdown`](markdown())) and `compare.html` ([`html`](html()), in the shared page
//! shell, with the overlay charts inline), all rendered from a [`Comparison`] and the two
//! [`RunResult`]s, one file per format. This module holds what every format shares: the
//! caveats, the charts, and the words and numbers of a row. Pure functions, data in and
//! bytes out; [`write_all`] is the one place that writes them into a folder.
//!
//! The latencies compared are the runs' response times. When the two runs measured them
//! differently (open against closed model, corrected against raw), or either generator was
//! saturated, or were set up differently (load model, users, rate, duration, targets),
//! [`caveats`] says so, at the top of `compare.md` and `compare.html`.

use std::path::{Path, PathBuf};

use super::charts::overlay::{EndpointP95Chart, P95TimeChart, SpectrumOverlayChart};
use super::charts::{self, Rendered};
use super::text::{fmt_pct, fmt_us};
use super::{Folder, ReportError, plural};
use crate::metrics::compare::{
    Call, Comparison, ErrorComparison, IntervalRate, IntervalUs, MetricComparison, Presence,
    RowComparison, quantile_name, setup_differences, target_differences,
};
use crate::metrics::verdict::Target;
use crate::metrics::{RunResult, RunStatus};

/// File names written, besides one `compare-*.svg` and `compare-*.png` per chart.
pub const HTML_FILE: &str = "compare.html";
pub const MARKDOWN_FILE: &str = "compare.md";
pub const JSON_FILE: &str = "compare.json";

/// Write `compare.json`, `compare.md`, the charts (SVG and PNG) and `compare.html` into
/// `dir` (created if missing). Returns the paths written, in that order.
/// `caveats` (from [`caveats`]) open `compare.md` and `compare.html`.
pub fn write_all(
    dir: &Path,
    base: &RunResult,
    cand: &RunResult,
    c: &Comparison,
    caveats: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Folder::create(dir)?;
    let mut json = serde_json::to_vec_pretty(c).map_err(|e| ReportError::Write {
        path: dir.join(JSON_FILE),
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    out.write(JSON_FILE, &json)?;
    out.write(MARKDOWN_FILE, markdown_with(c, caveats).as_bytes())?;
    let charts = render_charts(base, cand, c)?;
    out.write_charts(&charts)?;
    out.write(HTML_FILE, html_with(c, &charts, caveats).as_bytes())?;
    Ok(out.written)
}

/// What a reader must know before comparing the two runs: that they were set up
/// differently (load model, users, arrival rate, planned duration: see
/// [`setup_differences`]), were judged by different targets (`targets`, each run's
/// `targets.json` when both are known), show different response times (corrected against
/// raw), or that a generator was saturated. Empty when the runs compare like for like.
pub fn caveats(
    base: &RunResult,
    cand: &RunResult,
    targets: Option<(&[Target], &[Target])>,
) -> Vec<String> {
    let mut out = setup_differences(base, cand);
    let models_differ = super::is_open(base) != super::is_open(cand);
    // What each run's `response_time` is; old runs (no basis) are raw, closed-model times.
    fn basis(r: &RunResult) -> &str {
        match r.run.response_time_basis.as_str() {
            "" if r.run.model == "open" => "intended_start",
            "" => "raw",
            b => b,
        }
    }
    let (b, c) = (basis(base), basis(cand));
    // Different load models already say that response time means different things.
    if b != c && !models_differ {
        let what = |r: &RunResult, k: &str| match k {
            "raw" => "raw response times (no coordinated-omission correction: an older Skein)"
                .to_string(),
            _ => format!("{} ({} model)", super::response_time_label(r), r.run.model),
        };
        out.push(format!(
            "the runs measure response time differently: the baseline shows {}, the candidate \
             {}; latency deltas mix the two",
            what(base, b),
            what(cand, c)
        ));
    }
    if let Some(t) = targets.and_then(|(b, c)| target_differences(b, c)) {
        out.push(t);
    }
    for (side, r) in [("baseline", base), ("candidate", cand)] {
        if r.run.generator_health.as_ref().is_some_and(|h| h.saturated) {
            out.push(format!(
                "the {side}'s generator was saturated: its {}",
                super::SATURATION_HEADLINE
            ));
        }
    }
    out
}

/// The comparison's charts, in page order.
pub fn render_charts(
    base: &RunResult,
    cand: &RunResult,
    c: &Comparison,
) -> Result<Vec<Rendered>, ReportError> {
    Ok(vec![
        charts::render(&EndpointP95Chart::new(c))?,
        charts::render(&P95TimeChart::new(base, cand))?,
        charts::render(&SpectrumOverlayChart::new(base, cand))?,
    ])
}

// ---- words and numbers shared by every format ----------------------------------------

/// The gated quantiles: `p95`, `p95 and p99`.
/// The quantile the overview tables show: the first gated one (p95 unless told).
fn headline_quantile(c: &Comparison) -> String {
    (c.options.gated.first())
        .map(|q| quantile_name(*q))
        .unwrap_or_else(|| "p95".into())
}

fn gated_names(c: &Comparison) -> String {
    let names: Vec<String> = c.options.gated.iter().map(|q| quantile_name(*q)).collect();
    match names.len() {
        0 => "no quantile".into(),
        1 => names[0].clone(),
        _ => format!(
            "{} and {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ),
    }
}

/// The rules in one paragraph.
fn rules(c: &Comparison) -> String {
    let o = &c.options;
    format!(
        "A gated quantile ({}) regresses when the candidate's is more than {} higher, by more \
         than {}, and their {:.0} % confidence intervals do not overlap (order statistics with \
         n_eff = {} × the endpoint's non-empty seconds, capped at its samples: requests in the \
         same second are not independent). The error rate regresses when it is more than {} \
         higher, by at least {:.2} percentage points, and a one-sided two-proportion z-test \
         gives p < {}. Improvements follow the same rules and never fail the comparison.",
        gated_names(c),
        super::trim_zeros(&format!("{:.1}%", o.tolerance * 100.0)),
        fmt_us(o.min_delta_us),
        confidence(o.z) * 100.0,
        o.samples_per_interval,
        super::trim_zeros(&format!("{:.1}%", o.tolerance * 100.0)),
        o.error_min_delta * 100.0,
        o.error_alpha,
    )
}

/// Two-sided confidence of `z`: 1.96 -> 0.95.
fn confidence(z: f64) -> f64 {
    2.0 * crate::metrics::stats::normal_cdf(z) - 1.0
}

fn opt_us(v: Option<u64>) -> String {
    v.map(fmt_us).unwrap_or_else(|| "-".into())
}

fn signed_us(d: Option<i64>) -> String {
    match d {
        Some(d) if d < 0 => format!("-{}", fmt_us(d.unsigned_abs())),
        Some(d) => format!("+{}", fmt_us(d as u64)),
        None => "-".into(),
    }
}

fn rel(r: Option<f64>) -> String {
    r.map(|r| format!("{:+.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn ci_us(ci: Option<IntervalUs>) -> String {
    ci.map(|i| format!("{} – {}", fmt_us(i.lo), fmt_us(i.hi)))
        .unwrap_or_else(|| "-".into())
}

fn rate(r: Option<f64>) -> String {
    r.map(fmt_pct).unwrap_or_else(|| "-".into())
}

fn ci_rate(ci: Option<IntervalRate>) -> String {
    ci.map(|i| format!("{} – {}", fmt_pct(i.lo), fmt_pct(i.hi)))
        .unwrap_or_else(|| "-".into())
}

fn pp(d: Option<f64>) -> String {
    d.map(|d| format!("{:+.2} pp", d * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The first gated metric of a row (p95 by default), else its p95.
fn headline(r: &RowComparison) -> Option<&MetricComparison> {
    r.latency
        .iter()
        .find(|m| m.gated)
        .or_else(|| r.metric("p95"))
}

/// What a row comes to, in a few words: `REGRESSION: p95, error rate`, `within noise`.
pub fn row_verdict(r: &RowComparison) -> String {
    let flagged = |pick: fn(&MetricComparison) -> bool, errors: bool| {
        let mut what: Vec<&str> = r
            .latency
            .iter()
            .filter(|m| pick(m))
            .map(|m| m.metric.as_str())
            .collect();
        if errors {
            what.push("error rate");
        }
        what.join(", ")
    };
    match r.presence {
        Presence::Added => return "added (not compared)".into(),
        Presence::Removed => return "removed (not compared)".into(),
        Presence::Both => {}
    }
    if r.regression {
        format!(
            "REGRESSION: {}",
            flagged(|m| m.regression, r.error_rate.regression)
        )
    } else if r.improvement {
        format!(
            "improvement: {}",
            flagged(|m| m.improvement, r.error_rate.improvement)
        )
    } else {
        headline(r)
            .map(|m| m.call)
            .unwrap_or(Call::NoData)
            .as_str()
            .into()
    }
}

fn rows(c: &Comparison) -> impl Iterator<Item = &RowComparison> {
    c.endpoints.iter().chain(std::iter::once(&c.overall))
}

fn run_line(r: &crate::metrics::compare::RunRef) -> String {
    let status = match r.status {
        RunStatus::Complete => String::new(),
        RunStatus::Interrupted => ", interrupted".into(),
        RunStatus::Running => ", not finished".into(),
    };
    format!(
        "{} (started {}, {:.1}s, {}{status})",
        r.id,
        r.started_at,
        r.duration_us as f64 / 1e6,
        plural(r.requests, "request")
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn error_verdict(e: &ErrorComparison) -> String {
    let mut w = e.call.as_str().to_string();
    if let (Some(z), Some(p), Some(d)) = (e.z, e.p_value, e.delta)
        && e.call != Call::NotGated
        && d != 0.0
    {
        let p = if p < 0.001 {
            "p < 0.001".into()
        } else {
            format!("p = {p:.3}")
        };
        w.push_str(&format!(" (z = {z:.2}, {p})"));
    }
    w
}

mod html;
mod markdown;
mod text;

pub use html::{html, html_with};
pub use markdown::{markdown, markdown_with};
pub use text::{text, verdict_lines};

#[cfg(test)]
mod tests;
