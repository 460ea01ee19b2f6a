//! The real `bootstrap` with a hand-off address that refuses connections, one that accepts and never
//! answers, and a sidecar that comes back after being away: every invocation is answered, no
//! invocation pays more than one hand-off timeout, no two in a row pay it, skipped hand-offs cost
//! (almost) nothing, and telemetry flows again once the sidecar answers.
//!
//! A hand-off's cost is measured as the bench does: from the response reaching the Runtime API to the
//! runtime's next `next`, with invocations queued back to back. The bounds are far from the costs
//! they rule out (a skipped hand-off is asserted under [`SKIP_BOUND`], a paid one costs at least the
//! timeout), so a loaded 2-core machine does not make them flaky; the bench prints the real figures.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{BREAKER_CLOSED, BREAKER_OPENED, Function, event, handoff_costs, http_response};
use lambda_env::Finished;
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use testkit::Behaviour;
use testkit::otlp_view::spans;

/// A skipped hand-off costs well under a millisecond; this bound only leaves room for a loaded machine.
/// Before the breaker, a refused hand-off cost 750–950 ms (the exporter's retries), a stuck one twice
/// the timeout.
const SKIP_BOUND: Duration = Duration::from_millis(300);

/// Hand-off timeout for the stuck-sidecar test: far above [`SKIP_BOUND`], so a paid timeout and a
/// skipped hand-off cannot be confused.
const STUCK_TIMEOUT: Duration = Duration::from_millis(1500);

/// A loopback port with nothing listening on it (bound, then released).
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Enqueues `n` root requests back to back and waits for all of them.
async fn invoke(function: &Function, n: usize) -> Vec<Finished> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(function.enqueue(event("apigw_v2_root.json"), None).await);
    }
    let mut states = Vec::new();
    for id in &ids {
        states.push(function.wait(id).await);
    }
    for state in &states {
        assert_eq!(http_response(state).0, 200, "requests are still served");
    }
    states
}

#[tokio::test]
async fn a_refusing_address_costs_one_fast_failure_then_nothing() {
    let endpoint = format!("http://{}", closed_port());
    let function = Function::start(&["bucket"], &[("OTEL_SIDECAR_ENDPOINT", endpoint)]).await;
    let states = invoke(&function, 30).await;
    let costs = handoff_costs(&states);
    for (i, cost) in costs.iter().enumerate() {
        assert!(
            *cost < SKIP_BOUND,
            "hand-off {i} to a refusing address cost {cost:?}: {costs:?}"
        );
    }
    let opened = function.lines_with(BREAKER_OPENED);
    assert_eq!(opened.len(), 1, "one line when it opens: {opened:?}");
    assert!(
        opened[0].contains("unreachable"),
        "the reason: {}",
        opened[0]
    );
    assert!(function.lines_with(BREAKER_CLOSED).is_empty());
}

#[tokio::test]
async fn a_stuck_address_costs_at_most_one_timeout_never_twice_in_a_row() {
    // Accepts every connection and never reads or answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let function = Function::start(
        &["bucket"],
        &[
            ("OTEL_SIDECAR_ENDPOINT", endpoint),
            (
                "OTEL_SIDECAR_TIMEOUT_MS",
                STUCK_TIMEOUT.as_millis().to_string(),
            ),
        ],
    )
    .await;
    let states = invoke(&function, 25).await;
    let costs = handoff_costs(&states);
    let paid: Vec<bool> = costs.iter().map(|c| *c >= SKIP_BOUND).collect();
    for (i, cost) in costs.iter().enumerate() {
        assert!(
            *cost < STUCK_TIMEOUT * 2,
            "hand-off {i} cost {cost:?}: more than one timeout ({costs:?})"
        );
        assert!(
            *cost < SKIP_BOUND || *cost >= STUCK_TIMEOUT,
            "hand-off {i} cost {cost:?}: neither skipped nor one timeout ({costs:?})"
        );
    }
    assert!(
        paid[0],
        "the first hand-off meets the stuck sidecar: {costs:?}"
    );
    assert!(
        !paid.windows(2).any(|w| w[0] && w[1]),
        "two timeouts in a row: {costs:?}"
    );
    assert!(
        paid.iter().filter(|p| **p).count() * 3 <= paid.len(),
        "probes at a bounded rate: {costs:?}"
    );
    let opened = function.lines_with(BREAKER_OPENED);
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("no answer within the hand-off timeout (1500 ms)"));
    holder.abort();
}

/// Forwards every connection accepted on `listener` to `target` (the harness's fake backend), so that
/// a sidecar can appear on an address that refused connections before.
fn forward(listener: tokio::net::TcpListener, target: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn telemetry_flows_again_when_the_sidecar_comes_back() {
    let away = closed_port();
    let function = Function::start(
        &["bucket"],
        &[("OTEL_SIDECAR_ENDPOINT", format!("http://{away}"))],
    )
    .await;
    let before = invoke(&function, 5).await;
    assert_eq!(function.lines_with(BREAKER_OPENED).len(), 1);

    // The sidecar comes back on the same address.
    let backend: SocketAddr = function
        .backend
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(away).await.unwrap();
    let forwarder = forward(listener, backend);
    // The breaker probes after at most 10 skipped invocations (or 5 s): 15 are enough.
    let after = invoke(&function, 15).await;
    for (i, cost) in handoff_costs(&after).iter().enumerate() {
        assert!(*cost < SKIP_BOUND, "hand-off {i} cost {cost:?}");
    }
    let closed = function.lines_with(BREAKER_CLOSED);
    assert_eq!(closed.len(), 1, "one line when it closes: {closed:?}");
    assert!(
        closed[0].contains("unreachable") && closed[0].contains("skipped_invocations"),
        "{}",
        closed[0]
    );
    // Telemetry flows again: the last invocations' SERVER spans reach the backend; none of the
    // invocations made while the sidecar was away does (their telemetry was dropped).
    let exported = |id: &str| {
        spans(&function.backend.traces())
            .iter()
            .any(|s| s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(id))
    };
    let last = after.last().unwrap().request_id.clone();
    function
        .backend
        .wait_until(
            "the last invocation's span",
            Duration::from_secs(10),
            |_| exported(&last),
        )
        .await
        .expect("telemetry flows again");
    for state in after.iter().rev().take(3) {
        assert!(exported(&state.request_id), "{} exported", state.request_id);
    }
    for state in &before {
        assert!(!exported(&state.request_id), "dropped while away");
    }
    assert!(
        !function.backend.metrics().is_empty(),
        "metrics flow again too"
    );
    assert_eq!(function.lines_with(BREAKER_OPENED).len(), 1);
    forwarder.abort();
}

#[tokio::test]
async fn an_error_status_opens_the_breaker_and_a_later_success_closes_it() {
    let function = Function::start(&["bucket"], &[]).await;
    function.backend.set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: Some(1),
    });
    let failing = invoke(&function, 4).await;
    for (i, cost) in handoff_costs(&failing).iter().enumerate() {
        assert!(
            *cost < SKIP_BOUND,
            "hand-off {i} cost {cost:?}: no retry, no backoff"
        );
    }
    let opened = function.lines_with(BREAKER_OPENED);
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("HTTP 503"), "{}", opened[0]);
    assert_eq!(
        function.backend.requests().len(),
        1,
        "one refused request, then skipped hand-offs: the first failure ends the hand-off"
    );
    function.backend.set_behaviour(Behaviour::Accept);
    let after = invoke(&function, 15).await;
    let last = after.last().unwrap().request_id.clone();
    function
        .backend
        .wait_until("the last invocation's span", Duration::from_secs(10), |b| {
            spans(&b.traces())
                .iter()
                .any(|s| s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(last.as_str()))
        })
        .await
        .expect("telemetry flows again");
    let closed = function.lines_with(BREAKER_CLOSED);
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(closed[0].contains("HTTP 503"), "{}", closed[0]);
}
