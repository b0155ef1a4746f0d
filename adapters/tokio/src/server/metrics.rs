//! `GET /metrics` in the Prometheus text format (0.0.4), written by the `prometheus-client`
//! crate from the server's [`ServerMetrics`] snapshot at each scrape, plus the store batch
//! latency histogram the driver observes (the adapter owns the store IO and the clock).
//!
//! Served on its own listener ([`ServerBuilder::metrics`](super::ServerBuilder::metrics),
//! loopback by default in `arcp serve`) or on the WebSocket port
//! ([`ServerBuilder::metrics_same_port`](super::ServerBuilder::metrics_same_port)). The series
//! are listed in the README ("Dashboard and metrics").

use arcp_host::server::{MetricsHandle, ServerMetrics};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The `Content-Type` of the answer.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How long one connection to the metrics listener may take (one request per connection).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store batch latency histogram's buckets, in seconds (0.5 ms to ~4 s, doubling).
pub(crate) fn store_latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

/// The registry a scrape encodes.
#[derive(Debug)]
pub(crate) struct Exporter {
    registry: Registry,
}

impl Exporter {
    /// The exporter of `handle`'s snapshots, `agents` hosted agents and the store latency.
    pub(crate) fn new(handle: MetricsHandle, agents: usize, store_latency: Histogram) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "arcp_store_batch_duration_seconds",
            "Time from handing a batch to the durable store to its completion",
            store_latency,
        );
        registry.register_collector(Box::new(Snapshot {
            handle,
            agents: u64::try_from(agents).unwrap_or(u64::MAX),
        }));
        Exporter { registry }
    }

    /// The exposition text of now.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error leaves what was written.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Reads the server's snapshot at each scrape.
#[derive(Debug)]
struct Snapshot {
    handle: MetricsHandle,
    agents: u64,
}

/// One series family: a name, its help, its type, and its `(labels, value)` samples.
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    kind: MetricType,
    samples: Vec<(Vec<(&'a str, &'a str)>, u64)>,
}

fn counter<'a>(name: &'a str, help: &'a str, v: u64) -> Family<'a> {
    Family {
        name,
        help,
        kind: MetricType::Counter,
        samples: vec![(vec![], v)],
    }
}

fn gauge<'a>(name: &'a str, help: &'a str, v: u64) -> Family<'a> {
    Family {
        name,
        help,
        kind: MetricType::Gauge,
        samples: vec![(vec![], v)],
    }
}

fn labelled<'a>(
    name: &'a str,
    help: &'a str,
    kind: MetricType,
    label: &'a str,
    values: Vec<(&'a str, u64)>,
) -> Family<'a> {
    Family {
        name,
        help,
        kind,
        samples: values
            .into_iter()
            .map(|(l, v)| (vec![(label, l)], v))
            .collect(),
    }
}

/// Every series of a snapshot (names without the `_total` the encoder adds to counters).
fn families<'a>(m: &'a ServerMetrics, agents: u64) -> Vec<Family<'a>> {
    let r = &m.runtime;
    let unrevoked = u64::try_from(m.unrevoked.len())
        .unwrap_or(u64::MAX)
        .saturating_add(m.unrevoked_dropped);
    let mut auth: Vec<(&str, u64)> = r
        .auth_failures
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    if auth.is_empty() {
        auth.push(("failed", 0));
    }
    vec![
        counter(
            "arcp_connections_opened",
            "Transport connections opened",
            m.connections_opened,
        ),
        gauge(
            "arcp_connections_open",
            "Transport connections open now",
            m.connections_open,
        ),
        counter(
            "arcp_sessions_opened",
            "New sessions welcomed (resumes not included)",
            r.sessions_opened,
        ),
        labelled(
            "arcp_sessions",
            "Sessions held now: attached (live) or detached within their resume window (resumable)",
            MetricType::Gauge,
            "state",
            vec![
                ("live", m.sessions_live),
                ("resumable", m.sessions_resumable),
            ],
        ),
        labelled(
            "arcp_jobs_ended",
            "Jobs ended, by final status",
            MetricType::Counter,
            "status",
            vec![
                ("success", r.jobs_succeeded),
                ("error", r.jobs_failed),
                ("cancelled", r.jobs_cancelled),
                ("timed_out", r.jobs_timed_out),
            ],
        ),
        gauge(
            "arcp_jobs_running",
            "Agent tasks running now (one per running job)",
            m.jobs_running,
        ),
        counter("arcp_events_emitted", "job.event frames sent", r.events_out),
        counter(
            "arcp_frames_received",
            "Complete inbound frames",
            m.frames_in,
        ),
        counter("arcp_frames_sent", "Frames sent", r.frames_out),
        counter(
            "arcp_received_bytes",
            "Bytes of the inbound frames",
            m.bytes_in,
        ),
        counter("arcp_sent_bytes", "Bytes of the frames sent", m.bytes_out),
        counter(
            "arcp_slow_consumer_cuts",
            "Connections cut because their writer took nothing for slow_consumer_timeout",
            m.slow_consumer_cuts,
        ),
        labelled(
            "arcp_resumes",
            "Resume attempts, by outcome",
            MetricType::Counter,
            "outcome",
            vec![
                ("succeeded", r.resumes_succeeded),
                ("expired", r.resumes_expired),
                ("denied", r.resumes_denied),
            ],
        ),
        labelled(
            "arcp_auth_failures",
            "Failed authentications, by reason",
            MetricType::Counter,
            "reason",
            auth,
        ),
        labelled(
            "arcp_limit_hits",
            "Requests refused or sessions evicted by a configured limit",
            MetricType::Counter,
            "limit",
            vec![
                (
                    "max_sessions_per_principal",
                    r.sessions_per_principal_denied,
                ),
                ("max_jobs_per_principal", r.jobs_per_principal_denied),
                ("resumable_sessions", r.resumable_sessions_evicted),
                ("zero_throughput", r.zero_throughput_closed),
            ],
        ),
        labelled(
            "arcp_subscribe_decisions",
            "job.subscribe requests, by decision",
            MetricType::Counter,
            "decision",
            vec![
                ("accepted", r.subscribes_allowed),
                ("refused", r.subscribes_denied),
                ("over_limit", r.subscribes_over_limit),
            ],
        ),
        labelled(
            "arcp_operations_refused",
            "Operations of running jobs refused at the lease gate, by error code",
            MetricType::Counter,
            "code",
            vec![
                ("PERMISSION_DENIED", r.operations_denied),
                ("LEASE_EXPIRED", r.operations_lease_expired),
                ("BUDGET_EXHAUSTED", r.operations_budget_exhausted),
            ],
        ),
        counter(
            "arcp_leases_expired",
            "Running jobs ended by their lease's expiry",
            r.leases_expired,
        ),
        counter(
            "arcp_heartbeats_lost",
            "Connections closed for a lost heartbeat",
            r.heartbeats_lost,
        ),
        counter(
            "arcp_subscriptions_truncated",
            "Subscriptions ended by a truncation notice",
            r.subscriptions_truncated,
        ),
        gauge(
            "arcp_unrevoked_credentials",
            "Provisioned credentials whose revocation failed (revoke them by hand)",
            unrevoked,
        ),
        gauge("arcp_agents", "Agents hosted", agents),
        gauge(
            "arcp_retained_bytes",
            "Bytes the server keeps now (session rings, kept messages, job ends)",
            m.retained_bytes(),
        ),
    ]
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.handle.get();
        for f in families(&m, self.agents) {
            let mut family = encoder.encode_descriptor(f.name, f.help, None, f.kind)?;
            for (labels, v) in &f.samples {
                let sample = family.encode_family(labels)?;
                match f.kind {
                    MetricType::Counter => ConstCounter::new(*v).encode(sample)?,
                    _ => ConstGauge::new(*v).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

/// Serves `GET /metrics` on `listener` until `stop` turns true (one request per connection,
/// each bounded by 10 s; anything else is 404).
pub(crate) async fn serve_listener(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    let exporter = exporter.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let resp = answer(&req, &exporter);
                            async move { Ok::<_, Infallible>(resp) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .keep_alive(false)
                            .serve_connection(TokioIo::new(tcp), svc);
                        let _ = tokio::time::timeout(EXCHANGE_TIMEOUT, conn).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

fn answer(req: &Request<Incoming>, exporter: &Exporter) -> Response<String> {
    let (status, ty, body) = if req.uri().path() == "/metrics" {
        (StatusCode::OK, CONTENT_TYPE, exporter.render())
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        )
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_server_renders_zeroes_with_conventional_names() {
        let h = store_latency_histogram();
        h.observe(0.003);
        let text = Exporter::new(MetricsHandle::default(), 7, h).render();
        for line in [
            "# TYPE arcp_connections_opened_total counter",
            "arcp_connections_opened_total 0",
            "arcp_jobs_ended_total{status=\"success\"} 0",
            "arcp_sessions{state=\"resumable\"} 0",
            "arcp_auth_failures_total{reason=\"failed\"} 0",
            "arcp_agents 7",
            "# TYPE arcp_store_batch_duration_seconds histogram",
            "arcp_store_batch_duration_seconds_count 1",
            "arcp_store_batch_duration_seconds_bucket{le=\"0.004\"} 1",
            "arcp_store_batch_duration_seconds_bucket{le=\"0.002\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }
}
