//! Reports rendered from a hand-built run (`tests/fixtures/results/report-fixture`), checked
//! as a person would: every file is written, PNGs decode at 1000x500 and are not blank, SVGs
//! carry their titles, Markdown and JUnit match their snapshots, JUnit is well-formed XML,
//! an empty run still draws "no data" charts, and headless Chromium renders `report.html`
//! without errors. Where Chromium is missing that test says `SKIPPED: ...` on stderr and
//! passes, unless `SKEIN_REQUIRE_TOOLS` is set (CI sets it), which makes it fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skein::metrics::{self, RunResult, Summary, Verdict};
use skein::report::{self, charts, html, junit, markdown};

const CHART_TITLES: [&str; 5] = [
    "Latency over time",
    "Throughput (requests/s) and active users",
    "Errors over time",
    "Latency by percentile",
    "p95 by endpoint",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/report-fixture")
}

fn fixture() -> (RunResult, Verdict) {
    let dir = fixture_dir();
    let result = metrics::load_result(&dir).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let verdict: Verdict = serde_json::from_str(&text).unwrap();
    (result, verdict)
}

/// The fixture with nothing measured: no requests, no intervals, no targets.
fn empty_run() -> (RunResult, Verdict) {
    let (mut r, v) = fixture();
    r.overall = Summary::default();
    r.steps.clear();
    r.scenarios.clear();
    r.timeseries.clear();
    r.error_examples.clear();
    r.run.peak_users = 0;
    r.run.duration_us = 0;
    let v = Verdict {
        targets: Vec::new(),
        passed: true,
        ..v
    };
    (r, v)
}

/// Width, height and pixels (RGB or RGBA, 8 bits) of a PNG.
fn decode_png(bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    let channels = info.color_type.samples();
    buf.truncate(info.buffer_size());
    (info.width, info.height, channels, buf)
}

/// Share of pixels that are not (near) white, and whether more than one colour occurs.
fn ink(channels: usize, px: &[u8]) -> (f64, bool) {
    let mut inked = 0usize;
    let mut total = 0usize;
    let first = &px[..channels.min(3)];
    let mut varied = false;
    for p in px.chunks_exact(channels) {
        total += 1;
        if p[..3.min(channels)].iter().any(|&c| c < 235) {
            inked += 1;
        }
        if !varied && &p[..channels.min(3)] != first {
            varied = true;
        }
    }
    (inked as f64 / total.max(1) as f64, varied)
}

#[test]
fn fixture_renders_every_report_file() {
    let (result, verdict) = fixture();
    let out = tempfile::tempdir().unwrap();
    let written =
        report::write_all(out.path(), &result, &verdict, None).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "summary.json",
        "junit.xml",
        "report.md",
        "report.html",
        "latency.svg",
        "latency.png",
        "throughput.svg",
        "throughput.png",
        "errors.svg",
        "errors.png",
        "spectrum.svg",
        "spectrum.png",
        "endpoints.svg",
        "endpoints.png",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
        assert!(out.path().join(want).is_file(), "{want} not on disk");
    }

    for (name, title) in ["latency", "throughput", "errors", "spectrum", "endpoints"]
        .iter()
        .zip(CHART_TITLES)
    {
        let png = std::fs::read(out.path().join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png signature");
        let (w, h, channels, px) = decode_png(&png);
        assert_eq!((w, h), (1000, 500), "{name}.png size");
        let (share, varied) = ink(channels, &px);
        assert!(
            varied && share > 0.02,
            "{name}.png looks blank ({share:.3} inked)"
        );

        let svg = std::fs::read_to_string(out.path().join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg"),
            "{name}.svg: {}",
            &svg[..40.min(svg.len())]
        );
        assert!(
            svg.contains("viewBox=\"0 0 1000 500\""),
            "{name}.svg viewBox"
        );
        assert!(svg.contains("<title>"), "{name}.svg has no <title>");
        assert!(
            svg.contains(&xml_text(title)),
            "{name}.svg lacks its title {title:?}"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{name}.svg is cut short"
        );
    }

    let summary = std::fs::read_to_string(out.path().join("summary.json")).unwrap();
    let back: Verdict = serde_json::from_str(&summary).unwrap();
    assert_eq!(back, verdict);

    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert_eq!(md, markdown::render(&result, &verdict));

    // To look at the files: SKEIN_REPORT_OUT=/some/dir cargo test --test report
    if let Some(dir) = std::env::var_os("SKEIN_REPORT_OUT") {
        report::write_all(Path::new(&dir), &result, &verdict, None).unwrap();
        let (empty, none) = empty_run();
        report::write_all(&Path::new(&dir).join("empty"), &empty, &none, None).unwrap();
    }
}

/// Text as plotters writes it into SVG (`&` escaped).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
}

#[test]
fn markdown_report_snapshot() {
    let (result, verdict) = fixture();
    insta::assert_snapshot!("report_md", markdown::render(&result, &verdict));
}

#[test]
fn junit_snapshot_and_well_formed() {
    let (result, verdict) = fixture();
    let xml = junit::render(&result, &verdict);
    check_xml(&xml).unwrap_or_else(|e| panic!("junit.xml is not well-formed: {e}\n{xml}"));
    assert_eq!(xml.matches("<testcase ").count(), verdict.targets.len());
    assert_eq!(xml.matches("<failure ").count(), 2);
    assert!(xml.contains("type=\"not_measured\""));
    insta::assert_snapshot!("junit_xml", xml);
}

#[test]
fn junit_without_targets_has_one_passing_case() {
    let (result, verdict) = fixture();
    let none = Verdict {
        targets: Vec::new(),
        passed: true,
        ..verdict
    };
    let xml = junit::render(&result, &none);
    check_xml(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(xml.matches("<testcase ").count(), 1);
    assert!(xml.contains("name=\"run completed\""));
    assert!(!xml.contains("<failure"));
}

#[test]
fn github_summary_and_annotations() {
    let (result, verdict) = fixture();
    let gh = report::github(&result, &verdict);
    assert_eq!(gh.step_summary, markdown::render(&result, &verdict));
    assert!(gh.step_summary.len() < 1024 * 1024);
    assert_eq!(gh.annotations.len(), verdict.failed().count());
    for a in &gh.annotations {
        assert!(a.starts_with("::error title=skein target "), "{a}");
        assert!(!a.contains('\n'), "{a}");
        let (props, _msg) = a["::error ".len()..].split_once("::").unwrap();
        assert!(
            !props["title=".len()..].contains(':'),
            "unescaped ':' in {props}"
        );
    }
    assert!(
        gh.annotations[0].contains("measured 432.6ms, expected < 250ms"),
        "{}",
        gh.annotations[0]
    );
    assert!(
        gh.annotations[1].contains("not measured"),
        "{}",
        gh.annotations[1]
    );
}

#[test]
fn empty_run_draws_no_data_charts() {
    let (result, verdict) = empty_run();
    let rendered = charts::render_all(&result, &verdict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rendered.len(), 5);
    for c in &rendered {
        assert!(c.svg.contains("no data"), "{} does not say no data", c.name);
        let (w, h, ..) = decode_png(&c.png);
        assert_eq!((w, h), (1000, 500));
    }
    let page = html::render_with_charts(&result, &verdict, &rendered);
    assert!(page.contains("NO TARGETS"));
    let out = tempfile::tempdir().unwrap();
    report::write_all(out.path(), &result, &verdict, None).unwrap_or_else(|e| panic!("{e}"));
    let xml = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(xml.contains("run completed"));
}

/// A one-second run whose targets are far above what it measured.
fn short_run() -> (RunResult, Verdict) {
    let (mut r, mut v) = fixture();
    r.timeseries.truncate(1);
    for s in &mut r.steps {
        s.timeseries.truncate(1);
    }
    r.run.duration_us = 1_000_000;
    for t in &mut v.targets {
        if t.metric.starts_with("response_time") {
            t.threshold = 60_000_000.0;
        }
    }
    (r, v)
}

#[test]
fn one_second_run_with_distant_targets_draws() {
    let (result, verdict) = short_run();
    let rendered = charts::render_all(&result, &verdict).unwrap_or_else(|e| panic!("{e}"));
    let latency = &rendered[0];
    assert!(
        latency.svg.contains("(far above)"),
        "the off-chart target is named"
    );
    assert!(
        latency.svg.contains("<circle"),
        "a single interval is drawn as points"
    );
    if let Some(dir) = std::env::var_os("SKEIN_REPORT_OUT") {
        report::write_all(&Path::new(&dir).join("short"), &result, &verdict, None).unwrap();
    }
}

#[test]
fn write_errors_name_the_path() {
    let (result, verdict) = fixture();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let err = report::write_all(&file, &result, &verdict, None).unwrap_err();
    assert!(
        matches!(err, report::ReportError::CreateDir { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}

#[test]
fn html_is_self_contained_and_escaped() {
    let (result, verdict) = fixture();
    let page = html::render(&result, &verdict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.matches("<svg").count(), 5, "one inline SVG per chart");
    assert_eq!(
        page.matches("<title>").count(),
        6,
        "page title + one per chart"
    );
    // Nothing is fetched: no script, stylesheet, import, image or remote link.
    for bad in [
        "<script",
        "<link",
        "@import",
        "url(",
        "src=",
        "href=\"http",
        "<img",
    ] {
        let hits: Vec<_> = page
            .match_indices(bad)
            .map(|(i, _)| &page[i..(i + 60).min(page.len())])
            .collect();
        assert!(hits.is_empty(), "{bad} in report.html: {hits:?}");
    }
    // The scenario's `<script>` note and error messages are shown escaped.
    assert!(page.contains("&lt;script&gt;alert("));
    assert!(page.contains("upstream &amp; db pool"));
    assert!(page.contains("FAILED"));
    assert!(page.contains("not measured"));
    assert!(page.contains("TLS verification was off"));
}

// ---- headless Chromium ------------------------------------------------------------------

/// Headless Chromium: `SKEIN_CHROMIUM`, else the first of these on `PATH`.
const CHROMIUM: common::Tool = common::Tool {
    name: "chromium",
    purpose: "check that report.html renders in a headless browser",
    path_var: "SKEIN_CHROMIUM",
    commands: &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ],
    install: "apt-get install -y chromium fonts-dejavu-core fontconfig",
};

/// Run Chromium headless with `extra` arguments on `url`; returns (stdout, stderr).
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], url: &str) -> (String, String) {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null());
    let out_file = profile.join("chromium.out");
    let err_file = profile.join("chromium.err");
    cmd.stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromium: {e}"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stdout = std::fs::read_to_string(&out_file).unwrap_or_default();
            let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
            assert!(status.success(), "chromium failed ({status}):\n{stderr}");
            return (stdout, stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Console lines in Chromium's log. The report has no script, so any console output at all
/// is unexpected (Chromium logs `console.error` and uncaught exceptions at INFO level).
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[test]
fn html_renders_in_headless_chromium() {
    // Skipped, saying so, where Chromium is missing; required in CI (SKEIN_REQUIRE_TOOLS).
    let Some(browser) = common::tool(&CHROMIUM) else {
        return;
    };
    let (result, verdict) = fixture();
    let out = tempfile::tempdir().unwrap();
    report::write_all(out.path(), &result, &verdict, None).unwrap_or_else(|e| panic!("{e}"));
    let page_path = out.path().join("report.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    let url = format!("file://{}", page_path.display());
    assert!(browser.is_file());

    // The DOM parses and carries the banner.
    let profile = tempfile::tempdir().unwrap();
    let (dom, stderr) = run_chromium(&browser, profile.path(), &["--dump-dom".into()], &url);
    assert!(
        dom.contains("id=\"verdict\""),
        "no banner in the DOM:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("FAILED"), "banner text missing");
    assert_eq!(dom.matches("<svg").count(), 5, "charts in the DOM");
    let errs = console_errors(&stderr);
    assert!(errs.is_empty(), "console errors: {errs:#?}");

    // The console check can see errors: a page that throws is caught.
    let bad = out.path().join("throws.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><p>x</p><script>throw new Error('kaboom')</script>",
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (_, stderr) = run_chromium(
        &browser,
        profile.path(),
        &["--dump-dom".into()],
        &format!("file://{}", bad.display()),
    );
    assert!(
        !console_errors(&stderr).is_empty(),
        "this Chromium does not log console errors to stderr; the check above proves nothing:\n{stderr}"
    );

    // Every chart is there with its title.
    assert_eq!(page.matches("<svg").count(), CHART_TITLES.len());
    for t in CHART_TITLES {
        assert!(
            page.contains(&format!("<title>{}", xml_text(t))),
            "chart {t:?} missing"
        );
    }

    // The screenshot is not blank.
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let (_, stderr) = run_chromium(
        &browser,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000".into(),
            "--hide-scrollbars".into(),
        ],
        &url,
    );
    let errs = console_errors(&stderr);
    assert!(errs.is_empty(), "console errors: {errs:#?}");
    let bytes = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{stderr}", shot.display()));
    let (w, h, channels, px) = decode_png(&bytes);
    assert_eq!((w, h), (1280, 4000));
    let (share, varied) = ink(channels, &px);
    assert!(varied, "the screenshot is one colour");
    assert!(
        share > 0.05,
        "the screenshot is mostly white ({share:.3} inked)"
    );
    if let Some(keep) = std::env::var_os("SKEIN_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}

/// The skip-or-fail rule of `common::tool`, decided on given values (no environment is
/// changed): found on `PATH` or through its variable; missing is a skip that says why and
/// how to install, or a failure when `SKEIN_REQUIRE_TOOLS` asks for it; a variable that
/// names no file fails.
#[test]
fn issue_12_a_missing_tool_skips_unless_required() {
    use common::{Lookup, lookup};
    use std::ffi::OsStr;
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let exe = dir.path().join("chromium-browser");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths([empty.path(), dir.path()]).unwrap();
    let bare = std::env::join_paths([empty.path()]).unwrap();
    let one = Some(OsStr::new("1"));

    assert_eq!(
        lookup(&CHROMIUM, None, Some(&path), None),
        Lookup::Found(exe.clone())
    );
    assert_eq!(
        lookup(&CHROMIUM, Some(exe.as_os_str()), Some(&bare), one),
        Lookup::Found(exe.clone())
    );
    // An empty variable is unset (`SKEIN_CHROMIUM= cargo test`).
    assert_eq!(
        lookup(&CHROMIUM, Some(OsStr::new("")), Some(&path), None),
        Lookup::Found(exe.clone())
    );
    let Lookup::Skip(why) = lookup(&CHROMIUM, None, Some(&bare), None) else {
        panic!("a missing tool is skipped when not required");
    };
    assert!(
        why.starts_with("SKIPPED: chromium not found (looked for chromium, chromium-browser,"),
        "{why}"
    );
    assert!(why.contains("apt-get install -y chromium"), "{why}");
    assert!(why.contains("SKEIN_REQUIRE_TOOLS=1"), "{why}");
    for require in ["1", "all", "prometheus, chromium"] {
        let r = lookup(&CHROMIUM, None, Some(&bare), Some(OsStr::new(require)));
        assert!(
            matches!(&r, Lookup::Fail(m) if m.contains("SKEIN_REQUIRE_TOOLS requires it")),
            "{require}: {r:?}"
        );
    }
    for not_required in ["0", "", "prometheus"] {
        let r = lookup(&CHROMIUM, None, Some(&bare), Some(OsStr::new(not_required)));
        assert!(matches!(r, Lookup::Skip(_)), "{not_required:?}: {r:?}");
    }
    let missing = dir.path().join("no-such-browser");
    let r = lookup(&CHROMIUM, Some(missing.as_os_str()), Some(&path), None);
    assert!(
        matches!(&r, Lookup::Fail(m) if m.starts_with("SKEIN_CHROMIUM=") && m.contains("is not a file")),
        "{r:?}"
    );
    // A file that is not executable is not the tool.
    std::fs::write(empty.path().join("chromium"), "").unwrap();
    assert_eq!(
        lookup(&CHROMIUM, None, Some(&path), None),
        Lookup::Found(exe)
    );
}

// ---- a small XML well-formedness check ---------------------------------------------------

/// Tags nest and close, attributes are quoted, `&` starts an entity, `<` never appears in
/// text or attribute values, one root element.
fn check_xml(s: &str) -> Result<(), String> {
    let mut rest = s.trim_start();
    if let Some(r) = rest.strip_prefix("<?xml") {
        rest = &r[r.find("?>").ok_or("unclosed prolog")? + 2..];
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        if !stack.is_empty() || rest[..lt].trim().is_empty() {
        } else {
            return Err(format!("text outside the root: {:?}", &rest[..lt]));
        }
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_:.".contains(c))
        {
            return Err(format!("bad tag name {name:?}"));
        }
        check_attributes(&body[name_end..])?;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest)?;
    if !stack.is_empty() {
        return Err(format!("unclosed {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

fn check_attributes(mut a: &str) -> Result<(), String> {
    loop {
        a = a.trim_start();
        if a.is_empty() {
            return Ok(());
        }
        let eq = a
            .find('=')
            .ok_or(format!("attribute without value: {a:?}"))?;
        let name = &a[..eq];
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("bad attribute name {name:?}"));
        }
        let v = a[eq + 1..]
            .strip_prefix('"')
            .ok_or(format!("unquoted {name}"))?;
        let end = v.find('"').ok_or(format!("unterminated {name}"))?;
        check_text(&v[..end])?;
        a = &v[end + 1..];
    }
}

fn check_text(t: &str) -> Result<(), String> {
    if t.contains('<') {
        return Err(format!("raw '<' in {t:?}"));
    }
    let mut rest = t;
    while let Some(i) = rest.find('&') {
        let after = &rest[i + 1..];
        let semi = after.find(';').ok_or(format!("bare '&' in {t:?}"))?;
        let ent = &after[..semi];
        let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
            || ent
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || ent
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(format!("bad entity &{ent}; in {t:?}"));
        }
        rest = &after[semi + 1..];
    }
    Ok(())
}

#[test]
fn xml_checker_catches_broken_documents() {
    assert!(check_xml("<a><b x=\"1\"/></a>").is_ok());
    assert!(check_xml("<a><b></a>").is_err());
    assert!(check_xml("<a>x & y</a>").is_err());
    assert!(check_xml("<a x=1/>").is_err());
    assert!(check_xml("<a/><b/>").is_err());
}
