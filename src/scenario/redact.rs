//! The copy of the scenario kept with the results, with credentials taken out.
//!
//! Results folders get shared, so literal values of credential headers (`Authorization`,
//! `Cookie`, anything token- or secret-like) and of `auth:` tokens and passwords become
//! `"[redacted]"`, wherever they are written (`defaults`, a scenario, a step). A value that
//! only refers to a variable or to `${env.NAME}` (`Bearer ${token}`) holds no secret and
//! stays as written; environment values are never substituted into the copy.

/// The scenario as written, with literal secrets in headers and `auth:` replaced by
/// `"[redacted]"`.
pub fn redact(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(d) = v.get_mut("defaults") {
        redact_level(d);
    }
    if let Some(scenarios) = v.get_mut("scenarios").and_then(|s| s.as_array_mut()) {
        for sc in scenarios {
            redact_level(sc);
            for list in ["on_start", "steps", "on_stop"] {
                for step in sc
                    .get_mut(list)
                    .and_then(|s| s.as_array_mut())
                    .into_iter()
                    .flatten()
                {
                    redact_level(step);
                }
            }
        }
    }
    v
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
    use super::redact;
    use serde_json::json;

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
}
