//! `--tls`: the closed-model rounds again over HTTPS, as rows `https/1.1` and `https/2`.
//!
//! nginx also listens on a second port with TLS (HTTP/1.1 and HTTP/2 by ALPN on one port),
//! with a self-signed P-256 certificate for 127.0.0.1 that `openssl` makes at start in the
//! bench's temporary folder. Each generator then runs against it at the same connections
//! and duration as the plain rows:
//!
//! - skein: `skein run` of a one-step scenario written here (`quick` has no TLS options) with
//!   `defaults: {insecure: true}`, and `http_version: "2"` for the HTTP/2 row;
//! - oha: `--insecure`, and `--http2` for the HTTP/2 row;
//! - wrk (HTTP/1.1 only): some builds have no TLS; a failure is reported and skipped;
//! - base (when `SKEIN_BASE_BIN` names an earlier build): the same scenario as skein.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::procs::Nginx;
use crate::{
    Ctx, Figures, Round, base_bin, oha_run, print_medians, print_ratios, print_table, skein_bin,
    skein_exec, tail, wrk_throughput,
};

/// A certificate and its key, PEM files.
pub struct Cert {
    cert: PathBuf,
    key: PathBuf,
}

/// Make a self-signed certificate for 127.0.0.1 (valid one day) under `dir` with `openssl`.
pub fn self_signed(dir: &Path) -> Result<Cert, String> {
    let c = Cert {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&c.key)
        .arg("-out")
        .arg(&c.cert)
        .output()
        .map_err(|e| format!("`--tls` needs openssl to make a certificate: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl req: {}\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    Ok(c)
}

/// nginx's second server: the plain one's route over TLS on `port`, HTTP/2 offered by ALPN
/// beside HTTP/1.1. nginx before 1.25.1 takes `http2` on `listen` (Debian 12 has 1.22);
/// later ones warn about it but still accept it.
pub fn nginx_server(port: u16, c: &Cert) -> String {
    format!(
        "  server {{\n    listen 127.0.0.1:{port} ssl http2 backlog=4096;\n    \
         ssl_certificate {};\n    ssl_certificate_key {};\n    \
         ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_cache shared:tls:10m;\n    \
         location / {{ default_type application/json; return 200 '{{\"ok\":true}}'; }}\n  }}",
        c.cert.display(),
        c.key.display()
    )
}

/// The two HTTPS rows, each `--rounds` times, with medians when more than one.
pub fn rounds(ctx: &Ctx, nginx: &mut Nginx) -> Result<(), String> {
    let url = ctx
        .tls_url
        .as_deref()
        .ok_or("`--tls`: nginx has no TLS port")?;
    for (row, h2) in [("https/1.1", false), ("https/2", true)] {
        let mut rounds = Vec::new();
        for round in 0..ctx.opts.rounds {
            rounds.push(round_of(ctx, nginx, url, row, h2, round)?);
        }
        if rounds.len() > 1 {
            print_medians(&rounds);
        }
    }
    Ok(())
}

fn round_of(
    ctx: &Ctx,
    nginx: &mut Nginx,
    url: &str,
    row: &str,
    h2: bool,
    round: usize,
) -> Result<Round, String> {
    let (c, s) = (ctx.opts.conns, ctx.opts.seconds);
    println!(
        "\n{row}, round {}/{}: {url}, {c} connections, {s} s, no think time, \
         self-signed certificate (not verified)",
        round + 1,
        ctx.opts.rounds
    );
    let mut figures = Round::new();
    let mut add = |tool: &'static str, got: Result<Figures, String>| {
        match got {
            Ok(f) => {
                figures.insert(tool, f);
            }
            Err(e) => println!("  {tool}: failed, skipped: {}", e.trim_end()),
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if let Some(w) = &ctx.wrk {
        if h2 {
            println!("  wrk: no HTTP/2, skipped");
        } else {
            nginx.check_alive()?;
            add("wrk", wrk_throughput(ctx, w, url));
        }
    }
    if let Some(o) = &ctx.oha {
        nginx.check_alive()?;
        let extra: &[&str] = if h2 {
            &["--insecure", "--http2"]
        } else {
            &["--insecure"]
        };
        add("oha", oha_run(ctx, o, url, c, None, extra));
    }
    if ctx.opts.wants("skein") {
        nginx.check_alive()?;
        add("skein", skein_tls(ctx, url, h2, round, &skein_bin()));
    }
    if let Some(bin) = base_bin().filter(|_| ctx.opts.wants("base")) {
        nginx.check_alive()?;
        add("base", skein_tls(ctx, url, h2, 200 + round, &bin));
    }
    print_table(&figures, false);
    print_ratios(&figures);
    Ok(figures)
}

/// `skein run` of a one-step scenario against `url`, certificate not verified, HTTP/2 with
/// `h2`, at the bench's connections and duration, with the binary `bin` (skein's, or the
/// earlier build `SKEIN_BASE_BIN` names).
fn skein_tls(
    ctx: &Ctx,
    url: &str,
    h2: bool,
    round: usize,
    bin: &std::ffi::OsStr,
) -> Result<Figures, String> {
    let (c, s) = (ctx.opts.conns, ctx.opts.seconds);
    let name = format!("tls-h{}-{round}", if h2 { 2 } else { 1 });
    let file = ctx.tmp.join(format!("{name}.yaml"));
    let version = if h2 { "\"2\"" } else { "\"1.1\"" };
    std::fs::write(
        &file,
        format!(
            "name: {name}\ntarget: {}\ndefaults: {{insecure: true, http_version: {version}}}\n\
             scenarios:\n  - name: get\n    steps:\n      - get: /\n\
             load: {{users: {c}, duration: {s}s}}\n",
            url.trim_end_matches('/')
        ),
    )
    .map_err(|e| format!("writing {}: {e}", file.display()))?;
    let dir = ctx.tmp.join(format!("skein-{name}"));
    let args = [
        "run".to_string(),
        file.display().to_string(),
        "-u".into(),
        c.to_string(),
        "-d".into(),
        format!("{s}s"),
        "-q".into(),
        "-o".into(),
        dir.display().to_string(),
    ];
    skein_exec(ctx, bin, &args, &dir)
}
