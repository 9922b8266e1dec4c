//! `skein run` and `skein quick`: one path from a plan to a results folder.

use std::net::SocketAddr;

use anyhow::Context as _;

use super::{CommonRunArgs, Invalid, QuickArgs, RunArgs, console, exit, parse_duration};
use crate::demo;
use crate::engine::{self, RunOptions, StopHandle};
use crate::metrics::RunStatus;
use crate::scenario::{self, EmbeddedTarget, Plan, ScenarioError, Target};

/// Turn a scenario error into an exit-2 error with every diagnostic.
pub fn invalid(e: ScenarioError) -> anyhow::Error {
    match e {
        ScenarioError::Read { path, source } => {
            Invalid(format!("reading scenario {}: {source}", path.display())).into()
        }
        other => Invalid(other.to_string()).into(),
    }
}

pub async fn run(a: RunArgs) -> anyhow::Result<u8> {
    let mut plan = scenario::load(&a.scenario).map_err(invalid)?;
    if let Some(u) = a.users {
        if u == 0 {
            return Err(Invalid("--users must be at least 1".into()).into());
        }
        plan.load.scale_users(u);
    }
    if let Some(d) = &a.duration {
        plan.load.set_duration(parse_duration(d)?);
    }
    if let Some(t) = &a.target {
        plan.target = Target::Url(check_url(t)?);
    }
    execute(plan, &a.common).await
}

pub async fn quick(a: QuickArgs) -> anyhow::Result<u8> {
    let url = check_url(&a.url)?;
    if a.users == 0 {
        return Err(Invalid("--users must be at least 1".into()).into());
    }
    let duration = parse_duration(&a.duration)?;
    let think = a.think.as_deref().map(parse_duration).transpose()?;
    let plan = scenario::quick(&url, a.users, duration, think).map_err(invalid)?;
    execute(plan, &a.common).await
}

fn check_url(u: &str) -> Result<String, Invalid> {
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(Invalid(format!("`{u}` is not an http:// or https:// URL")));
    }
    Ok(u.to_string())
}

/// The demo's settings from the scenario's `target: {embedded: phase9, ...}`.
pub fn demo_config(e: &EmbeddedTarget) -> demo::DemoConfig {
    let mut c = demo::DemoConfig::default();
    if let Some(w) = e.workers {
        c.workers = w;
    }
    for (name, t) in &e.routes {
        let mut r = c.route(name);
        if let Some(s) = t.service_time {
            r.service_time = s;
        }
        if let Some(j) = t.jitter {
            r.jitter = j;
        }
        if t.db.is_some() {
            r.db = t.db;
        }
        c.routes.insert(name.clone(), r);
    }
    c
}

/// Run a plan: start the demo target if asked, run, print the summary.
pub async fn execute(plan: Plan, common: &CommonRunArgs) -> anyhow::Result<u8> {
    let (base_url, demo_server) = match &plan.target {
        Target::Url(u) => (u.clone(), None),
        Target::Embedded(e) => {
            let addr: SocketAddr = "127.0.0.1:0".parse()?;
            let server = demo::serve(addr, demo_config(e))
                .await
                .context("starting the embedded demo target")?;
            (server.url(), Some(server))
        }
    };
    let dir = engine::results_dir(&common.output, &plan)?;
    let stop = StopHandle::new();
    let (tx, rx) = tokio::sync::watch::channel(engine::Progress::default());
    let live = console::Live::start(rx, common.quiet, &plan, &base_url);
    let seed = common.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let outcome = engine::run(
        &plan,
        RunOptions {
            dir: dir.clone(),
            base_url,
            stop,
            progress: Some(tx),
            seed,
            record: true,
        },
    )
    .await;
    live.finish().await;
    if let Some(s) = demo_server {
        s.shutdown().await;
    }
    let result = outcome
        .with_context(|| format!("run failed; what was measured is in {}", dir.display()))?;
    console::print_summary(&result, &dir);
    Ok(match result.run.status {
        RunStatus::Interrupted => exit::INTERRUPTED,
        _ => exit::OK,
    })
}
