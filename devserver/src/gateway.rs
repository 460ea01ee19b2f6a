//! The local HTTP endpoint: every request becomes an API Gateway HTTP API (payload 2.0) event for
//! the function, except `POST /2015-03-31/functions/function/invocations`, which takes a ready-made
//! event as its body and returns the function's raw result, like the Runtime Interface Emulator of
//! `docker run` (so `deploy/events/*.json` can be sent as they are).

use crate::apigw::{self, IncomingRequest, OutgoingResponse};
use crate::invoker::{Invoker, Outcome};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The Runtime Interface Emulator's invoke path.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// API Gateway HTTP APIs accept request bodies up to 10 MB.
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// Lambda's synchronous invocation payload limit.
const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// What the handlers share.
pub struct Gateway {
    /// Runs each request's event in the one execution environment.
    pub invoker: Arc<Invoker>,
    /// The event's `requestContext.accountId` (the same account the sandbox reports).
    pub account_id: String,
}

/// The router: the RIE-style invoke path, everything else through the HTTP API mapping.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(INVOKE_PATH, post(invoke_raw))
        .fallback(http_api)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(gateway)
}

async fn http_api(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => return into_response(apigw::gateway_error(StatusCode::PAYLOAD_TOO_LARGE), None),
    };
    let apigw_request_id = uuid::Uuid::new_v4().to_string();
    let domain_name = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let event = apigw::event(&IncomingRequest {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip(),
        domain_name: &domain_name,
        request_id: &apigw_request_id,
        account_id: &gateway.account_id,
        now: chrono::Utc::now(),
    });
    if event.to_string().len() > MAX_EVENT_BYTES {
        return into_response(
            apigw::gateway_error(StatusCode::PAYLOAD_TOO_LARGE),
            Some(&apigw_request_id),
        );
    }
    let response = match gateway.invoker.invoke(event).await {
        Outcome::Response { request_id, payload } => {
            apigw::response(&payload).unwrap_or_else(|error| {
                tracing::error!(message = "API Gateway cannot use the function's response", %request_id, %error);
                apigw::gateway_error(StatusCode::INTERNAL_SERVER_ERROR)
            })
        }
        Outcome::FunctionError { .. } | Outcome::Failed { .. } => {
            apigw::gateway_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Outcome::Timeout { .. } | Outcome::Stopping => {
            apigw::gateway_error(StatusCode::SERVICE_UNAVAILABLE)
        }
    };
    into_response(response, Some(&apigw_request_id))
}

async fn invoke_raw(State(gateway): State<Arc<Gateway>>, body: Bytes) -> Response {
    let event: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(event) => event,
            Err(error) => {
                return lambda_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &format!("could not parse the request body as JSON: {error}"),
                );
            }
        }
    };
    if body.len() > MAX_EVENT_BYTES {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            "request payload exceeds 6 MB",
        );
    }
    match gateway.invoker.invoke(event).await {
        Outcome::Response { payload, .. } => (
            [(http::header::CONTENT_TYPE, "application/json")],
            payload.to_string(),
        )
            .into_response(),
        Outcome::FunctionError {
            error_type,
            error_message,
            ..
        } => (
            [
                (http::header::CONTENT_TYPE, "application/json"),
                (
                    http::HeaderName::from_static("x-amz-function-error"),
                    "Unhandled",
                ),
            ],
            json!({"errorType": error_type, "errorMessage": error_message}).to_string(),
        )
            .into_response(),
        Outcome::Timeout { request_id } => (
            [
                (http::header::CONTENT_TYPE, "application/json"),
                (http::HeaderName::from_static("x-amz-function-error"), "Unhandled"),
            ],
            json!({"errorType": "Sandbox.Timedout", "errorMessage": format!("{request_id} Task timed out")})
                .to_string(),
        )
            .into_response(),
        Outcome::Failed { reason } => {
            lambda_error(StatusCode::BAD_GATEWAY, "ServiceException", &reason)
        }
        Outcome::Stopping => lambda_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceException",
            "the local runner is stopping",
        ),
    }
}

fn lambda_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({"errorType": error_type, "errorMessage": message}).to_string(),
    )
        .into_response()
}

fn into_response(response: OutgoingResponse, apigw_request_id: Option<&str>) -> Response {
    let mut out = (response.status, response.body).into_response();
    *out.headers_mut() = response.headers;
    if let Some(id) = apigw_request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        out.headers_mut().insert("apigw-requestid", id);
    }
    out
}
