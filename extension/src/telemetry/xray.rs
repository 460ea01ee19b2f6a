//! X-Ray trace headers (`Root=1-…;Parent=…;Sampled=…`) to W3C ids, the same mapping as the handler's
//! propagator (`opentelemetry-aws`): the trace id is the Root's epoch and unique parts concatenated
//! (`1-5759e988-bd862e3fe1be46a994272793` → `5759e988bd862e3fe1be46a994272793`) and `Parent` is the
//! span id the function was handed as its parent.

/// The ids carried by an X-Ray trace header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XrayContext {
    /// W3C trace id.
    pub trace_id: [u8; 16],
    /// `Parent`: the span id Lambda gave the function as its parent, when present.
    pub parent_id: Option<[u8; 8]>,
}

/// Parses a header value; `None` when it has no valid `Root`.
pub fn parse(header: &str) -> Option<XrayContext> {
    let mut trace_id = None;
    let mut parent_id = None;
    for part in header.split(';') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "Root" => trace_id = root(value.trim()),
            "Parent" => parent_id = hex::<8>(value.trim()).filter(|id| *id != [0; 8]),
            _ => {}
        }
    }
    Some(XrayContext {
        trace_id: trace_id?,
        parent_id,
    })
}

fn root(value: &str) -> Option<[u8; 16]> {
    let mut parts = value.split('-');
    let (version, epoch, unique) = (parts.next()?, parts.next()?, parts.next()?);
    if version != "1" || parts.next().is_some() || epoch.len() != 8 || unique.len() != 24 {
        return None;
    }
    let id = hex::<16>(&format!("{epoch}{unique}"))?;
    (id != [0; 16]).then_some(id)
}

/// An id of exactly `N` bytes from a protobuf field, `None` if the length is wrong.
pub fn bytes<const N: usize>(id: &[u8]) -> Option<[u8; N]> {
    id.try_into().ok()
}

/// Decodes exactly `N` bytes of lower- or upper-case hex.
pub fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The X-Ray context of a Telemetry API record's `tracing` field (`type` `X-Amzn-Trace-Id`), if any.
pub fn from_trace_context(tracing: Option<&super::events::TraceContext>) -> Option<XrayContext> {
    let tracing = tracing?;
    if tracing
        .kind
        .as_deref()
        .is_some_and(|k| k != "X-Amzn-Trace-Id")
    {
        return None;
    }
    parse(tracing.value.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_parent_become_w3c_ids() {
        let context =
            parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .expect("valid");
        assert_eq!(
            context.trace_id,
            hex::<16>("5759e988bd862e3fe1be46a994272793").unwrap()
        );
        assert_eq!(context.parent_id, hex::<8>("53995c3f42cd8ad8"));
    }

    #[test]
    fn order_spaces_lineage_and_missing_parent_are_tolerated() {
        let context =
            parse(" Sampled=0 ; Lineage=1:8a5c2b3d:0; Root=1-5759E988-BD862E3FE1BE46A994272793")
                .expect("valid");
        assert_eq!(context.parent_id, None);
        assert_eq!(context.trace_id[0], 0x57);
    }

    #[test]
    fn malformed_roots_are_rejected() {
        for header in [
            "",
            "Parent=53995c3f42cd8ad8",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a994272793-00",
            "Root=1-zzzzzzzz-bd862e3fe1be46a994272793",
            "Root=1-00000000-000000000000000000000000",
        ] {
            assert_eq!(parse(header), None, "{header:?}");
        }
        let bad_parent = parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz").unwrap();
        assert_eq!(bad_parent.parent_id, None);
    }
}
