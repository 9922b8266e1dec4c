//! Helpers shared by integration tests (`mod common;` in a test file).
//!
//! [`tool`] finds an outside program a test needs (headless Chromium today; Prometheus,
//! Slurm or Lighthouse tomorrow). On a machine with Rust only, `cargo test` must pass, so a
//! test whose tool is missing prints why it skipped, on stderr, and passes. CI exports
//! `SKEIN_REQUIRE_TOOLS=1` (see `.ci/run`), which turns a missing tool into a failure, so
//! what CI checks cannot silently shrink.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The `skein` binary of this build.
pub fn skein() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_skein"))
}

/// Stdout then stderr of a finished command, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one run folder under `out`.
pub fn only_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a run folder")
}

/// A run folder's `result.json`.
pub fn result_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap()
}

/// The switch that makes a missing tool fail its test instead of skipping it: `1` (or
/// `all`) for every tool, or a comma-separated list of tool names (`chromium,prometheus`).
/// Unset, empty or `0`: every missing tool is skipped.
pub const REQUIRE_TOOLS: &str = "SKEIN_REQUIRE_TOOLS";

/// An outside program a test needs.
pub struct Tool {
    /// Its name in [`REQUIRE_TOOLS`] and in messages: `chromium`.
    pub name: &'static str,
    /// What the test does with it, for the skip message: `render report.html`.
    pub purpose: &'static str,
    /// An environment variable holding its path, which wins over `PATH`: `SKEIN_CHROMIUM`.
    pub path_var: &'static str,
    /// Executables looked for on `PATH`, in order.
    pub commands: &'static [&'static str],
    /// How to install it: `apt-get install -y chromium`.
    pub install: &'static str,
}

/// What looking for a tool came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(PathBuf),
    /// Missing, and not required: the test passes without running; the message says why.
    Skip(String),
    /// Missing and required, or its path variable names no file: the test fails.
    Fail(String),
}

/// The path of `tool`, or `None` after printing `SKIPPED: ...` on stderr (the test then
/// returns early and passes). Panics with the same message and a hint when the tool is
/// required ([`REQUIRE_TOOLS`]) or its path variable points at nothing.
pub fn tool(tool: &Tool) -> Option<PathBuf> {
    match lookup(
        tool,
        std::env::var_os(tool.path_var).as_deref(),
        std::env::var_os("PATH").as_deref(),
        std::env::var_os(REQUIRE_TOOLS).as_deref(),
    ) {
        Lookup::Found(p) => Some(p),
        Lookup::Skip(why) => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of a
            // passing test, and a skip must be seen.
            let _ = writeln!(std::io::stderr(), "{why}");
            None
        }
        Lookup::Fail(why) => panic!("{why}"),
    }
}

/// [`tool`]'s decision, from the values of `tool.path_var`, `PATH` and [`REQUIRE_TOOLS`].
pub fn lookup(
    tool: &Tool,
    path_var: Option<&OsStr>,
    path: Option<&OsStr>,
    require: Option<&OsStr>,
) -> Lookup {
    if let Some(p) = path_var.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Lookup::Found(p)
        } else {
            Lookup::Fail(format!(
                "{}={} is not a file; point it at the {} executable, or unset it to look on PATH",
                tool.path_var,
                p.display(),
                tool.name
            ))
        };
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for name in tool.commands {
        if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)) {
            return Lookup::Found(p);
        }
    }
    let why = format!(
        "{} not found (looked for {} on PATH, and {} is unset), so this test cannot {}",
        tool.name,
        tool.commands.join(", "),
        tool.path_var,
        tool.purpose
    );
    if required(tool.name, require) {
        Lookup::Fail(format!(
            "{why}.\n  {REQUIRE_TOOLS} requires it (CI sets it); install it with `{}`, or set {} \
             to its path",
            tool.install, tool.path_var
        ))
    } else {
        Lookup::Skip(format!(
            "SKIPPED: {why}; install it with `{}` (or set {}). Set {REQUIRE_TOOLS}=1 to make this \
             a failure, as CI does.",
            tool.install, tool.path_var
        ))
    }
}

/// Whether [`REQUIRE_TOOLS`] (`require`) asks for `name`.
fn required(name: &str, require: Option<&OsStr>) -> bool {
    let v = require.map(OsStr::to_string_lossy).unwrap_or_default();
    let v = v.trim();
    matches!(v, "1" | "all" | "true" | "yes")
        || v.split(',').any(|t| t.trim().eq_ignore_ascii_case(name))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// A TLS server's configuration with the test certificate for 127.0.0.1 (signed by the
/// test CA in `tests/fixtures/tls`), offering the protocols in `alpn`, in order.
pub fn tls_server_config(alpn: &[&[u8]]) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures.join("server.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

/// One gzip member of 1 MiB of zeros (about 1 KB), made once.
pub fn gzip_member() -> &'static [u8] {
    static MEMBER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MEMBER.get_or_init(|| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        gz.finish().unwrap()
    })
}

/// Lighthouse (npm) for `lighthouse:` runs: `SKEIN_LIGHTHOUSE` (the `lighthouse`
/// executable), else `lighthouse` on PATH. `.ci/run` installs the pinned release.
pub const LIGHTHOUSE: Tool = Tool {
    name: "lighthouse",
    purpose: "audit pages with the real Lighthouse",
    path_var: "SKEIN_LIGHTHOUSE",
    commands: &["lighthouse"],
    install: "apt-get install -y nodejs npm chromium && npm install --prefix DIR lighthouse@12.2.3 \
              && export SKEIN_LIGHTHOUSE=DIR/node_modules/.bin/lighthouse",
};

/// The Chromium Lighthouse drives.
pub const LIGHTHOUSE_CHROMIUM: Tool = Tool {
    name: "chromium",
    purpose: "audit pages with the real Lighthouse (it drives headless Chromium)",
    path_var: "SKEIN_CHROMIUM",
    commands: &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ],
    install: "apt-get install -y chromium",
};

/// Lighthouse and Chromium, or `None` after saying why this test skips (or a panic where
/// `SKEIN_REQUIRE_TOOLS` requires them).
pub fn lighthouse_tools() -> Option<(PathBuf, PathBuf)> {
    let lh = tool(&LIGHTHOUSE)?;
    let chromium = tool(&LIGHTHOUSE_CHROMIUM)?;
    Some((lh, chromium))
}
