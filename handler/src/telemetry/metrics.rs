//! The function's metric instruments. They come from the global meter provider, which is a no-op
//! when telemetry is disabled, so recording is always safe.

use super::SCOPE;
use opentelemetry::metrics::Histogram;
use opentelemetry_semantic_conventions::metric::{
    HTTP_SERVER_REQUEST_DURATION, RPC_CLIENT_CALL_DURATION,
};

/// Explicit bucket boundaries (seconds) for request and call durations: the semantic
/// conventions' advice, which resolves the 5 ms–10 s range Lambda functions live in.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Instruments recorded by the invocation layer and the AWS SDK interceptor.
#[derive(Clone)]
pub struct Metrics {
    /// `http.server.request.duration` (s), by method, route and status.
    pub request_duration: Histogram<f64>,
    /// `rpc.client.call.duration` (s) of AWS SDK calls, by service, method and outcome.
    pub aws_call_duration: Histogram<f64>,
    /// `app.s3.buckets.returned`: bucket names returned by a listing.
    pub buckets_returned: Histogram<u64>,
}

impl Metrics {
    /// Creates the instruments on the global meter provider.
    pub fn new() -> Metrics {
        let meter = opentelemetry::global::meter(SCOPE);
        Metrics {
            request_duration: meter
                .f64_histogram(HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP requests served by the function")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            aws_call_duration: meter
                .f64_histogram(RPC_CLIENT_CALL_DURATION)
                .with_unit("s")
                .with_description("Duration of AWS SDK calls made by the function")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            buckets_returned: meter
                .u64_histogram("app.s3.buckets.returned")
                .with_unit("{bucket}")
                .with_description("Number of bucket names returned by one listing")
                .with_boundaries(vec![
                    0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 10000.0,
                ])
                .build(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
