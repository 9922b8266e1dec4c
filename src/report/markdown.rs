//! `report.md`: the run in a few lines for a pull request or a CI job summary: the verdict,
//! any warning about the numbers (a saturated generator first), the targets, the endpoints
//! (response and service time), the load model and the generator's health, and the errors.
//! [`github`] adds what GitHub Actions wants: the same Markdown for `$GITHUB_STEP_SUMMARY`
//! (kept under its 1 MiB limit), one `::error` workflow command per target that did not
//! pass, and a `::warning` when the generator was saturated.

use std::fmt::Write as _;

use super::text::{fmt_pct, fmt_us, latency_cells};
use super::{
    SATURATION_HEADLINE, SERVICE_TIME_LABEL, fmt_baseline, fmt_expected, fmt_improvement,
    fmt_margin, fmt_measured, generator_health_facts, has_service_time, load_model_facts, plural,
    response_time_label, status_text, status_word, verdict_parts, warnings,
};
use crate::metrics::{RunResult, Summary, TargetOutcome, TargetStatus, Verdict};

/// GitHub's limit on one step's summary.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;
/// Error examples listed at most.
const MAX_EXAMPLES: usize = 10;
/// Characters of an error message shown.
const MESSAGE_CHARS: usize = 300;

/// What a GitHub Actions job gets.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHub {
    /// Markdown to append to the file named by `$GITHUB_STEP_SUMMARY` (under 1 MiB).
    pub step_summary: String,
    /// `::error title=...::...` lines to print on stdout, one per target that did not pass,
    /// and a `::warning` when the generator was saturated.
    pub annotations: Vec<String>,
}

/// The GitHub step summary and annotations of a run.
pub fn github(result: &RunResult, verdict: &Verdict) -> GitHub {
    GitHub {
        step_summary: fit(render(result, verdict), STEP_SUMMARY_LIMIT),
        annotations: annotations(result, verdict),
    }
}

/// `report.md`.
pub fn render(r: &RunResult, v: &Verdict) -> String {
    let mut s = String::new();
    header(&mut s, r, v);
    targets(&mut s, v);
    super::before_after::markdown(&mut s, v);
    super::availability::markdown(&mut s, r);
    endpoints(&mut s, r);
    server_timing(&mut s, r);
    super::custom::markdown(&mut s, r);
    super::lighthouse::markdown(&mut s, r);
    let http: Vec<(&str, String)> = super::timing::http_facts(r)
        .into_iter()
        .filter(|(k, _)| *k != "TLS verification")
        .collect();
    facts(&mut s, "HTTP", &http);
    facts(&mut s, "Load model", &load_model_facts(r));
    facts(&mut s, "Generator health", &generator_health_facts(r));
    errors(&mut s, r);
    let _ = writeln!(
        s,
        "\n<sub>{} {} · charts and the full report: `report.html` in the run folder</sub>",
        r.tool.name, r.tool.version
    );
    s
}

fn header(s: &mut String, r: &RunResult, v: &Verdict) {
    let (word, rest) = verdict_parts(v);
    let icon = match word {
        "passed" => "✅",
        "failed" => "❌",
        _ => "⚪",
    };
    let _ = writeln!(s, "## {icon} Skein run {}: {word}\n", cell(&r.run.name));
    let _ = writeln!(s, "**{}**\n", cell(&capitalise(&rest)));
    for w in warnings(r) {
        let kind = if w.severe { "CAUTION" } else { "WARNING" };
        let _ = writeln!(
            s,
            "> [!{kind}]\n> **{}**\n> {}\n",
            cell(&capitalise(&w.headline)),
            cell(&w.detail)
        );
    }
    let _ = writeln!(
        s,
        "Run `{}` against {} · {} · {:.1}s · peak {} · {} · {:.1} req/s · {} errors",
        code(&r.run.id),
        code_or_plain(&r.run.target),
        cell(&status_text(r)),
        r.run.duration_us as f64 / 1e6,
        plural(r.run.peak_users, "user"),
        plural(r.overall.requests, "request"),
        r.overall.rps,
        fmt_pct(r.overall.error_rate),
    );
    if !r.run.tls_verify {
        s.push_str(
            "\n> [!WARNING]\n> TLS certificates were not verified (`tls_verify: false` or \
             `insecure: true`).\n",
        );
    }
    if r.run.cut_off > 0 {
        let _ = writeln!(
            s,
            "\n{} still in flight at the end {} cut off (not counted).",
            plural(r.run.cut_off, "request"),
            if r.run.cut_off == 1 { "was" } else { "were" }
        );
    }
}

fn targets(s: &mut String, v: &Verdict) {
    if v.targets.is_empty() {
        s.push_str(no_targets_sentence(v));
        return;
    }
    s.push_str("\n### Targets\n\n");
    s.push_str("| | target | measured | margin | baseline | improvement | verdict |\n");
    s.push_str("|---|---|--:|--:|--:|--:|---|\n");
    for t in &v.targets {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            status_icon(t.status),
            code_cell(&t.expression),
            fmt_measured(t),
            fmt_margin(t),
            fmt_baseline(t),
            fmt_improvement(t),
            status_word(t.status),
        );
    }
    let failing: Vec<&TargetOutcome> = v.failed().collect();
    if !failing.is_empty() {
        s.push('\n');
        for t in failing {
            let _ = writeln!(
                s,
                "- `{}`: {} ({}, {})",
                code(&t.expression),
                cell(&t.detail),
                cell(&t.window),
                cell(&t.scope)
            );
        }
    }
}

/// What a run without targets was judged by: the one built-in rule, and whether it held.
fn no_targets_sentence(v: &Verdict) -> &'static str {
    match &v.run_failed {
        Some(_) => {
            "\nNo targets were set: without targets, a run fails only when no request \
             succeeds, as this one did.\n"
        }
        None => {
            "\nNo targets were set, so nothing was gated (without targets, a run fails only \
             when no request succeeds).\n"
        }
    }
}

fn endpoints(s: &mut String, r: &RunResult) {
    if r.steps.is_empty() {
        return;
    }
    s.push_str("\n### Endpoints\n\n");
    let service = has_service_time(r);
    if service {
        let _ = writeln!(
            s,
            "p50 to max: {}; service p50 to p99: {SERVICE_TIME_LABEL}.\n",
            response_time_label(r)
        );
        s.push_str(
            "| endpoint | requests | rps | errors | p50 | p95 | p99 | max | service p50 | \
             service p95 | service p99 |\n",
        );
        s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    } else {
        s.push_str("| endpoint | requests | rps | errors | p50 | p95 | p99 | max |\n");
        s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|\n");
    }
    for st in r.steps.iter().filter(|s| !super::custom::is_metric_row(s)) {
        endpoint_row(s, &cell(&st.name), &st.summary, service);
    }
    endpoint_row(s, "**all**", &r.overall, service);
}

/// The `Server-Timing` entries beside the response time; nothing when no response sent one.
fn server_timing(s: &mut String, r: &RunResult) {
    let Some(t) = super::timing::server_timing_table(r) else {
        return;
    };
    s.push_str("\n### Server-Timing\n\n");
    let _ = writeln!(
        s,
        "Mean `dur` of each entry over the responses that sent it, and its share of the mean \
         {} time.\n",
        t.basis
    );
    let _ = write!(s, "| endpoint | {} |", t.basis);
    for n in &t.names {
        let _ = write!(s, " {} |", cell(n));
    }
    let _ = write!(s, "\n|---|--:|");
    for _ in &t.names {
        s.push_str("--:|");
    }
    s.push('\n');
    for row in &t.rows {
        let name = if row.name == "all" {
            "**all**".to_string()
        } else {
            cell(&row.name)
        };
        let _ = write!(s, "| {name} | {} |", fmt_us(row.mean_us));
        for e in &row.entries {
            let _ = write!(s, " {} |", super::timing::fmt_entry(*e));
        }
        s.push('\n');
    }
    if super::timing::has_over(&t) {
        let _ = writeln!(s, "\n{}.", super::timing::OVER_NOTE);
    }
}

fn endpoint_row(s: &mut String, name: &str, m: &Summary, service: bool) {
    let l = &m.response_time;
    let _ = write!(
        s,
        "| {name} | {} | {:.1} | {} |",
        m.requests,
        m.rps,
        fmt_pct(m.error_rate),
    );
    let mut cells = latency_cells(l, &[l.p50_us, l.p95_us, l.p99_us, l.max_us], "–");
    if service {
        let v = &m.service_time;
        cells.extend(latency_cells(v, &[v.p50_us, v.p95_us, v.p99_us], "–"));
    }
    for c in cells {
        let _ = write!(s, " {c} |");
    }
    s.push('\n');
}

/// A titled two-column table of facts; nothing when there are none.
fn facts(s: &mut String, title: &str, rows: &[(&str, String)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n### {title}\n\n| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(s, "| {} | {} |", cell(k), cell(v));
    }
}

fn errors(s: &mut String, r: &RunResult) {
    let failed_checks = r.failed_checks();
    if r.overall.errors_by_kind.is_empty() && failed_checks.is_empty() {
        s.push_str("\n### Errors\n\nNo errors and no failed checks.\n");
        return;
    }
    s.push_str("\n### Errors\n\n");
    if !r.overall.errors_by_kind.is_empty() {
        s.push_str("| kind | count | where |\n|---|--:|---|\n");
        for (kind, n) in &r.overall.errors_by_kind {
            let wher: Vec<String> = r
                .steps
                .iter()
                .filter_map(|st| {
                    st.summary
                        .errors_by_kind
                        .get(kind)
                        .map(|k| format!("{} {k}", cell(&st.name)))
                })
                .collect();
            let _ = writeln!(s, "| `{}` | {n} | {} |", code_cell(kind), wher.join(", "));
        }
        s.push('\n');
    }
    for (st, c) in failed_checks {
        let _ = writeln!(
            s,
            "- failed check `{}` at {}: {} of {}",
            code(&c.label),
            cell(&st.name),
            c.failed,
            c.failed + c.passed
        );
    }
    if !r.error_examples.is_empty() {
        s.push_str("\nExamples:\n\n");
        for e in r.error_examples.iter().take(MAX_EXAMPLES) {
            let msg = super::charts::shorten(&e.message, MESSAGE_CHARS);
            let _ = writeln!(
                s,
                "- `{}` at {}: `{}`",
                code(&e.kind),
                cell(&e.step),
                code(&msg)
            );
        }
        if r.error_examples.len() > MAX_EXAMPLES {
            let _ = writeln!(
                s,
                "- … {} more in `report.html`",
                r.error_examples.len() - MAX_EXAMPLES
            );
        }
    }
}

/// One `::error` workflow command for a run that failed by the built-in rule (no request
/// succeeded), one per target that did not pass, then a `::warning` when the generator was
/// saturated.
fn annotations(r: &RunResult, v: &Verdict) -> Vec<String> {
    let saturation = warnings(r).into_iter().filter(|w| w.severe).map(|w| {
        format!(
            "::warning title={}::{}",
            escape_property("skein: generator saturated"),
            escape_data(&format!("{SATURATION_HEADLINE}. {}", w.detail))
        )
    });
    let run_failed = v.run_failed.iter().map(|f| {
        format!(
            "::error title={}::{}",
            escape_property("skein run failed"),
            escape_data(&format!(
                "{}; without targets, a run fails when no request succeeds",
                f.detail
            ))
        )
    });
    run_failed
        .chain(v.failed().map(|t| {
            let message = match t.status {
                TargetStatus::NotMeasured => format!(
                    "not measured: no samples of {} ({}), and a target that is not measured fails. {}",
                    t.metric, t.scope, t.detail
                ),
                _ => format!(
                    "measured {}, expected {} ({}, {}). {}",
                    fmt_measured(t),
                    fmt_expected(t),
                    t.window,
                    t.scope,
                    t.detail
                ),
            };
            format!(
                "::error title={}::{}",
                escape_property(&format!("skein target {}", t.expression)),
                escape_data(&message)
            )
        }))
        .chain(saturation)
        .collect()
}

/// Workflow-command data: `%`, CR and LF are encoded.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command property values: as data, plus `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Cut `md` at a line boundary to fit `limit` bytes, with a note saying so.
fn fit(md: String, limit: usize) -> String {
    const NOTE: &str =
        "\n\n… cut to fit the 1 MiB step summary; see `report.md` in the run folder.\n";
    if md.len() <= limit {
        return md;
    }
    let room = limit.saturating_sub(NOTE.len());
    let mut end = room.min(md.len());
    while !md.is_char_boundary(end) {
        end -= 1;
    }
    let cut = md[..end].rfind('\n').unwrap_or(end);
    let mut out = md[..cut].to_string();
    out.push_str(NOTE);
    out
}

fn status_icon(s: TargetStatus) -> &'static str {
    match s {
        TargetStatus::Pass => "✅",
        TargetStatus::Fail => "❌",
        TargetStatus::NotMeasured => "⚠️",
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Text for a table cell or a line: one line, `|` escaped, HTML-ish characters neutral.
pub(crate) fn cell(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Text inside a code span: one line, backticks replaced.
pub(crate) fn code(s: &str) -> String {
    s.replace(['\r', '\n'], " ").replace('`', "'")
}

/// A code span's text inside a table cell: `|` escaped too (GFM unescapes it first).
fn code_cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// A URL as a code span (GitHub would otherwise link it).
fn code_or_plain(s: &str) -> String {
    format!("`{}`", code(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn a_saturated_generator_is_the_first_thing_said() {
        let (r, v) = fixtures::saturated();
        let md = render(&r, &v);
        let caution = md.find("> [!CAUTION]").expect("a caution block");
        assert!(caution < md.find("### Targets").unwrap());
        assert!(md.contains(
            "> **Numbers are a lower bound: the generator, not the target, was the bottleneck**\n\
             > saturated for 12 seconds: CPU at 90 %"
        ), "{md}");
        assert!(md.contains("| Saturated | YES (12 s): CPU at 90 %"), "{md}");
        let gh = github(&r, &v);
        let warning = gh.annotations.last().unwrap();
        assert!(
            warning.starts_with(
                "::warning title=skein%3A generator saturated::numbers are a lower bound"
            ),
            "{warning}"
        );
        assert_eq!(gh.annotations.len(), v.failed().count() + 1);
    }

    #[test]
    fn an_open_run_has_its_load_model_and_both_latencies() {
        let (r, v) = fixtures::open();
        let md = render(&r, &v);
        assert!(!md.contains("[!CAUTION]"));
        assert!(
            md.contains("> [!WARNING]\n> **170 of 7800 scheduled iterations"),
            "{md}"
        );
        assert!(md.contains(
            "p50 to max: response time (from intended start); service p50 to p99: service time \
             (send to last byte)."
        ));
        assert!(md.contains("| max | service p50 | service p95 | service p99 |\n"));
        assert!(md.contains("\n### Load model\n\n| | |\n|---|---|\n| Model | open"));
        assert!(md.contains(
            "| Arrival rate | intended 130.0/s (peak 130.0/s), achieved 127.2/s (97.8 %) |"
        ));
        assert!(md.contains("| Iterations | 7800 scheduled, 7630 started, 412 late"));
        assert!(md.contains("\n### Generator health\n"));
        assert!(md.contains("| Saturated | no |"));
        assert_eq!(github(&r, &v).annotations.len(), v.failed().count());
    }

    #[test]
    fn a_closed_run_names_its_correction() {
        let (r, v) = fixtures::closed();
        let md = render(&r, &v);
        assert!(md.contains("p50 to max: response time (corrected for coordinated omission)"));
        assert!(md.contains("| Coordinated omission | response times corrected (think time plus median service time): 321 synthetic samples"), "{md}");
        assert!(!md.contains("> [!WARNING]\n> **"), "{md}");
    }

    #[test]
    fn an_older_run_has_no_new_blocks() {
        let (r, v) = fixtures::old();
        let md = render(&r, &v);
        for absent in [
            "service p50",
            "Load model",
            "Generator health",
            "[!CAUTION]",
        ] {
            assert!(!md.contains(absent), "{absent}");
        }
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("50% of a\nb"), "50%25 of a%0Ab");
        assert_eq!(escape_property("p95: a, b"), "p95%3A a%2C b");
    }

    #[test]
    fn long_summaries_are_cut_at_a_line() {
        let md = "line\n".repeat(1000);
        let out = fit(md, 1000);
        assert!(out.len() <= 1000, "{}", out.len());
        assert!(out.ends_with("run folder.\n"));
        assert!(out.starts_with("line\nline\n"));
    }

    #[test]
    fn table_cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b &lt;c&gt;");
        assert_eq!(code_cell("a`b|c"), "a'b\\|c");
    }
}
