//! Extensions API and Telemetry API subscription handlers (rapid
//! `internal/lambda/rapi/handler/agentregister.go`, `agentnext.go`, `agentiniterror.go`,
//! `agentexiterror.go`, `runtimelogs.go`; the event shapes of `rapi/model/agentevent.go`).

use super::{accepted, error};
use crate::state::{Extension, Party, ReportedError, Shared};
use crate::telemetry::SubscribeError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

const IDENTIFIER: &str = "Lambda-Extension-Identifier";
const NAME: &str = "Lambda-Extension-Name";
const ACCEPT_FEATURE: &str = "Lambda-Extension-Accept-Feature";
const ERROR_TYPE: &str = "Lambda-Extension-Function-Error-Type";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The registered extension's name for the identifier header, or the error rapid answers.
fn identify(shared: &Shared, headers: &HeaderMap) -> Result<(String, String), Box<Response>> {
    let Some(id) = header(headers, IDENTIFIER) else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Extension.MissingExtensionIdentifier",
            "Missing Lambda-Extension-Identifier header",
        )));
    };
    shared
        .read(|s| {
            s.extensions
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.name.clone())
        })
        .map(|name| (id.to_owned(), name))
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::FORBIDDEN,
                "Extension.UnknownExtensionIdentifier",
                format!("Unknown extension {id}"),
            ))
        })
}

pub(super) async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(name) = header(&headers, NAME).map(str::to_owned) else {
        return error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionName",
            "Empty extension name",
        );
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::FORBIDDEN, "InvalidRequestFormat", e.to_string()),
    };
    let mut events = Vec::new();
    for event in request["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match event.as_str() {
            Some(e @ ("INVOKE" | "SHUTDOWN")) => events.push(e.to_owned()),
            _ => {
                return error(
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidEventType",
                    format!("unknown event {event}"),
                );
            }
        }
    }
    let id = crate::xray::new_request_id();
    let registered = shared.update(|s| {
        if !s.registration_open {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "Extension.RegistrationClosed",
                "Extension registration closed already",
            )));
        }
        if s.extensions.iter().any(|e| e.name == name) {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "Extension.InvalidExtensionState",
                format!("{name} is registered already"),
            )));
        }
        let external = s.external_names.contains(&name);
        s.extensions.push(Extension {
            id: id.clone(),
            name: name.clone(),
            events,
            external,
            party: Party::default(),
        });
        Ok(())
    });
    if let Err(response) = registered {
        return *response;
    }
    // `renderResponse` and `respondWithAccountID` (feature `accountId`).
    let mut body = json!({
        "functionName": shared.function_name,
        "functionVersion": shared.function_version,
        "handler": shared.handler,
    });
    let features = header(&headers, ACCEPT_FEATURE).unwrap_or_default();
    if features.split(',').any(|f| f.trim() == "accountId") {
        body["accountId"] = json!(shared.account_id);
    }
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(IDENTIFIER, value);
    }
    response
}

pub(super) async fn next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let (id, _) = match identify(&shared, &headers) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let polled = shared.update(|s| s.extension_mut(&id).map(|e| e.party.next(Instant::now())));
    let event = match polled {
        Some(Ok(event)) => event,
        Some(Err(rx)) => match rx.await {
            Ok(event) => event,
            Err(_) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Extension.NextSuperseded",
                    "another next call took this one's place",
                );
            }
        },
        None => {
            return error(
                StatusCode::FORBIDDEN,
                "Extension.UnknownExtensionIdentifier",
                id,
            );
        }
    };
    let mut response = (StatusCode::OK, axum::Json(event)).into_response();
    if let Ok(value) = HeaderValue::from_str(&crate::xray::new_request_id()) {
        response
            .headers_mut()
            .insert("Lambda-Extension-Event-Identifier", value);
    }
    response
}

fn reported(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<ReportedError, Box<Response>> {
    let (_, name) = identify(shared, headers)?;
    let Some(error_type) = header(headers, ERROR_TYPE) else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Extension.MissingHeader",
            format!("{ERROR_TYPE} not found"),
        )));
    };
    Ok(ReportedError {
        by: name,
        error_type: error_type.to_owned(),
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

pub(super) async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match reported(&shared, &headers, &body) {
        Ok(report) => {
            shared.update(|s| {
                s.init_error.get_or_insert(report);
            });
            accepted()
        }
        Err(response) => *response,
    }
}

pub(super) async fn exit_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match reported(&shared, &headers, &body) {
        Ok(report) => {
            shared.update(|s| s.exit_errors.push(report));
            accepted()
        }
        Err(response) => *response,
    }
}

pub(super) async fn subscribe(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, name) = match identify(&shared, &headers) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if !shared.read(|s| s.subscriptions_open) {
        return subscribe_error(SubscribeError::Closed);
    }
    match shared.telemetry.subscribe(&shared.events, &name, &body) {
        Ok(types) => {
            shared.emit(
                Instant::now(),
                "platform.telemetrySubscription",
                json!({"name": name, "state": "Subscribed", "types": types}),
            );
            (StatusCode::OK, axum::Json(json!("OK"))).into_response()
        }
        Err(e) => subscribe_error(e),
    }
}

fn subscribe_error(e: SubscribeError) -> Response {
    match e {
        SubscribeError::Validation(message) => {
            error(StatusCode::BAD_REQUEST, "ValidationError", message)
        }
        SubscribeError::Closed => error(
            StatusCode::FORBIDDEN,
            "Telemetry.SubscriptionClosed",
            "Telemetry API subscription is closed",
        ),
    }
}
