//! Small value syntaxes of scenario files: durations, ramps, names.
//!
//! Each parser returns what went wrong as a hint the user can act on; the caller adds the
//! position and key.

use std::time::Duration;

/// What a duration looks like, for messages.
pub const DURATION_EXPECTED: &str = "a duration such as 250ms, 30s or 1m30s";

/// A duration in whole µs, saturating (what targets and capacity inputs store).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Parse `500us`, `250ms`, `1s`, `1.5s`, `1m30s`, `2h`: numbers each followed by a unit
/// (`us`/`µs`, `ms`, `s`, `m`, `h`), no spaces. The error is a hint.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.trim().is_empty() {
        return Err("write a number with a unit, e.g. 30s".into());
    }
    if s.trim() != s || s.contains(' ') {
        let joined = s.replace(' ', "");
        return Err(match parse_duration(&joined) {
            Ok(_) => format!("write it without spaces: {joined}"),
            Err(hint) => hint,
        });
    }
    if is_bare_number(s) {
        return Err(format!("add a unit, e.g. {s}s"));
    }
    let mut nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if num.is_empty() {
            return Err("each unit needs a number before it, e.g. 1m30s".into());
        }
        let per_unit: u128 = match unit {
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("add a unit after {num}, e.g. {num}s")),
            other => {
                return Err(match unit_alias(other) {
                    Some(u) => format!("write {num}{u}"),
                    None => format!("`{other}` is not a unit; use us, ms, s, m or h"),
                });
            }
        };
        nanos = nanos
            .checked_add(scaled(num, per_unit).ok_or_else(|| format!("`{num}` is not a number"))?)
            .ok_or("that is too long")?;
        rest = next;
    }
    let nanos = u64::try_from(nanos).map_err(|_| "that is too long".to_string())?;
    Ok(Duration::from_nanos(nanos))
}

/// The unit meant by a common spelling of it.
fn unit_alias(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        "usec" | "micros" | "microsecond" | "microseconds" => "us",
        _ => return None,
    })
}

/// Keys whose durations are latencies or pauses: a number written there without a unit is
/// almost always milliseconds (k6's thresholds are; a 100 s think time is rarely meant).
pub const MILLISECOND_KEYS: &[&str] = &[
    "think_time",
    "min",
    "max",
    "mean",
    "stddev",
    "service_time",
    "jitter",
    "db",
    "slo_p95",
    "think",
];

/// The hint for a duration written as a bare number `n` under `key`: milliseconds first
/// where they are the usual unit, else seconds.
pub fn unit_hint(n: &str, key: &str) -> String {
    if MILLISECOND_KEYS.contains(&key) {
        millisecond_hint(n)
    } else {
        format!("add a unit, e.g. {n}s")
    }
}

/// `add a unit: 200ms ...`, for a latency limit or pause written without one.
pub fn millisecond_hint(n: &str) -> String {
    format!(
        "add a unit: {n}ms (a latency or pause without a unit is almost always milliseconds), or {n}s for seconds"
    )
}

/// Digits with at most a decimal point: a number written without a unit.
pub fn is_bare_number(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// `num` (digits, optionally `.digits`) times `per_unit` nanoseconds, rounded down.
fn scaled(num: &str, per_unit: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || frac.contains('.') || (num.contains('.') && frac.is_empty()) {
        return None;
    }
    let whole: u128 = int.parse::<u128>().ok()?.checked_mul(per_unit)?;
    let mut part: u128 = 0;
    let mut scale = per_unit;
    for d in frac.chars().take(18) {
        scale /= 10;
        part += u128::from(d.to_digit(10)?) * scale;
    }
    whole.checked_add(part)
}

/// How fast users start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RampSpec {
    /// Users per second.
    Rate(f64),
    /// The whole ramp's length.
    Over(Duration),
}

/// What a ramp looks like, for messages.
pub const RAMP_EXPECTED: &str = "a rate such as 200/s or 600/m, or a duration such as 30s";

/// Parse `200/s`, `600/m` or a duration. The error is a hint.
pub fn parse_ramp(s: &str) -> Result<RampSpec, String> {
    if let Some((n, per)) = s.split_once('/') {
        let (n, per_second) = per_unit(n, per, "users", "200/s")?;
        if !(n.is_finite() && n > 0.0) {
            return Err("the rate must be more than 0 users, e.g. 200/s".into());
        }
        return Ok(RampSpec::Rate(n * per_second));
    }
    match parse_duration(s) {
        Ok(d) => Ok(RampSpec::Over(d)),
        Err(_) if is_bare_number(s) => Err(format!(
            "add a unit: {s}/s for {s} users a second, or {s}s for the ramp's length"
        )),
        Err(h) if s.contains(|c: char| c.is_ascii_digit()) => Err(h),
        Err(_) => Err(
            "e.g. 200/s for 200 users a second, or 30s to start them all over 30 seconds".into(),
        ),
    }
}

/// The number and the unit of `N/s` or `N/m`: (N, seconds per unit as a factor to /s).
fn per_unit(n: &str, per: &str, what: &str, example: &str) -> Result<(f64, f64), String> {
    let per_second = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 1.0 / 60.0,
        other => return Err(format!("`/{other}` is not a rate unit; use /s or /m")),
    };
    let v: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number of {what}; e.g. {example}"))?;
    Ok((v, per_second))
}

/// What a rate looks like, for messages.
pub const RATE_EXPECTED: &str = "a rate such as 500/s or 600/m";

/// Parse an arrival rate, `500/s` or `600/m`, into iterations per second (0 allowed).
/// The error is a hint.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let Some((n, per)) = s.split_once('/') else {
        return Err(if is_bare_number(s) {
            format!("add a unit: {s}/s for {s} iterations a second")
        } else {
            "e.g. 500/s for 500 iterations a second, or 600/m".into()
        });
    };
    let (n, per_second) = per_unit(n, per, "iterations", "500/s")?;
    if !(n.is_finite() && n >= 0.0) {
        return Err("a rate is 0 or more, e.g. 500/s".into());
    }
    if n * per_second > 10_000_000.0 {
        return Err("more than 10,000,000 a second is surely a typo".into());
    }
    Ok(n * per_second)
}

/// A rate the way a scenario file writes it (`500/s`, `2.5/s`).
pub fn show_rate(per_second: f64) -> String {
    if (per_second - per_second.round()).abs() < 1e-9 {
        format!("{}/s", per_second.round() as u64)
    } else {
        format!("{per_second:.3}/s")
    }
}

impl RampSpec {
    /// Time to start `users` users.
    pub fn time_for(self, users: u64) -> Duration {
        match self {
            RampSpec::Over(d) => d,
            RampSpec::Rate(r) => {
                Duration::try_from_secs_f64(users as f64 / r).unwrap_or(Duration::MAX)
            }
        }
    }
}

/// A name usable as `${name}`: a letter or `_`, then letters, digits, `_` or `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '-')
}

/// Format a duration the way a scenario file writes it.
pub fn show_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        let s = us / 1_000_000;
        if s >= 60 && s.is_multiple_of(60) {
            return format!("{}m", s / 60);
        }
        return format!("{s}s");
    }
    if us.is_multiple_of(1000) {
        return format!("{}ms", us / 1000);
    }
    format!("{us}us")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_take_units_in_any_combination() {
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1s"), Ok(ms(1000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.001ms"), Ok(Duration::from_micros(1)));
    }

    #[test]
    fn bad_durations_say_how_to_fix_them() {
        assert!(
            parse_duration("30")
                .unwrap_err()
                .contains("add a unit, e.g. 30s")
        );
        assert!(
            parse_duration("30 s")
                .unwrap_err()
                .contains("without spaces: 30s")
        );
        assert_eq!(parse_duration("1 sec").unwrap_err(), "write 1s");
        assert_eq!(parse_duration("5mins").unwrap_err(), "write 5m");
        assert!(parse_duration("3d").unwrap_err().contains("not a unit"));
        assert!(parse_duration("1.s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1..5s").is_err());
        assert!(parse_duration("99999999999999999999999999h").is_err());
        assert!(parse_duration("9999999999999h").is_err());
    }

    #[test]
    fn issue12_bare_latencies_suggest_milliseconds() {
        assert!(unit_hint("100", "think_time").starts_with("add a unit: 100ms"));
        assert!(unit_hint("200", "slo_p95").starts_with("add a unit: 200ms"));
        assert_eq!(unit_hint("30", "duration"), "add a unit, e.g. 30s");
        assert!(is_bare_number("1.5") && !is_bare_number("1.5s") && !is_bare_number("."));
    }

    #[test]
    fn ramps_are_rates_or_durations() {
        assert_eq!(parse_ramp("200/s"), Ok(RampSpec::Rate(200.0)));
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("600/m"), Ok(10.0));
        assert_eq!(parse_rate("0/s"), Ok(0.0));
        assert!(parse_rate("500").unwrap_err().contains("500/s"));
        assert!(parse_rate("5/h").is_err());
        assert!(parse_rate("-5/s").is_err());
        assert_eq!(show_rate(500.0), "500/s");
        assert_eq!(parse_ramp("600/m"), Ok(RampSpec::Rate(10.0)));
        assert_eq!(parse_ramp("30s"), Ok(RampSpec::Over(ms(30_000))));
        assert_eq!(RampSpec::Rate(200.0).time_for(1000), ms(5000));
        assert!(parse_ramp("0/s").is_err());
        assert!(parse_ramp("200/h").unwrap_err().contains("/s or /m"));
        assert!(parse_ramp("200").unwrap_err().contains("200/s"));
        assert!(parse_ramp("fast").is_err());
    }

    #[test]
    fn identifiers_and_duration_display() {
        assert!(is_identifier("product_id"));
        assert!(!is_identifier("1x"));
        assert!(is_identifier("page-size"));
        assert!(!is_identifier("a.b"));
        assert_eq!(show_duration(ms(90_000)), "90s");
        assert_eq!(show_duration(ms(120_000)), "2m");
        assert_eq!(show_duration(ms(250)), "250ms");
    }
}
