//! The embedded demo target: an HTTP server that behaves like the Phase 9 web app.
//!
//! Skein needs something to attack that answers like a real e-commerce site (an HTML page
//! with assets, a JSON API, a login and a per-user cart, a database-heavy search) but whose
//! latency is *known*, so that tests and examples can check what Skein measures. Every route
//! has a modelled service time (a sleep, never CPU burn) and runs on a finite worker pool, so
//! the server saturates like a real one: throughput is capped at `workers / service_time`
//! and, beyond that, requests queue.
//!
//! `skein run` starts it in-process for the target `embedded:phase9`, `skein serve-demo`
//! runs it on a port, and tests use it directly:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use skein::demo::{DemoConfig, RouteConfig, serve};
//! use std::time::Duration;
//!
//! let config = DemoConfig::default()
//!     .with_route("product", RouteConfig::fixed(Duration::from_millis(20)));
//! let server = serve("127.0.0.1:0".parse().unwrap(), config).await?;
//! println!("attack {}/api/products/1", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! This module uses nothing else in the crate.

mod assets;
mod measure;
mod model;
mod pool;
mod routes;
mod shop;
mod slow_page;
mod timer;
mod ws;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

use model::Model;

/// How the demo target behaves: the size of its worker pool and each route's latency model.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Requests served at the same time; the rest wait in a queue. Default 64.
    pub workers: usize,
    /// Overrides by route name (one of [`DemoConfig::ROUTES`]); missing routes use defaults.
    pub routes: BTreeMap<String, RouteConfig>,
    /// Login tokens remembered at once; the oldest session is forgotten first. Default 100,000.
    pub max_sessions: usize,
    /// Database connections shared by the routes that spend time in the database (`db`):
    /// a request holds its worker while it waits for a connection and while it uses one,
    /// and `Server-Timing` then reports `app` (the time outside the database) and `db` (the
    /// wait for a connection plus the database time) apart. `None`: no database pool, and
    /// `app` is the whole service time with `db` a part of it, as before.
    pub db_pool: Option<usize>,
}

/// The latency model of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// Time a worker spends on one request, as a sleep while holding its permit.
    pub service_time: Duration,
    /// Each request's service time is `service_time` plus a uniform draw from `±jitter`.
    pub jitter: Duration,
    /// The part of the service time spent in the database, reported in `Server-Timing`.
    pub db: Option<Duration>,
}

/// Counters read back from a running demo server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoStats {
    /// Responses sent, by route name, whatever their status.
    pub requests: BTreeMap<String, u64>,
    /// Responses with status 401 (cart requests without a valid token).
    pub unauthorized: u64,
    /// Requests that matched no route (answered 404).
    pub unmatched: u64,
    /// Requests holding a worker now.
    pub in_flight: usize,
    /// The most requests that held a worker at the same time.
    pub max_in_flight: usize,
    /// Requests waiting for a worker now.
    pub queued: usize,
    /// The longest the queue has been.
    pub max_queued: usize,
}

impl DemoStats {
    /// Responses sent on all routes together.
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            workers: 64,
            routes: BTreeMap::new(),
            max_sessions: 100_000,
            db_pool: None,
        }
    }
}

impl DemoConfig {
    /// Every route name, in the order the site is usually visited.
    pub const ROUTES: &[&str] = &[
        "home", "static", "products", "product", "search", "login", "cart", "health",
    ];

    /// The model of route `name`: the override in [`DemoConfig::routes`], else the default.
    /// A name that is not in [`DemoConfig::ROUTES`] gets a zero-latency model.
    pub fn route(&self, name: &str) -> RouteConfig {
        match self.routes.get(name) {
            Some(route) => *route,
            None => RouteConfig::default_for(name).unwrap_or(RouteConfig::fixed(Duration::ZERO)),
        }
    }

    /// This configuration with route `name` overridden.
    pub fn with_route(mut self, name: &str, route: RouteConfig) -> Self {
        self.routes.insert(name.to_owned(), route);
        self
    }

    /// This configuration with the jitter of every route set to zero, so each request takes
    /// exactly its route's service time (plus queueing).
    pub fn without_jitter(mut self) -> Self {
        for name in Self::ROUTES {
            let route = RouteConfig {
                jitter: Duration::ZERO,
                ..self.route(name)
            };
            self.routes.insert((*name).to_owned(), route);
        }
        self
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.workers == 0 {
            return invalid("demo target: `workers` = 0: expected at least 1".into());
        }
        if self.db_pool == Some(0) {
            return invalid("demo target: `db_pool` = 0: expected at least 1 connection".into());
        }
        for (name, route) in &self.routes {
            if !Self::ROUTES.contains(&name.as_str()) {
                return invalid(format!(
                    "demo target: unknown route {name:?}\n  hint: routes are {}",
                    Self::ROUTES.join(", ")
                ));
            }
            if route.db.is_some_and(|db| db > route.service_time) {
                return invalid(format!(
                    "demo target: route {name:?}: db time {:?} exceeds service time {:?}\n  \
                     hint: the database time is part of the service time",
                    route.db.unwrap_or_default(),
                    route.service_time
                ));
            }
        }
        Ok(())
    }
}

impl RouteConfig {
    /// A route that always takes `service_time`, with no jitter and no database time.
    pub const fn fixed(service_time: Duration) -> Self {
        RouteConfig {
            service_time,
            jitter: Duration::ZERO,
            db: None,
        }
    }

    /// This route with a database time.
    pub const fn with_db(self, db: Duration) -> Self {
        RouteConfig {
            db: Some(db),
            ..self
        }
    }

    /// The default model of a route in [`DemoConfig::ROUTES`]: jitter is 10% of the service
    /// time and API routes spend about 60% of it in the database.
    pub fn default_for(name: &str) -> Option<RouteConfig> {
        let (micros, db_micros) = match name {
            "home" => (15_000, Some(9_000)),
            "static" => (1_000, None),
            "products" => (30_000, Some(18_000)),
            "product" => (20_000, Some(12_000)),
            "search" => (80_000, Some(60_000)),
            "login" => (40_000, Some(24_000)),
            "cart" => (25_000, Some(15_000)),
            "health" => (0, None),
            _ => return None,
        };
        Some(RouteConfig {
            service_time: Duration::from_micros(micros),
            jitter: Duration::from_micros(micros / 10),
            db: db_micros.map(Duration::from_micros),
        })
    }
}

/// A running demo target. Dropping it also stops the server, without waiting.
pub struct DemoServer {
    addr: SocketAddr,
    model: Arc<Model>,
    sessions: Arc<shop::Sessions>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl DemoServer {
    /// The address the server is bound to (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the server's counters.
    pub fn stats(&self) -> DemoStats {
        self.model.stats()
    }

    /// What the responses of the route named `name` (`product`, `health`, ...) took in the
    /// server so far, microseconds, from the request's arrival (before it queues for a
    /// worker) to the response built (after any stall): what the server really took, for
    /// checking a client's figures on a machine too busy for the configured times to be
    /// kept exactly. `None` for a name that is no route.
    pub fn took(&self, name: &str) -> Option<hdrhistogram::Histogram<u64>> {
        self.model.took(name)
    }

    /// How many times each username logged in (`POST /api/login`), for the first
    /// `max_sessions` names seen.
    pub fn logins(&self) -> BTreeMap<String, u64> {
        self.sessions.logins()
    }

    /// From now, every response (including `/health`) waits until `d` has passed, as if the
    /// server froze; workers stay busy, so queued requests wait too. Overlapping stalls end
    /// at the latest end.
    pub fn stall_for(&self, d: Duration) {
        self.model.stall_for(d);
    }

    /// Stops accepting, fails queued requests with 503, ends any stall, lets requests being
    /// served finish and waits (up to 5 s) for every connection to close.
    pub async fn shutdown(mut self) {
        self.model.close();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for DemoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.model.close();
    }
}

/// Binds `addr` (port 0 picks a free port), starts the demo target on the current tokio
/// runtime and returns once it accepts connections.
pub async fn serve(addr: SocketAddr, config: DemoConfig) -> io::Result<DemoServer> {
    config.validate()?;
    raise_fd_limit();
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let model = Arc::new(Model::new(&config)?);
    let sessions = Arc::new(shop::Sessions::new(config.max_sessions));
    let app = routes::router(Arc::clone(&model), Arc::clone(&sessions));
    let mut closing = model.closing();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = closing.wait_for(|closed| *closed).await;
            })
            .await
    });
    Ok(DemoServer {
        addr,
        model,
        sessions,
        task: Some(task),
    })
}

/// Binds with a deep accept backlog, so thousands of clients connecting at once are not
/// dropped into SYN retries.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8192)
}

/// Raises the soft limit on open files to the hard limit, so the server can hold ten
/// thousand connections. Best effort: on failure the old limit stays.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit for the duration of both calls.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_default_and_a_model() {
        for name in DemoConfig::ROUTES {
            assert!(RouteConfig::default_for(name).is_some(), "{name}");
            assert_eq!(model::Route::from_name(name).map(|r| r.name()), Some(*name));
        }
        assert_eq!(model::Route::ALL.len(), DemoConfig::ROUTES.len());
    }

    #[test]
    fn route_prefers_the_override() {
        let fixed = RouteConfig::fixed(Duration::from_millis(5));
        let config = DemoConfig::default().with_route("search", fixed);
        assert_eq!(config.route("search"), fixed);
        assert_eq!(
            config.route("product").service_time,
            Duration::from_millis(20)
        );
        assert_eq!(config.route("product").db, Some(Duration::from_millis(12)));
        assert_eq!(config.route("nope"), RouteConfig::fixed(Duration::ZERO));
    }

    #[test]
    fn without_jitter_keeps_service_and_db_times() {
        let config = DemoConfig::default().without_jitter();
        for name in DemoConfig::ROUTES {
            let route = config.route(name);
            let default = RouteConfig::default_for(name).unwrap();
            assert_eq!(route.jitter, Duration::ZERO);
            assert_eq!(
                (route.service_time, route.db),
                (default.service_time, default.db)
            );
        }
    }

    #[test]
    fn validate_names_the_bad_key() {
        let unknown = DemoConfig::default().with_route("cartt", RouteConfig::fixed(Duration::ZERO));
        let err = unknown.validate().unwrap_err().to_string();
        assert!(
            err.contains("\"cartt\"") && err.contains("cart, health"),
            "{err}"
        );
        let zero = DemoConfig {
            workers: 0,
            ..DemoConfig::default()
        };
        assert!(zero.validate().unwrap_err().to_string().contains("workers"));
        let db = RouteConfig::fixed(Duration::from_millis(1)).with_db(Duration::from_millis(2));
        let slow_db = DemoConfig::default().with_route("product", db);
        assert!(
            slow_db
                .validate()
                .unwrap_err()
                .to_string()
                .contains("db time")
        );
    }
}
