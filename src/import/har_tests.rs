//! The import rules, one hand-written recording (tests/fixtures/har/) each.

use super::*;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/har")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Import a fixture; the scenario must be one `skein validate` accepts (with its
/// environment variables set).
fn import_with(name: &str, opts: &Options) -> Import {
    let out =
        import(&fixture(name), Path::new(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let env = |_: &str| Some("set".to_string());
    if let Err(e) = crate::scenario::parse_with_env(&out.yaml, Path::new("imported.yaml"), &env) {
        panic!("{name}: the import does not validate: {e}\n{}", out.yaml);
    }
    out
}

fn import_fixture(name: &str) -> Import {
    import_with(name, &Options::default())
}

/// The scenario without its header comment.
fn body(i: &Import) -> String {
    i.yaml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first lines of each step, `- get: /`.
fn step_lines(i: &Import) -> Vec<String> {
    body(i)
        .lines()
        .filter(|l| l.starts_with("      - "))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn documents_and_xhr_are_kept_assets_and_other_hosts_dropped() {
    let i = import_fixture("login-flow.har");
    assert_eq!(
        step_lines(&i),
        [
            "- get: /",
            "- post: /api/login",
            "- get: /api/cart",
            "- get: /api/products/42"
        ]
    );
    assert!(
        body(&i).contains("target: \"http://shop.test:8080\""),
        "{}",
        i.yaml
    );
    assert_eq!(i.summary.entries, 9);
    assert_eq!(i.summary.steps, 4);
    assert_eq!(
        i.summary.dropped,
        [
            "2 requests to other hosts (analytics.example.net 1, fonts.example.net 1)",
            "3 static assets (image 1, script 1, stylesheet 1)"
        ]
    );
}

#[test]
fn cookies_pseudo_headers_and_browser_noise_are_dropped() {
    let i = import_fixture("login-flow.har");
    let b = body(&i);
    for gone in [
        "Cookie",
        "User-Agent",
        "Host",
        "sec-ch-ua",
        "content-length",
        ":authority",
        "Accept-Encoding",
        "Upgrade-Insecure",
    ] {
        assert!(!b.contains(gone), "{gone} in\n{b}");
    }
    // An API's Accept stays; a document's is the browser's.
    assert!(b.contains("Accept: application/json"), "{b}");
    assert!(!b.contains("text/html"), "{b}");
    // The content type a `json:` body sets itself is not repeated.
    assert!(!b.contains("content-type"), "{b}");
    for h in [
        "cookie",
        "user-agent",
        "host",
        ":authority",
        "sec-ch-ua",
        "accept-encoding",
    ] {
        assert!(
            i.summary.dropped_headers.contains(h),
            "{h}: {:?}",
            i.summary.dropped_headers
        );
    }
    let i = import_with(
        "redirect-form.har",
        &Options {
            keep_headers: vec!["User-Agent".into(), "origin".into()],
            ..Options::default()
        },
    );
    let b = body(&i);
    assert!(b.contains("user-agent: Mozilla/5.0"), "{b}");
    assert!(b.contains("origin: \"https://shop.test\""), "{b}");
    assert!(!b.contains(":method") && !b.contains("sec-fetch"), "{b}");
}

#[test]
fn a_token_from_a_json_response_is_extracted_and_referenced() {
    let i = import_fixture("login-flow.har");
    let b = body(&i);
    assert!(b.contains("extract: {token: {json: \"$.token\"}}"), "{b}");
    assert!(b.contains("Authorization: \"Bearer ${token}\""), "{b}");
    assert!(!b.contains("tok-1f2e3d4c5b6a"), "{b}");
    let token = i
        .summary
        .correlated
        .iter()
        .find(|c| c.var == "token")
        .unwrap();
    assert_eq!(token.step, 2);
    assert_eq!(token.step_label, "POST /api/login");
    assert_eq!(token.source, "json $.token");
    assert_eq!(
        token.used_in,
        ["step 3 (GET /api/cart): header Authorization"]
    );
    // The cookie the response set goes back in the jar: not correlated.
    assert!(!i.summary.correlated.iter().any(|c| c.var == "sid"));
}

#[test]
fn a_hidden_form_input_is_extracted_with_a_regex() {
    let i = import_fixture("login-flow.har");
    let csrf = i
        .summary
        .correlated
        .iter()
        .find(|c| c.var == "csrf")
        .unwrap();
    assert_eq!((csrf.step, csrf.source.as_str()), (1, "hidden input csrf"));
    assert!(body(&i).contains("x-csrf-token: \"${csrf}\""), "{}", i.yaml);
    // The regex written finds the value in the recorded page.
    let re =
        regex::Regex::new(r#"<input[^>]*name=["']?csrf["'\s][^>]*value=["']?([^"'>\s]*)"#).unwrap();
    assert!(
        body(&i).contains(&format!("{:?}", re.as_str())),
        "{}",
        i.yaml
    );
    let html = "<form><input type=\"hidden\" name=\"csrf\" value=\"c5rf-7f3a9b2e41\"></form>";
    assert_eq!(&re.captures(html).unwrap()[1], "c5rf-7f3a9b2e41");

    // Value before name, single quotes, in a base64 body; then a form that sends it.
    let i = import_fixture("redirect-form.har");
    let b = body(&i);
    assert!(b.contains("_csrf: \"${csrf}\""), "{b}");
    let c = i
        .summary
        .correlated
        .iter()
        .find(|c| c.var == "csrf")
        .unwrap();
    assert_eq!(c.source, "hidden input _csrf");
    let re = r#"<input[^>]*value=["']?([^"'>\s]*)["']?[^>]*name=["']?_csrf["'\s>/]"#;
    let html = "<form method=post><input value='a9f3c2e177' name='_csrf' type=hidden>";
    assert_eq!(
        &regex::Regex::new(re).unwrap().captures(html).unwrap()[1],
        "a9f3c2e177"
    );
}

#[test]
fn a_redirect_is_not_followed_and_its_location_and_cookie_are_correlated() {
    let i = import_fixture("redirect-form.har");
    let b = body(&i);
    assert_eq!(
        step_lines(&i),
        [
            "- get: /login",
            "- post: /login",
            "- get: \"${location}\"",
            // The Location, verbatim inside a longer path.
            "- get: \"/api${location}/status\""
        ],
        "{b}"
    );
    // The 302 is checked, not followed; its Location and cookie are extracted.
    assert!(
        b.contains("follow_redirects: false\n        check: {status: 302}"),
        "{b}"
    );
    assert!(
        b.contains("extract: {location: {header: location}, session: {cookie: session}}"),
        "{b}"
    );
    assert!(b.contains("x-session: \"${session}\""), "{b}");
    // A 304 (the browser's cache) is a 200 without it.
    assert!(b.contains("check: {status: [200, 304]}"), "{b}");
    assert!(!b.contains("if-none-match"), "{b}");
    let vars: Vec<&str> = i
        .summary
        .correlated
        .iter()
        .map(|c| c.var.as_str())
        .collect();
    assert_eq!(vars, ["csrf", "location", "session"]);
}

#[test]
fn think_times_come_from_the_gaps_between_pages() {
    // 2.175 s from the end of the cart request to the next document: 2 s.
    let i = import_fixture("login-flow.har");
    assert!(body(&i).contains("headers: {Authorization: \"Bearer ${token}\", Accept: application/json}\n        check: {status: 200}\n        think_time: 2s"), "{}", i.yaml);
    assert_eq!(body(&i).matches("think_time").count(), 1);
    // 5.37 s before the form's POST (a document); 44.8 s before /about, cut to 30 s.
    let i = import_fixture("redirect-form.har");
    assert!(body(&i).contains("think_time: 5.5s"), "{}", i.yaml);
    let i = import_with(
        "assets.har",
        &Options {
            all_hosts: true,
            ..Options::default()
        },
    );
    assert!(body(&i).contains("think_time: 30s"), "{}", i.yaml);
    assert!(i.summary.notes.iter().any(|n| n.contains("cut to 30 s")));

    assert_eq!(round_think(150.0), (None, false));
    assert_eq!(round_think(249.0), (Some(200), false));
    assert_eq!(round_think(960.0), (Some(1000), false));
    assert_eq!(round_think(1740.0), (Some(1500), false));
    assert_eq!(round_think(12_400.0), (Some(12_000), false));
    assert_eq!(round_think(f64::NAN), (None, false));
    assert_eq!(format_think(300), "300ms");
    assert_eq!(format_think(1500), "1.5s");
    assert_eq!(format_think(12_000), "12s");
}

#[test]
fn credentials_become_environment_references() {
    let i = import_fixture("credentials.har");
    let b = body(&i);
    for secret in [
        "eyJhbGciOiJIUzI1NiJ9",
        "YWRhOmMwcnJlY3QtaG9yc2U",
        "c0rrect-horse",
        "ak-99887766",
        "k3y-0123456789",
        "hunter2hunter2",
        "cs-5f5f5f5f",
    ] {
        assert!(!i.yaml.contains(secret), "{secret} in\n{}", i.yaml);
    }
    assert!(b.contains("auth: {bearer: \"${env.BEARER_TOKEN}\"}"), "{b}");
    assert!(b.contains("X-Api-Key: \"${env.X_API_KEY}\""), "{b}");
    assert!(
        b.contains("query: {api_key: \"${env.API_KEY}\", page: \"2\"}"),
        "{b}"
    );
    assert!(
        b.contains("auth:\n          basic: {username: ada, password: \"${env.PASSWORD}\"}")
            || b.contains("auth: {basic: {username: ada, password: \"${env.PASSWORD}\"}}"),
        "{b}"
    );
    // user:password@ in a URL, and a nested secret field; the basic password seen again in
    // a body is the same variable.
    assert!(b.contains("- post: /v1/oauth"), "{b}");
    assert!(
        b.contains("username: bob, password: \"${env.PASSWORD_2}\""),
        "{b}"
    );
    assert!(b.contains("client_secret: \"${env.CLIENT_SECRET}\""), "{b}");
    assert!(b.contains("again: \"${env.PASSWORD}\""), "{b}");
    let names: Vec<&str> = i.summary.env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "API_KEY",
            "BEARER_TOKEN",
            "X_API_KEY",
            "PASSWORD",
            "PASSWORD_2",
            "CLIENT_SECRET"
        ]
    );
    let e = &i.summary.env[0];
    assert_eq!(e.what, "query parameter `api_key` of step 1 (GET /v1/me)");
    // The header comment lists them, never their values.
    assert!(
        i.yaml
            .contains("#   CLIENT_SECRET: json field `client_secret` of step 3 (POST /v1/oauth)"),
        "{}",
        i.yaml
    );
}

#[test]
fn bodies_are_json_form_or_raw() {
    let i = import_fixture("credentials.har");
    let b = body(&i);
    // JSON: kept as `json:` with its types; a literal `${` is escaped; the JSON content type
    // is the one `json:` sets.
    assert!(b.contains("retry: 3"), "{b}");
    assert!(b.contains("note: \"literal $${not_a_var}\""), "{b}");
    assert!(!b.contains("charset"), "{b}");
    // Anything else: `body:` as recorded, with its content type.
    assert!(b.contains("body: \"remember $${this}\""), "{b}");
    assert!(b.contains("Content-Type: text/plain"), "{b}");
    assert!(
        i.summary
            .notes
            .iter()
            .any(|n| n.contains("the body (text/plain) is written raw"))
    );
    // A method Skein does not send.
    assert!(!b.contains("PROPFIND"), "{b}");
    assert!(
        i.summary
            .dropped
            .contains(&"1 not replayable (method PROPFIND 1)".to_string()),
        "{:?}",
        i.summary.dropped
    );
    // Form: `form:` with each field decoded (and a password into the environment).
    let i = import_fixture("redirect-form.har");
    let b = body(&i);
    assert!(
        b.contains("form: {_csrf: \"${csrf}\", user: ada, passwd: \"${env.PASSWD}\"}"),
        "{b}"
    );
    assert!(!b.contains("p@ss") && !b.contains("p%40ss"), "{b}");
}

#[test]
fn short_common_and_typed_values_are_not_correlated() {
    let i = import_fixture("false-positives.har");
    // The user name was typed (sent before the response repeated it); `true`, `ab12`,
    // `electronics`, `active` are too short or words; `R-2026-0042` is only a prefix.
    assert!(
        i.summary.correlated.is_empty(),
        "{:?}",
        i.summary.correlated
    );
    assert!(!body(&i).contains("${"), "{}", i.yaml);
    assert!(i.yaml.contains("# correlated: nothing"));
}

#[test]
fn assets_fold_into_page_steps_or_stay() {
    let page = import_with(
        "assets.har",
        &Options {
            assets: Assets::Page,
            ..Options::default()
        },
    );
    assert_eq!(
        step_lines(&page),
        ["- page: /", "- page: /about"],
        "{}",
        page.yaml
    );
    assert!(
        body(&page).contains("- page: /\n        assets: auto\n        check: {status: 200}"),
        "{}",
        page.yaml
    );
    assert!(
        page.summary
            .dropped
            .contains(&"1 static assets folded into a page step (script 1)".to_string()),
        "{:?}",
        page.summary.dropped
    );
    assert!(
        page.summary
            .dropped
            .contains(&"1 static assets before any page (stylesheet 1)".to_string()),
        "{:?}",
        page.summary.dropped
    );

    // Other hosts allowed: their assets are fetched by the page too, and their requests
    // keep an absolute URL.
    let all = import_with(
        "assets.har",
        &Options {
            assets: Assets::Page,
            hosts: vec!["cdn.test".into()],
            ..Options::default()
        },
    );
    let b = body(&all);
    assert!(
        b.contains("- page: /\n        assets: auto\n        other_hosts: true"),
        "{b}"
    );
    assert!(
        b.contains("- get: \"http://cdn.test/api/stock\"\n        query: {id: \"7\"}"),
        "{b}"
    );

    let keep = import_with(
        "assets.har",
        &Options {
            assets: Assets::Keep,
            hosts: vec!["cdn.test:80".into()],
            ..Options::default()
        },
    );
    assert_eq!(
        step_lines(&keep),
        [
            "- get: /static/early.css",
            "- get: /",
            "- get: /static/app.js",
            "- get: \"http://cdn.test/img/hero.webp\"",
            "- get: \"http://cdn.test/f.woff2\"",
            "- get: \"http://cdn.test/api/stock\"",
            "- get: /about",
        ],
        "{}",
        keep.yaml
    );
    assert!(body(&keep).contains("query: {v: \"3\"}"));
    // Pings, preflights, blocked requests and data: URLs are never steps.
    let dropped = keep.summary.dropped.join("; ");
    for d in [
        "not replayable (ping 1, preflight 1)",
        "no response recorded",
        "not HTTP (data 1)",
    ] {
        assert!(dropped.contains(d), "{d}: {dropped}");
    }
}

#[test]
fn classification_without_resource_types() {
    let e = |method: &str, url: &str, mime: &str| {
        let entry: Entry = serde_json::from_value(json!({
            "request": {"method": method, "url": url},
            "response": {"status": 200, "content": {"mimeType": mime}},
        }))
        .unwrap();
        classify(&entry, &Url::parse(url).unwrap())
    };
    assert_eq!(
        e("GET", "http://a/", "text/html; charset=utf-8"),
        Kind::Document
    );
    assert_eq!(e("GET", "http://a/x", "application/json"), Kind::Api);
    assert_eq!(
        e("GET", "http://a/s.css?v=1", ""),
        Kind::Asset("stylesheet")
    );
    assert_eq!(
        e("GET", "http://a/x", "text/javascript"),
        Kind::Asset("script")
    );
    assert_eq!(
        e("GET", "http://a/logo", "image/svg+xml"),
        Kind::Asset("image")
    );
    assert_eq!(e("GET", "http://a/f", "font/woff2"), Kind::Asset("font"));
    assert_eq!(
        e("GET", "http://a/f.woff2", "application/octet-stream"),
        Kind::Asset("font")
    );
    assert_eq!(
        e("OPTIONS", "http://a/x", ""),
        Kind::Other("preflight".into())
    );
    assert_eq!(e("POST", "http://a/submit", "text/html"), Kind::Document);
}

#[test]
fn the_target_and_load_are_options() {
    let i = import_with(
        "login-flow.har",
        &Options {
            target: Some("embedded:phase9".into()),
            name: Some("shop".into()),
            users: 3,
            duration: "5s".into(),
            date: "2026-12-07 20:00 UTC".into(),
            ..Options::default()
        },
    );
    assert!(i.yaml.starts_with(
        "# Imported by `skein import har` from login-flow.har on 2026-12-07 20:00 UTC.\n# 4 of 9 recorded requests kept as 4 steps\n"
    ));
    let b = body(&i);
    assert!(
        b.starts_with("name: shop\ntarget: \"embedded:phase9\"\n"),
        "{b}"
    );
    assert!(b.ends_with("load: {users: 3, duration: 5s}"), "{b}");
}

#[test]
fn bad_input_names_its_position() {
    let f = Path::new("rec.har");
    let err = |text: &str| {
        import(text, f, &Options::default())
            .unwrap_err()
            .to_string()
    };
    let e = err("{\"log\": {\"entries\": [\n  {\"request\": ]}}");
    assert!(
        e.starts_with("rec.har:2:15: not JSON: expected value\n  hint: "),
        "{e}"
    );
    let e = err("\"hello\"");
    assert!(
        e.starts_with("rec.har:1:7: not a HAR file: invalid type: string"),
        "{e}"
    );
    let e = err("{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\"}}]}}");
    assert!(
        e.starts_with("rec.har:1:50: not a HAR file: missing field `url`"),
        "{e}"
    );
    let e = err("{\"log\": {\"entries\": []}}");
    assert!(e.starts_with("rec.har: the recording is empty"), "{e}");
    let only_assets = r#"{"log": {"entries": [{"startedDateTime": "2026-12-07T10:00:00Z",
        "request": {"method": "GET", "url": "http://a.test/x.css"},
        "response": {"status": 200, "content": {"mimeType": "text/css"}}}]}}"#;
    let e = err(only_assets);
    assert!(e.starts_with("rec.har: nothing to import: all 1 requests were dropped: 1 static assets (stylesheet 1)"), "{e}");
    assert!(e.contains("--assets keep"), "{e}");
}

#[test]
fn json_values_are_correlated_into_paths_queries_headers_and_json_bodies() {
    let i = import_fixture("json-body.har");
    let b = body(&i);
    assert!(
        b.contains("extract: {id: {json: \"$.items[1].id\"}, cart_id: {json: \"$.cart.cart_id\"}, session_key: {json: \"$['session-key']\"}}")
            || b.contains("extract:\n          id: {json: \"$.items[1].id\"}\n          cart_id: {json: \"$.cart.cart_id\"}\n          session_key: {json: \"$['session-key']\"}"),
        "{b}"
    );
    assert!(b.contains("query: {cart: \"${cart_id}\"}"), "{b}");
    // A header named like a credential, but its value came from a response: correlated.
    assert!(b.contains("X-Session-Key: \"${session_key}\""), "{b}");
    assert!(b.contains("cart_id: \"${cart_id}\""), "{b}");
    assert!(b.contains("{product: \"${id}\", qty: 2}"), "{b}");
    assert!(i.summary.env.is_empty(), "{:?}", i.summary.env);
    // Only values a later request sends back are extracted.
    assert!(!b.contains("prd-77a1b2") && !b.contains("items[0]"), "{b}");
}

/// Any prefix of a recording, and a recording with odd values, is an error or a scenario,
/// never a panic.
#[test]
fn truncated_and_odd_recordings_never_panic() {
    for name in [
        "login-flow.har",
        "redirect-form.har",
        "credentials.har",
        "assets.har",
    ] {
        let text = fixture(name);
        for end in (0..text.len())
            .step_by(7)
            .filter(|&e| text.is_char_boundary(e))
        {
            let _ = import(&text[..end], Path::new(name), &Options::default());
        }
    }
    let odd = r#"{"log": {"entries": [
        {"startedDateTime": "yesterday", "time": null, "_resourceType": "xhr",
         "request": {"method": "get", "url": "http://ü.test:81/ä?x=${y}&x=2#frag",
           "headers": [{"name": "Authorization", "value": "Basic !!!"}, {"name": "authorization", "value": "dup"}],
           "postData": {"mimeType": "application/json", "text": "{not json"}},
         "response": {"status": 999, "headers": [{"name": "set-cookie", "value": "=; bad"}],
           "content": {"mimeType": "application/json", "text": "[[[[[\"deep-123456\"]]]]]", "encoding": "base64"}}},
        {"startedDateTime": "2026-12-07T10:00:00Z",
         "request": {"method": "POST", "url": "http://ü.test:81/deep-123456", "headers": [],
           "postData": {"mimeType": "", "params": [{"name": "password", "value": "hunter2-hunter2"}]}},
         "response": {"status": 200, "content": {}}}
    ]}}"#;
    let i = import(odd, Path::new("odd.har"), &Options::default()).unwrap();
    assert!(!i.yaml.contains("hunter2-hunter2"), "{}", i.yaml);
    assert!(i.yaml.contains("$${y}"), "{}", i.yaml);
    assert!(
        i.yaml.contains("form: {password: \"${env.PASSWORD}\"}"),
        "{}",
        i.yaml
    );
    // A raw body's credentials too.
    let mut cor = Correlator::new();
    let t = raw_secrets(
        "<user pass=x/> password=hunter2&a=1 {\"api_token\": \"abc-123\", \"x\": \"${t}\"}",
        &mut cor,
        "step 1",
    );
    assert_eq!(
        t,
        "<user pass=x/> password=${env.PASSWORD}&a=1 {\"api_token\": \"${env.API_TOKEN}\", \"x\": \"${t}\"}"
    );
}
