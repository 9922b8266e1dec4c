//! Whole-pipeline tests: text in, plan or diagnostics out.

use std::path::Path;
use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "API_TOKEN" => Some("s3cr3t".to_string()),
        _ => None,
    }
}

fn plan(text: &str) -> Plan {
    match parse_with_env(text, Path::new("scenarios/t.yaml"), &env) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn problems(text: &str) -> Vec<Diagnostic> {
    match parse_with_env(text, Path::new("t.yaml"), &env) {
        Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("loaded, but should have failed:\n{text}"),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const MINIMAL: &str = "target: http://localhost:8080/\nscenarios: [{name: a, steps: [{get: /}]}]\n";

#[test]
fn a_minimal_file_gets_every_default() {
    let p = plan(&format!("{MINIMAL}load: {{users: 2, duration: 10s}}\n"));
    assert_eq!(p.name, "t");
    assert_eq!(p.target, Target::Url("http://localhost:8080".into()));
    assert_eq!(p.defaults, HttpDefaults::default());
    assert_eq!(p.load.graceful_stop, secs(5));
    let sc = &p.scenarios[0];
    assert_eq!((sc.weight, sc.think_time), (1, ThinkTime::None));
    let step = &sc.steps[0];
    assert_eq!(
        (step.name.as_str(), step.method, step.path.source()),
        ("GET /", Method::Get, "/")
    );
    assert!(step.checks.is_empty());
}

#[test]
fn users_ramp_duration_become_two_stages() {
    let stages = |load: &str| plan(&format!("{MINIMAL}load: {load}\n")).load.stages;
    let two = |u, a, b| vec![Stage { users: u, over: a }, Stage { users: u, over: b }];
    assert_eq!(
        stages("{users: 1000, ramp: 200/s, duration: 1m}"),
        two(1000, secs(5), secs(60))
    );
    assert_eq!(
        stages("{users: 60, ramp: 120/m, duration: 1m}"),
        two(60, secs(30), secs(60))
    );
    assert_eq!(
        stages("{users: 10, ramp: 30s, duration: 1m}"),
        two(10, secs(30), secs(60))
    );
    assert_eq!(
        stages("{users: 10, duration: 1m}"),
        two(10, Duration::ZERO, secs(60))
    );
    assert_eq!(
        stages("{users: 10, ramp: 5s}"),
        two(10, secs(5), Duration::ZERO)
    );
    let st =
        stages("{stages: [{users: 100, over: 30s}, {users: 0, over: 10s}], graceful_stop: 1s}");
    assert_eq!(
        st,
        vec![
            Stage {
                users: 100,
                over: secs(30)
            },
            Stage {
                users: 0,
                over: secs(10)
            }
        ]
    );
}

#[test]
fn variables_get_slots_declared_first_then_extracted() {
    let p = plan(
        "target: embedded:phase9
variables: {b: x, a: '${randomInt(1, 3)}'}
scenarios:
  - name: s
    on_start:
      - post: /api/login
        extract: {token: {json: $.token}, a: {header: x-a}}
    steps:
      - get: /x/${a}/${token}
        headers: {Authorization: 'Bearer ${token}', X-Key: '${env.API_TOKEN}'}
        extract: {etag: {header: ETag}}
load: {users: 1, duration: 1s}
",
    );
    let names: Vec<&str> = p.variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["b", "a", "token", "etag"]);
    assert!(p.variables[0].initial.is_some() && p.variables[2].initial.is_none());
    let step = &p.scenarios[0].steps[0];
    assert_eq!(step.name, "GET /x/${a}/${token}");
    assert_eq!(step.extracts[0].var, 3);
    // The value, then its base64 forms (whole and at the two other alignments).
    assert_eq!(p.secrets, ["czNjcjN0", "MzY3Izd", "zM2NyM3", "s3cr3t"]);
    let copy = p.scenario_copy.to_string();
    assert!(
        !copy.contains("s3cr3t") && copy.contains("${env.API_TOKEN}"),
        "{copy}"
    );
}

#[test]
fn checks_and_think_times_compile() {
    let p = plan(
        "target: embedded:phase9
scenarios:
  - name: s
    think_time: {min: 500ms, max: 2s}
    steps:
      - method: post
        path: /api/cart
        json: {qty: 2, tags: [a, '${uuid()}']}
        think_time: {mean: 1s, stddev: 250ms}
        timeout: 5s
        check:
          status: [200, 2xx]
          headers: {Content-Type: {contains: json}}
          body_contains: products
          body_matches: 'id\":\\s*\\d+'
          json: [{path: $.total, gt: 0}, {path: $.x, equals: null}]
        extract: {csrf: {regex: 'csrf=(\\w+)'}, sid: {cookie: sid}}
load: {users: 1, duration: 1s}
",
    );
    let sc = &p.scenarios[0];
    assert_eq!(
        sc.think_time,
        ThinkTime::Uniform {
            min: Duration::from_millis(500),
            max: secs(2)
        }
    );
    let step = &sc.steps[0];
    assert_eq!(step.method, Method::Post);
    assert_eq!(step.timeout, Some(secs(5)));
    assert!(matches!(step.body, Body::Json(JsonTemplate::Object(_))));
    let labels: Vec<&str> = step.checks.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.len(), 6, "{labels:?}");
    assert!(labels.contains(&"json $.total > 0"), "{labels:?}");
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("header content-type contains")),
        "{labels:?}"
    );
    assert_eq!(step.extracts.len(), 2);
}

#[test]
fn embedded_targets_take_workers_and_route_timings() {
    let p = plan(
        "target: {embedded: phase9, workers: 8, routes: {products: {service_time: 20ms, jitter: 2ms, db: 12ms}}}
scenarios: [{name: a, steps: [{get: /}]}]
load: {users: 1, duration: 1s}
defaults: {http_version: 2, timeout: 1s, cookies: false, user_agent: x}
",
    );
    let Target::Embedded(e) = &p.target else {
        panic!("{:?}", p.target)
    };
    assert_eq!(e.workers, Some(8));
    assert_eq!(e.routes["products"].db, Some(Duration::from_millis(12)));
    assert_eq!(p.defaults.http_version, HttpVersion::Http2);
    assert!(!p.defaults.cookies);
}

#[test]
fn json_files_load_too() {
    let p = plan(
        r#"{"target": "embedded:phase9", "scenarios": [{"name": "a", "steps": [{"get": "/health"}]}],
            "load": {"users": 3, "duration": "2s"}}"#,
    );
    assert_eq!(p.load.max_users(), 3);
}

#[test]
fn unknown_keys_get_a_suggestion_and_a_position() {
    let d = problems(&format!("{MINIMAL}load: {{usrs: 2, duration: 10s}}\n"));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        (d[0].line, d[0].column, d[0].key.as_str()),
        (3, 8, "load.usrs")
    );
    assert_eq!(d[0].hint.as_deref(), Some("did you mean \"users\"?"));
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let d = problems(
        "target: embedded:phase9
scenarios:
  - name: a
    think_time: {min: 2s, max: 1s}
    steps:
      - get: /
        timeout: 1 s
        check: {body_matches: '(', json: [{path: 'items', exists: true}]}
      - post: /x
        get: /y
      - method: FETCH
        path: x
        json: {}
        form: {}
  - name: a
    steps: [{get: '/${nope}', extract: {x: {regex: 'a', group: 1}}, check: {status: [200, 7xx]}}]
load: {users: 1, ramp: fast, duration: 1s}
",
    );
    let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "scenarios[0].think_time.min",
            "scenarios[0].steps[0].timeout",
            "scenarios[0].steps[0].check.body_matches",
            "scenarios[0].steps[0].check.json[0].path",
            "scenarios[0].steps[1].get",
            "scenarios[0].steps[2].method",
            "scenarios[0].steps[2].form",
            "scenarios[1].name",
            "scenarios[1].steps[0].get",
            "scenarios[1].steps[0].extract.x.group",
            "scenarios[1].steps[0].check.status[1]",
            "load.ramp",
        ],
        "{d:#?}"
    );
}

#[test]
fn structural_problems_are_reported_at_once() {
    let d = problems(
        "target: {embedded: phase8, routes: {prodcts: {}}}
scenarios: [{name: a, steps: [{get: /}], think_time: {min: 2s}}]
load: {users: '10', duration: 30}
defaults: {http_version: 3, tls_verify: yes}
",
    );
    let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "target.routes.prodcts",
            "scenarios[0].think_time.max",
            "load.users",
            "load.duration",
            "defaults.http_version",
            "defaults.tls_verify",
        ],
        "{d:#?}"
    );
    assert_eq!(
        d[2].hint.as_deref(),
        Some("remove the quotes: quoted values are always text")
    );
    assert_eq!(d[3].hint.as_deref(), Some("add a unit, e.g. 30s"));
}

#[test]
fn load_needs_users_or_stages_and_some_time() {
    let one = |load: &str| {
        let d = problems(&format!("{MINIMAL}load: {load}\n"));
        assert_eq!(d.len(), 1, "{d:#?}");
        d[0].to_string()
    };
    assert!(one("{graceful_stop: 1s}").contains("neither `users` nor `stages`"));
    assert!(
        one("{users: 5, stages: [{users: 1, over: 1s}]}").contains("both `users` and `stages`")
    );
    assert!(one("{users: 5}").contains("no `duration`"));
    assert!(one("{stages: [{users: 1, over: 1s}], ramp: 1/s}").contains("`ramp` next to `stages`"));
    assert!(one("{stages: [{users: 0, over: 1s}]}").contains("no stage with users"));
    assert!(one("{users: 0, duration: 1s}").contains("at least 1"));
}

#[test]
fn quick_builds_one_get_step() {
    let p = quick(
        "http://127.0.0.1:8080/api/products?page=2#top",
        Some(10),
        secs(5),
        Some(secs(1)),
        None,
    )
    .unwrap();
    assert_eq!(p.target, Target::Url("http://127.0.0.1:8080".into()));
    let step = &p.scenarios[0].steps[0];
    assert_eq!(step.name, "GET /api/products?page=2");
    assert_eq!(p.scenarios[0].think_time, ThinkTime::Constant(secs(1)));
    assert_eq!(
        p.load.stages,
        vec![
            Stage {
                users: 10,
                over: Duration::ZERO
            },
            Stage {
                users: 10,
                over: secs(5)
            }
        ]
    );
    assert_eq!(
        quick("https://example.com", Some(1), secs(1), None, None)
            .unwrap()
            .scenarios[0]
            .steps[0]
            .name,
        "GET /"
    );
    let Err(ScenarioError::Invalid { diagnostics }) =
        quick("localhost:8080", Some(0), Duration::ZERO, None, None)
    else {
        panic!("quick accepted a bad URL")
    };
    assert_eq!(diagnostics.len(), 3);
}

#[test]
fn quick_with_a_rate_is_open() {
    let p = quick("http://127.0.0.1:1/x", None, secs(10), None, Some(1000.0)).unwrap();
    let o = p.load.open.as_ref().unwrap();
    assert_eq!(o.peak_rate(), 1000.0);
    assert_eq!(o.duration(), secs(10));
    // 1000/s x 1 s per request.
    assert_eq!(o.max_users, 1000);
    assert_eq!(p.load.max_users(), 1000);
    assert_eq!(p.scenario_copy["load"]["arrival_rate"], "1000/s");
    let p = quick(
        "http://127.0.0.1:1/x",
        Some(64),
        secs(10),
        None,
        Some(1000.0),
    )
    .unwrap();
    assert_eq!(p.load.open.as_ref().unwrap().max_users, 64);
}

fn load_of(load: &str) -> Result<LoadPlan, String> {
    let text = format!(
        "target: http://127.0.0.1:1\nscenarios:\n  - name: s\n    think_time: 1s\n    steps:\n      - get: /a\n      - get: /b\nload: {load}\n"
    );
    parse_str(&text, Path::new("t.yaml"))
        .map(|p| {
            for w in &p.warnings {
                eprintln!("warning: {w}");
            }
            p.load
        })
        .map_err(|e| e.to_string())
}

fn warnings_of(load: &str) -> Vec<String> {
    let text = format!(
        "target: http://127.0.0.1:1\nscenarios:\n  - name: s\n    think_time: 1s\n    steps:\n      - get: /a\n      - get: /b\nload: {load}\n"
    );
    parse_str(&text, Path::new("t.yaml"))
        .unwrap()
        .warnings
        .iter()
        .map(|w| w.to_string())
        .collect()
}

#[test]
fn arrival_rates_make_an_open_plan() {
    let l = load_of("{arrival_rate: 500/s, duration: 5m, max_users: 2000, pre_allocated: 100}")
        .unwrap();
    let o = l.open.as_ref().unwrap();
    assert_eq!(o.start_rate, 500.0);
    assert_eq!(o.stages.len(), 1);
    assert_eq!(o.max_users, 2000);
    assert_eq!(o.pre_allocated, 100);
    assert_eq!(l.max_users(), 2000);
    assert_eq!(l.duration(), secs(300));
    // A ramp is a length: the rate climbs from start_rate (default 0).
    let l = load_of("{arrival_rate: 600/m, ramp: 30s, duration: 1m}").unwrap();
    let o = l.open.as_ref().unwrap();
    assert_eq!((o.start_rate, o.peak_rate()), (0.0, 10.0));
    assert_eq!(l.duration(), secs(90));
    // Defaults: the pool covers 1 s per step plus think time at the peak rate; 2 steps
    // and 2 s of think time at 10/s is 40 users; pre-allocated for 100 ms per step.
    assert_eq!(o.max_users, 40);
    assert_eq!(o.pre_allocated, 22);
    // Stages of rate, with a spike.
    let l = load_of(
        "{stages: [{rate: 10/s, over: 1m}, {rate: 200/s, over: 0s}, {rate: 200/s, over: 30s}, {rate: 10/s, over: 0s}, {rate: 10/s, over: 1m}]}",
    )
    .unwrap();
    let o = l.open.as_ref().unwrap();
    assert_eq!(o.start_rate, 0.0);
    assert_eq!(o.peak_rate(), 200.0);
    assert_eq!(o.stages.len(), 5);
    assert!(load_of("{users: 10, duration: 1m}").unwrap().open.is_none());
}

#[test]
fn open_model_mistakes_are_named() {
    let e = load_of("{arrival_rate: 500/s}").unwrap_err();
    assert!(
        e.contains("t.yaml:8:") && e.contains("no `duration`"),
        "{e}"
    );
    let e = load_of("{arrival_rate: 500, duration: 1m}").unwrap_err();
    assert!(e.contains("500/s"), "{e}");
    let e = load_of("{arrival_rate: 500/s, users: 10, duration: 1m}").unwrap_err();
    assert!(e.contains("`users` beside an arrival rate"), "{e}");
    let e = load_of("{arrival_rate: 500/s, ramp: 10/s, duration: 1m}").unwrap_err();
    assert!(e.contains("the ramp's length"), "{e}");
    let e = load_of("{stages: [{rate: 10/s, over: 1m}, {users: 5, over: 1m}]}").unwrap_err();
    assert!(
        e.contains("load.stages[1]") && e.contains("without `rate`"),
        "{e}"
    );
    let e = load_of("{stages: [{rate: 0/s, over: 1m}]}").unwrap_err();
    assert!(e.contains("never rises above 0"), "{e}");
    let e = load_of("{stages: [{rate: 10/s, over: 0s}]}").unwrap_err();
    assert!(e.contains("lasting 0s"), "{e}");
    let e = load_of("{users: 10, duration: 1m, max_users: 5}").unwrap_err();
    assert!(e.contains("`max_users` with `users`"), "{e}");
    let e =
        load_of("{arrival_rate: 5/s, duration: 1m, max_users: 5, pre_allocated: 9}").unwrap_err();
    assert!(e.contains("above max_users"), "{e}");
}

#[test]
fn a_pool_too_small_for_the_rate_is_a_warning_with_the_arithmetic() {
    // 100/s x (2 steps x 100 ms + 2 s think) = 220 users.
    let w = warnings_of("{arrival_rate: 100/s, duration: 1m, max_users: 50}");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("t.yaml:8:"), "{w:?}");
    assert!(w[0].contains("max_users 50"), "{w:?}");
    assert!(
        w[0].contains("100/s x (2 steps x 100ms + 2s think time) = 220"),
        "{w:?}"
    );
    assert!(warnings_of("{arrival_rate: 100/s, duration: 1m, max_users: 300}").is_empty());
}

/// Mangled versions of the example files never panic the loader.
#[test]
fn mangled_files_never_panic() {
    let examples: Vec<String> = ["phase9.yaml", "smoke.yaml", "stress.yaml"]
        .iter()
        .filter_map(|f| {
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("scenarios")
                    .join(f),
            )
            .ok()
        })
        .collect();
    let junk = [
        "{", "}", "[", "]", ":", "-", "'", "\"", "&a", "*a", "<<: *a", "${", "}", "\n", "  ", "\t",
        "#", "|", ">", "!!str", "?", ",", "0x", "1e9999", "é",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let runs = std::env::var("SKEIN_FUZZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    for _ in 0..runs {
        let mut text: Vec<char> = examples[next(examples.len())].chars().collect();
        for _ in 0..1 + next(4) {
            let at = next(text.len() + 1);
            match next(3) {
                0 if at < text.len() => {
                    let end = (at + 1 + next(8)).min(text.len());
                    text.drain(at..end);
                }
                _ => {
                    let j: Vec<char> = junk[next(junk.len())].chars().collect();
                    text.splice(at..at, j);
                }
            }
        }
        let text: String = text.into_iter().collect();
        let _ = parse_with_env(&text, Path::new("fuzz.yaml"), &env);
    }
}

/// The published schema agrees with the loader: a real validator accepts every example and
/// rejects what the structural pass rejects.
#[test]
fn the_schema_accepts_the_examples_and_rejects_bad_shapes() {
    let validator =
        jsonschema::validator_for(&json_schema()).expect("the schema is valid JSON Schema");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for f in ["phase9.yaml", "smoke.yaml", "stress.yaml"] {
        let text = std::fs::read_to_string(dir.join(f)).expect("example file");
        let json = node::parse(&text, Path::new(f))
            .expect("example parses")
            .to_json();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{f}: {errors:#?}");
    }
    for bad in [
        "target: embedded:phase9\nscenarios: [{name: a, steps: [{get: /}], wieght: 2}]\nload: {users: 1, duration: 1s}\n",
        "target: embedded:phase9\nscenarios: [{name: a, steps: [{get: /, timeout: 30}]}]\nload: {users: 1, duration: 1s}\n",
        "target: embedded:phase9\nscenarios: [{name: a, steps: [{get: /, check: {status: 700}}]}]\nload: {users: 1, duration: 1s}\n",
        "target: embedded:phase9\nscenarios: [{name: a}]\nload: {users: 1, duration: 1s}\n",
    ] {
        let json = node::parse(bad, Path::new("t.yaml"))
            .expect("parses")
            .to_json();
        assert!(!validator.is_valid(&json), "the schema accepts:\n{bad}");
        assert!(!problems(bad).is_empty());
    }
}

#[test]
fn byte_order_marks_and_crlf_line_ends_are_fine() {
    let text =
        format!("\u{feff}{MINIMAL}load: {{users: 2, duration: 10s}}\n").replace('\n', "\r\n");
    assert_eq!(plan(&text).load.max_users(), 2);
    let d = problems(&format!("{MINIMAL}load: {{usrs: 2}}\n").replace('\n', "\r\n"));
    assert_eq!((d[0].line, d[0].column), (3, 8), "{d:#?}");
}

/// One scenario whose steps are `steps` (YAML list items), with `head` above it.
fn with_steps(head: &str, steps: &str) -> String {
    format!(
        "target: embedded:phase9\n{head}scenarios:\n  - name: s\n    steps:\n{steps}load: {{users: 1, duration: 1s}}\n"
    )
}

#[test]
fn issue12_variables_are_drawn_per_iteration_unless_constant_extracted_or_told() {
    let p = plan(&with_steps(
        "variables:
  product_id: \"${randomInt(1, 500)}\"
  fixed: {value: \"${randomInt(1, 500)}\", per: user}
  plain: abc
  from_env: \"${env.API_TOKEN}\"
  copy: \"${product_id}\"
  token: \"${uuid()}\"
  again: {value: x, per: iteration}
",
        "      - get: /api/products/${product_id}/${fixed}/${plain}/${from_env}/${copy}/${again}
        extract: {token: {json: $.token}}
      - get: /api/cart
        headers: {X-Token: \"${token}\"}
",
    ));
    let per: Vec<(&str, bool)> = p
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.per_iteration))
        .collect();
    assert_eq!(
        per,
        [
            ("product_id", true),
            ("fixed", false),
            ("plain", false),
            ("from_env", false),
            ("copy", true),
            ("token", false),
            ("again", true),
        ]
    );
    assert_eq!(
        p.variables[1].initial.as_ref().map(|t| t.source()),
        Some("${randomInt(1, 500)}")
    );
    // A value the user signs up with in `on_start` identifies it for its whole life, and
    // so does what that value reads.
    let p = plan(
        "target: embedded:phase9
variables:
  suffix: \"${uuid()}\"
  username: \"u-${suffix}\"
  product_id: \"${randomInt(1, 500)}\"
scenarios:
  - name: s
    on_start:
      - post: /api/login
        json: {username: \"${username}\", password: x}
    steps:
      - get: /api/products/${product_id}?u=${username}
load: {users: 1, duration: 1s}
",
    );
    let per: Vec<(&str, bool)> = p
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.per_iteration))
        .collect();
    assert_eq!(
        per,
        [("suffix", false), ("username", false), ("product_id", true)]
    );
}

#[test]
fn variable_specs_are_checked_with_positions() {
    let d = problems(&with_steps(
        "variables:\n  a: {value: x, per: request}\n  b: {per: user}\n  c: {value: x, pre: user}\n",
        "      - get: /\n",
    ));
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 3, "{text:#?}");
    assert!(
        text[0].starts_with(
            "t.yaml:3:22: `variables.a.per`: found \"request\", expected one of user, iteration"
        ),
        "{text:#?}"
    );
    assert!(
        text[1].contains("`variables.b.value`: found nothing, expected the required key `value`"),
        "{text:#?}"
    );
    assert!(
        text[2].contains("unknown key `pre`") && text[2].contains("did you mean \"per\""),
        "{text:#?}"
    );
}

#[test]
fn issue12_type_suffixes_only_where_a_json_value_is_whole() {
    let p = plan(&with_steps(
        "variables: {n: \"3\"}\n",
        "      - post: /api/cart
        json: {product_id: \"${randomInt(1, 9):int}\", qty: \"${n:int}\", gift: \"${n}\"}
        check: {json: [{path: $.qty, equals: \"${n:int}\"}, {path: $.n, equals: \"${env.API_TOKEN}\"}]}
",
    ));
    let step = &p.scenarios[0].steps[0];
    let Body::Json(JsonTemplate::Object(fields)) = &step.body else {
        panic!("{:?}", step.body);
    };
    let types: Vec<Option<template::JsonType>> = fields
        .iter()
        .map(|(_, v)| match v {
            JsonTemplate::String(t) => t.json_type(),
            _ => None,
        })
        .collect();
    use template::JsonType::Int;
    assert_eq!(types, [Some(Int), Some(Int), None]);
    assert!(matches!(
        step.checks[0].kind,
        check::CheckKind::Json {
            op: check::JsonOp::EqualsTemplate(_),
            ..
        }
    ));
    // A constant needs no rendering per response.
    assert!(matches!(
        step.checks[1].kind,
        check::CheckKind::Json {
            op: check::JsonOp::Equals(_),
            ..
        }
    ));
    let d = problems(&with_steps(
        "",
        "      - get: /x/${randomInt(1, 9):int}
        headers: {X-N: \"${randomInt(1, 9):number}\"}
        json: {a: \"id-${randomInt(1, 9):int}\", b: \"${uuid():integer}\", c: \"${env.API_TOKEN:int}\"}
",
    ));
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 5, "{text:#?}");
    assert!(
        text[0].starts_with(
            "t.yaml:5:34: `scenarios[0].steps[0].get`: found a type suffix `:int` inside other text"
        ),
        "{text:#?}"
    );
    assert!(
        text[1].starts_with(
            "t.yaml:6:42: `scenarios[0].steps[0].headers.X-N`: found the type suffix `:number`"
        ),
        "{text:#?}"
    );
    assert!(text[1].contains("only applies to a whole string value under `json:`"));
    assert!(
        text[2].contains("json.a`: found a type suffix `:int` inside other text"),
        "{text:#?}"
    );
    assert!(
        text[3].contains("unknown type `:integer`") && text[3].contains("did you mean `:int`?"),
        "{text:#?}"
    );
    assert!(
        text[4].contains("whose environment value (not shown)") && !text[4].contains("s3cr3t"),
        "{text:#?}"
    );
}

#[test]
fn issue12_check_values_are_templates_checked_when_the_file_loads() {
    let d = problems(&with_steps(
        "",
        "      - get: /
        check:
          body_contains: \"${tokn}\"
          headers: {X-Id: {equals: \"${randomInt(1, 9)}\"}}
          json: [{path: $.a, contains: \"${uuid()}\"}]
        extract: {token: {json: $.token}}
",
    ));
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 3, "{text:#?}");
    assert!(
        text[0].contains("unknown variable `tokn`") && text[0].contains("did you mean \"token\""),
        "{text:#?}"
    );
    assert!(
        text[1].contains("`scenarios[0].steps[0].check.headers.X-Id.equals`")
            && text[1].contains("a random value in a check"),
        "{text:#?}"
    );
    assert!(text[2].contains("check.json[0].contains"), "{text:#?}");
}

#[test]
fn issue12_target_reads_the_environment() {
    let file = |target: &str| {
        format!(
            "target: {target}\nscenarios: [{{name: a, steps: [{{get: /}}]}}]\nload: {{users: 1, duration: 1s}}\n"
        )
    };
    let env = |name: &str| match name {
        "BASE_URL" => Some("http://127.0.0.1:9/".to_string()),
        "HOST" => Some("example.test".to_string()),
        "NOT_A_URL" => Some("hunter2".to_string()),
        _ => None,
    };
    let load = |t: &str| parse_with_env(&file(t), Path::new("t.yaml"), &env);
    let p = load("\"${env.BASE_URL}\"").unwrap();
    assert_eq!(p.target, Target::Url("http://127.0.0.1:9".into()));
    let p = load("\"https://${env.HOST}:8443\"").unwrap();
    assert_eq!(p.target, Target::Url("https://example.test:8443".into()));
    let e = load("\"${env.NOT_A_URL}\"").unwrap_err().to_string();
    assert!(
        e.contains("not shown") && e.contains("no http:// or https:// scheme"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = load("\"${env.UNSET}\"").unwrap_err().to_string();
    assert!(e.contains("export UNSET=http://"), "{e}");
    let e = load("\"http://${host}\"").unwrap_err().to_string();
    assert!(e.contains("per-user variable `host`"), "{e}");
}

#[test]
fn issue12_bare_numbers_for_pauses_suggest_milliseconds() {
    let file = |steps: &str| {
        format!("{MINIMAL}load: {{users: 1, duration: 1s}}\n").replace("steps: [{get: /}]", steps)
    };
    // Numbers: the structural pass.
    let d = problems(&file("think_time: 100, steps: [{get: /, timeout: 30}]"));
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 2, "{text:#?}");
    assert!(
        text[0].contains("think_time`: found 100") && text[0].contains("hint: add a unit: 100ms"),
        "{text:#?}"
    );
    assert!(
        text[1].contains("timeout`") && text[1].contains("add a unit, e.g. 30s"),
        "{text:#?}"
    );
    // Quoted numbers: the semantic pass.
    let d = problems(&file(
        "steps: [{get: /, think_time: {min: \"50\", max: 1s}}]",
    ));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].key, "scenarios[0].steps[0].think_time.min");
    assert!(
        d[0].hint
            .as_deref()
            .unwrap_or_default()
            .starts_with("add a unit: 50ms"),
        "{d:#?}"
    );
}

#[test]
fn issue12_k6_load_keys_are_translated() {
    let d = problems(&format!(
        "{MINIMAL}load: {{vus: 10, stages: [{{target: 10, duration: 30s}}]}}\n"
    ));
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("unknown key `vus`")
                && t.contains("did you mean `users` (k6's `vus`)?")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.contains("unknown key `target`")
            && t.contains("`users` (closed model) or `rate`")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("unknown key `duration`") && t.contains("`over`")),
        "{text:#?}"
    );
}

#[test]
fn issue12_hyphenated_json_path_suggests_brackets() {
    let d = problems(&with_steps(
        "",
        "      - get: /
        extract: {key: {json: $.headers.X-Api-Key}}
",
    ));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        d[0].hint.as_deref(),
        Some(
            "a name with `-` or other punctuation needs brackets and quotes: write $.headers['X-Api-Key']"
        )
    );
}

/// Issue 13, D11: a 300-character `name:` validated, then `run` failed (exit 3) creating
/// the results folder `<name>-<UTC time>`: "File name too long".
#[test]
fn issue13_a_name_too_long_for_a_folder_is_refused() {
    let named =
        |name: &str| format!("name: \"{name}\"\n{MINIMAL}load: {{users: 1, duration: 1s}}\n");
    let d = problems(&named(&"x".repeat(300)));
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].key.as_str(), d[0].line, d[0].column), ("name", 1, 7));
    assert!(
        d[0].to_string()
            .contains("found a name of 300 bytes, expected a name of at most 128 bytes"),
        "{}",
        d[0]
    );
    // Bytes, not characters: 70 `é` are 140 bytes.
    assert_eq!(problems(&named(&"é".repeat(70)))[0].key, "name");
    assert_eq!(plan(&named(&"é".repeat(64))).name.len(), 128);
    assert_eq!(plan(&named(&"x".repeat(128))).name.len(), 128);
    // A name taken from the file's own name is cut to fit instead (at a character's edge).
    let text = format!("{MINIMAL}load: {{users: 1, duration: 1s}}\n");
    let file = format!("{}.yaml", "ü".repeat(120));
    let p = parse_with_env(&text, Path::new(&file), &env).unwrap();
    assert_eq!(p.name, "ü".repeat(64));
}

/// Issue 13: `users: 10000000000` validated as ok. More than 1,000,000 users is refused
/// where it is written, with a hint.
#[test]
fn issue13_users_have_a_sane_maximum() {
    let load = |l: &str| format!("{MINIMAL}load: {l}\n");
    assert_eq!(
        plan(&load("{users: 1000000, duration: 1s}"))
            .load
            .max_users(),
        1_000_000
    );
    for (l, key) in [
        ("{users: 10000000000, duration: 1s}", "load.users"),
        (
            "{stages: [{users: 10, over: 1s}, {users: 1000001, over: 1s}]}",
            "load.stages[1].users",
        ),
        (
            "{arrival_rate: 10/s, duration: 1s, max_users: 2000000}",
            "load.max_users",
        ),
        (
            "{steps: {users: {from: 1, to: 4000000, factor: 2}, hold: 1s}}",
            "load.steps.users.to",
        ),
    ] {
        let d = problems(&load(l));
        assert_eq!(d.len(), 1, "{l}: {d:?}");
        assert_eq!(d[0].key, key, "{l}");
        assert!(d[0].expected.contains("at most 1000000 users"), "{}", d[0]);
        assert!(d[0].hint.as_deref().is_some_and(|h| h.contains("machines")));
    }
    let e = quick("http://127.0.0.1:9/", Some(1_000_001), secs(1), None, None).unwrap_err();
    assert!(e.to_string().contains("at most 1000000 users"), "{e}");
    let mut p = plan(&load("{users: 10, duration: 1s}"));
    assert_eq!(p.load_limit_problem(), None);
    p.load.scale_users(5_000_000);
    assert!(
        p.load_limit_problem()
            .is_some_and(|s| s.contains("5000000 users"))
    );
}

/// Issue 13, D2: `quick` refused a `user:password@` URL but printed it whole.
#[test]
fn issue13_quick_hides_the_password_it_refuses() {
    let e = quick(
        "http://ada:hunter2@127.0.0.1:9/x",
        None,
        secs(1),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        !e.contains("hunter2") && e.contains("ada:[redacted]@127.0.0.1:9"),
        "{e}"
    );
}

#[test]
fn a_batch_request_with_auth_none_takes_no_credentials_from_above() {
    let p = plan(
        r#"
target: http://127.0.0.1:1
defaults:
  auth: {bearer: "${env.API_TOKEN}"}
scenarios:
  - name: s
    steps:
      - name: both
        batch:
          - get: /with
          - get: /without
            auth: none
load: {users: 1, duration: 1s}
"#,
    );
    let batch = p.scenarios[0].steps[0]
        .batch
        .as_ref()
        .expect("a batch step");
    assert!(batch.requests[0].auth.is_some(), "{:?}", batch.requests[0]);
    assert!(batch.requests[1].auth.is_none(), "{:?}", batch.requests[1]);
}
