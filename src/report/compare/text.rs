//! The terminal table of `skein compare` and the verdict lines under it.

use std::fmt::Write as _;

use super::*;

/// The table printed by `skein compare`: endpoint, gated quantile base -> candidate, delta,
/// error rate base -> candidate, verdict.
pub fn text(c: &Comparison) -> String {
    let q = headline_quantile(c);
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
