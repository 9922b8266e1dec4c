//! `${...}` templates: compiled once when the plan is built, rendered per request.
//!
//! Scenario text (paths, headers, bodies, initial values) may contain placeholders:
//!
//! - `${name}`: a per-user variable, resolved to a slot when the plan is built;
//! - `${feeder.field}`: a field of the row the user took from a feeder (a slot too);
//! - `${env.NAME}`: an environment variable, read once when the plan is built and then
//!   substituted as literal text (its value is remembered, see [`Template::env_values`], so
//!   reports can mask it);
//! - `${randomInt(1, 100)}`, `${uuid()}`, `${randomChoice("a", "b", 3)}`, `${timestamp()}`,
//!   `${timestampMs()}`, `${randomString(12)}`, `${date(+1d, "%Y-%m-%d")}`: functions
//!   evaluated on every render.
//!
//! A placeholder that is a whole JSON string value may end in a type, `"${randomInt(1, 9):int}"`,
//! `:number`, `:bool` or `:json`: the `json:` body then sends the rendered text as that JSON
//! type instead of a string ([`Template::json_type`]; see `json_template.rs`).
//!
//! `$${` is a literal `${`; any other `$` is literal text. Parsing does all the work, so a
//! render walks a list of parts and appends to one `String`: no parsing and no allocation
//! besides growing the output.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;

/// Per-user variable values, indexed by the slots in [`super::Plan::variables`].
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: Vec<Option<String>>,
}

impl Vars {
    pub fn new(slots: usize) -> Vars {
        Vars {
            values: vec![None; slots],
        }
    }
    pub fn get(&self, slot: usize) -> Option<&str> {
        self.values.get(slot).and_then(|v| v.as_deref())
    }
    pub fn set(&mut self, slot: usize, value: String) {
        if let Some(v) = self.values.get_mut(slot) {
            *v = Some(value);
        }
    }
}

/// A compiled template. Its `Debug` shows the text as written, never the values
/// substituted from the environment.
#[derive(Clone, PartialEq)]
pub struct Template {
    source: String,
    /// Adjacent literal text is merged, so a template without dynamic parts has at most
    /// one part: that is the cached literal [`Template::as_literal`] returns.
    parts: Vec<Part>,
    env_values: Vec<String>,
    /// The type suffix of a template that is one placeholder, e.g. `${n:int}`, and the byte
    /// offset of its `:`.
    json_type: Option<(JsonType, usize)>,
}

/// The JSON type a whole-value placeholder is sent as: `${...:int}`, `:number`, `:bool`,
/// `:json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A whole number, e.g. `42` or `-7`.
    Int,
    /// Any JSON number, e.g. `4.5` or `1e3`.
    Number,
    /// `true` or `false`.
    Bool,
    /// Any JSON text: an object, an array, a number, a string in quotes, `null`, ...
    Json,
}

impl JsonType {
    /// The suffixes, as written after the `:`.
    pub const NAMES: [&'static str; 4] = ["int", "number", "bool", "json"];

    /// The suffix as written, e.g. `int`.
    pub fn name(self) -> &'static str {
        match self {
            JsonType::Int => "int",
            JsonType::Number => "number",
            JsonType::Bool => "bool",
            JsonType::Json => "json",
        }
    }

    /// What a value of this type looks like, for messages.
    pub fn expected(self) -> &'static str {
        match self {
            JsonType::Int => "a whole number such as 42",
            JsonType::Number => "a JSON number such as 4.5",
            JsonType::Bool => "true or false",
            JsonType::Json => "JSON text such as {\"a\": 1} or [1, 2]",
        }
    }

    /// `text` as a JSON value of this type; `None` when it is not one. Surrounding
    /// whitespace is ignored.
    pub fn coerce(self, text: &str) -> Option<serde_json::Value> {
        use serde_json::Value;
        let t = text.trim();
        match self {
            JsonType::Bool => match t {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            JsonType::Int => {
                let n: serde_json::Number = serde_json::from_str(t).ok()?;
                (n.is_i64() || n.is_u64()).then_some(Value::Number(n))
            }
            JsonType::Number => serde_json::from_str::<serde_json::Number>(t)
                .ok()
                .map(Value::Number),
            JsonType::Json => serde_json::from_str(t).ok(),
        }
    }

    fn parse(word: &str) -> Option<JsonType> {
        Some(match word {
            "int" => JsonType::Int,
            "number" => JsonType::Number,
            "bool" => JsonType::Bool,
            "json" => JsonType::Json,
            _ => return None,
        })
    }

    /// The suffix a misspelt or foreign type name most likely meant.
    fn suggest(word: &str) -> Option<&'static str> {
        Some(match word.to_ascii_lowercase().as_str() {
            "integer" | "i64" | "long" | "int64" | "int32" | "whole" => "int",
            "float" | "double" | "f64" | "num" | "decimal" | "numeric" => "number",
            "boolean" | "b" => "bool",
            "raw" | "object" | "array" | "obj" => "json",
            w => return JsonType::NAMES.iter().copied().find(|n| *n == w),
        })
    }
}

/// Why a template did not parse; `offset` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Why a template could not be rendered for this user right now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("variable `{0}` is not set (no initial value, and no extract has set it yet)")]
    Unset(String),
    /// A typed placeholder (`${...:int}`) rendered text that is not of its type.
    #[error(
        "`{key}`: `{template}` rendered {value:?}, which is not {expected} (`:{ty}`)",
        ty = .ty.name(),
        expected = .ty.expected()
    )]
    Type {
        /// Where the value goes, e.g. `json.items[0].qty`.
        key: String,
        /// The template as written.
        template: String,
        /// What it rendered (cut to 100 characters).
        value: String,
        ty: JsonType,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Var { slot: usize, name: String },
    Func(Func),
}

#[derive(Debug, Clone, PartialEq)]
enum Func {
    RandomInt {
        min: i64,
        max: i64,
    },
    Uuid,
    RandomChoice(Vec<String>),
    Timestamp,
    TimestampMs,
    RandomString(usize),
    /// Now (UTC) plus `offset_ms`, formatted with a strftime `format`.
    Date {
        offset_ms: i64,
        format: String,
    },
}

/// The functions, with their parameters as shown in messages.
const FUNCTIONS: &[(&str, &str)] = &[
    ("randomInt", "(min, max)"),
    ("uuid", "()"),
    ("randomChoice", "(value, ...)"),
    ("timestamp", "()"),
    ("timestampMs", "()"),
    ("randomString", "(length)"),
    ("date", "(offset, format)"),
];

/// Names people reach for, mapped to ours (compared lower-case, without `_` and `-`).
const ALIASES: &[(&str, &str)] = &[
    ("now", "timestamp"),
    ("time", "timestamp"),
    ("unixtime", "timestamp"),
    ("epoch", "timestamp"),
    ("nowms", "timestampMs"),
    ("randint", "randomInt"),
    ("random", "randomInt"),
    ("choice", "randomChoice"),
    ("pick", "randomChoice"),
    ("guid", "uuid"),
    ("uuidv4", "uuid"),
    ("today", "date"),
    ("datetime", "date"),
    ("formatdate", "date"),
    ("dateadd", "date"),
];

/// Longest string `randomString` may produce.
const MAX_RANDOM_STRING: usize = 1 << 20;

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

impl Template {
    /// Compile `src`. `resolve` maps a variable name to its slot (None: unknown name);
    /// `env` reads an environment variable for `${env.NAME}`.
    pub fn parse(
        src: &str,
        resolve: &mut dyn FnMut(&str) -> Option<usize>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Template, TemplateError> {
        let bytes = src.as_bytes();
        let mut t = Template {
            source: src.to_string(),
            parts: Vec::new(),
            env_values: Vec::new(),
            json_type: None,
        };
        let mut lit = String::new();
        let (mut i, mut lit_start) = (0, 0);
        while i < bytes.len() {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            if bytes[i + 1..].starts_with(b"${") {
                lit.push_str(&src[lit_start..i]);
                lit.push_str("${");
                i += 3;
                lit_start = i;
            } else if bytes.get(i + 1) == Some(&b'{') {
                lit.push_str(&src[lit_start..i]);
                let close = find_close(src, i)?;
                let mut typed = None;
                let expr = parse_expr(src, i, close, resolve, env, &mut typed)?;
                if let Some((ty, colon)) = typed {
                    if i != 0 || close + 1 != src.len() {
                        return err(
                            colon,
                            format!(
                                "a type suffix `:{}` inside other text (it only applies to a `${{...}}` that is a whole value, e.g. `qty: \"${{n:{}}}\"` under `json:`)",
                                ty.name(),
                                ty.name()
                            ),
                        );
                    }
                    t.json_type = Some((ty, colon));
                }
                match expr {
                    Expr::Env(value) => {
                        lit.push_str(&value);
                        if !value.is_empty() && !t.env_values.contains(&value) {
                            t.env_values.push(value);
                        }
                    }
                    Expr::Part(part) => {
                        if !lit.is_empty() {
                            t.parts.push(Part::Literal(std::mem::take(&mut lit)));
                        }
                        t.parts.push(part);
                    }
                }
                i = close + 1;
                lit_start = i;
            } else {
                i += 1;
            }
        }
        lit.push_str(&src[lit_start..]);
        if !lit.is_empty() {
            t.parts.push(Part::Literal(lit));
        }
        Ok(t)
    }

    /// A template with no `${}` in it.
    pub fn literal(s: &str) -> Template {
        let parts = if s.is_empty() {
            Vec::new()
        } else {
            vec![Part::Literal(s.to_string())]
        };
        Template {
            source: s.to_string(),
            parts,
            env_values: Vec::new(),
            json_type: None,
        }
    }

    /// The JSON type of a placeholder that is the whole template, when it has a type
    /// suffix (`"${randomInt(1, 9):int}"`).
    pub fn json_type(&self) -> Option<JsonType> {
        self.json_type.map(|(t, _)| t)
    }

    /// Byte offset of the `:` of the type suffix, if there is one.
    pub fn json_type_offset(&self) -> Option<usize> {
        self.json_type.map(|(_, at)| at)
    }

    /// Whether rendering reads the random generator (`randomInt`, `uuid`, ...).
    pub fn is_random(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(
                p,
                Part::Func(
                    Func::RandomInt { .. }
                        | Func::Uuid
                        | Func::RandomChoice(_)
                        | Func::RandomString(_)
                )
            )
        })
    }

    /// The text as written in the scenario file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `Some(text)` when rendering always gives the same text.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Values substituted from the environment (secrets to mask); empty values are left out.
    pub fn env_values(&self) -> Vec<String> {
        self.env_values.clone()
    }

    /// The variables this template reads, as `(slot, name)`, in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = (usize, &str)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { slot, name } => Some((*slot, name.as_str())),
            _ => None,
        })
    }

    /// Append the rendered text to `out`. On error `out` is left as it was.
    pub fn render_into(
        &self,
        vars: &Vars,
        rng: &mut dyn rand::RngCore,
        out: &mut String,
    ) -> Result<(), RenderError> {
        let start = out.len();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var { slot, name } => match vars.get(*slot) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.truncate(start);
                        return Err(RenderError::Unset(name.clone()));
                    }
                },
                Part::Func(f) => f.render(rng, out),
            }
        }
        Ok(())
    }

    /// Render into a new string.
    pub fn render(&self, vars: &Vars, rng: &mut dyn rand::RngCore) -> Result<String, RenderError> {
        let mut s = String::new();
        self.render_into(vars, rng, &mut s)?;
        Ok(s)
    }
}

impl Func {
    fn render(&self, rng: &mut dyn rand::RngCore, out: &mut String) {
        match self {
            Func::RandomInt { min, max } => {
                let n = rng.random_range(*min..=*max);
                let _ = write!(out, "{n}");
            }
            Func::Uuid => {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                out.push_str(
                    id.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer()),
                );
            }
            Func::RandomChoice(values) => out.push_str(&values[rng.random_range(0..values.len())]),
            Func::Timestamp => {
                let _ = write!(out, "{}", unix_now().as_secs());
            }
            Func::TimestampMs => {
                let _ = write!(out, "{}", unix_now().as_millis());
            }
            Func::Date { offset_ms, format } => {
                let t = chrono::Utc::now() + chrono::TimeDelta::milliseconds(*offset_ms);
                let _ = write!(out, "{}", t.format(format));
            }
            Func::RandomString(len) => {
                out.reserve(*len);
                for _ in 0..*len {
                    out.push(char::from(rng.sample(rand::distr::Alphanumeric)));
                }
            }
        }
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        offset,
        message: message.into(),
    })
}

/// The offset of the `}` closing the `${` at `dollar`, skipping `}` inside quoted strings.
fn find_close(src: &str, dollar: usize) -> Result<usize, TemplateError> {
    let bytes = src.as_bytes();
    let mut quote: Option<(u8, usize)> = None;
    let mut i = dollar + 2;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(_), b'\\') => i += 1,
            (Some((q, _)), c) if c == q => quote = None,
            (None, b'"' | b'\'') => quote = Some((bytes[i], i)),
            (None, b'}') => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    match quote {
        Some((_, at)) => err(at, "unterminated string: add the closing quote"),
        None => err(
            dollar,
            "unclosed `${`: add `}`, or write `$${` for a literal `${`",
        ),
    }
}

/// What one `${...}` compiles to.
enum Expr {
    /// `${env.NAME}`: literal text.
    Env(String),
    Part(Part),
}

/// An argument of a function call, with the offset it starts at.
enum Arg {
    Str(String, usize),
    /// A number, as written.
    Num(String, usize),
}

impl Arg {
    fn offset(&self) -> usize {
        match self {
            Arg::Str(_, at) | Arg::Num(_, at) => *at,
        }
    }
}

/// A cursor over `src[..end]`; positions are byte offsets into the whole template.
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.src.as_bytes()[self.pos])
    }
    fn peek_char(&self) -> char {
        self.src[self.pos..].chars().next().unwrap_or(' ')
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Parse the expression between the `${` at `dollar` and the `}` at `close`.
fn parse_expr(
    src: &str,
    dollar: usize,
    close: usize,
    resolve: &mut dyn FnMut(&str) -> Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
    typed: &mut Option<(JsonType, usize)>,
) -> Result<Expr, TemplateError> {
    let mut cur = Cursor {
        src,
        pos: dollar + 2,
        end: close,
    };
    cur.skip_ws();
    let name_at = cur.pos;
    let name = cur.take_while(is_name_byte);
    // `${feeder.field}`: one name with a dot, resolved like a variable.
    let dotted;
    let name = if name != "env" && cur.peek() == Some(b'.') {
        cur.pos += 1;
        let field = cur.take_while(is_name_byte);
        if field.is_empty() {
            return err(
                cur.pos,
                format!("expected a field name after `{name}.`, as in `${{{name}.username}}`"),
            );
        }
        dotted = format!("{name}.{field}");
        dotted.as_str()
    } else {
        name
    };
    if name.is_empty() {
        return match cur.peek() {
            None => err(
                dollar,
                "empty `${}`: expected a variable name, `env.NAME` or a function such as `uuid()`",
            ),
            Some(_) => err(
                cur.pos,
                format!(
                    "unexpected `{}` in `${{...}}`: expected a variable name, `env.NAME` or a function call",
                    cur.peek_char()
                ),
            ),
        };
    }
    if name == "env" && cur.peek() == Some(b'.') {
        cur.pos += 1;
        let var = cur.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
        if var.is_empty() {
            return err(
                cur.pos,
                "expected an environment variable name after `env.`",
            );
        }
        end_of_expr(&mut cur, "`${env.NAME}`", typed)?;
        return match env(var) {
            Some(value) => Ok(Expr::Env(value)),
            None => err(dollar, format!("environment variable {var} is not set")),
        };
    }
    cur.skip_ws();
    if cur.peek() == Some(b'(') {
        cur.pos += 1;
        let args = parse_args(&mut cur, name)?;
        end_of_expr(&mut cur, "the function call", typed)?;
        return Ok(Expr::Part(Part::Func(compile_func(name, name_at, args)?)));
    }
    end_of_expr(&mut cur, &format!("`{name}`"), typed)?;
    match resolve(name) {
        Some(slot) => Ok(Expr::Part(Part::Var {
            slot,
            name: name.to_string(),
        })),
        None => {
            let hint = if FUNCTIONS.iter().any(|(f, _)| *f == name) {
                format!("; did you mean the function `${{{name}()}}`?")
            } else if name == "env" {
                "; environment variables are written `${env.NAME}`".to_string()
            } else {
                String::new()
            };
            let what = if name.contains('.') {
                "feeder field"
            } else {
                "variable"
            };
            err(dollar, format!("unknown {what} `{name}`{hint}"))
        }
    }
}

/// An optional type suffix (`:int`, written into `typed`), then the end of the expression.
fn end_of_expr(
    cur: &mut Cursor<'_>,
    after: &str,
    typed: &mut Option<(JsonType, usize)>,
) -> Result<(), TemplateError> {
    cur.skip_ws();
    if cur.peek() == Some(b':') {
        let colon = cur.pos;
        cur.pos += 1;
        cur.skip_ws();
        let word_at = cur.pos;
        let word = cur.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
        let Some(ty) = JsonType::parse(word) else {
            let hint = match JsonType::suggest(word) {
                Some(s) => format!("did you mean `:{s}`? "),
                None => String::new(),
            };
            return err(
                if word.is_empty() { colon } else { word_at },
                format!(
                    "unknown type `:{word}` after {after}: {hint}(types: {})",
                    JsonType::NAMES.map(|n| format!(":{n}")).join(", ")
                ),
            );
        };
        *typed = Some((ty, colon));
    }
    expect_end(cur, after)
}

fn expect_end(cur: &mut Cursor<'_>, after: &str) -> Result<(), TemplateError> {
    cur.skip_ws();
    match cur.peek() {
        None => Ok(()),
        Some(_) => err(
            cur.pos,
            format!(
                "unexpected `{}` after {after}: expected `}}`",
                cur.peek_char()
            ),
        ),
    }
}

/// Parse `arg, arg, ...)`; the cursor is just past the `(`.
fn parse_args(cur: &mut Cursor<'_>, func: &str) -> Result<Vec<Arg>, TemplateError> {
    let mut args = Vec::new();
    cur.skip_ws();
    if cur.peek() == Some(b')') {
        cur.pos += 1;
        return Ok(args);
    }
    loop {
        cur.skip_ws();
        args.push(parse_arg(cur, func, args.len() + 1)?);
        cur.skip_ws();
        match cur.peek() {
            Some(b',') => cur.pos += 1,
            Some(b')') => {
                cur.pos += 1;
                return Ok(args);
            }
            None => {
                return err(
                    cur.pos,
                    format!("expected `)` to close the call to `{func}`"),
                );
            }
            Some(_) => {
                return err(
                    cur.pos,
                    format!(
                        "unexpected `{}` in the call to `{func}`: expected `,` or `)`",
                        cur.peek_char()
                    ),
                );
            }
        }
    }
}

fn parse_arg(cur: &mut Cursor<'_>, func: &str, n: usize) -> Result<Arg, TemplateError> {
    let at = cur.pos;
    match cur.peek() {
        Some(q @ (b'"' | b'\'')) => {
            cur.pos += 1;
            let mut s = String::new();
            loop {
                let c = cur.peek_char();
                if cur.peek().is_none() {
                    return err(at, "unterminated string: add the closing quote");
                }
                cur.pos += c.len_utf8();
                match c {
                    '\\' => {
                        if cur.peek().is_none() {
                            return err(at, "unterminated string: add the closing quote");
                        }
                        let e = cur.peek_char();
                        s.push(match e {
                            '\\' | '"' | '\'' => e,
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            _ => {
                                return err(
                                    cur.pos - 1,
                                    format!("unknown escape `\\{e}`: use `\\\\` for a backslash"),
                                );
                            }
                        });
                        cur.pos += e.len_utf8();
                    }
                    c if c == char::from(q) => return Ok(Arg::Str(s, at)),
                    c => s.push(c),
                }
            }
        }
        Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.') => {
            let text =
                cur.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+'));
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Arg::Num(text.to_string(), at)),
                // A date offset written without quotes: `date(+1d)`.
                _ if parse_offset_ms(text).is_some() => Ok(Arg::Str(text.to_string(), at)),
                _ => err(
                    at,
                    format!("`{text}` is not a number (argument {n} of `{func}`)"),
                ),
            }
        }
        None | Some(b')') if n > 1 => err(
            at,
            format!("expected an argument after `,` in the call to `{func}`"),
        ),
        _ => {
            let word = cur.take_while(is_name_byte);
            let hint = if word.is_empty() {
                String::new()
            } else {
                format!("; quote text: \"{word}\"")
            };
            err(
                at,
                format!("argument {n} of `{func}` must be a string (\"...\") or a number{hint}"),
            )
        }
    }
}

fn compile_func(name: &str, name_at: usize, args: Vec<Arg>) -> Result<Func, TemplateError> {
    let Some((name, params)) = FUNCTIONS.iter().find(|(f, _)| *f == name).copied() else {
        let known = FUNCTIONS
            .iter()
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()
            .join(", ");
        let hint = match suggest_function(name) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        return err(
            name_at,
            format!("unknown function `{name}`: {hint}(functions: {known})"),
        );
    };
    let arity = |want: usize| -> Result<(), TemplateError> {
        if args.len() == want {
            return Ok(());
        }
        let at = args.get(want).map_or(name_at, Arg::offset);
        let plural = if want == 1 { "" } else { "s" };
        err(
            at,
            format!(
                "`{name}{params}` takes {want} argument{plural}, got {}",
                args.len()
            ),
        )
    };
    Ok(match name {
        "randomInt" => {
            arity(2)?;
            let min = int_arg(&args[0], name, 1)?;
            let max = int_arg(&args[1], name, 2)?;
            if min > max {
                return err(
                    args[0].offset(),
                    format!("`randomInt` min ({min}) is greater than max ({max})"),
                );
            }
            Func::RandomInt { min, max }
        }
        "randomString" => {
            arity(1)?;
            let len = int_arg(&args[0], name, 1)?;
            if !(0..=MAX_RANDOM_STRING as i64).contains(&len) {
                return err(
                    args[0].offset(),
                    format!("`randomString` length must be 0 to {MAX_RANDOM_STRING}, got {len}"),
                );
            }
            Func::RandomString(len as usize)
        }
        "randomChoice" => {
            if args.is_empty() {
                return err(
                    name_at,
                    "`randomChoice(value, ...)` needs at least one value",
                );
            }
            Func::RandomChoice(
                args.into_iter()
                    .map(|a| match a {
                        Arg::Str(s, _) | Arg::Num(s, _) => s,
                    })
                    .collect(),
            )
        }
        "date" => {
            if args.len() > 2 {
                arity(2)?;
            }
            let offset_ms = match args.first() {
                None => 0,
                Some(Arg::Str(s, at) | Arg::Num(s, at)) => parse_offset_ms(s).ok_or_else(|| {
                    TemplateError {
                        offset: *at,
                        message: format!(
                            "`date` offset {s:?} is not an offset such as +1d, -2h, +1d12h, 90m or 0 (units w, d, h, m, s, ms)"
                        ),
                    }
                })?,
            };
            let format = match args.get(1) {
                None => DEFAULT_DATE_FORMAT.to_string(),
                Some(Arg::Str(f, at)) => {
                    check_date_format(f, *at)?;
                    f.clone()
                }
                Some(Arg::Num(f, at)) => {
                    return err(
                        *at,
                        format!(
                            "the format of `date` must be a quoted string such as \"%Y-%m-%d\", got {f}"
                        ),
                    );
                }
            };
            Func::Date { offset_ms, format }
        }
        "uuid" => arity(0).map(|_| Func::Uuid)?,
        "timestamp" => arity(0).map(|_| Func::Timestamp)?,
        _ => arity(0).map(|_| Func::TimestampMs)?,
    })
}

/// `date()` without a format: the day, as in `2026-11-28`.
const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";
/// Offsets of `date` stay within this many days (chrono's range is far wider).
const MAX_DATE_OFFSET_DAYS: i64 = 100 * 366;

/// A `date` offset such as `+1d`, `-2h30m`, `90m` or `0`, in milliseconds.
fn parse_offset_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => (1, s),
    };
    if rest == "0" {
        return Some(0);
    }
    let b = rest.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (mut i, mut total) = (0, 0i64);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = rest[start..i].parse().ok()?;
        let unit = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let ms = match &rest[unit..i] {
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1000,
            "ms" => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
    }
    (total <= MAX_DATE_OFFSET_DAYS * 86_400_000).then_some(sign * total)
}

/// A strftime format chrono can render, or the error at the argument.
fn check_date_format(f: &str, at: usize) -> Result<(), TemplateError> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
        return err(
            at,
            format!(
                "`date` format {f:?} is not a strftime format: use e.g. %Y-%m-%d, %H:%M:%S, %s, %A, %% for a percent sign"
            ),
        );
    }
    Ok(())
}

fn int_arg(arg: &Arg, func: &str, n: usize) -> Result<i64, TemplateError> {
    match arg {
        Arg::Num(text, at) => text.parse::<i64>().or_else(|_| {
            err(
                *at,
                format!("argument {n} of `{func}` must be a whole number, got {text}"),
            )
        }),
        Arg::Str(s, at) => err(
            *at,
            format!("argument {n} of `{func}` must be a whole number, got the string {s:?}"),
        ),
    }
}

/// The function a misspelt name most likely meant.
fn suggest_function(name: &str) -> Option<&'static str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = norm(name);
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == wanted) {
        return Some(to);
    }
    FUNCTIONS
        .iter()
        .map(|(f, _)| (*f, strsim::jaro_winkler(&wanted, &norm(f))))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const VARS: &[&str] = &["userId", "token", "page-size"];

    fn resolve(name: &str) -> Option<usize> {
        VARS.iter().position(|v| *v == name)
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "API_KEY" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn parse(src: &str) -> Result<Template, TemplateError> {
        Template::parse(src, &mut resolve, &env)
    }

    fn vars() -> Vars {
        let mut v = Vars::new(VARS.len());
        v.set(0, "42".to_string());
        v.set(1, "abc".to_string());
        v
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn render(src: &str) -> String {
        parse(src).unwrap().render(&vars(), &mut rng()).unwrap()
    }

    fn parse_err(src: &str) -> TemplateError {
        parse(src).expect_err(src)
    }

    #[test]
    fn plain_text_is_a_literal() {
        let t = parse("/api/items?x=1").unwrap();
        assert_eq!(t.as_literal(), Some("/api/items?x=1"));
        assert_eq!(t.source(), "/api/items?x=1");
        assert_eq!(render("/api/items?x=1"), "/api/items?x=1");
        assert_eq!(parse("").unwrap().as_literal(), Some(""));
    }

    #[test]
    fn literal_constructor_keeps_dollar_braces() {
        let t = Template::literal("${not a template}");
        assert_eq!(t.as_literal(), Some("${not a template}"));
        assert_eq!(t.render(&vars(), &mut rng()).unwrap(), "${not a template}");
        assert_eq!(Template::literal("").as_literal(), Some(""));
    }

    #[test]
    fn variables_resolve_to_slots() {
        let mut seen = Vec::new();
        let t = Template::parse(
            "/users/${userId}/t/${token}",
            &mut |n: &str| {
                seen.push(n.to_string());
                resolve(n)
            },
            &env,
        )
        .unwrap();
        assert_eq!(seen, ["userId", "token"]);
        assert_eq!(t.as_literal(), None);
        assert_eq!(
            t.variables().collect::<Vec<_>>(),
            [(0, "userId"), (1, "token")]
        );
        assert_eq!(t.render(&vars(), &mut rng()).unwrap(), "/users/42/t/abc");
        assert_eq!(t.source(), "/users/${userId}/t/${token}");
    }

    #[test]
    fn variable_names_may_have_dashes_and_spaces_around() {
        let mut v = vars();
        v.set(2, "10".to_string());
        let t = parse("${ page-size }").unwrap();
        assert_eq!(t.render(&v, &mut rng()).unwrap(), "10");
    }

    #[test]
    fn unknown_variable_is_reported_at_the_dollar() {
        let e = parse_err("/users/${userid}");
        assert_eq!(e.offset, 7);
        assert!(
            e.message.contains("unknown variable `userid`"),
            "{}",
            e.message
        );
        let e = parse_err("x${uuid}");
        assert_eq!(e.offset, 1);
        assert!(
            e.message.contains("did you mean the function `${uuid()}`"),
            "{}",
            e.message
        );
        let e = parse_err("${env}");
        assert!(e.message.contains("${env.NAME}"), "{}", e.message);
    }

    #[test]
    fn unset_variable_fails_the_render_and_leaves_out_alone() {
        let t = parse("a${userId}b${page-size}c").unwrap();
        let mut out = String::from("keep:");
        let e = t.render_into(&vars(), &mut rng(), &mut out).unwrap_err();
        assert_eq!(e, RenderError::Unset("page-size".to_string()));
        assert_eq!(out, "keep:");
        assert!(e.to_string().contains("`page-size` is not set"));
    }

    #[test]
    fn render_into_appends() {
        let t = parse("/${userId}").unwrap();
        let mut out = String::from("http://h");
        t.render_into(&vars(), &mut rng(), &mut out).unwrap();
        t.render_into(&vars(), &mut rng(), &mut out).unwrap();
        assert_eq!(out, "http://h/42/42");
    }

    #[test]
    fn env_is_read_once_and_substituted_as_literal() {
        let calls = std::cell::Cell::new(0);
        let t = Template::parse("Bearer ${env.API_KEY}", &mut resolve, &|n: &str| {
            calls.set(calls.get() + 1);
            env(n)
        })
        .unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(t.as_literal(), Some("Bearer s3cret"));
        assert_eq!(t.env_values(), ["s3cret"]);
        assert_eq!(t.source(), "Bearer ${env.API_KEY}");
        let t = parse("${env.API_KEY}:${env.API_KEY}:${env.EMPTY}:${userId}").unwrap();
        assert_eq!(t.env_values(), ["s3cret"]);
        assert_eq!(t.render(&vars(), &mut rng()).unwrap(), "s3cret:s3cret::42");
        assert!(parse("x").unwrap().env_values().is_empty());
    }

    #[test]
    fn unset_env_is_an_error() {
        let e = parse_err("key=${env.NOPE}");
        assert_eq!(e.offset, 4);
        assert_eq!(e.message, "environment variable NOPE is not set");
        let e = parse_err("${env.}");
        assert_eq!(e.offset, 6);
        let e = parse_err("${env.A B}");
        assert_eq!(e.offset, 8);
    }

    #[test]
    fn escapes_and_lone_dollars() {
        assert_eq!(render("$${userId}"), "${userId}");
        assert_eq!(parse("a$${b}c").unwrap().as_literal(), Some("a${b}c"));
        assert_eq!(render("$5 and $x and $"), "$5 and $x and $");
        assert_eq!(render("$$"), "$$");
        assert_eq!(render("$$$${x}"), "$$${x}");
        assert_eq!(render("$${userId}=${userId}"), "${userId}=42");
        assert_eq!(render("price: $${ $100"), "price: ${ $100");
    }

    #[test]
    fn multibyte_text_keeps_byte_offsets() {
        assert_eq!(render("é${userId}ü"), "é42ü");
        let e = parse_err("éé${nope}");
        assert_eq!(e.offset, 4);
        assert_eq!(&"éé${nope}"[e.offset..e.offset + 2], "${");
    }

    #[test]
    fn random_int_is_inclusive() {
        let t = parse("${randomInt(1, 3)}").unwrap();
        assert_eq!(t.as_literal(), None);
        let mut r = rng();
        let mut seen = [false; 3];
        for _ in 0..200 {
            let n: usize = t.render(&vars(), &mut r).unwrap().parse().unwrap();
            assert!((1..=3).contains(&n));
            seen[n - 1] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(render("${randomInt(5,5)}"), "5");
        assert_eq!(render("${randomInt(-2, -2)}"), "-2");
        let n: i64 = render("${randomInt(-10, +10)}").parse().unwrap();
        assert!((-10..=10).contains(&n));
    }

    #[test]
    fn random_int_errors() {
        let e = parse_err("${randomInt(10, 1)}");
        assert_eq!(e.offset, 12);
        assert!(
            e.message.contains("min (10) is greater than max (1)"),
            "{}",
            e.message
        );
        let e = parse_err("${randomInt(1)}");
        assert_eq!(e.offset, 2);
        assert!(
            e.message.contains("takes 2 arguments, got 1"),
            "{}",
            e.message
        );
        let e = parse_err("${randomInt(1, 2, 3)}");
        assert_eq!(e.offset, 18);
        let e = parse_err("${randomInt(1, \"9\")}");
        assert_eq!(e.offset, 15);
        assert!(
            e.message
                .contains("argument 2 of `randomInt` must be a whole number"),
            "{}",
            e.message
        );
        let e = parse_err("${randomInt(1.5, 9)}");
        assert_eq!(e.offset, 12);
        let e = parse_err("${randomInt(1, x)}");
        assert_eq!(e.offset, 15);
        assert!(e.message.contains("quote text: \"x\""), "{}", e.message);
        let e = parse_err("${randomInt(1, 2x)}");
        assert!(e.message.contains("`2x` is not a number"), "{}", e.message);
    }

    #[test]
    fn uuid_is_a_v4() {
        let s = render("${uuid()}");
        let id = uuid::Uuid::parse_str(&s).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let t = parse("${uuid()}").unwrap();
        let mut r = rng();
        assert_ne!(
            t.render(&vars(), &mut r).unwrap(),
            t.render(&vars(), &mut r).unwrap()
        );
        assert!(
            parse_err("${uuid(1)}")
                .message
                .contains("takes 0 arguments, got 1")
        );
    }

    #[test]
    fn random_choice_takes_strings_and_numbers() {
        let t = parse(r#"${randomChoice("a", 'b}', 3, -1.5)}"#).unwrap();
        let mut r = rng();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(t.render(&vars(), &mut r).unwrap());
        }
        let want: std::collections::BTreeSet<String> = ["a", "b}", "3", "-1.5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(seen, want);
        assert_eq!(render(r#"${randomChoice("only")}"#), "only");
        assert_eq!(render(r#"${randomChoice("q\"\\\n\t'x")}"#), "q\"\\\n\t'x");
        assert_eq!(render(r#"${randomChoice('it\'s')}"#), "it's");
        assert!(
            parse_err("${randomChoice()}")
                .message
                .contains("at least one value")
        );
    }

    #[test]
    fn timestamps_are_now() {
        let now = unix_now();
        let s: u64 = render("${timestamp()}").parse().unwrap();
        assert!(s.abs_diff(now.as_secs()) <= 2);
        let ms: u128 = render("${ timestampMs( ) }").parse().unwrap();
        assert!(ms.abs_diff(now.as_millis()) <= 2000);
        assert!(
            parse_err("${timestamp(1)}")
                .message
                .contains("takes 0 arguments")
        );
    }

    #[test]
    fn random_string_is_alphanumeric() {
        let s = render("${randomString(12)}");
        assert_eq!(s.len(), 12);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()), "{s}");
        assert_eq!(render("x${randomString(0)}y"), "xy");
        let e = parse_err("${randomString(-1)}");
        assert_eq!(e.offset, 15);
        assert!(
            parse_err("${randomString(99999999)}")
                .message
                .contains("must be 0 to")
        );
        assert!(
            parse_err("${randomString()}")
                .message
                .contains("takes 1 argument, got 0")
        );
    }

    #[test]
    fn unknown_function_suggests_one() {
        let e = parse_err("/x/${randomint(1, 2)}");
        assert_eq!(e.offset, 5);
        assert!(
            e.message
                .starts_with("unknown function `randomint`: did you mean `randomInt`?"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("functions: randomInt, uuid"),
            "{}",
            e.message
        );
        let suggestion = |s: &str| suggest_function(s);
        assert_eq!(suggestion("timestamp_ms"), Some("timestampMs"));
        assert_eq!(suggestion("now"), Some("timestamp"));
        assert_eq!(suggestion("uuid4"), Some("uuid"));
        assert_eq!(suggestion("randomChoise"), Some("randomChoice"));
        assert_eq!(suggestion("randomStr"), Some("randomString"));
        assert_eq!(suggestion("xyz"), None);
        assert!(!parse_err("${xyz()}").message.contains("did you mean"));
    }

    #[test]
    fn syntax_errors_carry_offsets() {
        let cases: &[(&str, usize, &str)] = &[
            ("abc${userId", 3, "unclosed `${`"),
            ("${", 0, "unclosed `${`"),
            ("a${}", 1, "empty `${}`"),
            ("a${  }", 1, "empty `${}`"),
            ("${?x}", 2, "unexpected `?`"),
            ("${userId token}", 9, "unexpected `t` after `userId`"),
            ("${uuid() x}", 9, "unexpected `x` after the function call"),
            ("${randomChoice(\"a)}", 15, "unterminated string"),
            ("${randomChoice(\"a\" \"b\")}", 19, "expected `,` or `)`"),
            (
                "${randomChoice(\"a\",)}",
                19,
                "expected an argument after `,`",
            ),
            ("${randomChoice(\"a\"}", 18, "expected `)`"),
            ("${randomChoice(\"\\q\")}", 16, "unknown escape `\\q`"),
            ("${user.}", 7, "expected a field name after `user.`"),
            ("${user.id.x}", 9, "unexpected `.`"),
        ];
        for (src, offset, msg) in cases {
            let e = parse_err(src);
            assert_eq!(e.offset, *offset, "{src}: {}", e.message);
            assert!(e.message.contains(msg), "{src}: {}", e.message);
        }
    }

    #[test]
    fn adjacent_literals_merge() {
        let t = parse("a$${b${env.API_KEY}c").unwrap();
        assert_eq!(t.parts, [Part::Literal("a${bs3cretc".to_string())]);
        let t = parse("x${userId}${userId}y").unwrap();
        assert_eq!(t.parts.len(), 4);
        assert_eq!(t.clone(), t);
    }

    #[test]
    fn feeder_fields_resolve_as_dotted_names() {
        let mut seen = Vec::new();
        let t = Template::parse(
            "u=${users.username}&p=${ users.pass-word }",
            &mut |n: &str| {
                seen.push(n.to_string());
                Some(seen.len() - 1)
            },
            &env,
        )
        .unwrap();
        assert_eq!(seen, ["users.username", "users.pass-word"]);
        let mut v = Vars::new(2);
        v.set(0, "ada".into());
        v.set(1, "x".into());
        assert_eq!(t.render(&v, &mut rng()).unwrap(), "u=ada&p=x");
        let e = parse_err("${users.nope}");
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("`users.nope`"), "{}", e.message);
    }

    #[test]
    fn date_adds_offsets_and_formats() {
        use chrono::{TimeDelta, Utc};
        let day = |d: i64| {
            (Utc::now() + TimeDelta::days(d))
                .format("%Y-%m-%d")
                .to_string()
        };
        // Around midnight the day may turn between the two clocks: allow either.
        let ok = |got: String, d: i64| got == day(d) || got == day(d - 1) || got == day(d + 1);
        assert!(ok(render("${date()}"), 0));
        assert!(ok(render("${date(+1d)}"), 1));
        assert!(ok(render("${date(\"-1w\", \"%Y-%m-%d\")}"), -7));
        assert!(ok(render("${date('+1d12h', '%Y-%m-%d')}"), 1));
        let secs: i64 = render("${date(0, \"%s\")}").parse().unwrap();
        assert!((secs - Utc::now().timestamp()).abs() <= 2);
        let secs: i64 = render("${date(+90m, \"%s\")}").parse().unwrap();
        assert!((secs - Utc::now().timestamp() - 5400).abs() <= 2);
        assert_eq!(parse_offset_ms("-2h30m"), Some(-9_000_000));
        assert_eq!(parse_offset_ms("1s500ms"), Some(1_500));
        for bad in ["", "+", "1", "1y", "d", "1d2", "99999999999999w"] {
            assert_eq!(parse_offset_ms(bad), None, "{bad}");
        }
        let e = parse_err("${date(+1y)}");
        assert!(e.message.contains("not a number"), "{}", e.message);
        let e = parse_err("${date(\"1x\")}");
        assert_eq!(e.offset, 7);
        assert!(e.message.contains("not an offset"), "{}", e.message);
        let e = parse_err("${date(0, \"%Q\")}");
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("not a strftime format"), "{}", e.message);
        assert!(parse_err("${date(0, 5)}").message.contains("quoted string"));
        assert!(
            parse_err("${date(0, \"%F\", 1)}")
                .message
                .contains("takes 2 arguments")
        );
        assert_eq!(suggest_function("today"), Some("date"));
    }

    #[test]
    fn vars_ignore_out_of_range_slots() {
        let mut v = Vars::new(1);
        v.set(5, "x".to_string());
        assert_eq!(v.get(5), None);
        assert_eq!(v.get(0), None);
        v.set(0, "y".to_string());
        assert_eq!(v.get(0), Some("y"));
    }
}
