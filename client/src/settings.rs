//! Where the API and the Cognito pools are: flags or environment first, then the deployed stack's
//! outputs, then what the last `login` stored; checked, with errors that name the setting.

use serde::{Deserialize, Serialize};

/// Stack output names (written by serverless.yml) for each setting.
pub mod outputs {
    /// The HTTP API's base URL (the Serverless Framework's own output).
    pub const API_URL: &str = "HttpApiUrl";
    /// Cognito User Pool id.
    pub const USER_POOL_ID: &str = "UserPoolId";
    /// Cognito User Pool app client id.
    pub const CLIENT_ID: &str = "UserPoolClientId";
    /// Cognito Identity Pool id.
    pub const IDENTITY_POOL_ID: &str = "IdentityPoolId";
    /// The stack's region.
    pub const REGION: &str = "Region";
}

/// The settings a command may need; each may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Base URL of the HTTP API.
    pub api_url: Option<String>,
    /// Region of the API and the pools.
    pub region: Option<String>,
    /// Cognito User Pool id (`<region>_<id>`).
    pub user_pool_id: Option<String>,
    /// User Pool app client id.
    pub client_id: Option<String>,
    /// Identity Pool id (`<region>:<uuid>`).
    pub identity_pool_id: Option<String>,
}

/// A missing or malformed setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A setting the command needs is unknown.
    #[error(
        "{name} is not set: pass {flag}, set {env}, or use --stack (output {output}) after deploying"
    )]
    Missing {
        /// The setting as the message names it (e.g. `region`).
        name: &'static str,
        /// The flag that sets it (e.g. `--api-url`).
        flag: &'static str,
        /// The environment variable that sets it.
        env: &'static str,
        /// The stack output `--stack` reads it from.
        output: &'static str,
    },
    /// A setting has the wrong shape.
    #[error("{name} {value:?} is invalid: {reason}")]
    Invalid {
        /// The setting, for people.
        name: &'static str,
        /// The value given.
        value: String,
        /// The shape it should have.
        reason: &'static str,
    },
}

macro_rules! missing {
    ($name:literal, $flag:literal, $env:literal, $output:expr) => {
        SettingsError::Missing {
            name: $name,
            flag: $flag,
            env: $env,
            output: $output,
        }
    };
}

impl Settings {
    /// `self`, with every unknown setting taken from `fallback`.
    pub fn or(self, fallback: &Settings) -> Settings {
        Settings {
            api_url: self.api_url.or_else(|| fallback.api_url.clone()),
            region: self.region.or_else(|| fallback.region.clone()),
            user_pool_id: self.user_pool_id.or_else(|| fallback.user_pool_id.clone()),
            client_id: self.client_id.or_else(|| fallback.client_id.clone()),
            identity_pool_id: self
                .identity_pool_id
                .or_else(|| fallback.identity_pool_id.clone()),
        }
    }

    /// The region: explicit, else the one the User Pool or Identity Pool id starts with.
    pub fn region(&self) -> Result<String, SettingsError> {
        if let Some(region) = &self.region {
            return check_region(region);
        }
        let from_pool = self
            .user_pool_id
            .as_deref()
            .and_then(|id| id.split_once('_'))
            .or_else(|| {
                self.identity_pool_id
                    .as_deref()
                    .and_then(|id| id.split_once(':'))
            })
            .map(|(region, _)| region.to_owned());
        match from_pool {
            Some(region) => check_region(&region),
            None => Err(missing!(
                "region",
                "--region",
                "AWS_RUST_HTTP_API_REGION",
                outputs::REGION
            )),
        }
    }

    /// The User Pool app client id.
    pub fn client_id(&self) -> Result<&str, SettingsError> {
        let id = self.client_id.as_deref().ok_or(missing!(
            "user pool client id",
            "--client-id",
            "AWS_RUST_HTTP_API_CLIENT_ID",
            outputs::CLIENT_ID
        ))?;
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'_')
        {
            return Err(invalid(
                "user pool client id",
                id,
                "expected letters and digits",
            ));
        }
        Ok(id)
    }

    /// The User Pool id, checked to be `<region>_<id>`.
    pub fn user_pool_id(&self) -> Result<&str, SettingsError> {
        let id = self.user_pool_id.as_deref().ok_or(missing!(
            "user pool id",
            "--user-pool-id",
            "AWS_RUST_HTTP_API_USER_POOL_ID",
            outputs::USER_POOL_ID
        ))?;
        match id.split_once('_') {
            Some((region, name)) if !region.is_empty() && !name.is_empty() => Ok(id),
            _ => Err(invalid(
                "user pool id",
                id,
                "expected <region>_<id>, e.g. eu-west-1_AbCdEf123",
            )),
        }
    }

    /// The Identity Pool id, checked to be `<region>:<uuid>`.
    pub fn identity_pool_id(&self) -> Result<&str, SettingsError> {
        let id = self.identity_pool_id.as_deref().ok_or(missing!(
            "identity pool id",
            "--identity-pool-id",
            "AWS_RUST_HTTP_API_IDENTITY_POOL_ID",
            outputs::IDENTITY_POOL_ID
        ))?;
        match id.split_once(':') {
            Some((region, uuid)) if !region.is_empty() && !uuid.is_empty() => Ok(id),
            _ => Err(invalid(
                "identity pool id",
                id,
                "expected <region>:<uuid>, e.g. eu-west-1:0f3c…",
            )),
        }
    }

    /// The API base URL (unparsed).
    pub fn api_url(&self) -> Result<&str, SettingsError> {
        self.api_url.as_deref().ok_or(missing!(
            "API URL",
            "--api-url",
            "AWS_RUST_HTTP_API_URL",
            outputs::API_URL
        ))
    }
}

fn invalid(name: &'static str, value: &str, reason: &'static str) -> SettingsError {
    SettingsError::Invalid {
        name,
        value: value.to_owned(),
        reason,
    }
}

fn check_region(region: &str) -> Result<String, SettingsError> {
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(region.to_owned())
    } else {
        Err(invalid(
            "region",
            region,
            "expected a region name such as eu-west-1",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_values_win_over_fallbacks() {
        let explicit = Settings {
            client_id: Some("abc".into()),
            ..Settings::default()
        };
        let stored = Settings {
            client_id: Some("old".into()),
            api_url: Some("https://x".into()),
            ..Settings::default()
        };
        let merged = explicit.or(&stored);
        assert_eq!(merged.client_id.as_deref(), Some("abc"));
        assert_eq!(merged.api_url.as_deref(), Some("https://x"));
    }

    #[test]
    fn region_comes_from_the_pool_ids_when_not_given() {
        let s = Settings {
            user_pool_id: Some("ap-south-1_Abc".into()),
            ..Settings::default()
        };
        assert_eq!(s.region().unwrap(), "ap-south-1");
        let s = Settings {
            identity_pool_id: Some("eu-west-3:1234".into()),
            ..Settings::default()
        };
        assert_eq!(s.region().unwrap(), "eu-west-3");
        let err = Settings::default().region().unwrap_err().to_string();
        assert!(
            err.contains("--region") && err.contains("AWS_RUST_HTTP_API_REGION"),
            "{err}"
        );
    }

    #[test]
    fn malformed_values_name_the_setting() {
        let s = Settings {
            user_pool_id: Some("nounderscore".into()),
            identity_pool_id: Some("no-colon".into()),
            region: Some("EU WEST".into()),
            client_id: Some("a/b".into()),
            ..Settings::default()
        };
        assert!(
            s.user_pool_id()
                .unwrap_err()
                .to_string()
                .contains("user pool id")
        );
        assert!(
            s.identity_pool_id()
                .unwrap_err()
                .to_string()
                .contains("identity pool id")
        );
        assert!(s.region().unwrap_err().to_string().contains("region"));
        assert!(s.client_id().unwrap_err().to_string().contains("client id"));
        let err = Settings::default().api_url().unwrap_err().to_string();
        assert!(
            err.contains("HttpApiUrl") && err.contains("--api-url"),
            "{err}"
        );
    }
}
