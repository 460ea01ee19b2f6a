//! The subscription request: `PUT /2022-07-01/telemetry` on the Extensions API host, during init, with
//! the schema version, streams, buffering and the `sandbox.localdomain` destination Lambda requires.

use crate::config::TelemetryApiConfig;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use lambda_runtime_api_client::{Client, body::Body, build_request};

/// The event schema requested (records of `2025-01-29` parse too).
pub const SCHEMA_VERSION: &str = "2022-12-13";

/// Why there is no subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Nothing answers the Telemetry API (the Runtime Interface Emulator, some local tools).
    #[error("no Telemetry API here ({0})")]
    Unavailable(String),
    /// Lambda refused the subscription.
    #[error("subscription refused: {status} {body}")]
    Refused {
        /// The HTTP status Lambda answered.
        status: StatusCode,
        /// Lambda's explanation (truncated).
        body: String,
    },
}

/// The request body; `port` is the listener's bound port.
pub fn request_body(config: &TelemetryApiConfig, port: u16) -> String {
    serde_json::json!({
        "schemaVersion": SCHEMA_VERSION,
        "types": config.types,
        "buffering": {
            "maxItems": config.buffer_max_items,
            "maxBytes": config.buffer_max_bytes,
            "timeoutMs": config.buffer_timeout.as_millis() as u64,
        },
        "destination": {
            "protocol": "HTTP",
            "URI": format!("http://sandbox.localdomain:{port}"),
        }
    })
    .to_string()
}

/// Subscribes extension `extension_id` (from the register response), delivering to the listener bound on
/// `port`, at the Extensions API host in `AWS_LAMBDA_RUNTIME_API`.
pub async fn subscribe(
    config: &TelemetryApiConfig,
    port: u16,
    extension_id: &str,
) -> Result<(), SubscribeError> {
    let client = Client::builder()
        .build()
        .map_err(|e| SubscribeError::Unavailable(e.to_string()))?;
    subscribe_with(&client, config, port, extension_id).await
}

/// [`subscribe`] through `client` (the tests' client talks to a local Extensions API).
async fn subscribe_with(
    client: &Client,
    config: &TelemetryApiConfig,
    port: u16,
    extension_id: &str,
) -> Result<(), SubscribeError> {
    let request = build_request()
        .method(Method::PUT)
        .uri("/2022-07-01/telemetry")
        .header("Lambda-Extension-Identifier", extension_id)
        .header("Content-Type", "application/json")
        .body(Body::from(request_body(config, port)))
        .map_err(|e| SubscribeError::Unavailable(e.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|e| SubscribeError::Unavailable(e.to_string()))?;
    let status = response.status();
    let body: String = response
        .into_body()
        .collect()
        .await
        .map(|b| {
            String::from_utf8_lossy(&b.to_bytes())
                .chars()
                .take(200)
                .collect()
        })
        .unwrap_or_default();
    if status.is_success() {
        // The Runtime Interface Emulator accepts the subscription with `202 {"errorType":
        // "Telemetry.NotSupported", ...}` and never delivers anything (aws-lambda-runtime-interface-emulator,
        // internal/lambda/rapi/handler/runtimelogs_stub.go, runtimeTelemetryAPIStubHandler.ServeHTTP).
        if is_not_supported(&body) {
            return Err(SubscribeError::Unavailable(format!("{status} {body}")));
        }
        return Ok(());
    }
    if matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
    ) {
        return Err(SubscribeError::Unavailable(format!("{status} {body}")));
    }
    Err(SubscribeError::Refused { status, body })
}

/// Whether a successful answer is the emulator's stub saying there is no Telemetry API.
fn is_not_supported(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .is_ok_and(|answer| answer["errorType"] == "Telemetry.NotSupported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::put;

    /// A client of an Extensions API host answering the subscription with `status`.
    async fn api_answering(status: StatusCode) -> Client {
        api_answering_with(status, "").await
    }

    /// A client of an Extensions API host answering the subscription with `status` and `answer`.
    async fn api_answering_with(status: StatusCode, answer: &'static str) -> Client {
        let app = axum::Router::new().route(
            "/2022-07-01/telemetry",
            put(move |body: String| async move {
                assert!(body.contains("sandbox.localdomain"), "{body}");
                (status, answer)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        client(format!("http://{addr}"))
    }

    fn client(endpoint: String) -> Client {
        Client::builder()
            .with_endpoint(endpoint.parse().unwrap())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn outcomes_tell_a_missing_api_from_a_refusal() {
        let config = TelemetryApiConfig::default();
        let ok = api_answering(StatusCode::OK).await;
        assert!(subscribe_with(&ok, &config, 4319, "id").await.is_ok());
        // The Runtime Interface Emulator's stub: accepted, and nothing will ever come (its exact answer).
        let stub = api_answering_with(
            StatusCode::ACCEPTED,
            r#"{"errorMessage":"Telemetry API is not supported","errorType":"Telemetry.NotSupported"}"#,
        )
        .await;
        assert!(matches!(
            subscribe_with(&stub, &config, 4319, "id").await,
            Err(SubscribeError::Unavailable(_))
        ));
        let accepted = api_answering_with(StatusCode::OK, r#"{"errorType":"Other"}"#).await;
        assert!(subscribe_with(&accepted, &config, 4319, "id").await.is_ok());
        // Tools without the API at all.
        let missing = api_answering(StatusCode::NOT_FOUND).await;
        assert!(matches!(
            subscribe_with(&missing, &config, 4319, "id").await,
            Err(SubscribeError::Unavailable(_))
        ));
        let refused = api_answering(StatusCode::BAD_REQUEST).await;
        assert!(matches!(
            subscribe_with(&refused, &config, 4319, "id").await,
            Err(SubscribeError::Refused { .. })
        ));
        let nobody = client(format!("http://127.0.0.1:{}", closed_port()));
        assert!(matches!(
            subscribe_with(&nobody, &config, 4319, "id").await,
            Err(SubscribeError::Unavailable(_))
        ));
    }

    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn the_request_names_schema_streams_buffering_and_the_sandbox_destination() {
        let body: serde_json::Value =
            serde_json::from_str(&request_body(&TelemetryApiConfig::default(), 4319)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "schemaVersion": "2022-12-13",
                "types": ["platform", "function", "extension"],
                "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4319"}
            })
        );
    }
}
