//! Which latency a run's numbers are, and whether to trust them: the label of the response
//! time in each model, the warnings every format opens with (a saturated generator, dropped
//! or late iterations), and the load-model and generator-health facts. Shared by the text,
//! Markdown, HTML and JUnit renderers so that they say the same thing in the same words.

use super::plural;
use super::text::{fmt_pct, fmt_us};
use crate::metrics::RunResult;

/// What a saturated generator means, in the words every format uses.
pub const SATURATION_HEADLINE: &str =
    "numbers are a lower bound: the generator, not the target, was the bottleneck";

/// Late starts above this share of the scheduled iterations are worth a warning.
pub const LATE_WARN_SHARE: f64 = 0.01;

/// Which latency `response_time` holds in `r`, for table headers and chart axes:
/// `response time (from intended start)` (open model), `response time (as measured)`
/// (closed model), `response time (corrected for coordinated omission)` (closed model of
/// an older Skein), or plain `response time` for a run from before the basis was recorded.
pub fn response_time_label(r: &RunResult) -> &'static str {
    match r.run.response_time_basis.as_str() {
        "intended_start" => "response time (from intended start)",
        "measured" => "response time (as measured)",
        "corrected" => "response time (corrected for coordinated omission)",
        _ if r.run.model == "open" => "response time (from intended start)",
        _ => "response time",
    }
}

/// What the service time is, for legends.
pub const SERVICE_TIME_LABEL: &str = "service time (send to last byte)";

/// Whether `r` has service times worth showing beside its response times: recorded (runs
/// from before did not), and not the same figures (a closed-model run as measured has the
/// response times as service times, unless some request timed out).
pub fn has_service_time(r: &RunResult) -> bool {
    r.overall.service_time.count > 0
        && (r.run.response_time_basis != "measured"
            || r.overall.response_time.histogram != r.overall.service_time.histogram)
}

/// Whether `r` is an open-model run with its schedule recorded.
pub fn is_open(r: &RunResult) -> bool {
    r.run.model == "open" || r.run.open_model.is_some()
}

/// Something a reader must know before trusting the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// True for a saturated generator: the numbers themselves are wrong, not just the load.
    pub severe: bool,
    /// One line, e.g. [`SATURATION_HEADLINE`].
    pub headline: String,
    /// Why, in a sentence or two.
    pub detail: String,
}

/// The most stalls a run's warnings name one by one.
const STALLS_NAMED: usize = 3;

/// The warnings of a run, most serious first: a saturated generator; the target stalled
/// (closed model); open-model iterations dropped; a significant share of late starts;
/// requests that could not be built. Empty for a healthy run (and for runs from before
/// these were recorded).
pub fn warnings(r: &RunResult) -> Vec<Warning> {
    let mut out = Vec::new();
    saturation_warning(r, &mut out);
    stall_warnings(r, &mut out);
    open_model_warnings(r, &mut out);
    template_warning(r, &mut out);
    out
}

/// Closed model: each stall the run found, with its window, how much of the users' time
/// it took, its longest wait, and the corrected estimate's p99.
fn stall_warnings(r: &RunResult, out: &mut Vec<Warning>) {
    let Some(co) = &r.run.co_correction else {
        return;
    };
    let estimate = r
        .overall
        .co_estimate
        .as_ref()
        .filter(|e| e.p99_us > r.overall.response_time.p99_us)
        .map(|e| {
            format!(
                "; had the users kept their pace, p99 would be about {} (corrected estimate, \
                 against {} measured)",
                fmt_us(e.p99_us),
                fmt_us(r.overall.response_time.p99_us)
            )
        })
        .unwrap_or_default();
    let secs = |us: u64| super::trim_zeros(&format!("{:.1}s", us as f64 / 1e6));
    for (i, st) in co.stalls.iter().enumerate() {
        if i == STALLS_NAMED {
            out.push(Warning {
                severe: false,
                headline: format!(
                    "the target stalled {} more times",
                    co.stalls.len() - STALLS_NAMED
                ),
                detail: "See `run.co_correction.stalls` in result.json.".into(),
            });
            break;
        }
        out.push(Warning {
            severe: false,
            headline: format!(
                "the target stalled from {} to {}: users were blocked for {} of their time",
                secs(st.from_us),
                secs(st.to_us),
                fmt_pct(st.blocked_share)
            ),
            detail: format!(
                "{} waited up to {} where it usually takes {}. A waiting user sends nothing, \
                 so the percentiles count each stalled wait once{}. The open model \
                 (load.arrival_rate) measures stalls directly.",
                st.step,
                fmt_us(st.longest_us),
                fmt_us(st.usual_us),
                if i == 0 { estimate.as_str() } else { "" }
            ),
        });
    }
}

/// Requests that could not be built (an unset variable, a bad URL, a feeder run dry):
/// their iterations stopped there.
fn template_warning(r: &RunResult, out: &mut Vec<Warning>) {
    let n = r
        .overall
        .errors_by_kind
        .get("template")
        .copied()
        .unwrap_or(0);
    if n == 0 {
        return;
    }
    let example = r
        .error_examples
        .iter()
        .find(|e| e.kind == "template")
        .map(|e| format!("{}: {}. ", e.step, e.message))
        .unwrap_or_default();
    out.push(Warning {
        severe: false,
        headline: format!(
            "{} could not be built, so nothing was sent for them",
            plural(n, "request")
        ),
        detail: format!(
            "{example}Each one ended its user's iteration there (a feeder that ran out ends \
             the user); the user went on after its think time, or backed off from 50 ms to 1 s, \
             so the rate stays honest. Check the variable it names: is it set by an extract \
             that failed, or spelt differently?"
        ),
    });
}

/// A saturated generator: its numbers are a lower bound.
fn saturation_warning(r: &RunResult, out: &mut Vec<Warning>) {
    if let Some(h) = r.run.generator_health.as_ref().filter(|h| h.saturated) {
        let mut why = if h.reasons.is_empty() {
            "the generator was saturated".to_string()
        } else {
            h.reasons.join("; ")
        };
        if h.saturated_seconds > 0 {
            let s = if h.saturated_seconds == 1 { "" } else { "s" };
            why = format!("saturated for {} second{s}: {why}", h.saturated_seconds);
        }
        out.push(Warning {
            severe: true,
            headline: SATURATION_HEADLINE.into(),
            detail: format!(
                "{why}. Run fewer users or a lower rate per generator, or spread the load over \
                 more machines."
            ),
        });
    }
}

/// Open model: iterations dropped, and a significant share of late starts.
fn open_model_warnings(r: &RunResult, out: &mut Vec<Warning>) {
    if let Some(o) = &r.run.open_model {
        let rate = if o.intended_rate > 0.0 {
            format!(
                "; achieved {:.1}/s of the intended {:.1}/s",
                o.achieved_rate, o.intended_rate
            )
        } else {
            String::new()
        };
        if o.dropped > 0 {
            out.push(Warning {
                severe: false,
                headline: format!(
                    "{} of {} scheduled iterations ({}) were dropped: the target got less load \
                     than planned",
                    o.dropped,
                    o.scheduled,
                    fmt_pct(share(o.dropped, o.scheduled))
                ),
                detail: format!(
                    "An iteration is dropped when it waits for a free user longer than the \
                     request timeout, or the run ends first (pool: {} at most){rate}.",
                    plural(o.max_users, "user")
                ),
            });
        }
        let late = share(o.late, o.scheduled);
        if o.late > 0 && late > LATE_WARN_SHARE {
            out.push(Warning {
                severe: false,
                headline: format!(
                    "{} ({} of those scheduled) started more than {} late",
                    plural(o.late, "iteration"),
                    fmt_pct(late),
                    super::trim_zeros(&fmt_us(o.late_after_us))
                ),
                detail: format!(
                    "At worst {} after their intended start; response times include that wait \
                     (service times do not){}.",
                    fmt_us(o.max_lateness_us),
                    if o.pool_exhausted_seconds > 0 {
                        format!(
                            "; every user of the pool was busy in {} s",
                            o.pool_exhausted_seconds
                        )
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// The load model in a few (label, value) rows: for the open model the schedule against
/// what happened (rates, iterations, lateness, the user pool), for the closed model the
/// coordinated-omission correction. Empty for a run from before these were recorded.
pub fn load_model_facts(r: &RunResult) -> Vec<(&'static str, String)> {
    let run = &r.run;
    let mut rows = Vec::new();
    if let Some(o) = &run.open_model {
        rows.push((
            "Model",
            "open: iterations start on a schedule (an arrival rate), whatever the responses do"
                .to_string(),
        ));
        let pct = if o.intended_rate > 0.0 {
            format!(" ({:.1} %)", o.achieved_rate / o.intended_rate * 100.0)
        } else {
            String::new()
        };
        rows.push((
            "Arrival rate",
            format!(
                "intended {:.1}/s (peak {:.1}/s), achieved {:.1}/s{pct}",
                o.intended_rate, o.peak_rate, o.achieved_rate
            ),
        ));
        rows.push((
            "Iterations",
            format!(
                "{} scheduled, {} started, {} late (more than {} after the intended start), {} \
                 dropped",
                o.scheduled,
                o.started,
                o.late,
                super::trim_zeros(&fmt_us(o.late_after_us)),
                o.dropped
            ),
        ));
        rows.push(("Max lateness", fmt_us(o.max_lateness_us)));
        rows.push((
            "User pool",
            format!(
                "max_users {}, pre_allocated {}, peak busy {}",
                o.max_users, o.pre_allocated, o.peak_busy
            ),
        ));
        rows.push((
            "Pool exhausted",
            if o.pool_exhausted_seconds == 0 {
                "never".to_string()
            } else {
                format!(
                    "{} s (every user busy, iterations queued)",
                    o.pool_exhausted_seconds
                )
            },
        ));
    } else if run.model == "closed" && !run.response_time_basis.is_empty() {
        rows.push((
            "Model",
            "closed: each user waits for its response before it sends the next request".to_string(),
        ));
        rows.push(("Coordinated omission", closed_model_fact(r)));
    }
    if let Some(it) = &run.iterations {
        rows.push((
            "Iterations",
            format!(
                "counted, {}: {} of {} completed, {} started",
                it.mode.replace('_', " "),
                it.completed,
                it.planned,
                it.started
            ),
        ));
    }
    if !rows.is_empty() {
        rows.push((
            "Latency shown",
            format!(
                "{}; {} beside it",
                response_time_label(r),
                SERVICE_TIME_LABEL
            ),
        ));
    }
    rows
}

/// The closed model's coordinated omission in a sentence: response times as measured and
/// whether the target stalled, with the corrected estimate beside them when it differs (or,
/// for a run of an older Skein, the correction that was applied).
pub fn closed_model_fact(r: &RunResult) -> String {
    let run = &r.run;
    match &run.co_correction {
        Some(c) if run.response_time_basis == "corrected" => format!(
            "response times corrected ({}): {} added for the requests users would have sent \
             while they waited",
            c.method.replace('_', " "),
            plural(c.synthetic_samples, "synthetic sample")
        ),
        None if run.response_time_basis == "corrected" => {
            "response times corrected; no synthetic samples were needed".to_string()
        }
        None => "not corrected".to_string(),
        Some(c) => {
            let stalls = match c.stalls.len() {
                0 => "no stall: no user waited far beyond its steps' usual time".to_string(),
                n => format!(
                    "the target stalled ({}, see the warning)",
                    plural(n as u64, "time")
                ),
            };
            let estimate = match &r.overall.co_estimate {
                Some(e) if c.synthetic_samples > 0 => format!(
                    "; corrected estimate (users keeping their own pace): p99 {}, {}",
                    fmt_us(e.p99_us),
                    plural(c.synthetic_samples, "synthetic sample")
                ),
                _ => String::new(),
            };
            format!("response times as measured (send to last byte); {stalls}{estimate}")
        }
    }
}

/// The generator's health in a few (label, value) rows; empty when it was not measured.
pub fn generator_health_facts(r: &RunResult) -> Vec<(&'static str, String)> {
    let Some(h) = &r.run.generator_health else {
        return Vec::new();
    };
    let mut rows = vec![
        ("Cores", h.cores.to_string()),
        (
            "CPU",
            format!(
                "mean {:.0} %, max {:.0} % of the generator's cores",
                h.cpu_pct_mean, h.cpu_pct_max
            ),
        ),
        (
            "Scheduler lag",
            format!(
                "p99 {}, max {}",
                fmt_us(h.sched_lag_p99_us),
                fmt_us(h.sched_lag_max_us)
            ),
        ),
    ];
    if is_open(r) || h.late_starts > 0 {
        rows.push((
            "Late starts (generator)",
            format!(
                "{} dispatched late while a user was free",
                plural(h.late_starts, "iteration")
            ),
        ));
    }
    rows.push((
        "Saturated",
        if h.saturated {
            let secs = if h.saturated_seconds > 0 {
                format!(" ({} s)", h.saturated_seconds)
            } else {
                String::new()
            };
            let why = if h.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", h.reasons.join("; "))
            };
            format!("YES{secs}{why}")
        } else {
            "no".to_string()
        },
    ));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_label_names_the_latency_of_each_model() {
        let (old, _) = fixtures::old();
        assert_eq!(response_time_label(&old), "response time");
        assert!(!has_service_time(&old));
        assert!(warnings(&old).is_empty());
        assert!(load_model_facts(&old).is_empty());
        assert!(generator_health_facts(&old).is_empty());
        let (closed, _) = fixtures::closed();
        assert_eq!(
            response_time_label(&closed),
            "response time (corrected for coordinated omission)"
        );
        assert!(has_service_time(&closed));
        let (open, _) = fixtures::open();
        assert_eq!(
            response_time_label(&open),
            "response time (from intended start)"
        );
    }

    /// Issue 12, defect 1: a closed-model run shows its measured times, names a stall with
    /// its window, and gives the corrected estimate beside them, never instead.
    #[test]
    fn issue12_a_stall_is_named_with_its_window_and_the_estimate_beside() {
        let (r, _) = fixtures::closed_stalled();
        assert_eq!(response_time_label(&r), "response time (as measured)");
        // The service columns would repeat the response times.
        assert!(!has_service_time(&r));
        let w = warnings(&r);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(!w[0].severe);
        assert_eq!(
            w[0].headline,
            "the target stalled from 2s to 4s: users were blocked for 50.0% of their time"
        );
        assert!(
            w[0].detail.starts_with(
                "GET /api/products/ID waited up to 1.01s where it usually takes 11.0ms."
            ),
            "{}",
            w[0].detail
        );
        assert!(
            w[0].detail
                .contains("p99 would be about 900.1ms (corrected estimate, against"),
            "{}",
            w[0].detail
        );
        assert!(w[0].detail.contains("open model (load.arrival_rate)"));
        let fact = closed_model_fact(&r);
        assert!(
            fact.starts_with(
                "response times as measured (send to last byte); the target stalled (1 time"
            ),
            "{fact}"
        );
        assert!(fact.contains("corrected estimate (users keeping their own pace): p99 900.1ms, 990 synthetic samples"), "{fact}");
        // Without a stall: said so, and nothing to warn about.
        let mut healthy = r.clone();
        healthy.run.co_correction.as_mut().unwrap().stalls.clear();
        healthy
            .run
            .co_correction
            .as_mut()
            .unwrap()
            .synthetic_samples = 0;
        healthy.overall.co_estimate = None;
        assert!(warnings(&healthy).is_empty());
        assert_eq!(
            closed_model_fact(&healthy),
            "response times as measured (send to last byte); no stall: no user waited far \
             beyond its steps' usual time"
        );
    }

    /// Issue 12, defect 4: requests that could not be built are said in plain words.
    #[test]
    fn issue12_requests_that_could_not_be_built_are_a_warning() {
        let (mut r, _) = fixtures::closed();
        r.overall.errors_by_kind.insert("template".into(), 12);
        r.error_examples.push(crate::metrics::ErrorExample {
            scenario: "shop".into(),
            step: "cart".into(),
            kind: "template".into(),
            message: "variable `token` is not set".into(),
        });
        let w = warnings(&r);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(
            w[0].headline,
            "12 requests could not be built, so nothing was sent for them"
        );
        assert!(
            w[0].detail
                .starts_with("cart: variable `token` is not set. Each one ended"),
            "{}",
            w[0].detail
        );
    }

    #[test]
    fn warnings_name_saturation_first_then_drops_and_late_starts() {
        let (closed, _) = fixtures::closed();
        assert!(warnings(&closed).is_empty());
        let (open, _) = fixtures::open();
        let w = warnings(&open);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].headline
                .starts_with("170 of 7800 scheduled iterations")
        );
        assert!(
            w[0].detail
                .contains("achieved 127.2/s of the intended 130.0/s")
        );
        assert!(
            w[1].headline.starts_with("412 iterations"),
            "{}",
            w[1].headline
        );
        assert!(w[1].detail.contains("2.35s"));
        let (sat, _) = fixtures::saturated();
        let w = warnings(&sat);
        assert_eq!(w.len(), 3);
        assert!(w[0].severe);
        assert_eq!(w[0].headline, SATURATION_HEADLINE);
        assert!(
            w[0].detail
                .starts_with("saturated for 12 seconds: CPU at 90 %")
        );
        assert!(w[0].detail.contains("timers fired up to 180ms late"));
        // A few late starts are not worth a warning.
        let (mut few, _) = fixtures::open();
        if let Some(o) = few.run.open_model.as_mut() {
            o.late = 10;
            o.dropped = 0;
        }
        assert!(warnings(&few).is_empty());
    }

    /// The warnings' sentences read as written: no run of spaces left inside them by a
    /// string broken over two source lines.
    #[test]
    fn warnings_and_open_model_facts_have_no_stray_spaces() {
        let (sat, _) = fixtures::saturated();
        let mut texts: Vec<String> = warnings(&sat)
            .into_iter()
            .flat_map(|w| [w.headline, w.detail])
            .collect();
        texts.extend(load_model_facts(&sat).into_iter().map(|(_, v)| v));
        texts.extend(generator_health_facts(&sat).into_iter().map(|(_, v)| v));
        assert_eq!(texts.len(), 6 + 7 + 5, "{texts:#?}");
        for t in texts {
            assert!(!t.contains("  "), "{t:?}");
        }
    }

    #[test]
    fn load_model_facts_per_model() {
        let (open, _) = fixtures::open();
        let f = load_model_facts(&open);
        let get = |k: &str| {
            f.iter()
                .find(|(l, _)| *l == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert!(get("Model").starts_with("open"));
        assert_eq!(
            get("Arrival rate"),
            "intended 130.0/s (peak 130.0/s), achieved 127.2/s (97.8 %)"
        );
        assert!(get("Iterations").contains("7800 scheduled, 7630 started, 412 late"));
        assert!(get("User pool").contains("max_users 60, pre_allocated 10, peak busy 60"));
        assert!(get("Pool exhausted").starts_with("3 s"));
        let (closed, _) = fixtures::closed();
        let f = load_model_facts(&closed);
        assert!(f[0].1.starts_with("closed"));
        assert!(f[1].1.contains("321 synthetic samples"), "{f:?}");
        let h = generator_health_facts(&closed);
        assert_eq!(h.last().unwrap(), &("Saturated", "no".to_string()));
    }
}
