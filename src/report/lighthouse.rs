//! The "Lighthouse" section (`lighthouse:` in the scenario): per page, each category score
//! and page metric with the target idle (before the load) and under load (during the hold)
//! side by side, and the change; then the runs that failed and, in HTML, links to
//! Lighthouse's own reports kept in the run folder. For the console, Markdown, HTML and
//! JUnit.

use std::fmt::Write as _;

use crate::metrics::RunResult;
use crate::metrics::lighthouse::{CATEGORIES, LighthouseResult, METRICS, PageAudit};

/// A score as Lighthouse shows it: 0 to 100.
fn score(s: f64) -> String {
    format!("{:.0}", s * 100.0)
}

/// A time in ms as people read it: `760 ms`, `1.03 s`.
fn ms(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.2} s", v / 1000.0)
    }
}

/// What a row shows: a score or a metric of one row (`before` or `during`).
#[derive(Clone, Copy)]
enum Item {
    Score(&'static str),
    Metric(&'static str, &'static str),
}

impl Item {
    fn label(self) -> String {
        match self {
            Item::Score(c) => format!("{c} score"),
            Item::Metric(_, l) => l.to_string(),
        }
    }
    fn value(self, p: &PageAudit) -> Option<f64> {
        match self {
            Item::Score(c) => p.scores.get(c).copied(),
            Item::Metric(k, _) => p.metrics.get(k),
        }
    }
    fn show(self, v: f64) -> String {
        match self {
            Item::Score(_) => score(v),
            Item::Metric("cls", _) => format!("{v:.3}"),
            Item::Metric(..) => ms(v),
        }
    }
    /// The change from idle to under load, signed.
    fn change(self, idle: f64, load: f64) -> String {
        let d = load - idle;
        let sign = if d > 0.0 {
            "+"
        } else if d < 0.0 {
            "−"
        } else {
            "±"
        };
        match self {
            Item::Score(_) => format!("{sign}{:.0}", (d * 100.0).abs()),
            Item::Metric("cls", _) => format!("{sign}{:.3}", d.abs()),
            Item::Metric(..) => format!("{sign}{}", ms(d.abs())),
        }
    }
}

fn items(lh: &LighthouseResult) -> Vec<Item> {
    let mut out: Vec<Item> = CATEGORIES
        .iter()
        .filter(|c| lh.pages.iter().any(|p| p.scores.contains_key(**c)))
        .map(|c| Item::Score(c))
        .collect();
    out.extend(METRICS.iter().map(|(k, l, _)| Item::Metric(k, l)));
    out
}

/// The pages in order, each with its `before` and `during` rows.
fn pages(lh: &LighthouseResult) -> Vec<(&str, Option<&PageAudit>, Option<&PageAudit>)> {
    let mut out: Vec<(&str, Option<&PageAudit>, Option<&PageAudit>)> = Vec::new();
    for p in &lh.pages {
        if !out.iter().any(|(n, _, _)| *n == p.page) {
            let of = |w: &str| lh.pages.iter().find(|x| x.page == p.page && x.when == w);
            out.push((&p.page, of("before"), of("during")));
        }
    }
    out
}

/// Header and rows: page, figure, idle, under load, change.
fn table(lh: &LighthouseResult) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "page",
            "figure",
            "idle (before)",
            "under load (during)",
            "change",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    let cell = |row: Option<&PageAudit>, it: Item| match row {
        None => "not audited".to_string(),
        Some(p) => match it.value(p) {
            Some(v) => it.show(v),
            None if p.ok_runs() == 0 => "failed".to_string(),
            None => "–".to_string(),
        },
    };
    for (page, before, during) in pages(lh) {
        for it in items(lh) {
            let change = match (
                before.and_then(|p| it.value(p)),
                during.and_then(|p| it.value(p)),
            ) {
                (Some(a), Some(b)) => it.change(a, b),
                _ => String::new(),
            };
            rows.push(vec![
                page.to_string(),
                it.label(),
                cell(before, it),
                cell(during, it),
                change,
            ]);
        }
    }
    rows
}

/// Lines about the audits: version and runs, failed runs with why.
fn notes(lh: &LighthouseResult) -> Vec<String> {
    let mut out = vec![format!(
        "Lighthouse {}, {}, median of {} run{} per page and moment",
        if lh.version.is_empty() {
            "?"
        } else {
            &lh.version
        },
        lh.form_factor,
        lh.runs,
        if lh.runs == 1 { "" } else { "s" }
    )];
    for p in &lh.pages {
        for (i, r) in p.runs.iter().enumerate() {
            if let Some(e) = &r.error {
                out.push(format!("{} {} run {}: {e}", p.page, p.when, i + 1));
            }
        }
    }
    out
}

/// The section as aligned text, for the console; empty without audits.
pub fn text(r: &RunResult) -> String {
    let Some(lh) = &r.lighthouse else {
        return String::new();
    };
    let mut out = String::from("\nlighthouse\n");
    if let Some(why) = &lh.not_measured {
        let _ = writeln!(out, "  {why}");
        return out;
    }
    let rows = table(lh);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c < 2 {
                let _ = write!(line, "{cell}{pad}  ");
            } else {
                let _ = write!(line, "{pad}{cell}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for n in notes(lh) {
        let _ = writeln!(out, "  {n}");
    }
    out
}

/// The section in Markdown; nothing without audits.
pub fn markdown(s: &mut String, r: &RunResult) {
    let Some(lh) = &r.lighthouse else {
        return;
    };
    s.push_str("\n### Lighthouse\n\n");
    if let Some(why) = &lh.not_measured {
        let _ = writeln!(s, "{}", super::markdown::cell(why));
        return;
    }
    for (i, row) in table(lh).iter().enumerate() {
        s.push('|');
        for c in row {
            let _ = write!(s, " {} |", super::markdown::cell(c));
        }
        s.push('\n');
        if i == 0 {
            s.push_str("|---|---|--:|--:|--:|\n");
        }
    }
    s.push('\n');
    for n in notes(lh) {
        let _ = writeln!(s, "- {}", super::markdown::cell(&n));
    }
}

/// The section in HTML, with links to Lighthouse's own reports; nothing without audits.
pub fn html(s: &mut String, r: &RunResult) {
    let Some(lh) = &r.lighthouse else {
        return;
    };
    s.push_str("<h2 id=\"lighthouse\">Lighthouse</h2>\n");
    if let Some(why) = &lh.not_measured {
        let _ = writeln!(s, "<p>{}</p>", esc(why));
        return;
    }
    super::html_table(s, &table(lh), 2);
    s.push_str("<ul>\n");
    for n in notes(lh) {
        let _ = writeln!(s, "<li>{}</li>", esc(&n));
    }
    let links: Vec<String> = lh
        .pages
        .iter()
        .flat_map(|p| {
            p.runs.iter().enumerate().filter_map(move |(i, r)| {
                r.report.as_ref().map(|f| {
                    format!(
                        "<a href=\"{}\">{} {} run {}</a>",
                        esc(f),
                        esc(&p.page),
                        esc(&p.when),
                        i + 1
                    )
                })
            })
        })
        .collect();
    if !links.is_empty() {
        let _ = writeln!(s, "<li>Lighthouse's own reports: {}</li>", links.join(", "));
    }
    s.push_str("</ul>\n");
}

/// JUnit properties: each page's performance score idle and under load.
pub fn junit_properties(r: &RunResult) -> Vec<(String, String)> {
    let Some(lh) = &r.lighthouse else {
        return Vec::new();
    };
    lh.pages
        .iter()
        .filter_map(|p| {
            let s = p.scores.get("performance")?;
            Some((
                format!("lighthouse.performance[{} {}]", p.page, p.when),
                score(*s),
            ))
        })
        .collect()
}

fn esc(s: &str) -> String {
    super::escape_xml(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::lighthouse::{AuditRun, Vitals};

    fn result() -> RunResult {
        let row = |when: &str, perf: f64, lcp: f64, error: Option<&str>| PageAudit {
            page: "/".into(),
            when: when.into(),
            scores: [("performance".to_string(), perf)].into(),
            metrics: Vitals {
                lcp_ms: Some(lcp),
                cls: Some(0.107),
                ..Vitals::default()
            },
            runs: vec![AuditRun {
                report: Some(format!("lighthouse/root-{when}-1.html")),
                error: error.map(Into::into),
                ..AuditRun::default()
            }],
        };
        let mut r: RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/report-fixture/result.json"
        ))
        .unwrap();
        r.lighthouse = Some(LighthouseResult {
            version: "12.2.3".into(),
            form_factor: "mobile".into(),
            runs: 1,
            pages: vec![
                row("before", 0.97, 1029.0, None),
                row(
                    "during",
                    0.81,
                    2400.0,
                    Some("lighthouse timed out after 120 s"),
                ),
            ],
            not_measured: None,
        });
        r
    }

    #[test]
    fn idle_and_under_load_side_by_side() {
        let r = result();
        let t = text(&r);
        let perf = t.lines().find(|l| l.contains("performance score")).unwrap();
        assert!(
            perf.contains("97") && perf.contains("81") && perf.contains("−16"),
            "{t}"
        );
        let lcp = t.lines().find(|l| l.contains("LCP")).unwrap();
        assert!(lcp.contains("1.03 s") && lcp.contains("2.40 s"), "{t}");
        assert!(t.contains("/ during run 1: lighthouse timed out"), "{t}");
        let mut md = String::new();
        markdown(&mut md, &r);
        assert!(md.contains("| / | CLS | 0.107 | 0.107 | ±0.000 |"), "{md}");
        let mut h = String::new();
        html(&mut h, &r);
        assert!(h.contains("href=\"lighthouse/root-before-1.html\""), "{h}");
        assert_eq!(junit_properties(&r)[1].1, "81");
    }

    #[test]
    fn not_measured_says_why() {
        let mut r = result();
        r.lighthouse = Some(LighthouseResult {
            not_measured: Some("not measured: lighthouse not found".into()),
            ..LighthouseResult::default()
        });
        assert!(text(&r).contains("not measured: lighthouse not found"));
        r.lighthouse = None;
        assert_eq!(text(&r), "");
    }
}
