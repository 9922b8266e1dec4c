//! Issue 15 across separate network stacks: three shards, each in a network namespace of
//! its own (its own interfaces, addresses and hostname), started by
//! `deploy/ssh/skein-ssh.sh` with `ip netns exec` standing in for `ssh`, attack the demo
//! target in a fourth namespace across a bridge, and their merged folder holds exactly the
//! plan's requests from three shards.
//!
//! `tests/netns/topology.sh` builds the namespaces inside a private mount and network
//! namespace (`unshare -m -n`), so nothing touches this machine's network and all of it
//! goes when the script ends. Needs root; skips with a message where namespaces cannot be
//! made, unless `SKEIN_REQUIRE_TOOLS` asks for `netns`.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Tool, result_json};

const NETNS: Tool = Tool {
    name: "netns",
    purpose: "run shards in network namespaces of their own (issue 15)",
    path_var: "SKEIN_IP",
    commands: &["ip"],
    install: "apt-get install -y iproute2 (and run as root)",
};

/// 30 arrivals a second for 3 s: 90 iterations of one request, exactly.
const REQUESTS: u64 = 90;
/// The whole topology, run and merge included; past it the script's process group is
/// stopped (its traps kill the target and delete the namespaces).
const LIMIT: Duration = Duration::from_secs(150);

/// Whether namespaces can be made here; `false` after saying why not.
fn namespaces() -> bool {
    if common::tool(&NETNS).is_none() {
        return false;
    }
    let unshare = Command::new("unshare")
        .args(["-m", "-n", "true"])
        .stderr(Stdio::piped())
        .output();
    let why = match unshare {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "`unshare -m -n true` failed ({}: {})",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("`unshare` could not run ({e})"),
    };
    let why = format!(
        "netns: {why}, so this test cannot {}; it needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)",
        NETNS.purpose
    );
    let require = std::env::var(common::REQUIRE_TOOLS).unwrap_or_default();
    let require = require.trim();
    if matches!(require, "1" | "all" | "true" | "yes")
        || require.split(',').any(|t| t.trim() == NETNS.name)
    {
        panic!("{why}.\n  {} requires it", common::REQUIRE_TOOLS);
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    false
}

/// Signal the process group `pgid`.
fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Run `cmd` in a process group of its own for at most [`LIMIT`]: its exit code and output.
/// Past the limit the group gets SIGTERM, then SIGKILL 10 s later, and the test fails.
fn bounded(mut cmd: Command, log: &Path) -> (Option<i32>, String) {
    let file = fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + LIMIT;
    let mut terminated: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = fs::read_to_string(log).unwrap_or_default();
            assert!(
                terminated.is_none(),
                "ran past {LIMIT:?}; stopped:\n{output}"
            );
            return (status.code(), output);
        }
        match terminated {
            None if Instant::now() > deadline => {
                signal_group(child.id(), libc::SIGTERM);
                terminated = Some(Instant::now());
            }
            Some(t) if t.elapsed() > Duration::from_secs(10) => {
                signal_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                panic!(
                    "ran past {LIMIT:?} and ignored SIGTERM; killed:\n{}",
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/topology.sh")
}

#[test]
fn issue15_shards_in_three_network_namespaces_merge_exactly() {
    if !namespaces() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("netns.yaml");
    // The target URL comes from the topology (`--target`); this one is never used.
    fs::write(
        &scenario,
        "target: http://10.201.0.1\n\
         scenarios:\n\
         \x20 - name: health\n    steps: [{name: health, get: /health}]\n\
         load: {arrival_rate: 30/s, duration: 3s}\n\
         targets: [\"error_rate <= 1%\"]\n",
    )
    .unwrap();
    let id = format!("t15-netns-{}", std::process::id());
    let out = work.path().join("out");
    let mut cmd = Command::new(topology());
    cmd.arg("run")
        .arg(env!("CARGO_BIN_EXE_skein"))
        .arg(work.path().join("topology"))
        .arg("-f")
        .arg(&scenario)
        .arg("-o")
        .arg(&out)
        .args(["--start-in", "5s", "--timeout", "60s", "--run-id", &id])
        .args(["--", "--seed", "7"])
        .env_remove("SKEIN_SHARD_INDEX")
        .env_remove("SKEIN_RUN_ID");
    let (code, output) = bounded(cmd, &work.path().join("topology.log"));
    assert_eq!(code, Some(0), "topology.sh run:\n{output}");
    assert!(
        output.contains("target http://10.201.0.1:"),
        "the target serves on the bridge:\n{output}"
    );

    let merged_dir = out.join(&id);
    let merged = result_json(&merged_dir);
    assert_eq!(merged["overall"]["requests"], REQUESTS, "{output}");
    assert_eq!(merged["overall"]["errors"], 0, "{}", merged["overall"]);
    assert_eq!(merged["run"]["shards"]["count"], 3, "{}", merged["run"]);
    assert_eq!(
        merged["run"]["shards"]["merged"],
        serde_json::json!([0, 1, 2]),
        "{}",
        merged["run"]
    );
    // Each shard ran in its own namespace: its hostname is the namespace's.
    let mut shard_requests = 0;
    for i in 0..3 {
        let shard = result_json(&merged_dir.join(format!("shard-{i}")));
        assert_eq!(shard["run"]["shard"]["index"], i, "{}", shard["run"]);
        assert_eq!(
            shard["run"]["generator"]["hostname"],
            format!("s{i}"),
            "shard {i}: {}",
            shard["run"]["generator"]
        );
        shard_requests += shard["overall"]["requests"].as_u64().unwrap();
    }
    assert_eq!(shard_requests, REQUESTS);
    for file in ["summary.json", "junit.xml", "report.html"] {
        assert!(
            merged_dir.join(file).is_file(),
            "merged folder lacks {file}"
        );
    }
}
