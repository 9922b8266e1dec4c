//! `skein import har RECORDING.har [-o scenario.yaml]`: a browser recording into a scenario.
//!
//! The conversion is [`crate::import::har`]; this file reads the recording, writes the
//! scenario (stdout with no `-o` or `-o -`; an existing file only with `--force`) and prints
//! the summary on stderr.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use super::{Invalid, exit};
use crate::import::har;

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

#[derive(Subcommand, Debug)]
pub enum ImportFormat {
    /// A HAR file (HTTP Archive 1.2, what a browser's developer tools save) into a
    /// scenario: documents and XHR/fetch requests, status checks, think times, credentials as
    /// ${env.NAME}, and values correlated from responses into later requests.
    Har(HarArgs),
}

#[derive(Args, Debug)]
pub struct HarArgs {
    /// The recording (`.har`).
    pub recording: PathBuf,
    /// Where to write the scenario; `-` or none: standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Static assets (stylesheets, scripts, images, fonts): `drop` them, fold them into a
    /// `page:` step with `assets: auto` (`page`), or `keep` them as steps.
    #[arg(long, value_enum, default_value_t = AssetsArg::Drop)]
    pub assets: AssetsArg,
    /// Also keep requests to these hosts (`cdn.example.com` or `host:port`), comma-separated;
    /// by default only the first document's host is kept.
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Keep requests to every host.
    #[arg(long, conflicts_with = "hosts")]
    pub all_hosts: bool,
    /// Keep these request headers, which are dropped by default (`user-agent`, `origin`,
    /// `referer`...), comma-separated.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub keep_headers: Vec<String>,
    /// The scenario's target (a base URL, or `embedded:phase9`) instead of the first
    /// document's origin.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The run's name [default: the recording's file name without its extension].
    #[arg(long)]
    pub name: Option<String>,
    /// Users in the scenario's `load:`.
    #[arg(long, short = 'u', default_value_t = 1, value_name = "N")]
    pub users: usize,
    /// Duration in the scenario's `load:`.
    #[arg(long, short = 'd', default_value = "10s", value_name = "DURATION", value_parser = super::duration_arg)]
    pub duration: String,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum AssetsArg {
    Drop,
    Page,
    Keep,
}

pub fn import(a: &ImportArgs) -> anyhow::Result<u8> {
    match &a.format {
        ImportFormat::Har(h) => import_har(h),
    }
}

fn import_har(a: &HarArgs) -> anyhow::Result<u8> {
    if a.users == 0 {
        return Err(Invalid("--users: at least 1".into()).into());
    }
    let to_file = a.output.as_ref().filter(|p| p.as_os_str() != "-");
    if let Some(out) = to_file
        && out.exists()
        && !a.force
    {
        return Err(Invalid(format!(
            "{} exists: give --force to overwrite it, or another -o",
            out.display()
        ))
        .into());
    }
    let bytes = std::fs::read(&a.recording)
        .map_err(|e| Invalid(format!("reading {}: {e}", a.recording.display())))?;
    // Browsers write UTF-8, some with a byte-order mark.
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    let opts = har::Options {
        assets: match a.assets {
            AssetsArg::Drop => har::Assets::Drop,
            AssetsArg::Page => har::Assets::Page,
            AssetsArg::Keep => har::Assets::Keep,
        },
        hosts: a
            .hosts
            .iter()
            .filter(|h| !h.trim().is_empty())
            .cloned()
            .collect(),
        all_hosts: a.all_hosts,
        keep_headers: a.keep_headers.clone(),
        target: a.target.clone(),
        name: a.name.clone(),
        users: a.users,
        duration: a.duration.clone(),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let out = har::import(text, &a.recording, &opts).map_err(|e| Invalid(e.to_string()))?;
    // The result must be a scenario `skein validate` accepts (with any environment
    // variable set): say so if it is not, but still write it for a person to fix.
    let check_name = to_file
        .cloned()
        .unwrap_or_else(|| PathBuf::from("imported.yaml"));
    if let Err(e) = crate::scenario::parse_with_env(&out.yaml, &check_name, &|_| Some("x".into())) {
        eprintln!("warning: the imported scenario does not validate; fix it by hand:\n{e}");
    }
    match to_file {
        Some(path) => std::fs::write(path, &out.yaml)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (`| head`) is not an error.
            if let Err(e) = stdout
                .write_all(out.yaml.as_bytes())
                .and_then(|_| stdout.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e).context("writing the scenario to standard output");
            }
        }
    }
    let mut err = std::io::stderr().lock();
    for line in out.summary.lines() {
        let _ = writeln!(err, "{line}");
    }
    if let Some(path) = to_file {
        let _ = writeln!(err, "wrote {}", path.display());
    }
    Ok(exit::OK)
}
