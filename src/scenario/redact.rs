//! The copy of the scenario kept with the results, with credentials taken out.
//!
//! Results folders get shared, so literal values of credential headers (`Authorization`,
//! `Cookie`, anything token- or secret-like) and of `auth:` tokens and passwords become
//! `"[redacted]"`, wherever they are written (`defaults`, a scenario, a step). A value that
//! only refers to a variable or to `${env.NAME}` (`Bearer ${token}`) holds no secret and
//! stays as written; environment values are never substituted into the copy.
//!
//! Environment values do reach requests, and so error messages (a URL in a connection
//! error). [`encodings`] lists every form a value may take there (percent-encoded, form-
//! encoded, JSON-escaped, base64), which [`super::Secrets`] keeps for masking; and
//! [`redact_url`] hides the password of a `user:password@` URL typed on the command line.

/// The scenario as written, with literal secrets in headers and `auth:` replaced by
/// `"[redacted]"`.
pub fn redact(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(d) = v.get_mut("defaults") {
        redact_level(d);
    }
    // The once-per-run steps (`setup:`, `teardown:`) carry headers and `auth` too.
    for list in ["setup", "teardown"] {
        if let Some(steps) = v.get_mut(list) {
            redact_steps(steps);
        }
    }
    if let Some(scenarios) = v.get_mut("scenarios").and_then(|s| s.as_array_mut()) {
        for sc in scenarios {
            redact_level(sc);
            for list in ["on_start", "steps", "on_stop"] {
                if let Some(steps) = sc.get_mut(list) {
                    redact_steps(steps);
                }
            }
        }
    }
    v
}

/// Every step of a list, and those nested in its flow-control blocks and groups (`then`,
/// `else`, `steps`, each branch's `steps` of `choose`) and batches (`batch`).
fn redact_steps(list: &mut serde_json::Value) {
    for step in list.as_array_mut().into_iter().flatten() {
        redact_level(step);
        // A batch's requests (`batch:`) are levels of their own.
        for nested in ["then", "else", "steps", "batch"] {
            if let Some(l) = step.get_mut(nested) {
                redact_steps(l);
            }
        }
        for branch in step
            .get_mut("choose")
            .and_then(|c| c.as_array_mut())
            .into_iter()
            .flatten()
        {
            if let Some(l) = branch.get_mut("steps") {
                redact_steps(l);
            }
        }
    }
}

/// The `headers` and `auth` of one level (`defaults`, a scenario, a step).
fn redact_level(level: &mut serde_json::Value) {
    if let Some(h) = level.get_mut("headers") {
        redact_headers(h);
    }
    if let Some(a) = level.get_mut("auth") {
        for ptr in ["/bearer", "/basic/password"] {
            if let Some(value) = a.pointer_mut(ptr)
                && !holds_no_secret(value)
            {
                *value = serde_json::Value::String("[redacted]".into());
            }
        }
    }
}

fn redact_headers(h: &mut serde_json::Value) {
    let Some(map) = h.as_object_mut() else { return };
    for (name, value) in map.iter_mut() {
        if is_secret_header(name) && !holds_no_secret(value) {
            *value = serde_json::Value::String("[redacted]".into());
        }
    }
}

/// Every form in which `secret` may reach an error message, so that masking one string
/// masks them all: as it is; percent-encoded by each encoder a URL or a form goes through
/// (the WHATWG sets the `url` crate applies to a path, a query, a fragment or user info,
/// `application/x-www-form-urlencoded` with `+` for a space, RFC 3986 unreserved and
/// JavaScript's `encodeURIComponent`), each with upper- and lower-case hex; escaped as in
/// JSON (`\"`, and `\u00e4` as ASCII-only encoders write it) and as Rust's `{:?}` writes
/// it; and in base64, whole and at each of the three alignments it can take inside a
/// longer value (`user:password` in a basic `Authorization` header), the part its own bits
/// decide. The longest first, none empty, each once.
pub fn encodings(secret: &str) -> Vec<String> {
    if secret.is_empty() {
        return Vec::new();
    }
    let mut out = vec![secret.to_string()];
    for keep in URL_SETS {
        for plus in [false, true] {
            for lower in [false, true] {
                out.push(percent(secret, keep, plus, lower));
            }
        }
    }
    if let Ok(j) = serde_json::to_string(secret) {
        out.push(j[1..j.len() - 1].to_string());
    }
    for lower in [false, true] {
        out.push(json_ascii(secret, lower));
    }
    let debug = format!("{secret:?}");
    out.push(debug[1..debug.len() - 1].to_string());
    out.extend(base64_forms(secret.as_bytes()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| !s.is_empty() && seen.insert(s.clone()));
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `keep(b)`: byte `b` (ASCII, not a control) stays as it is in that percent-encoding.
type Keep = fn(u8) -> bool;

/// The percent-encodings a value may get on its way into a URL or a form.
const URL_SETS: [Keep; 10] = [
    // WHATWG fragment
    |b| !b" \"<>`".contains(&b),
    // WHATWG query
    |b| !b" \"#<>".contains(&b),
    // WHATWG special query (http, https)
    |b| !b" \"#<>'".contains(&b),
    // WHATWG path, without and with `^`
    |b| !b" \"#<>?`{}".contains(&b),
    |b| !b" \"#<>?`{}^".contains(&b),
    // WHATWG user info
    |b| !b" \"#<>?`{}/:;=@[\\]^|".contains(&b),
    // WHATWG component (encodeURIComponent's set in the URL standard)
    |b| !b" \"#<>?`{}/:;=@[\\]^|$%&+,".contains(&b),
    // application/x-www-form-urlencoded (what Skein's own query and form encoder does)
    |b| b.is_ascii_alphanumeric() || b"*-._".contains(&b),
    // RFC 3986 unreserved
    |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b),
    // JavaScript encodeURIComponent
    |b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b),
];

fn percent(s: &str, keep: Keep, plus_for_space: bool, lower: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b == b' ' && plus_for_space {
            out.push('+');
        } else if (0x21..0x7f).contains(&b) && keep(b) {
            out.push(b as char);
        } else if lower {
            let _ = write!(out, "%{b:02x}");
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// JSON with every character outside printable ASCII as `\uXXXX` (Python's `json.dumps`).
fn json_ascii(s: &str, lower: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = if lower {
                        write!(out, "\\u{u:04x}")
                    } else {
                        write!(out, "\\u{u:04X}")
                    };
                }
            }
        }
    }
    out
}

/// Base64 (standard and URL-safe alphabets) of `bytes` alone, and inside a longer value at
/// each alignment: the characters that only `bytes` decide, when there are at least six.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut out = vec![STANDARD.encode(bytes), URL_SAFE.encode(bytes)];
    for k in 0..3usize {
        let mut shifted = vec![0u8; k];
        shifted.extend_from_slice(bytes);
        let (first_bit, end_bit) = (8 * k, 8 * (k + bytes.len()));
        // Character i holds bits [6i, 6i + 6).
        let (from, to) = (first_bit.div_ceil(6), end_bit / 6);
        if to < from + 6 {
            continue;
        }
        for engine in [&STANDARD, &URL_SAFE] {
            let enc = engine.encode(&shifted);
            if let Some(core) = enc.get(from..to) {
                out.push(core.to_string());
            }
        }
    }
    out
}

/// `url` with the password of any `user:password@` replaced by `[redacted]`, for messages
/// that show a URL the user typed.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:[redacted]"),
        None => "[redacted]".to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{user}@{host}{tail}"),
        None => format!("{user}@{host}{tail}"),
    }
}

/// Headers whose literal values are credentials.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
    ) || ["token", "secret", "api-key", "apikey", "password"]
        .iter()
        .any(|w| n.contains(w))
}

/// A template whose only literal text is an auth scheme (`Bearer ${token}`,
/// `${env.API_KEY}`): the secret is not in the file.
fn holds_no_secret(value: &serde_json::Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    let s = s.trim();
    // An auth scheme such as `Bearer ` in front is no secret.
    let s = match s.split_once(' ') {
        Some((scheme, rest)) if scheme.chars().all(|c| c.is_ascii_alphabetic()) => {
            rest.trim_start()
        }
        _ => s,
    };
    if !s.starts_with("${") {
        return false;
    }
    let mut rest = s;
    while let Some(body) = rest.strip_prefix("${") {
        let Some(end) = body.find('}') else {
            return false;
        };
        rest = body[end + 1..].trim_start();
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::{encodings, redact, redact_url};
    use serde_json::json;

    /// Replace each encoding in turn, as the engine's `mask` does.
    fn masked(text: &str, secret: &str) -> String {
        let mut out = text.to_string();
        for e in encodings(secret) {
            out = out.replace(&e, "[redacted]");
        }
        out
    }

    #[test]
    fn issue13_every_encoding_of_a_secret_is_masked() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        for (secret, seen) in [
            (
                "correct horse battery",
                vec![
                    "correct horse battery".to_string(),
                    "correct%20horse%20battery".into(),
                    "correct+horse+battery".into(),
                    b64.encode("ada:correct horse battery"),
                    b64.encode("bob2:correct horse battery"),
                    b64.encode("carol:correct horse battery"),
                ],
            ),
            (
                "pässwörd",
                vec![
                    "pässwörd".to_string(),
                    "p%C3%A4ssw%C3%B6rd".into(),
                    "p%c3%a4ssw%c3%b6rd".into(),
                    "p\\u00e4ssw\\u00f6rd".into(),
                    "p\\u00E4ssw\\u00F6rd".into(),
                    b64.encode("ada:pässwörd"),
                ],
            ),
            (
                "a&b=c/d?\"e'",
                vec![
                    "a%26b%3Dc%2Fd%3F%22e%27".to_string(),
                    "a&b=c/d?%22e%27".into(),
                    "a&b=c/d?%22e'".into(),
                    "a&b=c/d?\\\"e'".into(),
                ],
            ),
        ] {
            for s in seen {
                let text =
                    format!("error sending request for url (http://h/x?k={s}&n=1): Basic {s}");
                let m = masked(&text, secret);
                assert!(
                    !m.contains(&s) && m.matches("[redacted]").count() == 2,
                    "{secret:?} as {s:?} not masked: {m}"
                );
            }
        }
        // Longest first, so a longer encoding is masked before a shorter one inside it.
        let e = encodings("correct horse battery");
        assert!(e.windows(2).all(|w| w[0].len() >= w[1].len()), "{e:?}");
        assert!(encodings("").is_empty());
    }

    #[test]
    fn issue13_a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact_url("http://user:password@host:8080/p?q=1"),
            "http://user:[redacted]@host:8080/p?q=1"
        );
        assert_eq!(
            redact_url("https://token@host/"),
            "https://[redacted]@host/"
        );
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
        assert_eq!(redact_url("user:pw@host"), "user:[redacted]@host");
    }

    #[test]
    fn redaction_keeps_references_and_hides_literals() {
        let v = json!({
            "defaults": {"headers": {"Authorization": "Bearer abc123", "Accept": "application/json"}},
            "scenarios": [{"steps": [{"headers": {
                "X-Api-Key": "${env.API_KEY}",
                "Authorization": "Bearer ${token}",
                "Cookie": "sid=1",
                "X-CSRF-Token": "abc${csrf}",
                "x-client-secret": 42
            }}]}]
        });
        let r = redact(v);
        assert_eq!(r["defaults"]["headers"]["Authorization"], "[redacted]");
        assert_eq!(r["defaults"]["headers"]["Accept"], "application/json");
        let h = &r["scenarios"][0]["steps"][0]["headers"];
        assert_eq!(h["X-Api-Key"], "${env.API_KEY}");
        assert_eq!(h["Authorization"], "Bearer ${token}");
        assert_eq!(h["Cookie"], "[redacted]");
        assert_eq!(h["X-CSRF-Token"], "[redacted]");
        assert_eq!(h["x-client-secret"], "[redacted]");
    }

    #[test]
    fn steps_inside_flow_control_and_groups_are_redacted() {
        let v = serde_json::json!({
            "scenarios": [{"steps": [
                {"if": {"status": 200},
                 "then": [{"get": "/a", "headers": {"Authorization": "Bearer abc"}}],
                 "else": [{"get": "/b", "auth": {"bearer": "lit"}}]},
                {"group": "g", "steps": [{"repeat": 2, "steps": [
                    {"get": "/c", "headers": {"Cookie": "sid=1"}}]}]},
                {"choose": [{"steps": [{"get": "/d", "headers": {"X-Api-Key": "k"}}]}]}
            ]}]
        });
        let r = redact(v);
        let s = &r["scenarios"][0]["steps"];
        assert_eq!(s[0]["then"][0]["headers"]["Authorization"], "[redacted]");
        assert_eq!(s[0]["else"][0]["auth"]["bearer"], "[redacted]");
        assert_eq!(
            s[1]["steps"][0]["steps"][0]["headers"]["Cookie"],
            "[redacted]"
        );
        assert_eq!(
            s[2]["choose"][0]["steps"][0]["headers"]["X-Api-Key"],
            "[redacted]"
        );
    }

    #[test]
    fn auth_and_scenario_headers_are_redacted_at_every_level() {
        let v = json!({
            "defaults": {"auth": {"bearer": "abc123"}},
            "scenarios": [{
                "headers": {"Cookie": "sid=42", "Accept": "*/*"},
                "auth": {"basic": {"username": "ada", "password": "hunter2"}},
                "steps": [
                    {"auth": {"bearer": "${token}"}},
                    {"auth": {"basic": {"username": "bob", "password": "${env.PASS}"}}},
                    {"auth": {"bearer": "Bearer x${token}"}}
                ]
            }]
        });
        let r = redact(v);
        assert_eq!(r["defaults"]["auth"]["bearer"], "[redacted]");
        let sc = &r["scenarios"][0];
        assert_eq!(sc["headers"]["Cookie"], "[redacted]");
        assert_eq!(sc["headers"]["Accept"], "*/*");
        assert_eq!(sc["auth"]["basic"]["username"], "ada");
        assert_eq!(sc["auth"]["basic"]["password"], "[redacted]");
        assert_eq!(sc["steps"][0]["auth"]["bearer"], "${token}");
        assert_eq!(sc["steps"][1]["auth"]["basic"]["password"], "${env.PASS}");
        assert_eq!(sc["steps"][2]["auth"]["bearer"], "[redacted]");
    }

    #[test]
    fn setup_teardown_and_batch_requests_are_redacted_too() {
        let v = json!({
            "setup": [{"post": "/login", "headers": {"Authorization": "Bearer s3cr3t"}}],
            "teardown": [{"delete": "/data", "auth": {"bearer": "t0ken"}}],
            "scenarios": [{"steps": [{"batch": [
                {"get": "/a", "headers": {"Cookie": "sid=1"}},
                {"get": "/b", "headers": {"Accept": "*/*"}}
            ]}]}]
        });
        let r = redact(v);
        assert_eq!(r["setup"][0]["headers"]["Authorization"], "[redacted]");
        assert_eq!(r["teardown"][0]["auth"]["bearer"], "[redacted]");
        let batch = &r["scenarios"][0]["steps"][0]["batch"];
        assert_eq!(batch[0]["headers"]["Cookie"], "[redacted]");
        assert_eq!(batch[1]["headers"]["Accept"], "*/*");
    }
}
