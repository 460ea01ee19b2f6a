//! The S3 client, built once at init from the standard AWS configuration chain (region,
//! credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` for a local S3 server), with the
//! SDK telemetry interceptor.

use crate::buckets::S3BucketLister;
use crate::telemetry::aws_sdk::AwsSdkTelemetry;
use crate::telemetry::metrics::Metrics;

/// Loads the AWS configuration (no network I/O: credentials are resolved at the first call).
pub async fn bucket_lister(page_size: Option<i32>, metrics: Metrics) -> S3BucketLister {
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .interceptor(AwsSdkTelemetry::new(metrics))
        .build();
    S3BucketLister::new(aws_sdk_s3::Client::from_conf(config), page_size)
}
