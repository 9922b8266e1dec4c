//! WebSocket steps (`ws:`): their keys as written, their plan, and the semantic pass that
//! turns one into the other.
//!
//! A `ws:` step opens a WebSocket (a path resolved against the target, or a `ws://` /
//! `wss://` / `http(s)://` URL), upgrading with the user's cookies, the step's and
//! scenario's headers and credentials; sends its `messages` in order, each optionally
//! waiting for a reply that passes `expect` (within `timeout`) and extracting from it;
//! pauses where a message says `pause`; and closes. `session_timeout` bounds the whole.

use std::time::Duration;

use schemars::JsonSchema;
use schemars::{SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::check::{Check, Extract, ExtractSource};
use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{JsonTemplate, Method};
use super::raw::{Dur, OrderedMap, RawExtract, RawJsonCheck, RawStep, Text};
use super::suggest;
use super::template::Template;

/// One message of a `ws:` step: what to send, and the reply to wait for (without `send`:
/// what the server pushes, e.g. a greeting).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WsMessage")]
pub struct RawWsMessage {
    /// A text message to send (a template), e.g. `"hello ${username}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// A JSON message to send; its strings are templates, and a string that is one typed
    /// placeholder (`"${n:int}"`) is sent as that JSON type, e.g. `{op: add, qty: "${n:int}"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_json: Option<serde_json::Value>,
    /// Wait for a reply that passes this: `any` (the first reply), or tests on the reply's
    /// text (`contains`, `equals`, `matches`, `json`; all must pass). Replies that do not
    /// pass are skipped. Default: no wait (unless `extract` is given: then `any`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<RawWsExpect>,
    /// How long to wait for the reply, e.g. `2s`. Default: the step's `timeout`, else
    /// `defaults.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Values taken from the reply into per-user variables (`json` or `regex`), e.g.
    /// `room: {json: "$.room"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<OrderedMap<RawExtract>>,
    /// Pause after this message (and its reply), keeping the socket open, e.g. `500ms`;
    /// alone (`- pause: 1s`) it holds the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Dur>,
}

/// The reply a message waits for: `any`, or tests on its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawWsExpect {
    /// Tests on the reply.
    Check(RawWsCheck),
    /// `any`: the first reply.
    Keyword(String),
}

impl JsonSchema for RawWsExpect {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WsExpect".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> schemars::Schema {
        let check = g.subschema_for::<RawWsCheck>();
        json_schema!({
            "description": "`any` (the first reply), or tests on the reply's text, all of which must pass.",
            "anyOf": [
                { "type": "string", "enum": ["any"] },
                check
            ]
        })
    }
}

/// Tests on a WebSocket reply's text; every one given must pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WsCheck")]
pub struct RawWsCheck {
    /// The reply contains this text (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Text>,
    /// The reply is exactly this text (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Text>,
    /// The reply matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Tests on JSONPath selections of the reply, e.g. `[{path: "$.type", equals: ack}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<RawJsonCheck>>,
}

/// What a WebSocket step does once connected.
#[derive(Debug, Clone)]
pub struct WsPlan {
    pub messages: Vec<WsMessage>,
    /// The whole session's bound (connect to close); `None`: only each part's timeout.
    pub session_timeout: Option<Duration>,
}

/// One message of a WebSocket step.
#[derive(Debug, Clone)]
pub struct WsMessage {
    /// What to send; `None` for a pause alone, or a wait for what the server pushes.
    pub send: Option<WsPayload>,
    /// The reply to wait for; `None`: no wait.
    pub expect: Option<WsExpect>,
    /// How long to wait for the reply; `None`: the step's timeout, else the default one.
    pub timeout: Option<Duration>,
    pub extracts: Vec<Extract>,
    /// Pause after the message and its reply.
    pub pause: Option<Duration>,
}

/// A message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum WsPayload {
    Text(Template),
    Json(JsonTemplate),
}

/// The reply a message waits for: one whose text passes every test (none: any reply).
#[derive(Debug, Clone, Default)]
pub struct WsExpect {
    /// The reply is exactly this text.
    pub equals: Option<Template>,
    /// Body tests (`contains`, `matches`, `json`) as an HTTP step's checks on a body.
    pub checks: Vec<Check>,
}

/// Keys that describe another kind of step, which a `ws:` step cannot have.
const OTHER_KEYS: [&str; 17] = [
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "method",
    "path",
    "page",
    "json",
    "form",
    "body",
    "body_file",
    "check",
    "extract",
    "follow_redirects",
];
/// Keys that only a `ws:` step may have.
const WS_KEYS: [&str; 2] = ["messages", "session_timeout"];

impl Compiler<'_> {
    /// A WebSocket step's request line: `GET` (the upgrade) of the path or URL in `ws`.
    pub(super) fn ws_line(
        &mut self,
        s: &RawStep,
        ws: &str,
        path: &KeyPath,
    ) -> Option<(Method, String, KeyPath)> {
        let given = [
            s.get.is_some(),
            s.post.is_some(),
            s.put.is_some(),
            s.patch.is_some(),
            s.delete.is_some(),
            s.head.is_some(),
            s.options.is_some(),
            s.method.is_some(),
            s.path.is_some(),
            s.page.is_some(),
            s.json.is_some(),
            s.form.is_some(),
            s.body.is_some(),
            s.body_file.is_some(),
            s.check.is_some(),
            s.extract.is_some(),
            s.follow_redirects.is_some(),
        ];
        let mut ok = true;
        for (k, _) in OTHER_KEYS.iter().zip(given).filter(|(_, g)| *g) {
            let hint = match *k {
                "check" | "extract" => {
                    "put `expect:` / `extract:` under a message of `messages:`".to_string()
                }
                "follow_redirects" => "a WebSocket upgrade is never redirected".to_string(),
                "json" | "body" | "form" | "body_file" => {
                    "send data as `messages: [{send: ...}]` or `{send_json: ...}`".to_string()
                }
                _ => "split them into two steps".to_string(),
            };
            self.err(
                &path.key(k),
                format!("both `ws` and `{k}`"),
                "`ws: PATH` with `messages:` (a WebSocket step GETs its upgrade)",
                Some(hint),
            );
            ok = false;
        }
        let at = path.key("ws");
        let src = ws.trim();
        let url_ok = ["/", "ws://", "wss://", "http://", "https://", "${"]
            .iter()
            .any(|p| src.starts_with(p))
            && !src.chars().any(char::is_whitespace);
        if !url_ok {
            let hint = match src.split_once("://") {
                Some((scheme, _)) => {
                    format!("`{scheme}://` is not a WebSocket scheme: use ws:// or wss://")
                }
                None => format!("write /{}", src.trim_start_matches('/')),
            };
            self.bad(
                &at,
                "a path starting with `/`, or a ws://, wss:// or http(s):// URL",
                Some(hint),
            );
            return None;
        }
        ok.then(|| (Method::Get, src.to_string(), at))
    }

    /// What a WebSocket step does once connected; `None` for other steps (and a problem
    /// recorded when they carry WebSocket keys).
    pub(super) fn ws_plan(&mut self, s: &RawStep, path: &KeyPath) -> Option<WsPlan> {
        if s.ws.is_none() {
            let given = [s.messages.is_some(), s.session_timeout.is_some()];
            for (k, _) in WS_KEYS.iter().zip(given).filter(|(_, g)| *g) {
                self.err(
                    &path.key(k),
                    format!("`{k}` in a step without `ws`"),
                    "`ws: PATH` beside it",
                    Some(format!(
                        "`{k}` belongs to WebSocket steps, e.g. `- ws: /ws/echo` with `{k}:`"
                    )),
                );
            }
            return None;
        }
        let session_timeout = s
            .session_timeout
            .as_ref()
            .and_then(|d| self.positive_duration(d, &path.key("session_timeout")));
        let mp = path.key("messages");
        let messages = s
            .messages
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, m)| self.ws_message(m, &mp.idx(i)))
            .collect();
        Some(WsPlan {
            messages,
            session_timeout,
        })
    }

    fn ws_message(&mut self, m: &RawWsMessage, path: &KeyPath) -> Option<WsMessage> {
        let send = match (&m.send, &m.send_json) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("send_json"),
                    "both `send` and `send_json`",
                    "at most one of `send` (text) and `send_json` (JSON)",
                    Some("write them as two messages".into()),
                );
                None
            }
            (Some(t), None) => self.template(&path.key("send"), t).map(WsPayload::Text),
            (None, Some(j)) => Some(WsPayload::Json(self.json_template(
                j,
                &path.key("send_json"),
                true,
            ))),
            (None, None) => None,
        };
        let waits = m.expect.is_some() || m.extract.is_some();
        if m.send.is_none() && m.send_json.is_none() && m.pause.is_none() && !waits {
            self.err(
                path,
                "an empty message",
                "`send: TEXT` or `send_json: {...}` (with `expect`, `extract`, `timeout`, `pause`), `expect:` alone (what the server pushes), or `pause: DURATION`",
                Some("e.g. `- send: hello` with `expect: {contains: hello}`".into()),
            );
            return None;
        }
        let mut expect = m
            .expect
            .as_ref()
            .and_then(|e| self.ws_expect(e, &path.key("expect")));
        let extracts = m
            .extract
            .as_ref()
            .map(|e| self.ws_extracts(e, &path.key("extract")))
            .unwrap_or_default();
        if expect.is_none() && m.expect.is_none() && !extracts.is_empty() {
            expect = Some(WsExpect::default());
        }
        let timeout = m
            .timeout
            .as_ref()
            .and_then(|t| self.positive_duration(t, &path.key("timeout")));
        if m.timeout.is_some() && m.expect.is_none() && m.extract.is_none() {
            self.err(
                &path.key("timeout"),
                "`timeout` on a message that waits for no reply",
                "`expect:` beside it (`expect: any` waits for the first reply)",
                None,
            );
        }
        let pause = m
            .pause
            .as_ref()
            .and_then(|d| self.positive_duration(d, &path.key("pause")));
        Some(WsMessage {
            send,
            expect,
            timeout,
            extracts,
            pause,
        })
    }

    fn ws_expect(&mut self, e: &RawWsExpect, path: &KeyPath) -> Option<WsExpect> {
        let c = match e {
            RawWsExpect::Keyword(k) if k == "any" => return Some(WsExpect::default()),
            RawWsExpect::Keyword(k) => {
                let hint = suggest::closest(k, &["any"])
                    .map(|s| format!("did you mean \"{s}\"?"))
                    .or_else(|| Some("e.g. `expect: {contains: ok}`".into()));
                self.bad(
                    path,
                    "`any`, or tests on the reply: contains, equals, matches, json",
                    hint,
                );
                return None;
            }
            RawWsExpect::Check(c) => c,
        };
        if c.contains.is_none() && c.equals.is_none() && c.matches.is_none() && c.json.is_none() {
            self.err(
                path,
                "no test",
                "at least one of contains, equals, matches, json; or `expect: any`",
                None,
            );
            return None;
        }
        let mut out = WsExpect::default();
        if let Some(Text(t)) = &c.equals {
            out.equals = Some(self.check_template(&path.key("equals"), t, false)?);
        }
        if let Some(Text(t)) = &c.contains {
            out.checks.push(Check::body_contains(self.check_template(
                &path.key("contains"),
                t,
                false,
            )?));
        }
        if let Some(re) = &c.matches {
            out.checks
                .push(Check::body_matches(self.regex(re, &path.key("matches"))?));
        }
        for (i, j) in c.json.iter().flatten().enumerate() {
            out.checks
                .push(self.json_check(j, &path.key("json").idx(i))?);
        }
        Some(out)
    }

    fn ws_extracts(&mut self, map: &OrderedMap<RawExtract>, path: &KeyPath) -> Vec<Extract> {
        let mut out = Vec::with_capacity(map.0.len());
        for (name, e) in &map.0 {
            let p = path.key(name);
            for (k, given) in [
                ("header", e.header.is_some()),
                ("cookie", e.cookie.is_some()),
            ] {
                if given {
                    self.err(
                        &p.key(k),
                        format!("`{k}` in a WebSocket reply's extract"),
                        "`json` or `regex`: a reply has no headers or cookies",
                        None,
                    );
                }
            }
            if e.header.is_some() || e.cookie.is_some() {
                continue;
            }
            if let Some(source) = self.extract_source(e, &p) {
                debug_assert!(matches!(
                    source,
                    ExtractSource::Json(_) | ExtractSource::Regex { .. }
                ));
                let slot = self.slots.position(name).unwrap_or(0);
                out.push(Extract::new(slot, name, source));
            }
        }
        out
    }
}

/// The names a WebSocket step's messages extract, in order.
pub(super) fn extract_names(s: &RawStep) -> impl Iterator<Item = (usize, &String)> {
    s.messages.iter().flatten().enumerate().flat_map(|(i, m)| {
        m.extract
            .iter()
            .flat_map(move |e| e.0.iter().map(move |(n, _)| (i, n)))
    })
}

/// The names of a WebSocket step's connect and message cells, as reports show them.
pub fn sub_names(step: &str) -> [String; 2] {
    [format!("{step} (connect)"), format!("{step} (message)")]
}

#[cfg(test)]
mod tests {
    use crate::scenario::{Plan, parse_str};

    fn parse(steps: &str) -> Result<Plan, String> {
        let yaml = format!(
            "target: http://h\nscenarios:\n  - name: s\n    steps:\n{steps}\nload: {{users: 1, duration: 1s}}\n"
        );
        parse_str(&yaml, std::path::Path::new("t.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_ws_step_compiles_to_its_upgrade_and_messages() {
        let steps = parse(
            "      - ws: /ws/echo\n        session_timeout: 3s\n        messages:\n          - send: hi\n            expect: any\n          - send_json: {n: 2}\n            extract: {got: {json: $.n}}\n          - send: \"got ${got}\"\n            expect: {equals: \"got ${got}\", contains: got}\n            timeout: 1s\n          - pause: 10ms\n      - get: /after/${got}\n",
        )
        .unwrap()
        .scenarios[0]
            .steps
            .clone();
        let ws = steps[0].ws.as_ref().unwrap();
        assert_eq!(steps[0].name, "ws /ws/echo");
        assert_eq!(steps[0].method, crate::scenario::Method::Get);
        assert_eq!(ws.session_timeout, Some(std::time::Duration::from_secs(3)));
        assert_eq!(ws.messages.len(), 4);
        let m = &ws.messages;
        assert!(
            m[0].expect
                .as_ref()
                .is_some_and(|e| e.checks.is_empty() && e.equals.is_none())
        );
        // An extract without `expect` waits for any reply.
        assert!(m[1].expect.is_some() && m[1].extracts.len() == 1);
        assert!(
            m[2].expect
                .as_ref()
                .is_some_and(|e| e.equals.is_some() && e.checks.len() == 1)
        );
        assert_eq!(m[2].timeout, Some(std::time::Duration::from_secs(1)));
        assert!(m[3].send.is_none() && m[3].expect.is_none() && m[3].pause.is_some());
        assert!(steps[1].ws.is_none());
    }

    #[test]
    fn a_variable_a_message_extracts_is_late_for_the_steps_before() {
        let e = parse(
            "      - get: /before/${got}\n      - ws: /ws/echo\n        messages:\n          - send: hi\n            extract: {got: {regex: \"(.*)\"}}\n",
        )
        .unwrap_err();
        assert!(e.contains("`got` is set by the `extract`"), "{e}");
    }
}
