//! Two runs compared, for people: the terminal table, `compare.md` (a pull request or a CI
//! job summary) and `compare.html` (self-contained, with the overlay charts inline), all
//! rendered from a [`Comparison`] and the two [`RunResult`]s. Pure functions, data in and
//! bytes out; [`write_all`] is the one place that writes them into a folder.
//!
//! The latencies compared are the runs' response times. When the two runs measured them
//! differently (open against closed model, corrected against raw), or either generator was
//! saturated, or were set up differently (load model, users, rate, duration, targets),
//! [`caveats`] says so, at the top of `compare.md` and `compare.html`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::charts::overlay::{EndpointP95Chart, P95TimeChart, SpectrumOverlayChart};
use super::charts::{self, Rendered};
use super::text::{fmt_pct, fmt_us};
use super::{Folder, ReportError, escape_xml as esc, plural};
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
    2.0 * crate::metrics::compare::normal_cdf(z) - 1.0
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

// ---- terminal -------------------------------------------------------------------------

/// The table printed by `skein compare`: endpoint, gated quantile base -> candidate, delta,
/// error rate base -> candidate, verdict.
pub fn text(c: &Comparison) -> String {
    let q = c
        .options
        .gated
        .first()
        .map(|q| quantile_name(*q))
        .unwrap_or_else(|| "p95".into());
    let header = [
        "endpoint".to_string(),
        format!("{q} base → cand"),
        "delta".into(),
        "errors base → cand".into(),
        "verdict".into(),
    ];
    let mut table = vec![header];
    for r in rows(c) {
        let m = r.metric(&q);
        table.push([
            r.name.clone(),
            format!(
                "{} → {}",
                opt_us(m.and_then(|m| m.base_us)),
                opt_us(m.and_then(|m| m.candidate_us))
            ),
            m.map(|m| rel(m.delta_rel)).unwrap_or_else(|| "-".into()),
            format!(
                "{} → {}",
                rate(r.error_rate.base_rate),
                rate(r.error_rate.candidate_rate)
            ),
            row_verdict(r),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let last = table.len() - 1;
    for (n, r) in table.iter().enumerate() {
        if n == last {
            let total: usize = widths.iter().sum::<usize>() + 2 * 4;
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            match i {
                0 | 4 => line.push_str(&format!("{cell}{pad}")),
                _ => line.push_str(&format!("{pad}{cell}")),
            }
            if i < 4 {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The outcome for the terminal: each regression, improvement and note, then one line.
pub fn verdict_lines(c: &Comparison) -> String {
    let v = &c.verdict;
    let mut s = String::new();
    for r in &v.reasons {
        let _ = writeln!(s, "  REGRESSION  {r}");
    }
    for r in &v.improvements {
        let _ = writeln!(s, " improvement  {r}");
    }
    for n in &v.notes {
        let _ = writeln!(s, "        note  {n}");
    }
    if v.regressed {
        let _ = writeln!(
            s,
            "compare: REGRESSION ({} found) against baseline {}",
            v.reasons.len(),
            c.baseline.id
        );
    } else {
        let _ = writeln!(
            s,
            "compare: no regression against baseline {}",
            c.baseline.id
        );
    }
    s
}

// ---- Markdown -------------------------------------------------------------------------

/// `compare.md`.
pub fn markdown(c: &Comparison) -> String {
    markdown_with(c, &[])
}

/// `compare.md` with the [`caveats`] of the two runs under its title.
pub fn markdown_with(c: &Comparison, caveats: &[String]) -> String {
    let v = &c.verdict;
    let mut s = String::new();
    let (icon, word) = if v.regressed {
        ("❌", "regression")
    } else {
        ("✅", "no regression")
    };
    let _ = writeln!(s, "## {icon} Skein comparison: {word}\n");
    for n in caveats {
        let _ = writeln!(
            s,
            "> [!WARNING]\n> {}\n",
            super::markdown::cell(&capitalise(n))
        );
    }
    let _ = writeln!(
        s,
        "Baseline: `{}`  ",
        super::markdown::code(&run_line(&c.baseline))
    );
    let _ = writeln!(
        s,
        "Candidate: `{}`\n",
        super::markdown::code(&run_line(&c.candidate))
    );
    if v.regressed {
        let _ = writeln!(s, "**{}:**\n", plural(v.reasons.len() as u64, "regression"));
        for r in &v.reasons {
            let _ = writeln!(s, "- {}", super::markdown::cell(r));
        }
        s.push('\n');
    }
    if !v.improvements.is_empty() {
        s.push_str("Improvements (informational):\n\n");
        for r in &v.improvements {
            let _ = writeln!(s, "- {}", super::markdown::cell(r));
        }
        s.push('\n');
    }
    let q = c
        .options
        .gated
        .first()
        .map(|q| quantile_name(*q))
        .unwrap_or_else(|| "p95".into());
    s.push_str("### Overview\n\n");
    let _ = writeln!(
        s,
        "| endpoint | {q} baseline | {q} candidate | delta | errors baseline | errors candidate | verdict |"
    );
    s.push_str("|---|--:|--:|--:|--:|--:|---|\n");
    for r in rows(c) {
        let m = r.metric(&q);
        let name = if std::ptr::eq(r, &c.overall) {
            format!("**{}**", super::markdown::cell(&r.name))
        } else {
            super::markdown::cell(&r.name)
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            opt_us(m.and_then(|m| m.base_us)),
            opt_us(m.and_then(|m| m.candidate_us)),
            m.map(|m| rel(m.delta_rel)).unwrap_or_else(|| "-".into()),
            rate(r.error_rate.base_rate),
            rate(r.error_rate.candidate_rate),
            md_verdict(&row_verdict(r)),
        );
    }
    for r in rows(c) {
        let mark = if r.regression { " ❌" } else { "" };
        let _ = writeln!(s, "\n### {}{mark}\n", super::markdown::cell(&r.name));
        s.push_str(
            "| metric | baseline | candidate | delta | delta % | baseline CI | candidate CI | verdict |\n",
        );
        s.push_str("|---|--:|--:|--:|--:|--:|--:|---|\n");
        for m in &r.latency {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                m.metric,
                opt_us(m.base_us),
                opt_us(m.candidate_us),
                signed_us(m.delta_us),
                rel(m.delta_rel),
                ci_us(m.base_ci_us),
                ci_us(m.candidate_ci_us),
                md_verdict(m.call.as_str()),
            );
        }
        let e = &r.error_rate;
        let _ = writeln!(
            s,
            "| error rate | {} | {} | {} | {} | {} | {} | {} |",
            rate(e.base_rate),
            rate(e.candidate_rate),
            pp(e.delta),
            rel(e.delta_rel),
            ci_rate(e.base_ci),
            ci_rate(e.candidate_ci),
            md_verdict(&error_verdict(e)),
        );
        if let (Some(b), Some(cd)) = (&r.base, &r.candidate) {
            let _ = writeln!(
                s,
                "\n<sub>samples: {} vs {} responses over {} vs {} non-empty seconds; n_eff {} vs {}</sub>",
                b.responses, cd.responses, b.intervals, cd.intervals, b.n_eff, cd.n_eff
            );
        }
    }
    if !v.notes.is_empty() {
        s.push_str("\n### Notes\n\n");
        for n in &v.notes {
            let _ = writeln!(s, "- {}", super::markdown::cell(n));
        }
    }
    let _ = writeln!(s, "\n<sub>{}</sub>", super::markdown::cell(&rules(c)));
    s.push_str("\n<sub>Charts and the full comparison: `compare.html`.</sub>\n");
    s
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

fn md_verdict(w: &str) -> String {
    if w.starts_with("REGRESSION") || w == "regression" {
        format!("**{}**", super::markdown::cell(w))
    } else {
        super::markdown::cell(w)
    }
}

// ---- HTML -----------------------------------------------------------------------------

const CSS: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0; display: inline; }
.sub { color: var(--muted); margin: 0 0 18px; }
.callout { border-left: 4px solid var(--warn); background: #fff8c5; padding: 10px 14px;
  margin: 12px 0; border-radius: 4px; }
.banner { border-radius: 8px; padding: 16px 20px; margin: 16px 0; font-size: 20px; font-weight: 600;
  border: 2px solid; }
.banner small, .banner li { font-size: 14px; font-weight: 400; }
.banner ul { margin: 6px 0 0; padding-left: 20px; }
.banner.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.banner.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
tr.regressed td { background: #fff5f5; }
table.facts th { width: 160px; background: none; color: var(--muted); font-weight: 500; }
.regression { color: var(--fail); font-weight: 700; } .improvement { color: var(--pass); font-weight: 600; }
.worse { color: var(--fail); } .better { color: var(--pass); }
.muted, .detail { color: var(--muted); font-size: 13px; }
details { margin: 10px 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
summary { cursor: pointer; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; font-size: 13px; }
figure { margin: 0 0 28px; }
figure svg { display: block; width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; }
"#;

/// `compare.html` with the charts already drawn (their SVG inlined; the files beside it
/// linked).
pub fn html(c: &Comparison, charts: &[Rendered]) -> String {
    html_with(c, charts, &[])
}

/// `compare.html` with the [`caveats`] of the two runs above the verdict.
pub fn html_with(c: &Comparison, charts: &[Rendered], caveats: &[String]) -> String {
    let mut s = String::with_capacity(256 * 1024);
    let title = format!(
        "Skein comparison: {} against {}",
        c.candidate.name, c.baseline.name
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        s,
        "<table class=\"facts\"><tr><th>Baseline</th><td><code>{}</code></td></tr>\
         <tr><th>Candidate</th><td><code>{}</code></td></tr></table>",
        esc(&run_line(&c.baseline)),
        esc(&run_line(&c.candidate))
    );
    for n in caveats {
        let _ = writeln!(s, "<div class=\"callout\">{}</div>", esc(&capitalise(n)));
    }
    html_banner(&mut s, c);
    html_overview(&mut s, c);
    super::html::chart_section(&mut s, charts, "page");
    s.push_str("<h2 id=\"details\">By endpoint</h2>\n");
    for r in rows(c) {
        html_row_details(&mut s, r);
    }
    if !c.verdict.notes.is_empty() {
        s.push_str("<h2 id=\"notes\">Notes</h2>\n<ul>\n");
        for n in &c.verdict.notes {
            let _ = writeln!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>\n");
    }
    let _ = writeln!(
        s,
        "<h2 id=\"rules\">How regressions are called</h2>\n<p class=\"detail\">{}</p>",
        esc(&rules(c))
    );
    let _ = writeln!(
        s,
        "<footer>Written by skein {} from the two runs' <code>result.json</code>; the numbers \
         are also in <code>{JSON_FILE}</code>.</footer>",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str("</main>\n</body>\n</html>\n");
    s
}

fn html_banner(s: &mut String, c: &Comparison) {
    let v = &c.verdict;
    if v.regressed {
        let _ = writeln!(
            s,
            "<div class=\"banner fail\" id=\"verdict\">REGRESSION<small> · {} found</small><ul>",
            v.reasons.len()
        );
        for r in &v.reasons {
            let _ = writeln!(s, "<li>{}</li>", esc(r));
        }
        s.push_str("</ul></div>\n");
    } else {
        let _ = writeln!(
            s,
            "<div class=\"banner pass\" id=\"verdict\">NO REGRESSION<small> · gated: {}, error rate</small></div>",
            esc(&gated_names(c))
        );
    }
    if !v.improvements.is_empty() {
        s.push_str("<p class=\"improvement\">Improvements (informational):</p>\n<ul>\n");
        for r in &v.improvements {
            let _ = writeln!(s, "<li>{}</li>", esc(r));
        }
        s.push_str("</ul>\n");
    }
}

fn verdict_class(w: &str) -> &'static str {
    if w.starts_with("REGRESSION") || w.starts_with("regression") {
        "regression"
    } else if w.starts_with("improvement") {
        "improvement"
    } else {
        "muted"
    }
}

fn delta_class(d: Option<i64>) -> &'static str {
    match d {
        Some(d) if d > 0 => "worse",
        Some(d) if d < 0 => "better",
        _ => "",
    }
}

fn html_overview(s: &mut String, c: &Comparison) {
    let q = c
        .options
        .gated
        .first()
        .map(|q| quantile_name(*q))
        .unwrap_or_else(|| "p95".into());
    let _ = writeln!(
        s,
        "<h2 id=\"overview\">Overview</h2>\n<table>\n<thead><tr><th>endpoint</th>\
         <th class=\"num\">{q} baseline</th><th class=\"num\">{q} candidate</th>\
         <th class=\"num\">delta</th><th class=\"num\">errors baseline</th>\
         <th class=\"num\">errors candidate</th><th>verdict</th></tr></thead>\n<tbody>"
    );
    for r in rows(c) {
        let m = r.metric(&q);
        let mut class = Vec::new();
        if r.regression {
            class.push("regressed");
        }
        if std::ptr::eq(r, &c.overall) {
            class.push("total");
        }
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{}\"", class.join(" "))
        };
        let w = row_verdict(r);
        let _ = writeln!(
            s,
            "<tr{class}><td><a href=\"#{id}\">{}</a></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num {}\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&r.name),
            opt_us(m.and_then(|m| m.base_us)),
            opt_us(m.and_then(|m| m.candidate_us)),
            delta_class(m.and_then(|m| m.delta_us)),
            m.map(|m| rel(m.delta_rel)).unwrap_or_else(|| "-".into()),
            rate(r.error_rate.base_rate),
            rate(r.error_rate.candidate_rate),
            verdict_class(&w),
            esc(&w),
            id = anchor(&r.name),
        );
    }
    s.push_str("</tbody>\n</table>\n");
}

/// An `id` for a row's section: letters and digits kept, anything else `-`.
fn anchor(name: &str) -> String {
    let a: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("ep-{a}")
}

fn html_row_details(s: &mut String, r: &RowComparison) {
    let w = row_verdict(r);
    let _ = writeln!(
        s,
        "<details id=\"{}\"{}><summary><h3>{}</h3> · <span class=\"{}\">{}</span></summary>",
        anchor(&r.name),
        if r.regression { " open" } else { "" },
        esc(&r.name),
        verdict_class(&w),
        esc(&w)
    );
    s.push_str(
        "<table>\n<thead><tr><th>metric</th><th class=\"num\">baseline</th>\
         <th class=\"num\">candidate</th><th class=\"num\">delta</th><th class=\"num\">delta %</th>\
         <th class=\"num\">baseline CI</th><th class=\"num\">candidate CI</th><th>verdict</th></tr></thead>\n<tbody>\n",
    );
    for m in &r.latency {
        let row = if m.regression {
            " class=\"regressed\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<tr{row}><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num {dc}\">{}</td><td class=\"num {dc}\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&m.metric),
            if m.gated {
                " <small>(gated)</small>"
            } else {
                ""
            },
            opt_us(m.base_us),
            opt_us(m.candidate_us),
            signed_us(m.delta_us),
            rel(m.delta_rel),
            esc(&ci_us(m.base_ci_us)),
            esc(&ci_us(m.candidate_ci_us)),
            verdict_class(m.call.as_str()),
            m.call.as_str(),
            dc = delta_class(m.delta_us),
        );
    }
    let e = &r.error_rate;
    let ev = error_verdict(e);
    let dc = match e.delta {
        Some(d) if d > 0.0 => "worse",
        Some(d) if d < 0.0 => "better",
        _ => "",
    };
    let _ = writeln!(
        s,
        "<tr{}><td>error rate</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num {dc}\">{}</td><td class=\"num {dc}\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
        if e.regression {
            " class=\"regressed\""
        } else {
            ""
        },
        rate(e.base_rate),
        rate(e.candidate_rate),
        pp(e.delta),
        rel(e.delta_rel),
        esc(&ci_rate(e.base_ci)),
        esc(&ci_rate(e.candidate_ci)),
        verdict_class(&ev),
        esc(&ev),
    );
    s.push_str("</tbody>\n</table>\n");
    let side = |x: &Option<crate::metrics::compare::Side>| {
        x.as_ref()
            .map(|x| {
                format!(
                    "{}, {} over {}, n_eff {}",
                    plural(x.requests, "request"),
                    plural(x.responses, "response"),
                    plural(x.intervals, "non-empty second"),
                    x.n_eff
                )
            })
            .unwrap_or_else(|| "not in this run".into())
    };
    let _ = writeln!(
        s,
        "<p class=\"detail\">baseline: {} · candidate: {}</p>\n</details>",
        esc(&side(&r.base)),
        esc(&side(&r.candidate))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::compare::{CompareOptions, compare};

    fn fixture() -> RunResult {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/report-fixture");
        crate::metrics::load_result(&dir).unwrap()
    }

    #[test]
    fn identical_runs_render_no_regression() {
        let r = fixture();
        let c = compare(&r, &r, &CompareOptions::default());
        let t = text(&c);
        assert!(t.starts_with("endpoint"), "{t}");
        assert!(t.contains("POST /api/cart"), "{t}");
        assert!(t.lines().last().unwrap().starts_with("all requests"), "{t}");
        assert!(t.contains("within tolerance"), "{t}");
        let md = markdown(&c);
        assert!(
            md.starts_with("## ✅ Skein comparison: no regression"),
            "{md}"
        );
        assert!(md.contains("| p95 |"));
        assert!(verdict_lines(&c).contains("no regression"));
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let mut r = fixture();
        r.steps[0].name = "GET /<script>".into();
        let c = compare(&r, &r, &CompareOptions::default());
        let charts = render_charts(&r, &r, &c).unwrap();
        assert_eq!(charts.len(), 3);
        for ch in &charts {
            assert!(ch.svg.starts_with("<svg"), "{}", ch.name);
            assert!(ch.png.starts_with(b"\x89PNG"), "{}", ch.name);
        }
        let h = html(&c, &charts);
        assert!(h.contains("GET /&lt;script&gt;"));
        assert!(!h.contains("<script"));
        assert_eq!(h.matches("<svg").count(), 3);
        assert!(h.contains("NO REGRESSION"));
    }
}

#[cfg(test)]
mod caveat_tests {
    use super::*;
    use crate::metrics::verdict::{Metric, Op, Scope, Unit};
    use crate::report::fixtures;

    #[test]
    fn runs_measured_alike_have_no_caveat() {
        let (a, _) = fixtures::closed();
        assert!(caveats(&a, &a, None).is_empty());
        let (old, _) = fixtures::old();
        assert!(caveats(&old, &old, None).is_empty());
        let t = [target("p95 < 100ms")];
        assert!(caveats(&a, &a, Some((&t, &t))).is_empty());
    }

    #[test]
    fn different_response_times_and_saturation_are_named() {
        let (old, _) = fixtures::old();
        let (closed, _) = fixtures::closed();
        let n = caveats(&old, &closed, None);
        assert_eq!(n.len(), 1, "{n:#?}");
        assert!(
            n[0].contains("the baseline shows raw response times"),
            "{}",
            n[0]
        );
        assert!(n[0].contains(
            "the candidate response time (corrected for coordinated omission) (closed model)"
        ));
        let c = crate::metrics::compare::compare(&old, &closed, &Default::default());
        let md = markdown_with(&c, &n);
        assert!(md.contains("> [!WARNING]\n> The runs measure response time differently"));
        assert!(!markdown(&c).contains("[!WARNING]"));

        // A closed run against a saturated open one: the model, then the saturation.
        let (open, _) = fixtures::saturated();
        let n = caveats(&old, &open, None);
        assert_eq!(n.len(), 2, "{n:#?}");
        assert_eq!(
            n[0],
            "the runs used different load models: the baseline closed, 50 users, the \
             candidate open, 130/s; what response time measures and the load the target saw \
             differ, so the deltas mix the two"
        );
        assert!(n[1].starts_with("the candidate's generator was saturated"));
    }

    fn target(expression: &str) -> Target {
        Target {
            expression: expression.into(),
            source: "scenario".into(),
            metric: Metric::ResponseTime,
            aggregate: None,
            scope: Scope::Overall,
            after_us: None,
            op: Op::Lt,
            threshold: 1.0,
            unit: Unit::Us,
            abort_on_fail: false,
            grace_us: None,
            baseline: None,
            improvement_goal_pct: None,
        }
    }

    /// Issue 12, defect 11: `compare` said nothing when the two runs had different users,
    /// arrival rates, durations or targets; each is a caveat now, at the top of
    /// `compare.md` and `compare.html` (and a `warning:` line from the CLI).
    #[test]
    fn issue_12_different_users_rates_durations_and_targets_are_named() {
        let (base, _) = fixtures::closed();
        let mut cand = base.clone();
        cand.run.max_users = 100;
        cand.run.planned_duration_us = 90_000_000;
        let n = caveats(&base, &cand, None);
        assert_eq!(
            n,
            [
                "the runs had different numbers of users: 50 in the baseline, 100 in the \
                 candidate; latency and throughput depend on the load, so the deltas do not \
                 compare like for like",
                "the runs were planned for different durations: 1m in the baseline, 1m30s in \
                 the candidate; a longer run reaches further into the tail, so high \
                 percentiles do not compare like for like"
            ]
        );

        let (base, _) = fixtures::open();
        let mut cand = base.clone();
        if let Some(o) = cand.run.open_model.as_mut() {
            o.peak_rate = 262.5;
            o.max_users = 500;
        }
        cand.run.max_users = 500;
        let n = caveats(&base, &cand, None);
        assert_eq!(n.len(), 1, "{n:#?}");
        assert!(
            n[0].starts_with(
                "the runs had different arrival rates: 130/s in the baseline, 262.5/s in the \
                 candidate;"
            ),
            "{}",
            n[0]
        );

        let (base, _) = fixtures::closed();
        let a = [target("p95 < 100ms"), target("error_rate < 1%")];
        let b = [
            target("error_rate < 1%"),
            target("p99 < 250ms"),
            target("p50 < 20ms"),
            target("p90 < 50ms"),
            target("max < 1s"),
        ];
        let n = caveats(&base, &base, Some((&a, &b)));
        assert_eq!(
            n,
            [
                "the runs were judged by different targets: only the baseline had `p95 < \
                 100ms`; only the candidate had `p99 < 250ms`, `p50 < 20ms`, `p90 < 50ms`, 1 \
                 more; their verdicts do not compare"
            ]
        );
        let n = caveats(&base, &base, Some((&[], &a)));
        assert!(
            n[0].contains("the baseline had none; only the candidate had `p95 < 100ms`"),
            "{n:?}"
        );
        // The same targets in another order are the same targets.
        let rev = [target("error_rate < 1%"), target("p95 < 100ms")];
        assert!(caveats(&base, &base, Some((&a, &rev))).is_empty());

        let c = crate::metrics::compare::compare(&base, &base, &Default::default());
        let md = markdown_with(&c, &n);
        assert!(
            md.contains("> [!WARNING]\n> The runs were judged by different targets"),
            "{md}"
        );
        let html = html_with(&c, &[], &n);
        assert!(html.contains("<div class=\"callout\">The runs were judged by different targets"));
    }
}
