//! `compare.md`: the verdict, the caveats and one table per endpoint, for a pull request or
//! a CI job summary.

use std::fmt::Write as _;

use super::*;

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
            crate::report::markdown::cell(&capitalise(n))
        );
    }
    let _ = writeln!(
        s,
        "Baseline: `{}`  ",
        crate::report::markdown::code(&run_line(&c.baseline))
    );
    let _ = writeln!(
        s,
        "Candidate: `{}`\n",
        crate::report::markdown::code(&run_line(&c.candidate))
    );
    if v.regressed {
        let _ = writeln!(s, "**{}:**\n", plural(v.reasons.len() as u64, "regression"));
        for r in &v.reasons {
            let _ = writeln!(s, "- {}", crate::report::markdown::cell(r));
        }
        s.push('\n');
    }
    if !v.improvements.is_empty() {
        s.push_str("Improvements (informational):\n\n");
        for r in &v.improvements {
            let _ = writeln!(s, "- {}", crate::report::markdown::cell(r));
        }
        s.push('\n');
    }
    let q = headline_quantile(c);
    s.push_str("### Overview\n\n");
    let _ = writeln!(
        s,
        "| endpoint | {q} baseline | {q} candidate | delta | errors baseline | errors candidate | verdict |"
    );
    s.push_str("|---|--:|--:|--:|--:|--:|---|\n");
    for r in rows(c) {
        let m = r.metric(&q);
        let name = if std::ptr::eq(r, &c.overall) {
            format!("**{}**", crate::report::markdown::cell(&r.name))
        } else {
            crate::report::markdown::cell(&r.name)
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
        let _ = writeln!(
            s,
            "\n### {}{mark}\n",
            crate::report::markdown::cell(&r.name)
        );
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
            let _ = writeln!(s, "- {}", crate::report::markdown::cell(n));
        }
    }
    let _ = writeln!(
        s,
        "\n<sub>{}</sub>",
        crate::report::markdown::cell(&rules(c))
    );
    s.push_str("\n<sub>Charts and the full comparison: `compare.html`.</sub>\n");
    s
}

fn md_verdict(w: &str) -> String {
    if w.starts_with("REGRESSION") || w == "regression" {
        format!("**{}**", crate::report::markdown::cell(w))
    } else {
        crate::report::markdown::cell(w)
    }
}
