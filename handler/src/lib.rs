//! The Lambda function behind `aws-rust-http-api`: `GET /` lists the account's S3 buckets,
//! `GET /private` (API Gateway `AWS_IAM` auth) reports the verified caller. Traced and measured
//! with OpenTelemetry, handed off to the sidecar at the end of every invocation.

pub mod buckets;
pub mod config;
pub mod errors;
pub mod identity;
pub mod routes;
pub mod runtime;
pub mod s3;
pub mod telemetry;
#[cfg(test)]
mod test_support;

pub use buckets::{BucketLister, S3BucketLister, S3Error};
pub use config::Settings;
pub use routes::App;
