//! What the responses said about the server and the protocol: the `Server-Timing` entries
//! beside the time measured (`db 45.2ms (56%)`, flagged when the server claims more time
//! than the client measured), the HTTP versions, the redirects
//! followed, and whether TLS certificates were checked. Shared by the text, Markdown and
//! HTML renderers, so they say the same thing.

use super::text::fmt_us;
use crate::metrics::{RunResult, Summary};

/// One row of the Server-Timing table: a step (or all requests) with the mean time of its
/// responses and, per entry name, the mean `dur` of the responses that sent it and its
/// share of that mean time.
///
/// The time is the service time (send to last byte, one sample per response, like the
/// entries), or the response time for a run that recorded no service times: the response
/// time of the closed model is corrected for coordinated omission, whose synthetic samples
/// have no `Server-Timing`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingRow {
    pub name: String,
    pub mean_us: u64,
    /// One per name of [`ServerTimingTable::names`]; `None` when no response of the row
    /// sent that entry.
    pub entries: Vec<Option<(u64, f64)>>,
}

/// The Server-Timing entries of a run, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTimingTable {
    /// What the rows' `mean_us` is: `service` or `response` (time).
    pub basis: &'static str,
    /// Entry names, sorted.
    pub names: Vec<String>,
    /// One row per step that had an entry, then `all`.
    pub rows: Vec<TimingRow>,
    /// Malformed entries skipped over the run.
    pub malformed: u64,
    /// Entries not kept because the run had more distinct names than it records.
    pub overflow: u64,
}

fn row(name: &str, s: &Summary, names: &[String], service: bool) -> TimingRow {
    let mean = if service {
        s.service_time.mean_us
    } else {
        s.response_time.mean_us
    };
    TimingRow {
        name: name.to_string(),
        mean_us: mean,
        entries: names
            .iter()
            .map(|n| {
                s.server_timing.get(n).filter(|l| l.count > 0).map(|l| {
                    let share = if mean > 0 {
                        l.mean_us as f64 / mean as f64
                    } else {
                        0.0
                    };
                    (l.mean_us, share)
                })
            })
            .collect(),
    }
}

/// The table, or `None` when no response sent a `Server-Timing` entry (and none was
/// malformed).
pub fn server_timing_table(r: &RunResult) -> Option<ServerTimingTable> {
    let o = &r.overall;
    if o.server_timing.is_empty() && o.server_timing_malformed == 0 && o.server_timing_overflow == 0
    {
        return None;
    }
    let names: Vec<String> = o.server_timing.keys().cloned().collect();
    let service = o.service_time.count > 0;
    let mut rows: Vec<TimingRow> = r
        .steps
        .iter()
        .filter(|s| !s.summary.server_timing.is_empty())
        .map(|s| row(&s.name, &s.summary, &names, service))
        .collect();
    // All requests: the mean time of the steps shown (those whose responses sent an entry),
    // so that steps without any (static files, a health check) do not dilute the share.
    let mut all = row("all", o, &names, service);
    let shown: Vec<&Summary> = r
        .steps
        .iter()
        .filter(|s| !s.summary.server_timing.is_empty())
        .map(|s| &s.summary)
        .collect();
    if shown.len() < r.steps.len() {
        let of = |s: &Summary| {
            if service {
                (s.service_time.mean_us, s.service_time.count)
            } else {
                (s.response_time.mean_us, s.response_time.count)
            }
        };
        let n: u64 = shown.iter().map(|s| of(s).1).sum();
        if n > 0 {
            let sum: f64 = shown.iter().map(|s| of(s).0 as f64 * of(s).1 as f64).sum();
            all.mean_us = (sum / n as f64).round() as u64;
            for e in all.entries.iter_mut().flatten() {
                e.1 = e.0 as f64 / all.mean_us.max(1) as f64;
            }
        }
    }
    rows.push(all);
    Some(ServerTimingTable {
        basis: if service { "service" } else { "response" },
        names,
        rows,
        malformed: o.server_timing_malformed,
        overflow: o.server_timing_overflow,
    })
}

/// Marks an entry whose mean `dur` is more than the mean time the client measured for the
/// same responses (a share above 100 %), which no server can truly take.
pub const OVER_MARK: &str = "(!)";

/// What [`OVER_MARK`] means, said under a table that has one.
pub const OVER_NOTE: &str = "(!) the server reports more time than the client measured for \
     these responses: a clock or units mismatch (`dur` is in milliseconds), or work the server \
     did after it sent the response";

/// Whether an entry's mean `dur` exceeds the measured time it is a share of: a share that
/// reads above 100 % once rounded (closer than that is within the histograms' precision).
pub fn is_over(e: Option<(u64, f64)>) -> bool {
    e.is_some_and(|(_, share)| (share * 100.0).round() > 100.0)
}

/// Whether any entry of the table is [`is_over`], so that [`OVER_NOTE`] is due.
pub fn has_over(t: &ServerTimingTable) -> bool {
    t.rows.iter().flat_map(|r| &r.entries).any(|e| is_over(*e))
}

/// `45.2ms (56%)`, `1.49s (3712%) (!)` when the server reports more than was measured,
/// or `-` when the row has no such entry.
pub fn fmt_entry(e: Option<(u64, f64)>) -> String {
    match e {
        Some((us, share)) if is_over(e) => {
            format!("{} ({:.0}%) {OVER_MARK}", fmt_us(us), share * 100.0)
        }
        Some((us, share)) => format!("{} ({:.0}%)", fmt_us(us), share * 100.0),
        None => "-".into(),
    }
}

/// Facts about the protocol: HTTP versions of the responses, redirects followed, requests
/// sent again on a new connection, malformed `Server-Timing` entries, and TLS verification
/// when it was off. Empty for a run with nothing to say (or from before these were recorded).
pub fn http_facts(r: &RunResult) -> Vec<(&'static str, String)> {
    let o = &r.overall;
    let mut rows = Vec::new();
    if !o.http_versions.is_empty() {
        let v: Vec<String> = o
            .http_versions
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        rows.push(("HTTP versions", v.join(", ")));
    }
    if o.redirects > 0 {
        let by_step: Vec<String> = r
            .steps
            .iter()
            .filter(|s| s.summary.redirects > 0)
            .map(|s| format!("{} {}", s.name, s.summary.redirects))
            .collect();
        rows.push((
            "Redirects followed",
            format!("{} ({})", o.redirects, by_step.join(", ")),
        ));
    }
    if o.retries > 0 {
        rows.push((
            "Requests sent again",
            format!(
                "{} on a new connection: the server closed a kept-alive one without saying so",
                o.retries
            ),
        ));
    }
    if o.server_timing_malformed > 0 {
        rows.push((
            "Server-Timing",
            format!(
                "{} skipped",
                super::plural(o.server_timing_malformed, "malformed entry")
            ),
        ));
    }
    if o.server_timing_overflow > 0 {
        rows.push((
            "Server-Timing overflow",
            format!(
                "{} not recorded: more than 16 distinct names",
                super::plural(o.server_timing_overflow, "entry")
            ),
        ));
    }
    if !r.run.tls_verify {
        rows.push((
            "TLS verification",
            "OFF: certificates were not checked (tls_verify: false / insecure: true)".into(),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metrics::{Hist, Latency};
    use crate::report::fixtures;

    fn latency(us: u64, n: u64) -> Latency {
        let mut h = Hist::new();
        for _ in 0..n {
            h.record(us);
        }
        Latency::from_hist(&h)
    }

    #[test]
    fn entries_sit_beside_the_response_time() {
        let (mut r, _) = fixtures::closed();
        r.run.tls_verify = true;
        assert_eq!(server_timing_table(&r), None);
        assert!(http_facts(&r).is_empty());
        let name = r.steps[0].name.clone();
        let response = r.steps[0].summary.service_time.mean_us;
        r.steps[0].summary.server_timing = BTreeMap::from([
            ("db".to_string(), latency(response / 2, 10)),
            ("app".to_string(), latency(response, 10)),
        ]);
        r.overall.server_timing = r.steps[0].summary.server_timing.clone();
        r.overall.server_timing_malformed = 3;
        r.overall.http_versions = BTreeMap::from([("HTTP/2".to_string(), 12)]);
        r.overall.redirects = 4;
        r.steps[0].summary.redirects = 4;
        r.run.tls_verify = false;
        let t = server_timing_table(&r).unwrap();
        assert_eq!(t.basis, "service");
        assert_eq!(t.names, ["app", "db"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].name, name);
        let (app, _) = t.rows[0].entries[0].unwrap();
        let (db, share) = t.rows[0].entries[1].unwrap();
        assert!((share - 0.5).abs() < 0.01, "{share}");
        assert_eq!(
            fmt_entry(t.rows[0].entries[0]),
            format!("{} (100%)", fmt_us(app))
        );
        assert_eq!(
            fmt_entry(t.rows[0].entries[1]),
            format!("{} (50%)", fmt_us(db))
        );
        assert!(!has_over(&t));
        assert_eq!(fmt_entry(None), "-");
        assert_eq!(t.malformed, 3);
        let f = http_facts(&r);
        let keys: Vec<&str> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "HTTP versions",
                "Redirects followed",
                "Server-Timing",
                "TLS verification"
            ]
        );
        assert_eq!(f[0].1, "HTTP/2 12");
        assert_eq!(f[1].1, format!("4 ({name} 4)"));
    }

    /// Issue 12, defect 11: the terminal printed the breakdown twice, the table and then
    /// the same figures as sentences (`home: of 15.7ms, 15.0ms was app, 9.00ms was db`);
    /// the table alone is printed, in every format.
    #[test]
    fn issue_12_the_breakdown_is_printed_once() {
        let (mut r, v) = fixtures::closed();
        let service = r.steps[0].summary.service_time.mean_us;
        r.steps[0].summary.server_timing = BTreeMap::from([
            ("app".to_string(), latency(service * 9 / 10, 10)),
            ("db".to_string(), latency(service / 2, 10)),
        ]);
        r.overall.server_timing = r.steps[0].summary.server_timing.clone();
        let text = crate::report::text::server_timing_table(&r);
        // A header, the step, `all`: nothing after the table.
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().last().unwrap().starts_with("all "), "{text}");
        assert!(!text.contains(" was db"), "{text}");
        let md = crate::report::markdown::render(&r, &v);
        assert!(md.contains("### Server-Timing"), "{md}");
        assert!(!md.contains(" was db"), "{md}");
        let html = crate::report::html::render_with_charts(&r, &v, &[]);
        assert!(html.contains("id=\"server-timing\""));
        assert!(!html.contains(" was db"));
    }

    /// Issue 12, defect 11: an entry whose mean `dur` is 37 times the service time the
    /// client measured (a server reporting seconds as milliseconds) used to read `3712%`
    /// with nothing said; it is flagged in every format, with a note saying why.
    #[test]
    fn issue_12_an_entry_above_the_measured_time_is_flagged() {
        let (mut r, v) = fixtures::closed();
        let service = r.steps[0].summary.service_time.mean_us;
        r.steps[0].summary.server_timing = BTreeMap::from([
            ("app".to_string(), latency(service * 37, 10)),
            ("db".to_string(), latency(service / 2, 10)),
        ]);
        r.overall.server_timing = r.steps[0].summary.server_timing.clone();
        let t = server_timing_table(&r).unwrap();
        assert!(has_over(&t));
        let app = t.rows[0].entries[0];
        let (us, share) = app.unwrap();
        assert!(share > 36.0, "{share}");
        assert_eq!(
            fmt_entry(app),
            format!("{} ({:.0}%) (!)", fmt_us(us), share * 100.0)
        );
        assert!(!fmt_entry(t.rows[0].entries[1]).contains("(!)"));
        // Exactly the measured time is not flagged; a rounded 101 % is.
        assert!(!is_over(Some((1000, 1.004))));
        assert!(is_over(Some((1000, 1.006))));

        let text = crate::report::text::server_timing_table(&r);
        assert!(text.contains(" (!)"), "{text}");
        assert!(text.contains(&format!("\n{OVER_NOTE}\n")), "{text}");
        let md = crate::report::markdown::render(&r, &v);
        assert!(md.contains(" (!) |"), "{md}");
        assert!(
            md.contains("(!) the server reports more time than the client measured"),
            "{md}"
        );
        let html = crate::report::html::render_with_charts(&r, &v, &[]);
        assert!(html.contains(" (!)</td>"), "flagged cell in the HTML");
        assert!(html.contains("the server reports more time than the client measured"));
        // Nothing flagged, no note.
        r.steps[0].summary.server_timing.remove("app");
        r.overall.server_timing = r.steps[0].summary.server_timing.clone();
        assert!(!crate::report::text::server_timing_table(&r).contains("(!)"));
        assert!(!crate::report::markdown::render(&r, &v).contains("(!)"));
    }
}
