//! Resource enrichment: the Lambda attributes (from the register response and Lambda's environment,
//! [`LambdaFacts::detect`]), `OTEL_RESOURCE_ATTRIBUTES` and `resource.attributes`, merged into the
//! resource of everything exported.
//!
//! Precedence among the sidecar's sources: detected Lambda attributes < `OTEL_SERVICE_NAME` /
//! `OTEL_RESOURCE_ATTRIBUTES` < `resource.attributes` in the config file. The result is merged into each
//! exported resource without overwriting what the function itself set (its SDK knows best), with one
//! exception: an SDK placeholder `service.name` (`unknown_service…`) is replaced.

use super::payload::Payload;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// What Lambda tells the sidecar about the function (environment and register response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaFacts {
    /// The register response's `functionName`, else `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: Option<String>,
    /// The register response's `functionVersion`, else `AWS_LAMBDA_FUNCTION_VERSION`.
    pub function_version: Option<String>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `accountId` from the register response (feature `accountId`).
    pub account_id: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: Option<u64>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`, which identifies the execution environment.
    pub log_stream: Option<String>,
}

impl LambdaFacts {
    /// The facts from the Extensions API's register response (`function_name` and `function_version`
    /// empty when not given), completed from the variables Lambda sets, which `env` reads; the response
    /// wins where both have a value.
    pub fn detect(
        function_name: &str,
        function_version: &str,
        account_id: Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let given = |value: &str| Some(value.to_owned()).filter(|v| !v.is_empty());
        Self {
            function_name: given(function_name).or_else(|| env("AWS_LAMBDA_FUNCTION_NAME")),
            function_version: given(function_version)
                .or_else(|| env("AWS_LAMBDA_FUNCTION_VERSION")),
            region: env("AWS_REGION"),
            account_id,
            memory_mb: env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|m| m.parse().ok()),
            log_stream: env("AWS_LAMBDA_LOG_STREAM_NAME"),
        }
    }
}

/// The attributes the sidecar merges into exported resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enricher {
    attributes: Vec<KeyValue>,
}

impl Enricher {
    /// Builds the attribute set: Lambda facts first, then `overrides` (later entries win).
    pub fn new(facts: &LambdaFacts, overrides: &[(String, String)]) -> Self {
        let mut attributes = Vec::new();
        let mut set = |key: &str, value: Value| {
            attributes.retain(|kv: &KeyValue| kv.key != key);
            attributes.push(KeyValue {
                key: key.to_owned(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            });
        };
        set("cloud.provider", Value::StringValue("aws".into()));
        set("cloud.platform", Value::StringValue("aws_lambda".into()));
        if let Some(name) = &facts.function_name {
            set("faas.name", Value::StringValue(name.clone()));
            set("service.name", Value::StringValue(name.clone()));
        }
        if let Some(version) = &facts.function_version {
            set("faas.version", Value::StringValue(version.clone()));
        }
        if let Some(region) = &facts.region {
            set("cloud.region", Value::StringValue(region.clone()));
        }
        if let Some(account) = &facts.account_id {
            set("cloud.account.id", Value::StringValue(account.clone()));
        }
        if let Some(mb) = facts.memory_mb {
            // Semantic conventions: faas.max_memory is in bytes.
            set(
                "faas.max_memory",
                Value::IntValue(i64::try_from(mb.saturating_mul(1 << 20)).unwrap_or(i64::MAX)),
            );
        }
        if let Some(stream) = &facts.log_stream {
            set("faas.instance", Value::StringValue(stream.clone()));
        }
        for (key, value) in overrides {
            set(key, Value::StringValue(value.clone()));
        }
        Self { attributes }
    }

    /// The merged attribute set (used for the sidecar's own metrics).
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// Merges the attributes into every resource of `payload`.
    pub fn apply(&self, payload: &mut Payload) {
        let resources: Vec<&mut Option<Resource>> = match payload {
            Payload::Traces(list) => list.iter_mut().map(|r| &mut r.resource).collect(),
            Payload::Metrics(list) => list.iter_mut().map(|r| &mut r.resource).collect(),
            Payload::Logs(list) => list.iter_mut().map(|r| &mut r.resource).collect(),
        };
        for resource in resources {
            self.merge(resource.get_or_insert_with(Resource::default));
        }
    }

    fn merge(&self, resource: &mut Resource) {
        for attribute in &self.attributes {
            match resource
                .attributes
                .iter_mut()
                .find(|kv| kv.key == attribute.key)
            {
                None => resource.attributes.push(attribute.clone()),
                Some(existing)
                    if attribute.key == "service.name" && is_placeholder_service(existing) =>
                {
                    existing.value = attribute.value.clone();
                }
                Some(_) => {}
            }
        }
    }
}

fn is_placeholder_service(kv: &KeyValue) -> bool {
    matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s.starts_with("unknown_service"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

    fn string_attr(resource: &Resource, key: &str) -> Option<String> {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                Value::IntValue(i) => Some(i.to_string()),
                _ => None,
            })
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn facts_come_from_the_register_response_then_the_environment() {
        let env = |name: &str| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("env-fn".to_owned()),
            "AWS_LAMBDA_FUNCTION_VERSION" => Some("7".to_owned()),
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("512".to_owned()),
            "AWS_LAMBDA_LOG_STREAM_NAME" => Some("2026/12/06/[$LATEST]abc".to_owned()),
            _ => None,
        };
        assert_eq!(
            LambdaFacts::detect("fn", "$LATEST", Some("123456789012".into()), env),
            LambdaFacts {
                function_name: Some("fn".into()),
                function_version: Some("$LATEST".into()),
                region: Some("eu-west-1".into()),
                account_id: Some("123456789012".into()),
                memory_mb: Some(512),
                log_stream: Some("2026/12/06/[$LATEST]abc".into()),
            }
        );
        let fallback = LambdaFacts::detect("", "", None, env);
        assert_eq!(
            (
                fallback.function_name.as_deref(),
                fallback.function_version.as_deref()
            ),
            (Some("env-fn"), Some("7")),
            "an empty response field is not a name"
        );
        let bad_memory =
            |name: &str| (name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").then(|| "lots".to_owned());
        assert_eq!(
            LambdaFacts::detect("", "", None, bad_memory),
            LambdaFacts::default()
        );
    }

    #[test]
    fn lambda_attributes_then_overrides_are_merged_without_overwriting_the_function() {
        let facts = LambdaFacts {
            function_name: Some("fn".into()),
            function_version: Some("$LATEST".into()),
            region: Some("eu-west-1".into()),
            account_id: Some("123456789012".into()),
            memory_mb: Some(128),
            log_stream: None,
        };
        let enricher = Enricher::new(
            &facts,
            &[
                ("team".into(), "a".into()),
                ("team".into(), "b".into()),
                ("cloud.region".into(), "override".into()),
            ],
        );
        let mut payload = Payload::Traces(vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "api"), kv("team", "mine")],
                    ..Default::default()
                }),
                ..Default::default()
            },
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "unknown_service:python")],
                    ..Default::default()
                }),
                ..Default::default()
            },
            ResourceSpans::default(),
        ]);
        enricher.apply(&mut payload);
        let Payload::Traces(list) = payload else {
            unreachable!()
        };
        let first = list[0].resource.as_ref().unwrap();
        assert_eq!(string_attr(first, "service.name").as_deref(), Some("api"));
        assert_eq!(string_attr(first, "team").as_deref(), Some("mine"));
        assert_eq!(
            string_attr(first, "cloud.account.id").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            string_attr(first, "cloud.region").as_deref(),
            Some("override")
        );
        assert_eq!(
            string_attr(first, "faas.max_memory").as_deref(),
            Some("134217728")
        );
        let second = list[1].resource.as_ref().unwrap();
        assert_eq!(string_attr(second, "service.name").as_deref(), Some("fn"));
        let third = list[2].resource.as_ref().unwrap();
        assert_eq!(string_attr(third, "team").as_deref(), Some("b"));
        assert_eq!(string_attr(third, "faas.name").as_deref(), Some("fn"));
    }

    #[test]
    fn enrichment_is_idempotent() {
        let enricher = Enricher::new(
            &LambdaFacts {
                function_name: Some("fn".into()),
                ..Default::default()
            },
            &[],
        );
        let mut once = Payload::Traces(vec![ResourceSpans::default()]);
        enricher.apply(&mut once);
        let mut twice = once.clone();
        enricher.apply(&mut twice);
        assert_eq!(once, twice);
    }
}
