//! Every way a request can fail, and how each becomes an HTTP answer: a status and a JSON body
//! `{"message": …, "error": {"code": …, "requestId": …}}`. Internal causes are logged by the
//! caller, once; the body carries only what the client can act on.

use crate::buckets::{S3Error, S3ErrorKind};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

/// A request that could not be answered with success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route for this path.
    #[error("no route for {path}")]
    NotFound {
        /// The request path.
        path: String,
    },
    /// A known path, another method.
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The route's methods, sent as the `Allow` header.
        allow: &'static str,
    },
    /// The protected route was reached without an IAM identity.
    #[error("the request carries no IAM identity")]
    MissingIdentity,
    /// Listing the buckets failed; the status follows the S3 error's kind.
    #[error(transparent)]
    S3(#[from] S3Error),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MissingIdentity => StatusCode::FORBIDDEN,
            ApiError::S3(e) => match e.kind {
                S3ErrorKind::Throttled => StatusCode::SERVICE_UNAVAILABLE,
                S3ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                S3ErrorKind::Service | S3ErrorKind::Network => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// The machine-readable code in the body (for S3 failures, S3's own code).
    pub fn code(&self) -> &str {
        match self {
            ApiError::NotFound { .. } => "NotFound",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::MissingIdentity => "MissingIamIdentity",
            ApiError::S3(e) => &e.code,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::NotFound { path } => format!("No route for {path}"),
            ApiError::MethodNotAllowed { method, allow } => {
                format!("Method {method} is not allowed here; use {allow}")
            }
            ApiError::MissingIdentity => {
                "This route requires a SigV4-signed request (API Gateway AWS_IAM authorization)"
                    .to_string()
            }
            ApiError::S3(_) => "Could not list the S3 buckets".to_string(),
        }
    }

    /// The HTTP response, tagged with the Lambda request id.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let mut error = json!({ "code": self.code(), "requestId": request_id });
        if let ApiError::S3(S3Error {
            s3_request_id: Some(id),
            ..
        }) = &self
        {
            error["s3RequestId"] = json!(id);
        }
        let mut response = json_response(
            self.status(),
            &json!({ "message": self.message(), "error": error }),
        );
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).expect("JSON body")
    }

    fn s3_error(code: &str, kind: S3ErrorKind) -> ApiError {
        ApiError::S3(S3Error {
            operation: "ListBuckets",
            code: code.into(),
            message: "internal detail".into(),
            s3_request_id: Some("S3REQ".into()),
            kind,
        })
    }

    #[test]
    fn s3_failures_are_5xx_with_s3_code_and_lambda_request_id() {
        for (error, status) in [
            (s3_error("AccessDenied", S3ErrorKind::Service), 502),
            (s3_error("SlowDown", S3ErrorKind::Throttled), 503),
            (s3_error("Timeout", S3ErrorKind::Timeout), 504),
            (s3_error("NetworkError", S3ErrorKind::Network), 502),
        ] {
            let code = error.code().to_string();
            let response = error.into_response("req-1");
            assert_eq!(response.status().as_u16(), status);
            let body = body(&response);
            assert_eq!(body["error"]["code"], code.as_str());
            assert_eq!(body["error"]["requestId"], "req-1");
            assert_eq!(body["error"]["s3RequestId"], "S3REQ");
            assert!(
                !body.to_string().contains("internal detail"),
                "internal causes stay in the logs"
            );
        }
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let response = ApiError::MethodNotAllowed {
            method: "POST".into(),
            allow: "GET",
        }
        .into_response("r");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
