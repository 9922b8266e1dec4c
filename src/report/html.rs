//! `report.html`: the whole run in one self-contained file, in the shared page shell
//! ([`super::page`]) with its SVG charts inline.
//!
//! Sections, top to bottom: verdict banner with any warning about the numbers (a saturated
//! generator first), targets, run facts (with the load model and the generator's health),
//! endpoints (response and service time), charts, errors (by kind, failed checks,
//! examples), and the scenario as run.

use std::fmt::Write as _;

use super::charts::{self, Rendered};
use super::page;
use super::text::{fmt_pct, fmt_us, latency_cells};
use super::{
    ReportError, SERVICE_TIME_LABEL, escape_xml as esc, fmt_baseline, fmt_improvement, fmt_margin,
    fmt_measured, generator_health_facts, has_service_time, load_model_facts, plural,
    response_time_label, status_text, status_word, verdict_parts, warnings,
};
use crate::metrics::{RunResult, Summary, TargetStatus, Verdict};

/// `report.html`, drawing the charts itself.
pub fn render(r: &RunResult, v: &Verdict) -> Result<String, ReportError> {
    let charts = charts::render_all(r, v)?;
    Ok(render_with_charts(r, v, &charts))
}

/// `report.html` with charts already drawn (their SVG is inlined; the PNG and SVG files
/// beside the report are linked).
pub fn render_with_charts(r: &RunResult, v: &Verdict, charts: &[Rendered]) -> String {
    render_full(r, v, charts, None)
}

/// `report.html` with a step test's capacity section (and its charts) after the run's
/// charts.
pub fn render_full(
    r: &RunResult,
    v: &Verdict,
    charts: &[Rendered],
    capacity: Option<(&crate::capacity::CapacityReport, &[Rendered])>,
) -> String {
    let mut s = String::with_capacity(256 * 1024);
    page::open(&mut s, &format!("Skein report: {}", r.run.name), "");
    let _ = writeln!(
        s,
        "<p class=\"sub\">Run <code>{}</code> against <code>{}</code>, started {}</p>",
        esc(&r.run.id),
        esc(&r.run.target),
        esc(&r.run.started_at)
    );
    banner(&mut s, r, v);
    targets(&mut s, v);
    super::before_after::html(&mut s, v);
    super::availability::html(&mut s, r);
    facts(&mut s, r);
    endpoints(&mut s, r);
    server_timing(&mut s, r);
    super::custom::html(&mut s, r);
    super::lighthouse::html(&mut s, r);
    chart_section(&mut s, charts, "report");
    if let Some((c, cc)) = capacity {
        super::capacity::html_section(&mut s, c, cc, "report");
    }
    errors(&mut s, r);
    scenario(&mut s, r);
    let footer = format!(
        "Written by {} {} from <code>result.json</code> and <code>summary.json</code>.",
        esc(&r.tool.name),
        esc(&r.tool.version)
    );
    page::close(&mut s, &footer);
    s
}

fn banner(s: &mut String, r: &RunResult, v: &Verdict) {
    let (word, rest) = verdict_parts(v);
    let class = match word {
        "passed" => "pass",
        "failed" => "fail",
        _ => "none",
    };
    let _ = writeln!(
        s,
        "<div class=\"banner {class}\" id=\"verdict\">{}<small>{} · run {}</small></div>",
        word.to_uppercase(),
        esc(&rest),
        esc(&status_text(r))
    );
    for w in warnings(r) {
        let (class, id) = if w.severe {
            (" severe", " id=\"saturation\"")
        } else {
            ("", "")
        };
        let _ = writeln!(
            s,
            "<div class=\"callout{class}\"{id}><strong>{}</strong><br>{}</div>",
            esc(&capitalise(&w.headline)),
            esc(&w.detail)
        );
    }
    if !r.run.tls_verify {
        s.push_str(
            "<div class=\"callout\"><strong>TLS verification was off.</strong> \
             <code>tls_verify: false</code> (or <code>insecure: true</code>): certificates of \
             the target were not checked.</div>\n",
        );
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn targets(s: &mut String, v: &Verdict) {
    s.push_str("<h2 id=\"targets\">Targets</h2>\n");
    if v.targets.is_empty() {
        s.push_str(if v.run_failed.is_some() {
            "<p class=\"fail\">No targets were set: without targets, a run fails only when no \
             request succeeds, as this one did.</p>\n"
        } else {
            "<p>No targets were set, so nothing was gated (without targets, a run fails only \
             when no request succeeds).</p>\n"
        });
        return;
    }
    s.push_str(
        "<table>\n<thead><tr><th>target</th><th class=\"num\">measured</th>\
         <th class=\"num\">margin</th><th class=\"num\">baseline</th>\
         <th class=\"num\">improvement</th><th>verdict</th></tr></thead>\n<tbody>\n",
    );
    for t in &v.targets {
        // Not measured fails the verdict, so it reads as a failure.
        let (class, row) = match t.status {
            TargetStatus::Pass => ("pass", ""),
            TargetStatus::Fail | TargetStatus::NotMeasured => ("fail", " class=\"failed\""),
        };
        let _ = writeln!(
            s,
            "<tr{row}><td><code>{}</code><div class=\"detail\">{}<br>{} · {} · {}</div></td>\
             <td class=\"num {}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"status {class}\">{}</td></tr>",
            esc(&t.expression),
            esc(&t.detail),
            esc(&t.scope),
            esc(&t.window),
            esc(&t.source),
            if t.measured.is_none() {
                "unmeasured"
            } else {
                ""
            },
            esc(&fmt_measured(t)),
            esc(&fmt_margin(t)),
            esc(&fmt_baseline(t)),
            esc(&fmt_improvement(t)),
            esc(status_word(t.status)),
        );
    }
    s.push_str("</tbody>\n</table>\n");
}

fn facts(s: &mut String, r: &RunResult) {
    let run = &r.run;
    let g = &run.generator;
    let scenario = match &run.scenario_file {
        Some(f) => format!("{} ({f})", run.name),
        None => run.name.clone(),
    };
    let o = &r.overall;
    let mut rows = vec![
        ("Scenario", scenario),
        ("Target", run.target.clone()),
        ("Status", status_text(r)),
        (
            "Users",
            format!(
                "peak {} (plan: {}), {} model",
                run.peak_users, run.max_users, run.model
            ),
        ),
        (
            "Duration",
            format!(
                "{:.1}s measured of {:.1}s planned",
                run.duration_us as f64 / 1e6,
                run.planned_duration_us as f64 / 1e6
            ),
        ),
        (
            "Time",
            format!(
                "{} to {}",
                run.started_at,
                run.ended_at.as_deref().unwrap_or("(not finished)")
            ),
        ),
        (
            "Requests",
            format!(
                "{} ({:.1}/s): {} ok, {}, {} ({} not ok); {} received",
                o.requests,
                o.rps,
                o.ok,
                plural(o.errors, "error"),
                plural(o.check_failed, "failed check"),
                fmt_pct(o.error_rate),
                fmt_bytes(o.bytes)
            ),
        ),
        (
            "Generator",
            format!(
                "{} ({}/{}, {})",
                g.hostname,
                g.os,
                g.arch,
                plural(g.cpus, "CPU")
            ),
        ),
        (
            "TLS verification",
            if run.tls_verify {
                "on"
            } else {
                "OFF (tls_verify: false)"
            }
            .into(),
        ),
    ];
    rows.extend(
        super::timing::http_facts(r)
            .into_iter()
            .filter(|(k, _)| *k != "TLS verification"),
    );
    if run.cut_off > 0 {
        rows.push((
            "Cut off",
            format!(
                "{} in flight at the end (not counted)",
                plural(run.cut_off, "request")
            ),
        ));
    }
    s.push_str("<h2 id=\"run\">Run</h2>\n");
    facts_table(s, &rows);
    for (id, title, rows) in [
        ("load-model", "Load model", load_model_facts(r)),
        (
            "generator-health",
            "Generator health",
            generator_health_facts(r),
        ),
    ] {
        if !rows.is_empty() {
            let _ = writeln!(s, "<h3 id=\"{id}\">{title}</h3>");
            facts_table(s, &rows);
        }
    }
}

fn facts_table(s: &mut String, rows: &[(&str, String)]) {
    s.push_str("<table class=\"facts\">\n");
    for (k, val) in rows {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(val));
    }
    s.push_str("</table>\n");
}

fn endpoints(s: &mut String, r: &RunResult) {
    s.push_str("<h2 id=\"endpoints\">Endpoints</h2>\n");
    if r.steps.is_empty() {
        s.push_str("<p>No endpoint was called.</p>\n");
        return;
    }
    let service = has_service_time(r);
    if service {
        // Two header rows: which latency, then its percentiles.
        let _ = write!(
            s,
            "<table>\n<thead><tr><th colspan=\"4\"></th>\
             <th class=\"group\" colspan=\"4\">{}</th>\
             <th class=\"group svc\" colspan=\"3\">{}</th></tr>\n",
            esc(response_time_label(r)),
            esc(SERVICE_TIME_LABEL)
        );
        s.push_str(
            "<tr><th>endpoint</th><th class=\"num\">requests</th>\
             <th class=\"num\">rps</th><th class=\"num\">errors</th><th class=\"num\">p50</th>\
             <th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">max</th>\
             <th class=\"num svc\">p50</th><th class=\"num svc\">p95</th>\
             <th class=\"num svc\">p99</th></tr></thead>\n<tbody>\n",
        );
    } else {
        s.push_str(
            "<table>\n<thead><tr><th>endpoint</th><th class=\"num\">requests</th>\
             <th class=\"num\">rps</th><th class=\"num\">errors</th><th class=\"num\">p50</th>\
             <th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n",
        );
    }
    for st in r.steps.iter().filter(|s| !super::custom::is_metric_row(s)) {
        endpoint_row(s, "", &st.name, &st.summary, service);
    }
    endpoint_row(s, " class=\"total\"", "all", &r.overall, service);
    s.push_str("</tbody>\n</table>\n");
}

/// The `Server-Timing` entries beside the response time; nothing when no response sent one.
fn server_timing(s: &mut String, r: &RunResult) {
    let Some(t) = super::timing::server_timing_table(r) else {
        return;
    };
    s.push_str("<h2 id=\"server-timing\">Server-Timing</h2>\n");
    let _ = writeln!(
        s,
        "<p class=\"detail\">Mean <code>dur</code> of each entry over the responses that sent \
         it, and its share of the mean {} time.</p>",
        t.basis
    );
    let _ = write!(
        s,
        "<table>\n<thead><tr><th>endpoint</th><th class=\"num\">{}</th>",
        t.basis
    );
    for n in &t.names {
        let _ = write!(s, "<th class=\"num\">{}</th>", esc(n));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        let class = if row.name == "all" {
            " class=\"total\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<tr{class}><td>{}</td><td class=\"num\">{}</td>",
            esc(&row.name),
            esc(&fmt_us(row.mean_us))
        );
        for e in &row.entries {
            let class = if super::timing::is_over(*e) {
                "num fail"
            } else {
                "num"
            };
            let _ = write!(
                s,
                "<td class=\"{class}\">{}</td>",
                esc(&super::timing::fmt_entry(*e))
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    if super::timing::has_over(&t) {
        let _ = writeln!(
            s,
            "<p class=\"detail\">{}.</p>",
            esc(super::timing::OVER_NOTE)
        );
    }
}

fn endpoint_row(s: &mut String, class: &str, name: &str, m: &Summary, service: bool) {
    let l = &m.response_time;
    let err_class = if m.error_rate > 0.0 { " fail" } else { "" };
    let _ = write!(
        s,
        "<tr{class}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td>\
         <td class=\"num{err_class}\">{}</td>",
        esc(name),
        m.requests,
        m.rps,
        fmt_pct(m.error_rate),
    );
    for cell in latency_cells(l, &[l.p50_us, l.p95_us, l.p99_us, l.max_us], "–") {
        let _ = write!(s, "<td class=\"num\">{}</td>", esc(&cell));
    }
    if service {
        let v = &m.service_time;
        for cell in latency_cells(v, &[v.p50_us, v.p95_us, v.p99_us], "–") {
            let _ = write!(s, "<td class=\"num svc\">{}</td>", esc(&cell));
        }
    }
    s.push_str("</tr>\n");
}

/// The charts, inline, each with links to its PNG and SVG files beside the `page`.
pub(crate) fn chart_section(s: &mut String, charts: &[Rendered], page: &str) {
    s.push_str("<h2 id=\"charts\">Charts</h2>\n");
    chart_figures(s, charts, page);
}

/// One figure per chart, inline SVG with links to its files beside `page`.
pub(crate) fn chart_figures(s: &mut String, charts: &[Rendered], page: &str) {
    for c in charts {
        let _ = writeln!(
            s,
            "<figure id=\"chart-{name}\">\n{svg}<figcaption>{title}: also as \
             <a href=\"{name}.png\">{name}.png</a> and <a href=\"{name}.svg\">{name}.svg</a> \
             beside this {page}.</figcaption>\n</figure>",
            name = c.name,
            svg = c.svg,
            title = esc(&c.title),
        );
    }
}

fn errors(s: &mut String, r: &RunResult) {
    s.push_str("<h2 id=\"errors\">Errors</h2>\n");
    let failed_checks = r.failed_checks();
    if r.overall.errors_by_kind.is_empty() && failed_checks.is_empty() {
        s.push_str("<p class=\"pass\">No errors and no failed checks.</p>\n");
    }
    if !r.overall.errors_by_kind.is_empty() {
        s.push_str(
            "<h3>By kind</h3>\n<table>\n<thead><tr><th>kind</th><th class=\"num\">count</th>\
             <th class=\"num\">of requests</th><th>where</th></tr></thead>\n<tbody>\n",
        );
        for (kind, n) in &r.overall.errors_by_kind {
            let wher: Vec<String> = r
                .steps
                .iter()
                .filter_map(|st| {
                    st.summary
                        .errors_by_kind
                        .get(kind)
                        .map(|k| format!("{} ({k})", st.name))
                })
                .collect();
            let share = if r.overall.requests > 0 {
                *n as f64 / r.overall.requests as f64
            } else {
                0.0
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td class=\"num\">{n}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(kind),
                fmt_pct(share),
                esc(&wher.join(", "))
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if !failed_checks.is_empty() {
        s.push_str(
            "<h3>Failed checks</h3>\n<table>\n<thead><tr><th>endpoint</th><th>scenario</th>\
             <th>check</th><th class=\"num\">failed</th><th class=\"num\">of</th></tr></thead>\n<tbody>\n",
        );
        for (st, c) in failed_checks {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num fail\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&st.name),
                esc(&c.scenario),
                esc(&c.label),
                c.failed,
                c.failed + c.passed
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if !r.error_examples.is_empty() {
        s.push_str(
            "<h3>Examples</h3>\n<table>\n<thead><tr><th>endpoint</th><th>scenario</th>\
             <th>kind</th><th>message</th></tr></thead>\n<tbody>\n",
        );
        for e in &r.error_examples {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&e.step),
                esc(&e.scenario),
                esc(&e.kind),
                esc(&e.message)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
}

fn scenario(s: &mut String, r: &RunResult) {
    s.push_str("<h2 id=\"scenario\">Scenario as run</h2>\n");
    s.push_str("<p class=\"detail\">Secrets redacted; environment references as written.</p>\n");
    let json = serde_json::to_string_pretty(&r.scenario)
        .unwrap_or_else(|e| format!("(the scenario could not be shown: {e})"));
    let _ = writeln!(s, "<pre>{}</pre>", esc(&json));
}

fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn page(r: &RunResult, v: &Verdict) -> String {
        render_with_charts(r, v, &[])
    }

    #[test]
    fn a_saturated_generator_is_said_under_the_banner() {
        let (r, v) = fixtures::saturated();
        let p = page(&r, &v);
        let at = p
            .find("<div class=\"callout severe\" id=\"saturation\">")
            .unwrap();
        assert!(at > p.find("id=\"verdict\"").unwrap());
        assert!(at < p.find("<h2 id=\"targets\">").unwrap());
        assert!(p[at..].starts_with(
            "<div class=\"callout severe\" id=\"saturation\"><strong>Numbers are a lower \
             bound: the generator, not the target, was the bottleneck</strong><br>saturated for \
             12 seconds"
        ));
        assert!(p.contains("<tr><th>Saturated</th><td>YES (12 s): CPU at 90 %"));
    }

    #[test]
    fn the_endpoint_table_names_both_latencies() {
        let (r, v) = fixtures::open();
        let p = page(&r, &v);
        assert!(!p.contains("id=\"saturation\""));
        assert!(p.contains(
            "<th class=\"group\" colspan=\"4\">response time (from intended start)</th>\
             <th class=\"group svc\" colspan=\"3\">service time (send to last byte)</th>"
        ));
        assert!(p.contains("<h3 id=\"load-model\">Load model</h3>"));
        assert!(p.contains("<tr><th>Max lateness</th><td>2.35s</td></tr>"));
        assert!(p.contains("<div class=\"callout\"><strong>170 of 7800 scheduled iterations"));
        // Every row has the same number of cells as the header.
        let table = &p[p.find("<h2 id=\"endpoints\">").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        for row in table.split("<tr").skip(2) {
            assert_eq!(
                row.matches("<td").count() + row.matches("<th").count(),
                11,
                "{row}"
            );
        }
    }

    #[test]
    fn an_older_run_renders_as_before() {
        let (r, v) = fixtures::old();
        let p = page(&r, &v);
        for absent in [
            "class=\"num svc\"",
            "Load model",
            "Generator health",
            "<div class=\"callout severe\"",
        ] {
            assert!(!p.contains(absent), "{absent}");
        }
    }
}
