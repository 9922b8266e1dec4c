//! The "Availability" section of every report: the share of requests that succeeded, the
//! lowest second, and the outage windows (spans in which no request succeeded, measured
//! from the requests' timestamps: [`crate::metrics::availability`]), one row each.

use std::fmt::Write as _;

use crate::metrics::{Availability, Outage, RunResult, fmt_us};

/// Outages listed one per row; more are summed up in a line.
const LISTED: usize = 50;

/// `1.478 s`: an instant of the run's timeline.
fn at(us: u64) -> String {
    format!("{:.3} s", us as f64 / 1e6)
}

/// `99.95 %` with enough decimals to tell 99.9 % from 100 %.
pub fn fmt_availability(a: f64) -> String {
    let p = a * 100.0;
    if p >= 100.0 {
        "100 %".into()
    } else if p >= 99.0 {
        let s = format!("{p:.3}");
        format!("{} %", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{p:.1} %")
    }
}

/// The section's facts: (label, value).
fn facts(r: &RunResult, a: &Availability) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "availability",
        format!(
            "{} ({} of {} requests succeeded)",
            fmt_availability(a.availability),
            a.ok,
            a.requests
        ),
    )];
    let lowest = r
        .timeseries
        .iter()
        .filter_map(|p| Some((p.availability?, p.t_us)))
        .min_by(|x, y| x.0.total_cmp(&y.0));
    if let Some((v, t)) = lowest.filter(|(v, _)| *v < 1.0) {
        out.push((
            "lowest second",
            format!("{} (the second from {})", fmt_availability(v), at(t)),
        ));
    }
    let n = a.outages.len() as u64 + a.outages_dropped;
    out.push((
        "outages",
        if n == 0 {
            "none: no span of the run went without a successful request".into()
        } else {
            format!(
                "{n}, longest {}, {} in all",
                fmt_us(a.max_outage_us),
                fmt_us(a.total_outage_us)
            )
        },
    ));
    out
}

fn row(i: usize, o: &Outage) -> [String; 5] {
    [
        (i + 1).to_string(),
        at(o.start_us),
        if o.open_at_end {
            format!("{} (run ended)", at(o.end_us))
        } else {
            at(o.end_us)
        },
        fmt_us(o.duration_us),
        o.failures.to_string(),
    ]
}

const HEAD: [&str; 5] = ["#", "start", "end", "duration", "failed requests"];

const HOW: &str = "An outage runs from the completion of the last successful request before \
                   the failures to the send time of the first one after them (µs from the \
                   run's start).";

/// For the console; empty when the run has no availability figures.
pub fn text(r: &RunResult) -> String {
    let Some(a) = &r.availability else {
        return String::new();
    };
    let mut s = String::from("\navailability\n");
    for (k, v) in facts(r, a) {
        let _ = writeln!(s, "  {k:<14} {v}");
    }
    if !a.outages.is_empty() {
        let rows: Vec<[String; 5]> = a
            .outages
            .iter()
            .take(LISTED)
            .enumerate()
            .map(|(i, o)| row(i, o))
            .collect();
        let w: Vec<usize> = (0..5)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([HEAD[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 5]| {
            let mut l = String::from("  ");
            for (c, v) in cells.iter().enumerate() {
                let pad = w[c] - v.chars().count();
                let _ = write!(l, "{}{v}  ", " ".repeat(pad));
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(s, "{}", line(HEAD));
        for r in &rows {
            let _ = writeln!(s, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
        more(&mut s, a);
    }
    s
}

fn more(s: &mut String, a: &Availability) {
    let left = a.outages.len().saturating_sub(LISTED) as u64 + a.outages_dropped;
    if left > 0 {
        let _ = writeln!(s, "  ... and {left} more (all in result.json)");
    }
}

/// The section in Markdown; nothing when the run has no availability figures.
pub fn markdown(s: &mut String, r: &RunResult) {
    let Some(a) = &r.availability else {
        return;
    };
    s.push_str("\n### Availability\n\n");
    for (k, v) in facts(r, a) {
        let _ = writeln!(s, "- {k}: {v}");
    }
    if a.outages.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n| {} |\n|--:|--:|--:|--:|--:|", HEAD.join(" | "));
    for (i, o) in a.outages.iter().take(LISTED).enumerate() {
        let _ = writeln!(s, "| {} |", row(i, o).join(" | "));
    }
    let mut tail = String::new();
    more(&mut tail, a);
    if !tail.is_empty() {
        s.push('\n');
        s.push_str(tail.trim_start());
    }
    let _ = writeln!(s, "\n<sub>{HOW}</sub>");
}

/// The section in HTML; nothing when the run has no availability figures.
pub fn html(s: &mut String, r: &RunResult) {
    let Some(a) = &r.availability else {
        return;
    };
    s.push_str("<h2 id=\"availability\">Availability</h2>\n<table class=\"facts\">\n");
    for (k, v) in facts(r, a) {
        let _ = writeln!(
            s,
            "<tr><th>{}</th><td>{}</td></tr>",
            super::escape_xml(k),
            super::escape_xml(&v)
        );
    }
    s.push_str("</table>\n");
    if a.outages.is_empty() {
        return;
    }
    s.push_str("<table>\n<thead><tr>");
    for h in HEAD {
        let _ = write!(s, "<th class=\"num\">{h}</th>");
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (i, o) in a.outages.iter().take(LISTED).enumerate() {
        s.push_str("<tr class=\"failed\">");
        for v in row(i, o) {
            let _ = write!(s, "<td class=\"num\">{}</td>", super::escape_xml(&v));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    let mut tail = String::new();
    more(&mut tail, a);
    if !tail.is_empty() {
        let _ = writeln!(s, "<p>{}</p>", super::escape_xml(tail.trim()));
    }
    let _ = writeln!(s, "<p class=\"detail\">{}</p>", super::escape_xml(HOW));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TimePoint;

    fn run() -> RunResult {
        let mut r = crate::report::fixtures::closed().0;
        r.timeseries = vec![
            TimePoint {
                t_us: 0,
                availability: Some(1.0),
                ..TimePoint::default()
            },
            TimePoint {
                t_us: 1_000_000,
                availability: Some(0.25),
                ..TimePoint::default()
            },
        ];
        r.availability = Some(Availability::new(
            1000,
            750,
            vec![
                Outage::new(1_250_000, 2_000_000, 200, false),
                Outage::new(2_500_000, 2_600_000, 50, true),
            ],
            0,
        ));
        r
    }

    #[test]
    fn issue19_every_format_lists_the_outages() {
        let r = run();
        let t = text(&r);
        assert!(t.contains("75.0 % (750 of 1000 requests succeeded)"), "{t}");
        assert!(
            t.contains("lowest second  25.0 % (the second from 1.000 s)"),
            "{t}"
        );
        assert!(t.contains("2, longest 750.0ms, 850.0ms in all"), "{t}");
        assert!(
            t.contains("1.250 s") && t.contains("2.600 s (run ended)"),
            "{t}"
        );
        let mut md = String::new();
        markdown(&mut md, &r);
        assert!(
            md.contains("| 1 | 1.250 s | 2.000 s | 750.0ms | 200 |"),
            "{md}"
        );
        let mut h = String::new();
        html(&mut h, &r);
        assert!(h.contains("<td class=\"num\">100.0ms</td>"), "{h}");
        assert_eq!(fmt_availability(0.999), "99.9 %");
        assert_eq!(fmt_availability(0.99951), "99.951 %");
        // A run without figures (older, or rebuilt) has no section.
        let mut old = run();
        old.availability = None;
        assert_eq!(text(&old), "");
    }
}
