//! A fake OTLP/HTTP backend: receives `/v1/traces`, `/v1/metrics` and `/v1/logs`, decodes them with
//! the official protobuf definitions (`opentelemetry-proto`), records them, and answers according
//! to a [`Behaviour`] the test can change at any time (accept, fail with a status, hang). What it
//! accepts is what the OpenTelemetry Collector accepts (`testkit/tests/collector_agreement.rs`).

use crate::TestkitError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How the backend answers the next requests.
#[derive(Clone, Debug, Default)]
pub enum Behaviour {
    /// Decode, record, answer 200.
    #[default]
    Accept,
    /// Answer this status without recording, with an optional `Retry-After` (seconds).
    Fail {
        /// The HTTP status to answer (429, 503…).
        status: u16,
        /// The `Retry-After` header's value, in seconds (none if None).
        retry_after: Option<u64>,
    },
    /// Record, then answer 200 with a partial success rejecting this many spans.
    PartialSuccess {
        /// `partialSuccess.rejectedSpans` of the answer (0 answers a plain success).
        rejected: i64,
    },
    /// Never answer (the connection stays open until the client gives up).
    Hang,
    /// Answer the next requests with these behaviours in turn (one each, in arrival order), then
    /// accept: e.g. one failure in the middle of an export of several requests.
    Sequence(VecDeque<Behaviour>),
}

/// One decoded request, as received.
#[derive(Clone, Debug)]
pub enum Received {
    /// A request to `/v1/traces`.
    Traces(ExportTraceServiceRequest),
    /// A request to `/v1/metrics`.
    Metrics(ExportMetricsServiceRequest),
    /// A request to `/v1/logs`.
    Logs(ExportLogsServiceRequest),
}

impl Received {
    /// The trace request, if this is one.
    pub fn into_traces(self) -> Option<ExportTraceServiceRequest> {
        match self {
            Received::Traces(t) => Some(t),
            _ => None,
        }
    }

    /// The metric request, if this is one.
    pub fn into_metrics(self) -> Option<ExportMetricsServiceRequest> {
        match self {
            Received::Metrics(m) => Some(m),
            _ => None,
        }
    }

    /// The log request, if this is one.
    pub fn into_logs(self) -> Option<ExportLogsServiceRequest> {
        match self {
            Received::Logs(l) => Some(l),
            _ => None,
        }
    }
}

/// Metadata of every request that reached the backend, decoded or not.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// The request path (`/v1/traces`…), without the query.
    pub path: String,
    /// The request's headers as received (`content-encoding`, `content-type`, user agent…).
    pub headers: HeaderMap,
    /// The status the backend answered with.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    behaviour: Behaviour,
    received: Vec<(SystemTime, Received)>,
    requests: Vec<RequestRecord>,
}

/// A running fake backend; stops when dropped.
pub struct FakeOtlpBackend {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOtlpBackend {
    /// Starts the backend on a free loopback port (inside the current tokio runtime).
    pub async fn start() -> Result<Self, TestkitError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| TestkitError::Io {
                what: "binding the fake OTLP backend".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| TestkitError::Io {
            what: "reading the backend's address".into(),
            source,
        })?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeOtlpBackend {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT` (the base for `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes how the following requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        lock(&self.shared).behaviour = behaviour;
    }

    /// Everything decoded so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared)
            .received
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Everything decoded so far, with the time each request arrived.
    pub fn received_timed(&self) -> Vec<(SystemTime, Received)> {
        lock(&self.shared).received.clone()
    }

    /// Metadata of every request so far (including rejected ones).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).requests.clone()
    }

    /// All decoded trace requests.
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.received()
            .into_iter()
            .filter_map(Received::into_traces)
            .collect()
    }

    /// All decoded metric requests.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.received()
            .into_iter()
            .filter_map(Received::into_metrics)
            .collect()
    }

    /// All decoded log requests.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.received()
            .into_iter()
            .filter_map(Received::into_logs)
            .collect()
    }

    /// Polls `condition` on what was received until it holds or `timeout` passes.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&FakeOtlpBackend) -> bool,
    ) -> Result<(), TestkitError> {
        let start = Instant::now();
        while !condition(self) {
            if start.elapsed() > timeout {
                return Err(TestkitError::Timeout(timeout, what.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

impl Drop for FakeOtlpBackend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behaviour = {
        let mut shared = lock(&shared);
        match &mut shared.behaviour {
            Behaviour::Sequence(next) => next.pop_front().unwrap_or_default(),
            other => other.clone(),
        }
    };
    let (status, response) = match behaviour {
        Behaviour::Hang => {
            record(&shared, &uri, &headers, 0);
            std::future::pending::<()>().await;
            unreachable!("pending never resolves")
        }
        Behaviour::Fail {
            status,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = code.into_response();
            if let Some(seconds) = retry_after
                && let Ok(value) = seconds.to_string().parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            (status, response)
        }
        // A sequence's entries are taken one per request above; a nested sequence accepts.
        Behaviour::Accept | Behaviour::PartialSuccess { .. } | Behaviour::Sequence(_) => {
            match decode(uri.path(), &headers, &body) {
                Ok(received) => {
                    lock(&shared).received.push((SystemTime::now(), received));
                    let rejected = match behaviour {
                        Behaviour::PartialSuccess { rejected } => rejected,
                        _ => 0,
                    };
                    (200, success_response(rejected))
                }
                Err(status) => (status.as_u16(), status.into_response()),
            }
        }
    };
    record(&shared, &uri, &headers, status);
    response
}

fn record(shared: &Mutex<Shared>, uri: &Uri, headers: &HeaderMap, status: u16) {
    lock(shared).requests.push(RequestRecord {
        path: uri.path().to_string(),
        headers: headers.clone(),
        status,
    });
}

/// An `ExportTraceServiceResponse`-shaped body; the metrics and logs responses share its wire form.
fn success_response(rejected: i64) -> Response {
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: "rejected by the fake backend".into(),
    });
    let body = ExportTraceServiceResponse { partial_success }.encode_to_vec();
    ([(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
}

fn decode(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Received, StatusCode> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map_err(|_| StatusCode::BAD_REQUEST)?;
        out
    } else {
        body.to_vec()
    };
    // As the collector's OTLP receiver: protobuf or JSON, anything else is 415.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let json = content_type.starts_with(b"application/json");
    if !json && !content_type.starts_with(b"application/x-protobuf") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    fn parse<T: Message + Default + serde::de::DeserializeOwned>(
        body: &[u8],
        json: bool,
    ) -> Result<T, StatusCode> {
        if json {
            serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)
        } else {
            T::decode(body).map_err(|_| StatusCode::BAD_REQUEST)
        }
    }
    let received = match path {
        "/v1/traces" => parse(&body, json).map(Received::Traces),
        "/v1/metrics" => parse(&body, json).map(Received::Metrics),
        "/v1/logs" => parse(&body, json).map(Received::Logs),
        _ => Err(StatusCode::NOT_FOUND),
    }?;
    if ids_have_valid_lengths(&received) {
        Ok(received)
    } else {
        Err(StatusCode::BAD_REQUEST)
    }
}

/// As the OpenTelemetry Collector decodes OTLP (pdata v1.67.0, `TraceID`/`SpanID` `UnmarshalProto`):
/// every trace id is 16 bytes and every span id 8, or empty; otherwise the whole request is a 400.
/// `testkit/tests/collector_agreement.rs` checks this backend against the real collector.
fn ids_have_valid_lengths(received: &Received) -> bool {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let ok = |id: &[u8], len: usize| id.is_empty() || id.len() == len;
    match received {
        Received::Traces(t) => t
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .all(|span| {
                ok(&span.trace_id, 16)
                    && ok(&span.span_id, 8)
                    && ok(&span.parent_span_id, 8)
                    && span
                        .links
                        .iter()
                        .all(|l| ok(&l.trace_id, 16) && ok(&l.span_id, 8))
            }),
        Received::Logs(l) => l
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .all(|r| ok(&r.trace_id, 16) && ok(&r.span_id, 8)),
        Received::Metrics(m) => m
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter_map(|metric| metric.data.as_ref())
            .all(|data| {
                let exemplars: Vec<_> = match data {
                    Data::Gauge(g) => g.data_points.iter().flat_map(|p| &p.exemplars).collect(),
                    Data::Sum(s) => s.data_points.iter().flat_map(|p| &p.exemplars).collect(),
                    Data::Histogram(h) => h.data_points.iter().flat_map(|p| &p.exemplars).collect(),
                    Data::ExponentialHistogram(h) => {
                        h.data_points.iter().flat_map(|p| &p.exemplars).collect()
                    }
                    Data::Summary(_) => Vec::new(),
                };
                exemplars
                    .iter()
                    .all(|e| ok(&e.trace_id, 16) && ok(&e.span_id, 8))
            }),
    }
}
