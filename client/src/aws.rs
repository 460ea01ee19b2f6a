//! AWS SDK configuration: anonymous clients for the public Cognito operations (end users need no
//! AWS account) and the caller's own credentials for admin and CloudFormation calls.
//! Both honour `AWS_ENDPOINT_URL` (e.g. a local emulator) and the usual AWS environment/profile.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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

/// `Code: message` of a service error, or the whole cause chain of a transport error.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(service) => match (service.code(), service.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(err).to_string(),
        },
        None => DisplayErrorContext(err).to_string(),
    }
}
