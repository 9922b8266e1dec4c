//! `--metrics-listen ADDR`: a Prometheus scrape endpoint at `/metrics` while a run goes.
//!
//! [`Exporter`] is a [`Subscriber`]: each harvested second it adds the second's counts to the
//! registry's counters, sets the gauges, and fills the histograms' classic buckets from the
//! second's HDR histograms (see [`fill_buckets`]). A small HTTP server on its own tokio task
//! ([`Server`]) encodes the registry on each scrape: OpenMetrics text (1.0.0), or the Prometheus
//! text format (0.0.4) to a client that asks only for `text/plain`.
//!
//! The server listens before the load starts and is stopped by the caller when the run ends:
//! it keeps answering for [`LINGER`] after the run's last second was published, so a scrape
//! right at the end sees the run's totals, and never keeps a finished run alive longer.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::engine::{EngineError, Second, Subscriber};
use crate::metrics::RunResult;
use crate::metrics::histogram::Hist;
use crate::metrics::recorder::ErrorKind;

/// Upper bounds of the histograms' classic buckets, seconds (then `+Inf`).
pub const BUCKETS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How long the endpoint keeps answering after the run's end.
pub const LINGER: Duration = Duration::from_secs(1);

/// `--metrics-listen`'s address: `HOST:PORT`, `[V6]:PORT`, or only a port (`9464` or `:9464`),
/// which means loopback (127.0.0.1).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let port_only = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || format!("`{s}` is not HOST:PORT or a port (e.g. 127.0.0.1:9464 or :9464)");
    if !s.contains(':') {
        return Err(bad());
    }
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(bad),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// What a run is: `skein_run_info`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub run_id: String,
    pub name: String,
    /// `open` or `closed`.
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    scenario: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    scenario: String,
    step: String,
    kind: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// A histogram whose classic buckets are set from HDR histograms (prometheus-client's own
/// histogram only observes one value at a time).
#[derive(Clone, Debug, Default)]
pub struct BucketHistogram(Arc<Mutex<Buckets>>);

/// Cumulative figures of a [`BucketHistogram`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Samples in each bucket of [`BUCKETS_S`] (not cumulative), then those above the last.
    pub per_bucket: [u64; BUCKETS_S.len() + 1],
    /// Sum of the samples, seconds: approximate within the HDR histograms' precision (each
    /// sample counted at the middle of its HDR bucket, 0.1 % wide).
    pub sum: f64,
    pub count: u64,
}

impl BucketHistogram {
    fn add(&self, h: &Hist) {
        if h.is_empty() {
            return;
        }
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        fill_buckets(&mut b, h);
    }
}

/// Add `h`'s samples (µs) to `b`. A sample counts towards the bucket `le=x` when it is at most
/// `x`, as the HDR histogram recorded it: its value rounded down to its HDR bucket (at most
/// 0.1 % lower), so `le=x` holds exactly the samples up to the end of the HDR bucket that `x`
/// falls in. The sum counts each sample at its HDR bucket's middle.
pub fn fill_buckets(b: &mut Buckets, h: &Hist) {
    let h = h.inner();
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        let n = v.count_at_value();
        let low = h.lowest_equivalent(value);
        let i = BUCKETS_S
            .iter()
            .position(|&le| low <= (le * 1e6).round() as u64)
            .unwrap_or(BUCKETS_S.len());
        b.per_bucket[i] += n;
        b.count += n;
        b.sum += h.median_equivalent(value) as f64 / 1e6 * n as f64;
    }
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let buckets: Vec<(f64, u64)> = (BUCKETS_S.iter().copied())
            .chain([f64::INFINITY])
            .zip(b.per_bucket)
            .collect();
        encoder.encode_histogram::<NoLabelSet>(b.sum, b.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The registry's metrics, as the subscriber updates them.
#[derive(Clone, Default)]
struct Metrics {
    requests: Family<StepLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    check_failures: Family<StepLabels, Counter>,
    bytes: Family<StepLabels, Counter>,
    duration: Family<StepLabels, BucketHistogram>,
    service: Family<StepLabels, BucketHistogram>,
    users: FloatGauge,
    scheduled: Counter,
    started: Counter,
    late: Counter,
    dropped: Counter,
    cpu: FloatGauge,
    lag: FloatGauge,
    info: Family<RunLabels, Gauge>,
}

impl Metrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        r.register(
            "skein_http_requests",
            "Requests sent (responses and errors)",
            self.requests.clone(),
        );
        r.register(
            "skein_http_request_errors",
            "Errors by kind",
            self.errors.clone(),
        );
        r.register(
            "skein_check_failures",
            "Responses with no error whose checks failed",
            self.check_failures.clone(),
        );
        r.register(
            "skein_http_response_bytes",
            "Response body bytes",
            self.bytes.clone(),
        );
        r.register(
            "skein_http_request_duration_seconds",
            "Response time (open model: from the intended start)",
            self.duration.clone(),
        );
        r.register(
            "skein_http_service_duration_seconds",
            "Service time (send to last byte)",
            self.service.clone(),
        );
        r.register(
            "skein_users",
            "Active users (open model: mean users busy in the last second)",
            self.users.clone(),
        );
        r.register(
            "skein_iterations_scheduled",
            "Open model: iterations due",
            self.scheduled.clone(),
        );
        r.register(
            "skein_iterations_started",
            "Open model: iterations started",
            self.started.clone(),
        );
        r.register(
            "skein_iterations_late",
            "Open model: iterations started late",
            self.late.clone(),
        );
        r.register(
            "skein_iterations_dropped",
            "Open model: iterations dropped",
            self.dropped.clone(),
        );
        r.register(
            "skein_generator_cpu_ratio",
            "Generator CPU, share of its cores (0..1)",
            self.cpu.clone(),
        );
        r.register(
            "skein_generator_scheduler_lag_seconds",
            "The generator's largest timer lag in the last second",
            self.lag.clone(),
        );
        r.register("skein_run_info", "What is running", self.info.clone());
        r
    }
}

/// The subscriber that keeps the endpoint's registry up to date.
pub struct Exporter {
    m: Metrics,
    /// Each cell's labels, once the first second named them (`None`: not a request cell).
    labels: Option<Vec<Option<StepLabels>>>,
    ended: Arc<Mutex<Option<Instant>>>,
}

impl Subscriber for Exporter {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        let m = &self.m;
        let labels = self.labels.get_or_insert_with(|| {
            let labels: Vec<Option<StepLabels>> = (s.layout.iter())
                .map(|c| {
                    // Only requests: a page view, a group... are not.
                    c.is_request().then(|| StepLabels {
                        scenario: c.scenario.clone(),
                        step: c.step.clone(),
                    })
                })
                .collect();
            // Every step's series from the start (at 0), so rates begin there.
            for l in labels.iter().flatten() {
                let _ = m.requests.get_or_create(l);
                let _ = m.check_failures.get_or_create(l);
                let _ = m.bytes.get_or_create(l);
                let _ = m.duration.get_or_create(l);
                let _ = m.service.get_or_create(l);
            }
            labels
        });
        for (cell, l) in s.cells.iter().zip(labels.iter()) {
            let Some(l) = l else { continue };
            m.requests.get_or_create(l).inc_by(cell.requests);
            m.check_failures.get_or_create(l).inc_by(cell.check_failed);
            m.bytes.get_or_create(l).inc_by(cell.bytes);
            m.duration.get_or_create(l).add(&cell.hist);
            m.service.get_or_create(l).add(&cell.service);
            for (kind, &n) in ErrorKind::ALL.iter().zip(cell.errors.iter()) {
                if n > 0 {
                    let e = ErrorLabels {
                        scenario: l.scenario.clone(),
                        step: l.step.clone(),
                        kind: kind.as_str().to_string(),
                    };
                    m.errors.get_or_create(&e).inc_by(n);
                }
            }
        }
        let g = s.gauges;
        m.users.set(g.users as f64);
        m.scheduled.inc_by(g.scheduled);
        m.started.inc_by(g.started);
        m.late.inc_by(g.late);
        m.dropped.inc_by(g.dropped);
        m.cpu.set(g.cpu_pct / 100.0);
        m.lag.set(g.sched_lag_us as f64 / 1e6);
        Ok(())
    }

    fn finish(&mut self, _result: &RunResult) -> Result<(), EngineError> {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }
}

/// The endpoint's HTTP server, on its own task.
pub struct Server {
    addr: SocketAddr,
    ended: Arc<Mutex<Option<Instant>>>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Listen on `addr` (before anything else of the run is set up, so a taken address stops it
/// early). The error is returned as is: the caller names the flag.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serve, on `listener` (from [`bind`]), the registry of the [`Exporter`] returned beside the
/// server. Must be called within a tokio runtime.
pub fn start(listener: TcpListener, run: RunLabels) -> std::io::Result<(Server, Exporter)> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let m = Metrics::default();
    m.info.get_or_create(&run).set(1);
    let registry = Arc::new(m.registry());
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let registry = registry.clone();
            async move { scrape(&registry, &headers) }
        }),
    );
    let (shutdown, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            eprintln!("warning: --metrics-listen {addr}: {e}");
        }
    });
    let ended = Arc::new(Mutex::new(None));
    let exporter = Exporter {
        m,
        labels: None,
        ended: ended.clone(),
    };
    let server = Server {
        addr,
        ended,
        shutdown,
        task,
    };
    Ok((server, exporter))
}

impl Server {
    /// Where it listens (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving, [`LINGER`] after the run's end (at once if the run never finished),
    /// waiting at most a second more for scrapes under way.
    pub async fn stop(self) {
        let ended = *self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = ended {
            tokio::time::sleep_until((at + LINGER).into()).await;
        }
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.task).await;
    }
}

/// One scrape: OpenMetrics unless the client asks only for the Prometheus text format.
fn scrape(registry: &Registry, headers: &HeaderMap) -> axum::response::Response {
    let accept = (headers.get(header::ACCEPT))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let classic = accept.contains("text/plain") && !accept.contains("application/openmetrics-text");
    let mut body = String::new();
    let (encoded, content_type) = if classic {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut body, registry),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    } else {
        (
            prometheus_client::encoding::text::encode(&mut body, registry),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    };
    match encoded {
        Ok(()) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let lo = |p| SocketAddr::from(([127, 0, 0, 1], p));
        assert_eq!(parse_listen("9464"), Ok(lo(9464)));
        assert_eq!(parse_listen(":9464"), Ok(lo(9464)));
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 80)))
        );
        assert_eq!(parse_listen("[::1]:9464").map(|a| a.port()), Ok(9464));
        assert!(parse_listen("nonsense").is_err());
        assert!(parse_listen("127.0.0.1:99999").is_err());
        assert!(parse_listen("").is_err());
    }

    /// A small deterministic generator (no dependency on the run's seeding).
    fn values(n: usize) -> Vec<u64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Log-uniform over 1 µs .. ~30 s, with the bounds themselves mixed in.
                match x % 10 {
                    0 => (BUCKETS_S[(x >> 8) as usize % BUCKETS_S.len()] * 1e6) as u64,
                    1 => (BUCKETS_S[(x >> 8) as usize % BUCKETS_S.len()] * 1e6) as u64 + 1,
                    _ => {
                        let e = (x >> 16) as f64 / (1u64 << 48) as f64 * 7.5;
                        10f64.powf(e) as u64
                    }
                }
                .max(1)
            })
            .collect()
    }

    #[test]
    fn buckets_from_hdr_match_a_brute_force_count() {
        let vs = values(50_000);
        let mut h = Hist::new();
        for &v in &vs {
            h.record(v);
        }
        let mut b = Buckets::default();
        fill_buckets(&mut b, &h);
        assert_eq!(b.count, vs.len() as u64);
        let mut cumulative = 0;
        for (i, &le) in BUCKETS_S.iter().enumerate() {
            cumulative += b.per_bucket[i];
            let le_us = (le * 1e6).round() as u64;
            // Exactly the samples up to the end of the HDR bucket the bound falls in ...
            let end = h.inner().highest_equivalent(le_us);
            let brute = vs.iter().filter(|&&v| v <= end).count() as u64;
            assert_eq!(cumulative, brute, "le={le}");
            // ... which is the samples <= the bound, give or take those within 0.1 % above.
            let at_most = vs.iter().filter(|&&v| v <= le_us).count() as u64;
            let near = (vs.iter())
                .filter(|&&v| v <= le_us + le_us / 1000 + 1)
                .count() as u64;
            assert!(at_most <= cumulative && cumulative <= near, "le={le}");
        }
        let above = vs.iter().filter(|&&v| v > 10_000_000).count() as u64;
        let top_end = h.inner().highest_equivalent(10_000_000);
        let above_hdr = vs.iter().filter(|&&v| v > top_end).count() as u64;
        assert_eq!(b.per_bucket[BUCKETS_S.len()], above_hdr);
        assert!(above_hdr <= above);
        let exact: f64 = vs.iter().map(|&v| v as f64 / 1e6).sum();
        assert!(
            (b.sum - exact).abs() <= exact * 0.001,
            "{} vs {exact}",
            b.sum
        );
    }

    #[test]
    fn buckets_add_up_over_seconds() {
        let hb = BucketHistogram::default();
        let mut all = Hist::new();
        for second in 0..3u64 {
            let mut h = Hist::new();
            for v in 1..=1000u64 {
                h.record(v * 37 * (second + 1));
            }
            all.add(&h);
            hb.add(&h);
        }
        let mut once = Buckets::default();
        fill_buckets(&mut once, &all);
        let got = hb.0.lock().unwrap().clone();
        assert_eq!(got.per_bucket, once.per_bucket);
        assert_eq!(got.count, 3000);
    }

    #[test]
    fn encodes_as_openmetrics() {
        let m = Metrics::default();
        let l = StepLabels {
            scenario: "s".into(),
            step: "GET /a".into(),
        };
        m.requests.get_or_create(&l).inc_by(3);
        let mut h = Hist::new();
        h.record(20_000);
        h.record(30_000);
        m.duration.get_or_create(&l).add(&h);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry()).unwrap();
        assert!(
            text.contains("skein_http_requests_total{scenario=\"s\",step=\"GET /a\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "skein_http_request_duration_seconds_bucket{le=\"0.025\",scenario=\"s\",step=\"GET /a\"} 1\n"
            ) || text.contains(
                "skein_http_request_duration_seconds_bucket{scenario=\"s\",step=\"GET /a\",le=\"0.025\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE skein_http_request_duration_seconds histogram"));
        assert!(text.ends_with("# EOF\n"));
    }
}
