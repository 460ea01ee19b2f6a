//! The OTLP/HTTP receiver over raw sockets: a declared body above `limits.max_request_bytes` is refused
//! at once (with and without `Expect: 100-continue`) and its connection closed; a client that declares a
//! body and sends nothing is answered 408 and disconnected after the receiver's body timeout.
//!
//! Time is tokio's paused clock (it jumps to the next timer whenever every task waits): a receiver that
//! waited for the body would make the client's own deadline, shorter than the receiver's body timeout,
//! expire first. No wall-clock bound is asserted.

use extension::lifecycle::completion::Completions;
use extension::pipeline::SharedBuffer;
use extension::receiver::http::{BODY_TIMEOUT, router};
use extension::receiver::{Ingest, Protocol, serve};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: usize = 4096;

fn start() -> SocketAddr {
    let ingest = Ingest::new(SharedBuffer::new(1 << 20), Arc::new(Completions::default()));
    serve(
        "127.0.0.1:0".parse().unwrap(),
        router(ingest, LIMIT),
        Protocol::Http1,
    )
    .unwrap()
}

/// Sends `head` (and nothing else), then reads until the server closes the connection, within
/// `deadline` of (paused) time. Returns what was read, or `None` if the deadline passed first.
async fn exchange(addr: SocketAddr, head: &str, deadline: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(deadline, stream.read_to_end(&mut received)).await;
    match read {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&received).into_owned()),
        // A reset after the answer is a close too.
        Ok(Err(_)) if !received.is_empty() => Some(String::from_utf8_lossy(&received).into_owned()),
        Ok(Err(error)) => panic!("read failed before any answer: {error}"),
        Err(_) => None,
    }
}

fn head(content_length: usize, expect_continue: bool) -> String {
    let expect = if expect_continue {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    format!(
        "POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {content_length}\r\n{expect}\r\n"
    )
}

#[tokio::test(start_paused = true)]
async fn a_declared_oversized_body_is_refused_at_once_and_the_connection_closed() {
    let addr = start();
    for expect_continue in [false, true] {
        // The client's deadline is shorter than the receiver's body timeout: only an answer that does
        // not wait for the body arrives in time.
        let answer = exchange(addr, &head(LIMIT + 1, expect_continue), BODY_TIMEOUT / 2)
            .await
            .unwrap_or_else(|| {
                panic!("no answer and no close (Expect: 100-continue: {expect_continue})")
            });
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "Expect: 100-continue {expect_continue}: {answer}"
        );
        assert!(
            !answer.contains("100 Continue"),
            "the body must not be invited: {answer}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_declared_body_that_never_comes_is_answered_408_and_disconnected() {
    let addr = start();
    for expect_continue in [false, true] {
        let answer = exchange(
            addr,
            &head(100, expect_continue),
            BODY_TIMEOUT + Duration::from_secs(1),
        )
        .await
        .unwrap_or_else(|| {
            panic!("the connection was held past the body timeout (Expect: {expect_continue})")
        });
        let last = answer.rsplit("\r\n\r\n").next().unwrap_or_default();
        assert!(answer.contains("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(!last.is_empty(), "a google.rpc.Status body: {answer}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_within_the_limit_is_still_accepted() {
    let addr = start();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // An empty ExportTraceServiceRequest is zero protobuf bytes; send a declared, small, valid body.
    let request = "POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\n\
                   Content-Length: 0\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut received))
        .await
        .expect("answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
