//! SigV4 signatures of the client compared with independent implementations: botocore (the AWS
//! CLI's signer) and awscurl, for the same request, credentials and timestamp.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use client::secret::Secret;
use client::sigv4::{AwsCredentials, EXECUTE_API, RequestToSign, sign_request};
use client::target::{build_url, parse_api_url};
use serde_json::json;
use sha2::Digest as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AMZ_DATE: &str = "20261125T123456Z";
const REGION: &str = "eu-west-1";

fn signing_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_610_096) // 2026-11-25T12:34:56Z
}

struct Case {
    name: &'static str,
    base: &'static str,
    method: &'static str,
    /// PATH as a user types it (decoded).
    path: &'static str,
    body: &'static str,
    content_type: Option<&'static str>,
    token: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "GET with a query string that needs encoding",
        base: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/",
        method: "GET",
        path: "/private?name=José Doe&tags=a,b&empty=&plus=1+1&sym=~-._*'()",
        body: "",
        content_type: None,
        token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJH+token/with=padding=="),
    },
    Case {
        name: "POST with a JSON body",
        base: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/",
        method: "POST",
        path: "/items",
        body: r#"{"name":"Zoë","qty":2,"tags":["a b","c/d"]}"#,
        content_type: Some("application/json"),
        token: Some("FwoGZXIvYXdzEBYaDGV4YW1wbGV0b2tlbg"),
    },
    Case {
        name: "path with spaces and non-ASCII characters",
        base: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev",
        method: "GET",
        path: "/files/my doc/Ünïcode ✓ 名前.txt",
        body: "",
        content_type: None,
        token: Some("session-token"),
    },
    Case {
        name: "no session token, local URL with a port",
        base: "http://127.0.0.1:8080/",
        method: "DELETE",
        path: "/private/item-1",
        body: "",
        content_type: None,
        token: None,
    },
];

fn credentials(token: Option<&str>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "ASIAEXAMPLEKEYID1234".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: token.map(Secret::new),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// Signs `case` with the client, adding `extra` headers to the signed set; returns the URL and
/// all headers (given + signing).
fn sign(case: &Case, extra: &[(String, String)]) -> (String, Vec<(String, String)>) {
    let url = build_url(&parse_api_url(case.base).unwrap(), case.path).unwrap();
    let mut headers: Vec<(String, String)> = case
        .content_type
        .map(|ct| ("content-type".to_owned(), ct.to_owned()))
        .into_iter()
        .collect();
    headers.extend_from_slice(extra);
    let request = RequestToSign {
        method: case.method,
        url: &url,
        headers: &headers,
        body: case.body.as_bytes(),
    };
    let signed = sign_request(
        &request,
        &credentials(case.token),
        REGION,
        EXECUTE_API,
        signing_time(),
    )
    .unwrap();
    assert_eq!(header(&signed, "x-amz-date"), AMZ_DATE, "{}", case.name);
    headers.extend(signed);
    (url.to_string(), headers)
}

fn reference_input(
    case: &Case,
    url: &str,
    headers: &[(String, String)],
    awscurl_url: Option<String>,
) -> serde_json::Value {
    json!({
        "method": case.method,
        "url": url,
        "awscurl_url": awscurl_url,
        "headers": headers.iter().filter(|(n, _)| n != "authorization").map(|(n, v)| [n, v]).collect::<Vec<_>>(),
        "body_b64": base64::engine::general_purpose::STANDARD.encode(case.body),
        "access_key": "ASIAEXAMPLEKEYID1234",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": case.token,
        "region": REGION,
        "service": EXECUTE_API,
        "amz_date": AMZ_DATE,
    })
}

#[test]
fn authorization_header_equals_botocore_and_awscurl() {
    // botocore signs exactly the headers it is given (plus host, x-amz-date and the token).
    // awscurl always signs x-amz-content-sha256 as well, so its twin request carries that header,
    // and it takes the query as a user types it (it encodes it itself) while the path is given
    // as sent (already encoded once).
    let mut inputs = Vec::new();
    let mut ours = Vec::new();
    for case in CASES {
        let (url, headers) = sign(case, &[]);
        ours.push(header(&headers, "authorization").to_owned());
        inputs.push(reference_input(case, &url, &headers, None));

        let hash = hex::encode(sha2::Sha256::digest(case.body.as_bytes()));
        let (url, headers) = sign(case, &[("x-amz-content-sha256".into(), hash)]);
        let raw_query = case.path.split_once('?').map(|(_, q)| q);
        let sent_path = url.split_once('?').map_or(url.as_str(), |(p, _)| p);
        let awscurl_url = match raw_query {
            Some(query) => format!("{sent_path}?{query}"),
            None => sent_path.to_owned(),
        };
        ours.push(header(&headers, "authorization").to_owned());
        inputs.push(reference_input(case, &url, &headers, Some(awscurl_url)));
    }
    let results = common::run_python("sigv4_reference.py", &[], &serde_json::Value::Array(inputs));
    let results = results.as_array().expect("a list");
    assert_eq!(results.len(), CASES.len() * 2);
    for (i, (result, our_authorization)) in results.iter().zip(&ours).enumerate() {
        let case = &CASES[i / 2];
        assert_eq!(
            result["botocore"].as_str(),
            Some(our_authorization.as_str()),
            "botocore disagrees on: {}",
            case.name
        );
        if i % 2 == 1 {
            assert_eq!(
                result["awscurl"].as_str(),
                Some(our_authorization.as_str()),
                "awscurl disagrees on: {}",
                case.name
            );
        }
    }
}

#[test]
fn signed_headers_cover_host_date_token_and_content_type() {
    let (_, headers) = sign(&CASES[1], &[]);
    let authorization = header(&headers, "authorization");
    assert!(
        authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{authorization}"
    );
    assert!(authorization.contains("/20261125/eu-west-1/execute-api/aws4_request"));
    assert_eq!(
        header(&headers, "x-amz-security-token"),
        CASES[1].token.unwrap()
    );
}
