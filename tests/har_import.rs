//! `skein import har` end to end: headless Chromium records a HAR of the embedded demo
//! over the Chrome DevTools Protocol (open the home page, log in and read the cart with
//! `fetch`, open the home page again), `skein import har` turns it into a scenario, and
//! `skein run` replays that scenario against the same demo with no error: the login's
//! token is correlated (an `extract:` and `${token}`), not the recorded one.
//!
//! Also, through the binary: bad input exits 2 with file:line:column, an existing output
//! is kept without `--force`, and the example under scenarios/examples/ is what the
//! importer makes of its recording.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{skein, text};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM: common::Tool = common::Tool {
    name: "chromium",
    purpose: "record a HAR of the demo over the DevTools Protocol",
    path_var: "SKEIN_CHROMIUM",
    commands: &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ],
    install: "apt-get install -y chromium",
};

/// The password typed in the recorded login: it must never reach the scenario file.
const PASSWORD: &str = "s3cret-horse-battery";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Headless Chromium with a debugging port, killed on drop.
struct Browser {
    child: std::process::Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Browser {
    fn start(path: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let err = std::fs::File::create(profile.path().join("chromium.err")).unwrap();
        let child = Command::new(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting chromium: {e}"));
        let mut browser = Browser {
            child,
            _profile: profile,
            port: 0,
        };
        let file = browser._profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                browser.port = port;
                return browser;
            }
            if let Some(status) = browser.child.try_wait().unwrap() {
                let err = std::fs::read_to_string(browser._profile.path().join("chromium.err"))
                    .unwrap_or_default();
                panic!("chromium exited ({status}) before listening:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A DevTools Protocol session on one page: commands by id, events kept in order.
struct Cdp {
    ws: Ws,
    next_id: u64,
    events: Vec<Value>,
    /// Response bodies by request id (body, base64), fetched before the page moves on.
    bodies: BTreeMap<String, (String, bool)>,
}

impl Cdp {
    async fn connect(port: u16) -> Cdp {
        // The page target about:blank opened, from the browser's HTTP endpoint.
        let list: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws_url = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("no page target: {list}"))
            .to_string();
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(ws_url.as_str(), tcp)
            .await
            .unwrap();
        Cdp {
            ws,
            next_id: 1,
            events: Vec::new(),
            bodies: BTreeMap::new(),
        }
    }

    /// Read one message (within `limit`): an event is kept, a reply returned.
    async fn read(&mut self, limit: Duration) -> Option<Value> {
        let msg = tokio::time::timeout(limit, self.ws.next()).await.ok()??;
        let Message::Text(t) = msg.unwrap() else {
            return None;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v.get("method").is_some() {
            self.events.push(v);
            None
        } else {
            Some(v)
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let reply = self.call_raw(method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// Fetch the body of every request that finished loading (a browser forgets them when
    /// the page it belongs to goes).
    async fn fetch_bodies(&mut self) {
        let finished: Vec<String> = self
            .events
            .iter()
            .filter(|e| e["method"] == "Network.loadingFinished")
            .filter_map(|e| e["params"]["requestId"].as_str().map(String::from))
            .filter(|id| !self.bodies.contains_key(id))
            .collect();
        for id in finished {
            let reply = self
                .call_raw("Network.getResponseBody", json!({"requestId": id}))
                .await;
            let b = &reply["result"];
            if let Some(body) = b["body"].as_str() {
                let b64 = b["base64Encoded"].as_bool().unwrap_or(false);
                self.bodies.insert(id, (body.to_string(), b64));
            }
        }
    }

    async fn call_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(reply) = self.read(Duration::from_millis(200)).await
                && reply["id"] == id
            {
                return reply;
            }
        }
        panic!("no reply to {method} within 20 s");
    }

    /// Wait until an event named `method` (after the first `from` events) has come.
    async fn wait_event(&mut self, method: &str, from: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.events[from.min(self.events.len())..]
            .iter()
            .any(|e| e["method"] == method)
        {
            assert!(Instant::now() < deadline, "no {method} within 20 s");
            self.read(Duration::from_millis(200)).await;
        }
    }

    /// Keep reading events for `d` (what is still loading finishes).
    async fn drain(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.read(Duration::from_millis(50)).await;
        }
    }
}

/// One request as the Network domain told it.
#[derive(Default)]
struct Req {
    sent: Option<Value>,
    response: Option<Value>,
    resource_type: String,
    wall: f64,
    start_ts: f64,
    end_ts: Option<f64>,
    body: Option<(String, bool)>,
}

/// The events of a session as a HAR 1.2 log, with each finished request's body.
async fn build_har(cdp: &mut Cdp) -> Value {
    let mut reqs: BTreeMap<String, Req> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in cdp.events.clone() {
        let p = &e["params"];
        let id = p["requestId"].as_str().unwrap_or_default().to_string();
        match e["method"].as_str().unwrap_or_default() {
            "Network.requestWillBeSent" => {
                if !reqs.contains_key(&id) {
                    order.push(id.clone());
                }
                let r = reqs.entry(id).or_default();
                r.sent = Some(p["request"].clone());
                r.resource_type = p["type"].as_str().unwrap_or("Other").to_ascii_lowercase();
                r.wall = p["wallTime"].as_f64().unwrap_or(0.0);
                r.start_ts = p["timestamp"].as_f64().unwrap_or(0.0);
            }
            "Network.responseReceived" => {
                if let Some(r) = reqs.get_mut(&id) {
                    r.response = Some(p["response"].clone());
                }
            }
            "Network.loadingFinished" => {
                if let Some(r) = reqs.get_mut(&id) {
                    r.end_ts = p["timestamp"].as_f64();
                }
            }
            _ => {}
        }
    }
    cdp.fetch_bodies().await;
    for id in &order {
        let r = reqs.get_mut(id).unwrap();
        r.body = cdp.bodies.get(id).cloned();
    }
    let headers = |h: &Value| -> Value {
        h.as_object()
            .map(|m| {
                m.iter()
                    .flat_map(|(k, v)| {
                        // Several values of one header come joined by newlines.
                        v.as_str()
                            .unwrap_or_default()
                            .split('\n')
                            .map(|v| json!({"name": k, "value": v}))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into()
    };
    let mut entries = Vec::new();
    for id in &order {
        let r = &reqs[id];
        let (Some(req), Some(resp)) = (&r.sent, &r.response) else {
            continue;
        };
        let started = chrono::DateTime::from_timestamp_micros((r.wall * 1e6) as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let time = r.end_ts.map_or(0.0, |end| (end - r.start_ts) * 1000.0);
        let mut request = json!({
            "method": req["method"],
            "url": req["url"],
            "httpVersion": "HTTP/1.1",
            "headers": headers(&req["headers"]),
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": -1,
        });
        if let Some(post) = req["postData"].as_str() {
            let mime = req["headers"]
                .as_object()
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                        .and_then(|(_, v)| v.as_str())
                })
                .unwrap_or("")
                .to_string();
            request["postData"] = json!({"mimeType": mime, "text": post});
        }
        let mut content = json!({"size": -1, "mimeType": resp["mimeType"]});
        if let Some((body, b64)) = &r.body {
            content["text"] = json!(body);
            if *b64 {
                content["encoding"] = json!("base64");
            }
        }
        entries.push(json!({
            "startedDateTime": started,
            "time": time,
            "_resourceType": r.resource_type,
            "request": request,
            "response": {
                "status": resp["status"],
                "statusText": resp["statusText"],
                "httpVersion": "HTTP/1.1",
                "headers": headers(&resp["headers"]),
                "cookies": [],
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": -1,
            },
            "cache": {},
            "timings": {"send": 0, "wait": time, "receive": 0},
        }));
    }
    json!({"log": {
        "version": "1.2",
        "creator": {"name": "skein tests/har_import.rs (Chrome DevTools Protocol)", "version": "1"},
        "pages": [],
        "entries": entries,
    }})
}

/// Record the demo flow in Chromium: the home page, a login and the cart by `fetch`, a
/// pause, the home page again.
async fn record(browser: &Browser, base: &str) -> Value {
    let mut cdp = Cdp::connect(browser.port).await;
    cdp.call("Network.enable", json!({})).await;
    cdp.call("Page.enable", json!({})).await;
    let from = cdp.events.len();
    cdp.call("Page.navigate", json!({"url": format!("{base}/")}))
        .await;
    cdp.wait_event("Page.loadEventFired", from).await;
    cdp.drain(Duration::from_millis(300)).await;
    cdp.fetch_bodies().await;
    let script = format!(
        r#"(async () => {{
            const login = await fetch('/api/login', {{
                method: 'POST',
                headers: {{'Content-Type': 'application/json'}},
                body: JSON.stringify({{username: 'har-user', password: '{PASSWORD}'}}),
            }});
            const {{token}} = await login.json();
            const cart = await fetch('/api/cart', {{headers: {{'Authorization': 'Bearer ' + token}}}});
            return [login.status, cart.status].join(' ');
        }})()"#
    );
    let r = cdp
        .call(
            "Runtime.evaluate",
            json!({"expression": script, "awaitPromise": true, "returnByValue": true}),
        )
        .await;
    assert_eq!(r["result"]["value"], "200 200", "{r}");
    cdp.drain(Duration::from_millis(100)).await;
    cdp.fetch_bodies().await;
    // The user reads the page for a while, then opens the home page again.
    cdp.drain(Duration::from_millis(1200)).await;
    let from = cdp.events.len();
    cdp.call("Page.navigate", json!({"url": format!("{base}/")}))
        .await;
    cdp.wait_event("Page.loadEventFired", from).await;
    cdp.drain(Duration::from_millis(300)).await;
    build_har(&mut cdp).await
}

fn scenario_steps(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter(|l| l.trim_start().starts_with("- ") && !l.trim_start().starts_with("- name"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn a_recording_from_headless_chromium_replays_with_the_token_correlated() {
    let Some(chromium) = common::tool(&CHROMIUM) else {
        return;
    };
    let rt = runtime();
    let server = rt
        .block_on(skein::demo::serve(
            "127.0.0.1:0".parse().unwrap(),
            skein::demo::DemoConfig::default(),
        ))
        .unwrap();
    let base = server.url().trim_end_matches('/').to_string();
    let browser = Browser::start(&chromium);
    let har = rt.block_on(record(&browser, &base));
    drop(browser);
    let recorded_logins = server.logins().get("har-user").copied().unwrap_or(0);
    assert_eq!(recorded_logins, 1, "the browser logged in once");

    // What the browser sent: the token the demo gave it, in the cart request.
    let entries = har["log"]["entries"].as_array().unwrap();
    let find = |path: &str| {
        entries
            .iter()
            .find(|e| e["request"]["url"].as_str().unwrap().ends_with(path))
            .unwrap_or_else(|| panic!("no {path} in {har:#}"))
    };
    let login = find("/api/login");
    let body: Value =
        serde_json::from_str(login["response"]["content"]["text"].as_str().unwrap()).unwrap();
    let recorded_token = body["token"].as_str().unwrap().to_string();
    let cart = find("/api/cart");
    assert!(
        cart["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["value"] == format!("Bearer {recorded_token}")),
        "{cart:#}"
    );
    assert!(
        entries.iter().any(|e| e["_resourceType"] == "stylesheet"),
        "the page's assets were recorded too"
    );

    // `SKEIN_UPDATE_EXAMPLES=1` keeps this recording as the example's.
    if std::env::var_os("SKEIN_UPDATE_EXAMPLES").is_some_and(|v| v == "1") {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/examples/demo-recording.har");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&har).unwrap() + "\n").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("demo.har");
    std::fs::write(&har_path, serde_json::to_string_pretty(&har).unwrap()).unwrap();
    let yaml_path = dir.path().join("demo.yaml");
    let o = skein()
        .args(["import", "har"])
        .arg(&har_path)
        .arg("-o")
        .arg(&yaml_path)
        .args(["-u", "2", "-d", "2s"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let summary = String::from_utf8_lossy(&o.stderr).to_string();
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    eprintln!("{yaml}");
    assert!(
        summary.contains("token: json $.token of step 3 (POST /api/login), used in step 4 (GET /api/cart): header Authorization"),
        "{summary}"
    );
    assert!(summary.contains("PASSWORD"), "{summary}");
    assert!(summary.contains("static assets"), "{summary}");
    // The token comes from the login's response, never as recorded; the password from the
    // environment.
    assert!(!yaml.contains(&recorded_token), "{yaml}");
    assert!(!yaml.contains(PASSWORD), "{yaml}");
    assert!(
        yaml.contains(r#"extract: {token: {json: "$.token"}}"#),
        "{yaml}"
    );
    assert!(
        yaml.contains(r#"Authorization: "Bearer ${token}""#),
        "{yaml}"
    );
    assert!(yaml.contains(r#"password: "${env.PASSWORD}""#), "{yaml}");
    assert!(yaml.contains(&format!("target: \"{base}\"")), "{yaml}");
    let steps = scenario_steps(&yaml);
    assert_eq!(
        steps,
        [
            // The home page, and the catalogue its script fetches.
            "- get: /",
            "- get: /api/products",
            // The login and the cart, by `fetch` from the console.
            "- post: /api/login",
            "- get: /api/cart",
            "- get: /",
            "- get: /api/products",
        ],
        "{yaml}"
    );
    assert!(
        yaml.contains("think_time: 1"),
        "the pause before the second page: {yaml}"
    );

    // Replayed against the same demo: every request answered as recorded.
    let out = dir.path().join("reports");
    let o = skein()
        .arg("run")
        .arg(&yaml_path)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-w", "1"])
        .env("PASSWORD", "another-password")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let result = common::result_json(&common::only_dir(&out));
    assert_eq!(result["overall"]["errors"], 0, "{}", text(&o));
    let step = |name: &str| -> Value {
        result["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {}", text(&o)))
            .clone()
    };
    let carts = step("GET /api/cart");
    let n = carts["requests"].as_u64().unwrap();
    assert!(n >= 2, "{carts}");
    assert_eq!(carts["errors"], 0);
    for c in carts["checks"].as_array().unwrap() {
        assert_eq!(c["failed"], 0, "{c}");
    }
    let logins = server.logins().get("har-user").copied().unwrap_or(0) - recorded_logins;
    assert!(
        logins >= n,
        "each cart read follows its own login: {logins} logins, {n} carts"
    );

    // `--assets page`: each document is a page step that fetches what its HTML links.
    let paged = dir.path().join("paged.yaml");
    let o = skein()
        .args(["import", "har", "--assets", "page", "-u", "1", "-d", "2s"])
        .arg(&har_path)
        .arg("-o")
        .arg(&paged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("static assets folded into a page step"),
        "{}",
        text(&o)
    );
    let yaml = std::fs::read_to_string(&paged).unwrap();
    assert!(yaml.contains("- page: /\n        assets: auto\n"), "{yaml}");
    let out = dir.path().join("paged-reports");
    let o = skein()
        .arg("run")
        .arg(&paged)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-w", "1"])
        .env("PASSWORD", "another-password")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let result = common::result_json(&common::only_dir(&out));
    assert_eq!(result["overall"]["errors"], 0, "{}", text(&o));
    let assets = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "page / (assets)")
        .unwrap_or_else(|| panic!("no assets row: {}", text(&o)))
        .clone();
    // The demo's page links four assets.
    let fetched = assets["requests"].as_u64().unwrap();
    assert!(fetched >= 4 && fetched.is_multiple_of(4), "{assets}");
    rt.block_on(server.shutdown());
}

// ---- the binary's edges ------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/har")
        .join(name)
}

#[test]
fn bad_recordings_exit_2_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "broken.har",
            "{\"log\": {\"entries\": [\n  {\"request\": }",
            ":2:15: not JSON",
        ),
        (
            "other.har",
            "{\"name\": \"a scenario?\"}\n",
            ":1:23: not a HAR file: missing field `log`",
        ),
        (
            "empty.har",
            "{\"log\": {\"version\": \"1.2\", \"entries\": []}}",
            "the recording is empty",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let o = skein().args(["import", "har"]).arg(&path).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("{}{expected}", path.display())) || err.contains(expected),
            "{name}: {err}"
        );
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(o.stdout.is_empty());
    }
    let o = skein()
        .args(["import", "har"])
        .arg(dir.path().join("missing.har"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.yaml");
    std::fs::write(&out, "mine").unwrap();
    let o = skein()
        .args(["import", "har"])
        .arg(fixture("login-flow.har"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let o = skein()
        .args(["import", "har", "--force"])
        .arg(fixture("login-flow.har"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.starts_with("# Imported by `skein import har` from login-flow.har on "));
    // `-o -` and no `-o`: the same scenario on stdout (the date aside).
    for args in [&["-o", "-"][..], &[][..]] {
        let o = skein()
            .args(["import", "har"])
            .arg(fixture("login-flow.har"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let stdout = String::from_utf8(o.stdout).unwrap();
        let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(body(&stdout), body(&written));
    }
}

/// scenarios/examples/from-har.yaml is what the importer makes of
/// scenarios/examples/demo-recording.har (a Chromium recording of the demo), and it
/// validates.
#[test]
fn the_example_is_the_import_of_its_recording() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = skein()
        .current_dir(root)
        .args([
            "import",
            "har",
            "scenarios/examples/demo-recording.har",
            "--target",
            "embedded:phase9",
            "--name",
            "from-har",
            "-u",
            "2",
            "-d",
            "3s",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let example = std::fs::read_to_string(root.join("scenarios/examples/from-har.yaml")).unwrap();
    // Past the line with the date, the file is the importer's output as it is today.
    let body = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("# Imported by") && !l.starts_with("# Run:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        body(&example),
        body(&String::from_utf8(o.stdout).unwrap()),
        "regenerate it: see the command in its header"
    );
    let o = skein()
        .current_dir(root)
        .args(["validate", "scenarios/examples/from-har.yaml"])
        .env("PASSWORD", "demo")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}
