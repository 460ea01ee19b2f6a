use super::*;
use lambda_http::request::LambdaRequest;

fn request_event(
    method: Method,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    event(&IncomingRequest {
        method: &method,
        raw_path: path,
        raw_query: query,
        headers: &map,
        body,
        source_ip: "127.0.0.1".parse().unwrap(),
        domain_name: "127.0.0.1:9000",
        request_id: "req-1",
        account_id: "123456789012",
        now: chrono::DateTime::from_timestamp(1_795_608_000, 0).unwrap(),
    })
}

#[test]
fn the_function_reads_the_event_as_an_http_api_v2_request() {
    let event = request_event(
        Method::GET,
        "/private",
        "name=a%20b&x=1&x=2",
        &[
            ("User-Agent", "curl/8"),
            ("Cookie", "a=1; b=2"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ],
        b"",
    );
    let parsed: LambdaRequest =
        serde_json::from_value(event.clone()).expect("lambda_http parses it");
    let LambdaRequest::ApiGatewayV2(request) = parsed else {
        panic!("not detected as API Gateway v2: {event:#}");
    };
    assert_eq!(request.route_key.as_deref(), Some("GET /private"));
    assert_eq!(request.raw_path.as_deref(), Some("/private"));
    assert_eq!(request.request_context.http.method, Method::GET);
    assert_eq!(request.request_context.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        request.cookies,
        Some(vec!["a=1".to_owned(), "b=2".to_owned()])
    );
    assert_eq!(request.headers["x-multi"], "1,2");
    assert_eq!(request.headers["user-agent"], "curl/8");
    assert!(request.headers.get("cookie").is_none());
    assert_eq!(request.query_string_parameters.first("name"), Some("a b"));
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(
        event["requestContext"]["time"],
        "25/Nov/2026:12:00:00 +0000"
    );
    // No IAM identity: this gateway does not authenticate, the function's own check answers 403.
    assert!(event["requestContext"].get("authorizer").is_none());
}

#[test]
fn undeclared_routes_get_the_default_route_key() {
    let event = request_event(Method::POST, "/", "", &[], b"{\"a\":1}");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["body"], "{\"a\":1}");
    assert_eq!(event["isBase64Encoded"], false);
}

#[test]
fn binary_bodies_are_base64_encoded() {
    let event = request_event(Method::POST, "/upload", "", &[], &[0xff, 0x00, 0x10]);
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "/wAQ");
}

#[test]
fn structured_responses_keep_status_headers_cookies_and_body() {
    let out = response(&json!({
        "statusCode": 405,
        "headers": {"allow": "GET", "content-type": "application/json"},
        "multiValueHeaders": {"x-many": ["1", "2"]},
        "cookies": ["s=1; HttpOnly"],
        "body": "{\"message\":\"no\"}",
        "isBase64Encoded": false
    }))
    .unwrap();
    assert_eq!(out.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(out.headers["allow"], "GET");
    assert_eq!(out.headers.get_all("x-many").iter().count(), 2);
    assert_eq!(out.headers["set-cookie"], "s=1; HttpOnly");
    assert_eq!(&out.body[..], b"{\"message\":\"no\"}");
}

#[test]
fn base64_bodies_are_decoded() {
    let out =
        response(&json!({"statusCode": 200, "body": "/wAQ", "isBase64Encoded": true})).unwrap();
    assert_eq!(&out.body[..], &[0xff, 0x00, 0x10]);
    assert!(matches!(
        response(&json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true})),
        Err(ResponseError::Base64(_))
    ));
}

#[test]
fn plain_json_payloads_become_200_json() {
    let out = response(&json!({"buckets": []})).unwrap();
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.headers["content-type"], "application/json");
    assert_eq!(&out.body[..], b"{\"buckets\":[]}");
}

#[test]
fn bad_status_codes_are_errors_not_panics() {
    assert!(matches!(
        response(&json!({"statusCode": "abc"})),
        Err(ResponseError::Status(_))
    ));
    assert!(matches!(
        response(&json!({"statusCode": 99_999})),
        Err(ResponseError::Status(_))
    ));
    assert!(matches!(
        response(&json!({"statusCode": 200, "headers": {"bad name": "x"}})),
        Err(ResponseError::Header(_))
    ));
}

#[test]
fn gateway_errors_look_like_api_gateway_s() {
    let out = gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(&out.body[..], b"{\"message\":\"Internal Server Error\"}");
}
