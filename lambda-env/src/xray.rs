//! The X-Ray trace header Lambda gives each invocation (`Lambda-Runtime-Trace-Id`): `Root`, a fresh
//! `Parent` per invocation (the Lambda segment's id) and `Sampled`.

use rand::Rng as _;

/// A parsed or generated trace header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    /// `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`
    pub root: String,
    /// 16 hex digits.
    pub parent: String,
    /// `Sampled=1`; anything else, or no `Sampled`, is false.
    pub sampled: bool,
}

impl TraceHeader {
    /// A new trace: the current time in the root's first part, as X-Ray ids are made; not sampled,
    /// as Lambda does without active tracing.
    pub fn fresh() -> TraceHeader {
        let seconds = chrono::Utc::now().timestamp();
        let mut rng = rand::rng();
        TraceHeader {
            root: format!("1-{:08x}-{:024x}", seconds, rng.random::<u128>() >> 32),
            parent: new_parent(),
            sampled: false,
        }
    }

    /// Parses `Root=…;Parent=…;Sampled=…`; a missing `Parent` gets a fresh one (Lambda always
    /// writes one). `None` without a `Root`.
    pub fn parse(header: &str) -> Option<TraceHeader> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = false;
        for part in header.split(';') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Root" => root = Some(value.to_owned()),
                "Parent" => parent = Some(value.to_owned()),
                "Sampled" => sampled = value == "1",
                _ => {}
            }
        }
        Some(TraceHeader {
            root: root?,
            parent: parent.unwrap_or_else(new_parent),
            sampled,
        })
    }

    /// The header text, `Root=…;Parent=…;Sampled=0|1`.
    pub fn header(&self) -> String {
        format!(
            "Root={};Parent={};Sampled={}",
            self.root,
            self.parent,
            u8::from(self.sampled)
        )
    }
}

/// A fresh 16-hex-digit segment id.
pub fn new_parent() -> String {
    format!("{:016x}", rand::rng().random::<u64>() | 1)
}

/// A request id in Lambda's form (a version-4 UUID).
pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_parent_is_kept_and_a_missing_one_is_made() {
        let given = TraceHeader::parse(
            "Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Parent=1a2b3c4d5e6f7081;Sampled=0",
        )
        .unwrap();
        assert_eq!(given.parent, "1a2b3c4d5e6f7081");
        assert_eq!(
            given.header(),
            "Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Parent=1a2b3c4d5e6f7081;Sampled=0"
        );
        let without =
            TraceHeader::parse("Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Sampled=1").unwrap();
        assert_eq!(without.parent.len(), 16);
        assert!(without.sampled);
        assert!(TraceHeader::parse("Parent=1a2b3c4d5e6f7081").is_none());
    }

    #[test]
    fn fresh_headers_differ_and_have_xray_shapes() {
        let a = TraceHeader::fresh();
        let b = TraceHeader::fresh();
        assert_ne!(a.parent, b.parent);
        assert_ne!(a.root, b.root);
        assert_eq!(a.root.len(), 35, "{}", a.root);
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
