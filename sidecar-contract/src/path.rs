//! The sidecar's own routes, `POST /otel-sidecar/v1/invocations/{id}/{action}`: path builders for the
//! function, route patterns for the receiver (whose router decodes the id). An invocation id is 1 to 128 visible ASCII
//! characters (a Lambda request id is a UUID); in a path, every character outside RFC 3986's
//! unreserved set is percent-encoded, so that an id can never change the path's shape.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;

/// Everything outside RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
    /// 204 once everything is buffered, with [`crate::COMPLETION_WAIT_HEADER`], and **before the
    /// sidecar calls `next`**. Once the sidecar has answered one hand-off, the function writes the next
    /// ones and calls `next` without waiting for the answer (while the invocation is well within the
    /// sidecar's announced wait), and reads it at its following hand-off: that answer must be in its
    /// socket before the sandbox can freeze. Within its wait, the sidecar does not call `next` before
    /// it has the hand-off (or Lambda's `runtimeDone`, which comes after the runtime's `next`), so a
    /// hand-off written before the runtime's `next` is read before the freeze.
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
        format!(
            "{INVOCATIONS}{}/{}",
            utf8_percent_encode(&id.0, NOT_UNRESERVED),
            self.action()
        )
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invocation id must be 1 to 128 visible ASCII characters")]
pub struct BadInvocationId;

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";

    #[test]
    fn builds_the_paths_the_patterns_describe() {
        let id = InvocationId::parse(UUID).unwrap();
        for route in [Route::Finished, Route::HandOff] {
            assert_eq!(route.path(&id), route.pattern().replace("{id}", UUID));
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
        let segment = path.split('/').nth(4).unwrap();
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, id.as_str());
    }

    #[test]
    fn refuses_malformed_ids() {
        assert_eq!(InvocationId::parse(""), Err(BadInvocationId));
        assert_eq!(InvocationId::parse(&"a".repeat(129)), Err(BadInvocationId));
        assert!(InvocationId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(InvocationId::parse("é"), Err(BadInvocationId));
        assert_eq!(InvocationId::parse("a b"), Err(BadInvocationId));
    }
}
