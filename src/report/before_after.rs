//! The "Before / after" table of every report: each target that has a baseline (the
//! plan's pre-optimisation figure, as `preset: phase9` carries them, or with `--baseline
//! DIR` the same metric over the same requests in that earlier run), what this run
//! measured, the improvement, the goal and whether it was met.

use std::fmt::Write as _;

use super::{fmt_baseline, fmt_measured};
use crate::metrics::{TargetOutcome, TargetStatus, Verdict};

const HEAD: [&str; 7] = [
    "KPI",
    "target",
    "before",
    "after",
    "improvement",
    "goal",
    "met?",
];

/// The targets with a baseline.
fn with_baseline(v: &Verdict) -> Vec<&TargetOutcome> {
    v.targets.iter().filter(|t| t.baseline.is_some()).collect()
}

/// `yes`/`no`: the improvement goal when there is one, else the target itself; `n/a` when
/// nothing was measured.
fn met(t: &TargetOutcome) -> &'static str {
    match (t.improvement_goal_pct, t.improvement_pct, t.status) {
        (_, _, TargetStatus::NotMeasured) => "n/a",
        (Some(g), Some(i), _) if i >= g => "yes",
        (Some(_), _, _) => "no",
        (None, _, TargetStatus::Pass) => "yes",
        (None, _, _) => "no",
    }
}

fn row(t: &TargetOutcome) -> [String; 7] {
    let kpi = t
        .source
        .split_once(": ")
        .filter(|(p, _)| p.starts_with("preset"))
        .map_or_else(|| t.metric.clone(), |(_, k)| k.to_string());
    [
        kpi,
        t.expression.clone(),
        fmt_baseline(t),
        fmt_measured(t),
        t.improvement_pct
            .map_or_else(|| "n/a".into(), |i| format!("{i:+.1}%")),
        t.improvement_goal_pct
            .map_or_else(|| "–".into(), |g| format!("{g}%")),
        met(t).into(),
    ]
}

/// Where the "before" column comes from, in a sentence.
fn source(rows: &[&TargetOutcome]) -> String {
    match rows.iter().find_map(|t| t.baseline_run.as_deref()) {
        Some(id) => format!(
            "Before: run {id} (--baseline), the same metric over the same requests; \
             improvement is positive when better."
        ),
        None => "Before: the plan's pre-optimisation figures (the midpoint of a range); \
                 improvement is positive when better."
            .into(),
    }
}

/// For the console; empty when no target has a baseline.
pub fn text(v: &Verdict) -> String {
    let rows = with_baseline(v);
    if rows.is_empty() {
        return String::new();
    }
    let cells: Vec<[String; 7]> = rows.iter().map(|t| row(t)).collect();
    let w: Vec<usize> = (0..7)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([HEAD[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: [&str; 7]| {
        let mut l = String::from("  ");
        for (c, v) in r.iter().enumerate() {
            let pad = " ".repeat(w[c] - v.chars().count());
            if c < 2 {
                let _ = write!(l, "{v}{pad}  ");
            } else {
                let _ = write!(l, "{pad}{v}  ");
            }
        }
        l.trim_end().to_string()
    };
    let mut s = String::from("\nbefore / after\n");
    let _ = writeln!(s, "{}", line(HEAD));
    for r in &cells {
        let _ = writeln!(
            s,
            "{}",
            line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]])
        );
    }
    let _ = writeln!(s, "  {}", source(&rows));
    s
}

/// The table in Markdown; nothing when no target has a baseline.
pub fn markdown(s: &mut String, v: &Verdict) {
    let rows = with_baseline(v);
    if rows.is_empty() {
        return;
    }
    s.push_str("\n### Before / after\n\n");
    let _ = writeln!(s, "| {} |\n|---|---|--:|--:|--:|--:|---|", HEAD.join(" | "));
    for t in &rows {
        let r = row(t);
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            super::markdown::cell(&r[0]),
            super::markdown::code(&r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6]
        );
    }
    let _ = writeln!(s, "\n{}", source(&rows));
}

/// The table in HTML; nothing when no target has a baseline.
pub fn html(s: &mut String, v: &Verdict) {
    let rows = with_baseline(v);
    if rows.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"before-after\">Before / after</h2>\n<table>\n<thead><tr>");
    for (c, h) in HEAD.iter().enumerate() {
        let class = if c < 2 || c == 6 {
            ""
        } else {
            " class=\"num\""
        };
        let _ = write!(s, "<th{class}>{h}</th>");
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for t in &rows {
        let r = row(t);
        let ok = r[6] == "yes";
        let _ = write!(s, "<tr{}>", if ok { "" } else { " class=\"failed\"" });
        for (c, v) in r.iter().enumerate() {
            let e = super::escape_xml(v);
            let _ = match c {
                1 => write!(s, "<td><code>{e}</code></td>"),
                0 => write!(s, "<td>{e}</td>"),
                6 => write!(
                    s,
                    "<td class=\"status {}\">{e}</td>",
                    if ok { "pass" } else { "fail" }
                ),
                _ => write!(s, "<td class=\"num\">{e}</td>"),
            };
        }
        s.push_str("</tr>\n");
    }
    let _ = writeln!(
        s,
        "</tbody>\n</table>\n<p class=\"detail\">{}</p>",
        super::escape_xml(&source(&rows))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Unit;

    fn outcome(expr: &str, source: &str, m: f64, b: f64, i: f64, g: Option<f64>) -> TargetOutcome {
        TargetOutcome {
            expression: expr.into(),
            source: source.into(),
            metric: "response_time.mean".into(),
            scope: "overall".into(),
            window: "whole run".into(),
            op: "<".into(),
            threshold: 100_000.0,
            unit: Unit::Us,
            measured: Some(m),
            margin: None,
            baseline: Some(b),
            improvement_pct: Some(i),
            improvement_goal_pct: g,
            status: TargetStatus::Pass,
            detail: String::new(),
            baseline_run: None,
        }
    }

    #[test]
    fn issue19_the_table_says_before_after_and_whether_the_goal_was_met() {
        let mut v = Verdict {
            schema_version: 1,
            run_id: "r".into(),
            passed: true,
            targets: vec![
                outcome(
                    "mean(tag=\"api\") < 100ms",
                    "preset phase9: API response time",
                    20_000.0,
                    250_000.0,
                    92.0,
                    Some(50.0),
                ),
                outcome(
                    "p95 < 1s",
                    "scenario",
                    900_000.0,
                    1_000_000.0,
                    10.0,
                    Some(50.0),
                ),
            ],
            run_failed: None,
        };
        // A target without a baseline stays out.
        v.targets.push(TargetOutcome {
            baseline: None,
            ..outcome("p99 < 1s", "scenario", 1.0, 1.0, 0.0, None)
        });
        let t = text(&v);
        assert!(t.contains("API response time"), "{t}");
        assert!(
            t.contains("250.0ms") && t.contains("20.0ms") && t.contains("+92.0%"),
            "{t}"
        );
        assert_eq!(t.matches(" yes").count(), 1, "{t}");
        assert_eq!(t.matches(" no").count(), 1, "{t}");
        assert!(!t.contains("p99 < 1s"), "{t}");
        assert!(t.contains("the plan's pre-optimisation figures"), "{t}");
        v.targets[0].baseline_run = Some("phase9-20261207T230000Z".into());
        let mut md = String::new();
        markdown(&mut md, &v);
        assert!(
            md.contains("run phase9-20261207T230000Z (--baseline)"),
            "{md}"
        );
        let mut h = String::new();
        html(&mut h, &v);
        assert!(h.contains("<td class=\"status pass\">yes</td>"), "{h}");
        assert!(
            text(&Verdict {
                targets: vec![],
                ..v
            })
            .is_empty()
        );
    }
}
