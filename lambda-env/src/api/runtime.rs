//! Runtime API handlers (rapid `internal/lambda/rapi/handler/invocationnext.go`,
//! `invocationresponse.go`, `invocationerror.go`, `initerror.go`; headers from
//! `rendering.go` `RenderRuntimeEvent`).

use super::{MAX_PAYLOAD, accepted, error};
use crate::state::{Answer, ReportedError, RuntimeEvent, Shared};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

pub(super) async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let event = match shared.update(|s| s.runtime.next(Instant::now())) {
        Ok(event) => event,
        Err(rx) => match rx.await {
            Ok(event) => event,
            Err(_) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Runtime.NextSuperseded",
                    "another next call took this one's place",
                );
            }
        },
    };
    render(event)
}

fn render(event: RuntimeEvent) -> Response {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("Lambda-Runtime-Aws-Request-Id", &event.request_id);
    set("Lambda-Runtime-Trace-Id", &event.trace_header);
    set("Lambda-Runtime-Invoked-Function-Arn", &event.function_arn);
    set("Lambda-Runtime-Deadline-Ms", &event.deadline_ms.to_string());
    if let Some(context) = &event.client_context {
        set("Lambda-Runtime-Client-Context", context);
    }
    if let Some(identity) = &event.cognito_identity {
        set("Lambda-Runtime-Cognito-Identity", identity);
    }
    set("Content-Type", "application/json");
    (StatusCode::OK, headers, event.payload).into_response()
}

async fn read_body(request: Request) -> Result<Bytes, Response> {
    axum::body::to_bytes(request.into_body(), MAX_PAYLOAD)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("payload larger than {MAX_PAYLOAD} bytes"),
            )
        })
}

/// Records the runtime's answer to invocation `id`.
fn answer(shared: &Shared, id: &str, started: Instant, answer: Answer) -> Response {
    let finished = Instant::now();
    shared.update(|s| match &mut s.current {
        Some(current) if current.request_id == id && current.answer.is_none() => {
            current.answer = Some(answer);
            current.answer_started = Some(started);
            current.answer_finished = Some(finished);
            accepted()
        }
        Some(current) if current.request_id == id => error(
            StatusCode::FORBIDDEN,
            "Runtime.InvalidStateTransition",
            "the invocation was already answered",
        ),
        _ => error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            format!("no invocation {id} in progress"),
        ),
    })
}

pub(super) async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    match read_body(request).await {
        Ok(body) => answer(&shared, &id, started, Answer::Response(body)),
        Err(response) => response,
    }
}

fn error_type(headers: &HeaderMap) -> String {
    headers
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("Runtime.Unknown")
        .to_owned()
}

pub(super) async fn function_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let error_type = error_type(request.headers());
    match read_body(request).await {
        Ok(body) => answer(&shared, &id, started, Answer::Error { error_type, body }),
        Err(response) => response,
    }
}

pub(super) async fn init_error(
    State(shared): State<Arc<Shared>>,
    request: Request<Body>,
) -> Response {
    let error_type = error_type(request.headers());
    let body = read_body(request).await.unwrap_or_default();
    shared.update(|s| {
        s.init_error.get_or_insert(ReportedError {
            by: "runtime".into(),
            error_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    });
    accepted()
}
