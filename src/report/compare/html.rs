//! `compare.html`: the two runs side by side in the shared page shell ([`crate::report`]'s
//! one stylesheet, and a few rules of its own), the overlay charts inline.

use std::fmt::Write as _;

use super::super::charts::Rendered;
use super::super::{escape_xml as esc, page};
use super::*;

/// The rules of the comparison page beside the shared stylesheet: its own classes, and the
/// few places where it is laid out otherwise (an inline note in the banner, a narrower
/// facts column).
const EXTRA_CSS: &str = r#"h3 { font-size: 16px; margin: 0; display: inline; }
.banner small { display: inline; margin-top: 0; }
.banner li { font-size: 14px; font-weight: 400; }
.banner ul { margin: 6px 0 0; padding-left: 20px; }
tr.regressed td { background: #fff5f5; }
table.facts th { width: 160px; }
td code { word-break: normal; }
.regression { color: var(--fail); font-weight: 700; } .improvement { color: var(--pass); font-weight: 600; }
.worse { color: var(--fail); } .better { color: var(--pass); }
.muted { color: var(--muted); font-size: 13px; }
details { margin: 10px 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
summary { cursor: pointer; }
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
    page::open(&mut s, &title, EXTRA_CSS);
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
    super::super::html::chart_section(&mut s, charts, "page");
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
    let footer = format!(
        "Written by skein {} from the two runs' <code>result.json</code>; the numbers are \
         also in <code>{JSON_FILE}</code>.",
        env!("CARGO_PKG_VERSION")
    );
    page::close(&mut s, &footer);
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
    let q = headline_quantile(c);
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
