//! `skein serve-demo`: the embedded Phase 9 demo target as a standalone server.

use std::net::SocketAddr;

use clap::Args;

use super::exit;
use crate::demo;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 8080)]
    pub port: u16,
    /// Requests served at once (the worker pool).
    #[arg(long)]
    pub workers: Option<usize>,
}

pub async fn serve(a: ServeArgs) -> anyhow::Result<u8> {
    let mut cfg = demo::DemoConfig::default();
    if let Some(w) = a.workers {
        cfg.workers = w;
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let server = demo::serve(addr, cfg)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    println!("demo target listening on {} (Ctrl-C to stop)", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(exit::OK)
}
