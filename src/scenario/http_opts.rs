//! The semantic pass of the HTTP options: credentials (`auth:`), redirects, a CA file, a
//! body read from a file, and how `defaults`, scenario and step settings combine.
//!
//! Headers and credentials are resolved per step when the file is loaded, so the engine
//! only ever reads a step: the scenario's `headers` are merged into each of its steps (a
//! step's header of the same name wins), and each step's `auth` is the most specific one
//! written (step, then scenario, then `defaults`). An `Authorization` header written at a
//! more specific level than an `auth:` wins over it; both at one level is an error.
//! `auth: none` on a step (or a scenario) keeps the less specific levels' credentials off
//! it: their `auth` and the scenario's `Authorization` header.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{Auth, CaFile, DEFAULT_MAX_REDIRECTS, FileBody, ScenarioPlan, StepPlan};
use super::raw::{OrderedMap, RawAuth, RawAuthOrNone, RawRedirects, RawScenario, Text};
use super::template::Template;

/// Whether a header name is `Authorization` (in any case).
fn is_authorization(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization")
}

/// Whether a list of headers sets `Authorization`.
pub(super) fn sets_authorization(headers: &[(String, Template)]) -> bool {
    headers.iter().any(|(n, _)| is_authorization(n))
}

impl Compiler<'_> {
    /// `auth:` at `path`: exactly one of `bearer`, `basic`. `headers` are the headers written
    /// at the same level: an `Authorization` among them is a conflict.
    pub(super) fn auth(
        &mut self,
        a: &RawAuth,
        headers: Option<&OrderedMap<Text>>,
        path: &KeyPath,
    ) -> Option<Auth> {
        if let Some((name, _)) = headers
            .into_iter()
            .flat_map(|h| &h.0)
            .find(|(n, _)| is_authorization(n))
        {
            self.err(
                path,
                format!("both `auth` and an `{name}` header"),
                "one way to send credentials at one level: `auth` or the header",
                Some("drop the header: `auth` sets it".into()),
            );
            return None;
        }
        match (&a.bearer, &a.basic) {
            (Some(Text(token)), None) => {
                let t = self.template(&path.key("bearer"), token)?;
                Some(Auth::Bearer(t))
            }
            (None, Some(b)) => {
                let username = self.template(&path.key("basic").key("username"), &b.username.0);
                let password = self.template(&path.key("basic").key("password"), &b.password.0);
                let (username, password) = (username?, password?);
                if username.as_literal().is_some_and(|u| u.contains(':')) {
                    self.bad(
                        &path.key("basic").key("username"),
                        "a user name without `:` (basic authentication joins it to the password with `:`)",
                        None,
                    );
                    return None;
                }
                // Known when the file is loaded: the encoded pair is a secret too.
                if let (Some(u), Some(p)) = (username.as_literal(), password.as_literal())
                    && !p.is_empty()
                {
                    let encoded =
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                    if !self.secrets.contains(&encoded) {
                        self.secrets.push(encoded);
                    }
                }
                Some(Auth::Basic { username, password })
            }
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("basic"),
                    "both `bearer` and `basic`",
                    "exactly one of `bearer`, `basic`",
                    None,
                );
                None
            }
            (None, None) => {
                self.err(
                    path,
                    "no credentials",
                    "exactly one of `bearer: TOKEN`, `basic: {username: ..., password: ...}`",
                    Some("e.g. `auth: {bearer: \"${env.API_TOKEN}\"}`".into()),
                );
                None
            }
        }
    }

    /// `follow_redirects:` as the most redirects to follow.
    pub(super) fn redirects(&mut self, r: &RawRedirects) -> u32 {
        match r {
            RawRedirects::Follow(true) => DEFAULT_MAX_REDIRECTS,
            RawRedirects::Follow(false) => 0,
            RawRedirects::Max(n) => *n,
        }
    }

    /// A path written in the scenario, relative to the scenario file's folder.
    fn near_scenario(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.file.parent() {
            Some(dir) => dir.join(p),
            None => p.to_path_buf(),
        }
    }

    /// Read a regular file named at `path`, of at most `limit` bytes: its bytes, or a
    /// diagnostic saying why not (a device, a FIFO or a folder is refused unopened).
    pub(super) fn read_named_file(
        &mut self,
        written: &str,
        path: &KeyPath,
        what: &str,
        limit: u64,
    ) -> Option<(PathBuf, Vec<u8>)> {
        use super::files::{FileProblem, read_regular, show_bytes};
        let hint = Some("the path is relative to the scenario file's folder".to_string());
        if written.trim().is_empty() {
            self.bad(path, format!("the path of {what}"), None);
            return None;
        }
        let file = self.near_scenario(written);
        match read_regular(&file, limit) {
            Ok(bytes) => Some((file, bytes)),
            Err(problem) => {
                let found = format!("{written:?} ({}: {problem})", file.display());
                let (expected, hint) = match problem {
                    FileProblem::TooBig { .. } => {
                        (format!("{what} of at most {}", show_bytes(limit)), None)
                    }
                    FileProblem::Special(_) | FileProblem::Folder => (
                        format!("{what}: a regular file"),
                        Some("devices, FIFOs and folders are not read".to_string()),
                    ),
                    FileProblem::Io(_) => (format!("{what} that exists and can be read"), hint),
                };
                self.err(path, found, expected, hint);
                None
            }
        }
    }

    /// `ca_file:`: a PEM file of CA certificates, each usable as a trust anchor.
    pub(super) fn ca_file(&mut self, written: &str, path: &KeyPath) -> Option<CaFile> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        const WHAT: &str = "a PEM file of CA certificates";
        let (file, bytes) =
            self.read_named_file(written, path, WHAT, super::files::MAX_CA_FILE_BYTES)?;
        let mut certs = Vec::new();
        for (i, c) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
            let cert = match c {
                Ok(c) => c,
                Err(e) => {
                    self.err(
                        path,
                        format!("{written:?}, whose PEM block {} is unreadable ({e})", i + 1),
                        WHAT,
                        None,
                    );
                    return None;
                }
            };
            let mut roots = rustls::RootCertStore::empty();
            if let Err(e) = roots.add(cert.clone()) {
                self.err(
                    path,
                    format!(
                        "{written:?}, whose certificate {} cannot be trusted ({e})",
                        i + 1
                    ),
                    "CA certificates rustls accepts as trust anchors",
                    None,
                );
                return None;
            }
            certs.push(cert.as_ref().to_vec());
        }
        if certs.is_empty() {
            self.err(
                path,
                format!("{written:?}, with no `-----BEGIN CERTIFICATE-----` block"),
                WHAT,
                Some(
                    "convert a DER file with `openssl x509 -inform der -in ca.der -out ca.pem`"
                        .into(),
                ),
            );
            return None;
        }
        Some(CaFile { path: file, certs })
    }

    /// `body_file:`: the file's bytes, sent as they are.
    pub(super) fn body_file(&mut self, written: &str, path: &KeyPath) -> Option<FileBody> {
        let (file, bytes) = self.read_named_file(
            written,
            path,
            "a file to send as the body",
            super::files::MAX_BODY_FILE_BYTES,
        )?;
        let json = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Some(FileBody {
            path: file,
            content_type: json.then_some("application/json"),
            bytes: bytes.into(),
        })
    }
}

/// Whether each step of a scenario (`on_start`, `steps`, `on_stop`, in that order) wrote
/// `auth: none`; with `scenario: true`, whether the scenario did or the step did.
pub(super) fn no_auth(sc: &RawScenario, scenario: bool) -> Vec<bool> {
    let none = |a: &Option<RawAuthOrNone>| matches!(a, Some(RawAuthOrNone::None(_)));
    let whole = scenario && none(&sc.auth);
    // The leaf steps, in the order of the plan's flat lists (flow control flattened).
    super::compile::step_lists(sc)
        .iter()
        .flat_map(|(_, steps)| super::flow_control::leaves(steps, &super::node::KeyPath::root()))
        .map(|(_, st)| whole || none(&st.auth))
        .collect()
}

/// Every step of a scenario, in the order of [`no_auth`].
fn all_steps(sc: &mut ScenarioPlan) -> impl Iterator<Item = &mut StepPlan> {
    sc.on_start
        .iter_mut()
        .chain(sc.steps.iter_mut())
        .chain(sc.on_stop.iter_mut())
}

/// Merge a scenario's `headers` and `auth` into its steps: each step keeps its own headers
/// and credentials, and gets the scenario's where it has none of its own. `no_auth`: the
/// steps that wrote `auth: none` (see [`no_auth`]). (When a step failed to compile the
/// flags no longer line up, but then no plan is built.)
pub(super) fn fold_scenario(
    sc: &mut ScenarioPlan,
    headers: &[(String, Template)],
    auth: Option<&Auth>,
    no_auth: &[bool],
) {
    for (i, step) in all_steps(sc).enumerate() {
        let none = no_auth.get(i).copied().unwrap_or(false);
        fold(step, headers, auth, none);
        // A batch's requests take what the batch step would, unless one wrote `auth: none`.
        if let Some(b) = step.batch.as_mut() {
            for (j, sub) in b.requests.iter_mut().enumerate() {
                let none = none || b.no_auth.get(j).copied().unwrap_or(false);
                fold(sub, headers, auth, none);
            }
        }
    }
}

/// Give every step without credentials of its own (or of its scenario) the `defaults`
/// ones, and the default redirect limit where it set none. `no_auth[i]`: scenario `i`'s
/// steps that wrote `auth: none`, or whose scenario did.
pub(super) fn fold_defaults(
    scenarios: &mut [ScenarioPlan],
    auth: Option<&Auth>,
    follow_redirects: u32,
    no_auth: &[Vec<bool>],
) {
    for (k, sc) in scenarios.iter_mut().enumerate() {
        let flags = no_auth.get(k).map(Vec::as_slice).unwrap_or_default();
        for (i, step) in all_steps(sc).enumerate() {
            let opted_out = flags.get(i).copied().unwrap_or(false);
            if step.auth.is_none() && !sets_authorization(&step.headers) && !opted_out {
                step.auth = auth.cloned();
            }
            step.follow_redirects.get_or_insert(follow_redirects);
            if let Some(b) = step.batch.as_mut() {
                for (j, sub) in b.requests.iter_mut().enumerate() {
                    let opted_out = opted_out || b.no_auth.get(j).copied().unwrap_or(false);
                    if sub.auth.is_none() && !sets_authorization(&sub.headers) && !opted_out {
                        sub.auth = auth.cloned();
                    }
                    sub.follow_redirects.get_or_insert(follow_redirects);
                }
            }
        }
    }
}

/// One step under headers and credentials of a less specific level; `no_auth`: the step
/// wrote `auth: none`, so it takes neither their `auth` nor their `Authorization` header.
fn fold(step: &mut StepPlan, headers: &[(String, Template)], auth: Option<&Auth>, no_auth: bool) {
    let own_credentials = step.auth.is_some() || sets_authorization(&step.headers) || no_auth;
    if !own_credentials && let Some(a) = auth {
        step.auth = Some(a.clone());
    }
    let overridden = |n: &str| {
        step.headers.iter().any(|(s, _)| s.eq_ignore_ascii_case(n))
            || ((step.auth.is_some() || no_auth) && is_authorization(n))
    };
    let mut merged: Vec<(String, Template)> = headers
        .iter()
        .filter(|(n, _)| !overridden(n))
        .cloned()
        .collect();
    merged.append(&mut step.headers);
    step.headers = merged;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Auth, Body, ScenarioError, parse_with_env};
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PASS" => Some("hunter2".into()),
            "TOKEN" => Some("tok-9f8e".into()),
            _ => None,
        }
    }

    fn plan(text: &str, file: &Path) -> super::super::Plan {
        parse_with_env(text, file, &env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn problems(text: &str, file: &Path) -> Vec<super::super::Diagnostic> {
        match parse_with_env(text, file, &env) {
            Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("loaded, but should not have"),
        }
    }

    fn header_names(st: &StepPlan) -> Vec<&str> {
        st.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn credentials_and_headers_take_the_most_specific_level() {
        let p = plan(
            r#"
target: http://127.0.0.1:1
variables: {token: ""}
defaults:
  headers: {Accept: application/json}
  auth: {bearer: "${env.TOKEN}"}
  follow_redirects: false
scenarios:
  - name: a
    headers: {X-Team: blue, Authorization: "Token ${token}", accept: text/html}
    steps:
      - get: /inherits-the-scenario-header
      - get: /own-auth
        auth: {basic: {username: ada, password: "${env.PASS}"}}
        follow_redirects: 3
      - get: /own-header
        headers: {x-team: red}
        follow_redirects: true
  - name: b
    steps:
      - get: /defaults
      - get: /own-header
        headers: {authorization: "Bearer ${token}"}
load: {users: 1, duration: 1s}
"#,
            Path::new("t.yaml"),
        );
        let a = &p.scenarios[0].steps;
        assert!(a[0].auth.is_none());
        assert_eq!(header_names(&a[0]), ["X-Team", "Authorization", "accept"]);
        assert!(
            matches!(&a[1].auth, Some(Auth::Basic { username, .. }) if username.source() == "ada")
        );
        assert_eq!(header_names(&a[1]), ["X-Team", "accept"]);
        assert_eq!(header_names(&a[2]), ["Authorization", "accept", "x-team"]);
        assert!(a[2].auth.is_none());
        let b = &p.scenarios[1].steps;
        assert!(matches!(&b[0].auth, Some(Auth::Bearer(t)) if t.as_literal() == Some("tok-9f8e")));
        assert!(b[1].auth.is_none());
        let limits: Vec<Option<u32>> = a.iter().chain(b).map(|s| s.follow_redirects).collect();
        assert_eq!(limits, [Some(0), Some(3), Some(10), Some(0), Some(0)]);
        // The environment values and the encoded basic pair are secrets; Debug hides them.
        assert!(p.secrets.contains(&"hunter2".to_string()));
        assert!(p.secrets.contains(&"YWRhOmh1bnRlcjI=".to_string()));
        let debug = format!("{p:?}");
        for s in ["hunter2", "tok-9f8e", "YWRhOmh1bnRlcjI="] {
            assert!(!debug.contains(s), "{s} in {debug}");
        }
        // The copy keeps references as written.
        assert_eq!(
            p.scenario_copy["defaults"]["auth"]["bearer"],
            "${env.TOKEN}"
        );
    }

    #[test]
    fn auth_mistakes_are_diagnosed_where_written() {
        let d = problems(
            r#"target: http://127.0.0.1:1
defaults:
  headers: {Authorization: "Bearer x"}
  auth: {bearer: y}
scenarios:
  - name: a
    auth: {}
    steps:
      - get: /
        auth: {bearer: a, basic: {username: "a:b", password: c}}
      - get: /
        auth: {basic: {username: "a:b", password: c}}
      - get: /
        auth: {bearer: "${env.NOPE}"}
load: {users: 1, duration: 1s}
"#,
            Path::new("t.yaml"),
        );
        let at: Vec<(usize, usize, &str)> = d
            .iter()
            .map(|d| (d.line, d.column, d.key.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                (4, 9, "defaults.auth"),
                (7, 11, "scenarios[0].auth"),
                (10, 34, "scenarios[0].steps[0].auth.basic"),
                (12, 34, "scenarios[0].steps[1].auth.basic.username"),
                (14, 25, "scenarios[0].steps[2].auth.bearer"),
            ],
            "{d:#?}"
        );
        assert!(
            d[0].found
                .contains("both `auth` and an `Authorization` header")
        );
        assert!(d[1].expected.contains("exactly one of `bearer: TOKEN`"));
        assert!(d[4].to_string().contains("export NOPE="), "{}", d[4]);
    }

    #[test]
    fn tls_options_and_files_are_read_next_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        std::fs::copy(fixtures.join("ca.pem"), dir.path().join("certs/ca.pem")).unwrap();
        std::fs::write(dir.path().join("payload.json"), b"{\"qty\": 2}").unwrap();
        std::fs::write(dir.path().join("blob.bin"), [0u8, 159, 146, 150]).unwrap();
        let file = dir.path().join("s.yaml");
        let p = plan(
            r#"target: https://127.0.0.1:1
defaults: {ca_file: certs/ca.pem}
scenarios:
  - name: a
    steps:
      - post: /a
        body_file: payload.json
      - post: /b
        body_file: blob.bin
load: {users: 1, duration: 1s}
"#,
            &file,
        );
        let ca = p.defaults.ca_file.as_ref().unwrap();
        assert_eq!(ca.certs.len(), 1);
        assert_eq!(ca.path, dir.path().join("certs/ca.pem"));
        assert!(p.defaults.tls_verify);
        match (&p.scenarios[0].steps[0].body, &p.scenarios[0].steps[1].body) {
            (Body::File(a), Body::File(b)) => {
                assert_eq!(&a.bytes[..], b"{\"qty\": 2}");
                assert_eq!(a.content_type, Some("application/json"));
                assert_eq!(&b.bytes[..], [0u8, 159, 146, 150]);
                assert_eq!(b.content_type, None);
            }
            other => panic!("{other:?}"),
        }
        let p = plan(
            "target: https://127.0.0.1:1\ndefaults: {insecure: true}\n\
             scenarios: [{name: a, steps: [{get: /}]}]\nload: {users: 1, duration: 1s}\n",
            &file,
        );
        assert!(!p.defaults.tls_verify);
        assert_eq!(p.scenario_copy["defaults"]["insecure"], true);
    }

    #[test]
    fn missing_or_bad_files_are_errors_before_any_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("not-a-cert.pem"), "hello\n").unwrap();
        std::fs::write(
            dir.path().join("broken.pem"),
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let file = dir.path().join("s.yaml");
        let text = |defaults: &str, step: &str| {
            format!(
                "target: https://127.0.0.1:1\ndefaults: {defaults}\nscenarios:\n  - name: a\n    \
                 steps:\n      - {step}\nload: {{users: 1, duration: 1s}}\n"
            )
        };
        let d = problems(
            &text(
                "{ca_file: missing.pem}",
                "{get: /, body_file: data/none.json}",
            ),
            &file,
        );
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(
            (d[0].line, d[0].column, d[0].key.as_str()),
            (2, 21, "defaults.ca_file")
        );
        assert!(d[0].found.contains("missing.pem"), "{}", d[0]);
        assert!(
            d[0].found.contains(&dir.path().display().to_string()),
            "{}",
            d[0]
        );
        assert!(d[0].expected.contains("PEM file of CA certificates"));
        assert_eq!(
            d[0].hint.as_deref(),
            Some("the path is relative to the scenario file's folder")
        );
        assert_eq!(
            (d[1].line, d[1].column, d[1].key.as_str()),
            (6, 29, "scenarios[0].steps[0].body_file")
        );
        assert!(d[1].found.contains("data/none.json"), "{}", d[1]);
        let d = problems(
            &text(
                "{ca_file: not-a-cert.pem}",
                "{get: /, body: x, body_file: x}",
            ),
            &file,
        );
        assert!(
            d[0].found
                .contains("no `-----BEGIN CERTIFICATE-----` block"),
            "{}",
            d[0]
        );
        assert!(
            d[1].found.contains("both `body` and `body_file`"),
            "{}",
            d[1]
        );
        let d = problems(&text("{ca_file: broken.pem}", "{get: /}"), &file);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].found.contains("unreadable"), "{}", d[0]);
        let d = problems(
            &text("{ca_file: ., tls_verify: true, insecure: true}", "{get: /}"),
            &file,
        );
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(d.iter().any(|d| d.found.contains("a folder")), "{d:#?}");
        assert!(
            d.iter()
                .any(|d| d.found == "`insecure: true` with `tls_verify: true`"),
            "{d:#?}"
        );
    }
}
