//! The recipes in `deploy/` (issue 15): the container image and the Kubernetes manifests.
//!
//! No Docker daemon and no Kubernetes run here, so the Dockerfile is checked statically
//! (and its build context resolved by cargo), and the manifests are snapshot-tested, read
//! back with the crate's YAML parser for what the schemas cannot see (an Indexed Job,
//! `backoffLimit: 0`, one run id and one start time in both Jobs), and validated offline
//! against the Kubernetes API schemas with `kubernetes-validate --strict` (unknown fields
//! fail). `deploy/kubernetes/` must be exactly `skein k8s render`'s output for the defaults
//! its README documents; `SKEIN_UPDATE_DEPLOY=1 cargo test --test deploy` rewrites it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};
use skein::cli::k8s::{self, ConfigFile, K8sInput};

/// The Kubernetes version the manifests are validated against: the oldest still supported
/// by the big managed offerings (Indexed Jobs are GA since 1.24, `suspend` since 1.24).
const K8S_VERSION: &str = "1.30.0";

const KUBERNETES_VALIDATE: common::Tool = common::Tool {
    name: "kubernetes-validate",
    purpose: "validate the Kubernetes manifests against the API schemas",
    path_var: "SKEIN_KUBERNETES_VALIDATE",
    commands: &["kubernetes-validate"],
    install: "python3 -m venv target/ci-venv && target/ci-venv/bin/pip install \
              kubernetes-validate==1.37.0",
};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kube_dir() -> PathBuf {
    repo().join("deploy/kubernetes")
}

/// The defaults `deploy/kubernetes/README.md` documents for the shipped files: the same as
/// `skein k8s render deploy/kubernetes/scenario.yaml --shards 3 --image
/// registry.example.com/skein:0.1.0 --start-at 2030-01-01T00:00:00Z --run-id example-run`.
fn documented_input() -> K8sInput {
    K8sInput {
        scenario: ConfigFile {
            path: "scenario.yaml".into(),
            text: std::fs::read_to_string(kube_dir().join("scenario.yaml")).unwrap(),
        },
        feeders: vec![],
        shards: 3,
        image: "registry.example.com/skein:0.1.0".into(),
        start_at: k8s::parse_start_at("2030-01-01T00:00:00Z").unwrap(),
        run_id: Some("example-run".into()),
        namespace: None,
        pvc: k8s::DEFAULT_PVC.into(),
        target: None,
        allow_missing: false,
    }
}

/// Text that YAML could misread if it were not quoted with care.
const AWKWARD: &str = "# a comment?\nname: \"checkout\" # not a comment\n---\nkey: 'value: \
                       x'\n\ttab, trailing space \nyes: no\n~\n  indented\n€ ✓ 🚀\n\\ back\\slash\n\n";

/// A render with every option: feeders in a sub-folder, a namespace, a target, the default
/// run id (from the scenario's name and the start).
fn full_input(shards: u32) -> K8sInput {
    K8sInput {
        scenario: ConfigFile {
            path: "checkout.yaml".into(),
            text: format!("name: checkout\n{AWKWARD}"),
        },
        feeders: vec![ConfigFile {
            path: "data/users.csv".into(),
            text: "username,password\nann,\"p,w\"\n".into(),
        }],
        shards,
        image: "ghcr.io/acme/skein:0.1.0".into(),
        start_at: k8s::parse_start_at("2026-12-07T18:00:00+01:00").unwrap(),
        run_id: None,
        namespace: Some("load".into()),
        pvc: "shared-results".into(),
        target: Some("http://checkout.shop.svc:8080".into()),
        allow_missing: true,
    }
}

// --- Reading YAML back -------------------------------------------------------------------

/// Every document of a YAML stream as JSON, with the crate's YAML parser: plain scalars
/// resolved by the core schema (what Kubernetes does), quoted ones as strings.
fn documents(text: &str) -> Vec<Value> {
    enum Frame {
        Seq(Vec<Value>),
        Map(Map<String, Value>, Option<String>),
    }
    fn attach(stack: &mut [Frame], docs: &mut Vec<Value>, v: Value) {
        match stack.last_mut() {
            None => docs.push(v),
            Some(Frame::Seq(items)) => items.push(v),
            Some(Frame::Map(m, key)) => match key.take() {
                Some(k) => {
                    assert!(m.insert(k.clone(), v).is_none(), "duplicate key {k}");
                }
                None => *key = Some(v.as_str().expect("a string key").to_string()),
            },
        }
    }
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(ev) = parser.next_event() {
        let (ev, _) = ev.unwrap_or_else(|e| panic!("YAML syntax error: {e:?}\n{text}"));
        match ev {
            Event::Scalar(s, style, _, tag) => {
                assert!(tag.is_none(), "no tags in rendered YAML: {s}");
                let v = match style {
                    ScalarStyle::Plain => plain(&s),
                    _ => Value::String(s.into_owned()),
                };
                attach(&mut stack, &mut docs, v);
            }
            Event::SequenceStart(..) => stack.push(Frame::Seq(Vec::new())),
            Event::MappingStart(..) => stack.push(Frame::Map(Map::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let v = match stack.pop().unwrap() {
                    Frame::Seq(items) => Value::Array(items),
                    Frame::Map(m, _) => Value::Object(m),
                };
                attach(&mut stack, &mut docs, v);
            }
            Event::Alias(_) => panic!("no aliases in rendered YAML"),
            _ => {}
        }
    }
    docs
}

fn plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.to_string())),
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The value after `flag` in a list of arguments.
fn flag<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let i = args.iter().position(|a| *a == flag);
    args[i.unwrap_or_else(|| panic!("{flag} in {args:?}")) + 1]
}

// --- The render --------------------------------------------------------------------------

#[test]
fn render_snapshot() {
    insta::assert_snapshot!("k8s_render", k8s::render(&full_input(4)).unwrap());
}

#[test]
fn the_shards_are_an_indexed_job_and_both_jobs_share_one_run_id_and_start() {
    for n in [1, 4, 1000] {
        let input = full_input(n);
        let docs = documents(&k8s::render(&input).unwrap());
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ConfigMap", "Job", "Job"]);
        let (config, shards, merge) = (&docs[0], &docs[1], &docs[2]);
        let run_id = "checkout-20261207t170000z";
        let start = "2026-12-07T17:00:00Z";

        let spec = &shards["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], n);
        assert_eq!(spec["parallelism"], n);
        assert_eq!(spec["backoffLimit"], 0);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
        let args = strings(&spec["template"]["spec"]["containers"][0]["args"]);
        assert_eq!(args[..2], ["run", "/scenario/checkout.yaml"]);
        assert_eq!(flag(&args, "--shard"), format!("auto/{n}"));
        assert_eq!(flag(&args, "--run-id"), run_id);
        assert_eq!(flag(&args, "--start-at"), start);
        assert_eq!(flag(&args, "-o"), "/results");
        assert_eq!(flag(&args, "--target"), "http://checkout.shop.svc:8080");
        assert!(args.contains(&"-q"), "{args:?}");

        let mspec = &merge["spec"];
        assert_eq!(mspec["suspend"], true, "the merge waits to be resumed");
        assert_eq!(mspec["backoffLimit"], 0);
        assert_eq!(mspec["completions"], 1);
        let margs = strings(&mspec["template"]["spec"]["containers"][0]["args"]);
        let dir = format!("/results/{run_id}");
        assert_eq!(margs, ["merge", &dir, "-o", &dir, "--allow-missing"]);

        let config_name = format!("skein-{run_id}-scenario");
        assert_eq!(config["metadata"]["name"], config_name.as_str());
        assert_eq!(
            config["data"]["checkout.yaml"].as_str(),
            Some(input.scenario.text.as_str()),
            "the scenario survives the quoting byte for byte"
        );
        assert_eq!(
            config["data"]["data.users.csv"].as_str(),
            Some(input.feeders[0].text.as_str())
        );
        for doc in &docs {
            let meta = &doc["metadata"];
            assert_eq!(meta["namespace"], "load");
            assert_eq!(meta["labels"]["skein.dev/run-id"], run_id);
        }
        for job in [shards, merge] {
            check_pod(job, "shared-results");
        }
        let volumes = shards["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let scenario = volumes.iter().find(|v| v["name"] == "scenario").unwrap();
        assert_eq!(scenario["configMap"]["name"], config_name.as_str());
        assert_eq!(
            scenario["configMap"]["items"][1],
            serde_json::json!({"key": "data.users.csv", "path": "data/users.csv"})
        );
    }
}

/// A Job's pod: labelled with its run, non-root, no privileges, read-only root, requests
/// set, the results claim mounted at /results.
fn check_pod(job: &Value, claim: &str) {
    let run_id = &job["metadata"]["labels"]["skein.dev/run-id"];
    let template = &job["spec"]["template"];
    assert_eq!(&template["metadata"]["labels"]["skein.dev/run-id"], run_id);
    let pod = &template["spec"];
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["fsGroup"], 65532);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    let csc = &c["securityContext"];
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"]);
    assert!(c["resources"]["requests"]["cpu"].is_string(), "{c}");
    assert!(c["resources"]["requests"]["memory"].is_string(), "{c}");
    let mounts = c["volumeMounts"].as_array().unwrap();
    let results = mounts
        .iter()
        .find(|m| m["mountPath"] == "/results")
        .unwrap();
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == results["name"])
        .unwrap();
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], claim);
}

#[test]
fn shipped_files_are_the_render_of_the_documented_defaults() {
    let input = documented_input();
    skein::scenario::load(kube_dir().join("scenario.yaml"))
        .expect("deploy/kubernetes/scenario.yaml is a valid scenario");
    let files = k8s::base(&input).unwrap();
    let update = std::env::var_os("SKEIN_UPDATE_DEPLOY").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, text) in &files {
        let path = kube_dir().join(name);
        if update {
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/kubernetes/{{{}}} differ from `skein k8s render`'s output for the documented \
         defaults; if the change is intended, run `SKEIN_UPDATE_DEPLOY=1 cargo test --test \
         deploy` and commit the result",
        stale.join(",")
    );
    // Nothing else there but the scenario and the README.
    let mut names: Vec<String> = std::fs::read_dir(kube_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
    want.extend(["README.md".into(), "scenario.yaml".into()]);
    want.sort();
    assert_eq!(names, want);

    // The Jobs are render's own documents, byte for byte.
    let rendered = k8s::render(&input).unwrap();
    let parts: Vec<&str> = rendered.split("---\n").collect();
    let file = |n: &str| files.iter().find(|(f, _)| *f == n).unwrap().1.as_str();
    assert_eq!(parts[2], file("shards-job.yaml"));
    assert_eq!(parts[3], file("merge-job.yaml"));

    // The kustomization generates the ConfigMap the Jobs mount.
    let kustomization = &documents(file("kustomization.yaml"))[0];
    let generated = &kustomization["configMapGenerator"][0];
    assert_eq!(generated["name"], "skein-example-run-scenario");
    assert_eq!(strings(&generated["files"]), ["scenario.yaml"]);
    assert_eq!(
        strings(&kustomization["resources"]),
        ["shards-job.yaml", "merge-job.yaml"]
    );
    let pvc = &documents(file("pvc.yaml"))[0];
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);
    assert_eq!(pvc["metadata"]["name"], k8s::DEFAULT_PVC);
}

// --- The command line --------------------------------------------------------------------

/// The README's command for the shipped files writes the same Jobs.
#[test]
fn the_documented_command_renders_the_shipped_jobs() {
    let out = common::skein()
        .current_dir(repo())
        .args([
            "k8s",
            "render",
            "deploy/kubernetes/scenario.yaml",
            "--shards",
            "3",
            "--image",
            "registry.example.com/skein:0.1.0",
            "--start-at",
            "2030-01-01T00:00:00Z",
            "--run-id",
            "example-run",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = stdout.split("---\n").collect();
    assert_eq!(parts.len(), 4, "{stdout}");
    let read = |n: &str| std::fs::read_to_string(kube_dir().join(n)).unwrap();
    assert_eq!(parts[2], read("shards-job.yaml"));
    assert_eq!(parts[3], read("merge-job.yaml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "kubectl wait --for=condition=complete --timeout=1h job/skein-example-run-shards"
        ),
        "{stderr}"
    );
}

#[test]
fn start_in_is_now_plus_the_delay_in_whole_seconds_and_names_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Check Out.yaml");
    std::fs::write(&file, "name: x\n").unwrap();
    let out_file = dir.path().join("k8s.yaml");
    let before = chrono::Utc::now();
    let out = common::skein()
        .arg("k8s")
        .arg("render")
        .arg(&file)
        .args([
            "--shards",
            "2",
            "--image",
            "skein:dev",
            "--start-in",
            "90s",
            "-o",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    let after = chrono::Utc::now();
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(out.stdout.is_empty(), "-o writes the file only");
    let docs = documents(&std::fs::read_to_string(&out_file).unwrap());
    let args = strings(&docs[1]["spec"]["template"]["spec"]["containers"][0]["args"]);
    let start = k8s::parse_start_at(flag(&args, "--start-at")).unwrap();
    let secs = chrono::TimeDelta::seconds;
    assert!(
        start >= before + secs(90) && start <= after + secs(91),
        "{start}"
    );
    assert_eq!(start.timestamp_subsec_nanos(), 0);
    let run_id = flag(&args, "--run-id");
    assert_eq!(
        run_id,
        format!("check-out-{}", start.format("%Y%m%dt%H%M%Sz"))
    );
    let margs = strings(&docs[2]["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(margs[1], format!("/results/{run_id}"));
}

#[test]
fn invalid_input_exits_2_naming_the_flag_what_was_found_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(&scenario, "name: s\n").unwrap();
    let huge = dir.path().join("huge.yaml");
    std::fs::write(&huge, vec![b'#'; k8s::MAX_CONFIG_BYTES + 1]).unwrap();
    let half = dir.path().join("half.csv");
    std::fs::write(&half, vec![b'a'; k8s::MAX_CONFIG_BYTES / 2 + 1]).unwrap();
    let half2 = dir.path().join("half2.csv");
    std::fs::write(&half2, vec![b'b'; k8s::MAX_CONFIG_BYTES / 2]).unwrap();
    let s = scenario.to_str().unwrap();
    let long_id = "r".repeat(47);
    let missing = dir.path().join("missing.yaml");
    let cases: &[(&[&str], &[&str])] = &[
        (&[s, "--shards", "0"], &["--shards 0", "from 1 to 1000"]),
        (
            &[s, "--shards", "1001"],
            &["--shards 1001", "from 1 to 1000"],
        ),
        (&[s, "--shards", "many"], &["--shards", "many"]),
        (
            &[s, "--shards", "2", "--run-id", "Run_1"],
            &["--run-id \"Run_1\"", "expected a DNS label"],
        ),
        (
            &[s, "--shards", "2", "--run-id", &long_id],
            &["--run-id", "at most 46 characters"],
        ),
        (
            &[s, "--shards", "2", "--namespace", "Load Test"],
            &["--namespace \"Load Test\"", "expected a namespace name"],
        ),
        (
            &[s, "--shards", "2", "--image", "skein latest"],
            &["--image \"skein latest\"", "expected an image reference"],
        ),
        (
            &[s, "--shards", "2", "--start-at", "tomorrow"],
            &["--start-at \"tomorrow\"", "expected an RFC 3339 time"],
        ),
        (
            &[s, "--shards", "2", "--start-in", "5"],
            &["--start-in", "5"],
        ),
        (
            &[huge.to_str().unwrap(), "--shards", "2"],
            &[
                "huge.yaml",
                "1.0 MiB is more than a ConfigMap holds (1 MiB in all)",
            ],
        ),
        (
            &[
                s,
                "--shards",
                "2",
                "--feeder",
                half.to_str().unwrap(),
                "--feeder",
                half2.to_str().unwrap(),
            ],
            &[
                "come to 1.0 MiB",
                "expected at most 1 MiB",
                "half.csv 512.0 KiB",
            ],
        ),
        (
            &[s, "--shards", "2", "--feeder", "/etc/hostname"],
            &["--feeder /etc/hostname", "outside the scenario's folder"],
        ),
        (
            &[missing.to_str().unwrap(), "--shards", "2"],
            &["the scenario", "missing.yaml"],
        ),
    ];
    for (args, wants) in cases {
        let mut cmd = common::skein();
        cmd.args(["k8s", "render"]).args(*args);
        if !args.contains(&"--image") {
            cmd.args(["--image", "skein:dev"]);
        }
        let out = cmd.output().unwrap();
        let text = common::text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout: {text}");
        for want in *wants {
            assert!(text.contains(want), "{args:?}: {want:?} not in {text}");
        }
    }
}

// --- The Dockerfile ----------------------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') && cur.is_empty() || t.is_empty() {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head.trim_end());
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                let (op, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((op.to_ascii_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    assert!(
        cur.is_empty(),
        "a continuation at the end of the Dockerfile"
    );
    out
}

#[test]
fn the_dockerfile_builds_locked_and_ships_only_the_binary_as_non_root() {
    let text = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let ins = instructions(&text);
    let stages: Vec<usize> = (0..ins.len()).filter(|&i| ins[i].0 == "FROM").collect();
    assert_eq!(stages.len(), 2, "a build stage and a final stage: {ins:?}");
    assert_eq!(ins[stages[0]].1, "rust:1-bookworm AS build");
    assert_eq!(ins[stages[1]].1, "gcr.io/distroless/cc-debian12:nonroot");
    let (build, last) = (&ins[stages[0]..stages[1]], &ins[stages[1] + 1..]);

    let runs: Vec<&str> = build
        .iter()
        .filter(|(op, _)| op == "RUN")
        .map(|(_, a)| a.as_str())
        .collect();
    let all = runs.join(" ");
    assert!(
        all.contains("cargo build --release --locked --bin skein"),
        "{all}"
    );
    assert!(all.contains("strip "), "the binary is stripped: {all}");

    let ops: Vec<&str> = last.iter().map(|(op, _)| op.as_str()).collect();
    assert!(
        !ops.contains(&"RUN"),
        "nothing runs in the final stage (it has no shell)"
    );
    let copies: Vec<&str> = last
        .iter()
        .filter(|(op, _)| op == "COPY")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(
        copies,
        ["--from=build /skein /usr/local/bin/skein"],
        "one COPY: the binary"
    );
    let user: Vec<&str> = last
        .iter()
        .filter(|(op, _)| op == "USER")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(user, ["65532:65532"]);
    let entry = &last.iter().find(|(op, _)| op == "ENTRYPOINT").unwrap().1;
    let entry: Vec<String> = serde_json::from_str(entry)
        .unwrap_or_else(|_| panic!("ENTRYPOINT in exec form (a JSON array): {entry}"));
    assert_eq!(entry, ["/usr/local/bin/skein"]);
    assert_eq!(k8s::NONROOT, 65532, "the manifests run as the image's user");
}

/// What the build stage copies in is all `.dockerignore` lets through, and is enough for
/// cargo to resolve the locked build.
#[test]
fn the_docker_context_holds_what_the_locked_build_needs() {
    let text = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        rules[0], "*",
        "an allow-list: everything is ignored, then some let in"
    );
    let allowed: Vec<&str> = rules[1..]
        .iter()
        .map(|r| r.strip_prefix('!').unwrap())
        .collect();
    let sources: Vec<String> = instructions(&text)
        .into_iter()
        .filter(|(op, a)| op == "COPY" && !a.starts_with("--from"))
        .flat_map(|(_, a)| {
            let mut parts: Vec<String> = a.split_whitespace().map(str::to_string).collect();
            parts.pop();
            parts
        })
        .collect();
    let mut sources_sorted = sources.clone();
    sources_sorted.sort();
    let mut allowed_sorted: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    allowed_sorted.sort();
    assert_eq!(
        sources_sorted, allowed_sorted,
        "COPY sources = .dockerignore's allow-list"
    );

    let ctx = tempfile::tempdir().unwrap();
    for s in &sources {
        copy_tree(&repo().join(s), &ctx.path().join(s));
    }
    // `cargo fetch` reads every target of the manifest (a missing bench file fails it, as
    // it fails the build) and checks that Cargo.lock resolves as it is; offline, from the
    // crates this build already downloaded, for this machine's platform.
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ctx.path())
        .args(["fetch", "--locked", "--offline", "--target", host])
        .env("CARGO_TARGET_DIR", ctx.path().join("target"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo cannot resolve the build from the Docker context: {}",
        common::text(&out)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

// --- kubernetes-validate -----------------------------------------------------------------

/// `kubernetes-validate --strict` on `files`: its exit status and output.
fn validate(tool: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(tool)
        .args(["--strict", "-k", K8S_VERSION])
        .args(files)
        .output()
        .unwrap();
    (out.status.success(), common::text(&out))
}

#[test]
fn manifests_pass_strict_validation_against_the_kubernetes_schemas() {
    let Some(tool) = common::tool(&KUBERNETES_VALIDATE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, input) in [("full", full_input(4)), ("documented", documented_input())] {
        let p = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&p, k8s::render(&input).unwrap()).unwrap();
        files.push(p);
    }
    for (name, _) in k8s::base(&documented_input()).unwrap() {
        // Not an API kind: the validator has no schema for it, and only warns.
        if name != "kustomization.yaml" {
            files.push(kube_dir().join(name));
        }
    }
    let (ok, text) = validate(&tool, &files);
    assert!(ok, "kubernetes-validate --strict failed:\n{text}");
    // One "passed" line per resource and nothing else: an unknown kind only warns (exit 0).
    let mut want = Vec::new();
    for f in &files {
        for doc in documents(&std::fs::read_to_string(f).unwrap()) {
            want.push(format!(
                "INFO {} passed for resource {}/{} against version 1.30",
                f.display(),
                doc["kind"].as_str().unwrap().to_ascii_lowercase(),
                doc["metadata"]["name"].as_str().unwrap()
            ));
        }
    }
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, want, "kubernetes-validate's output:\n{text}");
    assert_eq!(want.len(), 3 + 3 + 4);
}

/// The validator really checks: an unknown field fails strict validation, and a kind it
/// has no schema for only warns, which is why the test above counts "passed" lines.
#[test]
fn strict_validation_fails_an_unknown_field_and_only_warns_on_an_unknown_kind() {
    let Some(tool) = common::tool(&KUBERNETES_VALIDATE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rendered = k8s::render(&documented_input()).unwrap();
    let typo = rendered.replacen("  backoffLimit: 0\n", "  backoffLimits: 0\n", 1);
    assert_ne!(typo, rendered);
    let bad = dir.path().join("typo.yaml");
    std::fs::write(&bad, typo).unwrap();
    let (ok, text) = validate(&tool, &[bad]);
    assert!(!ok, "an unknown field must fail --strict:\n{text}");
    assert!(
        text.contains("ERROR") && text.contains("'backoffLimits' was unexpected"),
        "{text}"
    );

    let (ok, text) = validate(&tool, &[kube_dir().join("kustomization.yaml")]);
    assert!(ok, "{text}");
    assert!(
        text.starts_with("WARN") && text.contains("Couldn't find schema for kind Kustomization"),
        "{text}"
    );
    assert!(!text.contains("passed"), "{text}");
}
