//! OTLP/HTTP request bodies: media type and encoding negotiation, bounded gzip inflation, and decoding to
//! a [`Payload`] (ids of the lengths a collector accepts, [`super::ids`]), with the error that decides
//! the HTTP status.

use crate::pipeline::{Payload, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::Read;

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP JSON mapping).
    Json,
}

impl Format {
    /// From a `Content-Type` header value (parameters such as `charset` are ignored).
    pub fn from_content_type(value: Option<&str>) -> Option<Self> {
        let media = value?.split(';').next()?.trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than the configured cap, compressed or not (413).
    #[error("request body exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Unsupported `Content-Encoding` (415).
    #[error("unsupported content encoding `{0}` (use gzip or none)")]
    Encoding(String),
    /// Bad gzip stream (400).
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// Not a valid OTLP message (400).
    #[error("cannot decode OTLP {signal} {format:?}: {reason}")]
    Invalid {
        /// Signal of the endpoint.
        signal: &'static str,
        /// Encoding that was tried.
        format: Format,
        /// Decoder message.
        reason: String,
    },
}

/// Inflates `body` according to `encoding` without ever producing more than `limit` bytes.
pub fn inflate(body: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, DecodeError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::GzDecoder::new(body)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(|e| DecodeError::Gzip(e.to_string()))?;
            if out.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(out)
        }
        Some(other) => Err(DecodeError::Encoding(other.to_owned())),
    }
}

/// Decodes an uncompressed body of `signal` in `format`.
pub fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Payload, DecodeError> {
    fn parse<T: Message + Default + serde::de::DeserializeOwned>(
        body: &[u8],
        format: Format,
    ) -> Result<T, String> {
        match format {
            Format::Protobuf => T::decode(body).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
        }
    }
    let invalid = |reason| DecodeError::Invalid {
        signal: signal.as_str(),
        format,
        reason,
    };
    let payload: Payload = match signal {
        Signal::Traces => parse::<ExportTraceServiceRequest>(body, format)
            .map_err(invalid)?
            .into(),
        Signal::Metrics => parse::<ExportMetricsServiceRequest>(body, format)
            .map_err(invalid)?
            .into(),
        Signal::Logs => parse::<ExportLogsServiceRequest>(body, format)
            .map_err(invalid)?
            .into(),
    };
    super::ids::check(&payload).map_err(invalid)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::gzip;

    #[test]
    fn content_types_are_negotiated() {
        assert_eq!(
            Format::from_content_type(Some("application/x-protobuf")),
            Some(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type(Some("Application/JSON; charset=utf-8")),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
        assert_eq!(Format::from_content_type(None), None);
    }

    #[test]
    fn gzip_is_inflated_within_the_limit_only() {
        let data = vec![b'a'; 10_000];
        assert_eq!(inflate(&gzip(&data), Some("gzip"), 10_000).unwrap(), data);
        assert_eq!(
            inflate(&gzip(&data), Some("gzip"), 9_999),
            Err(DecodeError::TooLarge { limit: 9_999 })
        );
        assert!(matches!(
            inflate(b"not gzip", Some("gzip"), 100),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(
            inflate(b"x", Some("br"), 100),
            Err(DecodeError::Encoding(_))
        ));
        assert_eq!(inflate(b"x", Some("identity"), 100).unwrap(), b"x");
    }

    #[test]
    fn otlp_json_from_the_spec_decodes() {
        let json = include_str!("../../tests/fixtures/otlp_traces.json");
        let payload = decode(Signal::Traces, Format::Json, json.as_bytes()).unwrap();
        assert_eq!(payload.item_count(), 2);
        let Payload::Traces(list) = payload else {
            panic!()
        };
        let span = &list[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, hex_bytes("5b8efff798038103d269b633813fc60c"));
        assert_eq!(span.kind, 2);
        assert!(decode(Signal::Traces, Format::Json, b"{\"resourceSpans\": 5}").is_err());
        assert!(decode(Signal::Metrics, Format::Protobuf, b"\xff\xff\xff").is_err());
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
}
