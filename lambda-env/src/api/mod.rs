//! The HTTP side of the sandbox on 127.0.0.1: the Runtime API (`/2018-06-01`), the Extensions API
//! (`/2020-01-01`) and the Telemetry API's subscription (`/2022-07-01`), routed as rapid's
//! `internal/lambda/rapi/router.go` does.

mod extensions;
mod runtime;

use crate::state::Shared;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use std::sync::Arc;

/// Lambda's limit on a response payload (6 MB), rapid `interop.MaxPayloadSize`.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(runtime::next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(runtime::response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(runtime::function_error),
        )
        .route("/2018-06-01/runtime/init/error", post(runtime::init_error))
        .route("/2020-01-01/extension/register", post(extensions::register))
        .route("/2020-01-01/extension/event/next", get(extensions::next))
        .route(
            "/2020-01-01/extension/init/error",
            post(extensions::init_error),
        )
        .route(
            "/2020-01-01/extension/exit/error",
            post(extensions::exit_error),
        )
        .route("/2022-07-01/telemetry", put(extensions::subscribe))
        .with_state(shared)
}

/// rapid's `rendering.RenderJSON` of an `ErrorResponse`.
pub(crate) fn error(status: StatusCode, error_type: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"errorMessage": message.into(), "errorType": error_type})),
    )
        .into_response()
}

/// rapid's `rendering.RenderAccepted`.
pub(crate) fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}
