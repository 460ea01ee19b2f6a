//! Who called: the IAM identity API Gateway verified (SigV4) before invoking the function.
//!
//! API Gateway puts it in the request context: HTTP API (payload v2) and function URLs in
//! `requestContext.authorizer.iam`, REST API (payload v1) in `requestContext.identity`. Only
//! identifiers are kept; never the access key, its secret or the session token.

use lambda_http::request::RequestContext;
use serde::Serialize;

/// The verified caller of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    /// The AWS account the caller's credentials belong to.
    pub account_id: Option<String>,
    /// ARN of the IAM principal (for Cognito, the assumed authenticated role's session).
    pub user_arn: Option<String>,
    /// The principal's unique id (`AROA…:session` for assumed roles).
    pub caller_id: Option<String>,
    /// Present when the credentials came from a Cognito Identity Pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cognito_identity: Option<CognitoIdentity>,
}

/// The Cognito Identity Pool identity behind the credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CognitoIdentity {
    /// The caller's identity in the pool (`<region>:<uuid>`), from the request context.
    pub identity_id: Option<String>,
    /// The Identity Pool that issued the credentials (`<region>:<uuid>`).
    pub identity_pool_id: Option<String>,
    /// Authentication methods references, e.g. `["authenticated", "cognito-idp…", …]`.
    pub amr: Vec<String>,
}

impl Caller {
    /// The caller's identity from a request context, or `None` when the request carries no IAM
    /// identity (a route without `AWS_IAM` auth, an ALB target, a direct invoke).
    pub fn from_context(context: Option<&RequestContext>) -> Option<Caller> {
        match context? {
            RequestContext::ApiGatewayV2(ctx) => {
                let iam = ctx.authorizer.as_ref()?.iam.as_ref()?;
                let cognito_identity = iam.cognito_identity.as_ref().and_then(|c| {
                    (c.identity_id.is_some() || c.identity_pool_id.is_some()).then(|| {
                        CognitoIdentity {
                            identity_id: c.identity_id.clone(),
                            identity_pool_id: c.identity_pool_id.clone(),
                            amr: c.amr.clone(),
                        }
                    })
                });
                Caller {
                    account_id: iam.account_id.clone(),
                    user_arn: iam.user_arn.clone(),
                    caller_id: iam.caller_id.clone(),
                    cognito_identity,
                }
                .verified()
            }
            RequestContext::ApiGatewayV1(ctx) => {
                let identity = &ctx.identity;
                let cognito_identity = (identity.cognito_identity_id.is_some()
                    || identity.cognito_identity_pool_id.is_some())
                .then(|| CognitoIdentity {
                    identity_id: identity.cognito_identity_id.clone(),
                    identity_pool_id: identity.cognito_identity_pool_id.clone(),
                    amr: identity
                        .cognito_authentication_type
                        .iter()
                        .cloned()
                        .collect(),
                });
                Caller {
                    account_id: identity.account_id.clone(),
                    user_arn: identity.user_arn.clone(),
                    caller_id: identity.caller.clone(),
                    cognito_identity,
                }
                .verified()
            }
            _ => None,
        }
    }

    /// A SigV4-verified principal always has an ARN; anything less is not an identity.
    fn verified(self) -> Option<Caller> {
        self.user_arn
            .as_deref()
            .is_some_and(|arn| !arn.is_empty())
            .then_some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::request_from_fixture;
    use lambda_http::RequestExt;

    fn caller(fixture: &str) -> Option<Caller> {
        let request = request_from_fixture(fixture);
        Caller::from_context(request.request_context_ref())
    }

    #[test]
    fn v2_with_cognito_identity() {
        let caller = caller("apigw_v2_private_cognito.json").expect("an identity");
        assert_eq!(caller.account_id.as_deref(), Some("123456789012"));
        assert_eq!(
            caller.user_arn.as_deref(),
            Some(
                "arn:aws:sts::123456789012:assumed-role/aws-rust-http-api-dev-authenticated/CognitoIdentityCredentials"
            )
        );
        let cognito = caller.cognito_identity.expect("cognito identity");
        assert_eq!(
            cognito.identity_id.as_deref(),
            Some("us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce")
        );
        assert_eq!(
            cognito.identity_pool_id.as_deref(),
            Some("us-east-1:4f291106-8703-466b-8f2b-3ecee1ca56ce")
        );
        assert!(cognito.amr.iter().any(|m| m == "authenticated"));
    }

    #[test]
    fn v2_with_plain_iam_user_has_no_cognito_part() {
        let caller = caller("apigw_v2_private_iam_user.json").expect("an identity");
        assert_eq!(
            caller.user_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/deployer")
        );
        assert_eq!(caller.caller_id.as_deref(), Some("AIDA2ZJZYVRE7Y3TUXHH6"));
        assert_eq!(caller.cognito_identity, None);
    }

    #[test]
    fn v1_rest_identity() {
        let caller = caller("apigw_v1_private_cognito.json").expect("an identity");
        assert_eq!(caller.account_id.as_deref(), Some("123456789012"));
        let cognito = caller.cognito_identity.expect("cognito identity");
        assert_eq!(cognito.amr, vec!["authenticated".to_string()]);
    }

    #[test]
    fn no_authorizer_is_no_identity() {
        assert_eq!(caller("apigw_v2_root.json"), None);
        assert_eq!(caller("apigw_v2_private_no_identity.json"), None);
        assert_eq!(caller("alb_private.json"), None);
    }

    #[test]
    fn secrets_are_never_serialized() {
        let caller = caller("apigw_v2_private_cognito.json").expect("an identity");
        let json = serde_json::to_string(&caller).expect("serializes");
        assert!(!json.contains("ASIA"), "access key id leaked: {json}");
        assert!(!json.to_lowercase().contains("secret"));
        assert!(!json.to_lowercase().contains("token"));
    }
}
