//! SigV4 signing of API calls for `execute-api` (with `aws-sigv4`), the signing time injected so the
//! result can be compared with other implementations.

use crate::secret::Secret;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;
use url::Url;

/// The service name API Gateway checks in the credential scope.
pub const EXECUTE_API: &str = "execute-api";

/// Temporary AWS credentials (from the Identity Pool).
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretKey`: the signing key.
    pub secret_access_key: Secret,
    /// `SessionToken` (always set for Identity Pool credentials).
    pub session_token: Option<Secret>,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The URL has no host to sign.
    #[error("the URL {0} has no host")]
    NoHost(String),
    /// `aws-sigv4` refused the request or parameters.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A request to sign: what will be sent, byte for byte.
#[derive(Debug)]
pub struct RequestToSign<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The URL that will be sent (already percent-encoded).
    pub url: &'a Url,
    /// Headers that will be sent and must be signed (lower-case names). `host` is added.
    pub headers: &'a [(String, String)],
    /// The body that will be sent (its SHA-256 goes into the signature).
    pub body: &'a [u8],
}

/// Signs `request` for `service` in `region` at `time`; returns the headers to add
/// (`authorization`, `x-amz-date`, and `x-amz-security-token` with a session token).
pub fn sign_request(
    request: &RequestToSign<'_>,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let host = host_header(request.url)?;
    let mut headers: Vec<(&str, &str)> = vec![("host", host.as_str())];
    headers.extend(
        request
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    let identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_owned(),
        credentials
            .session_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
        None,
        "cognito-identity-pool",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SignError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// The `Host` header HTTP clients send for `url`: `host` or `host:port` for a non-default port.
pub fn host_header(url: &Url) -> Result<String, SignError> {
    let host = url
        .host_str()
        .ok_or_else(|| SignError::NoHost(url.to_string()))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// The region in an API Gateway hostname (`<id>.execute-api.<region>.amazonaws.com[.cn]`).
pub fn region_from_api_host(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let mut labels = host.split('.');
    let _api_id = labels.next()?;
    if labels.next()? != EXECUTE_API {
        return None;
    }
    let region = labels.next()?;
    (labels.next()? == "amazonaws").then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: token.map(Secret::new),
        }
    }

    #[test]
    fn signs_host_date_and_token() {
        let url = Url::parse("https://abc.execute-api.eu-west-1.amazonaws.com/private").unwrap();
        let request = RequestToSign {
            method: "GET",
            url: &url,
            headers: &[],
            body: b"",
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let headers = sign_request(
            &request,
            &creds(Some("tok")),
            "eu-west-1",
            EXECUTE_API,
            time,
        )
        .unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(get("x-amz-security-token"), Some("tok"));
        let auth = get("authorization").unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
        ), "{auth}");
    }

    #[test]
    fn no_token_header_without_a_session_token() {
        let url = Url::parse("http://127.0.0.1:8080/x").unwrap();
        let request = RequestToSign {
            method: "GET",
            url: &url,
            headers: &[],
            body: b"",
        };
        let headers =
            sign_request(&request, &creds(None), "us-east-1", EXECUTE_API, UNIX_EPOCH).unwrap();
        assert!(headers.iter().all(|(k, _)| k != "x-amz-security-token"));
        assert_eq!(host_header(&url).unwrap(), "127.0.0.1:8080");
    }

    #[test]
    fn region_is_read_from_api_gateway_hosts_only() {
        let region = |u: &str| region_from_api_host(&Url::parse(u).unwrap());
        assert_eq!(
            region("https://a1.execute-api.ap-south-2.amazonaws.com/"),
            Some("ap-south-2".into())
        );
        assert_eq!(
            region("https://a1.execute-api.cn-north-1.amazonaws.com.cn/"),
            Some("cn-north-1".into())
        );
        assert_eq!(region("https://api.example.com/"), None);
        assert_eq!(region("http://127.0.0.1:9/"), None);
    }
}
