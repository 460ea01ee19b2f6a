//! Cognito Identity Pool: the ID token exchanged for an identity id and temporary AWS credentials
//! (GetId, GetCredentialsForIdentity), the "enhanced" flow the seed's Amplify snippet uses.

use crate::aws::describe;
use crate::secret::Secret;
use crate::session::StoredCredentials;
use aws_sdk_cognitoidentity::Client;
use std::collections::HashMap;

/// A failed Identity Pool call.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The Identity Pool refused the ID token.
    #[error(
        "the identity pool refused the login ({message}): check that its authentication providers list this user pool and app client"
    )]
    Refused {
        /// The service's error code and message.
        message: String,
    },
    /// The Identity Pool does not exist.
    #[error(
        "identity pool not found ({0}): check --identity-pool-id / the stack output IdentityPoolId and the region"
    )]
    NotFound(String),
    /// Any other failure.
    #[error("Cognito Identity {operation} failed: {message}")]
    Service {
        /// The Identity Pool API operation, e.g. `GetId`.
        operation: &'static str,
        /// The service's error code and message (or the transport failure).
        message: String,
    },
}

/// The `Logins` map for a User Pool ID token.
pub fn logins(user_pool_id: &str, id_token: &Secret) -> HashMap<String, String> {
    let region = user_pool_id
        .split_once('_')
        .map_or("", |(region, _)| region);
    HashMap::from([(
        format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
        id_token.expose().to_owned(),
    )])
}

fn map_error<E, R>(
    operation: &'static str,
    err: &aws_sdk_cognitoidentity::error::SdkError<E, R>,
) -> IdentityError
where
    E: aws_sdk_cognitoidentity::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = describe(err);
    match err.as_service_error().and_then(|e| e.code()) {
        Some("NotAuthorizedException") => IdentityError::Refused { message },
        Some("ResourceNotFoundException") => IdentityError::NotFound(message),
        _ => IdentityError::Service { operation, message },
    }
}

/// GetId: the identity id of this user in `identity_pool_id`.
pub async fn identity_id(
    client: &Client,
    identity_pool_id: &str,
    logins: HashMap<String, String>,
) -> Result<String, IdentityError> {
    tracing::debug!(
        operation = "GetId",
        identity_pool_id,
        "getting the identity id"
    );
    let output = client
        .get_id()
        .identity_pool_id(identity_pool_id)
        .set_logins(Some(logins))
        .send()
        .await
        .map_err(|err| map_error("GetId", &err))?;
    output
        .identity_id()
        .map(str::to_owned)
        .ok_or(IdentityError::Service {
            operation: "GetId",
            message: "the answer has no IdentityId".into(),
        })
}

/// GetCredentialsForIdentity: temporary credentials of the pool's authenticated role.
pub async fn credentials(
    client: &Client,
    identity_id: &str,
    logins: HashMap<String, String>,
) -> Result<StoredCredentials, IdentityError> {
    tracing::debug!(
        operation = "GetCredentialsForIdentity",
        identity_id,
        "getting credentials"
    );
    let output = client
        .get_credentials_for_identity()
        .identity_id(identity_id)
        .set_logins(Some(logins))
        .send()
        .await
        .map_err(|err| map_error("GetCredentialsForIdentity", &err))?;
    let missing = |what: &str| IdentityError::Service {
        operation: "GetCredentialsForIdentity",
        message: format!("the answer has no {what}"),
    };
    let creds = output.credentials().ok_or_else(|| missing("Credentials"))?;
    Ok(StoredCredentials {
        access_key_id: creds
            .access_key_id()
            .ok_or_else(|| missing("AccessKeyId"))?
            .to_owned(),
        secret_access_key: Secret::new(creds.secret_key().ok_or_else(|| missing("SecretKey"))?),
        session_token: Secret::new(
            creds
                .session_token()
                .ok_or_else(|| missing("SessionToken"))?,
        ),
        expiration: creds
            .expiration()
            .and_then(|t| u64::try_from(t.secs()).ok())
            .ok_or_else(|| missing("Expiration"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_key_names_the_user_pool_provider() {
        let map = logins("eu-west-1_AbC", &Secret::new("tok"));
        assert_eq!(
            map.get("cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC")
                .map(String::as_str),
            Some("tok")
        );
    }
}
