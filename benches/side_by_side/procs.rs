//! The bench's child processes: each generator pinned with taskset, bounded in time and
//! measured with `wait4` (peak RSS, CPU time); and nginx, pinned to the server CPUs and
//! stopped however the bench ends: at the end or on error (drop), on SIGINT, SIGTERM or SIGHUP
//! (a handler kills it by id), and when the bench is killed outright (`PR_SET_PDEATHSIG`; with
//! one server CPU nginx runs as a single process, so nothing outlives the bench).

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::{count_cpus, tail, which};

const NGINX_CONF: &str = include_str!("nginx.conf");

/// What a finished child left.
pub struct Exited {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub rss_kb: u64,
    pub cpu_s: f64,
    pub wall_s: f64,
}

/// A command that dies with the bench (SIGKILL when this thread's process ends).
fn command(program: &OsStr) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// Run `program args` under `taskset -c <cpus>` with `env`, at most `limit_s` seconds; peak
/// RSS and CPU time come from `wait4`.
pub fn pinned(
    cpus: &str,
    program: &OsStr,
    args: &[String],
    env: &[(&str, &str)],
    limit_s: u64,
) -> Result<Exited, String> {
    let mut cmd = command("taskset".as_ref());
    cmd.arg("-c").arg(cpus).arg(program).args(args);
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let name = Path::new(program)
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
    let collect = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let (status, usage) = wait_bounded(&child, Duration::from_secs(limit_s));
    let wall_s = t0.elapsed().as_secs_f64();
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let Some(status) = status else {
        return Err(format!(
            "{name}: killed after {limit_s} s\n{}",
            tail(&stderr)
        ));
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    if code != 0 && !(name.starts_with("skein") && code == 1) {
        return Err(format!(
            "{name} exited with {code}\n{}{}",
            tail(&stdout),
            tail(&stderr)
        ));
    }
    Ok(Exited {
        code,
        stdout,
        stderr,
        rss_kb: usage.ru_maxrss as u64,
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        wall_s,
    })
}

/// Reap `child` with `wait4`, killing it once `limit` has passed. `None`: killed.
fn wait_bounded(child: &Child, limit: Duration) -> (Option<i32>, libc::rusage) {
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + limit;
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain integers; wait4 writes into both locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if killed { 0 } else { libc::WNOHANG };
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return (if killed { None } else { Some(status) }, usage);
        }
        if r < 0 {
            return (None, usage);
        }
        if Instant::now() >= deadline && !killed {
            // SAFETY: signalling our own, not yet reaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// nginx

/// The nginx executable: on the PATH or where Debian puts it (root's PATH has it, others'
/// may not).
pub fn find_nginx() -> Option<PathBuf> {
    which("nginx").or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
}

/// nginx in the foreground, pinned to the server CPUs; stopped on drop.
pub struct Nginx {
    child: Child,
    pub url: String,
    /// With `--tls`: the same route over TLS (HTTP/1.1 and HTTP/2, self-signed certificate).
    pub tls_url: Option<String>,
    pub version: String,
    dir: PathBuf,
}

impl Nginx {
    /// Start `nginx` (see [`find_nginx`]) pinned to `cpus`, with its files under `tmp`; with
    /// `tls`, also on a second port over TLS (a self-signed certificate made here, tls.rs).
    pub fn start(nginx: &Path, cpus: &str, tmp: &Path, tls: bool) -> Result<Nginx, String> {
        let dir = tmp.join("nginx");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port()?;
        let tls_port = match tls {
            // The kernel may hand the same free port out twice in a row.
            true => Some(loop {
                match free_port()? {
                    p if p != port => break p,
                    _ => {}
                }
            }),
            false => None,
        };
        let tls_server = match tls_port {
            Some(p) => crate::tls::nginx_server(p, &crate::tls::self_signed(&dir)?),
            None => String::new(),
        };
        let workers = count_cpus(cpus).unwrap_or(1);
        let conf = NGINX_CONF
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@WORKERS@", &workers.to_string())
            // One worker: a single process, which PR_SET_PDEATHSIG ends with the bench.
            .replace("@MASTER@", if workers > 1 { "on" } else { "off" })
            // The line of its own, not the comment that names it.
            .replace("\n@TLS@\n", &format!("\n{tls_server}\n"));
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)
            .map_err(|e| format!("writing {}: {e}", conf_path.display()))?;
        let version = Command::new(nginx)
            .arg("-v")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .replace("nginx version: ", "")
            })
            .unwrap_or_default();
        let mut cmd = command("taskset".as_ref());
        cmd.arg("-c").arg(cpus).arg(nginx);
        let args: [OsString; 6] = [
            "-p".into(),
            dir.clone().into(),
            "-e".into(),
            dir.join("error.log").into(),
            "-c".into(),
            conf_path.into(),
        ];
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.spawn().map_err(|e| format!("starting nginx: {e}"))?;
        let mut n = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            tls_url: tls_port.map(|p| format!("https://127.0.0.1:{p}/")),
            version,
            dir,
        };
        // nginx opens every listening socket before it serves any, so the plain port
        // answering means the TLS one listens too.
        n.wait_ready(port)?;
        // Known now, so that a signal handler can end them without looking anything up.
        let master = n.child.id() as libc::pid_t;
        for (slot, pid) in NGINX_PIDS
            .iter()
            .zip(std::iter::once(master).chain(children_of(master)))
        {
            slot.store(pid, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// Wait until nginx answers a GET with 200 (at most 5 s).
    fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.check_alive()?;
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                let mut answer = String::new();
                if s.write_all(req).is_ok() && s.read_to_string(&mut answer).is_ok() {
                    if answer.starts_with("HTTP/1.1 200") {
                        return Ok(());
                    }
                    return Err(format!("nginx answered {:?}", tail(&answer)));
                }
            }
            if Instant::now() >= deadline {
                return Err("nginx did not answer within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(s)) => Err(format!(
                "nginx exited ({s}); its log:\n{}",
                tail(&std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default())
            )),
            Err(e) => Err(format!("nginx: {e}")),
        }
    }

    /// Stop the master (it stops its workers); kill whatever is left of both.
    pub fn stop(&mut self) {
        for slot in &NGINX_PIDS {
            slot.store(0, Ordering::Relaxed);
        }
        let pid = self.child.id() as libc::pid_t;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let workers = children_of(pid);
        // SAFETY: signalling our own child and the workers it forked, by id.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for w in workers {
            if process_name(w).is_some_and(|n| n.starts_with("nginx")) {
                unsafe { libc::kill(w, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Processes whose parent is `pid` (from /proc).
fn children_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // Fields after the `(comm)`: state, then the parent's id.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
                == Some(pid)
        })
        .collect()
}

fn process_name(pid: libc::pid_t) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free loopback port: {e}"))
}

/// nginx's master (or single process) and its workers while it runs; 0 in unused slots.
static NGINX_PIDS: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];

/// On SIGINT, SIGTERM or SIGHUP: kill nginx by id and exit (the generators die with the bench
/// through `PR_SET_PDEATHSIG`).
pub fn stop_nginx_on_signals() {
    extern "C" fn on_signal(sig: libc::c_int) {
        for slot in &NGINX_PIDS {
            let pid = slot.load(Ordering::Relaxed);
            if pid > 0 {
                // SAFETY: kill and _exit are async-signal-safe; the ids are nginx's own.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        unsafe { libc::_exit(128 + sig) };
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only touches atomics and async-signal-safe calls.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}
