//! API Gateway HTTP API, payload format 2.0: turns an HTTP request into the event API Gateway sends
//! the function, and the function's response payload back into an HTTP response, the way API Gateway
//! does (documented shapes; see <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// The routes `serverless.yml` declares: their events carry `routeKey: "GET /"`, any other request
/// gets `$default` (this local gateway forwards everything so the function's own 404/405 show).
pub const DECLARED_ROUTES: &[(&str, &str)] = &[("GET", "/"), ("GET", "/private")];

/// What the event is built from.
pub struct IncomingRequest<'a> {
    /// `requestContext.http.method`, and with the path the route it matches.
    pub method: &'a Method,
    /// Path as sent (still percent-encoded), without the query string.
    pub raw_path: &'a str,
    /// The query string without its `?` (`rawQueryString`; parsed into `queryStringParameters`).
    pub raw_query: &'a str,
    /// The request's headers (`headers`, names lower-cased, repeats joined with commas; `cookies`).
    pub headers: &'a HeaderMap,
    /// The request body: `body` as text if it is UTF-8, else base64 with `isBase64Encoded`.
    pub body: &'a [u8],
    /// The client's address (`requestContext.http.sourceIp`).
    pub source_ip: IpAddr,
    /// `host:port` the gateway listens on (`requestContext.domainName`).
    pub domain_name: &'a str,
    /// API Gateway's request id (`requestContext.requestId`, `apigw-requestid` header).
    pub request_id: &'a str,
    /// `requestContext.accountId`.
    pub account_id: &'a str,
    /// When the request arrived (`requestContext.time` and `timeEpoch`).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The payload format 2.0 event for `request`.
pub fn event(request: &IncomingRequest<'_>) -> Value {
    let method = request.method.as_str();
    let route_key = DECLARED_ROUTES
        .iter()
        .find(|(m, p)| *m == method && *p == request.raw_path)
        .map(|(m, p)| format!("{m} {p}"))
        .unwrap_or_else(|| "$default".to_owned());
    let (headers, cookies) = headers(request.headers);
    let user_agent = request
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": request.account_id,
            "apiId": "local",
            "domainName": request.domain_name,
            "domainPrefix": request.domain_name.split(['.', ':']).next().unwrap_or("local"),
            "http": {
                "method": method,
                "path": request.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip.to_string(),
                "userAgent": user_agent,
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": request.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": request.now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    let query = query_parameters(request.raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(request.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(BASE64.encode(request.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Header names lower-cased, repeated headers joined with `,`; `cookie` headers become `cookies`.
fn headers(headers: &HeaderMap) -> (Map<String, Value>, Vec<String>) {
    let mut out: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from),
            );
            continue;
        }
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                out.insert(name.as_str().to_owned(), json!(value));
            }
        }
    }
    (out, cookies)
}

/// Decoded query parameters; repeated keys joined with `,` as API Gateway does.
fn query_parameters(raw: &str) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match out.get_mut(key.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(key.into_owned(), json!(value));
            }
        }
    }
    out
}

/// An HTTP response for the client.
#[derive(Debug)]
pub struct OutgoingResponse {
    /// The function's `statusCode`, 200 for a bare value, or the gateway's own error status.
    pub status: StatusCode,
    /// The function's `headers`, `multiValueHeaders` and `cookies` (as `set-cookie`);
    /// `content-type: application/json` for a bare value or a gateway error.
    pub headers: HeaderMap,
    /// The body for the client (the function's `body`, decoded if `isBase64Encoded`).
    pub body: Bytes,
}

/// Why a function's response could not be turned into an HTTP response (API Gateway answers 500).
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// `statusCode` is not a number from 100 to 999.
    #[error("statusCode {0} is not an HTTP status")]
    Status(String),
    /// A header name or value HTTP does not allow.
    #[error("header {0:?} is not a valid HTTP header")]
    Header(String),
    /// `isBase64Encoded` is true but `body` is not base64.
    #[error("body is marked isBase64Encoded but is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

/// The HTTP response API Gateway makes of the function's `payload`: a `{statusCode, headers, body, …}`
/// object as is; any other JSON value as a `200 application/json` body.
pub fn response(payload: &Value) -> Result<OutgoingResponse, ResponseError> {
    let Some(object) = payload.as_object().filter(|o| o.contains_key("statusCode")) else {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(OutgoingResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(payload.to_string()),
        });
    };
    let status = object
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| ResponseError::Status(object["statusCode"].to_string()))?;
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(single)) = object.get("headers") {
        for (name, value) in single {
            insert(&mut headers, name, &scalar(value))?;
        }
    }
    if let Some(Value::Object(multi)) = object.get("multiValueHeaders") {
        for (name, values) in multi {
            for value in values.as_array().into_iter().flatten() {
                insert(&mut headers, name, &scalar(value))?;
            }
        }
    }
    for cookie in object
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        insert(&mut headers, "set-cookie", &scalar(cookie))?;
    }
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if object.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            Bytes::from(BASE64.decode(text)?)
        }
        Some(Value::String(text)) => Bytes::from(text.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    Ok(OutgoingResponse {
        status,
        headers,
        body,
    })
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), ResponseError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ResponseError::Header(name.to_owned()))?;
    let value =
        HeaderValue::from_str(value).map_err(|_| ResponseError::Header(name.to_string()))?;
    headers.append(name, value);
    Ok(())
}

/// API Gateway's own error responses (`{"message": ...}`), e.g. when the function fails.
pub fn gateway_error(status: StatusCode) -> OutgoingResponse {
    let message = status.canonical_reason().unwrap_or("Error");
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    OutgoingResponse {
        status,
        headers,
        body: Bytes::from(json!({ "message": message }).to_string()),
    }
}

#[cfg(test)]
mod tests;
