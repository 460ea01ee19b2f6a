//! Listing the account's S3 buckets: every page of `ListBuckets`, following the continuation
//! token, behind the [`BucketLister`] trait so routes can be tested without S3.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::future::Future;

/// Lists bucket names.
pub trait BucketLister: Send + Sync + 'static {
    /// All bucket names of the account, in the order S3 returns them.
    fn list_bucket_names(&self) -> impl Future<Output = Result<Vec<String>, S3Error>> + Send;
}

/// A failed S3 call, reduced to what a caller and an operator need.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("S3 {operation} failed: {code}: {message}")]
pub struct S3Error {
    /// The operation that failed (`ListBuckets`).
    pub operation: &'static str,
    /// S3's error code (`AccessDenied`, `SlowDown`…) or ours for transport failures
    /// (`NetworkError`, `Timeout`, `InvalidResponse`).
    pub code: String,
    /// S3's message, or the transport error's.
    pub message: String,
    /// S3's request id (`x-amz-request-id`), when S3 answered.
    pub s3_request_id: Option<String>,
    /// What kind of failure this was, which decides the HTTP status we answer with.
    pub kind: S3ErrorKind,
}

/// Classes of S3 failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3ErrorKind {
    /// S3 asked us to slow down (503 SlowDown, throttling codes).
    Throttled,
    /// No answer in time.
    Timeout,
    /// S3 answered with an error (access denied, …).
    Service,
    /// The request never got an answer (DNS, connection refused, TLS…).
    Network,
}

impl S3Error {
    fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> S3Error
    where
        E: ProvideErrorMetadata + RequestId + std::error::Error + 'static,
    {
        let (kind, code, message, s3_request_id) = match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().unwrap_or("Unknown").to_string();
                let throttled = matches!(
                    code.as_str(),
                    "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
                ) || service.raw().status().as_u16() == 503;
                let kind = if throttled {
                    S3ErrorKind::Throttled
                } else {
                    S3ErrorKind::Service
                };
                let message = err.message().unwrap_or_default().to_string();
                let request_id = err.request_id().map(str::to_string);
                (kind, code, message, request_id)
            }
            SdkError::TimeoutError(_) => (
                S3ErrorKind::Timeout,
                "Timeout".into(),
                "no answer from S3 in time".into(),
                None,
            ),
            SdkError::DispatchFailure(failure) => (
                if failure.is_timeout() {
                    S3ErrorKind::Timeout
                } else {
                    S3ErrorKind::Network
                },
                if failure.is_timeout() {
                    "Timeout".into()
                } else {
                    "NetworkError".into()
                },
                error_chain(&error),
                None,
            ),
            _ => (
                S3ErrorKind::Network,
                "InvalidResponse".into(),
                error_chain(&error),
                None,
            ),
        };
        S3Error {
            operation,
            code,
            message,
            s3_request_id,
            kind,
        }
    }
}

/// An error and its sources, joined: the SDK's top-level messages alone ("dispatch failure")
/// don't say what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// [`BucketLister`] over a real S3 client.
#[derive(Clone, Debug)]
pub struct S3BucketLister {
    client: aws_sdk_s3::Client,
    page_size: Option<i32>,
}

impl S3BucketLister {
    /// `page_size` is `ListBuckets`' `MaxBuckets` (None: S3's default, up to 10 000 a page).
    pub fn new(client: aws_sdk_s3::Client, page_size: Option<i32>) -> Self {
        S3BucketLister { client, page_size }
    }
}

impl BucketLister for S3BucketLister {
    async fn list_bucket_names(&self) -> Result<Vec<String>, S3Error> {
        let mut request = self.client.list_buckets();
        if let Some(page_size) = self.page_size {
            request = request.max_buckets(page_size);
        }
        let mut pages = request.into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| S3Error::from_sdk("ListBuckets", e))?;
            names.extend(
                page.buckets()
                    .iter()
                    .filter_map(|bucket| bucket.name().map(str::to_string)),
            );
        }
        Ok(names)
    }
}
