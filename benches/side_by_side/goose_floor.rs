//! The floor Skein builds on: a bare goose 0.19 attack, in a child process of the bench (this
//! binary re-executed with [`ENV`] set), so that it can be pinned and its memory is its own.
//! One closure transaction GETs the URL and reads the body; one client per user (goose's
//! default); goose's metrics, telnet and WebSocket controllers off; users = connections. Its
//! requests/s is counted over `SECONDS` from its first response.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set in the child that runs the attack: `URL USERS SECONDS`.
pub const ENV: &str = "SKEIN_SBS_GOOSE";

/// `URL USERS SECONDS`: run the attack, print `RESULT rps=.. requests=.. errors=..`.
pub fn child(spec: &str) {
    use goose::config::GooseConfiguration;
    use goose::prelude::*;

    let mut it = spec.split_whitespace();
    let (Some(url), Some(users), Some(secs)) = (it.next(), it.next(), it.next()) else {
        eprintln!("{ENV}: expected `URL USERS SECONDS`, got {spec:?}");
        std::process::exit(2);
    };
    let users: usize = users.parse().expect("users");
    let secs: u64 = secs.parse().expect("seconds");
    let (host, path) = split_url(url);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs + 50));
        eprintln!("goose child: hard timeout");
        std::process::exit(124);
    });
    // goose logs every failed request through `log`; keep it quiet.
    let _ = log::set_logger(&Silent);
    log::set_max_level(log::LevelFilter::Off);
    let _ = ctrlc::set_handler(|| goose::trigger_killswitch("SIGINT"));

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (d, e) = (done.clone(), failed.clone());
    let path: Arc<str> = path.into();
    let get: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let (d, e, path) = (d.clone(), e.clone(), path.clone());
        Box::pin(async move {
            let res = user.get(&path).await?;
            let ok = match res.response {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (if ok { &d } else { &e }).fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    });
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            while done.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
            let (t0, n0) = (Instant::now(), done.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_secs(secs));
            let (t1, n1) = (Instant::now(), done.load(Ordering::Relaxed));
            (n1 - n0) as f64 / (t1 - t0).as_secs_f64()
        })
    };

    let mut cfg = GooseConfiguration::default();
    cfg.host = Some(host);
    cfg.users = Some(users);
    cfg.increase_rate = Some((users * 1000).to_string());
    // Counted after every user is launched: one more second than the window measured.
    cfg.run_time = Some((secs + 1).to_string());
    (cfg.quiet, cfg.no_print_metrics, cfg.no_metrics) = (1, true, true);
    (cfg.no_telnet, cfg.no_websocket) = (true, true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = rt.block_on(async move {
        GooseAttack::initialize_with_config(cfg)?
            .register_scenario(scenario!("bare").register_transaction(Transaction::new(get)))
            .execute()
            .await
    });
    if let Err(e) = outcome {
        eprintln!("goose: {e:?}");
        std::process::exit(1);
    }
    let rps = sampler.join().unwrap_or(0.0);
    println!(
        "RESULT rps={rps:.1} requests={} errors={}",
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

struct Silent;

impl log::Log for Silent {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

/// `http://h:p/path` -> (`http://h:p`, `/path`).
fn split_url(url: &str) -> (String, String) {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => (url[..after + i].to_string(), url[after + i..].to_string()),
        None => (url.to_string(), "/".to_string()),
    }
}
