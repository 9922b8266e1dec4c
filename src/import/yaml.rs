//! A small YAML writer for the scenarios importers build as JSON values: block style for
//! the structure, flow style (`{status: 200}`) where a value fits on its line, and strings
//! quoted only where plain text would be read as something else.

use serde_json::Value;

/// Flow style is used for a mapping or a list whose flow form is at most this long.
const FLOW_WIDTH: usize = 72;

/// The YAML text of `v` (a mapping at the top), ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(map) => block_map(&mut out, map, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn block_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (k, v)) in map.iter().enumerate() {
        // The first key of a list item follows its `- ` on the same line.
        if i > 0 || !out.ends_with("- ") {
            push_indent(out, indent);
        }
        out.push_str(&key(k));
        out.push(':');
        value_after_key(out, v, indent);
    }
}

fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => match flow(v) {
            Some(f) if f.len() + indent <= FLOW_WIDTH => {
                out.push(' ');
                out.push_str(&f);
                out.push('\n');
            }
            _ => {
                out.push('\n');
                block_map(out, m, indent + 2);
            }
        },
        Value::Array(a) if !a.is_empty() => match flow(v) {
            Some(f) if f.len() + indent <= FLOW_WIDTH && !a.iter().any(Value::is_object) => {
                out.push(' ');
                out.push_str(&f);
                out.push('\n');
            }
            _ => {
                out.push('\n');
                block_seq(out, a, indent + 2);
            }
        },
        other => {
            out.push(' ');
            out.push_str(&flow(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn block_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => block_map(out, m, indent + 2),
            Value::Array(a) if !a.is_empty() => match flow(item) {
                Some(f) if f.len() + indent <= FLOW_WIDTH => {
                    out.push_str(&f);
                    out.push('\n');
                }
                _ => {
                    out.push('\n');
                    block_seq(out, a, indent + 2);
                }
            },
            other => {
                out.push_str(&flow(other).unwrap_or_default());
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// The flow form of any value: `{a: 1, b: [x, y]}`.
fn flow(v: &Value) -> Option<String> {
    Some(match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| Some(format!("{}: {}", key(k), flow(v)?)))
                .collect::<Option<_>>()?;
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(flow).collect::<Option<_>>()?;
            format!("[{}]", parts.join(", "))
        }
        other => scalar(other),
    })
}

fn key(k: &str) -> String {
    if is_plain(k) { k.to_string() } else { quote(k) }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if is_plain(s) => s.clone(),
        Value::String(s) => quote(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A double-quoted YAML string: JSON's escapes are YAML's.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Text that YAML reads back as the same string, in block and in flow context: letters,
/// digits and `_ . / -` (not first), and not a word YAML gives another type.
fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_ascii_digit() {
        return is_duration(s);
    }
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
    {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
    )
}

/// `10s`, `1.5s`, `300ms`: digits and a unit, which YAML reads as a string.
fn is_duration(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    matches!(unit, "us" | "ms" | "s" | "m" | "h")
        && !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_and_flow() {
        let v = json!({
            "name": "demo",
            "target": "http://127.0.0.1:8080",
            "scenarios": [{"name": "s", "steps": [
                {"get": "/api/cart", "headers": {"Authorization": "Bearer ${token}"},
                 "check": {"status": 200}},
                {"post": "/x", "json": {"a": [1, 2], "b": {"c": null}, "true": "yes"}},
            ]}],
            "load": {"users": 1, "duration": "10s"},
        });
        let y = to_yaml(&v);
        assert_eq!(
            y,
            "name: demo\ntarget: \"http://127.0.0.1:8080\"\nscenarios:\n  - name: s\n    steps:\n      - get: /api/cart\n        headers: {Authorization: \"Bearer ${token}\"}\n        check: {status: 200}\n      - post: /x\n        json: {a: [1, 2], b: {c: null}, \"true\": \"yes\"}\nload: {users: 1, duration: 10s}\n"
        );
    }

    #[test]
    fn long_values_go_to_block_style() {
        let long = "x".repeat(100);
        let v = json!({"a": {"b": long, "c": [{"d": 1}]}});
        assert_eq!(to_yaml(&v), format!("a:\n  b: {long}\n  c:\n    - d: 1\n"));
    }
}
