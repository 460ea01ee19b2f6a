//! Receiver throughput: 4 concurrent clients posting 100-span OTLP/HTTP protobuf requests for 3 s to a
//! running sidecar (no flush meanwhile), then its peak RSS.

use crate::harness::Sidecar;
use crate::rss::rss_kb;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::time::{Duration, Instant};

pub async fn run(sidecar: &Sidecar) {
    let port = sidecar.receiver_port;
    let body = bytes::Bytes::from(prost::Message::encode_to_vec(&request_with_spans(100)));
    let deadline = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    let response = client
                        .post(format!("http://127.0.0.1:{port}/v1/traces"))
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await;
                    if response.is_ok_and(|r| r.status().is_success()) {
                        sent += 100;
                    }
                }
                sent
            })
        })
        .collect();
    let mut spans = 0;
    for task in tasks {
        spans += task.await.unwrap_or(0);
    }
    println!(
        "Receiver throughput (OTLP/HTTP protobuf, 100 spans/request, 4 clients): {:.0} spans/s; peak RSS after it {:.1} MB (buffer cap 8 MiB)",
        spans as f64 / 3.0,
        rss_kb(sidecar.pid, "VmHWM:") as f64 / 1024.0
    );
}

fn request_with_spans(n: usize) -> ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /items/{i}"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
