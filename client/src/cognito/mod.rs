//! Cognito User Pool operations: sign-up, confirmation, login (SRP by default, password on
//! request) and token refresh, with the usual failures turned into actionable errors.

use crate::aws::describe;
use crate::secret::Secret;
use crate::session::{Tokens, unix_seconds};
use crate::srp::{Challenge, SrpClient};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType, ChallengeNameType,
};
use error::{auth_error, service};
use std::time::SystemTime;
use time::OffsetDateTime;

mod error;
pub use error::CognitoError;

/// How `login` proves the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `USER_SRP_AUTH`: the password never leaves the machine.
    Srp,
    /// `USER_PASSWORD_AUTH`: the password is sent (over TLS) to Cognito.
    Password,
}

/// What SignUp reported.
#[derive(Debug)]
pub struct SignUpOutcome {
    /// Whether the user is already confirmed (auto-confirming pools).
    pub confirmed: bool,
    /// Where the code went, e.g. `EMAIL a***@e***`.
    pub code_sent_to: Option<String>,
}

/// SignUp with the email as username and `email` attribute.
pub async fn sign_up(
    client: &Client,
    client_id: &str,
    email: &str,
    password: &Secret,
) -> Result<SignUpOutcome, CognitoError> {
    let email_attribute = AttributeType::builder()
        .name("email")
        .value(email)
        .build()
        .map_err(|e| service("SignUp")(e.to_string()))?;
    let output = client
        .sign_up()
        .client_id(client_id)
        .username(email)
        .password(password.expose())
        .user_attributes(email_attribute)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_username_exists_exception() => {
                CognitoError::AlreadySignedUp(email.to_owned())
            }
            Some(e) if e.is_invalid_password_exception() => {
                CognitoError::PasswordPolicy(describe(&err))
            }
            _ => service("SignUp")(describe(&err)),
        })?;
    let code_sent_to = output.code_delivery_details().map(|d| {
        let medium = d.delivery_medium().map_or("", |m| m.as_str());
        format!("{medium} {}", d.destination().unwrap_or_default())
            .trim()
            .to_owned()
    });
    Ok(SignUpOutcome {
        confirmed: output.user_confirmed(),
        code_sent_to,
    })
}

/// ConfirmSignUp with the emailed code.
pub async fn confirm_sign_up(
    client: &Client,
    client_id: &str,
    email: &str,
    code: &str,
) -> Result<(), CognitoError> {
    client
        .confirm_sign_up()
        .client_id(client_id)
        .username(email)
        .confirmation_code(code)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_code_mismatch_exception() || e.is_expired_code_exception() => {
                CognitoError::BadCode(describe(&err))
            }
            _ => service("ConfirmSignUp")(describe(&err)),
        })?;
    Ok(())
}

/// AdminConfirmSignUp (needs the caller's AWS credentials with `cognito-idp:AdminConfirmSignUp`).
pub async fn admin_confirm_sign_up(
    client: &Client,
    user_pool_id: &str,
    email: &str,
) -> Result<(), CognitoError> {
    client
        .admin_confirm_sign_up()
        .user_pool_id(user_pool_id)
        .username(email)
        .send()
        .await
        .map_err(|err| service("AdminConfirmSignUp")(describe(&err)))?;
    Ok(())
}

/// Logs in and returns the User Pool tokens.
pub async fn login(
    client: &Client,
    user_pool_id: &str,
    client_id: &str,
    email: &str,
    password: &Secret,
    method: AuthMethod,
) -> Result<Tokens, CognitoError> {
    let result = match method {
        AuthMethod::Password => {
            initiate(
                client,
                client_id,
                email,
                AuthFlowType::UserPasswordAuth,
                &[("USERNAME", email), ("PASSWORD", password.expose())],
            )
            .await?
        }
        AuthMethod::Srp => login_srp(client, user_pool_id, client_id, email, password).await?,
    };
    tokens(result, None, SystemTime::now())
}

async fn login_srp(
    client: &Client,
    user_pool_id: &str,
    client_id: &str,
    email: &str,
    password: &Secret,
) -> Result<AuthenticationResultType, CognitoError> {
    let srp = SrpClient::new();
    let srp_a = srp.public_value_hex();
    tracing::debug!(
        operation = "InitiateAuth",
        auth_flow = "USER_SRP_AUTH",
        "authenticating"
    );
    let output = client
        .initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::UserSrpAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("SRP_A", srp_a)
        .send()
        .await
        .map_err(|err| auth_error(email, "InitiateAuth", &err))?;
    if let Some(result) = output.authentication_result() {
        return Ok(result.clone());
    }
    match output.challenge_name() {
        Some(ChallengeNameType::PasswordVerifier) => {}
        Some(other) => {
            return Err(CognitoError::UnsupportedChallenge(
                other.as_str().to_owned(),
            ));
        }
        None => {
            return Err(service("InitiateAuth")(
                "no tokens and no challenge in the answer".into(),
            ));
        }
    }
    let params = output.challenge_parameters().cloned().unwrap_or_default();
    let get = |name: &'static str| {
        params.get(name).map(String::as_str).ok_or_else(|| {
            service("InitiateAuth")(format!("the PASSWORD_VERIFIER challenge lacks {name}"))
        })
    };
    let challenge = Challenge {
        user_id_for_srp: get("USER_ID_FOR_SRP")?,
        salt_hex: get("SALT")?,
        srp_b_hex: get("SRP_B")?,
        secret_block: get("SECRET_BLOCK")?,
    };
    let username = params.get("USERNAME").map_or(email, String::as_str);
    let claim = srp.password_claim(
        user_pool_id,
        password.expose(),
        &challenge,
        OffsetDateTime::now_utc(),
    )?;
    tracing::debug!(
        operation = "RespondToAuthChallenge",
        challenge = "PASSWORD_VERIFIER",
        "answering"
    );
    let mut request = client
        .respond_to_auth_challenge()
        .client_id(client_id)
        .challenge_name(ChallengeNameType::PasswordVerifier)
        .challenge_responses("USERNAME", username)
        .challenge_responses("TIMESTAMP", claim.timestamp)
        .challenge_responses("PASSWORD_CLAIM_SECRET_BLOCK", challenge.secret_block)
        .challenge_responses("PASSWORD_CLAIM_SIGNATURE", claim.signature);
    if let Some(session) = output.session() {
        request = request.session(session);
    }
    let answer = request
        .send()
        .await
        .map_err(|err| auth_error(email, "RespondToAuthChallenge", &err))?;
    match (answer.authentication_result(), answer.challenge_name()) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(next)) => Err(CognitoError::UnsupportedChallenge(next.as_str().to_owned())),
        (None, None) => Err(service("RespondToAuthChallenge")(
            "no tokens in the answer".into(),
        )),
    }
}

/// New ID and access tokens from the refresh token (REFRESH_TOKEN_AUTH).
pub async fn refresh(
    client: &Client,
    client_id: &str,
    refresh_token: &Secret,
) -> Result<Tokens, CognitoError> {
    tracing::debug!(
        operation = "InitiateAuth",
        auth_flow = "REFRESH_TOKEN_AUTH",
        "refreshing tokens"
    );
    let output = client
        .initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters("REFRESH_TOKEN", refresh_token.expose())
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_not_authorized_exception() => {
                CognitoError::RefreshExpired(describe(&err))
            }
            _ => service("InitiateAuth")(describe(&err)),
        })?;
    let result = output
        .authentication_result()
        .cloned()
        .ok_or_else(|| service("InitiateAuth")("no tokens in the refresh answer".into()))?;
    tokens(result, Some(refresh_token), SystemTime::now())
}

async fn initiate(
    client: &Client,
    client_id: &str,
    email: &str,
    flow: AuthFlowType,
    params: &[(&str, &str)],
) -> Result<AuthenticationResultType, CognitoError> {
    tracing::debug!(
        operation = "InitiateAuth",
        auth_flow = flow.as_str(),
        "authenticating"
    );
    let mut request = client.initiate_auth().client_id(client_id).auth_flow(flow);
    for (name, value) in params {
        request = request.auth_parameters(*name, *value);
    }
    let output = request
        .send()
        .await
        .map_err(|err| auth_error(email, "InitiateAuth", &err))?;
    match (output.authentication_result(), output.challenge_name()) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(challenge)) => Err(CognitoError::UnsupportedChallenge(
            challenge.as_str().to_owned(),
        )),
        (None, None) => Err(service("InitiateAuth")("no tokens in the answer".into())),
    }
}

fn tokens(
    result: AuthenticationResultType,
    previous_refresh: Option<&Secret>,
    now: SystemTime,
) -> Result<Tokens, CognitoError> {
    let missing = |what: &str| service("InitiateAuth")(format!("the answer has no {what}"));
    let refresh_token = match (result.refresh_token(), previous_refresh) {
        (Some(token), _) => Secret::new(token),
        (None, Some(previous)) => previous.clone(),
        (None, None) => return Err(missing("refresh token")),
    };
    let lifetime = u64::try_from(result.expires_in()).unwrap_or(0);
    Ok(Tokens {
        id_token: Secret::new(result.id_token().ok_or_else(|| missing("ID token"))?),
        access_token: Secret::new(
            result
                .access_token()
                .ok_or_else(|| missing("access token"))?,
        ),
        refresh_token,
        expires_at: unix_seconds(now) + lifetime,
    })
}
