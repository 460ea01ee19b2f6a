//! Binaries built without the `grpc` feature: the OTLP/gRPC address answers every call at once with gRPC
//! status `UNIMPLEMENTED` and a message saying what to do, instead of refusing the connection.
//!
//! Why: a function whose SDK exports OTLP/gRPC (Python's `opentelemetry-distro` default, or
//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`) would otherwise get "connection refused", which is `UNAVAILABLE`,
//! which every OTLP exporter retries with backoff: 6.6 s per flush measured with opentelemetry-sdk 1.45,
//! paid on every invocation whose instrumentation flushes before answering. `UNIMPLEMENTED` is not
//! retryable (OTLP specification, "OTLP/gRPC Response": only CANCELLED, DEADLINE_EXCEEDED, ABORTED,
//! OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS and a RESOURCE_EXHAUSTED with retry info are), so the exporter
//! gives up after one loopback round trip. The sidecar logs the fact once.
//!
//! The responder speaks just enough HTTP/2 (RFC 9113, cleartext with prior knowledge, as gRPC clients use
//! on loopback): it reads the client's preface, sends its SETTINGS, acknowledges the client's SETTINGS and
//! PINGs, returns the connection window that request bodies use, and answers each stream's HEADERS with a
//! gRPC "trailers-only" response (one HEADERS frame ending the stream) followed by `RST_STREAM(NO_ERROR)`.
//! Request headers are never decoded (no HPACK state is needed to ignore them). Written by hand rather
//! than with `h2`, which would add the 0.6 MB the `grpc` feature is kept out of the default build for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::BindError;

/// What every call is told (gRPC `grpc-message`: printable ASCII, so no percent-encoding is needed).
pub const MESSAGE: &str = "otel-sidecar is built without OTLP/gRPC: export OTLP/HTTP to port 4318 \
(OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf), or build the sidecar with --features grpc";

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest frame payload a peer may send before SETTINGS_MAX_FRAME_SIZE is raised (we never raise it).
const MAX_FRAME: usize = 16_384;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// `FRAME_SIZE_ERROR` (RFC 9113 §7).
const FRAME_SIZE_ERROR: u32 = 0x6;

/// Binds `addr` now (so the error reaches the caller) and answers gRPC calls on it in the background.
pub fn serve(addr: SocketAddr) -> Result<SocketAddr, BindError> {
    let (listener, local) = super::bind(addr)?;
    let logged = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let logged = logged.clone();
            tokio::spawn(async move {
                // A broken connection only ends that connection.
                let _ = refuse_calls(stream, &logged).await;
            });
        }
    });
    Ok(local)
}

/// Serves one connection until the client goes away or breaks the protocol.
pub async fn refuse_calls<S>(mut io: S, logged: &AtomicBool) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut preface = [0u8; 24];
    io.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Ok(()); // not HTTP/2 with prior knowledge: nothing sensible to answer
    }
    io.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    let mut open_headers: Option<u32> = None;
    loop {
        let mut head = [0u8; 9];
        io.read_exact(&mut head).await?;
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if length > MAX_FRAME {
            io.write_all(&goaway(FRAME_SIZE_ERROR)).await?;
            return Ok(());
        }
        let mut payload = vec![0u8; length];
        io.read_exact(&mut payload).await?;
        let mut out = Vec::new();
        match kind {
            SETTINGS if flags & ACK == 0 => out.extend(frame(SETTINGS, ACK, 0, &[])),
            PING if flags & ACK == 0 => out.extend(frame(PING, ACK, 0, &payload)),
            // Give back the connection window the body used, or the client stalls after 64 KiB.
            DATA if length > 0 => out.extend(frame(
                WINDOW_UPDATE,
                0,
                0,
                &u32::try_from(length).unwrap_or(0).to_be_bytes(),
            )),
            HEADERS | CONTINUATION if flags & END_HEADERS == 0 => open_headers = Some(stream),
            HEADERS | CONTINUATION if kind == HEADERS || open_headers == Some(stream) => {
                open_headers = None;
                out.extend(unimplemented_response(stream));
                if !logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        message =
                            "OTLP/gRPC telemetry refused (UNIMPLEMENTED, not retried by SDKs)",
                        hint = MESSAGE
                    );
                }
            }
            GOAWAY => return Ok(()),
            _ => {}
        }
        if !out.is_empty() {
            io.write_all(&out).await?;
        }
    }
}

/// A trailers-only gRPC response with status 12 (UNIMPLEMENTED), then `RST_STREAM(NO_ERROR)` so the
/// client stops sending the request body.
fn unimplemented_response(stream: u32) -> Vec<u8> {
    // HPACK (RFC 7541): ":status: 200" is static table entry 8 (indexed: 0x80 | 8); the rest are literals
    // without indexing with a literal name (0x00), so no dynamic table state is created on either side.
    let mut block = vec![0x88];
    for (name, value) in [
        ("content-type", "application/grpc"),
        ("grpc-status", "12"),
        ("grpc-message", MESSAGE),
    ] {
        block.push(0x00);
        hpack_string(&mut block, name);
        hpack_string(&mut block, value);
    }
    let mut out = frame(HEADERS, END_STREAM | END_HEADERS, stream, &block);
    out.extend(frame(RST_STREAM, 0, stream, &0u32.to_be_bytes()));
    out
}

/// An HPACK string literal, not Huffman-coded: the length as a 7-bit-prefix integer (RFC 7541 §5.1).
fn hpack_string(out: &mut Vec<u8>, text: &str) {
    let mut length = text.len();
    if length < 127 {
        out.push(length as u8);
    } else {
        out.push(127);
        length -= 127;
        while length >= 128 {
            out.push((length % 128) as u8 | 0x80);
            length /= 128;
        }
        out.push(length as u8);
    }
    out.extend_from_slice(text.as_bytes());
}

fn goaway(code: u32) -> Vec<u8> {
    let mut payload = 0u32.to_be_bytes().to_vec(); // last stream id: none processed
    payload.extend(code.to_be_bytes());
    frame(GOAWAY, 0, 0, &payload)
}

/// One frame: 24-bit length, type, flags, 31-bit stream id, payload (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len().min(MAX_FRAME);
    let mut out = Vec::with_capacity(9 + length);
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&payload[..length]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads frames the responder wrote until `stop` matches one; returns them as (type, flags, stream, payload).
    async fn frames_until(
        io: &mut tokio::io::DuplexStream,
        stop: impl Fn(u8, u32) -> bool,
    ) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut seen = Vec::new();
        loop {
            let mut head = [0u8; 9];
            io.read_exact(&mut head).await.unwrap();
            let length =
                usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
            let mut payload = vec![0; length];
            io.read_exact(&mut payload).await.unwrap();
            let done = stop(head[3], stream);
            seen.push((head[3], head[4], stream, payload));
            if done {
                return seen;
            }
        }
    }

    #[tokio::test]
    async fn answers_each_call_unimplemented_and_keeps_the_connection_usable() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let logged = Arc::new(AtomicBool::new(false));
        let task = {
            let logged = logged.clone();
            tokio::spawn(async move { refuse_calls(server, &logged).await })
        };
        client.write_all(PREFACE).await.unwrap();
        client.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        // Stream 1: a header block split over HEADERS + CONTINUATION (contents never decoded), a body.
        client
            .write_all(&frame(HEADERS, 0, 1, &[0x82, 0x86]))
            .await
            .unwrap();
        client.write_all(&frame(PING, 0, 0, &[7; 8])).await.unwrap();
        client
            .write_all(&frame(CONTINUATION, END_HEADERS, 1, &[0x84]))
            .await
            .unwrap();
        client
            .write_all(&frame(DATA, END_STREAM, 1, &[0; 300]))
            .await
            .unwrap();
        let seen = frames_until(&mut client, |kind, _| kind == WINDOW_UPDATE).await;
        let kinds: Vec<(u8, u8, u32)> = seen.iter().map(|f| (f.0, f.1, f.2)).collect();
        assert_eq!(
            kinds,
            [
                (SETTINGS, 0, 0),
                (SETTINGS, ACK, 0),
                (PING, ACK, 0),
                (HEADERS, END_STREAM | END_HEADERS, 1),
                (RST_STREAM, 0, 1),
                (WINDOW_UPDATE, 0, 0),
            ]
        );
        assert_eq!(seen[2].3, [7; 8], "PING echoes its payload");
        assert_eq!(
            seen[5].3,
            300u32.to_be_bytes(),
            "the body's window is returned"
        );
        let block = &seen[3].3;
        assert_eq!(block[0], 0x88, ":status 200");
        let text = String::from_utf8_lossy(block);
        assert!(text.contains("grpc-status\u{2}12"), "{text:?}");
        assert!(text.contains(MESSAGE), "{text:?}");
        assert!(logged.load(Ordering::Relaxed));

        // A second call on the same connection gets the same answer.
        client
            .write_all(&frame(HEADERS, END_HEADERS, 3, &[0x82]))
            .await
            .unwrap();
        let seen = frames_until(&mut client, |kind, _| kind == RST_STREAM).await;
        assert_eq!(seen[0].0, HEADERS);
        assert_eq!(seen[0].2, 3);

        client.write_all(&goaway(0)).await.unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_oversized_frame_ends_the_connection_with_frame_size_error() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let logged = AtomicBool::new(false);
        let task = tokio::spawn(async move { refuse_calls(server, &logged).await });
        client.write_all(PREFACE).await.unwrap();
        let mut head = frame(DATA, 0, 1, &[]);
        head[..3].copy_from_slice(&[0x01, 0x00, 0x00]); // declares 65,536 bytes
        client.write_all(&head).await.unwrap();
        let seen = frames_until(&mut client, |kind, _| kind == GOAWAY).await;
        let goaway = seen.last().unwrap();
        assert_eq!(goaway.3[4..], FRAME_SIZE_ERROR.to_be_bytes());
        task.await.unwrap().unwrap();
    }

    #[test]
    fn long_strings_use_hpack_multi_byte_lengths() {
        let mut out = Vec::new();
        hpack_string(&mut out, &"x".repeat(300));
        // 300 = 127 + 173; 173 = 0x2d + 128 → [0x7f, 0xad, 0x01]
        assert_eq!(out[..3], [0x7f, 0xad, 0x01]);
        assert_eq!(out.len(), 3 + 300);
    }
}
