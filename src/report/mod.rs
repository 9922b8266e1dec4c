//! Human and CI output rendered from a [`crate::metrics::RunResult`] and its
//! [`crate::metrics::Verdict`] (and a step test's [`crate::capacity::CapacityReport`], passed
//! in: nothing here reads a results folder): pure functions, data in and bytes out; the
//! caller picks the destination. [`write_all`] is the one place that writes them into a run
//! folder.
//!
//! - [`text`]: terminal tables.
//! - [`markdown`]: `report.md`, the GitHub step summary and `::error` annotations.
//! - [`junit`]: `junit.xml`, one testcase per target.
//! - [`html`]: `report.html`, one self-contained file with inline SVG charts.
//! - [`charts`]: the charts (plotters), each as SVG and PNG.
//! - [`compare`]: `compare.md`, `compare.html` and the terminal table of two runs compared,
//!   one file per format.
//! - `page`: the one page shell (head, stylesheet, header, footer) of every HTML page.
//! - [`capacity`]: `capacity.md`, `capacity.html` and the terminal tables of a capacity
//!   analysis, and the section a run report can include.
//! - [`facts`]: which latency a run shows, the warnings about its numbers, the load-model
//!   and generator-health facts, shared by every format.
//! - [`timing`]: the responses' `Server-Timing` entries beside the response time, HTTP
//!   versions, redirects and TLS verification, shared by every format.
//!
//! Every format says which latency it shows ([`response_time_label`]): the response time
//! (from the intended start in the open model, corrected for coordinated omission in the
//! closed one) and, beside it, the raw service time; and every format opens with the same
//! [`warnings`] when the numbers cannot be taken at face value (a saturated generator,
//! dropped or late iterations). Results from before these were recorded render as before.

pub mod availability;
pub mod before_after;
pub mod capacity;
pub mod capacity_models;
pub mod charts;
pub mod compare;
pub mod custom;
pub mod facts;
pub mod html;
pub mod junit;
pub mod lighthouse;
pub mod markdown;
mod page;
pub mod text;
pub mod timing;

use std::fs;
use std::path::{Path, PathBuf};

use crate::capacity::CapacityReport;
use crate::metrics::{RunResult, TargetOutcome, TargetStatus, Unit, Verdict};

pub use crate::metrics::plural;

/// What a passing run without targets was judged by, in every format.
pub const NO_TARGETS: &str =
    "nothing was gated (without targets, a run fails only when no request succeeds)";

pub use facts::{
    LATE_WARN_SHARE, SATURATION_HEADLINE, SERVICE_TIME_LABEL, Warning, generator_health_facts,
    has_service_time, is_open, load_model_facts, response_time_label, warnings,
};
pub use markdown::{GitHub, github};

/// File names written into a run folder, besides one `<chart>.svg` and `<chart>.png` per
/// chart.
pub const HTML_FILE: &str = "report.html";
pub const MARKDOWN_FILE: &str = "report.md";
pub const JUNIT_FILE: &str = "junit.xml";
pub const SUMMARY_FILE: &str = "summary.json";

/// Why a report could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("creating the report folder {}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("drawing the {chart} chart: {detail}")]
    Chart { chart: &'static str, detail: String },
    #[error("encoding the {chart} chart as PNG: {detail}")]
    Png { chart: &'static str, detail: String },
    #[error("serialising the verdict for summary.json")]
    Json(#[source] serde_json::Error),
}

/// Render every report of `result` and `verdict` into `dir` (created if missing):
/// `summary.json`, `junit.xml`, `report.md`, one SVG and one PNG per chart, and
/// `report.html`; a step test's capacity analysis (`capacity`) joins the Markdown and the
/// HTML page. Returns the paths written, in that order.
///
/// The CI files come first, so a chart that cannot be drawn never costs the verdict files.
pub fn write_all(
    dir: &Path,
    result: &RunResult,
    verdict: &Verdict,
    capacity: Option<&CapacityReport>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Folder::create(dir)?;
    let mut summary = serde_json::to_vec_pretty(verdict).map_err(ReportError::Json)?;
    summary.push(b'\n');
    out.write(SUMMARY_FILE, &summary)?;
    out.write(JUNIT_FILE, junit::render(result, verdict).as_bytes())?;
    let mut md = markdown::render(result, verdict);
    if let Some(c) = capacity {
        md.push('\n');
        md.push_str(&self::capacity::markdown_section(c, 2));
    }
    out.write(MARKDOWN_FILE, md.as_bytes())?;
    let charts = charts::render_all(result, verdict)?;
    out.write_charts(&charts)?;
    let cap_charts = match capacity {
        Some(c) => self::capacity::render_charts(c)?,
        None => Vec::new(),
    };
    let html = html::render_full(
        result,
        verdict,
        &charts,
        capacity.map(|c| (c, cap_charts.as_slice())),
    );
    out.write(HTML_FILE, html.as_bytes())?;
    Ok(out.written)
}

/// A report folder being written: created if missing, each path written remembered in order.
pub(crate) struct Folder<'a> {
    dir: &'a Path,
    pub(crate) written: Vec<PathBuf>,
}

impl<'a> Folder<'a> {
    pub(crate) fn create(dir: &'a Path) -> Result<Self, ReportError> {
        fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Folder {
            dir,
            written: Vec::new(),
        })
    }

    pub(crate) fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
        let path = self.dir.join(name);
        fs::write(&path, bytes).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        self.written.push(path);
        Ok(())
    }

    /// Each chart as `<name>.svg` and `<name>.png`.
    pub(crate) fn write_charts(&mut self, charts: &[charts::Rendered]) -> Result<(), ReportError> {
        for c in charts {
            self.write(&format!("{}.svg", c.name), c.svg.as_bytes())?;
            self.write(&format!("{}.png", c.name), &c.png)?;
        }
        Ok(())
    }
}

/// A table of text cells as HTML (`rows[0]` the header; cells escaped): the first
/// `text_columns` columns left-aligned, the rest numbers (`class="num"`). Nothing for no rows.
pub(crate) fn html_table(s: &mut String, rows: &[Vec<String>], text_columns: usize) {
    use std::fmt::Write as _;
    let Some((head, body)) = rows.split_first() else {
        return;
    };
    let class = |c: usize| {
        if c < text_columns {
            ""
        } else {
            " class=\"num\""
        }
    };
    s.push_str("<table>\n<thead><tr>");
    for (c, h) in head.iter().enumerate() {
        let _ = write!(s, "<th{}>{}</th>", class(c), escape_xml(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in body {
        s.push_str("<tr>");
        for (c, v) in row.iter().enumerate() {
            let _ = write!(s, "<td{}>{}</td>", class(c), escape_xml(v));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
}

/// Escape text for XML and HTML (text and attribute values alike), dropping the control
/// characters XML 1.0 does not allow.
pub(crate) fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A target's value for people, in its unit: `23.1ms`, `0.52%`, `212.4/s`, `50`.
pub(crate) fn fmt_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Us => text::fmt_us(v.max(0.0).round() as u64),
        Unit::Ratio => text::fmt_pct(v),
        Unit::PerSecond => format!("{v:.1}/s"),
        Unit::Count => format!("{}", v.round()),
        Unit::Thousandths => {
            let s = format!("{:.3}", v / 1000.0);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

/// What the target asks for: `< 100ms` (trailing zeros dropped: thresholds are round).
pub(crate) fn fmt_expected(t: &TargetOutcome) -> String {
    format!("{} {}", t.op, trim_zeros(&fmt_value(t.unit, t.threshold)))
}

/// `250.0ms` -> `250ms`, `2.50%` -> `2.5%`; the unit after the number is kept.
pub(crate) fn trim_zeros(s: &str) -> String {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if !num.contains('.') {
        return s.to_string();
    }
    format!("{}{unit}", num.trim_end_matches('0').trim_end_matches('.'))
}

/// What the run measured, or `not measured`.
pub(crate) fn fmt_measured(t: &TargetOutcome) -> String {
    match t.measured {
        Some(v) => fmt_value(t.unit, v),
        None => "not measured".into(),
    }
}

/// Headroom as a signed percentage of the threshold: `+23.0%` (to spare), `-12.5%` (over).
pub(crate) fn fmt_margin(t: &TargetOutcome) -> String {
    t.margin
        .map(|m| format!("{:+.1}%", m * 100.0))
        .unwrap_or_default()
}

/// Baseline value, when the target has one.
pub(crate) fn fmt_baseline(t: &TargetOutcome) -> String {
    t.baseline.map(|b| fmt_value(t.unit, b)).unwrap_or_default()
}

/// Improvement over the baseline with the goal: `+35.0% (goal 30%)`.
pub(crate) fn fmt_improvement(t: &TargetOutcome) -> String {
    match (t.improvement_pct, t.improvement_goal_pct) {
        (Some(i), Some(g)) => format!("{i:+.1}% (goal {g}%)"),
        (Some(i), None) => format!("{i:+.1}%"),
        (None, Some(g)) => format!("n/a (goal {g}%)"),
        (None, None) => String::new(),
    }
}

/// `pass`, `FAIL`, `not measured`.
pub(crate) fn status_word(s: TargetStatus) -> &'static str {
    match s {
        TargetStatus::Pass => "pass",
        TargetStatus::Fail => "FAIL",
        TargetStatus::NotMeasured => "not measured",
    }
}

/// The verdict in a word and a phrase: (`passed`, `all 3 targets met`), (`failed`, `2 of 5
/// targets not met (1 not measured)`), (`failed`, `no request succeeded (...)`), (`no
/// targets`, `nothing was gated ...`).
pub(crate) fn verdict_parts(v: &Verdict) -> (&'static str, String) {
    let n = v.targets.len();
    let failed = v.failed().count();
    let unmeasured = v
        .targets
        .iter()
        .filter(|t| t.status == TargetStatus::NotMeasured)
        .count();
    if let Some(f) = &v.run_failed {
        ("failed", f.detail.clone())
    } else if n == 0 {
        ("no targets", NO_TARGETS.into())
    } else if failed == 0 && v.passed {
        let met = if n == 1 {
            "the one target met".to_string()
        } else {
            format!("all {n} targets met")
        };
        ("passed", met)
    } else {
        let mut s = format!("{failed} of {} not met", plural(n as u64, "target"));
        if unmeasured > 0 {
            s.push_str(&format!(" ({unmeasured} not measured)"));
        }
        ("failed", s)
    }
}

/// Run status for people: `complete`, `interrupted: Ctrl-C`, `running (or its process died)`.
pub(crate) fn status_text(r: &RunResult) -> String {
    use crate::metrics::RunStatus;
    match r.run.status {
        RunStatus::Complete => "complete".into(),
        RunStatus::Running => "running (or its process died)".into(),
        RunStatus::Interrupted => format!(
            "interrupted: {}",
            r.run
                .stop_reason
                .as_ref()
                .map_or_else(|| "stopped early".into(), ToString::to_string)
        ),
    }
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape_xml("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;\u{FFFD}"
        );
    }

    /// Issue 12, defect 5: a run without targets in which no request succeeded fails in
    /// every format, saying why in the same words.
    #[test]
    fn issue_12_a_run_where_nothing_succeeded_fails_in_every_format() {
        use crate::metrics::{RunFailure, RunFailureKind};
        let (r, v) = fixtures::closed();
        let detail = "no request succeeded (12 requests: 12 connection_refused)";
        let v = Verdict {
            passed: false,
            targets: Vec::new(),
            run_failed: Some(RunFailure {
                kind: RunFailureKind::NoRequestSucceeded,
                detail: detail.into(),
            }),
            ..v
        };
        assert_eq!(verdict_parts(&v), ("failed", detail.to_string()));
        assert_eq!(
            text::verdict_lines(&v),
            format!(
                "verdict: FAILED: {detail}; without targets, a run fails only when no request \
                 succeeds\n"
            )
        );
        let md = markdown::render(&r, &v);
        assert!(
            md.contains(": failed\n\n**No request succeeded (12 requests"),
            "{md}"
        );
        assert!(
            md.contains("No targets were set: without targets, a run fails"),
            "{md}"
        );
        let gh = github(&r, &v);
        assert_eq!(gh.annotations.len(), 1, "{:?}", gh.annotations);
        assert!(
            gh.annotations[0].starts_with("::error title=skein run failed::no request succeeded"),
            "{}",
            gh.annotations[0]
        );
        let xml = junit::render(&r, &v);
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains(&format!(
                "name=\"run completed\" time=\"60.000\">\n      <failure \
                 type=\"no_request_succeeded\" message=\"{detail}\">"
            )),
            "{xml}"
        );
        let page = html::render_with_charts(&r, &v, &[]);
        assert!(
            page.contains(&format!(
                "<div class=\"banner fail\" id=\"verdict\">FAILED<small>{detail} · run"
            )),
            "banner"
        );
        // Passing without targets says what was judged.
        let ok = Verdict {
            passed: true,
            run_failed: None,
            ..v
        };
        assert_eq!(verdict_parts(&ok), ("no targets", NO_TARGETS.to_string()));
        assert_eq!(text::verdict_lines(&ok), "verdict: no targets\n");
        assert!(!junit::render(&r, &ok).contains("<failure"));
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(fmt_value(Unit::Us, 23_100.0), "23.1ms");
        assert_eq!(fmt_value(Unit::Ratio, 0.0052), "0.52%");
        assert_eq!(fmt_value(Unit::PerSecond, 212.44), "212.4/s");
        assert_eq!(fmt_value(Unit::Count, 50.0), "50");
        assert_eq!(trim_zeros("250.0ms"), "250ms");
        assert_eq!(trim_zeros("2.50%"), "2.5%");
        assert_eq!(trim_zeros("100.0/s"), "100/s");
        assert_eq!(trim_zeros("850µs"), "850µs");
    }
}
