//! `junit.xml`: the verdict as a JUnit test report, so CI test widgets (GitLab merge
//! requests, Jenkins, GitHub test-report actions) show each target as a test.
//!
//! One testcase per target in the `targets` testsuite (classname `skein.targets`, name = the
//! expression). A failed target has one `<failure type="threshold">` with the measured and
//! expected values and the window; a target that was not measured fails with
//! `type="not_measured"`. A run without targets has a single `run completed`, which fails
//! (`type="no_request_succeeded"`) when no request succeeded.
//!
//! The suite's properties say which latency the targets judged (`response_time_basis`) and
//! whether the generator was saturated, for runs that recorded them.

use std::fmt::Write as _;

use super::{escape_xml as esc, fmt_expected, fmt_measured, response_time_label, status_text};
use crate::metrics::{RunResult, TargetOutcome, TargetStatus, Verdict};

const CLASSNAME: &str = "skein.targets";

/// `junit.xml`.
pub fn render(r: &RunResult, v: &Verdict) -> String {
    let secs = format!("{:.3}", r.run.duration_us as f64 / 1e6);
    // One testcase per target, and `run completed` without targets or when the run failed
    // by the built-in rule.
    let tests = v.targets.len() + usize::from(v.targets.is_empty() || v.run_failed.is_some());
    let failures = v.failed().count() + usize::from(v.run_failed.is_some());
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"skein\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{secs}\">"
    );
    // A shard's targets were judged on its part of the load only (`skein merge` judges the
    // run): its suite says so, so a CI page never takes it for the run's.
    let suite = match &r.run.shard {
        Some(sh) => format!("targets (shard {}/{}, partial)", sh.index, sh.count),
        None => "targets".to_string(),
    };
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{secs}\" hostname=\"{}\">",
        esc(&suite),
        esc(&r.run.generator.hostname)
    );
    properties(&mut s, r);
    match (&v.run_failed, v.targets.is_empty()) {
        (Some(f), _) => {
            let _ = writeln!(
                s,
                "    <testcase classname=\"{CLASSNAME}\" name=\"run completed\" time=\"{secs}\">\n      \
                 <failure type=\"no_request_succeeded\" message=\"{}\">{}</failure>\n    </testcase>",
                esc(&f.detail),
                esc(&format!(
                    "{}\nWithout targets, a run fails when no request succeeds.",
                    f.detail
                ))
            );
        }
        (None, true) => {
            let _ = writeln!(
                s,
                "    <testcase classname=\"{CLASSNAME}\" name=\"run completed\" time=\"{secs}\"/>"
            );
        }
        (None, false) => {}
    }
    for t in &v.targets {
        testcase(&mut s, t);
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

fn properties(s: &mut String, r: &RunResult) {
    s.push_str("    <properties>\n");
    let mut props = vec![
        ("run_id", r.run.id.clone()),
        ("scenario", r.run.name.clone()),
        ("target", r.run.target.clone()),
        ("status", status_text(r)),
        ("peak_users", r.run.peak_users.to_string()),
        ("requests", r.overall.requests.to_string()),
        ("tool", format!("{} {}", r.tool.name, r.tool.version)),
    ];
    if !r.run.response_time_basis.is_empty() {
        props.push(("model", r.run.model.clone()));
        props.push(("response_time", response_time_label(r).to_string()));
    }
    if let Some(o) = &r.run.open_model {
        props.push(("iterations_dropped", o.dropped.to_string()));
        props.push(("iterations_late", o.late.to_string()));
    }
    if let Some(h) = &r.run.generator_health {
        props.push(("generator_saturated", h.saturated.to_string()));
    }
    if !r.run.tls_verify {
        props.push(("tls_verify", "false".to_string()));
    }
    for (k, val) in props {
        let _ = writeln!(s, "      <property name=\"{k}\" value=\"{}\"/>", esc(&val));
    }
    for (k, val) in super::lighthouse::junit_properties(r) {
        let _ = writeln!(
            s,
            "      <property name=\"{}\" value=\"{}\"/>",
            esc(&k),
            esc(&val)
        );
    }
    s.push_str("    </properties>\n");
}

fn testcase(s: &mut String, t: &TargetOutcome) {
    let open = format!(
        "    <testcase classname=\"{CLASSNAME}\" name=\"{}\" time=\"0\"",
        esc(&t.expression)
    );
    let (kind, message) = match t.status {
        TargetStatus::Pass => {
            let _ = writeln!(s, "{open}/>");
            return;
        }
        TargetStatus::Fail => (
            "threshold",
            format!(
                "{} {} measured {}, expected {} ({})",
                t.metric,
                t.scope,
                fmt_measured(t),
                fmt_expected(t),
                t.window
            ),
        ),
        TargetStatus::NotMeasured => (
            "not_measured",
            format!(
                "{} {} not measured: the run had no samples of it ({})",
                t.metric, t.scope, t.window
            ),
        ),
    };
    let body = format!(
        "{}\nwindow: {}\nscope: {}\nsource: {}",
        t.detail, t.window, t.scope, t.source
    );
    let _ = writeln!(s, "{open}>");
    let _ = writeln!(
        s,
        "      <failure type=\"{kind}\" message=\"{}\">{}</failure>",
        esc(&message),
        esc(&body)
    );
    s.push_str("    </testcase>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn properties_say_which_latency_and_whether_the_generator_coped() {
        let (r, v) = fixtures::saturated();
        let xml = render(&r, &v);
        for p in [
            "<property name=\"model\" value=\"open\"/>",
            "<property name=\"response_time\" value=\"response time (from intended start)\"/>",
            "<property name=\"iterations_dropped\" value=\"170\"/>",
            "<property name=\"generator_saturated\" value=\"true\"/>",
        ] {
            assert!(xml.contains(p), "{p} in\n{xml}");
        }
        let (old, v) = fixtures::old();
        let xml = render(&old, &v);
        for absent in ["\"model\"", "\"response_time\"", "generator_saturated"] {
            assert!(!xml.contains(absent), "{absent}");
        }
    }
}
