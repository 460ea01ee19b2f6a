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
//! spans, then takes the invocation as finished: the order the separate requests had. Each field may
//! appear at most once (stricter than protobuf's merging of repeated message fields: one writer, one
//! reader); unknown fields are skipped, as protobuf requires.

use std::fmt;

const METRICS_FIELD: u64 = 1;
const TRACES_FIELD: u64 = 2;

/// A decoded (or to-be-encoded) hand-off body: the encoded OTLP export requests it carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandOff<'a> {
    /// An encoded `ExportMetricsServiceRequest`.
    pub metrics: Option<&'a [u8]>,
    /// An encoded `ExportTraceServiceRequest`.
    pub traces: Option<&'a [u8]>,
}

impl<'a> HandOff<'a> {
    /// The body.
    pub fn encode(&self) -> Vec<u8> {
        let size = [self.metrics, self.traces]
            .into_iter()
            .flatten()
            .map(|part| part.len() + 11)
            .sum();
        let mut out = Vec::with_capacity(size);
        for (field, part) in [(METRICS_FIELD, self.metrics), (TRACES_FIELD, self.traces)] {
            if let Some(part) = part {
                put_varint(&mut out, (field << 3) | WireType::Len as u64);
                put_varint(&mut out, part.len() as u64);
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Reads a body; the parts borrow from it.
    pub fn decode(body: &'a [u8]) -> Result<HandOff<'a>, HandOffError> {
        let mut handoff = HandOff::default();
        let mut rest = body;
        while !rest.is_empty() {
            let key = take_varint(&mut rest)?;
            let field = key >> 3;
            let wire = key & 7;
            let value = match wire {
                0 => {
                    take_varint(&mut rest)?;
                    None
                }
                1 => {
                    take(&mut rest, 8)?;
                    None
                }
                2 => {
                    let len = take_varint(&mut rest)?;
                    let len = usize::try_from(len).map_err(|_| HandOffError::Truncated)?;
                    Some(take(&mut rest, len)?)
                }
                5 => {
                    take(&mut rest, 4)?;
                    None
                }
                other => return Err(HandOffError::WireType { field, wire: other }),
            };
            let slot = match field {
                0 => return Err(HandOffError::FieldZero),
                METRICS_FIELD => &mut handoff.metrics,
                TRACES_FIELD => &mut handoff.traces,
                _ => continue,
            };
            let Some(value) = value else {
                return Err(HandOffError::WireType { field, wire });
            };
            if slot.replace(value).is_some() {
                return Err(HandOffError::Repeated { field });
            }
        }
        Ok(handoff)
    }
}

#[repr(u64)]
enum WireType {
    Len = 2,
}

/// Why a hand-off body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOffError {
    /// It ends in the middle of a field.
    Truncated,
    /// A varint longer than 64 bits.
    Varint,
    /// Field number 0, which protobuf does not allow.
    FieldZero,
    /// A field with a wire type it cannot have (or a group, which is not supported).
    WireType {
        /// Field number.
        field: u64,
        /// Wire type found.
        wire: u64,
    },
    /// `metrics` or `traces` more than once.
    Repeated {
        /// Field number.
        field: u64,
    },
}

impl fmt::Display for HandOffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandOffError::Truncated => f.write_str("hand-off body ends in the middle of a field"),
            HandOffError::Varint => f.write_str("hand-off body has a varint longer than 64 bits"),
            HandOffError::FieldZero => f.write_str("hand-off body has field number 0"),
            HandOffError::WireType { field, wire } => {
                write!(f, "hand-off body field {field} has wire type {wire}")
            }
            HandOffError::Repeated { field } => {
                write!(f, "hand-off body field {field} appears more than once")
            }
        }
    }
}

impl std::error::Error for HandOffError {}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, HandOffError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first().ok_or(HandOffError::Truncated)?;
        *rest = tail;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(HandOffError::Varint);
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HandOffError::Varint)
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], HandOffError> {
    if rest.len() < len {
        return Err(HandOffError::Truncated);
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_combination() {
        let long = vec![7u8; 300];
        for metrics in [None, Some(&b""[..]), Some(&b"m"[..]), Some(&long[..])] {
            for traces in [None, Some(&b"t"[..]), Some(&long[..])] {
                let handoff = HandOff { metrics, traces };
                assert_eq!(HandOff::decode(&handoff.encode()), Ok(handoff));
            }
        }
        assert!(HandOff::default().encode().is_empty());
    }

    #[test]
    fn is_the_protobuf_encoding_of_two_length_delimited_fields() {
        let body = HandOff {
            metrics: Some(b"ab"),
            traces: Some(&[9; 200]),
        }
        .encode();
        // Field 1, wire type 2, length 2; field 2, wire type 2, length 200 as a two-byte varint.
        assert_eq!(&body[..4], &[0x0a, 2, b'a', b'b']);
        assert_eq!(&body[4..7], &[0x12, 0xc8, 0x01]);
        assert_eq!(body.len(), 7 + 200);
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut body = vec![0x18, 0x96, 0x01]; // field 3, varint 150
        body.extend([0x21, 1, 2, 3, 4, 5, 6, 7, 8]); // field 4, fixed64
        body.extend([0x2a, 1, 0xff]); // field 5, length 1
        body.extend([0x35, 1, 2, 3, 4]); // field 6, fixed32
        body.extend(
            HandOff {
                metrics: None,
                traces: Some(b"t"),
            }
            .encode(),
        );
        assert_eq!(
            HandOff::decode(&body),
            Ok(HandOff {
                metrics: None,
                traces: Some(&b"t"[..])
            })
        );
    }

    #[test]
    fn refuses_malformed_bodies() {
        let cases: [(&[u8], HandOffError); 7] = [
            (&[0x0a], HandOffError::Truncated),
            (&[0x0a, 3, 1], HandOffError::Truncated),
            (&[0x0a, 0x80], HandOffError::Truncated),
            (&[0x08, 1], HandOffError::WireType { field: 1, wire: 0 }),
            (&[0x13], HandOffError::WireType { field: 2, wire: 3 }),
            (&[0x02, 0], HandOffError::FieldZero),
            (&[0x0a, 0, 0x0a, 0], HandOffError::Repeated { field: 1 }),
        ];
        for (body, error) in cases {
            assert_eq!(HandOff::decode(body), Err(error), "{body:?}");
        }
        let too_long = [0xff; 11];
        assert_eq!(HandOff::decode(&too_long), Err(HandOffError::Varint));
    }
}
