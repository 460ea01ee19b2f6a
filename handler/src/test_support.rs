//! Unit-test helpers: API Gateway / ALB events from `tests/data/` as `lambda_http` requests.

use lambda_http::{Context, Request, RequestExt};

/// The fixture `tests/data/<name>` as a request, with a Lambda context whose request id is
/// `test-request-id`.
pub fn request_from_fixture(name: &str) -> Request {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let json = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()));
    let request = lambda_http::request::from_str(&json)
        .unwrap_or_else(|e| panic!("parsing fixture {name}: {e}"));
    let mut context = Context::default();
    context.request_id = "test-request-id".to_string();
    request.with_lambda_context(context)
}
