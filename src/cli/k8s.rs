//! `skein k8s render FILE --shards N --image IMG`: the Kubernetes manifests of one sharded
//! run, ready for `kubectl apply -f -`.
//!
//! Kubernetes starts the shards (an Indexed Job: one pod per index, `JOB_COMPLETION_INDEX`
//! picks each pod's shard) and Skein does the rest: every pod waits for one absolute start
//! time, writes its shard folder to a shared volume under one run id, and a second Job runs
//! `skein merge` on them once they are all done. Render picks that start time and run id
//! once, on the machine that renders, so all pods agree without talking to each other.
//!
//! [`render`] is pure (data in, YAML out; the start time is an input), so its output can be
//! snapshot-tested, and `deploy/kubernetes/` is its output for documented defaults
//! ([`base`]); `tests/deploy.rs` checks both, and validates them against the Kubernetes
//! schemas with `kubernetes-validate --strict`.
//!
//! The YAML is written here rather than by a serializer: block style, keys and plain words
//! as they are, every other string JSON-quoted (JSON strings are YAML flow scalars), so no
//! value can be read back as a number, a boolean, a date or another type.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::{Invalid, duration_arg, exit, parse_duration};

/// Shards a render accepts (one pod each).
pub const MAX_SHARDS: u32 = 1000;
/// What a ConfigMap may hold, keys and values together (the API server's limit).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// The longest run id: the shards Job is `skein-ID-shards` and its pods' host names are
/// `skein-ID-shards-999`, which must fit a DNS label of 63 characters.
pub const MAX_RUN_ID: usize = 63 - "skein--shards-999".len();
/// The results volume's claim, unless `--pvc` names another.
pub const DEFAULT_PVC: &str = "skein-results";
/// The user and group of the distroless `nonroot` image (`deploy/Dockerfile`).
pub const NONROOT: u32 = 65532;
/// Where the scenario's ConfigMap is mounted in every pod.
pub const SCENARIO_DIR: &str = "/scenario";
/// Where the results volume is mounted in every pod.
pub const RESULTS_DIR: &str = "/results";
/// The image of the pod that `kubectl cp` reads the results through (it needs `tar`, which
/// the distroless skein image does not have).
pub const RESULTS_POD_IMAGE: &str = "busybox:1.36";

#[derive(Args, Debug)]
pub struct K8sArgs {
    #[command(subcommand)]
    pub command: K8sCommand,
}

#[derive(Subcommand, Debug)]
pub enum K8sCommand {
    /// Write the manifests of a sharded run: the scenario's ConfigMap, an Indexed Job of N
    /// shards and a suspended merge Job, with one start time and one run id.
    Render(RenderArgs),
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Scenario file (YAML or JSON); its target must be a URL the pods reach (or use --target).
    pub scenario: PathBuf,
    /// Number of shards, one pod each (1 to 1000).
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// The skein image the pods run (built from deploy/Dockerfile), e.g. ghcr.io/acme/skein:0.1.0.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Start every shard this long after now (leave time for the pods to be scheduled and
    /// the image pulled).
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = duration_arg)]
    pub start_in: String,
    /// Start every shard at this time instead (RFC 3339, e.g. 2026-12-07T17:00:00Z).
    #[arg(long, value_name = "TIME", conflicts_with = "start_in")]
    pub start_at: Option<String>,
    /// The run id shared by all shards (a DNS label) [default: the scenario's name and the
    /// start time, e.g. checkout-20261207t170000z].
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Namespace of every object [default: kubectl's current namespace].
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// The ReadWriteMany claim that holds the results (deploy/kubernetes/pvc.yaml makes one).
    #[arg(long, default_value = DEFAULT_PVC, value_name = "NAME")]
    pub pvc: String,
    /// Send the load here instead of the scenario's target (a base URL).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// A file the scenario reads (a feeder's CSV), under the scenario's folder; it is
    /// mounted at the same place relative to the scenario (repeatable).
    #[arg(long = "feeder", value_name = "FILE")]
    pub feeders: Vec<PathBuf>,
    /// Let the merge Job merge the shards that finished when some did not (it says so).
    #[arg(long)]
    pub allow_missing: bool,
    /// Write the manifests to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A file mounted under [`SCENARIO_DIR`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its path under [`SCENARIO_DIR`], `/`-separated and relative: `checkout.yaml`,
    /// `data/users.csv`.
    pub path: String,
    pub text: String,
}

/// Everything a render depends on.
#[derive(Debug, Clone)]
pub struct K8sInput {
    pub scenario: ConfigFile,
    pub feeders: Vec<ConfigFile>,
    pub shards: u32,
    pub image: String,
    /// The common start time.
    pub start_at: DateTime<Utc>,
    /// Default: [`default_run_id`] of the scenario and the start time.
    pub run_id: Option<String>,
    pub namespace: Option<String>,
    pub pvc: String,
    pub target: Option<String>,
    pub allow_missing: bool,
}

/// `skein k8s ...`.
pub fn k8s(a: &K8sArgs) -> anyhow::Result<u8> {
    match &a.command {
        K8sCommand::Render(r) => render_command(r),
    }
}

fn render_command(a: &RenderArgs) -> anyhow::Result<u8> {
    let now = Utc::now();
    let start_at = start_time(a, now)?;
    let input = K8sInput {
        scenario: read_config_file("the scenario", &a.scenario, a.scenario_name()?)?,
        feeders: a
            .feeders
            .iter()
            .map(|f| read_config_file("--feeder", f, mount_path(&a.scenario, f)?))
            .collect::<Result<_, Invalid>>()?,
        shards: a.shards,
        image: a.image.clone(),
        start_at,
        run_id: a.run_id.clone(),
        namespace: a.namespace.clone(),
        pvc: a.pvc.clone(),
        target: a.target.clone(),
        allow_missing: a.allow_missing,
    };
    let yaml = render(&input)?;
    let run_id = input.run_id();
    let ns = input
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    if start_at < now {
        eprintln!(
            "warning: --start-at {} is in the past: every shard starts as soon as its pod \
             runs, and records how late that is",
            start_text(start_at)
        );
    }
    match &a.output {
        Some(path) => {
            std::fs::write(path, &yaml).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
                r => r.context("writing the manifests to stdout")?,
            }
        }
    }
    eprintln!(
        "run {run_id}: {} shards start at {}; then\n  kubectl{ns} wait --for=condition=complete \
         --timeout=1h job/skein-{run_id}-shards\n  kubectl{ns} patch job/skein-{run_id}-merge \
         --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'\n(deploy/kubernetes/README.md has \
         the rest)",
        a.shards,
        start_text(start_at)
    );
    Ok(exit::OK)
}

/// `--start-at`, or now plus `--start-in` in whole seconds, rounded up (it reads cleanly and
/// is never early).
fn start_time(a: &RenderArgs, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    if let Some(t) = &a.start_at {
        return parse_start_at(t);
    }
    let too_far = || Invalid(format!("--start-in {}: too far ahead", a.start_in));
    let d = parse_duration(&a.start_in).map_err(|e| Invalid(format!("--start-in {e}")))?;
    let t = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(too_far)?;
    let secs = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    DateTime::from_timestamp(secs, 0).ok_or_else(too_far)
}

impl RenderArgs {
    /// The scenario's file name, which it keeps under [`SCENARIO_DIR`].
    fn scenario_name(&self) -> Result<String, Invalid> {
        self.scenario
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Invalid(format!(
                    "{}: expected the path of a scenario file with a UTF-8 name",
                    self.scenario.display()
                ))
            })
    }
}

/// Read a file for the ConfigMap: at most [`MAX_CONFIG_BYTES`] of UTF-8 text.
fn read_config_file(what: &str, path: &Path, mount: String) -> Result<ConfigFile, Invalid> {
    let bad = |e: String| Invalid(format!("{what} {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("expected a regular file".into()));
    }
    if meta.len() > MAX_CONFIG_BYTES as u64 {
        return Err(bad(format!(
            "{} is more than a ConfigMap holds ({} in all)\n  hint: {}",
            crate::scenario::show_bytes(meta.len()),
            crate::scenario::show_bytes(MAX_CONFIG_BYTES as u64),
            TOO_BIG_HINT
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "not UTF-8 text (a byte 0x{:02x} at offset {}); a ConfigMap's data is text",
            e.as_bytes()[e.utf8_error().valid_up_to()],
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(ConfigFile { path: mount, text })
}

/// The note on the files of `deploy/kubernetes/` that `skein k8s render` does not print.
const GENERATED: &str = "# Generated from `skein k8s render`'s documented defaults (README.md); \
                         `SKEIN_UPDATE_DEPLOY=1\n# cargo test --test deploy` rewrites it.\n";

const TOO_BIG_HINT: &str = "build large feeder files into an image made FROM the skein image, \
     or copy them onto the results volume and name them by absolute path (/results/...) in the \
     scenario";

/// Where a feeder file goes under [`SCENARIO_DIR`]: its path relative to the scenario's
/// folder, as the scenario names it.
fn mount_path(scenario: &Path, feeder: &Path) -> Result<String, Invalid> {
    let canon = |p: &Path, what: &str| {
        std::fs::canonicalize(p).map_err(|e| Invalid(format!("{what} {}: {e}", p.display())))
    };
    let scenario_dir = canon(scenario, "the scenario")?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let file = canon(feeder, "--feeder")?;
    let outside = || {
        Invalid(format!(
            "--feeder {}: a file outside the scenario's folder {}; expected a file under it \
             (the scenario names feeder files relative to itself)\n  hint: move the file \
             under the scenario's folder and name it there in the scenario",
            feeder.display(),
            scenario_dir.display()
        ))
    };
    let rel = file.strip_prefix(&scenario_dir).map_err(|_| outside())?;
    let parts = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().ok_or_else(outside),
            _ => Err(outside()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join("/"))
}

/// `--start-at`: an RFC 3339 time, as UTC.
pub fn parse_start_at(s: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            let hint = if s.starts_with('+') {
                "\n  hint: a time relative to now is --start-in, e.g. --start-in 2m (each pod's \
                 own `now` would differ)"
            } else {
                ""
            };
            Invalid(format!(
                "--start-at {s:?}: {e}; expected an RFC 3339 time such as 2026-12-07T17:00:00Z{hint}"
            ))
        })
}

/// The start time as the pods get it: RFC 3339 in UTC, with fractions of a second only when
/// there are some.
pub fn start_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The run id when none is given: the scenario file's stem as a DNS label, and the start
/// time: `checkout-20261207t170000z`.
pub fn default_run_id(scenario_path: &str, start_at: DateTime<Utc>) -> String {
    let name = scenario_path.rsplit('/').next().unwrap_or(scenario_path);
    let stem = match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => name,
    };
    let mut label = String::new();
    for c in stem.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_alphanumeric() {
            label.push(c);
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    let when = start_at.format("%Y%m%dt%H%M%Sz").to_string();
    label.truncate(MAX_RUN_ID - when.len() - 1);
    let label = label.trim_end_matches('-');
    if label.is_empty() {
        format!("skein-{when}")
    } else {
        format!("{label}-{when}")
    }
}

impl K8sInput {
    /// The run id, given or default.
    pub fn run_id(&self) -> String {
        self.run_id
            .clone()
            .unwrap_or_else(|| default_run_id(&self.scenario.path, self.start_at))
    }
}

/// The manifests of one run, `---`-separated: the scenario's ConfigMap, the shards' Indexed
/// Job and the suspended merge Job.
pub fn render(input: &K8sInput) -> Result<String, Invalid> {
    let r = Run::check(input)?;
    Ok(join(&[r.config_map(), r.shards_job(), r.merge_job()]))
}

/// The files of `deploy/kubernetes/` (all but its README and scenario) for `input`: the
/// Jobs exactly as [`render`] writes them, the claim, the pod that `kubectl cp` reads the
/// results through, and a kustomization that generates the ConfigMap from the files.
pub fn base(input: &K8sInput) -> Result<Vec<(&'static str, String)>, Invalid> {
    let r = Run::check(input)?;
    Ok(vec![
        ("kustomization.yaml", r.kustomization()),
        ("merge-job.yaml", r.merge_job()),
        ("pvc.yaml", r.pvc()),
        ("results-pod.yaml", r.results_pod()),
        ("shards-job.yaml", r.shards_job()),
    ])
}

/// Documents joined into one multi-document stream.
fn join(docs: &[String]) -> String {
    docs.iter().map(|d| format!("---\n{d}")).collect()
}

/// A checked input, with the names derived from it.
struct Run<'a> {
    input: &'a K8sInput,
    run_id: String,
    start: String,
    /// ConfigMap key and mount path of each file, the scenario first.
    files: Vec<(String, &'a ConfigFile)>,
}

impl<'a> Run<'a> {
    fn check(input: &'a K8sInput) -> Result<Run<'a>, Invalid> {
        if !(1..=MAX_SHARDS).contains(&input.shards) {
            return Err(Invalid(format!(
                "--shards {}: expected a number of shards from 1 to {MAX_SHARDS} (one pod each)",
                input.shards
            )));
        }
        check_image(&input.image)?;
        let run_id = input.run_id();
        if !is_dns_label(&run_id) || run_id.len() > MAX_RUN_ID {
            return Err(Invalid(format!(
                "--run-id {run_id:?}: expected a DNS label of at most {MAX_RUN_ID} characters: \
                 lower-case letters, digits and `-`, starting and ending with a letter or digit\n  \
                 hint: the Job `skein-ID-shards` names its pods `skein-ID-shards-<index>`, which \
                 must be a host name of at most 63 characters"
            )));
        }
        if let Some(ns) = &input.namespace
            && !is_dns_label(ns)
        {
            return Err(Invalid(format!(
                "--namespace {ns:?}: expected a namespace name (a DNS label): at most 63 \
                 lower-case letters, digits and `-`, starting and ending with a letter or digit"
            )));
        }
        if !is_dns_subdomain(&input.pvc) {
            return Err(Invalid(format!(
                "--pvc {:?}: expected a claim name: lower-case letters, digits, `-` and `.`, \
                 starting and ending with a letter or digit, at most 253 characters",
                input.pvc
            )));
        }
        if let Some(t) = &input.target {
            check_target(t)?;
        }
        let files = config_files(input)?;
        Ok(Run {
            input,
            run_id,
            start: start_text(input.start_at),
            files,
        })
    }

    fn shards_name(&self) -> String {
        format!("skein-{}-shards", self.run_id)
    }

    fn merge_name(&self) -> String {
        format!("skein-{}-merge", self.run_id)
    }

    fn config_map_name(&self) -> String {
        format!("skein-{}-scenario", self.run_id)
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "skein",
            "app.kubernetes.io/component": component,
            "skein.dev/run-id": self.run_id,
        })
    }

    fn metadata(&self, name: &str, labels: Value) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        if let Some(ns) = &self.input.namespace {
            m.insert("namespace".into(), ns.as_str().into());
        }
        m.insert("labels".into(), labels);
        Value::Object(m)
    }

    /// `kubectl` with the namespace, for the comments.
    fn kubectl(&self) -> String {
        match &self.input.namespace {
            Some(ns) => format!("kubectl -n {ns}"),
            None => "kubectl".into(),
        }
    }

    fn config_map(&self) -> String {
        let data: Map<String, Value> = self
            .files
            .iter()
            .map(|(key, f)| (key.clone(), f.text.as_str().into()))
            .collect();
        let doc = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(&self.config_map_name(), self.labels("scenario")),
            "data": data,
        });
        format!(
            "# The scenario and the files it reads, mounted read-only at {SCENARIO_DIR} in every \
             pod.\n# Made by `skein k8s render`.\n{}",
            yaml(&doc)
        )
    }

    fn shards_job(&self) -> String {
        let n = self.input.shards;
        let mut args: Vec<Value> = vec![
            "run".into(),
            format!("{SCENARIO_DIR}/{}", self.input.scenario.path).into(),
            "--shard".into(),
            format!("auto/{n}").into(),
            "--run-id".into(),
            self.run_id.as_str().into(),
            "--start-at".into(),
            self.start.as_str().into(),
            "-o".into(),
            RESULTS_DIR.into(),
            "-q".into(),
        ];
        if let Some(t) = &self.input.target {
            args.extend(["--target".into(), t.as_str().into()]);
        }
        let labels = self.labels("shard");
        let spread = json!([{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        }]);
        let mut pod = self.pod_spec(args, json!({"cpu": "1", "memory": "512Mi"}), true);
        pod["topologySpreadConstraints"] = spread;
        let doc = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata(&self.shards_name(), labels.clone()),
            "spec": {
                "completionMode": "Indexed",
                "completions": n,
                "parallelism": n,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": pod,
                },
            },
        });
        format!(
            "# The load: {n} pods of `skein run --shard auto/{n}`, one per index of this Indexed \
             Job\n# (JOB_COMPLETION_INDEX). Each waits for {start}, then writes\n#   \
             {RESULTS_DIR}/{id}/shard-<index>\n# backoffLimit 0: a failed pod is not run again \
             late; it fails the Job.\n# Made by `skein k8s render`.\n{yaml}",
            start = self.start,
            id = self.run_id,
            yaml = yaml(&doc)
        )
    }

    fn merge_job(&self) -> String {
        let dir = format!("{RESULTS_DIR}/{}", self.run_id);
        let mut args: Vec<Value> = vec!["merge".into(), dir.as_str().into(), "-o".into()];
        args.push(dir.as_str().into());
        if self.input.allow_missing {
            args.push("--allow-missing".into());
        }
        let labels = self.labels("merge");
        let doc = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata(&self.merge_name(), labels.clone()),
            "spec": {
                "suspend": true,
                "completions": 1,
                "parallelism": 1,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": self.pod_spec(args, json!({"cpu": "250m", "memory": "256Mi"}), false),
                },
            },
        });
        format!(
            "# The verdict: merges the shard folders exactly and judges the targets once (exit 0 \
             pass,\n# 1 a target failed, 2 the shards do not belong together). Suspended: once \
             the shards\n# Job is complete, start it with\n#   {kubectl} patch job/{name} \
             --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'\n# Made by `skein k8s \
             render`.\n{yaml}",
            kubectl = self.kubectl(),
            name = self.merge_name(),
            yaml = yaml(&doc)
        )
    }

    /// The pod of either Job: non-root, read-only, no privileges, the results mounted (and
    /// the scenario, for the shards).
    fn pod_spec(&self, args: Vec<Value>, requests: Value, scenario: bool) -> Value {
        let mut mounts = vec![
            json!({"name": "results", "mountPath": RESULTS_DIR}),
            json!({"name": "tmp", "mountPath": "/tmp"}),
        ];
        let mut volumes = vec![
            json!({"name": "results", "persistentVolumeClaim": {"claimName": self.input.pvc}}),
            json!({"name": "tmp", "emptyDir": {}}),
        ];
        if scenario {
            let items: Vec<Value> = self
                .files
                .iter()
                .map(|(key, f)| json!({"key": key, "path": f.path}))
                .collect();
            mounts.insert(
                0,
                json!({"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": true}),
            );
            volumes.insert(
                0,
                json!({"name": "scenario", "configMap": {"name": self.config_map_name(), "items": items}}),
            );
        }
        json!({
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "securityContext": pod_security(),
            "containers": [{
                "name": "skein",
                "image": self.input.image,
                "args": args,
                "resources": {"requests": requests, "limits": {"memory": "1Gi"}},
                "securityContext": container_security(),
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        })
    }

    /// The metadata of the objects that hold the results (the claim, the pod that reads
    /// it): `name`, the namespace if given, and the results component's labels.
    fn results_metadata(&self, name: &str) -> Map<String, serde_json::Value> {
        let mut meta = Map::new();
        meta.insert("name".into(), name.into());
        if let Some(ns) = &self.input.namespace {
            meta.insert("namespace".into(), ns.as_str().into());
        }
        meta.insert(
            "labels".into(),
            json!({"app.kubernetes.io/name": "skein", "app.kubernetes.io/component": "results"}),
        );
        meta
    }

    fn pvc(&self) -> String {
        let meta = self.results_metadata(&self.input.pvc);
        let doc = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        });
        format!(
            "# The results volume every shard writes to and the merge reads: ReadWriteMany, \
             since the\n# shards run on different nodes (NFS, CephFS, EFS, Filestore, Azure \
             Files...). Apply it once;\n# it outlives the runs.\n{GENERATED}{}",
            yaml(&doc)
        )
    }

    fn results_pod(&self) -> String {
        let meta = self.results_metadata("skein-results");
        let doc = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": pod_security(),
                "containers": [{
                    "name": "results",
                    "image": RESULTS_POD_IMAGE,
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "securityContext": container_security(),
                    "volumeMounts": [
                        {"name": "results", "mountPath": RESULTS_DIR, "readOnly": true},
                    ],
                }],
                "volumes": [
                    {"name": "results", "persistentVolumeClaim": {"claimName": self.input.pvc}},
                ],
            },
        });
        format!(
            "# A pod to copy the results out through: `kubectl cp` needs `tar`, which the \
             skein image\n# (distroless) does not have. It mounts the results volume read-only \
             and sleeps an hour.\n{GENERATED}{}",
            yaml(&doc)
        )
    }

    fn kustomization(&self) -> String {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|(key, f)| {
                if *key == f.path {
                    key.as_str().into()
                } else {
                    format!("{key}={}", f.path).into()
                }
            })
            .collect();
        let mut doc = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["shards-job.yaml", "merge-job.yaml"],
            "configMapGenerator": [{"name": self.config_map_name(), "files": files}],
        });
        if let Some(ns) = &self.input.namespace {
            doc["namespace"] = ns.as_str().into();
        }
        format!(
            "# The run's ConfigMap, made from the files here, and its two Jobs (see README.md; \
             apply\n# pvc.yaml once first).\n{GENERATED}{}",
            yaml(&doc)
        )
    }
}

/// The pod-level security settings of every pod: the distroless `nonroot` user, the
/// runtime's default seccomp profile.
fn pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": NONROOT,
        "runAsGroup": NONROOT,
        "fsGroup": NONROOT,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// The container-level ones: no privileges, no capabilities, a read-only root.
fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// The scenario and feeder files with their ConfigMap keys; refuses duplicates, paths that
/// leave [`SCENARIO_DIR`], and more than [`MAX_CONFIG_BYTES`] in all.
fn config_files(input: &K8sInput) -> Result<Vec<(String, &ConfigFile)>, Invalid> {
    let mut files: Vec<(String, &ConfigFile)> = Vec::new();
    for (i, f) in std::iter::once(&input.scenario)
        .chain(&input.feeders)
        .enumerate()
    {
        let what = if i == 0 { "the scenario" } else { "--feeder" };
        let parts: Vec<&str> = f.path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(Invalid(format!(
                "{what} {:?}: expected a relative path under {SCENARIO_DIR} without `.` or `..`",
                f.path
            )));
        }
        let key: String = f
            .path
            .chars()
            .map(|c| match c {
                '/' => '.',
                c if c.is_ascii_alphanumeric() || "-._".contains(c) => c,
                _ => '_',
            })
            .collect();
        if let Some((_, other)) = files.iter().find(|(k, g)| *k == key || g.path == f.path) {
            return Err(Invalid(format!(
                "{what} {:?}: the same ConfigMap key ({key:?}) as {:?}; expected each file once, \
                 with names that differ in more than `/`, `.` and `_`",
                f.path, other.path
            )));
        }
        files.push((key, f));
    }
    let total: usize = files.iter().map(|(k, f)| k.len() + f.text.len()).sum();
    if total > MAX_CONFIG_BYTES {
        use crate::scenario::show_bytes;
        let each: Vec<String> = files
            .iter()
            .map(|(_, f)| format!("{} {}", f.path, show_bytes(f.text.len() as u64)))
            .collect();
        return Err(Invalid(format!(
            "the scenario and its files come to {} ({}); expected at most {}, what one ConfigMap \
             holds\n  hint: {TOO_BIG_HINT}",
            show_bytes(total as u64),
            each.join(", "),
            show_bytes(MAX_CONFIG_BYTES as u64)
        )));
    }
    Ok(files)
}

/// An image reference's characters: `registry/name:tag` or `name@sha256:...`.
fn check_image(image: &str) -> Result<(), Invalid> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    let ok = !image.is_empty()
        && image.len() <= 512
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image.chars().all(ok_char)
        && !image.ends_with([':', '@', '/']);
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "--image {image:?}: expected an image reference such as ghcr.io/acme/skein:0.1.0 \
             (letters, digits and `._-/:@`, starting with a letter or digit)"
        )))
    }
}

/// `--target`: an http or https URL with a host.
fn check_target(t: &str) -> Result<(), Invalid> {
    match url::Url::parse(t) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(Invalid(format!(
            "--target {t:?}: expected a base URL the pods can reach, such as \
             http://checkout.shop.svc:8080"
        ))),
    }
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let end = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(end)
        && b.last().is_some_and(end)
        && b.iter().all(|c| end(c) || *c == b'-')
}

/// A DNS-1123 subdomain: labels joined by `.`, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// `v` as block-style YAML (a mapping at the top).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, false, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(m: &Map<String, Value>, indent: usize, first_inline: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&word(k));
        out.push(':');
        write_value(v, indent, out);
    }
}

/// The value after a key or a `-`: a nested block on the next lines, or a scalar here.
fn write_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + 2, false, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                write_map(m, indent + 2, true, out);
            }
            other => write_value(other, indent, out),
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => word(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// A string as itself when YAML reads it back as that same string whatever the schema
/// (a word starting with a letter, not a YAML 1.1 boolean or null), else JSON-quoted.
fn word(s: &str) -> String {
    const SPECIAL: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> K8sInput {
        K8sInput {
            scenario: ConfigFile {
                path: "checkout.yaml".into(),
                text: "name: checkout\n".into(),
            },
            feeders: vec![],
            shards: 3,
            image: "ghcr.io/acme/skein:0.1.0".into(),
            start_at: parse_start_at("2026-12-07T17:00:00Z").unwrap(),
            run_id: None,
            namespace: None,
            pvc: DEFAULT_PVC.into(),
            target: None,
            allow_missing: false,
        }
    }

    #[test]
    fn words_stay_plain_and_everything_else_is_json_quoted() {
        for s in [
            "Job",
            "batch/v1",
            "app.kubernetes.io/name",
            "skein-x",
            "ReadWriteMany",
        ] {
            assert_eq!(word(s), s);
        }
        for (s, q) in [
            ("yes", r#""yes""#),
            ("Off", r#""Off""#),
            ("1", r#""1""#),
            ("512Mi", r#""512Mi""#),
            ("2026-12-07T17:00:00Z", r#""2026-12-07T17:00:00Z""#),
            ("/results", r#""/results""#),
            ("a: b", r#""a: b""#),
            ("", r#""""#),
            ("x\n\"y\"", r#""x\n\"y\"""#),
            ("-q", r#""-q""#),
        ] {
            assert_eq!(word(s), q, "{s:?}");
        }
    }

    #[test]
    fn yaml_is_block_style_with_sequences_of_maps_on_their_dash() {
        let v = json!({
            "a": 1,
            "b": {"c": true, "d": null, "e": {}, "f": []},
            "g": [{"h": "x", "i": ["w", 2]}, "z"],
        });
        let want = "a: 1\nb:\n  c: true\n  d: null\n  e: {}\n  f: []\ng:\n  - h: x\n    i:\n      \
                    - w\n      - 2\n  - z\n";
        assert_eq!(yaml(&v), want);
    }

    #[test]
    fn the_default_run_id_is_the_stem_and_the_start_as_a_dns_label() {
        let t = parse_start_at("2026-12-07T17:00:00+01:00").unwrap();
        assert_eq!(
            default_run_id("checkout.yaml", t),
            "checkout-20261207t160000z"
        );
        assert_eq!(
            default_run_id("My_Scenario v2.yml", t),
            "my-scenario-v2-20261207t160000z"
        );
        assert_eq!(default_run_id("__.yaml", t), "skein-20261207t160000z");
        let long = default_run_id(&"a-".repeat(60), t);
        assert!(long.len() <= MAX_RUN_ID && is_dns_label(&long), "{long}");
    }

    #[test]
    fn dns_names_are_checked() {
        assert!(is_dns_label("a") && is_dns_label("a-1") && is_dns_label(&"a".repeat(63)));
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_dns_subdomain("skein.results-1") && !is_dns_subdomain("a..b"));
    }

    #[test]
    fn start_at_takes_rfc_3339_and_points_a_relative_time_at_start_in() {
        let t = parse_start_at("2026-12-07T18:00:00.500+01:00").unwrap();
        assert_eq!(start_text(t), "2026-12-07T17:00:00.500Z");
        let e = parse_start_at("+90s").unwrap_err().0;
        assert!(
            e.contains("--start-at \"+90s\"") && e.contains("--start-in"),
            "{e}"
        );
    }

    #[test]
    fn input_is_checked_and_each_error_names_its_flag() {
        type Change = Box<dyn Fn(&mut K8sInput)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|i| i.shards = 0), "--shards 0: expected"),
            (Box::new(|i| i.shards = 1001), "--shards 1001"),
            (Box::new(|i| i.image = "a b".into()), "--image \"a b\""),
            (
                Box::new(|i| i.run_id = Some("Run_1".into())),
                "--run-id \"Run_1\"",
            ),
            (Box::new(|i| i.run_id = Some("a".repeat(47))), "at most 46"),
            (
                Box::new(|i| i.namespace = Some("NS".into())),
                "--namespace \"NS\"",
            ),
            (Box::new(|i| i.pvc = "a/b".into()), "--pvc \"a/b\""),
            (
                Box::new(|i| i.target = Some("ftp://x".into())),
                "--target \"ftp://x\"",
            ),
            (
                Box::new(|i| i.scenario.text = "x".repeat(MAX_CONFIG_BYTES)),
                "expected at most 1 MiB",
            ),
            (
                Box::new(|i| {
                    i.feeders.push(ConfigFile {
                        path: "../u.csv".into(),
                        text: String::new(),
                    })
                }),
                "--feeder \"../u.csv\"",
            ),
            (
                Box::new(|i| {
                    i.feeders.push(ConfigFile {
                        path: "checkout.yaml".into(),
                        text: String::new(),
                    })
                }),
                "the same ConfigMap key",
            ),
        ];
        for (change, want) in cases {
            let mut i = input();
            change(&mut i);
            let e = render(&i).unwrap_err().0;
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
        let mut i = input();
        i.run_id = Some("a".repeat(MAX_RUN_ID));
        i.shards = MAX_SHARDS;
        render(&i).unwrap();
    }

    #[test]
    fn feeders_keep_their_folder_under_the_scenario_and_get_a_flat_key() {
        let mut i = input();
        i.feeders.push(ConfigFile {
            path: "data/users.csv".into(),
            text: "id\n1\n".into(),
        });
        let out = render(&i).unwrap();
        assert!(out.contains("data.users.csv: \"id\\n1\\n\""), "{out}");
        assert!(out.contains("- key: data.users.csv\n                path: data/users.csv"));
    }
}
