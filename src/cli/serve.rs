//! `skein serve-demo`: the embedded Phase 9 demo target as a standalone server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;

use super::exit;
use crate::demo;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on: loopback by default; an interface's address (`10.0.0.5`,
    /// `::1`) or `0.0.0.0` to be reached from elsewhere (another host, a network namespace).
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Requests served at once (the worker pool).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Database connections shared by the routes' database time: narrower than
    /// `--workers`, the database becomes the bottleneck (`Server-Timing` then reports
    /// `app` and `db`, with the wait for a connection, apart).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub db_pool: Option<u64>,
}

pub async fn serve(a: ServeArgs) -> anyhow::Result<u8> {
    let mut cfg = demo::DemoConfig::default();
    if let Some(w) = a.workers {
        cfg.workers = w;
    }
    cfg.db_pool = a.db_pool.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let addr = SocketAddr::new(a.bind, a.port);
    let server = demo::serve(addr, cfg)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    println!("demo target listening on {} (Ctrl-C to stop)", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(exit::OK)
}
