//! The function's connection to the sidecar: one kept-alive HTTP/1.1 connection on which a request is
//! put on the wire at once ([`SidecarConnection::send`]) and its answer read when the caller asks for
//! it ([`SidecarConnection::answer`]): right away, or at the next hand-off.
//!
//! That split is why this is not an HTTP client library. The hand-off to otel-sidecar writes its
//! request *before* the runtime calls `next` and does not wait for the answer (see
//! [`super::delivery`]); a client library writes from its own connection task, after the caller's
//! future has been polled again, and offers no point between "written" and "answered". What is here is
//! the small subset of HTTP/1.1 the hand-off needs: `POST` with a `Content-Length` (no `Expect`, no
//! chunked bodies, no pipelining) to an `http://` endpoint, answers parsed with `httparse` (hyper's
//! parser). An answer whose body length is known is read to its end and the connection kept for the
//! next request; after any other answer (chunked, read-to-close, `Connection: close`) only its status
//! is used and the connection is closed. A connection the peer has closed while idle is noticed before
//! it is reused, so a request is never written into a dead connection.
//!
//! Every step (connecting, writing, reading an answer) ends by a deadline the caller gives: the hand-off
//! gives one per hand-off ([`SidecarConnection::deadline`], the hand-off timeout from its start), which
//! also bounds reading the previous hand-off's answer (it was due before the freeze, so the time the
//! sandbox spent frozen does not count against it). A transport error is classified for the breaker.

use super::breaker::Failure;
use sidecar_contract::COMPLETION_WAIT_HEADER;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// Why an endpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadEndpoint {
    /// Not a URL.
    #[error("not a URL: {0}")]
    NotAUrl(String),
    /// Not `http://` (the hand-off is plain HTTP to the sidecar in the same sandbox).
    #[error(
        "the scheme must be http:// (the sidecar is in the same sandbox; it does the TLS to the backend)"
    )]
    Scheme,
    /// No host, a port outside 1–65535, userinfo, a query or a fragment.
    #[error(
        "a base URL has a host, a port from 1 to 65535 if any, and no userinfo, query or fragment"
    )]
    Shape,
}

/// Where the sidecar listens: the parts of an `http://host[:port]` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host to connect to (an IPv6 address without its brackets).
    host: String,
    port: u16,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    /// The URL's path without its trailing `/` (usually empty), before every request's path.
    base_path: String,
}

impl Endpoint {
    /// Parses a base URL such as `http://127.0.0.1:4318` (a trailing `/` is allowed; a path, such as a
    /// proxy's `/otlp`, goes before every request's path).
    pub fn parse(url: &str) -> Result<Endpoint, BadEndpoint> {
        // `http::Uri` drops a fragment silently: refuse it here.
        if url.contains('#') {
            return Err(BadEndpoint::Shape);
        }
        let uri = http::Uri::try_from(url).map_err(|e| BadEndpoint::NotAUrl(e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(BadEndpoint::Scheme);
        }
        let authority = uri.authority().ok_or(BadEndpoint::Shape)?;
        let host = authority.host();
        // `host` then `:port` or nothing (userinfo is refused; `port_u16` would hide a bad port).
        let port = match authority.as_str().strip_prefix(host) {
            Some("") => 80,
            Some(port) => port
                .strip_prefix(':')
                .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u16>().ok())
                .filter(|port| *port != 0)
                .ok_or(BadEndpoint::Shape)?,
            None => return Err(BadEndpoint::Shape),
        };
        if host.is_empty() || host == "[]" || uri.query().is_some() {
            return Err(BadEndpoint::Shape);
        }
        Ok(Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// Most header bytes an answer may have (the sidecar's are a few dozen).
const MAX_HEAD: usize = 16 * 1024;
/// Most body bytes read to keep a connection (error answers carry a short message).
const MAX_BODY: usize = 64 * 1024;
/// Most headers an answer may have.
const MAX_HEADERS: usize = 32;

/// The connection to the sidecar (see the module docs). One request at a time.
#[derive(Debug)]
pub struct SidecarConnection {
    endpoint: Endpoint,
    timeout: Duration,
    stream: Option<TcpStream>,
    /// A request was written whose answer has not been read yet.
    awaiting: bool,
    /// Bytes read from the stream and not yet consumed.
    buffer: Vec<u8>,
}

/// What an answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Its HTTP status.
    pub status: u16,
    /// The sidecar's completion wait ([`sidecar_contract::COMPLETION_WAIT_HEADER`]), if announced.
    pub completion_wait: Option<Duration>,
}

impl SidecarConnection {
    /// A connection to `endpoint` (not opened yet); `timeout` is what [`SidecarConnection::deadline`]
    /// gives.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> SidecarConnection {
        SidecarConnection {
            endpoint,
            timeout,
            stream: None,
            awaiting: false,
            buffer: Vec::new(),
        }
    }

    /// The deadline of a hand-off starting now: the hand-off timeout from now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// `POST path` with `body` (of `content_type`, if any) and its answer, all of it by `deadline`.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        deadline: Instant,
    ) -> Result<Answer, Failure> {
        self.send(path, content_type, body, deadline).await?;
        match self.answer(deadline).await {
            Some(answer) => answer,
            None => Err(Failure::Other("no request awaiting an answer".to_owned())),
        }
    }

    /// Writes `POST path` with `body` and returns once all of it has been handed to the kernel (by
    /// `deadline`); the answer is left for [`SidecarConnection::answer`]. An answer still unread from
    /// an earlier request is given up with its connection (the caller reads it first when it matters).
    pub async fn send(
        &mut self,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(), Failure> {
        if self.awaiting {
            self.close();
        }
        let mut stream = match self.stream.take() {
            Some(stream) if is_idle_and_open(&stream) => stream,
            _ => self.connect(deadline).await?,
        };
        let mut request = Vec::with_capacity(body.len() + 160);
        request.extend_from_slice(b"POST ");
        request.extend_from_slice(self.endpoint.base_path.as_bytes());
        request.extend_from_slice(path.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        request.extend_from_slice(self.endpoint.authority.as_bytes());
        if let Some(content_type) = content_type {
            request.extend_from_slice(b"\r\ncontent-type: ");
            request.extend_from_slice(content_type.as_bytes());
        }
        request.extend_from_slice(b"\r\ncontent-length: ");
        request.extend_from_slice(body.len().to_string().as_bytes());
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(body);
        match timeout_at(deadline, stream.write_all(&request)).await {
            Ok(Ok(())) => {
                self.stream = Some(stream);
                self.awaiting = true;
                self.buffer.clear();
                Ok(())
            }
            Ok(Err(error)) => Err(Failure::Other(format!("writing the request: {error}"))),
            Err(_) => Err(Failure::TimedOut(self.timeout)),
        }
    }

    /// The answer to the request [`SidecarConnection::send`] wrote (just now, or at the previous
    /// invocation), waiting for it until `deadline` (an answer already received is read whatever the
    /// time). `None` when no answer is awaited.
    pub async fn answer(&mut self, deadline: Instant) -> Option<Result<Answer, Failure>> {
        if !std::mem::take(&mut self.awaiting) {
            return None;
        }
        let result = match timeout_at(deadline, self.read_answer()).await {
            Ok(Ok((answer, reusable))) => {
                if !reusable {
                    self.close();
                }
                Ok(answer)
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::TimedOut(self.timeout)),
        };
        if result.is_err() {
            self.close();
        }
        Some(result)
    }

    /// Whether a request's answer has not been read yet.
    #[cfg(test)]
    fn is_awaiting_answer(&self) -> bool {
        self.awaiting
    }

    async fn connect(&self, deadline: Instant) -> Result<TcpStream, Failure> {
        let address = (self.endpoint.host.as_str(), self.endpoint.port);
        let stream = match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                return Err(Failure::Unreachable(format!(
                    "connecting to {}: {error}",
                    self.endpoint.authority
                )));
            }
            Err(_) => return Err(Failure::TimedOut(self.timeout)),
        };
        // Small requests and answers, one round trip each: no Nagle delay.
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::Other(format!("setting TCP_NODELAY: {e}")))?;
        Ok(stream)
    }

    fn close(&mut self) {
        self.stream = None;
        self.awaiting = false;
        self.buffer.clear();
    }

    /// Reads one answer (after any interim `1xx`), and whether the connection can carry the next
    /// request.
    async fn read_answer(&mut self) -> Result<(Answer, bool), Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Other("no connection".to_owned()));
        };
        let buffer = &mut self.buffer;
        loop {
            let head = parse_head(buffer)?;
            let Some(head) = head else {
                if buffer.len() > MAX_HEAD {
                    return Err(Failure::Other("answer head too large".to_owned()));
                }
                read_more(stream, buffer).await?;
                continue;
            };
            if (100..200).contains(&head.answer.status) {
                buffer.drain(..head.length);
                continue;
            }
            let body = match head.body {
                Body::Empty => 0,
                Body::Length(length) if length <= MAX_BODY => length,
                // A body we will not read (too long, chunked, until close): the head is enough.
                Body::Length(_) | Body::Unknown => return Ok((head.answer, false)),
            };
            while buffer.len() < head.length + body {
                read_more(stream, buffer).await?;
            }
            // Anything after the answer was not asked for: do not reuse the connection.
            let reusable = head.keep_alive && buffer.len() == head.length + body;
            buffer.clear();
            return Ok((head.answer, reusable));
        }
    }
}

/// What an answer's head says.
struct Head {
    answer: Answer,
    /// Bytes of the head, its blank line included.
    length: usize,
    body: Body,
    keep_alive: bool,
}

/// How an answer's body is delimited.
enum Body {
    Empty,
    Length(usize),
    Unknown,
}

/// The answer head at the start of `buffer`, or `None` if it is not complete yet.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(Failure::Other(format!("not an HTTP answer: {error}"))),
    };
    let status = response.code.unwrap_or_default();
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Body::Empty
    } else if header("transfer-encoding").is_some() {
        Body::Unknown
    } else {
        match header("content-length").map(str::parse::<usize>) {
            Some(Ok(length)) => Body::Length(length),
            Some(Err(_)) | None => Body::Unknown,
        }
    };
    let completion_wait = header(COMPLETION_WAIT_HEADER)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis);
    let close = header("connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("close"))
    });
    Ok(Some(Head {
        answer: Answer {
            status,
            completion_wait,
        },
        length,
        body,
        keep_alive: response.version == Some(1) && !close,
    }))
}

/// Reads what has arrived (waiting for something) onto the end of `buffer`.
async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), Failure> {
    buffer.reserve(4096);
    match stream.read_buf(buffer).await {
        Ok(0) => Err(Failure::Other(
            "the connection closed before the answer".to_owned(),
        )),
        Ok(_) => Ok(()),
        Err(error) => Err(Failure::Other(format!("reading the answer: {error}"))),
    }
}

/// Whether an idle kept-alive connection can carry a request: the peer has not closed it and sent
/// nothing unasked (one non-blocking `recv(MSG_PEEK)`).
fn is_idle_and_open(stream: &TcpStream) -> bool {
    let mut probe = [MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(stream).peek(&mut probe) {
        Err(error) => error.kind() == io::ErrorKind::WouldBlock,
        // 0: closed by the peer; more: bytes nobody asked for.
        Ok(_) => false,
    }
}

#[cfg(test)]
mod tests;
