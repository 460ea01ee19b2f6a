//! The real `bootstrap` does not wait for otel-sidecar's answer to a hand-off made well within the
//! completion wait the sidecar announces in its answers (`otel-sidecar-completion-wait-ms`, less 250 ms)
//! and before the invocation's deadline: the request is on the wire before the runtime's `next`, its
//! answer is read at the next hand-off, nothing is lost to the freeze, and a failure found in that answer
//! opens the breaker one hand-off late. A receiver that announces no wait (or 0) is waited for every time.
//!
//! Costs are measured as in `handoff_breaker.rs` (the response reaching the Runtime API → the runtime's
//! next `next`) against an answer delay far above them, so a loaded machine cannot blur the two.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{BREAKER_CLOSED, BREAKER_OPENED, Function, event, handoff_costs, http_response};
use lambda_env::Finished;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::Value;
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::otlp_view::spans;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How late the proxy passes the sidecar's answers on: below the function's 500 ms hand-off timeout,
/// far above what a hand-off costs when it does not wait.
const ANSWER_DELAY: Duration = Duration::from_millis(400);

/// Invokes `n` times, one at a time, `pause` after each (time for a late answer to arrive while the
/// sandbox is frozen).
async fn invoke_spaced(function: &Function, n: usize, pause: Duration) -> Vec<Finished> {
    let mut states = Vec::new();
    for _ in 0..n {
        let id = function.enqueue(event("apigw_v2_root.json"), None).await;
        let state = function.wait(&id).await;
        assert_eq!(http_response(&state).0, 200, "requests are served");
        states.push(state);
        tokio::time::sleep(pause).await;
    }
    states
}

/// Forwards connections from `listener` to `target`: requests at once, every answer `delay` late.
/// Returns how many answers (reads from the sidecar) it has passed on so far.
fn delaying_proxy(listener: TcpListener, target: SocketAddr, delay: Duration) -> Arc<AtomicUsize> {
    let forwarded = Arc::new(AtomicUsize::new(0));
    let count = forwarded.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut from_function, mut to_function) = inbound.into_split();
                let (mut from_sidecar, mut to_sidecar) = outbound.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_function, &mut to_sidecar).await;
                });
                let mut chunk = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = from_sidecar.read(&mut chunk).await {
                    tokio::time::sleep(delay).await;
                    if to_function.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    forwarded
}

#[tokio::test]
async fn the_runtime_does_not_wait_for_otel_sidecars_answer() {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_address = proxy.local_addr().unwrap();
    let function = Function::start_with_sidecar(
        &["bucket"],
        &[("OTEL_SIDECAR_ENDPOINT", format!("http://{proxy_address}"))],
        &[],
    )
    .await;
    // The function connects at its first hand-off, after init: the proxy can start now.
    let sidecar: SocketAddr = function
        .sidecar_endpoint
        .as_deref()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let forwarded = delaying_proxy(proxy, sidecar, ANSWER_DELAY);

    // One invocation at a time, the next once the previous answer has reached the function (as in
    // Lambda, where it is there before the freeze), so that reading it costs nothing.
    let mut states = Vec::new();
    for i in 1..=5 {
        states.extend(invoke_spaced(&function, 1, Duration::ZERO).await);
        for _ in 0..500 {
            if forwarded.load(Ordering::SeqCst) >= i {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            forwarded.load(Ordering::SeqCst) >= i,
            "answer {i} forwarded"
        );
    }
    let costs = handoff_costs(&states);
    assert!(
        costs[0] >= ANSWER_DELAY,
        "the first hand-off waits for its answer (is it otel-sidecar?): {:?}",
        costs[0]
    );
    for (i, cost) in costs.iter().enumerate().skip(1) {
        assert!(
            *cost < ANSWER_DELAY / 2,
            "hand-off {i} waited for the answer: {cost:?}"
        );
    }
    // Nothing lost to the freeze: every invocation's SERVER span reaches the backend (by SHUTDOWN at the
    // latest: a busy function's data waits in the sidecar's buffer for a later flush).
    function
        .sandbox
        .shutdown(lambda_env::ShutdownReason::Spindown)
        .await;
    let exported = |id: &str| {
        spans(&function.backend.traces())
            .iter()
            .any(|s| s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(id))
    };
    for state in &states {
        let id = state.request_id.clone();
        function
            .backend
            .wait_until(
                "the invocation's SERVER span",
                Duration::from_secs(10),
                |_| exported(&id),
            )
            .await
            .unwrap_or_else(|e| {
                let seen: Vec<_> = spans(&function.backend.traces())
                    .iter()
                    .filter_map(|s| Some(s.attr_str(INVOCATION_ID_ATTRIBUTE)?.to_owned()))
                    .collect();
                let all: Vec<_> = states.iter().map(|s| s.request_id.clone()).collect();
                panic!("{e:?}: {id} not exported; exported {seen:?} of {all:?}")
            });
    }
    assert!(
        function.lines_with(BREAKER_OPENED).is_empty(),
        "late answers are not failures"
    );
}

/// A receiver that answers hand-offs 204 after `delay`, with `announced` (the completion wait header's
/// line, if any), except the `fail_at`-th request (from 1), answered 503; it records each request's
/// line and span count.
async fn scripted_sidecar(
    fail_at: usize,
    announced: Option<&'static str>,
    delay: Duration,
) -> (String, Arc<Mutex<Vec<(String, usize)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                while let Some((line, body)) = read_request(&mut stream, &mut buffer).await {
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push((line, span_count(&body)));
                        log.len()
                    };
                    let answer = if n == fail_at {
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_owned()
                    } else {
                        let header = announced.map(|h| format!("{h}\r\n")).unwrap_or_default();
                        format!("HTTP/1.1 204 No Content\r\n{header}\r\n")
                    };
                    tokio::time::sleep(delay).await;
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{address}"), requests)
}

/// otel-sidecar's default announcement.
const WAIT_3S: &str = "otel-sidecar-completion-wait-ms: 3000";

/// The spans in a hand-off body.
fn span_count(body: &[u8]) -> usize {
    let handoff = sidecar_contract::HandOff::decode(body).unwrap();
    let traces = ExportTraceServiceRequest::decode(handoff.traces.unwrap_or_default()).unwrap();
    traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Reads one request with a `content-length` body off `stream`: its request line and body.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = request.parse(buffer) {
            let length: usize = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())?;
            let line = format!("{} {}", request.method?, request.path?);
            if buffer.len() >= head + length {
                let body = buffer[head..head + length].to_vec();
                buffer.drain(..head + length);
                return Some((line, body));
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The JSON log line containing `needle`, parsed.
fn logged(function: &Function, needle: &str) -> Option<Value> {
    let line = function.lines_with(needle).into_iter().next()?;
    serde_json::from_str(&line).ok()
}

#[tokio::test]
async fn a_failure_in_an_unawaited_answer_opens_the_breaker_at_the_next_hand_off() {
    let (endpoint, requests) = scripted_sidecar(3, Some(WAIT_3S), Duration::ZERO).await;
    let function = Function::start(&["bucket"], &[("OTEL_SIDECAR_ENDPOINT", endpoint)]).await;
    invoke_spaced(&function, 6, Duration::ZERO).await;
    let handed_off = requests.lock().unwrap().clone();
    assert_eq!(
        handed_off.len(),
        3,
        "the 503 to the third hand-off is read at the fourth, which it skips, as the fifth and sixth: {handed_off:?}"
    );
    assert!(
        handed_off.iter().all(
            |(line, _)| line.starts_with("POST /otel-sidecar/v1/invocations/")
                && line.ends_with("/handoff")
        ),
        "{handed_off:?}"
    );
    let per_invocation = handed_off[0].1;
    assert!(per_invocation > 0, "{handed_off:?}");
    let opened = function.lines_with(BREAKER_OPENED);
    assert_eq!(opened.len(), 1, "one line when it opens: {opened:?}");
    assert!(opened[0].contains("HTTP 503"), "{}", opened[0]);

    // The probe (after 10 skipped invocations at most) waits for its answer: the breaker closes during
    // the probe's own invocation, not one later.
    let mut probed = false;
    for _ in 0..11 {
        invoke_spaced(&function, 1, Duration::ZERO).await;
        if requests.lock().unwrap().len() == 4 {
            probed = true;
            break;
        }
    }
    assert!(probed, "a probe within 11 invocations");
    let mut closed = None;
    for _ in 0..100 {
        closed = logged(&function, BREAKER_CLOSED);
        if closed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = closed.expect("the probe's own invocation closes the breaker");
    assert!(closed.to_string().contains("HTTP 503"), "{closed}");
    // Dropped while open: the third invocation's spans (refused, read late) and every skipped one's.
    let skipped = closed["skipped_invocations"].as_u64().unwrap() as usize;
    assert_eq!(
        closed["dropped_spans"].as_u64().unwrap() as usize,
        per_invocation * (1 + skipped),
        "{closed}"
    );
}

#[tokio::test]
async fn a_receiver_that_announces_no_wait_is_waited_for_every_time() {
    // A sidecar configured with `flush.completion_timeout_ms: 0`, and one that does not announce its wait
    // (another receiver with the route): every hand-off waits for its answer.
    for announced in [Some("otel-sidecar-completion-wait-ms: 0"), None] {
        let (endpoint, requests) = scripted_sidecar(0, announced, ANSWER_DELAY).await;
        let function = Function::start(&["bucket"], &[("OTEL_SIDECAR_ENDPOINT", endpoint)]).await;
        let states = invoke_spaced(&function, 3, Duration::ZERO).await;
        for (i, cost) in handoff_costs(&states).iter().enumerate() {
            assert!(
                *cost >= ANSWER_DELAY,
                "{announced:?}: hand-off {i} did not wait for its answer: {cost:?}"
            );
        }
        assert_eq!(requests.lock().unwrap().len(), 3);
        assert!(function.lines_with(BREAKER_OPENED).is_empty());
    }
}
