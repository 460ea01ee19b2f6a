//! AWS SDK configuration: anonymous clients for the public Cognito operations (end users need no
//! AWS account) and the caller's own credentials for admin and CloudFormation calls.
//! Both honour `AWS_ENDPOINT_URL` (e.g. a local emulator) and the usual AWS environment/profile.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};

/// Configuration without credentials: requests are sent unsigned, as Cognito's public
/// operations (SignUp, InitiateAuth, GetId, GetCredentialsForIdentity…) expect.
pub async fn anonymous(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .no_credentials()
        .load()
        .await
}

/// Configuration with the caller's AWS credentials (environment, profile, SSO…); `region`
/// overrides the configured region.
pub async fn caller(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}

/// `Code: message` of a service error, or the cause chain of a transport error
/// (`dispatch failure: io error: … Connection refused`).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err.as_service_error().map(|e| (e.code(), e.message())) {
        Some((Some(code), Some(message))) => format!("{code}: {message}"),
        Some((Some(code), None)) => code.to_owned(),
        _ => cause_chain(err),
    }
}

/// `error: cause: cause…`, each level once.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn cause_chain_lists_each_level_once() {
        let err = Outer(std::io::Error::other("Connection refused"));
        assert_eq!(cause_chain(&err), "outer: Connection refused");
    }
}
