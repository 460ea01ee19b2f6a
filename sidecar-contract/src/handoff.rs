//! The hand-off body: an invocation's last metrics and spans in one request, so that the function pays
//! one loopback round trip per invocation instead of two (docs/benchmarks.md, the hand-off). It is the
//! protobuf message
//!
//! ```proto
//! message HandOff {
//!   opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest metrics = 1;
//!   opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest traces = 2;
//! }
//! ```
//!
//! Each field holds a complete OTLP export request, exactly as `/v1/metrics` and `/v1/traces` would
//! receive it; an absent field means nothing to export. The sidecar buffers the metrics, then the
//! spans, then takes the invocation as finished: the order the separate requests had. Unknown fields are
//! skipped, as protobuf requires. The fields are declared `bytes` rather than as the OTLP messages, so
//! the sidecar gets each request's bytes as they arrived (slices of the body it read) and buffers them
//! without encoding them again; the encoding is prost's, the same crate both binaries use for OTLP.

use bytes::Bytes;

/// A hand-off body: the encoded OTLP export requests it carries.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HandOff {
    /// An encoded `ExportMetricsServiceRequest`, if the invocation has metrics to export.
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub metrics: Option<Bytes>,
    /// An encoded `ExportTraceServiceRequest`, if the invocation has spans to export.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub traces: Option<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn handoff(metrics: Option<&[u8]>, traces: Option<&[u8]>) -> HandOff {
        HandOff {
            metrics: metrics.map(Bytes::copy_from_slice),
            traces: traces.map(Bytes::copy_from_slice),
        }
    }

    #[test]
    fn round_trips_every_combination() {
        let long = vec![7u8; 300];
        for metrics in [None, Some(&b""[..]), Some(&b"m"[..]), Some(&long[..])] {
            for traces in [None, Some(&b"t"[..]), Some(&long[..])] {
                let sent = handoff(metrics, traces);
                let body = Bytes::from(sent.encode_to_vec());
                assert_eq!(HandOff::decode(body), Ok(sent));
            }
        }
        assert!(HandOff::default().encode_to_vec().is_empty());
    }

    #[test]
    fn is_the_protobuf_encoding_of_two_length_delimited_fields() {
        let body = handoff(Some(b"ab"), Some(&[9; 200])).encode_to_vec();
        // Field 1, wire type 2, length 2; field 2, wire type 2, length 200 as a two-byte varint.
        assert_eq!(&body[..4], &[0x0a, 2, b'a', b'b']);
        assert_eq!(&body[4..7], &[0x12, 0xc8, 0x01]);
        assert_eq!(body.len(), 7 + 200);
    }

    #[test]
    fn the_parts_are_slices_of_the_body() {
        let body = Bytes::from(handoff(Some(b"metrics"), Some(b"traces")).encode_to_vec());
        let decoded = HandOff::decode(body.clone()).unwrap();
        let traces = decoded.traces.unwrap();
        let body_range = body.as_ptr_range();
        assert!(body_range.contains(&traces.as_ptr()), "no copy of the part");
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut body = vec![0x18, 0x96, 0x01]; // field 3, varint 150
        body.extend([0x21, 1, 2, 3, 4, 5, 6, 7, 8]); // field 4, fixed64
        body.extend([0x2a, 1, 0xff]); // field 5, length 1
        body.extend([0x35, 1, 2, 3, 4]); // field 6, fixed32
        body.extend(handoff(None, Some(b"t")).encode_to_vec());
        assert_eq!(
            HandOff::decode(Bytes::from(body)),
            Ok(handoff(None, Some(b"t")))
        );
    }

    #[test]
    fn refuses_malformed_bodies() {
        let cases: [&[u8]; 6] = [
            &[0x0a],       // a key without its length
            &[0x0a, 3, 1], // shorter than its length
            &[0x0a, 0x80], // a length cut in the middle of its varint
            &[0x08, 1],    // `metrics` as a varint
            &[0x02, 0],    // field number 0
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ], // varint over 64 bits
        ];
        for body in cases {
            assert!(HandOff::decode(body).is_err(), "{body:?}");
        }
    }
}
