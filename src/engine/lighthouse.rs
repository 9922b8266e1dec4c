//! Lighthouse audits during a run (`lighthouse:` in the scenario): the real `lighthouse`
//! (npm) on headless Chromium, run as a child process on the run's own target, before the
//! load (the target idle) and in a thread of its own during the hold at full load, so the
//! load's users and timers are left alone.
//!
//! Every run of `lighthouse` is bounded: past the block's `timeout` (or when the run is
//! stopped) it is killed with every process under it (Chromium's included), found by
//! parent pid, and the run is recorded as failed with the reason. A failure is an error in
//! the results, never a hang and never a lost run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::metrics::lighthouse::{AuditRun, LighthouseResult, PageAudit, parse_report};
use crate::scenario::lighthouse::LighthousePlan;

/// Environment variable naming the `lighthouse` executable (wins over `PATH`).
pub const LIGHTHOUSE_VAR: &str = "SKEIN_LIGHTHOUSE";
/// Environment variable naming the Chromium (or Chrome) executable (wins over `PATH`).
pub const CHROMIUM_VAR: &str = "SKEIN_CHROMIUM";
/// Executables looked for on `PATH`, in order, when [`CHROMIUM_VAR`] is unset.
pub const CHROMIUM_COMMANDS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
/// The Lighthouse release Skein is tested with (Node 18.16 or later; Lighthouse 13 and
/// later need Node 22).
pub const PINNED: &str = "12.2.3";

/// How to install what is missing, in commands to copy.
pub fn install_help() -> String {
    format!(
        "install Node.js (18.16 or later; Debian 12: `apt-get install -y nodejs npm`), \
         Chromium and Lighthouse:\n    \
         apt-get install -y nodejs npm chromium\n    \
         npm install --prefix ~/.local/lighthouse lighthouse@{PINNED}\n    \
         export {LIGHTHOUSE_VAR}=~/.local/lighthouse/node_modules/.bin/lighthouse\n  \
         (or `npm install -g lighthouse@{PINNED}` to have `lighthouse` on PATH; Lighthouse 13 \
         and later need Node 22; set {CHROMIUM_VAR} to a Chrome or Chromium elsewhere)"
    )
}

/// The programs an audit needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Tools {
    pub lighthouse: PathBuf,
    pub chromium: PathBuf,
    /// `lighthouse --version`.
    pub version: String,
}

/// Find `lighthouse` ([`LIGHTHOUSE_VAR`], then `PATH`) and Chromium ([`CHROMIUM_VAR`], then
/// `PATH`: chromium, chromium-browser, google-chrome), and check that `lighthouse
/// --version` answers (Node works). The error says what is missing and how to install it.
pub fn find_tools() -> Result<Tools, String> {
    find_tools_with(&|k| std::env::var(k).ok())
}

/// [`find_tools`] with the environment read through `env`.
pub fn find_tools_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Tools, String> {
    let path = env("PATH").unwrap_or_default();
    let on_path = |name: &str| -> Option<PathBuf> {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    };
    let lighthouse = match env(LIGHTHOUSE_VAR).filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = PathBuf::from(&v);
            // A folder npm installed into is accepted too.
            let p = if p.is_dir() {
                p.join("node_modules/.bin/lighthouse")
            } else {
                p
            };
            if !is_executable(&p) {
                return Err(format!(
                    "{LIGHTHOUSE_VAR}={v} is not the lighthouse executable; {}",
                    install_help()
                ));
            }
            p
        }
        None => on_path("lighthouse").ok_or_else(|| {
            format!(
                "lighthouse not found (not on PATH, and {LIGHTHOUSE_VAR} is unset); {}",
                install_help()
            )
        })?,
    };
    let chromium = match env(CHROMIUM_VAR).filter(|v| !v.is_empty()) {
        Some(v) if is_executable(Path::new(&v)) => PathBuf::from(v),
        Some(v) => {
            return Err(format!(
                "{CHROMIUM_VAR}={v} is not an executable; {}",
                install_help()
            ));
        }
        None => CHROMIUM_COMMANDS
            .iter()
            .find_map(|c| on_path(c))
            .ok_or_else(|| {
                format!(
                    "Chromium not found (looked for {} on PATH, and {CHROMIUM_VAR} is unset); {}",
                    CHROMIUM_COMMANDS.join(", "),
                    install_help()
                )
            })?,
    };
    let version = version_of(&lighthouse, &path)?;
    Ok(Tools {
        lighthouse,
        chromium,
        version,
    })
}

/// `lighthouse --version`, within 30 s.
fn version_of(lighthouse: &Path, path: &str) -> Result<String, String> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let out = dir.join(format!(
        "skein-lighthouse-version-{}-{nanos}",
        std::process::id()
    ));
    // A new file only (O_EXCL): never one planted there, nor a link to elsewhere.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cmd = Command::new(lighthouse);
    cmd.arg("--version")
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::null());
    let status = bounded(&mut cmd, Duration::from_secs(30), &|| false);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    match status {
        Ok(true) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(format!(
            "`{} --version` failed (is Node.js 18.16 or later installed?); {}",
            lighthouse.display(),
            install_help()
        )),
        Err(e) => Err(format!(
            "`{} --version`: {e}; {}",
            lighthouse.display(),
            install_help()
        )),
    }
}

/// Run `cmd` in a process group of its own; wait at most `limit`, or until `cancel` says
/// so, then kill it and every process under it. `Ok(success)` when it ended by itself.
fn bounded(cmd: &mut Command, limit: Duration, cancel: &dyn Fn() -> bool) -> Result<bool, String> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Not in the terminal's group: Ctrl-C stops the run, which then stops this.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) => {}
            Err(e) => {
                kill_tree(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for it: {e}"));
            }
        }
        let late = started.elapsed() >= limit;
        if late || cancel() {
            kill_tree(child.id());
            let _ = child.kill();
            let _ = child.wait();
            return Err(if late {
                format!(
                    "timed out after {} s (killed with the processes it started)",
                    limit.as_secs()
                )
            } else {
                "the run was stopped (killed with the processes it started)".to_string()
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILL `pid` and every process under it (found by parent pid in /proc, all before the
/// first is killed, so none escapes to init first), and the process groups they lead
/// (Chromium's launcher starts it in a group of its own).
fn kill_tree(pid: u32) {
    let mut all = vec![pid];
    #[cfg(target_os = "linux")]
    {
        let mut parents: Vec<(u32, u32)> = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                    continue;
                };
                // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|s| s.parse::<u32>().ok());
                if let Some(pp) = ppid {
                    parents.push((p, pp));
                }
            }
        }
        let mut i = 0;
        while i < all.len() {
            let parent = all[i];
            for (p, pp) in &parents {
                if *pp == parent && !all.contains(p) {
                    all.push(*p);
                }
            }
            i += 1;
        }
    }
    for p in &all {
        let p = *p as libc::pid_t;
        // SAFETY: kill(2) on pids found above (and their groups); a pid that has gone
        // already gives ESRCH, which is ignored.
        unsafe {
            libc::kill(p, libc::SIGKILL);
            libc::kill(-p, libc::SIGKILL);
        }
    }
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

/// One audit to make.
pub struct Audit<'a> {
    pub tools: &'a Tools,
    pub plan: &'a LighthousePlan,
    /// The run folder: the report goes under `lighthouse/`.
    pub dir: &'a Path,
    /// The target's base URL.
    pub base_url: &'a str,
    pub page: &'a str,
    /// `before` or `during`.
    pub when: &'a str,
    /// 1-based.
    pub run: u32,
}

/// The file name of a page's reports: `/` is `root`, `/slow-page?x=1` `slow-page_x_1`.
pub fn page_stem(page: &str) -> String {
    let s: String = page
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "root".into() } else { s }
}

/// Run `lighthouse` once on `a`'s page: its figures, or the run marked failed with why.
/// Its HTML report is kept as `lighthouse/<page>-<when>-<run>.html`.
pub fn audit(a: &Audit<'_>, cancel: &dyn Fn() -> bool) -> (Instant, AuditRun) {
    let started = Instant::now();
    let folder = a.dir.join("lighthouse");
    let stem = format!("{}-{}-{}", page_stem(a.page), a.when, a.run);
    let mut run = AuditRun::default();
    let fail = |mut run: AuditRun, why: String| {
        run.took_ms = started.elapsed().as_millis() as u64;
        run.error = Some(why);
        (started, run)
    };
    if let Err(e) = std::fs::create_dir_all(&folder) {
        return fail(run, format!("creating {}: {e}", folder.display()));
    }
    let base = folder.join(&stem);
    let log = folder.join(format!("{stem}.log"));
    let Ok(log_file) = std::fs::File::create(&log) else {
        return fail(run, format!("creating {}", log.display()));
    };
    let url = format!("{}{}", a.base_url.trim_end_matches('/'), a.page);
    let mut cmd = Command::new(&a.tools.lighthouse);
    cmd.arg(&url)
        .arg("--output=json")
        .arg("--output=html")
        .arg(format!("--output-path={}", base.display()))
        .arg("--chrome-flags=--headless=new --no-sandbox --disable-gpu --no-first-run")
        .arg("--quiet")
        .arg(format!("--only-categories={}", a.plan.categories.join(",")))
        // Lighthouse's own page-load limit, inside ours.
        .arg(format!(
            "--max-wait-for-load={}",
            (a.plan.timeout.as_millis() / 2).min(45_000)
        ))
        .env("CHROME_PATH", &a.tools.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    match log_file.try_clone() {
        Ok(f) => {
            cmd.stderr(Stdio::from(f));
        }
        Err(_) => {
            cmd.stderr(Stdio::null());
        }
    }
    if a.plan.form_factor == "desktop" {
        cmd.arg("--preset=desktop");
    }
    let json_path = folder.join(format!("{stem}.report.json"));
    let html_path = folder.join(format!("{stem}.report.html"));
    let outcome = bounded(&mut cmd, a.plan.timeout, cancel);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let json = std::fs::read_to_string(&json_path);
    let _ = std::fs::remove_file(&json_path);
    let html_name = format!("{stem}.html");
    if std::fs::rename(&html_path, folder.join(&html_name)).is_ok() {
        run.report = Some(format!("lighthouse/{html_name}"));
    }
    let result = match (outcome, json) {
        (Err(e), _) => Err(format!("lighthouse {e}")),
        (Ok(_), Ok(text)) => parse_report(&text),
        (Ok(ok), Err(_)) => Err(format!(
            "lighthouse {} and wrote no report{}",
            if ok { "ended" } else { "failed" },
            tail(&log_text)
        )),
    };
    match result {
        Ok((scores, metrics)) => {
            let _ = std::fs::remove_file(&log);
            run.scores = scores;
            run.metrics = metrics;
            run.took_ms = started.elapsed().as_millis() as u64;
            (started, run)
        }
        Err(e) => {
            // The log stays beside the report for whoever looks into it.
            fail(run, e)
        }
    }
}

/// The last lines Lighthouse wrote on stderr, for an error message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(3);
    format!(": {}", lines[from..].join(" / "))
}

/// The runs of each page, in order, each with when it started.
pub type Audits = Vec<(String, Vec<(Instant, AuditRun)>)>;

/// Every audit of one moment (`before` or `during`): each page `runs` times, in turn.
/// Runs not made because `cancel` said so are recorded as failed, so every row shows.
pub fn audit_all(
    tools: &Tools,
    plan: &LighthousePlan,
    dir: &Path,
    base_url: &str,
    when: &str,
    cancel: &dyn Fn() -> bool,
    load_over: Option<&AtomicBool>,
) -> Audits {
    let mut out = Vec::new();
    for page in &plan.pages {
        let mut runs = Vec::new();
        for run in 1..=plan.runs {
            // A `during` audit not yet started when the load ends would audit an idle
            // target under the "under load" heading: it is not started.
            let why = if cancel() {
                Some("not run: the run was stopped")
            } else if load_over.is_some_and(|o| o.load(Ordering::Relaxed)) {
                Some("not run: the load had ended")
            } else {
                None
            };
            if let Some(why) = why {
                let r = AuditRun {
                    error: Some(why.into()),
                    ..AuditRun::default()
                };
                runs.push((Instant::now(), r));
                continue;
            }
            let a = Audit {
                tools,
                plan,
                dir,
                base_url,
                page,
                when,
                run,
            };
            runs.push(audit(&a, cancel));
        }
        out.push((page.clone(), runs));
    }
    out
}

/// Rows of `audits`, with each run's start as ms from `load_start`.
pub fn rows(when: &str, audits: Audits, load_start: Instant) -> Vec<PageAudit> {
    audits
        .into_iter()
        .map(|(page, runs)| {
            let runs = runs
                .into_iter()
                .map(|(at, mut r)| {
                    r.started_ms = if at >= load_start {
                        (at - load_start).as_millis() as i64
                    } else {
                        -((load_start - at).as_millis() as i64)
                    };
                    r
                })
                .collect();
            PageAudit::of_runs(&page, when, runs)
        })
        .collect()
}

/// The rows of a moment that could not be audited, each with `why`.
pub fn not_run(plan: &LighthousePlan, when: &str, why: &str) -> Vec<PageAudit> {
    plan.pages
        .iter()
        .map(|p| {
            let runs = (0..plan.runs)
                .map(|_| AuditRun {
                    error: Some(why.to_string()),
                    ..AuditRun::default()
                })
                .collect();
            PageAudit::of_runs(p, when, runs)
        })
        .collect()
}

/// What stops the audits early: a stop of the run from outside (Ctrl-C, a signal, an abort
/// check), not its normal end.
pub fn cancel_on(stop: &super::StopHandle) -> Arc<dyn Fn() -> bool + Send + Sync> {
    let stop = stop.clone();
    Arc::new(move || stop.stopped_at().is_some())
}

/// The audits of a run in progress: the `before` ones done, the `during` ones in a thread
/// of their own that waits for the hold. The engine makes them in a run of one process;
/// a `--workers` run's parent makes them itself, around its workers' load.
pub struct Session {
    tools: Option<Tools>,
    plan: LighthousePlan,
    not_measured: Option<String>,
    before: Audits,
    during: Option<std::thread::JoinHandle<Audits>>,
    /// Rows of audits that could not be made (the `before` ones of a run on a common start,
    /// the `during` ones when their thread could not start).
    during_failed: Vec<PageAudit>,
    /// Set when the load is over: a `during` thread still waiting for the hold gives up.
    load_over: Arc<AtomicBool>,
}

impl Session {
    /// Find the tools and make the `before` audits (the target idle), unless `skip_before`
    /// says why they cannot be made. Without the tools the session records why and audits
    /// nothing.
    pub fn before(
        plan: &LighthousePlan,
        dir: &Path,
        base_url: &str,
        cancel: &dyn Fn() -> bool,
        skip_before: Option<&str>,
    ) -> Session {
        let (tools, not_measured) = match find_tools() {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(format!("not measured: {e}"))),
        };
        let mut during_failed = Vec::new();
        let before = match (&tools, plan.before, skip_before) {
            (Some(_), true, Some(why)) => {
                during_failed = not_run(plan, "before", why);
                Vec::new()
            }
            (Some(t), true, None) => audit_all(t, plan, dir, base_url, "before", cancel, None),
            _ => Vec::new(),
        };
        Session {
            tools,
            plan: plan.clone(),
            not_measured,
            before,
            during: None,
            during_failed,
            load_over: Arc::default(),
        }
    }

    /// Start the `during` audits' thread: it waits until `hold_at`, then audits.
    pub fn start_during(
        &mut self,
        dir: &Path,
        base_url: &str,
        hold_at: Instant,
        cancel: Arc<dyn Fn() -> bool + Send + Sync>,
    ) {
        let (Some(tools), true) = (self.tools.clone(), self.plan.during) else {
            return;
        };
        let plan = self.plan.clone();
        let dir = dir.to_path_buf();
        let base_url = base_url.to_string();
        let over = self.load_over.clone();
        let handle = std::thread::Builder::new()
            .name("skein-lighthouse".into())
            .spawn(move || {
                while Instant::now() < hold_at {
                    if cancel() || over.load(Ordering::Relaxed) {
                        let why = if cancel() {
                            "not run: the run was stopped before its hold at full load"
                        } else {
                            "not run: the load ended before its hold at full load"
                        };
                        return not_run(&plan, "during", why)
                            .into_iter()
                            .map(|p| {
                                let runs = p.runs.into_iter().map(|r| (Instant::now(), r));
                                (p.page, runs.collect())
                            })
                            .collect();
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                audit_all(
                    &tools,
                    &plan,
                    &dir,
                    &base_url,
                    "during",
                    &*cancel,
                    Some(&over),
                )
            });
        match handle {
            Ok(h) => self.during = Some(h),
            Err(e) => {
                let why = format!("not run: could not start its thread: {e}");
                self.during_failed = not_run(&self.plan, "during", &why);
            }
        }
    }
}

/// A session dropped without [`Session::finish`] (the run failed on the way) starts no
/// further `during` audits; the one in progress ends within the block's timeout.
impl Drop for Session {
    fn drop(&mut self) {
        self.load_over.store(true, Ordering::Relaxed);
    }
}

impl Session {
    /// Wait for the `during` audits (each bounded by the block's timeout) and give every
    /// row, runs timed from `load_start`.
    pub fn finish(mut self, load_start: Instant) -> LighthouseResult {
        self.load_over.store(true, Ordering::Relaxed);
        let mut pages = rows("before", std::mem::take(&mut self.before), load_start);
        pages.append(&mut self.during_failed);
        pages.sort_by_key(|p| p.when != "before");
        if let Some(h) = self.during.take() {
            match h.join() {
                Ok(d) => pages.extend(rows("during", d, load_start)),
                Err(_) => pages.extend(not_run(
                    &self.plan,
                    "during",
                    "the Lighthouse thread panicked",
                )),
            }
        }
        LighthouseResult {
            version: self
                .tools
                .as_ref()
                .map(|t| t.version.clone())
                .unwrap_or_default(),
            form_factor: self.plan.form_factor.clone(),
            runs: self.plan.runs,
            pages,
            not_measured: self.not_measured.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_stems_are_file_names() {
        assert_eq!(page_stem("/"), "root");
        assert_eq!(page_stem("/slow-page"), "slow-page");
        assert_eq!(page_stem("/a/b?x=1"), "a_b_x_1");
    }

    #[test]
    fn missing_tools_say_how_to_install_them() {
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().to_string_lossy().into_owned();
        let e = find_tools_with(&|k| (k == "PATH").then(|| path.clone())).unwrap_err();
        assert!(e.contains("lighthouse not found"), "{e}");
        assert!(e.contains("npm install"), "{e}");
        assert!(e.contains(PINNED), "{e}");
        let e = find_tools_with(&|k| match k {
            "PATH" => Some(path.clone()),
            LIGHTHOUSE_VAR => Some("/nonexistent/lighthouse".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            e.contains("SKEIN_LIGHTHOUSE=/nonexistent/lighthouse"),
            "{e}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_past_its_limit_is_killed_with_its_children() {
        // A shell that starts a sleeping child in a new session of its own (as Chromium's
        // launcher does) and then waits: both must be gone after the limit.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "setsid sleep 300 & echo $! > {}; wait",
            pidfile.display()
        ));
        let t = Instant::now();
        let r = bounded(&mut cmd, Duration::from_millis(700), &|| false);
        assert!(r.unwrap_err().contains("timed out"));
        assert!(t.elapsed() < Duration::from_secs(5));
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: signal 0 only asks whether the pid exists.
        let alive = unsafe { libc::kill(child, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{child}/stat"))
                .unwrap_or_default()
                .contains(") Z");
        assert!(!alive, "the child {child} survived");
        // A cancel stops it too.
        let r = bounded(
            Command::new("sleep").arg("300"),
            Duration::from_secs(60),
            &|| true,
        );
        assert!(r.unwrap_err().contains("stopped"));
    }
}
