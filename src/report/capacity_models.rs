//! The parts of a capacity report added by issue 20, in every format from the same rows:
//! the models compared (and the one chosen, with why), what the plan rests on, the
//! autoscaling thresholds, and the `Server-Timing` breakdown per load level with the
//! bottleneck it shows.

use std::fmt::Write as _;

use super::escape_xml as esc;
use crate::capacity::CapacityReport;
use crate::capacity::bottleneck::OUTSIDE;

/// A titled block: a sentence or two, then a table (header, rows) and notes.
pub struct Block {
    pub title: &'static str,
    pub lead: Vec<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
    /// On a narrow terminal, the one column printed per row (else all, joined).
    pub wrap_column: Option<usize>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |e| format!("{:.1}%", e * 100.0))
}

fn ms(us: f64) -> String {
    format!("{:.1} ms", us / 1000.0)
}

/// The blocks of `r`, in page order (absent ones left out).
pub fn blocks(r: &CapacityReport) -> Vec<Block> {
    let mut out = Vec::new();
    if !r.models.is_empty() {
        let chosen = r.chosen.as_ref().map(|c| c.model);
        let rows = r
            .models
            .iter()
            .map(|f| {
                vec![
                    format!(
                        "{}{}",
                        f.model.label(),
                        if Some(f.model) == chosen {
                            " (chosen)"
                        } else {
                            ""
                        }
                    ),
                    f.parameter_text(),
                    format!("{:.4}", f.r2),
                    pct(f.holdout_error),
                    f.max_throughput.map_or("-".into(), |x| format!("{x:.1}/s")),
                    if f.retrograde { "yes" } else { "no" }.into(),
                ]
            })
            .collect();
        out.push(Block {
            title: "Models compared",
            lead: r
                .chosen
                .as_ref()
                .map(|c| format!("Chosen: {}.", c.reason))
                .into_iter()
                .collect(),
            header: [
                "model",
                "parameters (± standard error)",
                "R²",
                "hold-out",
                "max throughput",
                "retrograde",
            ]
            .map(String::from)
            .to_vec(),
            rows,
            wrap_column: None,
            notes: vec![
                "Hold-out: each model fitted without the highest load and asked to predict it. \
                 The load fitted is the requests in flight (X·R), so the queue's think time Z is 0."
                    .into(),
            ],
        });
    }
    if !r.plan_basis.is_empty() {
        out.push(Block {
            title: "What the plan rests on",
            lead: Vec::new(),
            header: ["figure", "basis", "beyond the measured range"]
                .map(String::from)
                .to_vec(),
            rows: r
                .plan_basis
                .iter()
                .map(|b| {
                    vec![
                        b.figure.clone(),
                        b.statement.clone(),
                        if b.extrapolated { "yes: said so" } else { "no" }.into(),
                    ]
                })
                .collect(),
            notes: Vec::new(),
            wrap_column: Some(1),
        });
    }
    if let Some(t) = &r.thresholds {
        let mut rows = vec![vec![
            "add an instance at".to_string(),
            format!(
                "{:.1} requests/s per instance{}",
                t.rps_per_instance,
                t.users_per_instance.map_or(String::new(), |u| format!(
                    " or {u:.1} concurrent users per instance"
                ))
            ),
        ]];
        if let Some(p) = t.p95_at_scale_out_us {
            rows.push(vec!["p95 at that point".into(), ms(p as f64)]);
        }
        if let Some(d) = t.marginal_latency_us {
            rows.push(vec![
                "one more user at the knee".into(),
                format!("+{} mean response time (chosen model)", ms(d)),
            ]);
        }
        if let Some(d) = t.marginal_p95_us {
            rows.push(vec![
                "one more user past the knee".into(),
                format!("+{} p95 (measured, to the next step)", ms(d)),
            ]);
        }
        out.push(Block {
            title: "Scaling thresholds",
            lead: vec![format!("{}.", capital(&t.summary))],
            header: vec!["".into(), "".into()],
            rows,
            notes: Vec::new(),
            wrap_column: None,
        });
    }
    if let Some(b) = &r.bottleneck {
        let mut names: Vec<String> = Vec::new();
        for l in &b.levels {
            for c in &l.components {
                if !names.contains(&c.name) {
                    names.push(c.name.clone());
                }
            }
        }
        let mut header = vec![r.model.unit().to_string(), "response (mean)".into()];
        header.extend(names.iter().cloned());
        header.push(OUTSIDE.into());
        let rows = b
            .levels
            .iter()
            .map(|l| {
                let mut row = vec![num(l.load), ms(l.response_us)];
                for n in &names {
                    row.push(
                        l.components
                            .iter()
                            .find(|c| &c.name == n)
                            .map_or("-".into(), |c| ms(c.mean_us)),
                    );
                }
                row.push(format!(
                    "{} ({:.0}%)",
                    ms(l.outside_us),
                    l.outside_us / l.response_us.max(1.0) * 100.0
                ));
                row
            })
            .collect();
        let mut notes: Vec<String> = b
            .growth
            .iter()
            .map(|g| {
                format!(
                    "{}: {} → {}{}",
                    g.name,
                    ms(g.from_us),
                    ms(g.to_us),
                    g.share.map_or(String::new(), |s| format!(
                        ", {:.0}% of the growth",
                        s * 100.0
                    ))
                )
            })
            .collect();
        if b.overlapping {
            notes.push(
                "The named components add up to more than the response time: they overlap \
                 (a server that reports `app` as its whole time and `db` as a part of it), so \
                 the time outside is the response time less the largest component."
                    .into(),
            );
        }
        out.push(Block {
            title: "Bottleneck (Server-Timing)",
            lead: vec![format!(
                "Bottleneck: {}; {}.",
                b.bottleneck.as_deref().unwrap_or("none"),
                b.summary
            )],
            header,
            rows,
            notes,
            wrap_column: None,
        });
    }
    out
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Terminal lines are wrapped at this many characters.
const WRAP: usize = 100;

/// `text` wrapped at [`WRAP`] characters, the first line after `first`, the others after
/// `rest`.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WRAP {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// For the terminal: tables whose rows fit, else one wrapped paragraph per row.
pub fn text(r: &CapacityReport, table: impl Fn(&[Vec<String>]) -> String) -> String {
    let mut s = String::new();
    for b in blocks(r) {
        let _ = writeln!(s, "\n{}", b.title.to_lowercase());
        for l in &b.lead {
            s.push_str(&wrap(l, "  ", "    "));
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        if b.header.iter().any(|h| !h.is_empty()) {
            rows.push(b.header.clone());
        }
        rows.extend(b.rows.iter().cloned());
        let t = table(&rows);
        if t.lines().all(|l| l.chars().count() + 2 <= WRAP + 40) {
            for line in t.lines() {
                let _ = writeln!(s, "  {line}");
            }
        } else {
            for row in &b.rows {
                let line = match b.wrap_column.and_then(|c| row.get(c)) {
                    Some(cell) => cell.clone(),
                    None => row.join(": "),
                };
                s.push_str(&wrap(&line, "  - ", "    "));
            }
        }
        for n in &b.notes {
            s.push_str(&wrap(n, "  - ", "    "));
        }
    }
    s
}

/// For Markdown, at heading level `level + 1`.
pub fn markdown(r: &CapacityReport, level: usize) -> String {
    let h = "#".repeat((level + 1).clamp(1, 6));
    let cell = super::markdown::cell;
    let mut s = String::new();
    for b in blocks(r) {
        let _ = writeln!(s, "\n{h} {}\n", b.title);
        for l in &b.lead {
            let _ = writeln!(s, "{}\n", cell(l));
        }
        let _ = writeln!(
            s,
            "| {} |",
            b.header
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(s, "|{}", "---|".repeat(b.header.len()));
        for row in &b.rows {
            let _ = writeln!(
                s,
                "| {} |",
                row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        if !b.notes.is_empty() {
            s.push('\n');
        }
        for n in &b.notes {
            let _ = writeln!(s, "- {}", cell(n));
        }
    }
    s
}

/// For HTML (inside the capacity section).
pub fn html(s: &mut String, r: &CapacityReport) {
    for b in blocks(r) {
        let _ = writeln!(s, "<h3>{}</h3>", esc(b.title));
        for l in &b.lead {
            let _ = writeln!(s, "<p>{}</p>", esc(l));
        }
        s.push_str("<table>\n");
        if b.header.iter().any(|h| !h.is_empty()) {
            s.push_str("<thead><tr>");
            for h in &b.header {
                let _ = write!(s, "<th>{}</th>", esc(h));
            }
            s.push_str("</tr></thead>\n");
        }
        s.push_str("<tbody>\n");
        for row in &b.rows {
            s.push_str("<tr>");
            for c in row {
                let _ = write!(s, "<td>{}</td>", esc(c));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody>\n</table>\n");
        if !b.notes.is_empty() {
            s.push_str("<ul class=\"detail\">\n");
            for n in &b.notes {
                let _ = writeln!(s, "<li>{}</li>", esc(n));
            }
            s.push_str("</ul>\n");
        }
    }
}
