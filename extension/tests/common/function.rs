//! A stand-in for the handler: a Lambda runtime loop on lambda-env's real Runtime API that, after each
//! response, sends OTLP/HTTP protobuf to the sidecar exactly as the handler contract says: `/v1/metrics`,
//! then `/v1/traces` with a SERVER root span carrying `faas.invocation_id`, ending last.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function does in one invocation (sent as the event payload).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Work {
    /// Child spans besides the root span.
    pub spans: usize,
    /// Export at all.
    pub export: bool,
    /// Also send a malformed and an oversized request before the real ones.
    pub bad_requests: bool,
}

impl Default for Work {
    fn default() -> Self {
        Self {
            spans: 3,
            export: true,
            bad_requests: false,
        }
    }
}

/// Statuses the sidecar answered to the deliberately bad requests.
pub type BadStatuses = Arc<Mutex<Vec<u16>>>;

#[derive(Default)]
pub struct Function {
    task: Option<tokio::task::JoinHandle<()>>,
    done: Arc<Mutex<HashMap<String, Instant>>>,
    pub bad_statuses: BadStatuses,
}

impl Function {
    pub fn start(runtime_api: &str, receiver_port: u16) -> Self {
        let done = Arc::new(Mutex::new(HashMap::new()));
        let bad_statuses = BadStatuses::default();
        let task = tokio::spawn(run(
            runtime_api.to_owned(),
            receiver_port,
            done.clone(),
            bad_statuses.clone(),
        ));
        Self {
            task: Some(task),
            done,
            bad_statuses,
        }
    }

    /// When the function finished invocation `id` (response and telemetry sent).
    pub async fn wait_done(&self, id: &str) -> Instant {
        let start = Instant::now();
        loop {
            if let Some(at) = self.done.lock().unwrap().get(id) {
                return *at;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "function never finished {id}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(
    runtime_api: String,
    port: u16,
    done: Arc<Mutex<HashMap<String, Instant>>>,
    bad: BadStatuses,
) {
    let client = reqwest::Client::new();
    let receiver = format!("http://127.0.0.1:{port}");
    loop {
        let Ok(next) = client
            .get(format!("{runtime_api}/2018-06-01/runtime/invocation/next"))
            .send()
            .await
        else {
            return;
        };
        let Some(id) = next
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return;
        };
        let work: Work = next.json().await.unwrap_or_default();
        client
            .post(format!(
                "{runtime_api}/2018-06-01/runtime/invocation/{id}/response"
            ))
            .body("{\"statusCode\":200}")
            .send()
            .await
            .expect("post response");
        if work.export {
            if work.bad_requests {
                for body in [vec![0xff; 16], vec![0u8; 5 << 20]] {
                    let status = post(&client, &format!("{receiver}/v1/traces"), body).await;
                    bad.lock().unwrap().push(status);
                }
            }
            let metrics = post(
                &client,
                &format!("{receiver}/v1/metrics"),
                metrics(&id).encode_to_vec(),
            )
            .await;
            assert_eq!(metrics, 200);
            let traces = post(
                &client,
                &format!("{receiver}/v1/traces"),
                traces(&id, work.spans).encode_to_vec(),
            )
            .await;
            assert_eq!(traces, 200);
        }
        done.lock().unwrap().insert(id, Instant::now());
    }
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![string("service.name", "aws-rust-http-api")],
        ..Default::default()
    })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn metrics(id: &str) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        attributes: vec![string("faas.invocation_id", id)],
        time_unix_nano: now_nanos(),
        value: Some(number_data_point::Value::AsInt(1)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "function.invocations".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![point],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces(id: &str, children: usize) -> ExportTraceServiceRequest {
    let trace_id: [u8; 16] = rand::random();
    let root_id: [u8; 8] = rand::random();
    let end = now_nanos();
    let mut spans: Vec<Span> = (0..children)
        .map(|i| Span {
            trace_id: trace_id.to_vec(),
            span_id: rand::random::<[u8; 8]>().to_vec(),
            parent_span_id: root_id.to_vec(),
            name: format!("child-{id}-{i}"),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: end - 900_000,
            end_time_unix_nano: end - 100_000,
            ..Default::default()
        })
        .collect();
    spans.push(Span {
        trace_id: trace_id.to_vec(),
        span_id: root_id.to_vec(),
        name: format!("root-{id}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: end - 1_000_000,
        end_time_unix_nano: end,
        attributes: vec![string("faas.invocation_id", id)],
        ..Default::default()
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
