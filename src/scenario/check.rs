//! Checks (assertions on a response) and extractions (values taken from a response into
//! per-user variables). Compiled at plan time; evaluated per response.
//!
//! Everything that can be decided once (regexes, JSON paths, labels) is decided when the
//! plan is built; [`Check::passes`] and [`Extract::extract`] only look at the response
//! (and the user's variables, for expected values written as templates such as
//! `equals: "${token}"`, rendered per response). The body is parsed as JSON at most once
//! per response, and only when a check or extract asks for it ([`Response::json`]).

use std::borrow::Cow;
use std::cell::OnceCell;

use super::json_template::NoRandom;
use super::plan::JsonTemplate;
use super::template::{Template, Vars};

/// What a check or extract sees of a response.
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    json: OnceCell<Option<serde_json::Value>>,
}

impl<'a> Response<'a> {
    pub fn new(status: u16, headers: &'a http::HeaderMap, body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            headers,
            body,
            json: OnceCell::new(),
        }
    }

    /// The body parsed as JSON, once; `None` when it is not JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }
}

/// One assertion on a response; a failed check is counted under its label.
#[derive(Debug, Clone)]
pub struct Check {
    /// Short human label, e.g. `status 200`, `status in [200, 201]`, `json $.items exists`.
    pub label: String,
    pub kind: CheckKind,
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// The status is in one of these inclusive ranges (`200` is 200..=200, `2xx` is 200..=299).
    Status(Vec<(u16, u16)>),
    /// A response header (name matched case-insensitively); ops other than `Exists` test
    /// the first value.
    Header { name: String, op: StrOp },
    /// The body contains this text (a template; compared as bytes).
    BodyContains(Template),
    /// The body matches this regex (invalid UTF-8 is replaced before matching).
    BodyMatches(regex::Regex),
    /// A JSON path into the body. A body that is not JSON fails every JSON check, even
    /// `exists: false`.
    Json { path: JsonPath, op: JsonOp },
}

/// A test on a text value; expected texts are templates, rendered per response.
#[derive(Debug, Clone)]
pub enum StrOp {
    Exists,
    Equals(Template),
    Contains(Template),
    Matches(regex::Regex),
}

/// A test on the value(s) a JSON path selects.
#[derive(Debug, Clone)]
pub enum JsonOp {
    /// `exists: true` passes when the path selects something; `exists: false` when it does not.
    Exists(bool),
    /// The first selected value equals this JSON value (numbers compare by value, so `1`
    /// equals `1.0`).
    Equals(serde_json::Value),
    /// Like `Equals`, with a value that holds templates (`equals: "${token}"` or
    /// `equals: "${id:int}"`), rendered per response with the user's variables.
    EqualsTemplate(JsonTemplate),
    /// The first selected value is a number (or a numeric string) that compares so.
    Compare(CmpOp, f64),
    /// The first selected value is a string containing this text, or an array containing
    /// this string (or a number or boolean written so, e.g. `3` or `true`). A template.
    Contains(Template),
}

/// Numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    /// `>`, `>=`, `<` or `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// Parse a symbol (`>`, `>=`, `<`, `<=`) or a word (`gt`, `gte`, `lt`, `lte`).
    pub fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            ">" | "gt" => CmpOp::Gt,
            ">=" | "gte" => CmpOp::Gte,
            "<" | "lt" => CmpOp::Lt,
            "<=" | "lte" => CmpOp::Lte,
            _ => return None,
        })
    }

    /// Does `value <op> bound` hold?
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            CmpOp::Gt => value > bound,
            CmpOp::Gte => value >= bound,
            CmpOp::Lt => value < bound,
            CmpOp::Lte => value <= bound,
        }
    }
}

/// A compiled RFC 9535 JSONPath (`$.items[0].id`).
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    path: serde_json_path::JsonPath,
}

/// The deepest JSONPath nesting of `[` and `(` accepted (real paths use a few).
pub const MAX_PATH_NESTING: usize = 10;

/// How deep `[` and `(` nest in a JSONPath, outside its quoted strings.
fn nesting(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' | '(' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

impl JsonPath {
    /// Compile a JSONPath; the error says what is wrong with it. A path nested deeper
    /// than [`MAX_PATH_NESTING`] is refused before the parser sees it: serde_json_path
    /// parses recursively, and a few thousand nested filters overflow the stack (the fuzz
    /// target `scenario_files` found it; `skein validate` aborted).
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        let depth = nesting(s);
        if depth > MAX_PATH_NESTING {
            return Err(format!(
                "brackets and parentheses nested {depth} levels deep: at most \
                 {MAX_PATH_NESTING}"
            ));
        }
        serde_json_path::JsonPath::parse(s)
            .map(|path| JsonPath {
                source: s.to_string(),
                path,
            })
            .map_err(|e| e.to_string())
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first value the path selects in `v`.
    pub fn first<'v>(&self, v: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.path.query(v).first()
    }
}

impl Check {
    /// A check labelled after its kind (see [`CheckKind::label`]).
    pub fn new(kind: CheckKind) -> Check {
        Check {
            label: kind.label(),
            kind,
        }
    }

    /// A status check: `status 200`, `status 2xx`, `status in [200, 201]`.
    pub fn status(ranges: Vec<(u16, u16)>) -> Check {
        Check::new(CheckKind::Status(ranges))
    }

    /// A header check: `header content-type contains "json"`.
    pub fn header(name: &str, op: StrOp) -> Check {
        Check::new(CheckKind::Header {
            name: name.to_string(),
            op,
        })
    }

    /// `body contains "text"`.
    pub fn body_contains(text: impl Into<Template>) -> Check {
        Check::new(CheckKind::BodyContains(text.into()))
    }

    /// `body matches /re/`.
    pub fn body_matches(re: regex::Regex) -> Check {
        Check::new(CheckKind::BodyMatches(re))
    }

    /// A JSON check: `json $.total > 0`.
    pub fn json(path: JsonPath, op: JsonOp) -> Check {
        Check::new(CheckKind::Json { path, op })
    }

    /// The same check under a label chosen in the scenario file.
    pub fn with_label(self, label: &str) -> Check {
        Check {
            label: label.to_string(),
            ..self
        }
    }

    /// Does the response pass? Expected values written as templates are rendered with
    /// the user's `vars`; one that cannot be rendered (a variable with no value yet, a
    /// typed placeholder of the wrong type) fails the check.
    pub fn passes(&self, r: &Response<'_>, vars: &Vars) -> bool {
        match &self.kind {
            CheckKind::Status(ranges) => ranges
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&r.status)),
            CheckKind::Header { name, op } => header_passes(r.headers, name, op, vars),
            CheckKind::BodyContains(t) => {
                expected(t, vars).is_some_and(|text| contains_bytes(r.body, &text))
            }
            CheckKind::BodyMatches(re) => re.is_match(&String::from_utf8_lossy(r.body)),
            CheckKind::Json { path, op } => {
                r.json().is_some_and(|v| json_passes(path, op, v, vars))
            }
        }
    }
}

/// The text a check expects: the literal as is (no allocation), or the template rendered
/// for this user; `None` when it cannot be rendered. Check values never draw random
/// numbers (the semantic pass refuses random functions there).
fn expected<'t>(t: &'t Template, vars: &Vars) -> Option<Cow<'t, str>> {
    match t.as_literal() {
        Some(s) => Some(Cow::Borrowed(s)),
        None => t.render(vars, &mut NoRandom).ok().map(Cow::Owned),
    }
}

impl From<&str> for Template {
    fn from(s: &str) -> Template {
        Template::literal(s)
    }
}

impl CheckKind {
    /// A readable label: `status 2xx`, `header content-type contains "json"`,
    /// `body contains "x"`, `body matches /id=\d+/`, `json $.total > 0`,
    /// `json $.items exists`, `json $.error does not exist`, `json $.state equals "ok"`.
    pub fn label(&self) -> String {
        match self {
            CheckKind::Status(ranges) => status_label(ranges),
            CheckKind::Header { name, op } => {
                let op = match op {
                    StrOp::Exists => "exists".to_string(),
                    StrOp::Equals(t) => format!("equals {:?}", t.source()),
                    StrOp::Contains(t) => format!("contains {:?}", t.source()),
                    StrOp::Matches(re) => format!("matches /{re}/"),
                };
                format!("header {} {op}", name.to_ascii_lowercase())
            }
            CheckKind::BodyContains(t) => format!("body contains {:?}", t.source()),
            CheckKind::BodyMatches(re) => format!("body matches /{re}/"),
            CheckKind::Json { path, op } => {
                let op = match op {
                    JsonOp::Exists(true) => "exists".to_string(),
                    JsonOp::Exists(false) => "does not exist".to_string(),
                    JsonOp::Equals(v) => format!("equals {v}"),
                    JsonOp::EqualsTemplate(t) => format!("equals {}", t.source_value()),
                    JsonOp::Compare(cmp, x) => format!("{} {x}", cmp.symbol()),
                    JsonOp::Contains(t) => format!("contains {:?}", t.source()),
                };
                format!("json {} {op}", path.as_str())
            }
        }
    }

    /// Parse one accepted status as written in a scenario: `200`, `2xx` (or `2XX`), or an
    /// inclusive range `200-204`; codes are 100 to 599.
    pub fn parse_status(s: &str) -> Option<(u16, u16)> {
        let s = s.trim();
        let code = |t: &str| {
            t.parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c) && t.len() == 3)
        };
        if let Some((lo, hi)) = s.split_once('-') {
            let (lo, hi) = (code(lo.trim())?, code(hi.trim())?);
            return (lo <= hi).then_some((lo, hi));
        }
        if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let c = class
                .parse::<u16>()
                .ok()
                .filter(|c| (1..=5).contains(c) && class.len() == 1)?;
            return Some((c * 100, c * 100 + 99));
        }
        code(s).map(|c| (c, c))
    }
}

/// Is there a status check among these? (When there is not, the engine applies its default.)
pub fn expects_status(checks: &[Check]) -> bool {
    checks
        .iter()
        .any(|c| matches!(c.kind, CheckKind::Status(_)))
}

fn status_label(ranges: &[(u16, u16)]) -> String {
    let text = |&(lo, hi): &(u16, u16)| {
        if lo == hi {
            lo.to_string()
        } else if lo % 100 == 0 && hi == lo + 99 {
            format!("{}xx", lo / 100)
        } else {
            format!("{lo}-{hi}")
        }
    };
    match ranges {
        [one] => format!("status {}", text(one)),
        _ => {
            let all: Vec<String> = ranges.iter().map(text).collect();
            format!("status in [{}]", all.join(", "))
        }
    }
}

/// A header value as text: borrowed when it is UTF-8 (nearly always).
fn header_str(v: &http::HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(v.as_bytes())
}

fn header_passes(headers: &http::HeaderMap, name: &str, op: &StrOp, vars: &Vars) -> bool {
    // `get` with a `&str` matches case-insensitively, without allocating.
    let Some(value) = headers.get(name) else {
        return false;
    };
    match op {
        StrOp::Exists => true,
        StrOp::Equals(t) => expected(t, vars).is_some_and(|s| value.as_bytes() == s.as_bytes()),
        StrOp::Contains(t) => expected(t, vars).is_some_and(|s| header_str(value).contains(&*s)),
        StrOp::Matches(re) => re.is_match(&header_str(value)),
    }
}

/// Does `hay` contain `needle`? Uses the fast `str` search when the body is UTF-8.
fn contains_bytes(hay: &[u8], needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    match std::str::from_utf8(hay) {
        Ok(text) => text.contains(needle),
        Err(_) => {
            let needle = needle.as_bytes();
            hay.windows(needle.len()).any(|w| w == needle)
        }
    }
}

fn json_passes(path: &JsonPath, op: &JsonOp, doc: &serde_json::Value, vars: &Vars) -> bool {
    use serde_json::Value;
    let first = path.first(doc);
    match op {
        JsonOp::Exists(want) => first.is_some() == *want,
        JsonOp::Equals(expected) => first.is_some_and(|v| json_eq(v, expected)),
        JsonOp::EqualsTemplate(t) => first.is_some_and(|v| {
            t.render("equals", vars, &mut NoRandom)
                .is_ok_and(|expected| json_eq(v, &expected))
        }),
        JsonOp::Compare(cmp, bound) => first
            .and_then(as_number)
            .is_some_and(|x| cmp.holds(x, *bound)),
        JsonOp::Contains(t) => {
            let Some(text) = expected(t, vars) else {
                return false;
            };
            let text = &*text;
            match first {
                Some(Value::String(s)) => s.contains(text),
                Some(Value::Array(items)) => items.iter().any(|item| match item {
                    Value::String(s) => s == text,
                    Value::Number(n) => n.to_string() == text,
                    Value::Bool(b) => (if *b { "true" } else { "false" }) == text,
                    _ => false,
                }),
                _ => false,
            }
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A number, or a string holding one (`"12.5"`); not NaN or infinite.
fn as_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// One value taken from a response into a per-user variable.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Slot of the variable written.
    pub var: usize,
    /// Name of the variable written (for messages).
    pub name: String,
    pub source: ExtractSource,
}

/// Where an extract reads from.
#[derive(Debug, Clone)]
pub enum ExtractSource {
    /// The first value a JSON path selects (strings unquoted, other values as JSON text).
    Json(JsonPath),
    /// A regex capture group (0 = the whole match). [`ExtractSource::regex`] picks the
    /// default: group 1 when the regex has a capture group, else the whole match. The body
    /// is matched as text (invalid UTF-8 replaced); a group that did not take part in the
    /// match extracts nothing.
    Regex { re: regex::Regex, group: usize },
    /// A response header's value (the first, when there are several).
    Header(String),
    /// The value of a cookie set by this response (`Set-Cookie`); when several set the
    /// same name, the last one wins, as in a browser.
    Cookie(String),
}

impl ExtractSource {
    /// A regex source; `group: None` means group 1 when the regex has a capture group, else
    /// the whole match. The error says when the group does not exist.
    pub fn regex(re: regex::Regex, group: Option<usize>) -> Result<ExtractSource, String> {
        let groups = re.captures_len() - 1;
        let group = group.unwrap_or(usize::from(groups > 0));
        if group > groups {
            let plural = if groups == 1 { "" } else { "s" };
            return Err(format!(
                "regex /{re}/ has {groups} capture group{plural}, so there is no group {group}"
            ));
        }
        Ok(ExtractSource::Regex { re, group })
    }
}

impl Extract {
    pub fn new(var: usize, name: &str, source: ExtractSource) -> Extract {
        Extract {
            var,
            name: name.to_string(),
            source,
        }
    }

    /// The extracted value, or `None` when the response does not have it.
    pub fn extract(&self, r: &Response<'_>) -> Option<String> {
        match &self.source {
            ExtractSource::Json(path) => path.first(r.json()?).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            ExtractSource::Regex { re, group } => {
                let text = String::from_utf8_lossy(r.body);
                let found = if *group == 0 {
                    re.find(&text)
                } else {
                    re.captures(&text)?.get(*group)
                };
                found.map(|m| m.as_str().to_string())
            }
            ExtractSource::Header(name) => r
                .headers
                .get(name.as_str())
                .map(|v| header_str(v).into_owned()),
            ExtractSource::Cookie(name) => cookie_value(r.headers, name),
        }
    }
}

/// The value the `Set-Cookie` headers give cookie `name`: each header's first `name=value`
/// pair (before any `;` attributes), names compared exactly, the last one winning.
fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .rev()
        .find_map(|v| {
            let text = header_str(v);
            let pair = text.split(';').next().unwrap_or("");
            let (k, value) = pair.split_once('=')?;
            (k.trim() == name).then(|| value.trim().to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn passes(check: &Check, status: u16, h: &HeaderMap, body: &[u8]) -> bool {
        check.passes(&Response::new(status, h, body), &Vars::default())
    }

    fn on_body(check: &Check, body: &str) -> bool {
        passes(check, 200, &HeaderMap::new(), body.as_bytes())
    }

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).unwrap()
    }

    fn re(r: &str) -> regex::Regex {
        regex::Regex::new(r).unwrap()
    }

    #[test]
    fn status_ranges_and_labels() {
        let one = Check::status(vec![(200, 200)]);
        assert_eq!(one.label, "status 200");
        assert!(passes(&one, 200, &HeaderMap::new(), b""));
        assert!(!passes(&one, 201, &HeaderMap::new(), b""));
        let class = Check::status(vec![(200, 299)]);
        assert_eq!(class.label, "status 2xx");
        assert!(passes(&class, 299, &HeaderMap::new(), b""));
        assert!(!passes(&class, 300, &HeaderMap::new(), b""));
        let many = Check::status(vec![(200, 200), (201, 201)]);
        assert_eq!(many.label, "status in [200, 201]");
        assert!(passes(&many, 201, &HeaderMap::new(), b""));
        assert_eq!(Check::status(vec![(200, 204)]).label, "status 200-204");
        assert_eq!(
            Check::status(vec![(200, 299), (404, 404)]).label,
            "status in [2xx, 404]"
        );
        assert!(!passes(&Check::status(vec![]), 200, &HeaderMap::new(), b""));
    }

    #[test]
    fn parse_status_accepts_codes_classes_and_ranges() {
        assert_eq!(CheckKind::parse_status("200"), Some((200, 200)));
        assert_eq!(CheckKind::parse_status(" 2xx "), Some((200, 299)));
        assert_eq!(CheckKind::parse_status("5XX"), Some((500, 599)));
        assert_eq!(CheckKind::parse_status("200-204"), Some((200, 204)));
        for bad in [
            "", "20", "2000", "600", "099", "6xx", "0xx", "22xx", "204-200", "abc", "2x",
        ] {
            assert_eq!(CheckKind::parse_status(bad), None, "{bad}");
        }
    }

    #[test]
    fn expects_status_finds_status_checks() {
        let body = Check::body_contains("x");
        assert!(!expects_status(&[]));
        assert!(!expects_status(std::slice::from_ref(&body)));
        assert!(expects_status(&[body, Check::status(vec![(200, 299)])]));
    }

    #[test]
    fn header_ops_are_case_insensitive_on_the_name_and_use_the_first_value() {
        let h = headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("x-tag", "first"),
            ("x-tag", "second"),
        ]);
        let check = |op: StrOp| passes(&Check::header("Content-Type", op), 200, &h, b"");
        assert!(check(StrOp::Exists));
        assert!(check(StrOp::Contains("json".into())));
        assert!(!check(StrOp::Contains("xml".into())));
        assert!(check(StrOp::Equals(
            "application/json; charset=utf-8".into()
        )));
        assert!(!check(StrOp::Equals("application/json".into())));
        assert!(check(StrOp::Matches(re(r"^application/\w+"))));
        assert!(!check(StrOp::Matches(re("^text/"))));
        let tag = |op: StrOp| passes(&Check::header("X-TAG", op), 200, &h, b"");
        assert!(tag(StrOp::Equals("first".into())));
        assert!(!tag(StrOp::Equals("second".into())));
        let missing = |op: StrOp| passes(&Check::header("x-missing", op), 200, &h, b"");
        assert!(!missing(StrOp::Exists));
        assert!(!missing(StrOp::Contains("".into())));
        assert!(!passes(
            &Check::header("bad name", StrOp::Exists),
            200,
            &h,
            b""
        ));
    }

    #[test]
    fn header_labels() {
        let label = |op| Check::header("Content-Type", op).label;
        assert_eq!(label(StrOp::Exists), "header content-type exists");
        assert_eq!(
            label(StrOp::Contains("json".into())),
            r#"header content-type contains "json""#
        );
        assert_eq!(
            label(StrOp::Equals("a".into())),
            r#"header content-type equals "a""#
        );
        assert_eq!(
            label(StrOp::Matches(re("^a"))),
            "header content-type matches /^a/"
        );
    }

    #[test]
    fn body_contains_works_on_bytes() {
        let c = Check::body_contains("needle");
        assert_eq!(c.label, r#"body contains "needle""#);
        assert!(on_body(&c, "hay needle hay"));
        assert!(!on_body(&c, "hay needl"));
        assert!(passes(&c, 200, &HeaderMap::new(), b"\xff\xfe needle \xff"));
        assert!(!passes(&c, 200, &HeaderMap::new(), b"\xff\xfe needl"));
        assert!(!on_body(&c, ""));
        assert!(on_body(&Check::body_contains(""), ""));
        assert!(on_body(&Check::body_contains("é"), "café"));
    }

    #[test]
    fn body_matches_uses_lossy_text() {
        let c = Check::body_matches(re(r"id=\d+"));
        assert_eq!(c.label, r"body matches /id=\d+/");
        assert!(on_body(&c, "x id=42 y"));
        assert!(!on_body(&c, "x id= y"));
        assert!(passes(&c, 200, &HeaderMap::new(), b"\xff id=7"));
    }

    #[test]
    fn json_exists() {
        let body = r#"{"items": [{"id": 1}, {"id": 2}], "error": null}"#;
        let exists = |p: &str, want| on_body(&Check::json(path(p), JsonOp::Exists(want)), body);
        assert!(exists("$.items", true));
        assert!(exists("$.items[1].id", true));
        assert!(exists("$.error", true));
        assert!(!exists("$.nope", true));
        assert!(exists("$.nope", false));
        assert!(!exists("$.items", false));
        assert!(exists("$.items[-1].id", true));
        assert!(!exists("$.items[5]", true));
        let not_json = Check::json(path("$.nope"), JsonOp::Exists(false));
        assert!(!on_body(&not_json, "<html>"));
        assert_eq!(not_json.label, "json $.nope does not exist");
        assert_eq!(
            Check::json(path("$.a"), JsonOp::Exists(true)).label,
            "json $.a exists"
        );
    }

    #[test]
    fn json_equals() {
        let body =
            r#"{"state": "ok", "n": 1, "f": 2.5, "list": [1, "a"], "obj": {"b": 1, "a": 2}}"#;
        let eq = |p: &str, v| on_body(&Check::json(path(p), JsonOp::Equals(v)), body);
        assert!(eq("$.state", json!("ok")));
        assert!(!eq("$.state", json!("OK")));
        assert!(eq("$.n", json!(1)));
        assert!(eq("$.n", json!(1.0)));
        assert!(!eq("$.n", json!("1")));
        assert!(eq("$.f", json!(2.5)));
        assert!(eq("$.list", json!([1.0, "a"])));
        assert!(eq("$.obj", json!({"a": 2, "b": 1})));
        assert!(!eq("$.obj", json!({"a": 2})));
        assert!(!eq("$.missing", json!(null)));
        assert!(eq("$.list[1]", json!("a")));
        let c = Check::json(path("$.state"), JsonOp::Equals(json!("ok")));
        assert_eq!(c.label, r#"json $.state equals "ok""#);
        assert!(!on_body(&c, "not json"));
    }

    #[test]
    fn json_compare_takes_numbers_and_numeric_strings() {
        let body = r#"{"total": 3, "price": "12.50", "name": "x", "items": [5, 10]}"#;
        let cmp = |p: &str, op, x| on_body(&Check::json(path(p), JsonOp::Compare(op, x)), body);
        assert!(cmp("$.total", CmpOp::Gt, 0.0));
        assert!(!cmp("$.total", CmpOp::Gt, 3.0));
        assert!(cmp("$.total", CmpOp::Gte, 3.0));
        assert!(cmp("$.total", CmpOp::Lt, 3.5));
        assert!(cmp("$.total", CmpOp::Lte, 3.0));
        assert!(!cmp("$.total", CmpOp::Lte, 2.0));
        assert!(cmp("$.price", CmpOp::Gt, 12.0));
        assert!(!cmp("$.name", CmpOp::Gt, 0.0));
        assert!(!cmp("$.items", CmpOp::Gt, 0.0));
        assert!(!cmp("$.missing", CmpOp::Lt, 1e9));
        assert!(cmp("$.items[0]", CmpOp::Lt, 6.0));
        assert!(
            cmp("$.items[*]", CmpOp::Lt, 6.0),
            "the first selected value"
        );
        let c = Check::json(path("$.total"), JsonOp::Compare(CmpOp::Gt, 0.0));
        assert_eq!(c.label, "json $.total > 0");
        let c = Check::json(path("$.t"), JsonOp::Compare(CmpOp::Lte, 2.5));
        assert_eq!(c.label, "json $.t <= 2.5");
    }

    #[test]
    fn json_contains_strings_and_arrays() {
        let body = r#"{"msg": "hello world", "tags": ["a", "b"], "ids": [1, 2, 3], "flags": [true], "n": 5}"#;
        let contains =
            |p: &str, s: &str| on_body(&Check::json(path(p), JsonOp::Contains(s.into())), body);
        assert!(contains("$.msg", "world"));
        assert!(!contains("$.msg", "World"));
        assert!(contains("$.tags", "b"));
        assert!(!contains("$.tags", "c"));
        assert!(!contains("$.tags", "ab"));
        assert!(contains("$.ids", "3"));
        assert!(!contains("$.ids", "4"));
        assert!(contains("$.flags", "true"));
        assert!(!contains("$.n", "5"));
        assert!(!contains("$.missing", "x"));
        let c = Check::json(path("$.tags"), JsonOp::Contains("a".into()));
        assert_eq!(c.label, r#"json $.tags contains "a""#);
    }

    #[test]
    fn cmp_op_parses_and_holds() {
        for (s, op) in [
            (">", CmpOp::Gt),
            (">=", CmpOp::Gte),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Lte),
        ] {
            assert_eq!(CmpOp::parse(s), Some(op));
            assert_eq!(op.symbol(), s);
        }
        assert_eq!(CmpOp::parse("gte"), Some(CmpOp::Gte));
        assert_eq!(CmpOp::parse("=="), None);
        assert!(!CmpOp::Gt.holds(f64::NAN, 0.0));
    }

    #[test]
    fn with_label_overrides() {
        let c = Check::status(vec![(200, 200)]).with_label("login ok");
        assert_eq!(c.label, "login ok");
        assert!(matches!(c.kind, CheckKind::Status(_)));
    }

    #[test]
    fn json_path_errors_and_source() {
        assert!(JsonPath::parse("items[").is_err());
        assert_eq!(path("$.a[0]").as_str(), "$.a[0]");
    }

    /// A path of thousands of nested filters overflowed the stack inside serde_json_path
    /// (found by the fuzz target `scenario_files`): it is refused with how deep it went.
    #[test]
    fn a_json_path_nested_too_deep_is_refused_not_overflowed() {
        let deep = |d: usize| format!("${}.a{}", "[?@".repeat(d), "]".repeat(d));
        let e = JsonPath::parse(&deep(3_000)).unwrap_err();
        assert!(e.contains("nested 3000 levels deep: at most 10"), "{e}");
        assert!(JsonPath::parse(&deep(MAX_PATH_NESTING)).is_ok());
        assert!(JsonPath::parse(&deep(MAX_PATH_NESTING + 1)).is_err());
        // Brackets inside quoted names do not count.
        let quoted = format!("$['{}']", "[".repeat(100));
        assert_eq!(nesting(&quoted), 1);
        assert!(JsonPath::parse(&quoted).is_ok());
    }

    fn extract(source: ExtractSource, h: &HeaderMap, body: &str) -> Option<String> {
        Extract::new(0, "v", source).extract(&Response::new(200, h, body.as_bytes()))
    }

    #[test]
    fn extract_json_unquotes_strings_and_keeps_other_json() {
        let body = r#"{"token": "abc", "n": 42, "f": 1.5, "ok": true, "nil": null,
                      "items": [{"id": "x1"}, {"id": "x2"}], "obj": {"a": [1, 2]}}"#;
        let get = |p: &str| extract(ExtractSource::Json(path(p)), &HeaderMap::new(), body);
        assert_eq!(get("$.token").as_deref(), Some("abc"));
        assert_eq!(get("$.n").as_deref(), Some("42"));
        assert_eq!(get("$.f").as_deref(), Some("1.5"));
        assert_eq!(get("$.ok").as_deref(), Some("true"));
        assert_eq!(get("$.nil").as_deref(), Some("null"));
        assert_eq!(get("$.items[1].id").as_deref(), Some("x2"));
        assert_eq!(get("$.items[*].id").as_deref(), Some("x1"));
        assert_eq!(get("$.obj").as_deref(), Some(r#"{"a":[1,2]}"#));
        assert_eq!(get("$.missing"), None);
        assert_eq!(
            extract(ExtractSource::Json(path("$.a")), &HeaderMap::new(), "nope"),
            None
        );
    }

    #[test]
    fn extract_regex_groups() {
        let body = "order id=123 ref=ABC";
        let get = |src: ExtractSource| extract(src, &HeaderMap::new(), body);
        let default = ExtractSource::regex(re(r"id=(\d+)"), None).unwrap();
        assert!(matches!(default, ExtractSource::Regex { group: 1, .. }));
        assert_eq!(get(default).as_deref(), Some("123"));
        let whole = ExtractSource::regex(re(r"id=\d+"), None).unwrap();
        assert!(matches!(whole, ExtractSource::Regex { group: 0, .. }));
        assert_eq!(get(whole).as_deref(), Some("id=123"));
        let zero = ExtractSource::regex(re(r"id=(\d+)"), Some(0)).unwrap();
        assert_eq!(get(zero).as_deref(), Some("id=123"));
        let second = ExtractSource::regex(re(r"id=(\d+) ref=(?P<r>\w+)"), Some(2)).unwrap();
        assert_eq!(get(second).as_deref(), Some("ABC"));
        let optional = ExtractSource::regex(re(r"id=(\d+)(x)?"), Some(2)).unwrap();
        assert_eq!(get(optional), None);
        assert_eq!(
            get(ExtractSource::regex(re("nomatch(.)"), None).unwrap()),
            None
        );
        let e = ExtractSource::regex(re(r"id=(\d+)"), Some(2)).unwrap_err();
        assert_eq!(
            e,
            r"regex /id=(\d+)/ has 1 capture group, so there is no group 2"
        );
        let no_headers = HeaderMap::new();
        let r = Response::new(200, &no_headers, b"\xff id=9");
        let ex = Extract::new(0, "v", ExtractSource::regex(re(r"id=(\d)"), None).unwrap());
        assert_eq!(ex.extract(&r).as_deref(), Some("9"));
    }

    #[test]
    fn extract_header_first_value() {
        let h = headers(&[("Location", "/orders/7"), ("x-id", "a"), ("x-id", "b")]);
        let get = |n: &str| extract(ExtractSource::Header(n.into()), &h, "");
        assert_eq!(get("location").as_deref(), Some("/orders/7"));
        assert_eq!(get("X-Id").as_deref(), Some("a"));
        assert_eq!(get("missing"), None);
    }

    #[test]
    fn extract_cookie_from_set_cookie() {
        let h = headers(&[
            ("set-cookie", "theme=dark"),
            (
                "set-cookie",
                "session=abc123; Path=/; HttpOnly; Secure; SameSite=Lax",
            ),
            ("set-cookie", " csrf = t=ok==; Max-Age=3600"),
            ("set-cookie", "flag; Path=/"),
            ("set-cookie", "gone=; Max-Age=0"),
            (
                "set-cookie",
                "theme=light; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
            ),
        ]);
        let get = |n: &str| extract(ExtractSource::Cookie(n.into()), &h, "");
        assert_eq!(get("session").as_deref(), Some("abc123"));
        assert_eq!(get("csrf").as_deref(), Some("t=ok=="));
        assert_eq!(get("theme").as_deref(), Some("light"));
        assert_eq!(get("gone").as_deref(), Some(""));
        assert_eq!(get("flag"), None);
        assert_eq!(get("Session"), None);
        assert_eq!(get("Path"), None);
        assert_eq!(get("HttpOnly"), None);
        let none = HeaderMap::new();
        assert_eq!(
            extract(ExtractSource::Cookie("session".into()), &none, ""),
            None
        );
    }

    #[test]
    fn response_parses_json_once() {
        let h = HeaderMap::new();
        let r = Response::new(200, &h, br#"{"a": 1}"#);
        let first = r.json().unwrap() as *const _;
        assert_eq!(r.json().unwrap() as *const _, first);
        assert!(Response::new(200, &h, b"{").json().is_none());
    }

    #[test]
    fn issue12_check_values_are_templates_rendered_with_the_users_variables() {
        const VARS: &[&str] = &["token", "id", "unset"];
        let t = |src: &str| {
            Template::parse(
                src,
                &mut |n: &str| VARS.iter().position(|v| *v == n),
                &|_| None,
            )
            .unwrap()
        };
        let mut vars = Vars::new(VARS.len());
        vars.set(0, "tok-1".into());
        vars.set(1, "42".into());
        let h = headers(&[("x-token", "tok-1")]);
        let body = br#"{"token": "tok-1", "id": 42, "tags": ["tok-1"], "note": "for tok-1"}"#;
        let pass = |c: &Check, v: &Vars| c.passes(&Response::new(200, &h, body), v);
        let json_eq = |src: &str| {
            Check::json(
                path(if src.contains("id") {
                    "$.id"
                } else {
                    "$.token"
                }),
                JsonOp::EqualsTemplate(JsonTemplate::String(t(src))),
            )
        };
        let eq = json_eq("${token}");
        assert_eq!(eq.label, r#"json $.token equals "${token}""#);
        assert!(pass(&eq, &vars));
        let mut other = vars.clone();
        other.set(0, "tok-2".into());
        assert!(
            !pass(&eq, &other),
            "compared with the literal text, not the value"
        );
        // A typed placeholder compares as a number: 42 equals "${id:int}", not "${id}".
        assert!(pass(&json_eq("${id:int}"), &vars));
        assert!(!pass(&json_eq("${id}"), &vars));
        let contains = Check::json(path("$.tags"), JsonOp::Contains(t("${token}")));
        assert!(pass(&contains, &vars) && !pass(&contains, &other));
        let header = Check::header("X-Token", StrOp::Equals(t("${token}")));
        assert_eq!(header.label, r#"header x-token equals "${token}""#);
        assert!(pass(&header, &vars) && !pass(&header, &other));
        let header = Check::header("X-Token", StrOp::Contains(t("tok-${unset}")));
        assert!(
            !pass(&header, &vars),
            "a variable with no value fails the check"
        );
        let body_has = Check::body_contains(t("for ${token}"));
        assert!(pass(&body_has, &vars) && !pass(&body_has, &other));
    }
}
