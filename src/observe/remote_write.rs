//! `--remote-write URL`: the run's figures pushed to a Prometheus remote-write receiver
//! (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos, VictoriaMetrics,
//! Grafana Cloud) every 5 s and once at the end: the counters and gauges as samples, the
//! two duration histograms as native histograms (schema 3), each at the end of its second.
//!
//! The sends happen on a thread of their own behind a bounded queue: a second never waits on
//! the network, and a remote that is down, slow or failing costs the load nothing. A batch
//! is tried 3 times (0.5 s, then 1 s apart); what could not be sent is counted, and the
//! [`Outcome`] says how much at the end. Credentials come from the environment
//! (`SKEIN_REMOTE_WRITE_BEARER`, or `SKEIN_REMOTE_WRITE_USER` and
//! `SKEIN_REMOTE_WRITE_PASSWORD`) and are never printed; [`redact`] strips any from the URL.

pub mod native;
pub mod prompb;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::engine::{EngineError, Second, Subscriber};
use crate::metrics::{CellData, ErrorKind, RunResult};
use native::Buckets;
use prompb::{Label, Sample, TimeSeries, WriteRequest};

/// How often a batch goes out.
pub const FLUSH_EVERY_MS: i64 = 5_000;
/// Batches waiting for the sender at most; past that a batch is dropped (and counted).
const QUEUE: usize = 8;
/// Tries per batch, and the wait before the second (doubling, at most [`MAX_BACKOFF`]).
const TRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// One request's limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the end of the run waits for the last batches.
const DRAIN: Duration = Duration::from_secs(5);

/// How the remote is authenticated.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer(String),
    Basic(String, Option<String>),
}

impl Auth {
    /// From `SKEIN_REMOTE_WRITE_BEARER`, else `SKEIN_REMOTE_WRITE_USER` (and
    /// `SKEIN_REMOTE_WRITE_PASSWORD`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Auth {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(t) = set("SKEIN_REMOTE_WRITE_BEARER") {
            return Auth::Bearer(t);
        }
        match set("SKEIN_REMOTE_WRITE_USER") {
            Some(u) => Auth::Basic(u, set("SKEIN_REMOTE_WRITE_PASSWORD")),
            None => Auth::None,
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(***)",
            Auth::Basic(..) => "Basic(***)",
        })
    }
}

/// What to send where.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub auth: Auth,
    /// The results folder's id, or the shard's run id.
    pub run_id: String,
    /// `index/count`: "0/1" for a whole run.
    pub shard: String,
    /// The run's name and model (`open`, `closed`), for `skein_run_info`.
    pub name: String,
    pub model: String,
}

/// `url` with no credentials in it (user, password, query), fit to print.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let had_user = !u.username().is_empty() || u.password().is_some();
            if had_user {
                let _ = u.set_username("");
                let _ = u.set_password(None);
            }
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            let s = u.to_string();
            if had_user {
                s.replacen("://", "://***@", 1)
            } else {
                s
            }
        }
        Err(_) => "(an invalid URL)".to_string(),
    }
}

/// `url` is an http(s) URL (the message names no credentials).
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("give an http:// or https:// URL".into());
    }
    Ok(())
}

/// What was sent, at the end of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The URL, redacted.
    pub url: String,
    /// Samples (each a value or a histogram at one time) accepted by the remote.
    pub sent: u64,
    /// Samples not sent: refused, failed after every try, dropped from a full queue, or
    /// still waiting when the run ended.
    pub unsent: u64,
    /// The last failure (no credentials in it).
    pub last_error: Option<String>,
}

/// Where the [`Outcome`] appears once the run has finished.
#[derive(Clone, Default)]
pub struct OutcomeSlot(Arc<Mutex<Option<Outcome>>>);

impl OutcomeSlot {
    pub fn take(&self) -> Option<Outcome> {
        self.0.lock().ok().and_then(|mut o| o.take())
    }
}

struct Shared {
    sent: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The run is over and stopped waiting: no more tries.
    abandon: AtomicBool,
}

struct Batch {
    body: Vec<u8>,
    samples: u64,
}

/// The subscriber: builds each second's samples and hands a batch to the sender every
/// [`FLUSH_EVERY_MS`].
pub struct RemoteWrite {
    url: String,
    base: Vec<Label>,
    info: Vec<Label>,
    /// Unix ms of the run's start (`run.started_at`, read on the first second).
    origin_ms: Option<i64>,
    /// The counters the gauges hold per second, summed: scheduled, started, late, dropped.
    schedule: [u64; 4],
    pending: Vec<TimeSeries>,
    index: HashMap<Vec<Label>, usize>,
    pending_samples: u64,
    first_pending_ms: Option<i64>,
    produced: u64,
    tx: Option<SyncSender<Batch>>,
    done: std::sync::mpsc::Receiver<()>,
    shared: Arc<Shared>,
    slot: OutcomeSlot,
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

impl RemoteWrite {
    /// Check the URL, build the HTTP client and start the sender.
    pub fn start(cfg: Config) -> Result<(RemoteWrite, OutcomeSlot), String> {
        let shown = redact(&cfg.url);
        check_url(&cfg.url).map_err(|e| format!("--remote-write {shown}: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| format!("--remote-write {shown}: building the HTTP client: {e}"))?;
        let shared = Arc::new(Shared {
            sent: AtomicU64::new(0),
            last_error: Mutex::new(None),
            abandon: AtomicBool::new(false),
        });
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let (done_tx, done) = std::sync::mpsc::channel();
        let sender = Sender {
            url: cfg.url.clone(),
            auth: cfg.auth.clone(),
            client,
            shared: shared.clone(),
        };
        std::thread::Builder::new()
            .name("skein-remote-write".into())
            .spawn(move || {
                sender.run(rx);
                drop(done_tx);
            })
            .map_err(|e| format!("--remote-write: starting its thread: {e}"))?;
        let slot = OutcomeSlot::default();
        let base = vec![
            label("job", "skein"),
            label("run_id", &cfg.run_id),
            label("shard", &cfg.shard),
        ];
        let info = vec![label("model", &cfg.model), label("name", &cfg.name)];
        Ok((
            RemoteWrite {
                url: shown,
                base,
                info,
                origin_ms: None,
                schedule: [0; 4],
                pending: Vec::new(),
                index: HashMap::new(),
                pending_samples: 0,
                first_pending_ms: None,
                produced: 0,
                tx: Some(tx),
                done,
                shared,
                slot: slot.clone(),
            },
            slot,
        ))
    }

    /// The series' labels, sorted by name.
    fn labels(&self, name: &str, extra: &[Label]) -> Vec<Label> {
        let mut l = Vec::with_capacity(self.base.len() + extra.len() + 1);
        l.push(label("__name__", name));
        l.extend(self.base.iter().cloned());
        l.extend(extra.iter().cloned());
        l.sort_by(|a, b| a.name.cmp(&b.name));
        l
    }

    fn series(&mut self, labels: Vec<Label>) -> &mut TimeSeries {
        let i = match self.index.get(&labels) {
            Some(&i) => i,
            None => {
                self.pending.push(TimeSeries {
                    labels: labels.clone(),
                    ..TimeSeries::default()
                });
                self.index.insert(labels, self.pending.len() - 1);
                self.pending.len() - 1
            }
        };
        &mut self.pending[i]
    }

    fn sample(&mut self, name: &str, extra: &[Label], value: f64, ts: i64) {
        let l = self.labels(name, extra);
        self.series(l).samples.push(Sample {
            value,
            timestamp: ts,
        });
        self.pending_samples += 1;
    }

    fn histogram(&mut self, name: &str, extra: &[Label], b: &Buckets, ts: i64) {
        let l = self.labels(name, extra);
        let h = native::to_proto(b, ts);
        self.series(l).histograms.push(h);
        self.pending_samples += 1;
    }

    /// Every series' value at `ts` (Unix ms): each request cell's cumulative counts and
    /// histograms, the run's gauges and schedule.
    fn add_second(&mut self, s: &Second<'_>, ts: i64) {
        for (info, d) in s.layout.iter().zip(s.totals.totals().iter()) {
            // Only requests: a page view, a group... count by the requests inside them.
            if !info.is_request() {
                continue;
            }
            let cell = [label("scenario", &info.scenario), label("step", &info.step)];
            self.cell(&cell, d, ts);
        }
        let g = s.gauges;
        for (sum, add) in self
            .schedule
            .iter_mut()
            .zip([g.scheduled, g.started, g.late, g.dropped])
        {
            *sum += add;
        }
        let [scheduled, started, late, dropped] = self.schedule;
        self.sample("skein_users", &[], g.users as f64, ts);
        self.sample(
            "skein_iterations_scheduled_total",
            &[],
            scheduled as f64,
            ts,
        );
        self.sample("skein_iterations_started_total", &[], started as f64, ts);
        self.sample("skein_iterations_late_total", &[], late as f64, ts);
        self.sample("skein_iterations_dropped_total", &[], dropped as f64, ts);
        self.sample("skein_generator_cpu_ratio", &[], g.cpu_pct / 100.0, ts);
        self.sample(
            "skein_generator_scheduler_lag_seconds",
            &[],
            g.sched_lag_us as f64 / 1e6,
            ts,
        );
        let info = self.info.clone();
        self.sample("skein_run_info", &info, 1.0, ts);
    }

    fn cell(&mut self, cell: &[Label], d: &CellData, ts: i64) {
        self.sample("skein_http_requests_total", cell, d.requests as f64, ts);
        for k in ErrorKind::ALL {
            let n = d.errors[k as usize];
            if n > 0 {
                let mut l = cell.to_vec();
                l.push(label("kind", k.as_str()));
                self.sample("skein_http_request_errors_total", &l, n as f64, ts);
            }
        }
        self.sample(
            "skein_check_failures_total",
            cell,
            d.check_failed as f64,
            ts,
        );
        self.sample("skein_http_response_bytes_total", cell, d.bytes as f64, ts);
        // Response time as result.json's `response_time` reports it: the measured samples
        // only (the closed model's coordinated-omission estimate is a separate figure there,
        // and here its count would exceed the requests').
        let response = native::buckets(d.hist.inner(), 1e-6);
        self.histogram("skein_http_request_duration_seconds", cell, &response, ts);
        let service = native::buckets(d.service.inner(), 1e-6);
        self.histogram("skein_http_service_duration_seconds", cell, &service, ts);
    }

    /// Hand what is pending to the sender (dropped, and counted, when its queue is full).
    fn flush(&mut self) {
        self.first_pending_ms = None;
        if self.pending.is_empty() {
            return;
        }
        let req = WriteRequest {
            timeseries: std::mem::take(&mut self.pending),
        };
        self.index.clear();
        let samples = std::mem::take(&mut self.pending_samples);
        self.produced += samples;
        let body = match snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()) {
            Ok(b) => b,
            Err(e) => {
                self.note_error(format!("compressing a batch: {e}"));
                return;
            }
        };
        if let Some(tx) = &self.tx {
            match tx.try_send(Batch { body, samples }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.note_error("the remote is too slow: a batch was dropped".into())
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    fn note_error(&self, e: String) {
        if let Ok(mut l) = self.shared.last_error.lock() {
            *l = Some(e);
        }
    }
}

impl Subscriber for RemoteWrite {
    fn second(&mut self, s: &Second<'_>) -> Result<(), EngineError> {
        let end_ms = ((s.t_us + s.duration_us) / 1000) as i64;
        // The run's start on the wall clock: a `--workers` parent publishes its seconds
        // when the workers' journals have them, later than they ended.
        let origin = *self.origin_ms.get_or_insert_with(|| {
            chrono::DateTime::parse_from_rfc3339(&s.so_far().run.started_at)
                .map(|t| t.timestamp_millis())
                .unwrap_or_else(|_| unix_ms() - end_ms)
        });
        let ts = origin + end_ms;
        self.add_second(s, ts);
        let first = *self.first_pending_ms.get_or_insert(ts);
        if ts - first >= FLUSH_EVERY_MS {
            self.flush();
        }
        Ok(())
    }

    fn finish(&mut self, _result: &RunResult) -> Result<(), EngineError> {
        self.flush();
        // No more batches: the sender ends once it has tried the last.
        self.tx = None;
        let _ = self.done.recv_timeout(DRAIN);
        self.shared.abandon.store(true, Ordering::Relaxed);
        let sent = self.shared.sent.load(Ordering::Relaxed);
        let outcome = Outcome {
            url: self.url.clone(),
            sent,
            unsent: self.produced.saturating_sub(sent),
            last_error: self.shared.last_error.lock().ok().and_then(|l| l.clone()),
        };
        if let Ok(mut slot) = self.slot.0.lock() {
            *slot = Some(outcome);
        }
        Ok(())
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The sending thread: one batch at a time, each tried [`TRIES`] times.
struct Sender {
    url: String,
    auth: Auth,
    client: reqwest::Client,
    shared: Arc<Shared>,
}

impl Sender {
    fn run(self, rx: Receiver<Batch>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                self.error(format!("starting the sender: {e}"));
                return;
            }
        };
        while let Ok(batch) = rx.recv() {
            let mut wait = FIRST_BACKOFF;
            for attempt in 1..=TRIES {
                if self.shared.abandon.load(Ordering::Relaxed) {
                    return;
                }
                match rt.block_on(self.post(&batch.body)) {
                    Ok(()) => {
                        self.shared.sent.fetch_add(batch.samples, Ordering::Relaxed);
                        break;
                    }
                    Err((e, retry)) => {
                        self.error(e);
                        if !retry || attempt == TRIES {
                            break;
                        }
                    }
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn error(&self, e: String) {
        if let Ok(mut l) = self.shared.last_error.lock() {
            *l = Some(e);
        }
    }

    /// One try: `Err((why, worth another try))`.
    async fn post(&self, body: &[u8]) -> Result<(), (String, bool)> {
        let mut req = self
            .client
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", concat!("skein/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.to_vec());
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, p.as_ref()),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| (describe(&e.without_url()), true))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(200).collect();
        // 5xx and 429 may pass; any other refusal (a bad sample) would be refused again.
        let retry = status.is_server_error() || status.as_u16() == 429;
        Err((format!("HTTP {status}: {text}"), retry))
    }
}

/// An error with its causes.
fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompb::{BucketSpan, Histogram, histogram};

    #[test]
    fn write_request_round_trips() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    label("__name__", "skein_http_requests_total"),
                    label("step", "/"),
                ],
                samples: vec![Sample {
                    value: 42.0,
                    timestamp: 1_700_000_000_000,
                }],
                histograms: vec![Histogram {
                    count: Some(histogram::Count::CountInt(10)),
                    sum: 0.25,
                    schema: 3,
                    zero_threshold: native::ZERO_THRESHOLD,
                    zero_count: Some(histogram::ZeroCount::ZeroCountInt(0)),
                    positive_spans: vec![BucketSpan {
                        offset: -45,
                        length: 2,
                    }],
                    positive_deltas: vec![4, 2],
                    reset_hint: 0,
                    timestamp: 1_700_000_000_000,
                }],
            }],
        };
        let bytes = req.encode_to_vec();
        let compressed = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(WriteRequest::decode(back.as_slice()).unwrap(), req);
        // Field numbers as prompb's: TimeSeries.histograms is 4, Histogram.schema is a
        // sint32 at 4 (3 zigzag-coded is 6).
        let h = req.timeseries[0].histograms[0].encode_to_vec();
        assert!(h.windows(2).any(|w| w == [4 << 3, 6]), "{h:?}");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact("https://user:secret@example.com/api/v1/push?token=abc"),
            "https://***@example.com/api/v1/push?***"
        );
        assert_eq!(
            redact("http://127.0.0.1:9090/api/v1/write"),
            "http://127.0.0.1:9090/api/v1/write"
        );
        assert!(!format!("{:?}", Auth::Bearer("secret".into())).contains("secret"));
    }

    #[test]
    fn auth_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(matches!(
            Auth::from_env(env(&[("SKEIN_REMOTE_WRITE_BEARER", "t")])),
            Auth::Bearer(t) if t == "t"
        ));
        assert!(matches!(
            Auth::from_env(env(&[
                ("SKEIN_REMOTE_WRITE_USER", "u"),
                ("SKEIN_REMOTE_WRITE_PASSWORD", "p")
            ])),
            Auth::Basic(u, Some(p)) if u == "u" && p == "p"
        ));
        assert!(matches!(Auth::from_env(env(&[])), Auth::None));
    }
}
