//! The OTLP/HTTP receiver over raw sockets: a declared body above `limits.max_request_bytes` is refused
//! at once (with and without `Expect: 100-continue`) and its connection closed; a client that declares a
//! body and sends nothing is answered 408 and disconnected after the receiver's body timeout.
//!
//! Time is tokio's paused clock (it jumps to the next timer whenever every task waits): a receiver that
//! waited for the body would make the client's own deadline, shorter than the receiver's body timeout,
//! expire first. No wall-clock bound is asserted.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

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
/// What the hand-off route announces as the lifecycle's completion wait.
const COMPLETION_WAIT: std::time::Duration = std::time::Duration::from_millis(3000);

fn start() -> SocketAddr {
    let ingest = Ingest::new(SharedBuffer::new(1 << 20), Arc::new(Completions::default()));
    serve(
        "127.0.0.1:0".parse().unwrap(),
        router(ingest, LIMIT, COMPLETION_WAIT),
        Protocol::Http1,
    )
    .unwrap()
}

/// Reads one whole answer (head and `Content-Length` body), skipping a `100 Continue`, within
/// `deadline` of (paused) time; `None` if the deadline passed first.
async fn read_answer(stream: &mut TcpStream, deadline: Duration) -> Option<String> {
    let read = async {
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            let text = text
                .trim_start_matches("HTTP/1.1 100 Continue\r\n\r\n")
                .to_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        if name.eq_ignore_ascii_case("content-length") {
                            value.trim().parse::<usize>().ok()
                        } else {
                            None
                        }
                    })
                    .unwrap_or(0);
                if text.len() >= end + 4 + length {
                    return text;
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before a whole answer: {text}");
            received.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(deadline, read).await.ok()
}

/// Whether the server closes the connection within `deadline` (discarding anything else it sends).
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let mut rest = Vec::new();
    // EOF, or a reset: closed either way.
    tokio::time::timeout(deadline, stream.read_to_end(&mut rest))
        .await
        .is_ok()
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
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = head(LIMIT + 1, expect_continue);
        stream.write_all(request.as_bytes()).await.unwrap();
        // The client's deadline is shorter than the receiver's body timeout: only an answer that does
        // not wait for the body arrives in time.
        let answer = read_answer(&mut stream, BODY_TIMEOUT / 2)
            .await
            .unwrap_or_else(|| {
                panic!("no answer in time (Expect: 100-continue: {expect_continue})")
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
        // The body never comes: the connection is closed after the bound.
        assert!(
            closed_within(&mut stream, BODY_TIMEOUT + Duration::from_secs(1)).await,
            "the connection was held past the body timeout"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_sends_the_oversized_body_anyway_reads_the_413_then_the_close() {
    let addr = start();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = head(LIMIT * 4, false).into_bytes();
    request.extend(std::iter::repeat_n(0u8, LIMIT * 4));
    // The whole request in one go, as a client that does not wait for an early answer would.
    stream.write_all(&request).await.unwrap();
    let answer = read_answer(&mut stream, BODY_TIMEOUT / 2)
        .await
        .expect("the 413, not a reset");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        closed_within(&mut stream, Duration::from_secs(1)).await,
        "closed once the body is drained"
    );
}

#[tokio::test(start_paused = true)]
async fn a_declared_body_that_never_comes_is_answered_408_and_disconnected() {
    let addr = start();
    for expect_continue in [false, true] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(head(100, expect_continue).as_bytes())
            .await
            .unwrap();
        let answer = read_answer(&mut stream, BODY_TIMEOUT + Duration::from_secs(1))
            .await
            .unwrap_or_else(|| {
                panic!("no answer within the body timeout (Expect: {expect_continue})")
            });
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(
            closed_within(&mut stream, Duration::from_secs(1)).await,
            "disconnected after the 408"
        );
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
