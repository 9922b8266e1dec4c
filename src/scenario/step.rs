//! The semantic pass for one step: its request line, body, checks and extractions.

use regex::Regex;

use super::check::{Check, CheckKind, CmpOp, Extract, ExtractSource, JsonOp, JsonPath, StrOp};
use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{Body, JsonTemplate, Method, StepPlan};
use super::raw::{
    OrderedMap, RawCheck, RawExtract, RawJsonCheck, RawStatus, RawStep, RawStrOp, StatusItem, Text,
};
use super::suggest;
use super::template::Template;

/// The method shorthands of a step, in the order messages list them.
const SHORTHANDS: [(&str, Method); 7] = [
    ("get", Method::Get),
    ("post", Method::Post),
    ("put", Method::Put),
    ("patch", Method::Patch),
    ("delete", Method::Delete),
    ("head", Method::Head),
    ("options", Method::Options),
];
const REQUEST_EXPECTED: &str =
    "exactly one of get/post/put/patch/delete/head/options: PATH, or method: + path:";
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl Compiler<'_> {
    /// A plain list of steps (`setup:`, `teardown:`), run in order: no flow control.
    pub(super) fn steps(&mut self, list: &[RawStep], path: &KeyPath) -> Vec<StepPlan> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let at = path.idx(i);
            if super::flow_control::kind(s) != super::flow_control::Kind::Leaf {
                self.err(
                    &at,
                    "a flow-control block (if, repeat, while, choose or group)",
                    "a request step: setup and teardown run their steps once, in order",
                    Some("move the block into a scenario's on_start or steps".into()),
                );
                continue;
            }
            out.extend(self.step(s, &at));
        }
        out
    }

    pub(super) fn step(&mut self, s: &RawStep, path: &KeyPath) -> Option<StepPlan> {
        if let Some(list) = &s.batch {
            return self.batch_step(s, list, path);
        }
        let request = match (&s.page, &s.ws) {
            (Some(page), _) => self.page_line(s, page, path),
            (None, Some(ws)) => self.ws_line(s, ws, path),
            (None, None) => self.request_line(s, path),
        };
        let url = request.as_ref().and_then(|(_, src, p)| match s.ws {
            Some(_) => self.template(p, src),
            None => self.url_path(src, p),
        });
        let query = s
            .query
            .as_ref()
            .map(|q| self.fields(q, &path.key("query")))
            .unwrap_or_default();
        let headers = s
            .headers
            .as_ref()
            .map(|h| self.headers(h, &path.key("headers")))
            .unwrap_or_default();
        let body = self.body(s, path);
        let timeout = s
            .timeout
            .as_ref()
            .and_then(|t| self.positive_duration(t, &path.key("timeout")));
        let think_time = s
            .think_time
            .as_ref()
            .and_then(|t| self.think(t, &path.key("think_time")));
        let checks = s
            .check
            .as_ref()
            .map(|c| self.checks(c, &path.key("check")))
            .unwrap_or_default();
        let extracts = s
            .extract
            .as_ref()
            .map(|e| self.extracts(e, &path.key("extract")))
            .unwrap_or_default();
        let tags = s
            .tags
            .as_ref()
            .map(|t| self.step_tags(t, &path.key("tags")))
            .unwrap_or_default();
        let page = self.page_plan(s, path);
        let auth = s
            .auth
            .as_ref()
            .and_then(super::raw::RawAuthOrNone::credentials)
            .and_then(|a| self.auth(a, s.headers.as_ref(), &path.key("auth")));
        let follow_redirects = s.follow_redirects.as_ref().map(|r| self.redirects(r));
        let records = s
            .record
            .as_ref()
            .map(|r| self.records(r, &path.key("record")))
            .unwrap_or_default();
        let ws = self.ws_plan(s, path);
        let (method, _, _) = request?;
        let url = url?;
        let name = match &s.name {
            Some(n) => n.clone(),
            None if page.is_some() => format!("page {}", url.source()),
            None if ws.is_some() => format!("ws {}", url.source()),
            None => format!("{} {}", method.as_str(), url.source()),
        };
        Some(StepPlan {
            name,
            method,
            path: url,
            query,
            headers,
            body,
            timeout,
            checks,
            extracts,
            think_time,
            tags,
            page,
            auth,
            follow_redirects,
            records,
            batch: None,
            ws,
        })
    }

    /// The method, the path as written, and where the path was written.
    fn request_line(&mut self, s: &RawStep, path: &KeyPath) -> Option<(Method, String, KeyPath)> {
        let fields = [
            &s.get, &s.post, &s.put, &s.patch, &s.delete, &s.head, &s.options,
        ];
        let mut given: Vec<(&str, Method, &String)> = SHORTHANDS
            .iter()
            .zip(fields)
            .filter_map(|((k, m), v)| v.as_ref().map(|v| (*k, *m, v)))
            .collect();
        // In the order written, so a message points at the second one.
        given.sort_by_key(|(k, ..)| {
            let n = self.root.locate(&path.key(k));
            (n.line, n.col)
        });
        match (given.as_slice(), &s.method, &s.path) {
            ([(k, m, p)], None, None) => Some((*m, (*p).clone(), path.key(k))),
            ([], Some(m), Some(p)) => match Method::parse(m.trim()) {
                Some(method) => Some((method, p.clone(), path.key("path"))),
                None => {
                    let hint =
                        suggest::closest(m, &METHODS).map(|s| format!("did you mean \"{s}\"?"));
                    self.bad(
                        &path.key("method"),
                        format!("one of {}", METHODS.join(", ")),
                        hint,
                    );
                    None
                }
            },
            ([], None, None) => {
                self.err(
                    path,
                    "a step without a request",
                    REQUEST_EXPECTED,
                    Some("e.g. `- get: /health`".into()),
                );
                None
            }
            ([], Some(_), None) => {
                self.err(
                    &path.key("method"),
                    "`method` without `path`",
                    REQUEST_EXPECTED,
                    None,
                );
                None
            }
            ([], None, Some(_)) => {
                self.err(
                    &path.key("path"),
                    "`path` without `method`",
                    REQUEST_EXPECTED,
                    Some("or write `get: PATH`".into()),
                );
                None
            }
            ([(a, ..), (b, ..), ..], _, _) => {
                self.err(
                    &path.key(b),
                    format!("both `{a}` and `{b}`"),
                    REQUEST_EXPECTED,
                    Some("split them into two steps".into()),
                );
                None
            }
            ([(a, ..)], m, _) => {
                let other = if m.is_some() { "method" } else { "path" };
                self.err(
                    &path.key(other),
                    format!("both `{a}` and `{other}`"),
                    REQUEST_EXPECTED,
                    Some(format!(
                        "drop `{other}`: `{a}:` already names the method and path"
                    )),
                );
                None
            }
        }
    }

    fn url_path(&mut self, src: &str, path: &KeyPath) -> Option<Template> {
        let ok = ["/", "http://", "https://", "${"]
            .iter()
            .any(|p| src.starts_with(p));
        if !ok {
            self.bad(
                path,
                "a path starting with `/`, or an absolute http(s) URL",
                Some(format!("write /{}", src.trim_start_matches('/'))),
            );
            return None;
        }
        self.template(path, src)
    }

    fn body(&mut self, s: &RawStep, path: &KeyPath) -> Body {
        let given: Vec<&str> = [
            ("json", s.json.is_some()),
            ("form", s.form.is_some()),
            ("body", s.body.is_some()),
            ("body_file", s.body_file.is_some()),
            ("multipart", s.multipart.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if let [a, b, ..] = given.as_slice() {
            self.err(
                &path.key(b),
                format!("both `{a}` and `{b}`"),
                "at most one body: `json`, `form`, `body`, `body_file` or `multipart`",
                None,
            );
            return Body::None;
        }
        if let Some(m) = &s.multipart {
            return self
                .multipart(m, &path.key("multipart"))
                .map_or(Body::None, Body::Multipart);
        }
        if let Some(f) = &s.body_file {
            return self
                .body_file(f, &path.key("body_file"))
                .map_or(Body::None, Body::File);
        }
        if let Some(j) = &s.json {
            return Body::Json(self.json_template(j, &path.key("json"), true));
        }
        if let Some(f) = &s.form {
            return Body::Form(self.fields(f, &path.key("form")));
        }
        match &s.body {
            Some(b) => Body::Raw(self.template_or_literal(&path.key("body"), b)),
            None => Body::None,
        }
    }

    /// A JSON value whose strings are templates; a string that is one typed placeholder
    /// (`"${n:int}"`) is sent as that JSON type. `random`: whether its templates may call
    /// random functions (a request body may, a check's expected value may not).
    pub(super) fn json_template(
        &mut self,
        v: &serde_json::Value,
        path: &KeyPath,
        random: bool,
    ) -> JsonTemplate {
        use serde_json::Value;
        match v {
            Value::Null => JsonTemplate::Null,
            Value::Bool(b) => JsonTemplate::Bool(*b),
            Value::Number(n) => JsonTemplate::Number(n.clone()),
            Value::String(s) => {
                let t = if random {
                    self.typed_template(path, s)
                } else {
                    self.check_template(path, s, true)
                };
                JsonTemplate::String(t.unwrap_or_else(|| Template::literal(s)))
            }
            Value::Array(a) => JsonTemplate::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| self.json_template(x, &path.idx(i), random))
                    .collect(),
            ),
            Value::Object(o) => JsonTemplate::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.json_template(x, &path.key(k), random)))
                    .collect(),
            ),
        }
    }

    /// An expected value of a check: a template rendered per response with the user's
    /// variables, which may not draw random numbers (the value would never match).
    /// `typed`: whether a type suffix is allowed (a JSON check's `equals`).
    pub(super) fn check_template(
        &mut self,
        path: &KeyPath,
        src: &str,
        typed: bool,
    ) -> Option<Template> {
        let t = if typed {
            self.typed_template(path, src)?
        } else {
            self.template(path, src)?
        };
        if t.is_random() {
            self.bad(
                path,
                "a value known when the response arrives: text, `${variable}`, `${env.NAME}`, `${timestamp()}` or `${date(...)}`",
                Some(
                    "a random value in a check would almost never match; to check what a step sent, put the random value in a variable (`variables:`) and use `${name}` in both"
                        .into(),
                ),
            );
            return None;
        }
        Some(t)
    }

    fn checks(&mut self, c: &RawCheck, path: &KeyPath) -> Vec<Check> {
        let mut out = Vec::new();
        if let Some(ch) = c
            .status
            .as_ref()
            .and_then(|s| self.status(s, &path.key("status")))
        {
            out.push(ch);
        }
        for (name, op) in c.headers.iter().flat_map(|h| &h.0) {
            let p = path.key("headers").key(name);
            let name_ok = self.header_name(name, &p);
            if let Some(op) = self.str_op(op, &p).filter(|_| name_ok) {
                out.push(Check::header(&name.to_ascii_lowercase(), op));
            }
        }
        if let Some(text) = &c.body_contains
            && let Some(t) = self.check_template(&path.key("body_contains"), text, false)
        {
            out.push(Check::body_contains(t));
        }
        if let Some(re) = c
            .body_matches
            .as_ref()
            .and_then(|re| self.regex(re, &path.key("body_matches")))
        {
            out.push(Check::body_matches(re));
        }
        for (i, j) in c.json.iter().flatten().enumerate() {
            if let Some(ch) = self.json_check(j, &path.key("json").idx(i)) {
                out.push(ch);
            }
        }
        out
    }

    pub(super) fn status(&mut self, s: &RawStatus, path: &KeyPath) -> Option<Check> {
        let items: Vec<(KeyPath, &StatusItem)> = match s {
            RawStatus::One(i) => vec![(path.clone(), i)],
            RawStatus::Any(list) => list
                .iter()
                .enumerate()
                .map(|(i, x)| (path.idx(i), x))
                .collect(),
        };
        if items.is_empty() {
            self.bad(path, "at least one status, e.g. [200, 201]", None);
            return None;
        }
        let mut ranges = Vec::with_capacity(items.len());
        for (p, item) in items {
            let r = match item {
                StatusItem::Code(c) => Some((*c, *c)).filter(|_| (100..=599).contains(c)),
                StatusItem::Class(t) => CheckKind::parse_status(t),
            };
            match r {
                Some(r) => ranges.push(r),
                None => self.bad(&p, "a status code from 100 to 599, a class such as 2xx, or a range such as 200-204", None),
            }
        }
        Some(Check::status(ranges))
    }

    fn str_op(&mut self, op: &RawStrOp, path: &KeyPath) -> Option<StrOp> {
        let set = [
            ("exists", op.exists.is_some()),
            ("equals", op.equals.is_some()),
            ("contains", op.contains.is_some()),
            ("matches", op.matches.is_some()),
        ];
        if !self.exactly_one(
            &set,
            path,
            "exactly one of exists, equals, contains, matches",
        ) {
            return None;
        }
        match op {
            RawStrOp {
                exists: Some(true), ..
            } => Some(StrOp::Exists),
            RawStrOp {
                exists: Some(false),
                ..
            } => {
                let hint = "a header check can only ask that the header exists".to_string();
                self.bad(&path.key("exists"), "true", Some(hint));
                None
            }
            RawStrOp {
                equals: Some(Text(t)),
                ..
            } => self
                .check_template(&path.key("equals"), t, false)
                .map(StrOp::Equals),
            RawStrOp {
                contains: Some(Text(t)),
                ..
            } => self
                .check_template(&path.key("contains"), t, false)
                .map(StrOp::Contains),
            RawStrOp {
                matches: Some(re), ..
            } => self.regex(re, &path.key("matches")).map(StrOp::Matches),
            _ => None,
        }
    }

    pub(super) fn json_check(&mut self, j: &RawJsonCheck, path: &KeyPath) -> Option<Check> {
        let json_path = self.json_path(&j.path, &path.key("path"));
        let set = [
            ("exists", j.exists.is_some()),
            ("equals", j.equals.is_some()),
            ("gt", j.gt.is_some()),
            ("gte", j.gte.is_some()),
            ("lt", j.lt.is_some()),
            ("lte", j.lte.is_some()),
            ("contains", j.contains.is_some()),
        ];
        if !self.exactly_one(
            &set,
            path,
            "`path` and exactly one of exists, equals, gt, gte, lt, lte, contains",
        ) {
            return None;
        }
        let cmp = [
            (CmpOp::Gt, j.gt),
            (CmpOp::Gte, j.gte),
            (CmpOp::Lt, j.lt),
            (CmpOp::Lte, j.lte),
        ];
        let op = if let Some(b) = j.exists {
            JsonOp::Exists(b)
        } else if let Some(v) = &j.equals {
            let at = path.key("equals");
            let before = self.diags.len();
            let t = self.json_template(v, &at, false);
            if self.diags.len() > before {
                return None;
            }
            match t.to_literal("equals") {
                None => JsonOp::EqualsTemplate(t),
                Some(Ok(v)) => JsonOp::Equals(v),
                Some(Err(e)) => {
                    self.bad(
                        &at,
                        "a value of the type its `:TYPE` names",
                        Some(e.to_string()),
                    );
                    return None;
                }
            }
        } else if let Some(Text(t)) = &j.contains {
            JsonOp::Contains(self.check_template(&path.key("contains"), t, false)?)
        } else {
            let (op, x) = cmp.into_iter().find_map(|(op, x)| x.map(|x| (op, x)))?;
            JsonOp::Compare(op, x)
        };
        Some(Check::json(json_path?, op))
    }

    /// Is exactly one of these keys set? If not, say so at `path`.
    pub(super) fn exactly_one(
        &mut self,
        set: &[(&str, bool)],
        path: &KeyPath,
        expected: &str,
    ) -> bool {
        let given: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
        match given.as_slice() {
            [_] => true,
            [] => {
                self.err(path, "no test", expected, None);
                false
            }
            [a, b, ..] => {
                self.err(
                    &path.key(b),
                    format!("both `{a}` and `{b}`"),
                    expected,
                    Some("write them as two checks".into()),
                );
                false
            }
        }
    }

    fn extracts(&mut self, map: &OrderedMap<RawExtract>, path: &KeyPath) -> Vec<Extract> {
        let mut out = Vec::with_capacity(map.0.len());
        for (name, e) in &map.0 {
            let p = path.key(name);
            if let Some(source) = self.extract_source(e, &p) {
                let slot = self.slots.position(name).unwrap_or(0);
                out.push(Extract::new(slot, name, source));
            }
        }
        out
    }

    pub(super) fn extract_source(
        &mut self,
        e: &RawExtract,
        path: &KeyPath,
    ) -> Option<ExtractSource> {
        let set = [
            ("json", e.json.is_some()),
            ("regex", e.regex.is_some()),
            ("header", e.header.is_some()),
            ("cookie", e.cookie.is_some()),
        ];
        if !self.exactly_one(&set, path, "exactly one of json, regex, header, cookie") {
            return None;
        }
        if e.group.is_some() && e.regex.is_none() {
            self.err(
                &path.key("group"),
                "`group` without `regex`",
                "`group` only next to `regex`",
                None,
            );
            return None;
        }
        if let Some(p) = &e.json {
            return self
                .json_path(p, &path.key("json"))
                .map(ExtractSource::Json);
        }
        if let Some(re) = &e.regex {
            let re = self.regex(re, &path.key("regex"))?;
            let group = e.group.map(|g| usize::try_from(g).unwrap_or(usize::MAX));
            return match ExtractSource::regex(re, group) {
                Ok(s) => Some(s),
                Err(msg) => {
                    let at = if e.group.is_some() {
                        path.key("group")
                    } else {
                        path.key("regex")
                    };
                    self.err(
                        &at,
                        msg,
                        "a capture group the regex has",
                        Some("add a group `( )`, or set `group: 0` for the whole match".into()),
                    );
                    None
                }
            };
        }
        if let Some(h) = &e.header {
            return self
                .header_name(h, &path.key("header"))
                .then(|| ExtractSource::Header(h.to_ascii_lowercase()));
        }
        let cookie = e.cookie.as_deref().unwrap_or_default();
        if cookie.is_empty() || cookie.contains([';', '=', ' ']) {
            self.bad(&path.key("cookie"), "a cookie name, e.g. sid", None);
            return None;
        }
        Some(ExtractSource::Cookie(cookie.to_string()))
    }

    pub(super) fn regex(&mut self, src: &str, path: &KeyPath) -> Option<Regex> {
        match Regex::new(src) {
            Ok(re) => Some(re),
            Err(e) => {
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or(&text);
                let why = why.trim().trim_start_matches("error: ").to_string();
                self.bad(path, "a valid regular expression", Some(why));
                None
            }
        }
    }

    fn json_path(&mut self, src: &str, path: &KeyPath) -> Option<JsonPath> {
        match JsonPath::parse(src) {
            Ok(p) => Some(p),
            Err(why) => {
                let hint = if let Some(fixed) = bracket_names(src) {
                    format!(
                        "a name with `-` or other punctuation needs brackets and quotes: write {fixed}"
                    )
                } else if !src.starts_with('$') {
                    let dot = if src.starts_with(['.', '[']) { "" } else { "." };
                    format!("start at the root: ${dot}{src}")
                } else if let Some(pos) = why
                    .strip_prefix("at position ")
                    .and_then(|r| r.split(',').next())
                {
                    format!(
                        "the path goes wrong at character {}",
                        pos.parse::<usize>().map_or(0, |p| p + 1)
                    )
                } else {
                    why
                };
                self.bad(path, "a JSONPath such as $.items[0].id", Some(hint));
                None
            }
        }
    }
}

/// `src` with every `.name` that a JSONPath cannot write bare (it holds `-`, `:`, a space,
/// ...) written as `['name']`, when that makes a valid path: `$.X-Api-Key` ->
/// `$['X-Api-Key']`, `$.headers.X-Api-Key` -> `$.headers['X-Api-Key']`.
fn bracket_names(src: &str) -> Option<String> {
    let body = src.strip_prefix('$').unwrap_or(src);
    let mut out = String::from("$");
    let mut changed = false;
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            // Copy a bracketed selector as written (quotes may hold `]`).
            let mut quote = None;
            let mut end = None;
            for (i, c) in after.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, '\'' | '"') => quote = Some(c),
                    (None, ']') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            out.push('[');
            out.push_str(&after[..=end]);
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            if after.starts_with('.') || after.starts_with('[') || after.starts_with('*') {
                out.push('.');
                rest = after;
                continue;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            let bare = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if bare {
                out.push('.');
                out.push_str(name);
            } else {
                out.push_str(&format!(
                    "['{}']",
                    name.replace('\\', "\\\\").replace('\'', "\\'")
                ));
                changed = true;
            }
            rest = &after[end..];
        } else {
            return None;
        }
    }
    (changed && JsonPath::parse(&out).is_ok()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::bracket_names;

    #[test]
    fn issue12_hyphenated_json_keys_get_brackets() {
        assert_eq!(
            bracket_names("$.X-Api-Key").as_deref(),
            Some("$['X-Api-Key']")
        );
        assert_eq!(
            bracket_names("$.headers.X-Api-Key").as_deref(),
            Some("$.headers['X-Api-Key']")
        );
        assert_eq!(
            bracket_names("$.items[0].sku-id").as_deref(),
            Some("$.items[0]['sku-id']")
        );
        assert_eq!(bracket_names("$.a b").as_deref(), Some("$['a b']"));
        assert_eq!(bracket_names("$.ok.path"), None);
        assert_eq!(bracket_names("$.items[").as_deref(), None);
    }
}
