//! What the responses said about the server and the protocol: the `Server-Timing` entries
//! beside the response time ("of 80 ms, 45 ms was db"), the HTTP versions, the redirects
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

/// `45.2ms (56%)`, or `-` when the row has no such entry.
pub fn fmt_entry(e: Option<(u64, f64)>) -> String {
    match e {
        Some((us, share)) => format!("{} ({:.0}%)", fmt_us(us), share * 100.0),
        None => "-".into(),
    }
}

/// One sentence per step, its entries largest first:
/// `GET /api/search: of 80.9ms, 80.1ms was app, 60.2ms was db`.
pub fn sentences(t: &ServerTimingTable) -> Vec<String> {
    t.rows
        .iter()
        .filter(|r| r.name != "all")
        .map(|r| {
            let mut parts: Vec<(u64, &str)> = r
                .entries
                .iter()
                .zip(&t.names)
                .filter_map(|(e, n)| e.map(|(us, _)| (us, n.as_str())))
                .collect();
            parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let parts: Vec<String> = parts
                .iter()
                .map(|(us, n)| format!("{} was {n}", fmt_us(*us)))
                .collect();
            format!("{}: of {}, {}", r.name, fmt_us(r.mean_us), parts.join(", "))
        })
        .collect()
}

/// Facts about the protocol: HTTP versions of the responses, redirects followed, malformed
/// `Server-Timing` entries, and TLS verification when it was off. Empty for a run with
/// nothing to say (or from before these were recorded).
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
    if o.server_timing_malformed > 0 {
        rows.push((
            "Server-Timing",
            format!("{} malformed entries skipped", o.server_timing_malformed),
        ));
    }
    if o.server_timing_overflow > 0 {
        rows.push((
            "Server-Timing overflow",
            format!(
                "{} entries not recorded: more than 16 distinct names",
                o.server_timing_overflow
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
            sentences(&t),
            [format!(
                "{name}: of {}, {} was app, {} was db",
                fmt_us(response),
                fmt_us(app),
                fmt_us(db)
            )]
        );
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
}
