//! The latency model: a finite worker pool, per-route service times, stalls and counters.
//!
//! A request on a pooled route waits for a worker from the [`Pool`] (that wait is the
//! queue), then keeps it for its service time, so throughput is capped at
//! `workers / service_time` however many clients there are. No request finishes sooner
//! than its service time after arrival. Sleeps use the precise [`Timer`].

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header::HeaderName};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use tokio::sync::watch;

use super::pool::Pool;
use super::timer::Timer;
use super::{DemoConfig, DemoStats, RouteConfig};

/// The routes of the demo target; `Route::ALL[i].name()` is `DemoConfig::ROUTES[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Home,
    Static,
    Products,
    Product,
    Search,
    Login,
    Cart,
    Health,
}

impl Route {
    pub(crate) const ALL: [Route; 8] = [
        Route::Home,
        Route::Static,
        Route::Products,
        Route::Product,
        Route::Search,
        Route::Login,
        Route::Cart,
        Route::Health,
    ];

    pub(crate) fn name(self) -> &'static str {
        DemoConfig::ROUTES[self as usize]
    }

    pub(crate) fn from_name(name: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Health checks bypass the worker pool, as a real load balancer probe would.
    fn pooled(self) -> bool {
        self != Route::Health
    }

    /// Application routes report their timing; static files and health checks do not.
    fn reports_timing(self) -> bool {
        !matches!(self, Route::Static | Route::Health)
    }
}

/// Shared state of one demo server: the pool, the models, the stall and the counters.
pub(crate) struct Model {
    routes: [RouteConfig; Route::ALL.len()],
    pool: Pool,
    /// The database connections, when the demo models a database pool.
    db_pool: Option<Pool>,
    timer: Timer,
    epoch: Instant,
    /// When the current stall ends, in nanoseconds after `epoch` (0: no stall).
    stall_until: AtomicU64,
    closing: watch::Sender<bool>,
    served: [AtomicU64; Route::ALL.len()],
    /// What each route's responses took here, from arrival to the response built (after any
    /// stall), microseconds: the truth the client's figures are checked against when the
    /// machine is too busy for the timer to keep the configured times exactly.
    took: [Mutex<Took>; Route::ALL.len()],
    unauthorized: AtomicU64,
    unmatched: AtomicU64,
}

type Took = hdrhistogram::Histogram<u64>;

fn new_took() -> Mutex<Took> {
    // 1 µs to an hour, 3 significant digits, as the run's own histograms.
    Mutex::new(Took::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
}

impl Model {
    pub(crate) fn new(config: &DemoConfig) -> io::Result<Model> {
        Ok(Model {
            routes: Route::ALL.map(|r| config.route(r.name())),
            pool: Pool::new(config.workers),
            db_pool: config.db_pool.map(Pool::new),
            timer: Timer::new()?,
            epoch: Instant::now(),
            stall_until: AtomicU64::new(0),
            closing: watch::Sender::new(false),
            served: Default::default(),
            took: std::array::from_fn(|_| new_took()),
            unauthorized: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
        })
    }

    /// Runs one request of `route`: queue for a worker, spend the service time, build the
    /// response with `respond`, sit out any stall, then add `Server-Timing` and count it.
    pub(crate) async fn handle<R: IntoResponse>(
        &self,
        route: Route,
        respond: impl FnOnce() -> R,
    ) -> Response {
        let arrival = Instant::now();
        let model = self.routes[route as usize];
        let service = draw_service_time(&model);
        let mut db_measured = None;
        let mut response = if route.pooled() {
            let Some(mut worker) = self.pool.worker().await else {
                return self.count(route, shutting_down());
            };
            let start = worker.start(arrival);
            let measured = match (&self.db_pool, model.db) {
                (Some(db_pool), Some(db)) => {
                    // The time outside the database first, then a connection from the
                    // pool (waiting while the worker is held) for the database time.
                    let db = scaled_db(&model, service, db);
                    let app_done = start + service.saturating_sub(db);
                    worker.busy_until(app_done);
                    self.timer.sleep_until(app_done).await;
                    let Some(mut conn) = db_pool.worker().await else {
                        return self.count(route, shutting_down());
                    };
                    let db_end = conn.start(app_done) + db;
                    conn.busy_until(db_end);
                    worker.busy_until(db_end);
                    self.timer.sleep_until(db_end).await;
                    drop(conn);
                    Some((service.saturating_sub(db), db_end - app_done))
                }
                _ => {
                    let deadline = start + service;
                    worker.busy_until(deadline);
                    self.timer.sleep_until(deadline).await;
                    None
                }
            };
            db_measured = measured;
            let response = respond().into_response();
            if let Some(stall_end) = self.sit_out_stall().await {
                worker.busy_until(stall_end);
            }
            response
        } else {
            self.timer.sleep_until(arrival + service).await;
            let response = respond().into_response();
            self.sit_out_stall().await;
            response
        };
        if route.reports_timing() {
            let value = match db_measured {
                Some((app, db)) => split_server_timing(app, db),
                None => server_timing(&model, service),
            };
            if let Ok(value) = HeaderValue::from_str(&value) {
                let name = HeaderName::from_static("server-timing");
                response.headers_mut().insert(name, value);
            }
        }
        let took = u64::try_from(arrival.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.took[route as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(took.max(1));
        self.count(route, response)
    }

    /// What the responses of the route named `name` took here so far (microseconds, from
    /// arrival, before any queueing for a worker, to the response built, after any stall);
    /// `None` for a name that is no route.
    pub(crate) fn took(&self, name: &str) -> Option<Took> {
        let r = Route::from_name(name)?;
        Some(
            self.took[r as usize]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }

    fn count(&self, route: Route, response: Response) -> Response {
        self.served[route as usize].fetch_add(1, Ordering::Relaxed);
        if response.status() == StatusCode::UNAUTHORIZED {
            self.unauthorized.fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    pub(crate) fn count_unmatched(&self) {
        self.unmatched.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> DemoStats {
        let requests = Route::ALL
            .iter()
            .map(|r| {
                (
                    r.name().to_owned(),
                    self.served[*r as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        DemoStats {
            requests,
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            unmatched: self.unmatched.load(Ordering::Relaxed),
            in_flight: self.pool.in_flight.current(),
            max_in_flight: self.pool.in_flight.max(),
            queued: self.pool.queued.current(),
            max_queued: self.pool.queued.max(),
        }
    }

    pub(crate) fn stall_for(&self, d: Duration) {
        let end = (Instant::now() + d).duration_since(self.epoch);
        let end = u64::try_from(end.as_nanos()).unwrap_or(u64::MAX);
        self.stall_until.fetch_max(end, Ordering::Relaxed);
    }

    /// Waits until no stall is in force, or the server is closing; returns when the stall
    /// it sat out ended, if there was one.
    async fn sit_out_stall(&self) -> Option<Instant> {
        let mut closing = self.closing();
        let mut sat_out = None;
        loop {
            let nanos = self.stall_until.load(Ordering::Relaxed);
            let end = self.epoch + Duration::from_nanos(nanos);
            if Instant::now() >= end || *closing.borrow() {
                return sat_out;
            }
            sat_out = Some(end);
            tokio::select! {
                () = tokio::time::sleep_until(end.into()) => {}
                _ = closing.wait_for(|closed| *closed) => return Some(Instant::now()),
            }
        }
    }

    /// A receiver that turns `true` when the server starts shutting down.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Starts the shutdown: queued requests fail with 503 and stalls end.
    pub(crate) fn close(&self) {
        self.pool.close();
        if let Some(db_pool) = &self.db_pool {
            db_pool.close();
        }
        self.closing.send_replace(true);
    }
}

/// `service_time ± jitter`, uniform, never below zero.
fn draw_service_time(model: &RouteConfig) -> Duration {
    if model.jitter.is_zero() {
        return model.service_time;
    }
    let jitter = model.jitter.as_nanos().min(i64::MAX as u128) as i64;
    let offset = rand::rng().random_range(-jitter..=jitter);
    if offset >= 0 {
        model
            .service_time
            .saturating_add(Duration::from_nanos(offset as u64))
    } else {
        model
            .service_time
            .saturating_sub(Duration::from_nanos(offset.unsigned_abs()))
    }
}

/// The database's share of a drawn service time (scaled with the jitter).
fn scaled_db(model: &RouteConfig, service: Duration, db: Duration) -> Duration {
    if model.service_time.is_zero() || service == model.service_time {
        db
    } else {
        db.mul_f64(service.as_secs_f64() / model.service_time.as_secs_f64())
    }
}

/// With a database pool: `app;dur=8.0, db;dur=15.3`, the time outside the database and the
/// database's time including the wait for a connection, apart (they add up to the service
/// time plus that wait).
fn split_server_timing(app: Duration, db: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!("app;dur={:.1}, db;dur={:.1}", ms(app), ms(db))
}

/// `db;dur=12.0, app;dur=20.0`: the whole service time as `app`, the database's share of it
/// (scaled with the jitter) as `db`.
fn server_timing(model: &RouteConfig, service: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match model.db {
        Some(db) => {
            let db = if model.service_time.is_zero() || service == model.service_time {
                db
            } else {
                db.mul_f64(service.as_secs_f64() / model.service_time.as_secs_f64())
            };
            format!("db;dur={:.1}, app;dur={:.1}", ms(db), ms(service))
        }
        None => format!("app;dur={:.1}", ms(service)),
    }
}

fn shutting_down() -> Response {
    let body = axum::Json(serde_json::json!({ "error": "the server is shutting down" }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn server_timing_reports_the_configured_values_without_jitter() {
        let route = RouteConfig::fixed(ms(20)).with_db(ms(12));
        assert_eq!(server_timing(&route, ms(20)), "db;dur=12.0, app;dur=20.0");
        let route = RouteConfig::fixed(Duration::from_micros(80_260)).with_db(ms(60));
        let timing = server_timing(&route, Duration::from_micros(80_260));
        assert_eq!(timing, "db;dur=60.0, app;dur=80.3");
        assert_eq!(
            server_timing(&RouteConfig::fixed(ms(1)), ms(1)),
            "app;dur=1.0"
        );
    }

    #[test]
    fn server_timing_scales_db_with_the_jitter() {
        let route = RouteConfig {
            jitter: ms(10),
            ..RouteConfig::fixed(ms(100)).with_db(ms(60))
        };
        assert_eq!(server_timing(&route, ms(110)), "db;dur=66.0, app;dur=110.0");
    }

    #[test]
    fn jitter_stays_in_range_and_never_goes_negative() {
        let route = RouteConfig {
            jitter: ms(5),
            ..RouteConfig::fixed(ms(20))
        };
        for _ in 0..1000 {
            let d = draw_service_time(&route);
            assert!(d >= ms(15) && d <= ms(25), "{d:?}");
        }
        let wide = RouteConfig {
            jitter: ms(50),
            ..RouteConfig::fixed(ms(1))
        };
        for _ in 0..1000 {
            assert!(draw_service_time(&wide) <= ms(51));
        }
    }

    #[tokio::test]
    async fn stall_holds_responses_until_it_ends() {
        let model = Model::new(&DemoConfig::default().without_jitter()).unwrap();
        let start = Instant::now();
        model.stall_for(ms(60));
        model.stall_for(ms(20));
        let response = model
            .handle(Route::Health, || StatusCode::OK.into_response())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(start.elapsed() >= ms(60));
        assert_eq!(model.stats().requests["health"], 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_worker_serves_one_request_at_a_time() {
        let config = DemoConfig {
            workers: 1,
            ..DemoConfig::default()
        }
        .with_route("product", RouteConfig::fixed(ms(10)));
        let model = std::sync::Arc::new(Model::new(&config).unwrap());
        let start = Instant::now();
        let requests: Vec<_> = (0..5)
            .map(|_| {
                let model = std::sync::Arc::clone(&model);
                tokio::spawn(async move {
                    model.handle(Route::Product, || StatusCode::OK).await;
                    start.elapsed()
                })
            })
            .collect();
        let mut finished = Vec::new();
        for request in requests {
            finished.push(request.await.unwrap());
        }
        finished.sort();
        for (i, at) in finished.iter().enumerate() {
            assert!(*at >= ms(10 * (i as u64 + 1)), "request {i} done at {at:?}");
        }
        // Generous: only catches a pool that stalls (the machine may be busy).
        assert!(finished[4] < ms(500), "{finished:?}");
        let stats = model.stats();
        assert_eq!((stats.max_in_flight, stats.requests["product"]), (1, 5));
        assert!(stats.max_queued >= 4, "{stats:?}");
    }

    #[tokio::test]
    async fn closed_pool_answers_503() {
        let model = Model::new(&DemoConfig::default()).unwrap();
        model.close();
        let response = model
            .handle(Route::Home, || StatusCode::OK.into_response())
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
