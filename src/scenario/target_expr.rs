//! The target expression syntax: `METRIC[(KEY="NAME", ...)] OP VALUE`.
//!
//! ```text
//! p95 < 100ms                            error_rate < 0.1%
//! p99(step="GET /api/products/ID") < 250ms   checks >= 99.5%
//! mean(scenario="browse") < 80ms         rps >= 500/s
//! p95(tag="api") < 100ms                 users >= 1000
//! service_p95 < 50ms                     service_mean(step="GET /") < 20ms
//! ```
//!
//! A time metric (`mean`, `pN`, `max`) bounds the response time, what a user waits: from
//! the intended start in the open model, corrected for coordinated omission in the closed
//! one. With the prefix `service_` it bounds the service time instead, the raw time from
//! sending the request to the last byte (`service_p95`, `service_mean`, `service_max`).
//!
//! Parsing is pure: an error carries the byte offset of the part at fault (the metric, a
//! selector, the operator, the value), which the caller turns into a column. Names of steps,
//! scenarios and tags are not checked here; that needs the plan.

use super::suggest;
use super::units;
use crate::metrics::verdict::{Aggregate, Metric, Op, Scope, Unit};

/// The metrics an expression can name, for messages and suggestions. Any percentile `pN`
/// with 0 < N < 100 is accepted too.
pub const METRICS: [&str; 19] = [
    "mean",
    "p50",
    "p75",
    "p90",
    "p95",
    "p99",
    "p99.9",
    "max",
    "service_mean",
    "service_p50",
    "service_p95",
    "service_p99",
    "service_max",
    "error_rate",
    "checks",
    "rps",
    "users",
    "availability",
    "max_outage",
];
/// Prefix of a time metric that bounds the service time instead of the response time.
pub const SERVICE_PREFIX: &str = "service_";
const METRIC_EXPECTED: &str = "a metric: mean, p50, p75, p90, p95, p99, p99.9, max (response time), \
                               service_mean, service_p95, ... (service time), error_rate, checks, \
                               rps, users, availability or max_outage";
const SELECTORS: [&str; 6] = [
    "step",
    "scenario",
    "tag",
    "server_timing",
    "group",
    "metric",
];
const SELECTOR_EXPECTED: &str =
    "step=\"NAME\", scenario=\"NAME\", tag=\"NAME\", group=\"NAME\" or metric=\"NAME\"";
const OP_EXPECTED: &str = "one of <, <=, >, >=";

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub metric: Metric,
    pub aggregate: Option<Aggregate>,
    pub scope: Scope,
    /// Byte offset of the scope's name in the text, when a scope was written.
    pub scope_offset: Option<usize>,
    pub op: Op,
    /// In `unit`: µs, a share in [0, 1], per second, or a count.
    pub threshold: f64,
    pub unit: Unit,
    /// A target on a custom metric (`metric="NAME"`): the bound was a bare number, in the
    /// metric's own unit (`threshold` is that number; the plan scales it); `false`: a time,
    /// in µs.
    pub bare: bool,
}

/// What is wrong with an expression, and where (a byte offset into it).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub offset: usize,
    pub found: String,
    pub expected: String,
    pub hint: Option<String>,
}

/// An expression error at `offset` (also the Lighthouse expressions').
pub(super) fn fail<T>(
    offset: usize,
    found: impl Into<String>,
    expected: impl Into<String>,
    hint: Option<String>,
) -> Result<T, ExprError> {
    Err(ExprError {
        offset,
        found: found.into(),
        expected: expected.into(),
        hint,
    })
}

/// A position in the text being parsed.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    /// The longest run of characters matching `f`, with its offset.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> (usize, &'a str) {
        let start = self.pos;
        let r = self.rest();
        let len = r.find(|c: char| !f(c)).unwrap_or(r.len());
        self.pos += len;
        (start, &r[..len])
    }
    /// The next word, for messages.
    fn next_word(&self) -> String {
        let r = self.rest().trim_start();
        match r.split_whitespace().next() {
            Some(w) => format!("{w:?}"),
            None => "the end of the expression".into(),
        }
    }
}

/// What the parentheses after the metric said.
#[derive(Default)]
struct Selectors {
    scope: Option<(Scope, usize, usize)>,
    server_timing: Option<(String, usize)>,
}

/// Parse a target expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    // Lighthouse's scores and page metrics have a syntax of their own (issue 19).
    if let Some(x) = super::lighthouse::parse_target(text) {
        return x;
    }
    let mut c = Cursor { s: text, pos: 0 };
    c.skip_ws();
    let (m_at, word) = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.');
    if word.is_empty() {
        return fail(
            m_at,
            c.next_word(),
            METRIC_EXPECTED,
            Some("e.g. `p95 < 100ms`".into()),
        );
    }
    if word == "p" && c.peek() == Some('(') {
        let inner: String = c.rest()[1..].chars().take_while(|c| *c != ')').collect();
        return fail(
            m_at,
            format!("\"p({inner})\""),
            METRIC_EXPECTED,
            Some(format!("write p{}", inner.trim())),
        );
    }
    let (base, aggregate, unit) = metric_of(word).map_err(|hint| ExprError {
        offset: m_at,
        found: format!("unknown metric {word:?}"),
        expected: METRIC_EXPECTED.into(),
        hint,
    })?;
    c.skip_ws();
    let mut sel = Selectors::default();
    if c.eat('(') {
        selectors(&mut c, &mut sel)?;
    }
    let metric = match (&sel.server_timing, base) {
        (None, m) => m,
        (Some((name, _)), Metric::ResponseTime) => Metric::ServerTiming(name.clone()),
        (Some((_, at)), _) => {
            return fail(
                *at,
                format!("server_timing with {word}"),
                "server_timing on a time: mean, pNN or max",
                None,
            );
        }
    };
    if let (Metric::MaxOutage, Some((_, key_at, _))) = (&metric, &sel.scope) {
        return fail(
            *key_at,
            "a scope on max_outage",
            "max_outage without a scope",
            Some("an outage is a span in which no request of the run succeeded".into()),
        );
    }
    if let (Metric::Users, Some((_, key_at, _))) = (&metric, &sel.scope) {
        return fail(
            *key_at,
            "a scope on users",
            "users without a scope",
            Some("users counts the peak of concurrent users over the whole run".into()),
        );
    }
    let on_metric = matches!(sel.scope, Some((Scope::Metric(_), ..)));
    if let (false, Metric::Values | Metric::Sum) = (on_metric, &metric) {
        return fail(
            m_at,
            format!("{word} without a metric"),
            format!("{word}(metric=\"NAME\"): the {word} of a custom metric"),
            None,
        );
    }
    if on_metric
        && let Some(hint) = match &metric {
            Metric::ResponseTime | Metric::Values | Metric::Sum => None,
            Metric::ServiceTime => Some("a custom metric has one value each: write mean, pNN, max"),
            Metric::ServerTiming(_) => Some("write server_timing or metric, not both"),
            _ => Some("a custom metric has mean, pNN, max, count and sum"),
        }
    {
        return fail(
            m_at,
            format!("{word} of a custom metric"),
            "mean, pNN, max, count or sum of a custom metric",
            Some(hint.into()),
        );
    }
    c.skip_ws();
    let op = operator(&mut c)?;
    c.skip_ws();
    let v_at = c.pos;
    let value = c.rest().trim_end();
    if on_metric && !value.is_empty() {
        let (threshold, bare) = if let Some(n) = number(value) {
            (n, true)
        } else if let Ok(d) = units::parse_duration(value) {
            (d.as_nanos() as f64 / 1000.0, false)
        } else {
            return fail(
                v_at,
                format!("{value:?}"),
                "a number in the metric's unit, or a time such as 5ms for a time metric",
                None,
            );
        };
        let (scope, at) = match sel.scope {
            Some((s, _, at)) => (s, at),
            None => (Scope::Overall, v_at),
        };
        return Ok(Expr {
            metric,
            aggregate,
            scope,
            scope_offset: Some(at),
            op,
            threshold,
            unit: Unit::Count,
            bare,
        });
    }
    if value.is_empty() {
        return fail(
            v_at,
            "nothing after the operator",
            format!("a bound, e.g. `{word} {} {}`", op.symbol(), example(unit)),
            None,
        );
    }
    let threshold = bound(unit, word, value).map_err(|(found, expected, hint)| ExprError {
        offset: v_at,
        found,
        expected,
        hint,
    })?;
    if let Some(hint) = impossible(unit, op, threshold, word, value) {
        return fail(
            v_at,
            format!("`{}`", text.trim()),
            "a bound that some run could meet",
            Some(hint),
        );
    }
    let (scope, scope_offset) = match sel.scope {
        Some((s, _, at)) => (s, Some(at)),
        None => (Scope::Overall, None),
    };
    Ok(Expr {
        metric,
        aggregate,
        scope,
        scope_offset,
        op,
        threshold,
        unit,
        bare: false,
    })
}

/// A metric word: what it measures, which aggregate, in which unit. The error is a hint.
fn metric_of(word: &str) -> Result<(Metric, Option<Aggregate>, Unit), Option<String>> {
    if matches!(
        word.to_ascii_lowercase().as_str(),
        "service" | "service_time" | "servicetime"
    ) {
        return Err(Some(
            "name an aggregate of the service time, e.g. service_p95 or service_mean".into(),
        ));
    }
    if let Some(rest) = word.strip_prefix(SERVICE_PREFIX) {
        return service_metric_of(word, rest);
    }
    let time = |a| Ok((Metric::ResponseTime, Some(a), Unit::Us));
    match word {
        "mean" => return time(Aggregate::Mean),
        "max" => return time(Aggregate::Max),
        "error_rate" => return Ok((Metric::ErrorRate, None, Unit::Ratio)),
        "checks" => return Ok((Metric::Checks, None, Unit::Ratio)),
        "rps" => return Ok((Metric::Rps, None, Unit::PerSecond)),
        "users" => return Ok((Metric::Users, None, Unit::Count)),
        "count" => return Ok((Metric::Values, None, Unit::Count)),
        "sum" => return Ok((Metric::Sum, None, Unit::Count)),
        "availability" => return Ok((Metric::Availability, None, Unit::Ratio)),
        "max_outage" => return Ok((Metric::MaxOutage, None, Unit::Us)),
        _ => {}
    }
    if let Some(n) = word.strip_prefix('p').and_then(number) {
        return match n {
            n if n > 0.0 && n < 100.0 => time(Aggregate::Percentile(n)),
            n if n >= 100.0 && word == "p999" => Err(Some("write p99.9".into())),
            n if n >= 100.0 => Err(Some("the slowest request is `max`".into())),
            _ => Err(Some("a percentile is above 0, e.g. p50".into())),
        };
    }
    let alias = match word.to_ascii_lowercase().as_str() {
        "avg" | "average" => "write mean",
        "med" | "median" => "write p50",
        "p999" => "write p99.9",
        "latency" | "response_time" | "duration" | "http_req_duration" => {
            "name an aggregate of the response time, e.g. p95 or mean"
        }
        "errors" | "error" | "failures" | "failed" | "http_req_failed" => "write error_rate",
        "vus" | "vus_max" | "concurrency" | "concurrent_users" => "write users",
        "uptime" | "success_rate" | "availability_pct" => "write availability",
        "outage" | "downtime" | "max_downtime" | "outage_max" => "write max_outage",
        "throughput" | "http_reqs" | "requests" | "req_per_sec" | "requests_per_second" => {
            "write rps"
        }
        _ => "",
    };
    if !alias.is_empty() {
        return Err(Some(alias.into()));
    }
    Err(suggest::closest(word, &METRICS).map(|s| format!("did you mean \"{s}\"?")))
}

/// `service_` and a time aggregate (`rest`): the same aggregate of the service time. Hints
/// are rewritten in the prefixed spelling (`service_avg` -> `write service_mean`).
fn service_metric_of(
    word: &str,
    rest: &str,
) -> Result<(Metric, Option<Aggregate>, Unit), Option<String>> {
    let only_times = || {
        Some(format!(
            "after `{SERVICE_PREFIX}` comes mean, max or a percentile such as p95"
        ))
    };
    match metric_of(rest) {
        Ok((Metric::ResponseTime, a, unit)) => Ok((Metric::ServiceTime, a, unit)),
        Ok(_) => Err(only_times()),
        Err(Some(hint)) => match hint.strip_prefix("write ") {
            Some(w) if matches!(metric_of(w), Ok((Metric::ResponseTime, ..))) => {
                Err(Some(format!("write {SERVICE_PREFIX}{w}")))
            }
            Some(_) => Err(only_times()),
            None if hint.starts_with("did you mean") => Err(suggest::closest(word, &METRICS)
                .map(|s| format!("did you mean \"{s}\"?"))
                .or_else(only_times)),
            None => Err(Some(hint)),
        },
        Err(None) => Err(only_times()),
    }
}

/// `key="name", ...)` after the metric's `(`.
fn selectors(c: &mut Cursor<'_>, sel: &mut Selectors) -> Result<(), ExprError> {
    loop {
        c.skip_ws();
        let (k_at, key) = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if key.is_empty() {
            return fail(c.pos, c.next_word(), SELECTOR_EXPECTED, None);
        }
        if !SELECTORS.contains(&key) {
            let hint = match key {
                "name" => Some("a step's name is `step=\"NAME\"`".to_string()),
                _ => suggest::closest(key, &SELECTORS).map(|s| format!("did you mean \"{s}\"?")),
            };
            return fail(
                k_at,
                format!("unknown selector {key:?}"),
                SELECTOR_EXPECTED,
                hint,
            );
        }
        c.skip_ws();
        if !c.eat('=') {
            return fail(
                c.pos,
                c.next_word(),
                format!("`=` after `{key}`"),
                Some(format!("e.g. {key}=\"NAME\"")),
            );
        }
        c.skip_ws();
        let (v_at, value) = name(c)?;
        if value.trim().is_empty() {
            return fail(
                v_at,
                "an empty name",
                format!("a name, e.g. {key}=\"api\""),
                None,
            );
        }
        let scope = match key {
            "step" => Some(Scope::Step(value)),
            "scenario" => Some(Scope::Scenario(value)),
            "tag" => Some(Scope::Tag(value)),
            "group" => Some(Scope::Group(value)),
            "metric" => Some(Scope::Metric(value)),
            _ => {
                if sel.server_timing.is_some() {
                    return fail(k_at, "a second server_timing", "one server_timing", None);
                }
                sel.server_timing = Some((value, k_at));
                None
            }
        };
        if let Some(s) = scope {
            if sel.scope.is_some() {
                return fail(
                    k_at,
                    format!("a second scope `{key}`"),
                    "one of step, scenario, tag or group",
                    Some("write one target per scope".into()),
                );
            }
            sel.scope = Some((s, k_at, v_at));
        }
        c.skip_ws();
        if c.eat(',') {
            continue;
        }
        if c.eat(')') {
            return Ok(());
        }
        return fail(c.pos, c.next_word(), "`,` or `)`", None);
    }
}

/// A quoted (`"..."`, `'...'`, with `\` escapes) or bare name, and where its text starts.
fn name(c: &mut Cursor<'_>) -> Result<(usize, String), ExprError> {
    let Some(q @ ('"' | '\'')) = c.peek() else {
        let (at, bare) = c.take_while(|ch| ch != ',' && ch != ')');
        return Ok((at, bare.trim_end().to_string()));
    };
    let open = c.pos;
    c.pos += 1;
    let start = c.pos;
    let mut out = String::new();
    let mut chars = c.rest().char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            ch if ch == q => {
                c.pos = start + i + 1;
                return Ok((start, out));
            }
            ch => out.push(ch),
        }
    }
    fail(
        open,
        "a name without its closing quote",
        format!("a name in quotes, e.g. tag={q}api{q}"),
        None,
    )
}

fn operator(c: &mut Cursor<'_>) -> Result<Op, ExprError> {
    let r = c.rest();
    let (op, len) = if r.starts_with("<=") {
        (Op::Le, 2)
    } else if r.starts_with(">=") {
        (Op::Ge, 2)
    } else if r.starts_with('<') {
        (Op::Lt, 1)
    } else if r.starts_with('>') {
        (Op::Gt, 1)
    } else {
        let hint = if r.starts_with("=<") {
            Some("write <=".to_string())
        } else if r.starts_with("=>") {
            Some("write >=".to_string())
        } else if r.starts_with('=') || r.starts_with("!=") {
            Some("a target is a bound: e.g. `p95 < 100ms` or `users >= 1000`".to_string())
        } else {
            None
        };
        let found = if r.is_empty() {
            "no comparison".to_string()
        } else {
            c.next_word()
        };
        return fail(c.pos, found, OP_EXPECTED, hint);
    };
    c.pos += len;
    Ok(op)
}

/// A plain decimal number: digits, optionally `.` and digits.
fn number(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && digits(frac))
        .then(|| s.parse().ok())
        .flatten()
}

fn example(unit: Unit) -> &'static str {
    match unit {
        Unit::Us => "100ms",
        Unit::Ratio => "1%",
        Unit::PerSecond => "500/s",
        Unit::Count => "1000",
        Unit::Thousandths => "1.5",
    }
}

/// What a value of `unit` looks like, naming the metric.
fn unit_expected(unit: Unit, word: &str) -> String {
    match unit {
        Unit::Us => format!("a time such as 100ms or 1s for {word}"),
        Unit::Ratio => format!("a percentage such as 0.1% for {word}"),
        Unit::PerSecond => format!("a rate such as 500/s for {word}"),
        Unit::Count => format!("a number of users such as 1000 for {word}"),
        Unit::Thousandths => format!("a number such as 1.5 for {word}"),
    }
}

/// The unit `value` seems to be written in, when it is another metric's.
fn written_unit(value: &str) -> Option<&'static str> {
    if value.ends_with('%') {
        Some("a percentage")
    } else if value.contains('/') {
        Some("a rate")
    } else if units::parse_duration(value).is_ok() {
        Some("a time")
    } else {
        None
    }
}

type BoundError = (String, String, Option<String>);

/// The threshold `value` in `unit`: µs, a share, per second, or a count.
fn bound(unit: Unit, word: &str, value: &str) -> Result<f64, BoundError> {
    let found = format!("{value:?}");
    let expected = unit_expected(unit, word);
    if value.starts_with('-') {
        return Err((found, "a bound of 0 or more".into(), None));
    }
    let wrong = |what: &str| {
        let hint = match unit {
            Unit::Us if word.starts_with(SERVICE_PREFIX) => {
                format!("{word} is a service time, not {what}")
            }
            Unit::Us if word == "max_outage" => {
                format!("{word} is a time (the longest outage), not {what}")
            }
            Unit::Us => format!("{word} is a response time, not {what}"),
            Unit::Ratio => format!("{word} is a share of requests, not {what}"),
            Unit::PerSecond => format!("{word} counts requests per second, not {what}"),
            Unit::Count => format!("{word} counts users, not {what}"),
            Unit::Thousandths => format!("{word} is a plain number, not {what}"),
        };
        (found.clone(), expected.clone(), Some(hint))
    };
    match unit {
        Unit::Us => match units::parse_duration(value) {
            Ok(d) => Ok(d.as_nanos() as f64 / 1000.0),
            // k6's `p(95)<200` is in milliseconds, as nearly every latency limit is.
            Err(_) if units::is_bare_number(value) => {
                Err((found, expected, Some(units::millisecond_hint(value))))
            }
            Err(hint) => match written_unit(value) {
                Some(w) => Err(wrong(w)),
                None => Err((found, expected, Some(hint))),
            },
        },
        Unit::Ratio => {
            if let Some(n) = value.strip_suffix('%') {
                return match number(n.trim_end()) {
                    // Rounded to 12 decimals: 99.9% is 0.999, which 999 of 1000 meet
                    // (99.9 / 100 is 0.9990000000000001 in binary).
                    Some(n) => Ok((n / 100.0 * 1e12).round() / 1e12),
                    None => Err((found, expected, None)),
                };
            }
            if let Some(n) = number(value) {
                let pct = if n <= 1.0 { n * 100.0 } else { n };
                return Err((found, expected, Some(format!("write {pct}%"))));
            }
            match written_unit(value) {
                Some(w) => Err(wrong(w)),
                None => Err((found, expected, None)),
            }
        }
        Unit::PerSecond => {
            if let Some((n, per)) = value.split_once('/') {
                let scale = match per.trim() {
                    "s" | "sec" => 1.0,
                    "m" | "min" => 1.0 / 60.0,
                    other => {
                        let hint = format!("`/{other}` is not a rate unit; use /s or /m");
                        return Err((found, expected, Some(hint)));
                    }
                };
                return match number(n.trim()) {
                    Some(n) => Ok(n * scale),
                    None => Err((found, expected, None)),
                };
            }
            if number(value).is_some() {
                return Err((found, expected, Some(format!("write {value}/s"))));
            }
            match written_unit(value) {
                Some(w) => Err(wrong(w)),
                None => Err((found, expected, None)),
            }
        }
        Unit::Thousandths => number(value)
            .map(|n| n * 1000.0)
            .ok_or((found, expected, None)),
        Unit::Count => match number(value) {
            Some(n) if n.fract() == 0.0 => Ok(n),
            Some(_) => Err((found, "a whole number of users".into(), None)),
            None => match written_unit(value) {
                Some(w) => Err(wrong(w)),
                None => Err((found, expected, None)),
            },
        },
    }
}

/// Why no run could meet `op threshold`, if none could.
fn impossible(unit: Unit, op: Op, threshold: f64, word: &str, value: &str) -> Option<String> {
    if !threshold.is_finite() {
        return Some(format!("{value} is not a finite number"));
    }
    match (unit, op) {
        (Unit::Ratio, _) if threshold > 1.0 => Some(format!("{word} is a share from 0% to 100%")),
        (_, Op::Lt) if threshold == 0.0 => Some(format!("{word} is never below {value}")),
        (Unit::Us, Op::Le) if threshold == 0.0 && word != "max_outage" => {
            Some(format!("{word} is a time, always above 0"))
        }
        (Unit::Ratio, Op::Gt) if threshold == 1.0 => Some(format!("{word} is never above 100%")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Expr {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn err(s: &str) -> ExprError {
        match parse(s) {
            Ok(x) => panic!("{s}: parsed as {x:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_metric_parses_with_its_unit() {
        let t = |s: &str| {
            let x = ok(s);
            (x.metric, x.aggregate, x.unit, x.threshold)
        };
        use Aggregate::*;
        use Metric::*;
        use Unit::*;
        assert_eq!(t("mean < 80ms"), (ResponseTime, Some(Mean), Us, 80_000.0));
        for (w, p) in [
            ("p50", 50.0),
            ("p75", 75.0),
            ("p90", 90.0),
            ("p95", 95.0),
            ("p99", 99.0),
            ("p99.9", 99.9),
            ("p97.5", 97.5),
        ] {
            assert_eq!(
                t(&format!("{w} < 1s")),
                (ResponseTime, Some(Percentile(p)), Us, 1e6)
            );
        }
        assert_eq!(t("max <= 2s"), (ResponseTime, Some(Max), Us, 2e6));
        assert_eq!(t("error_rate < 0.1%"), (ErrorRate, None, Ratio, 0.001));
        assert_eq!(t("checks >= 99.5%"), (Checks, None, Ratio, 0.995));
        assert_eq!(t("rps > 500/s"), (Rps, None, PerSecond, 500.0));
        assert_eq!(t("rps > 600/m"), (Rps, None, PerSecond, 10.0));
        assert_eq!(t("users >= 1000"), (Users, None, Count, 1000.0));
    }

    #[test]
    fn issue19_availability_and_max_outage() {
        let x = ok("availability >= 99.9%");
        assert_eq!((x.metric, x.unit), (Metric::Availability, Unit::Ratio));
        assert_eq!(x.threshold, 0.999);
        let x = ok("availability(step=\"GET /\") >= 99%");
        assert_eq!(x.scope, Scope::Step("GET /".into()));
        let x = ok("max_outage < 2s");
        assert_eq!(
            (x.metric, x.unit, x.threshold),
            (Metric::MaxOutage, Unit::Us, 2e6)
        );
        // No outage at all is a bound a run can meet.
        assert_eq!(ok("max_outage <= 0s").threshold, 0.0);
        let e = err("max_outage(tag=\"api\") < 1s");
        assert_eq!(e.found, "a scope on max_outage");
        assert_eq!(
            err("uptime >= 99%").hint.as_deref(),
            Some("write availability")
        );
        assert_eq!(
            err("downtime < 1s").hint.as_deref(),
            Some("write max_outage")
        );
        let e = err("max_outage < 5%");
        assert!(
            e.hint
                .as_deref()
                .unwrap_or("")
                .contains("the longest outage"),
            "{e:?}"
        );
        assert_eq!(
            err("availability >= 99.9").hint.as_deref(),
            Some("write 99.9%")
        );
    }

    #[test]
    fn service_time_metrics_take_the_prefix() {
        let t = |s: &str| {
            let x = ok(s);
            (x.metric, x.aggregate, x.unit, x.threshold)
        };
        use Aggregate::*;
        use Metric::*;
        assert_eq!(
            t("service_p95 < 50ms"),
            (ServiceTime, Some(Percentile(95.0)), Unit::Us, 50_000.0)
        );
        assert_eq!(
            t("service_p99.9 <= 1s"),
            (ServiceTime, Some(Percentile(99.9)), Unit::Us, 1e6)
        );
        assert_eq!(t("service_mean < 1ms").1, Some(Mean));
        assert_eq!(t("service_max < 2s").1, Some(Max));
        let x = ok(r#"service_p95(step="GET /") < 20ms"#);
        assert_eq!(
            (x.metric, x.scope),
            (ServiceTime, Scope::Step("GET /".into()))
        );
        // The plain words stay the response time.
        assert_eq!(ok("p95 < 1s").metric, ResponseTime);
    }

    #[test]
    fn service_time_mistakes_are_explained() {
        assert_eq!(
            err("service_avg < 1s").hint.as_deref(),
            Some("write service_mean")
        );
        assert_eq!(
            err("service_p999 < 1s").hint.as_deref(),
            Some("write service_p99.9")
        );
        assert!(
            err("service_time < 1s")
                .hint
                .unwrap()
                .contains("service_p95")
        );
        assert!(err("service < 1s").hint.unwrap().contains("service_p95"));
        assert!(
            err("service_error_rate < 1%")
                .hint
                .unwrap()
                .contains("mean, max or a percentile")
        );
        assert!(err("service_p100 < 1s").hint.unwrap().contains("max"));
        assert!(
            err("service_p59x < 1s")
                .hint
                .unwrap()
                .contains("mean, max or a percentile")
        );
        assert_eq!(
            err("servce_p95 < 1s").hint.as_deref(),
            Some("did you mean \"service_p95\"?")
        );
        let e = err("service_p95 < 1%");
        assert!(e.hint.unwrap().contains("service time"));
        assert!(
            err(r#"service_mean(server_timing="db") < 1s"#)
                .expected
                .contains("server_timing on a time")
        );
    }

    #[test]
    fn units_convert_to_microseconds_shares_and_rates() {
        assert_eq!(ok("p95 < 250us").threshold, 250.0);
        assert_eq!(ok("p95 < 1.5ms").threshold, 1500.0);
        assert_eq!(ok("p95 < 1m30s").threshold, 90e6);
        assert_eq!(ok("error_rate <= 5%").threshold, 0.05);
        assert_eq!(ok("error_rate <= 0%").threshold, 0.0);
        assert_eq!(ok("checks >= 100%").threshold, 1.0);
    }

    #[test]
    fn every_operator_with_or_without_spaces() {
        assert_eq!(ok("p95 < 1s").op, Op::Lt);
        assert_eq!(ok("p95<=1s").op, Op::Le);
        assert_eq!(ok("  rps >  1/s ").op, Op::Gt);
        assert_eq!(ok("users>=5").op, Op::Ge);
        let e = err("p95 == 1s");
        assert_eq!((e.offset, e.expected.as_str()), (4, OP_EXPECTED));
        assert!(e.hint.unwrap().contains("bound"));
        assert_eq!(err("p95 =< 1s").hint.as_deref(), Some("write <="));
        assert_eq!(err("p95").found, "no comparison");
        assert_eq!(err("p95 100ms").offset, 4);
    }

    #[test]
    fn scopes_name_a_step_a_scenario_or_a_tag() {
        let x = ok(r#"p99(step="GET /api/products/ID") < 250ms"#);
        assert_eq!(x.scope, Scope::Step("GET /api/products/ID".into()));
        assert_eq!(x.scope_offset, Some(10));
        assert_eq!(
            ok(r#"mean(scenario="browse") < 80ms"#).scope,
            Scope::Scenario("browse".into())
        );
        assert_eq!(
            ok("p95( tag = 'api' ) < 100ms").scope,
            Scope::Tag("api".into())
        );
        assert_eq!(ok("p95(tag=api) < 100ms").scope, Scope::Tag("api".into()));
        assert_eq!(
            ok(r#"error_rate(step="say \"hi\"") < 1%"#).scope,
            Scope::Step("say \"hi\"".into())
        );
        assert_eq!(ok("p95 < 1s").scope, Scope::Overall);
        let x = ok(r#"mean(tag="api", server_timing="db") < 50ms"#);
        assert_eq!(
            (x.metric, x.scope),
            (Metric::ServerTiming("db".into()), Scope::Tag("api".into()))
        );
    }

    #[test]
    fn scope_errors_point_at_the_selector() {
        let e = err(r#"p95(stpe="x") < 1s"#);
        assert_eq!(e.offset, 4);
        assert_eq!(e.hint.as_deref(), Some("did you mean \"step\"?"));
        let e = err(r#"p95(step="x", tag="y") < 1s"#);
        assert_eq!(e.offset, 14);
        assert!(err(r#"p95(step="x) < 1s"#).found.contains("closing quote"));
        assert!(err(r#"p95(step="") < 1s"#).found.contains("empty"));
        assert_eq!(err(r#"p95(step "x") < 1s"#).expected, "`=` after `step`");
        assert_eq!(err(r#"p95(step="x" < 1s"#).expected, "`,` or `)`");
        let e = err(r#"users(scenario="a") >= 10"#);
        assert_eq!(e.offset, 6);
        assert!(e.hint.unwrap().contains("whole run"));
        assert!(
            err(r#"error_rate(server_timing="db") < 1%"#)
                .expected
                .contains("server_timing on a time")
        );
    }

    #[test]
    fn unknown_metrics_suggest_the_right_one() {
        let e = err("p59x < 1s");
        assert_eq!((e.offset, e.found.as_str()), (0, "unknown metric \"p59x\""));
        assert_eq!(
            err("eror_rate < 1%").hint.as_deref(),
            Some("did you mean \"error_rate\"?")
        );
        assert_eq!(err("avg < 1s").hint.as_deref(), Some("write mean"));
        assert_eq!(err("median < 1s").hint.as_deref(), Some("write p50"));
        assert_eq!(err("p999 < 1s").hint.as_deref(), Some("write p99.9"));
        assert_eq!(err("p(95) < 1s").hint.as_deref(), Some("write p95"));
        assert!(err("p100 < 1s").hint.unwrap().contains("max"));
        assert!(err("p0 < 1s").hint.unwrap().contains("above 0"));
        assert_eq!(
            err("http_req_failed < 1%").hint.as_deref(),
            Some("write error_rate")
        );
        assert_eq!(err("vus >= 10").hint.as_deref(), Some("write users"));
        assert_eq!(err("  < 1s").offset, 2);
    }

    #[test]
    fn issue12_a_latency_limit_without_a_unit_suggests_milliseconds() {
        let hint = err("p95 < 200").hint.unwrap();
        assert!(hint.starts_with("add a unit: 200ms"), "{hint}");
        assert!(!hint.starts_with("add a unit, e.g. 200s"), "{hint}");
        let hint = err("service_p99 <= 12.5").hint.unwrap();
        assert!(hint.starts_with("add a unit: 12.5ms"), "{hint}");
    }

    #[test]
    fn wrong_units_name_the_metric() {
        let e = err("error_rate < 100ms");
        assert_eq!(e.offset, 13);
        assert_eq!(e.expected, "a percentage such as 0.1% for error_rate");
        assert!(e.hint.unwrap().contains("not a time"));
        let e = err("p95 < 1%");
        assert_eq!(e.expected, "a time such as 100ms or 1s for p95");
        assert!(e.hint.unwrap().contains("not a percentage"));
        assert!(err("p95 < 100").hint.unwrap().contains("add a unit"));
        assert_eq!(
            err("p95 < 100 ms").hint.as_deref(),
            Some("write it without spaces: 100ms")
        );
        assert_eq!(err("error_rate < 0.01").hint.as_deref(), Some("write 1%"));
        assert_eq!(err("rps > 500").hint.as_deref(), Some("write 500/s"));
        assert!(err("rps > 5/h").hint.unwrap().contains("/s or /m"));
        assert!(err("rps > 5ms").hint.unwrap().contains("not a time"));
        assert!(err("users > 10/s").hint.unwrap().contains("not a rate"));
        assert_eq!(err("users > 10.5").expected, "a whole number of users");
        assert_eq!(err("p95 < -5ms").expected, "a bound of 0 or more");
        assert_eq!(err("p95 <").found, "nothing after the operator");
    }

    #[test]
    fn impossible_bounds_are_refused() {
        for s in [
            "error_rate < 0%",
            "error_rate < 150%",
            "p95 < 0ms",
            "p95 <= 0s",
            "checks > 100%",
            "rps < 0/s",
            "users < 0",
        ] {
            let e = err(s);
            assert_eq!(e.expected, "a bound that some run could meet", "{s}");
            assert_eq!(e.offset, s.rfind(' ').unwrap() + 1, "{s}");
        }
        // Strict but possible.
        ok("error_rate <= 0%");
        ok("checks >= 100%");
        ok("p95 > 0ms");
    }
}
