//! The structural pass: the node tree checked against the published JSON Schema.
//!
//! A small validator over [`Node`]s (so every problem keeps its line and column) for the
//! part of JSON Schema that `schemars` generates from the raw types: `type`, `properties`,
//! `additionalProperties`, `required`, `items`, `minItems`, `enum`, `minimum`/`maximum`,
//! `anyOf`/`oneOf` (a branch chosen by the node's type) and `$ref` into `$defs`. Patterns
//! are left to the semantic pass, which explains a bad duration better than a regex can.
//! When this pass finds nothing, the tree deserializes into the raw types.

use std::path::Path;

use serde_json::Value;

use super::error::Diagnostic;
use super::node::{KeyPath, Kind, Node};
use super::suggest;

/// Every structural problem of `root` against `schema`.
pub fn check(root: &Node, schema: &Value, file: &Path) -> Vec<Diagnostic> {
    let mut v = Validator {
        root: schema,
        file,
        out: Vec::new(),
    };
    v.node(root, schema, &KeyPath::root(), &Ctx::default());
    v.out
}

/// What the walk knows about the schema it came through.
#[derive(Default, Clone)]
struct Ctx<'s> {
    /// Name of the last `$defs` entry entered, e.g. `Duration`.
    def: Option<&'s str>,
    /// Description of the property, for hints.
    description: Option<&'s str>,
}

struct Validator<'s, 'f> {
    root: &'s Value,
    file: &'f Path,
    out: Vec<Diagnostic>,
}

impl<'s> Validator<'s, '_> {
    fn push(
        &mut self,
        at: &Node,
        path: &KeyPath,
        found: String,
        expected: String,
        hint: Option<String>,
    ) {
        self.out.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: at.line,
            column: at.col,
            key: path.to_string(),
            found,
            expected,
            hint,
        });
    }

    fn resolve(&self, r: &str) -> Option<(&'s str, &'s Value)> {
        let name = r.strip_prefix("#/$defs/")?;
        let (key, value) = self.root.get("$defs")?.as_object()?.get_key_value(name)?;
        Some((key.as_str(), value))
    }

    fn node(&mut self, n: &Node, s: &'s Value, path: &KeyPath, ctx: &Ctx<'s>) {
        let obj = match s {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.push(n, path, n.found(), "nothing here".into(), None);
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        let mut ctx = ctx.clone();
        if let Some(d) = obj.get("description").and_then(Value::as_str) {
            ctx.description.get_or_insert(d);
        }
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if let Some((name, target)) = self.resolve(r) {
                ctx.def = Some(name);
                self.node(n, target, path, &ctx);
            }
            return;
        }
        if let Some(branches) = obj
            .get("anyOf")
            .or_else(|| obj.get("oneOf"))
            .and_then(Value::as_array)
        {
            self.any_of(n, branches, path, &ctx);
            return;
        }
        if !accepts_type(obj.get("type"), n) {
            let expected = expected_for(s, self, &ctx);
            let hint = type_hint(n, &ctx, path);
            self.push(n, path, n.found(), expected, hint);
            return;
        }
        if let Kind::Float(f) = n.kind
            && !f.is_finite()
        {
            self.push(n, path, n.found(), "a finite number".into(), None);
            return;
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array) {
            let j = n.to_json();
            if !allowed.iter().any(|a| a == &j) {
                self.push(
                    n,
                    path,
                    n.found(),
                    format!("one of {}", list_values(allowed)),
                    None,
                );
                return;
            }
        }
        self.bounds(n, obj, path);
        match &n.kind {
            Kind::Map(pairs) => self.map(n, pairs, obj, path, ctx.def),
            Kind::Seq(items) => self.seq(n, items, obj, path, &ctx),
            _ => {}
        }
    }

    fn any_of(&mut self, n: &Node, branches: &'s [Value], path: &KeyPath, ctx: &Ctx<'s>) {
        let fitting: Vec<&Value> = branches
            .iter()
            .filter(|b| self.types_of(b).iter().any(|t| type_fits(t, n)))
            .collect();
        if fitting.is_empty() {
            let options: Vec<String> = branches
                .iter()
                .map(|b| expected_for(b, self, ctx))
                .collect();
            let ctx = Ctx {
                def: ctx.def.or_else(|| self.scalar_def(branches)),
                description: ctx.description,
            };
            let hint = type_hint(n, &ctx, path);
            self.push(n, path, n.found(), dedup_join(options), hint);
            return;
        }
        let mut best: Option<Vec<Diagnostic>> = None;
        for b in fitting {
            let saved = std::mem::take(&mut self.out);
            self.node(n, b, path, ctx);
            let errs = std::mem::replace(&mut self.out, saved);
            if errs.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|x| errs.len() < x.len()) {
                best = Some(errs);
            }
        }
        self.out.extend(best.unwrap_or_default());
    }

    /// The first of the `Duration` and `Ramp` definitions that one of `branches` refers to.
    fn scalar_def(&self, branches: &'s [Value]) -> Option<&'s str> {
        branches.iter().find_map(|b| {
            let (name, b) = match b.get("$ref").and_then(Value::as_str) {
                Some(r) => self.resolve(r).map(|(name, t)| (Some(name), t))?,
                None => (None, b),
            };
            if let Some(name @ ("Duration" | "Ramp" | "Rate")) = name {
                return Some(name);
            }
            b.get("anyOf")
                .and_then(Value::as_array)
                .and_then(|bs| self.scalar_def(bs))
        })
    }

    /// The JSON types a schema accepts at its top level.
    fn types_of(&self, s: &'s Value) -> Vec<&'static str> {
        const ALL: [&str; 7] = [
            "null", "boolean", "integer", "number", "string", "array", "object",
        ];
        let Some(o) = s.as_object() else {
            return if s == &Value::Bool(true) {
                ALL.to_vec()
            } else {
                Vec::new()
            };
        };
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            return self
                .resolve(r)
                .map(|(_, t)| self.types_of(t))
                .unwrap_or_default();
        }
        if let Some(bs) = o
            .get("anyOf")
            .or_else(|| o.get("oneOf"))
            .and_then(Value::as_array)
        {
            return bs.iter().flat_map(|b| self.types_of(b)).collect();
        }
        match o.get("type") {
            Some(Value::String(t)) => ALL.iter().copied().filter(|a| a == t).collect(),
            Some(Value::Array(ts)) => ALL
                .iter()
                .copied()
                .filter(|a| ts.iter().any(|t| t == a))
                .collect(),
            _ => match o.get("enum").and_then(Value::as_array) {
                Some(vals) => vals.iter().map(json_type).collect(),
                None => ALL.to_vec(),
            },
        }
    }

    fn bounds(&mut self, n: &Node, obj: &serde_json::Map<String, Value>, path: &KeyPath) {
        let x = match n.kind {
            Kind::Int(i) => i as f64,
            Kind::Float(f) => f,
            _ => return,
        };
        let min = obj.get("minimum").and_then(Value::as_f64);
        let max = obj.get("maximum").and_then(Value::as_f64);
        if min.is_some_and(|m| x < m) || max.is_some_and(|m| x > m) {
            let integer = match obj.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            let what = if integer { "an integer" } else { "a number" };
            let expected = match (min, max) {
                (Some(a), Some(b)) => format!("{what} from {a} to {b}"),
                (Some(a), None) => format!("{what} of at least {a}"),
                (None, Some(b)) => format!("{what} of at most {b}"),
                (None, None) => return,
            };
            self.push(n, path, n.found(), expected, None);
        }
    }

    fn map(
        &mut self,
        n: &Node,
        pairs: &[(Node, Node)],
        obj: &'s serde_json::Map<String, Value>,
        path: &KeyPath,
        def: Option<&str>,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        let extra = obj.get("additionalProperties");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (k, v) in pairs {
            let Some(key) = k.key_text() else {
                self.push(k, path, k.found(), "a plain key".into(), None);
                continue;
            };
            let here = path.key(key);
            if !seen.insert(key) {
                self.push(
                    k,
                    &here,
                    format!("`{key}` a second time"),
                    "each key once".into(),
                    None,
                );
                continue;
            }
            if let Some(ps) = props.and_then(|p| p.get(key)) {
                let description = ps.get("description").and_then(Value::as_str);
                self.node(
                    v,
                    ps,
                    &here,
                    &Ctx {
                        def: None,
                        description,
                    },
                );
                continue;
            }
            match extra {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let known: Vec<&str> = known.into_iter().filter(|k| *k != "$schema").collect();
                    let within = if path.0.is_empty() { Some("") } else { def };
                    let hint = match (
                        suggest::other_tool(key, within),
                        suggest::closest(key, &known),
                    ) {
                        (Some(h), _) => h,
                        (None, Some(s)) => format!("did you mean \"{s}\"?"),
                        (None, None) => format!("the keys here are: {}", known.join(", ")),
                    };
                    self.push(
                        k,
                        &here,
                        format!("unknown key `{key}`"),
                        if path.0.is_empty() {
                            "a top-level key".into()
                        } else {
                            format!("a key of `{path}`")
                        },
                        Some(hint),
                    );
                }
                Some(s @ Value::Object(_)) => self.node(v, s, &here, &Ctx::default()),
                _ => {}
            }
        }
        for r in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(r) = r.as_str() else { continue };
            if !seen.contains(&r) {
                let hint = props
                    .and_then(|p| p.get(r))
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .map(|d| format!("`{r}`: {}", first_sentence(d)));
                self.push(
                    n,
                    &path.key(r),
                    "nothing".into(),
                    format!("the required key `{r}`"),
                    hint,
                );
            }
        }
    }

    fn seq(
        &mut self,
        n: &Node,
        items: &[Node],
        obj: &'s serde_json::Map<String, Value>,
        path: &KeyPath,
        ctx: &Ctx<'s>,
    ) {
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            let hint = ctx.description.map(first_sentence);
            let plural = if min == 1 { "" } else { "s" };
            self.push(
                n,
                path,
                n.found(),
                format!("at least {min} item{plural}"),
                hint,
            );
        }
        if let Some(item_schema) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.node(item, item_schema, &path.idx(i), &Ctx::default());
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Does a schema type name admit this node?
fn type_fits(t: &str, n: &Node) -> bool {
    let nt = n.type_name();
    t == nt || (t == "number" && nt == "integer")
}

fn accepts_type(t: Option<&Value>, n: &Node) -> bool {
    match t {
        None => true,
        Some(Value::String(t)) => type_fits(t, n),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(|t| type_fits(t, n)),
        Some(_) => true,
    }
}

/// What a schema wants, in words.
fn expected_for<'s>(s: &'s Value, v: &Validator<'s, '_>, ctx: &Ctx<'s>) -> String {
    let Some(o) = s.as_object() else {
        return "anything".into();
    };
    if let Some((name, t)) = o
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| v.resolve(r))
    {
        let ctx = Ctx {
            def: Some(name),
            description: ctx.description,
        };
        return expected_for(t, v, &ctx);
    }
    match ctx.def {
        Some("Duration") => return "a duration such as 250ms, 30s or 1m30s".into(),
        Some("Ramp") => return "a rate such as 200/s, or a duration such as 30s".into(),
        Some("Rate") => return "a rate such as 500/s or 600/m".into(),
        _ => {}
    }
    if let Some(bs) = o
        .get("anyOf")
        .or_else(|| o.get("oneOf"))
        .and_then(Value::as_array)
    {
        return dedup_join(bs.iter().map(|b| expected_for(b, v, ctx)).collect());
    }
    if let Some(vals) = o.get("enum").and_then(Value::as_array) {
        return format!("one of {}", list_values(vals));
    }
    let names: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => return "anything".into(),
    };
    let words: Vec<&str> = names
        .iter()
        .map(|t| match *t {
            "object" => "a mapping",
            "array" => "a list",
            "string" => "text",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            "null" => "nothing",
            _ => "a value",
        })
        .collect();
    dedup_join(words.into_iter().map(str::to_string).collect())
}

fn dedup_join(mut options: Vec<String>) -> String {
    let mut seen = Vec::new();
    options.retain(|o| {
        o != "nothing" && !seen.contains(o) && {
            seen.push(o.clone());
            true
        }
    });
    match options.len() {
        0 => "nothing".into(),
        1 => options.remove(0),
        _ => {
            let last = options.pop().unwrap_or_default();
            format!("{}, or {last}", options.join(", "))
        }
    }
}

fn list_values(vals: &[Value]) -> String {
    let mut out: Vec<String> = Vec::new();
    for v in vals {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(", ")
}

/// A hint for a scalar of the wrong type at `path`.
fn type_hint(n: &Node, ctx: &Ctx<'_>, path: &KeyPath) -> Option<String> {
    let number = matches!(n.kind, Kind::Int(_) | Kind::Float(_));
    match ctx.def {
        Some("Duration") if number => {
            let key = match path.0.last() {
                Some(super::node::Seg::Key(k)) => k.as_str(),
                _ => "",
            };
            Some(super::units::unit_hint(&n.text, key))
        }
        Some("Ramp") if number => Some(format!(
            "add a unit, e.g. {0}/s for {0} users a second, or {0}s",
            n.text
        )),
        Some("Rate") if number => Some(format!(
            "add a unit: {0}/s for {0} iterations a second, or {0}/m",
            n.text
        )),
        _ if n.quoted
            && matches!(n.kind, Kind::Str(_))
            && super::node::resolve_plain(&n.text) != n.kind =>
        {
            Some("remove the quotes: quoted values are always text".into())
        }
        _ if matches!(n.kind, Kind::Null) && !n.text.is_empty() => Some(format!(
            "`{}` means nothing in YAML; quote it for text",
            n.text
        )),
        _ => ctx.description.map(first_sentence),
    }
}

/// The description up to its first full stop (not the one in "e.g.").
fn first_sentence(d: &str) -> String {
    let d = d.split("\n\n").next().unwrap_or(d).replace('\n', " ");
    let mut from = 0;
    while let Some(i) = d[from..].find(". ").map(|i| i + from) {
        if !d[..i].ends_with("e.g") && !d[..i].ends_with("i.e") {
            return d[..=i].to_string();
        }
        from = i + 2;
    }
    d
}
