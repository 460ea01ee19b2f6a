//! Reading the deployed stack's outputs (CloudFormation DescribeStacks) into [`Settings`].

use crate::aws::describe;
use crate::settings::{Settings, outputs};
use aws_config::SdkConfig;

/// Why the stack's outputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// DescribeStacks failed (stack missing, no credentials, network…).
    #[error("reading the outputs of stack {stack} in {region}: {message}{hint}")]
    Describe {
        /// The stack name given to `--stack`.
        stack: String,
        /// The region it was looked for in.
        region: String,
        /// The service's error code and message (or the transport failure).
        message: String,
        /// What to try next for the common causes (a missing stack, no credentials), with its
        /// leading space; empty otherwise.
        hint: &'static str,
    },
    /// No region to look in.
    #[error(
        "no region to read stack {0} from: pass --region or set AWS_REGION (or a region in your AWS profile)"
    )]
    NoRegion(String),
}

/// The settings found in the outputs of `stack`.
pub async fn settings_from_stack(config: &SdkConfig, stack: &str) -> Result<Settings, StackError> {
    let region = config
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| StackError::NoRegion(stack.to_owned()))?;
    let client = aws_sdk_cloudformation::Client::new(config);
    tracing::debug!(stack, region, "describing stack");
    let output = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|err| {
            let message = describe(&err);
            let hint = if message.contains("does not exist") {
                " (deploy it first, or pass --region / set AWS_REGION to the region it is in)"
            } else if message.contains("credentials") {
                " (--stack reads the stack with your own AWS credentials; without them, pass the settings as flags)"
            } else {
                ""
            };
            StackError::Describe {
                stack: stack.to_owned(),
                region: region.clone(),
                message,
                hint,
            }
        })?;
    let mut settings = Settings::default();
    let found = output
        .stacks()
        .first()
        .map(|s| s.outputs())
        .unwrap_or_default();
    for out in found {
        let (Some(key), Some(value)) = (out.output_key(), out.output_value()) else {
            continue;
        };
        let slot = match key {
            outputs::API_URL => &mut settings.api_url,
            outputs::USER_POOL_ID => &mut settings.user_pool_id,
            outputs::CLIENT_ID => &mut settings.client_id,
            outputs::IDENTITY_POOL_ID => &mut settings.identity_pool_id,
            outputs::REGION => &mut settings.region,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    tracing::debug!(stack, ?settings, "stack outputs");
    Ok(settings)
}
