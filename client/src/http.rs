//! Sending a signed request to the API and showing the answer (pretty JSON on a terminal, raw
//! bytes otherwise, optional status line and headers), with an explanation for 403.

use std::io::Write;
use std::time::Duration;
use url::Url;

/// A transport failure (no HTTP answer).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request could not be built or sent, or the answer not read.
    #[error("request to {url} failed: {message}")]
    Send {
        /// The URL the request was for.
        url: String,
        /// What failed, with its cause chain.
        message: String,
    },
}

/// An HTTP answer.
#[derive(Debug)]
pub struct ApiResponse {
    /// The HTTP status, shown as is (a 4xx/5xx is an answer, not an error here).
    pub status: reqwest::StatusCode,
    /// HTTP version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The response body as received (not decoded).
    pub body: Vec<u8>,
}

/// Sends `method url` with `headers` and `body`; redirects are not followed (the signature would
/// be sent to another host).
pub async fn send(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<ApiResponse, HttpError> {
    let fail = |message: String| HttpError::Send {
        url: url.to_string(),
        message,
    };
    let chain = |e: reqwest::Error| crate::aws::cause_chain(&e);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!(
            "aws-rust-http-api-client/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| fail(chain(e)))?;
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| fail(format!("invalid HTTP method {method:?}")))?;
    let mut request = client.request(method, url.clone());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let response = request.send().await.map_err(|e| fail(chain(e)))?;
    let status = response.status();
    let version = format!("{:?}", response.version());
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().await.map_err(|e| fail(chain(e)))?.to_vec();
    Ok(ApiResponse {
        status,
        version,
        headers,
        body,
    })
}

/// Writes the answer: status line and headers with `include_headers`, then the body, pretty-printed
/// when `pretty` and it is JSON.
pub fn render(
    response: &ApiResponse,
    include_headers: bool,
    pretty: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if include_headers {
        writeln!(out, "{} {}", response.version, response.status)?;
        for (name, value) in &response.headers {
            writeln!(out, "{name}: {value}")?;
        }
        writeln!(out)?;
    }
    let json = pretty
        .then(|| serde_json::from_slice::<serde_json::Value>(&response.body).ok())
        .flatten();
    match json {
        Some(value) => {
            let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
            writeln!(out, "{text}")?;
        }
        None => out.write_all(&response.body)?,
    }
    out.flush()
}

/// Why API Gateway may have refused a signed request, for a 403 answer.
pub fn forbidden_hint(body: &[u8], region: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let specific = if text.contains("Signature expired") || text.contains("is now earlier than") {
        "The signature's time is too far from AWS's clock: fix the local clock (compare `date -u` with real UTC; more than 5 minutes off is refused).\n"
    } else if text.contains("Credential should be scoped to a valid region")
        || text.contains("scoped to correct service")
    {
        "The credential scope's region or service is wrong: the API is not in the region the request was signed for.\n"
    } else if text.contains("signature we calculated does not match") {
        "The signature did not match: a proxy may have changed the request, or the URL/headers differ from what was signed.\n"
    } else if text.contains("security token included in the request is invalid")
        || text.contains("expired")
    {
        "The temporary credentials were refused: run `whoami` (renews them) or `login` again.\n"
    } else if text.contains("not authorized to perform") || text.contains("explicit deny") {
        "The Identity Pool's authenticated role does not allow execute-api:Invoke on this route.\n"
    } else {
        ""
    };
    format!(
        "{specific}403 Forbidden from the API. Likely causes:\n\
         - the Identity Pool's authenticated role lacks execute-api:Invoke on this API and route;\n\
         - the request was signed for region {region} but the API is in another region (--region);\n\
         - the local clock is off by more than 5 minutes (clock skew);\n\
         - the credentials come from another identity pool or account than the API's."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> ApiResponse {
        ApiResponse {
            status: reqwest::StatusCode::OK,
            version: "HTTP/1.1".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pretty_json_only_when_asked_and_valid() {
        let mut out = Vec::new();
        render(&response(r#"{"a":1}"#), false, true, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\n  \"a\": 1\n}\n");
        let mut out = Vec::new();
        render(&response(r#"{"a":1}"#), false, false, &mut out).unwrap();
        assert_eq!(out, br#"{"a":1}"#);
        let mut out = Vec::new();
        render(&response("not json"), true, true, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\ncontent-type: application/json\n\nnot json"
        );
    }

    #[test]
    fn forbidden_hints_name_the_likely_cause() {
        let skew = forbidden_hint(
            br#"{"message":"Signature expired: 20260101T000000Z is now earlier than ..."}"#,
            "eu-west-1",
        );
        assert!(skew.starts_with("The signature's time"), "{skew}");
        let generic = forbidden_hint(b"{}", "eu-west-1");
        assert!(
            generic.contains("execute-api:Invoke")
                && generic.contains("eu-west-1")
                && generic.contains("clock")
        );
    }
}
