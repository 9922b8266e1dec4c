//! A capacity analysis for people: the terminal tables, a Markdown and an HTML section
//! (which a run's `report.md` / `report.html` can include, or which stand alone as
//! `capacity.md` / `capacity.html`), all rendered from a [`CapacityReport`]. Pure
//! functions, data in and bytes out; [`write_all`] is the one place that writes them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::charts::bottleneck::BottleneckChart;
use super::charts::capacity::{LatencyLoadChart, StepSpectrumChart, UslChart};
use super::charts::{self, Rendered};
use super::text::{fmt_pct, fmt_us};
use super::{Folder, ReportError, escape_xml as esc, plural};
use crate::capacity::{CapacityPlan, CapacityReport, LoadModel, StepAnalysis, UslFit};

/// File names written, besides one `capacity-*.svg` and `capacity-*.png` per chart.
pub const JSON_FILE: &str = "capacity.json";
pub const HTML_FILE: &str = "capacity.html";
pub const MARKDOWN_FILE: &str = "capacity.md";

/// Write `capacity.json`, `capacity.md`, the charts (SVG and PNG) and `capacity.html` into
/// `dir` (created if missing). Returns the paths written, in that order.
pub fn write_all(dir: &Path, r: &CapacityReport) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Folder::create(dir)?;
    let mut json = serde_json::to_vec_pretty(r).map_err(|e| ReportError::Write {
        path: dir.join(JSON_FILE),
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    out.write(JSON_FILE, &json)?;
    out.write(MARKDOWN_FILE, markdown(r).as_bytes())?;
    let charts = render_charts(r)?;
    out.write_charts(&charts)?;
    out.write(HTML_FILE, html(r, &charts).as_bytes())?;
    Ok(out.written)
}

/// The capacity charts, in page order; the per-step spectra only when a step has a
/// histogram (a run's steps, not a table's rows).
pub fn render_charts(r: &CapacityReport) -> Result<Vec<Rendered>, ReportError> {
    let mut out = vec![
        charts::render(&UslChart::new(r))?,
        charts::render(&LatencyLoadChart::new(r))?,
    ];
    if StepSpectrumChart::has_data(r) {
        out.push(charts::render(&StepSpectrumChart::new(r))?);
    }
    if BottleneckChart::has_data(r) {
        out.push(charts::render(&BottleneckChart::new(r))?);
    }
    Ok(out)
}

// ---- words and numbers shared by every format ----------------------------------------

/// `32` or `12.5`.
fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 && v.abs() < 1e15 {
        format!("{}", v.round())
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn rate(v: f64) -> String {
    format!("{v:.1}/s")
}

fn opt_us(v: Option<u64>) -> String {
    v.map(fmt_us).unwrap_or_else(|| "-".into())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A parameter with its standard error: `0.02672 ± 0.00105`.
fn with_se(v: String, se: Option<f64>, fmt: fn(f64) -> String) -> String {
    match se {
        Some(e) => format!("{v} ± {}", fmt(e)),
        None => v,
    }
}

fn sci(v: f64) -> String {
    format!("{v:.4e}")
}

fn fixed4(v: f64) -> String {
    format!("{v:.5}")
}

fn fixed1(v: f64) -> String {
    format!("{v:.2}")
}

/// What the report is about, in a line.
fn scope_line(r: &CapacityReport) -> String {
    let model = match r.model {
        LoadModel::Closed => "closed model, load in users",
        LoadModel::Open => "open model, load in offered requests/s",
    };
    let slo = match r.slo_p95_us {
        Some(s) => format!("SLO p95 <= {}", fmt_us(s)),
        None => "no p95 SLO".into(),
    };
    format!(
        "{} from {} ({model}); {slo}, error rate <= {}",
        plural(r.steps.len() as u64, "step"),
        r.source,
        fmt_pct(r.max_error_rate)
    )
}

/// The headline: the maximum sustainable load.
fn headline(r: &CapacityReport) -> String {
    let unit = r.model.unit();
    match &r.max_sustainable {
        Some(m) => format!(
            "Maximum sustainable load: {} {unit} at {}{}{}",
            num(m.load),
            rate(m.throughput),
            m.p95_us
                .map(|p| format!(", p95 {}", fmt_us(p)))
                .unwrap_or_default(),
            if m.interpolated {
                " (interpolated)"
            } else {
                ""
            }
        ),
        None => "No step was sustainable".into(),
    }
}

/// (label, value, note) rows of the model.
fn model_rows(u: &UslFit) -> Vec<(&'static str, String, String)> {
    let mut rows = vec![
        (
            "σ (contention)",
            with_se(fixed4(u.sigma), u.sigma_se, fixed4),
            format!("{}-bound", u.bound),
        ),
        (
            "κ (coherency)",
            with_se(sci(u.kappa), u.kappa_se, sci),
            String::new(),
        ),
        (
            "λ (one user)",
            with_se(fixed1(u.lambda), u.lambda_se, fixed1),
            "requests/s at N = 1".into(),
        ),
        (
            "fit",
            format!("R² {:.4}, MAPE {}", u.r2, fmt_pct(u.mape)),
            format!(
                "{}, RMSE {:.1}/s, {}",
                plural(u.points as u64, "point"),
                u.rmse,
                plural(u.iterations.into(), "iteration")
            ),
        ),
    ];
    rows.push(match (u.peak_concurrency, u.peak_throughput) {
        (Some(n), Some(x)) => (
            "peak N*",
            format!("{n:.2} ({} whole)", n.floor()),
            format!("peak throughput {}", rate(x)),
        ),
        _ => (
            "peak N*",
            "none".into(),
            "κ = 0: throughput approaches the Amdahl ceiling".into(),
        ),
    });
    rows.push((
        "Amdahl ceiling",
        u.amdahl_ceiling
            .map(rate)
            .unwrap_or_else(|| "none (σ = 0)".into()),
        "λ/σ".into(),
    ));
    if let Some(h) = u.holdout_error {
        rows.push((
            "hold-out",
            fmt_pct(h),
            "error predicting the top step from the others".into(),
        ));
    }
    rows
}

/// (label, value) rows of the plan.
fn plan_rows(r: &CapacityReport, p: &CapacityPlan) -> Vec<(&'static str, String)> {
    let unit = match p.basis.as_deref() {
        Some("rps") => "requests/s",
        _ => "users",
    };
    let pl = &p.planning;
    let mut rows = Vec::new();
    rows.push((
        "per instance",
        format!(
            "{}{} sustained ({} tested)",
            rate(p.rps_per_instance),
            p.users_per_instance
                .map(|u| format!(", {} users", num(u)))
                .unwrap_or_default(),
            plural(pl.instances_tested.into(), "instance")
        ),
    ));
    if let (Some(now), Some(h)) = (p.peak_now, p.peak_at_horizon) {
        rows.push((
            "expected peak",
            format!(
                "{} {unit} now, {} in {} months at {} a month",
                num(now),
                num(h),
                num(pl.months),
                fmt_pct(pl.growth_per_month)
            ),
        ));
    }
    if let Some(n) = p.instances_needed {
        rows.push((
            "instances needed",
            format!(
                "{n} (with {} headroom{})",
                fmt_pct(pl.headroom),
                if pl.redundancy > 0 {
                    format!(", N+{}", pl.redundancy)
                } else {
                    String::new()
                }
            ),
        ));
    }
    if let Some(h) = p.headroom_now {
        rows.push(("headroom now", fmt_headroom(h)));
    }
    match (p.runway_months, p.peak_now) {
        (Some(m), _) if m <= 0.0 => rows.push((
            "runway",
            "none: the peak already exceeds what the tested instances sustain".into(),
        )),
        (Some(m), _) => rows.push(("runway", format!("{m:.1} months"))),
        (None, Some(_)) => rows.push(("runway", "open-ended (no growth)".into())),
        _ => {}
    }
    rows.push((
        "scale out at",
        format!(
            "{} per instance{} ({} of the sustainable load)",
            rate(p.scale_out_rps),
            p.scale_out_users
                .map(|u| format!(" or {} users", num(u)))
                .unwrap_or_default(),
            fmt_pct(p.scale_out_share)
        ),
    ));
    if let Some(c) = p.cost_per_month {
        rows.push(("cost per month", format!("{c:.2}")));
    }
    if let Some(c) = p.cost_per_million_requests {
        rows.push((
            "cost per million requests",
            format!("{c:.4} at the planned peak"),
        ));
    }
    if let Some(c) = p.cost_per_million_at_capacity {
        rows.push((
            "cost per million at capacity",
            format!("{c:.4} (one instance at its sustainable load)"),
        ));
    }
    if let Some(k) = &p.thousand_users {
        rows.push((
            "1000+ concurrent users",
            format!(
                "{}: {} users sustained {}; {} for 1000",
                if k.met { "MET" } else { "NOT MET" },
                num(k.users_sustained),
                if r.slo_p95_us.is_some() {
                    "within the SLO"
                } else {
                    "(no latency SLO given)"
                },
                plural(k.instances_for_1000.into(), "instance")
            ),
        ));
    }
    if r.model == LoadModel::Open && p.thousand_users.is_none() {
        rows.push((
            "1000+ concurrent users",
            "not judged: the load was a rate".into(),
        ));
    }
    rows
}

/// Headroom, or by how much the peak is over capacity when there is none.
fn fmt_headroom(h: f64) -> String {
    if h < 0.0 {
        format!(
            "none: the peak is {:.2}x what the tested instances sustain",
            1.0 - h
        )
    } else {
        fmt_pct(h)
    }
}

/// One row per step: the cells every format shows; `intervals` is [`has_intervals`] of the
/// report, worked out once (per row it made a table of many rows quadratic).
fn step_cells(intervals: bool, s: &StepAnalysis) -> Vec<String> {
    let mut c = vec![
        (s.index + 1).to_string(),
        num(s.load),
        format!("{:.1}", s.concurrency),
        rate(s.throughput),
        opt_us(s.p95_us),
        fmt_pct(s.error_rate),
    ];
    if intervals {
        c.push(format!("{}s", s.warmup_intervals));
        c.push(s.throughput_cv.map(fmt_pct).unwrap_or_else(|| "-".into()));
    }
    c.push(yes_no(s.stable).into());
    c.push(yes_no(s.sustainable).into());
    c.push(s.failures.join("; "));
    c
}

fn step_header(r: &CapacityReport) -> Vec<&'static str> {
    let mut h = vec!["step", r.model.unit(), "N", "throughput", "p95", "errors"];
    if has_intervals(r) {
        h.push("warm-up");
        h.push("CV");
    }
    h.extend(["stable", "sustainable", "why not"]);
    h
}

fn has_intervals(r: &CapacityReport) -> bool {
    r.steps.iter().any(|s| s.intervals > 0)
}

// ---- terminal --------------------------------------------------------------------------

/// The analysis for the terminal: steps, model, capacity, plan, warnings.
pub fn text(r: &CapacityReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "capacity: {}\n", scope_line(r));
    let header: Vec<String> = step_header(r).into_iter().map(String::from).collect();
    let mut rows = vec![header];
    let intervals = has_intervals(r);
    rows.extend(r.steps.iter().map(|st| step_cells(intervals, st)));
    s.push_str(&table(&rows, 1));
    s.push('\n');
    match &r.usl {
        Some(u) => {
            s.push_str("model: Universal Scalability Law\n");
            let rows: Vec<Vec<String>> = model_rows(u)
                .into_iter()
                .map(|(a, b, c)| vec![format!("  {a}"), b, c])
                .collect();
            s.push_str(&table(&rows, usize::MAX));
        }
        None => s.push_str("model: no USL fit (see the warnings)\n"),
    }
    s.push('\n');
    let _ = writeln!(s, "{}", headline(r));
    if let Some(m) = &r.max_sustainable {
        let _ = writeln!(s, "  {}", m.basis);
    }
    match &r.knee {
        Some(k) => {
            let _ = writeln!(
                s,
                "knee of p95: {} {} (p95 {}, {})",
                num(k.load),
                r.model.unit(),
                fmt_us(k.p95_us),
                rate(k.throughput)
            );
        }
        None => s.push_str("knee of p95: none found\n"),
    }
    s.push_str(&super::capacity_models::text(r, |rows| {
        table(rows, usize::MAX)
    }));
    if let Some(p) = &r.plan {
        s.push_str("\nplan\n");
        let rows: Vec<Vec<String>> = plan_rows(r, p)
            .into_iter()
            .map(|(a, b)| vec![format!("  {a}"), b])
            .collect();
        s.push_str(&table(&rows, usize::MAX));
        for m in &p.missing {
            let _ = writeln!(s, "  not worked out: {m}");
        }
    }
    if !r.warnings.is_empty() {
        s.push_str("\nwarnings\n");
        for w in &r.warnings {
            let _ = writeln!(s, "  - {w}");
        }
    }
    s
}

/// Columns padded to their widest cell; columns from `right_from` on are right-aligned
/// except the last, which is free text.
fn table(rows: &[Vec<String>], right_from: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c + 1 == cols {
                line.push_str(cell);
            } else if c >= right_from {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---- Markdown ---------------------------------------------------------------------------

/// `capacity.md`: the section under a title of its own.
pub fn markdown(r: &CapacityReport) -> String {
    let mut s = format!("# Skein capacity: {}\n\n", super::markdown::cell(&r.source));
    s.push_str(&markdown_section(r, 2));
    let _ = writeln!(
        s,
        "\n<sub>{} {} · the numbers are in `{JSON_FILE}`, the charts in `{HTML_FILE}`</sub>",
        r.tool.name, r.tool.version
    );
    s
}

/// The capacity section at heading level `level` (2 for `##`), for `report.md` or
/// `capacity.md`.
pub fn markdown_section(r: &CapacityReport, level: usize) -> String {
    let h = "#".repeat(level.clamp(1, 5));
    let mut s = String::new();
    let _ = writeln!(s, "{h} Capacity\n");
    let _ = writeln!(s, "**{}**\n", super::markdown::cell(&headline(r)));
    let _ = writeln!(s, "{}\n", super::markdown::cell(&scope_line(r)));
    if let Some(m) = &r.max_sustainable {
        let _ = writeln!(s, "{}\n", super::markdown::cell(&capitalise(&m.basis)));
    }
    if let Some(k) = &r.knee {
        let _ = writeln!(
            s,
            "Knee of p95 against load: {} {} (p95 {}, {}).\n",
            num(k.load),
            r.model.unit(),
            fmt_us(k.p95_us),
            rate(k.throughput)
        );
    }
    let header = step_header(r);
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i > 0 && i + 3 < header.len() {
                "---:|"
            } else {
                "---|"
            })
            .collect::<String>()
    );
    let intervals = has_intervals(r);
    for st in &r.steps {
        let cells: Vec<String> = step_cells(intervals, st)
            .iter()
            .map(|c| super::markdown::cell(c))
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(s, "\n{h}# Model\n");
    match &r.usl {
        Some(u) => {
            s.push_str("| | value | note |\n|---|---:|---|\n");
            for (a, b, c) in model_rows(u) {
                let _ = writeln!(
                    s,
                    "| {a} | {} | {} |",
                    super::markdown::cell(&b),
                    super::markdown::cell(&c)
                );
            }
        }
        None => s.push_str("No Universal Scalability Law fit: see the warnings.\n"),
    }
    s.push_str(&super::capacity_models::markdown(r, level));
    if let Some(p) = &r.plan {
        let _ = writeln!(s, "\n{h}# Plan\n");
        s.push_str("| | |\n|---|---|\n");
        for (a, b) in plan_rows(r, p) {
            let _ = writeln!(s, "| {a} | {} |", super::markdown::cell(&b));
        }
        for m in &p.missing {
            let _ = writeln!(
                s,
                "\nNot worked out: {}.",
                super::markdown::cell(&m.to_string())
            );
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\n{h}# Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(s, "- {}", super::markdown::cell(w));
        }
    }
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---- HTML ----------------------------------------------------------------------------

/// `capacity.html` with the charts already drawn (their SVG inlined; the files beside it
/// linked), in the shared page shell.
pub fn html(r: &CapacityReport, charts: &[Rendered]) -> String {
    let mut s = String::with_capacity(128 * 1024);
    super::page::open(&mut s, &format!("Skein capacity: {}", r.source), "");
    html_section(&mut s, r, charts, "page");
    let footer = format!(
        "Written by {} {}; the numbers are also in <code>{JSON_FILE}</code>.",
        esc(&r.tool.name),
        esc(&r.tool.version)
    );
    super::page::close(&mut s, &footer);
    s
}

/// The capacity section (`<h2 id="capacity">` and below), for `report.html` or
/// `capacity.html`; `page` names the page in the chart captions.
pub fn html_section(s: &mut String, r: &CapacityReport, charts: &[Rendered], page: &str) {
    s.push_str("<h2 id=\"capacity\">Capacity</h2>\n");
    let class = if r.max_sustainable.is_some() {
        "pass"
    } else {
        "fail"
    };
    let _ = writeln!(
        s,
        "<div class=\"banner {class}\">{}<small>{}</small></div>",
        esc(&headline(r)),
        esc(&scope_line(r))
    );
    if let Some(m) = &r.max_sustainable {
        let _ = writeln!(s, "<p>{}</p>", esc(&capitalise(&m.basis)));
    }
    if let Some(k) = &r.knee {
        let _ = writeln!(
            s,
            "<p>Knee of p95 against load: <strong>{} {}</strong> (p95 {}, {}).</p>",
            num(k.load),
            r.model.unit(),
            esc(&fmt_us(k.p95_us)),
            rate(k.throughput)
        );
    }
    for w in &r.warnings {
        let _ = writeln!(s, "<div class=\"callout\">{}</div>", esc(w));
    }

    s.push_str("<h3>Steps</h3>\n<table>\n<thead><tr>");
    let header = step_header(r);
    for (i, h) in header.iter().enumerate() {
        let num_col = i > 0 && i + 3 < header.len();
        let _ = write!(
            s,
            "<th{}>{}</th>",
            if num_col { " class=\"num\"" } else { "" },
            esc(h)
        );
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    let intervals = has_intervals(r);
    for st in &r.steps {
        let cells = step_cells(intervals, st);
        let row = if st.sustainable {
            ""
        } else {
            " class=\"failed\""
        };
        let _ = write!(s, "<tr{row}>");
        for (i, c) in cells.iter().enumerate() {
            let num_col = i > 0 && i + 3 < cells.len();
            let _ = write!(
                s,
                "<td{}>{}</td>",
                if num_col { " class=\"num\"" } else { "" },
                esc(c)
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");

    s.push_str("<h3>Model: Universal Scalability Law</h3>\n");
    match &r.usl {
        Some(u) => {
            s.push_str("<table class=\"facts\">\n");
            for (a, b, c) in model_rows(u) {
                let _ = writeln!(
                    s,
                    "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"detail\">{}</td></tr>",
                    esc(a),
                    esc(&b),
                    esc(&c)
                );
            }
            s.push_str("</table>\n");
        }
        None => s.push_str("<p>No fit: see the warnings above.</p>\n"),
    }
    super::capacity_models::html(s, r);
    if let Some(p) = &r.plan {
        s.push_str("<h3>Plan</h3>\n<table class=\"facts\">\n");
        for (a, b) in plan_rows(r, p) {
            let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(a), esc(&b));
        }
        s.push_str("</table>\n");
        for m in &p.missing {
            let _ = writeln!(
                s,
                "<p class=\"detail\">Not worked out: {}.</p>",
                esc(&m.to_string())
            );
        }
    }
    super::html::chart_figures(s, charts, page);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{CapacityOptions, Planning, analyze};

    fn report() -> CapacityReport {
        let steps = (1..=8)
            .map(|i| {
                let n = i as f64 * 10.0;
                let x = crate::capacity::usl::throughput(0.05, 0.0005, 50.0, n);
                StepAnalysis::from_figures(i - 1, n, x, Some((n / x * 1e6) as u64))
            })
            .collect();
        let opts = CapacityOptions {
            slo_p95_us: Some(400_000),
            planning: Some(Planning {
                peak_rps: Some(1_000.0),
                growth_per_month: 0.03,
                cost_per_instance_hour: Some(0.25),
                redundancy: 1,
                ..Planning::default()
            }),
            ..CapacityOptions::default()
        };
        analyze("bench<&>.csv", LoadModel::Closed, steps, &opts)
    }

    #[test]
    fn text_markdown_and_html_show_model_plan_and_steps() {
        let r = report();
        let t = text(&r);
        assert!(t.contains("σ (contention)"), "{t}");
        assert!(t.contains("instances needed"), "{t}");
        assert!(t.contains("Maximum sustainable load"), "{t}");
        let md = markdown(&r);
        assert!(
            md.starts_with("# Skein capacity: bench&lt;&amp;&gt;.csv"),
            "{md}"
        );
        assert!(md.contains("## Capacity") && md.contains("### Model") && md.contains("### Plan"));
        assert_eq!(md.matches("\n| 8 |").count(), 1, "{md}");
        let charts = render_charts(&r).unwrap();
        let h = html(&r, &charts);
        assert!(h.contains("<h2 id=\"capacity\">") && h.contains("<svg"));
        assert!(h.contains("bench&lt;&amp;&gt;.csv") && !h.contains("bench<&>"));
        assert!(!h.contains("<script"));
    }

    #[test]
    fn issue_5_the_spectrum_chart_comes_with_step_histograms_only() {
        // A table's rows have no histogram: the two usual charts.
        let table = report();
        let names: Vec<&str> = render_charts(&table)
            .unwrap()
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["capacity-throughput", "capacity-latency"]);

        // A run's steps keep theirs: a third chart, one line per level.
        let steps = [8.0, 16.0, 24.0]
            .into_iter()
            .enumerate()
            .map(|(i, users)| {
                let mut h = crate::metrics::Hist::new();
                for v in 1..=200u64 {
                    h.record(v * 100 * (i as u64 + 1));
                }
                let mut s =
                    StepAnalysis::from_figures(i, users, users * 40.0, Some(h.quantile(0.95)));
                s.latency_source = crate::capacity::LatencySource::Histogram;
                s.histogram = Some(h.to_base64());
                s
            })
            .collect();
        let opts = CapacityOptions {
            slo_p95_us: Some(50_000),
            ..CapacityOptions::default()
        };
        let r = analyze("run-1", LoadModel::Closed, steps, &opts);
        let json = serde_json::to_string(&r).unwrap();
        let back: CapacityReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.steps[2].histogram, r.steps[2].histogram);
        let charts = render_charts(&r).unwrap();
        let spectrum = charts
            .iter()
            .find(|c| c.name == "capacity-spectrum")
            .expect("a spectrum chart");
        for label in ["8 users", "16 users", "24 users", "SLO p95 50.0ms"] {
            assert!(spectrum.svg.contains(label), "{label} missing");
        }
        let h = html(&r, &charts);
        assert!(h.contains("id=\"chart-capacity-spectrum\""));
        // Table rows serialise without the field at all.
        assert!(
            !serde_json::to_string(&table)
                .unwrap()
                .contains("\"histogram\"")
        );
    }

    #[test]
    fn tables_align_numbers_right() {
        let rows = vec![
            vec!["a".to_string(), "1".into(), "x".into()],
            vec!["bb".to_string(), "100".into(), "long text".into()],
        ];
        assert_eq!(table(&rows, 1), "a     1  x\nbb  100  long text\n");
    }
}
