//! The connection against scripted raw-socket peers: what goes on the wire, which answers keep the
//! connection, and every failure's classification and bound.
use super::*;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A request as a peer received it: the connection it came on (0, 1, …) and its request line and body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    connection: usize,
    line: String,
    host: String,
    body: Vec<u8>,
}

/// When a scripted peer answers.
#[derive(Clone)]
enum When {
    Now,
    /// Once the test releases it.
    Released(Arc<Notify>),
    Never,
}

/// A peer that answers the n-th request (over all connections) with `answers[n]`, when its `When`
/// says, and records what it received.
struct Peer {
    endpoint: Endpoint,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn peer(answers: Vec<(&'static [u8], When)>) -> Peer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(answers.into_iter()));
    let log = received.clone();
    tokio::spawn(async move {
        let mut connection = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            let (log, script) = (log.clone(), script.clone());
            let this = connection;
            connection += 1;
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let Some((line, host, body, used)) =
                        read_request(&mut stream, &mut buffer).await
                    else {
                        return;
                    };
                    buffer.drain(..used);
                    log.lock().unwrap().push(Received {
                        connection: this,
                        line,
                        host,
                        body,
                    });
                    let next = script.lock().unwrap().next();
                    let Some((answer, when)) = next else { return };
                    match when {
                        When::Now => {}
                        When::Released(gate) => gate.notified().await,
                        When::Never => {
                            // Keeps the connection open, never answers.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                    }
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                    if answer.windows(17).any(|w| w == b"connection: close") {
                        return;
                    }
                }
            });
        }
    });
    Peer {
        endpoint: Endpoint::parse(&format!("http://{address}")).unwrap(),
        received,
    }
}

/// Reads one request with a `content-length` body: (request line, host, body, bytes used).
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Option<(String, String, Vec<u8>, usize)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = request.parse(buffer) {
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let length: usize = header("content-length")?.parse().ok()?;
            let line = format!("{} {}", request.method?, request.path?);
            let host = header("host")?;
            if buffer.len() >= head + length {
                let body = buffer[head..head + length].to_vec();
                return Some((line, host, body, head + length));
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
const NOW: When = When::Now;

/// The connections' timeout.
const TIMEOUT: Duration = Duration::from_millis(300);

fn connection(peer: &Peer) -> SidecarConnection {
    SidecarConnection::new(peer.endpoint.clone(), TIMEOUT)
}

/// A deadline one timeout from now (what a hand-off starting now gets).
fn soon() -> Instant {
    Instant::now() + TIMEOUT
}

/// The status of an answer.
fn status(answer: Result<Answer, Failure>) -> Result<u16, Failure> {
    answer.map(|a| a.status)
}

#[tokio::test]
async fn a_request_goes_out_as_written_and_the_connection_is_kept() {
    let ok =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 3\r\n\r\nabc";
    let announced = b"HTTP/1.1 204 No Content\r\notel-sidecar-completion-wait-ms: 3000\r\n\r\n";
    let peer = peer(vec![(announced, NOW), (ok, NOW), (NO_CONTENT, NOW)]).await;
    let mut sidecar = connection(&peer);
    let path = "/otel-sidecar/v1/invocations/id-1/handoff";
    let protobuf = Some("application/x-protobuf");
    assert_eq!(
        sidecar.post(path, protobuf, b"\x01\x02", soon()).await,
        Ok(Answer {
            status: 204,
            completion_wait: Some(Duration::from_secs(3))
        })
    );
    assert_eq!(
        sidecar.post("/v1/traces", protobuf, b"xyz", soon()).await,
        Ok(Answer {
            status: 200,
            completion_wait: None
        })
    );
    assert_eq!(
        status(sidecar.post("/finished", None, b"", soon()).await),
        Ok(204)
    );
    let received = peer.received.lock().unwrap().clone();
    let lines: Vec<_> = received
        .iter()
        .map(|r| (r.connection, r.line.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (0, "POST /otel-sidecar/v1/invocations/id-1/handoff"),
            (0, "POST /v1/traces"),
            (0, "POST /finished")
        ],
        "one connection for all three: the 200's body was read to its end"
    );
    assert_eq!(received[0].body, b"\x01\x02");
    assert_eq!(received[0].host, peer.endpoint.authority);
    assert!(received[2].body.is_empty());
}

#[tokio::test]
async fn send_returns_before_the_answer_which_is_read_later() {
    let gate = Arc::new(Notify::new());
    let peer = peer(vec![(NO_CONTENT, When::Released(gate.clone()))]).await;
    let mut sidecar = connection(&peer);
    // The peer answers only once released: `send` returning at all shows it did not wait (the bound
    // only turns a hang into a failure).
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        sidecar.send("/h", None, b"data", soon()),
    );
    sent.await.expect("send waited for the answer").unwrap();
    assert!(sidecar.is_awaiting_answer());
    // The request is on the wire before any answer is asked for.
    for _ in 0..400 {
        if !peer.received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(peer.received.lock().unwrap().len(), 1);
    gate.notify_one();
    assert_eq!(status(sidecar.answer(soon()).await.unwrap()), Ok(204));
    assert_eq!(sidecar.answer(soon()).await, None, "an answer is read once");
}

#[tokio::test]
async fn an_answer_is_waited_for_until_the_deadline_it_is_given() {
    // As at the next invocation, long after the request: a deadline from now lets a late answer in...
    let gate = Arc::new(Notify::new());
    let late = peer(vec![(NO_CONTENT, When::Released(gate.clone()))]).await;
    let mut sidecar = connection(&late);
    let sent_with = soon();
    sidecar.send("/h", None, b"", sent_with).await.unwrap();
    tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
    gate.notify_one();
    assert_eq!(status(sidecar.answer(soon()).await.unwrap()), Ok(204));

    // ...while the request's own, passed deadline gives up at once: the peer, released only after the
    // sleep, cannot have answered before the first poll on this single-threaded runtime.
    let gate = Arc::new(Notify::new());
    let stuck = peer(vec![(NO_CONTENT, When::Released(gate.clone()))]).await;
    let mut sidecar = connection(&stuck);
    let sent_with = soon();
    sidecar.send("/h", None, b"", sent_with).await.unwrap();
    tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
    gate.notify_one();
    assert_eq!(
        sidecar.answer(sent_with).await,
        Some(Err(Failure::TimedOut(TIMEOUT)))
    );
}

#[tokio::test]
async fn answers_of_unknown_length_give_their_status_and_a_new_connection() {
    let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let close =
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let interim =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno";
    let peer = peer(vec![
        (chunked, NOW),
        (close, NOW),
        (interim, NOW),
        (NO_CONTENT, NOW),
    ])
    .await;
    let mut sidecar = connection(&peer);
    assert_eq!(status(sidecar.post("/a", None, b"", soon()).await), Ok(200));
    assert_eq!(status(sidecar.post("/b", None, b"", soon()).await), Ok(503));
    assert_eq!(
        status(sidecar.post("/c", None, b"", soon()).await),
        Ok(404),
        "100 Continue skipped"
    );
    assert_eq!(status(sidecar.post("/d", None, b"", soon()).await), Ok(204));
    let connections: Vec<_> = peer
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.connection)
        .collect();
    assert_eq!(
        connections,
        [0, 1, 2, 2],
        "chunked and close are not reused; a known length is"
    );
}

#[tokio::test]
async fn a_connection_the_peer_closed_while_idle_is_not_written_into() {
    let close_after = b"HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n";
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    // Answers each connection's first request, then closes it (an idle timeout, a restart).
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            if let Some((line, ..)) = read_request(&mut stream, &mut buffer).await {
                log.lock().unwrap().push(line);
                let _ = stream.write_all(close_after).await;
            }
            drop(stream);
        }
    });
    let endpoint = Endpoint::parse(&format!("http://{address}")).unwrap();
    let mut sidecar = SidecarConnection::new(endpoint, Duration::from_millis(300));
    assert_eq!(status(sidecar.post("/1", None, b"", soon()).await), Ok(204));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(status(sidecar.post("/2", None, b"", soon()).await), Ok(204));
    assert_eq!(*received.lock().unwrap(), ["POST /1", "POST /2"]);
}

#[tokio::test]
async fn failures_are_classified_and_bounded() {
    // Nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = Endpoint::parse(&format!("http://{free}")).unwrap();
    let mut sidecar = SidecarConnection::new(endpoint, Duration::from_millis(300));
    assert!(matches!(
        sidecar.post("/h", None, b"", soon()).await,
        Err(Failure::Unreachable(_))
    ));

    // Accepts, never answers: one timeout, counted from the send.
    let silent = peer(vec![(NO_CONTENT, When::Never)]).await;
    let mut sidecar = connection(&silent);
    let started = std::time::Instant::now();
    assert_eq!(
        sidecar.post("/h", None, b"", soon()).await,
        Err(Failure::TimedOut(Duration::from_millis(300)))
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Not HTTP.
    let not_http = peer(vec![(b"SSH-2.0-OpenSSH\r\n\r\n", NOW)]).await;
    let mut sidecar = connection(&not_http);
    assert!(
        matches!(sidecar.post("/h", None, b"", soon()).await, Err(Failure::Other(e)) if e.contains("not an HTTP answer"))
    );
}

#[test]
fn endpoints() {
    for (url, host, port, authority, base) in [
        (
            "http://127.0.0.1:4318",
            "127.0.0.1",
            4318,
            "127.0.0.1:4318",
            "",
        ),
        (
            "http://localhost:4318/",
            "localhost",
            4318,
            "localhost:4318",
            "",
        ),
        ("http://[::1]:4318", "::1", 4318, "[::1]:4318", ""),
        ("http://sidecar", "sidecar", 80, "sidecar", ""),
        (
            "http://proxy:8080/otlp/",
            "proxy",
            8080,
            "proxy:8080",
            "/otlp",
        ),
    ] {
        let endpoint = Endpoint::parse(url).unwrap();
        assert_eq!(
            (
                endpoint.host.as_str(),
                endpoint.port,
                endpoint.authority.as_str(),
                endpoint.base_path.as_str()
            ),
            (host, port, authority, base),
            "{url}"
        );
    }
    for (url, error) in [
        ("127.0.0.1:4318", BadEndpoint::Scheme),
        ("https://127.0.0.1:4318", BadEndpoint::Scheme),
        ("http://127.0.0.1:0", BadEndpoint::Shape),
        ("http://127.0.0.1:99999", BadEndpoint::Shape),
        ("http://127.0.0.1:", BadEndpoint::Shape),
        ("http://user@127.0.0.1:4318", BadEndpoint::Shape),
        ("http://127.0.0.1:4318/?x=1", BadEndpoint::Shape),
        ("http://127.0.0.1:4318#x", BadEndpoint::Shape),
        ("http://127.0.0.1:+80", BadEndpoint::Shape),
    ] {
        assert_eq!(Endpoint::parse(url), Err(error), "{url}");
    }
    assert!(matches!(
        Endpoint::parse("http://side car:4318"),
        Err(BadEndpoint::NotAUrl(_))
    ));
    assert!(Endpoint::parse("http://").is_err());
}
