//! The User Pool failures users meet (wrong password, unconfirmed user, expired session, disabled
//! flow…) as actionable errors.

use crate::aws::describe;
use crate::srp::SrpError;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};

/// A failed User Pool operation.
#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    /// Wrong email or password (Cognito does not say which, by design).
    #[error("login failed: wrong email or password ({0})")]
    WrongPassword(String),
    /// The user signed up but has not confirmed.
    #[error(
        "{email} has not confirmed the sign-up: run `confirm --email {email} --code CODE` with the emailed code (or `confirm --admin` on a development stage)"
    )]
    NotConfirmed {
        /// The username the login used (the email).
        email: String,
    },
    /// The email is already registered.
    #[error("{0} is already signed up: log in, or confirm the sign-up if not done yet")]
    AlreadySignedUp(String),
    /// The password does not satisfy the pool's policy.
    #[error("the password was refused: {0}")]
    PasswordPolicy(String),
    /// Wrong or expired confirmation code.
    #[error("the confirmation code was refused: {0}")]
    BadCode(String),
    /// The refresh token is expired or revoked.
    #[error("the session has expired (refresh token refused: {0}): run `login` again")]
    RefreshExpired(String),
    /// Cognito asked for a step this CLI does not do (MFA, new password…).
    #[error(
        "Cognito requires the {0} challenge, which this CLI does not support: complete it once with the AWS CLI or the Hosted UI, then log in again"
    )]
    UnsupportedChallenge(String),
    /// The app client does not allow the chosen authentication flow.
    #[error(
        "the app client does not allow this login flow ({0}): SRP needs ALLOW_USER_SRP_AUTH, --password-auth needs ALLOW_USER_PASSWORD_AUTH in the client's ExplicitAuthFlows"
    )]
    FlowDisabled(String),
    /// An SRP computation failed.
    #[error(transparent)]
    Srp(#[from] SrpError),
    /// Any other failure of `operation`.
    #[error("Cognito {operation} failed: {message}")]
    Service {
        /// The User Pool API operation, e.g. `InitiateAuth`.
        operation: &'static str,
        /// The service's error code and message (or the transport failure).
        message: String,
    },
}

pub(super) fn service(operation: &'static str) -> impl FnOnce(String) -> CognitoError {
    move |message| CognitoError::Service { operation, message }
}

/// Maps the login failures every auth call can return.
pub(super) fn auth_error<E, R>(
    email: &str,
    operation: &'static str,
    err: &SdkError<E, R>,
) -> CognitoError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err.as_service_error().and_then(|e| e.code()) {
        Some("NotAuthorizedException" | "UserNotFoundException") => {
            CognitoError::WrongPassword(describe(err))
        }
        Some("UserNotConfirmedException") => CognitoError::NotConfirmed {
            email: email.to_owned(),
        },
        Some("PasswordResetRequiredException") => {
            CognitoError::UnsupportedChallenge("password reset".into())
        }
        Some("InvalidParameterException") if describe(err).contains("not enabled") => {
            CognitoError::FlowDisabled(describe(err))
        }
        _ => service(operation)(describe(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cognitoidentityprovider::error::ErrorMetadata;
    use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: &str, message: &str) -> SdkError<InitiateAuthError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let status = StatusCode::try_from(400).unwrap();
        SdkError::service_error(
            InitiateAuthError::generic(meta),
            HttpResponse::new(status, SdkBody::empty()),
        )
    }

    #[test]
    fn cognito_failures_become_actionable_errors() {
        let map = |code, message| {
            auth_error(
                "a@example.com",
                "InitiateAuth",
                &service_error(code, message),
            )
        };
        assert!(matches!(
            map("NotAuthorizedException", "Incorrect username or password."),
            CognitoError::WrongPassword(_)
        ));
        let unconfirmed = map("UserNotConfirmedException", "User is not confirmed.").to_string();
        assert!(
            unconfirmed.contains("confirm --email a@example.com"),
            "{unconfirmed}"
        );
        let disabled = map(
            "InvalidParameterException",
            "USER_PASSWORD_AUTH flow not enabled for this client",
        )
        .to_string();
        assert!(disabled.contains("ALLOW_USER_PASSWORD_AUTH"), "{disabled}");
        let other = map("InternalErrorException", "boom").to_string();
        assert_eq!(
            other,
            "Cognito InitiateAuth failed: InternalErrorException: boom"
        );
    }
}
