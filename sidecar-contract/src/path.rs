//! The sidecar's own routes, `POST /otel-sidecar/v1/invocations/{id}/{action}`: builders for the
//! function, route patterns and a parser for the receiver. An invocation id is 1 to 128 visible ASCII
//! characters (a Lambda request id is a UUID); in a path, every character outside RFC 3986's
//! unreserved set is percent-encoded, so that an id can never change the path's shape.

use std::fmt;

/// The prefix every invocation route shares.
pub const INVOCATIONS: &str = "/otel-sidecar/v1/invocations/";

/// The sidecar's routes about one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `…/{id}/finished`, empty body: the invocation is over (sent when it has no SERVER span to
    /// export, e.g. its trace was not sampled). Answered 204.
    Finished,
    /// `…/{id}/handoff`, a [`crate::HandOff`] body: the invocation's last metrics and spans, after
    /// which it is over (one request instead of `/v1/metrics`, `/v1/traces` and `finished`). Answered
    /// 204 once everything is buffered.
    HandOff,
}

impl Route {
    /// The last path segment.
    pub const fn action(self) -> &'static str {
        match self {
            Route::Finished => "finished",
            Route::HandOff => "handoff",
        }
    }

    /// The route as a pattern with an `{id}` capture (axum's syntax).
    pub const fn pattern(self) -> &'static str {
        match self {
            Route::Finished => "/otel-sidecar/v1/invocations/{id}/finished",
            Route::HandOff => "/otel-sidecar/v1/invocations/{id}/handoff",
        }
    }

    /// The path of this route for invocation `id`.
    pub fn path(self, id: &InvocationId) -> String {
        let mut path = String::with_capacity(INVOCATIONS.len() + id.0.len() + 10);
        path.push_str(INVOCATIONS);
        for byte in id.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                path.push(char::from(byte));
            } else {
                path.push_str(&format!("%{byte:02X}"));
            }
        }
        path.push('/');
        path.push_str(self.action());
        path
    }

    /// The route and invocation id of a request path (percent-encoded, without a query); `None` for
    /// any other path, including one with a malformed id.
    pub fn parse(path: &str) -> Option<(Route, InvocationId)> {
        let rest = path.strip_prefix(INVOCATIONS)?;
        let (encoded, action) = rest.split_once('/')?;
        let route = [Route::Finished, Route::HandOff]
            .into_iter()
            .find(|route| route.action() == action)?;
        let id = InvocationId::parse(&percent_decode(encoded)?).ok()?;
        Some((route, id))
    }
}

/// A valid invocation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationId(String);

impl InvocationId {
    /// Checks `id` (as decoded from a path): 1 to 128 visible ASCII characters.
    pub fn parse(id: &str) -> Result<InvocationId, BadInvocationId> {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadInvocationId);
        }
        Ok(InvocationId(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for InvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an invocation id was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInvocationId;

impl fmt::Display for BadInvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invocation id must be 1 to 128 visible ASCII characters")
    }
}

impl std::error::Error for BadInvocationId {}

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";

    #[test]
    fn builds_the_paths_the_patterns_describe() {
        let id = InvocationId::parse(UUID).unwrap();
        for route in [Route::Finished, Route::HandOff] {
            let path = route.path(&id);
            assert_eq!(path, route.pattern().replace("{id}", UUID));
            assert_eq!(Route::parse(&path), Some((route, id.clone())));
        }
        assert_eq!(
            Route::Finished.path(&id),
            format!("/otel-sidecar/v1/invocations/{UUID}/finished")
        );
    }

    #[test]
    fn an_id_cannot_change_the_shape_of_the_path() {
        let id = InvocationId::parse("a/b?c#d%e").unwrap();
        let path = Route::HandOff.path(&id);
        assert_eq!(
            path,
            "/otel-sidecar/v1/invocations/a%2Fb%3Fc%23d%25e/handoff"
        );
        assert_eq!(Route::parse(&path), Some((Route::HandOff, id)));
    }

    #[test]
    fn refuses_other_paths_and_malformed_ids() {
        for path in [
            "/v1/traces",
            "/otel-sidecar/v1/invocations/",
            "/otel-sidecar/v1/invocations/abc",
            "/otel-sidecar/v1/invocations/abc/other",
            "/otel-sidecar/v1/invocations//finished",
            "/otel-sidecar/v1/invocations/a%20b/finished",
            "/otel-sidecar/v1/invocations/a%2/finished",
            "/otel-sidecar/v1/invocations/a/b/finished",
        ] {
            assert_eq!(Route::parse(path), None, "{path}");
        }
        assert_eq!(InvocationId::parse(""), Err(BadInvocationId));
        assert_eq!(InvocationId::parse(&"a".repeat(129)), Err(BadInvocationId));
        assert!(InvocationId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(InvocationId::parse("é"), Err(BadInvocationId));
    }
}
