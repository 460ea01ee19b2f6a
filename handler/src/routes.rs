//! The API: which path does what. `GET /` lists the buckets; `GET /private` (protected by
//! API Gateway `AWS_IAM` auth) says who called and lists the buckets too.

use crate::buckets::BucketLister;
use crate::errors::{ApiError, json_response};
use crate::identity::Caller;
use crate::telemetry::metrics::Metrics;
use http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use std::sync::Arc;

/// Greeting of the public route (the seed's, for Rust).
pub const ROOT_MESSAGE: &str = "Go Serverless v4.0! Your Rust function executed successfully!";
/// Greeting of the protected route.
pub const PRIVATE_MESSAGE: &str =
    "Hello, authenticated caller! API Gateway verified your SigV4 signature.";

/// The routes this function serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the bucket list, no identity needed.
    Root,
    /// `GET /private`: the bucket list and the verified IAM caller (IAM auth at API Gateway).
    Private,
}

impl Route {
    /// The route for a request path, if any.
    pub fn for_path(path: &str) -> Option<Route> {
        match path {
            "/" | "" => Some(Route::Root),
            "/private" | "/private/" => Some(Route::Private),
            _ => None,
        }
    }

    /// The route template (`http.route`).
    pub fn template(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Private => "/private",
        }
    }

    /// The methods the route answers (the `Allow` header of a 405).
    pub fn allow(self) -> &'static str {
        "GET"
    }
}

/// The path a request was made to, as the client sent it: without the API Gateway stage prefix
/// that `lambda_http` adds for REST APIs.
pub fn request_path(request: &Request) -> &str {
    let raw = request.raw_http_path();
    if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    }
}

/// The application: routing over a bucket lister.
pub struct App<L> {
    lister: Arc<L>,
    metrics: Metrics,
}

impl<L> Clone for App<L> {
    fn clone(&self) -> Self {
        App {
            lister: self.lister.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<L: BucketLister> App<L> {
    /// The application over `lister`, recording request metrics in `metrics`.
    pub fn new(lister: L, metrics: Metrics) -> Self {
        App {
            lister: Arc::new(lister),
            metrics,
        }
    }

    async fn buckets(&self) -> Result<Vec<String>, ApiError> {
        let buckets = self.lister.list_bucket_names().await?;
        self.metrics
            .buckets_returned
            .record(buckets.len() as u64, &[]);
        Ok(buckets)
    }

    /// Answers one request. Never fails: every error is an HTTP response.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => {
                match &error {
                    ApiError::S3(cause) => tracing::error!(
                        error.code = %cause.code,
                        error.message = %cause.message,
                        s3_request_id = cause.s3_request_id.as_deref().unwrap_or(""),
                        "S3 call failed"
                    ),
                    other => {
                        tracing::info!(status = other.status().as_u16(), reason = %other, "request rejected")
                    }
                }
                error.into_response(&request_id)
            }
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let path = request_path(request);
        let route = Route::for_path(path).ok_or_else(|| ApiError::NotFound {
            path: path.to_string(),
        })?;
        if request.method() != Method::GET {
            return Err(ApiError::MethodNotAllowed {
                method: request.method().to_string(),
                allow: route.allow(),
            });
        }
        match route {
            Route::Root => {
                let buckets = self.buckets().await?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "message": ROOT_MESSAGE, "buckets": buckets }),
                ))
            }
            Route::Private => {
                let caller = Caller::from_context(request.request_context_ref())
                    .ok_or(ApiError::MissingIdentity)?;
                record_caller(&caller);
                let buckets = self.buckets().await?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "message": PRIVATE_MESSAGE, "caller": caller, "buckets": buckets }),
                ))
            }
        }
    }
}

/// Puts the caller on the invocation span (identifiers only).
fn record_caller(caller: &Caller) {
    let span = tracing::Span::current();
    let identity_id = caller
        .cognito_identity
        .as_ref()
        .and_then(|c| c.identity_id.as_deref());
    if let Some(id) = identity_id.or(caller.user_arn.as_deref()) {
        span.record("enduser.id", id);
    }
    if let Some(arn) = caller.user_arn.as_deref() {
        span.record("aws.caller.arn", arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::{S3Error, S3ErrorKind};
    use crate::test_support::request_from_fixture;

    #[derive(Clone)]
    struct Fixed(Result<Vec<String>, S3Error>);

    impl BucketLister for Fixed {
        async fn list_bucket_names(&self) -> Result<Vec<String>, S3Error> {
            self.0.clone()
        }
    }

    fn app() -> App<Fixed> {
        App::new(
            Fixed(Ok(vec!["alpha".into(), "beta".into()])),
            Metrics::new(),
        )
    }

    async fn call(
        app: &App<Fixed>,
        fixture: &str,
    ) -> (StatusCode, serde_json::Value, Response<Body>) {
        let response = app.handle(request_from_fixture(fixture)).await;
        let body = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        (response.status(), body, response)
    }

    #[tokio::test]
    async fn root_lists_buckets() {
        let (status, body, response) = call(&app(), "apigw_v2_root.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(body["buckets"], json!(["alpha", "beta"]));
        assert_eq!(body["message"], ROOT_MESSAGE);
    }

    #[tokio::test]
    async fn private_reports_the_caller_without_secrets() {
        let (status, body, _) = call(&app(), "apigw_v2_private_cognito.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["caller"]["cognitoIdentity"]["identityId"],
            "us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce"
        );
        assert_eq!(body["buckets"], json!(["alpha", "beta"]));
        let text = body.to_string();
        assert!(!text.contains("ASIAEXAMPLEKEYID1234"));
        assert!(!text.contains("EXAMPLESESSIONTOKEN"));
    }

    #[tokio::test]
    async fn private_over_rest_v1_strips_the_stage() {
        let (status, body, _) = call(&app(), "apigw_v1_private_cognito.json").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["caller"]["accountId"], "123456789012");
    }

    #[tokio::test]
    async fn private_without_identity_is_403_never_200() {
        for fixture in ["apigw_v2_private_no_identity.json", "alb_private.json"] {
            let (status, body, _) = call(&app(), fixture).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{fixture}");
            assert_eq!(body["error"]["code"], "MissingIamIdentity");
            assert!(body.get("buckets").is_none());
        }
    }

    #[tokio::test]
    async fn unknown_path_is_404_and_wrong_method_is_405() {
        let (status, body, _) = call(&app(), "apigw_v2_unknown_path.json").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "NotFound");
        let (status, _, response) = call(&app(), "apigw_v2_post_root.json").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET");
    }

    #[tokio::test]
    async fn s3_failure_is_a_json_5xx() {
        let app = App::new(
            Fixed(Err(S3Error {
                operation: "ListBuckets",
                code: "AccessDenied".into(),
                message: "Access Denied".into(),
                s3_request_id: None,
                kind: S3ErrorKind::Service,
            })),
            Metrics::new(),
        );
        let (status, body, _) = call(&app, "apigw_v2_root.json").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(body["error"]["code"], "AccessDenied");
    }
}
