//! JSON values whose strings are templates: a step's `json:` body and a JSON check's
//! `equals:`, rendered per request (or per response) into a [`serde_json::Value`].
//!
//! A string that is one typed placeholder (`"${randomInt(1, 9):int}"`, `:number`, `:bool`,
//! `:json`) becomes a JSON value of that type, so typed APIs and GraphQL `Int` arguments
//! get a number, not `"4"`; every other string stays a string. Text that is not of the
//! type is a [`RenderError::Type`] naming the key, the template and the rendered text.

use std::fmt::Write as _;

use serde_json::Value;

use super::plan::JsonTemplate;
use super::template::{RenderError, Template, Vars};

/// Rendered values longer than this are cut in messages.
const MAX_SHOWN: usize = 100;

impl JsonTemplate {
    /// Render for one user. `key` names the value in messages, e.g. `json`.
    pub fn render(
        &self,
        key: &str,
        vars: &Vars,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Value, RenderError> {
        let mut path = key.to_string();
        self.render_at(&mut path, vars, rng)
    }

    fn render_at(
        &self,
        path: &mut String,
        vars: &Vars,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Value, RenderError> {
        Ok(match self {
            JsonTemplate::Null => Value::Null,
            JsonTemplate::Bool(b) => Value::Bool(*b),
            JsonTemplate::Number(n) => Value::Number(n.clone()),
            JsonTemplate::String(t) => string_value(t, path, vars, rng)?,
            JsonTemplate::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, x) in items.iter().enumerate() {
                    let len = path.len();
                    let _ = write!(path, "[{i}]");
                    let v = x.render_at(path, vars, rng);
                    path.truncate(len);
                    out.push(v?);
                }
                Value::Array(out)
            }
            JsonTemplate::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (k, x) in fields {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    let v = x.render_at(path, vars, rng);
                    path.truncate(len);
                    out.insert(k.clone(), v?);
                }
                Value::Object(out)
            }
        })
    }

    /// The value, when it is the same on every render (no variables or functions), with
    /// typed placeholders already converted; `Some(Err)` when such a constant is not of
    /// its type. `key` names the value in that error.
    pub fn to_literal(&self, key: &str) -> Option<Result<Value, RenderError>> {
        if !self.is_literal() {
            return None;
        }
        Some(self.render(key, &Vars::default(), &mut NoRandom))
    }

    fn is_literal(&self) -> bool {
        match self {
            JsonTemplate::String(t) => t.as_literal().is_some(),
            JsonTemplate::Array(items) => items.iter().all(JsonTemplate::is_literal),
            JsonTemplate::Object(fields) => fields.iter().all(|(_, x)| x.is_literal()),
            _ => true,
        }
    }

    /// The value as written: strings are the templates' text (for labels).
    pub fn source_value(&self) -> Value {
        match self {
            JsonTemplate::Null => Value::Null,
            JsonTemplate::Bool(b) => Value::Bool(*b),
            JsonTemplate::Number(n) => Value::Number(n.clone()),
            JsonTemplate::String(t) => Value::String(t.source().to_string()),
            JsonTemplate::Array(items) => {
                Value::Array(items.iter().map(JsonTemplate::source_value).collect())
            }
            JsonTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, x)| (k.clone(), x.source_value()))
                    .collect(),
            ),
        }
    }
}

/// One string leaf: a string, or the JSON value of a typed placeholder.
fn string_value(
    t: &Template,
    path: &str,
    vars: &Vars,
    rng: &mut dyn rand::RngCore,
) -> Result<Value, RenderError> {
    let text = match t.as_literal() {
        Some(s) if t.json_type().is_none() => return Ok(Value::String(s.to_string())),
        Some(s) => s.to_string(),
        None => t.render(vars, rng)?,
    };
    let Some(ty) = t.json_type() else {
        return Ok(Value::String(text));
    };
    ty.coerce(&text).ok_or_else(|| RenderError::Type {
        key: path.to_string(),
        template: t.source().to_string(),
        value: shorten(&text),
        ty,
    })
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// A random generator for renders that never draw (constants, check values): it gives
/// zeros.
pub(crate) struct NoRandom;

impl rand::RngCore for NoRandom {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::json;

    use super::*;
    use crate::scenario::template::JsonType;

    const VARS: &[&str] = &["n", "price", "flag", "obj", "word"];

    fn template(src: &str) -> Template {
        Template::parse(
            src,
            &mut |n: &str| VARS.iter().position(|v| *v == n),
            &|n: &str| (n == "PORT").then(|| "8080".to_string()),
        )
        .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn vars(values: &[&str]) -> Vars {
        let mut v = Vars::new(VARS.len());
        for (i, x) in values.iter().enumerate() {
            v.set(i, x.to_string());
        }
        v
    }

    /// A JSON body as the file writes it: every string a template.
    fn body(v: &Value) -> JsonTemplate {
        match v {
            Value::Null => JsonTemplate::Null,
            Value::Bool(b) => JsonTemplate::Bool(*b),
            Value::Number(n) => JsonTemplate::Number(n.clone()),
            Value::String(s) => JsonTemplate::String(template(s)),
            Value::Array(a) => JsonTemplate::Array(a.iter().map(body).collect()),
            Value::Object(o) => {
                JsonTemplate::Object(o.iter().map(|(k, x)| (k.clone(), body(x))).collect())
            }
        }
    }

    fn bytes(src: Value, values: &[&str]) -> String {
        let mut rng = StdRng::seed_from_u64(3);
        body(&src)
            .render("json", &vars(values), &mut rng)
            .unwrap()
            .to_string()
    }

    #[test]
    fn issue12_typed_placeholders_send_json_numbers_and_booleans() {
        let sent = bytes(
            json!({"id": "${randomInt(4, 4):int}", "qty": "${n:int}", "price": "${price:number}",
                   "gift": "${flag:bool}", "meta": "${obj:json}", "label": "${n}",
                   "text": "id ${n}", "port": "${env.PORT:int}"}),
            &["7", "12.50", "true", r#"{"a": [1, null]}"#],
        );
        assert_eq!(
            sent,
            r#"{"id":4,"qty":7,"price":12.5,"gift":true,"meta":{"a":[1,null]},"label":"7","text":"id 7","port":8080}"#
        );
    }

    #[test]
    fn plain_strings_stay_strings() {
        assert_eq!(
            bytes(
                json!({"id": "${randomInt(4, 4)}", "n": ["${n}", 2]}),
                &["3"]
            ),
            r#"{"id":"4","n":["3",2]}"#
        );
    }

    #[test]
    fn text_of_the_wrong_type_is_an_error_naming_key_template_and_value() {
        let mut rng = StdRng::seed_from_u64(3);
        let t = body(&json!({"items": [{"qty": "${word:int}"}]}));
        let e = t
            .render("json", &vars(&["", "", "", "", "lots"]), &mut rng)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`json.items[0].qty`: `${word:int}` rendered \"lots\", which is not a whole number such as 42 (`:int`)"
        );
        for (ty, bad) in [
            ("int", "4.5"),
            ("int", ""),
            ("number", "NaN"),
            ("number", "+1"),
            ("bool", "yes"),
            ("bool", "True"),
            ("json", "{a: 1}"),
        ] {
            let t = body(&json!({ "v": format!("${{word:{ty}}}") }));
            let got = t.render("json", &vars(&["", "", "", "", bad]), &mut rng);
            assert!(
                matches!(got, Err(RenderError::Type { .. })),
                "{ty} {bad:?}: {got:?}"
            );
        }
    }

    #[test]
    fn coerce_accepts_each_type() {
        assert_eq!(JsonType::Int.coerce(" -7 "), Some(json!(-7)));
        assert_eq!(JsonType::Number.coerce("1e3"), Some(json!(1000.0)));
        assert_eq!(JsonType::Bool.coerce("false"), Some(json!(false)));
        assert_eq!(JsonType::Json.coerce("\"x\""), Some(json!("x")));
        assert_eq!(JsonType::Json.coerce("null"), Some(Value::Null));
    }

    #[test]
    fn constants_are_known_when_the_file_loads() {
        let lit = body(&json!({"a": "x", "n": "${env.PORT:int}", "l": [true]}));
        assert_eq!(
            lit.to_literal("equals").unwrap().unwrap(),
            json!({"a": "x", "n": 8080, "l": [true]})
        );
        assert!(body(&json!({"a": "${n}"})).to_literal("equals").is_none());
        assert_eq!(
            body(&json!({"a": "${n:int}"})).source_value(),
            json!({"a": "${n:int}"})
        );
    }

    #[test]
    fn a_long_rendered_value_is_cut() {
        assert_eq!(shorten("abc"), "abc");
        assert_eq!(shorten(&"é".repeat(150)).chars().count(), 103);
    }
}
