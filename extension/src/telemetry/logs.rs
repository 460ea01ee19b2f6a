//! `function` and `extension` records to OTLP log records, linked to the invocation and its trace.
//!
//! - JSON lines (objects, or text that is a JSON object) give the body (`message`/`msg`), the severity
//!   (`level`/`severity`), the request id (`requestId`/`request_id`/`faas.invocation_id`) and the trace
//!   and span ids (`trace_id`/`traceId`, `span_id`/`spanId`), looked up at the top level and in the
//!   `fields`, `span` and `spans` members `tracing-subscriber`'s JSON format nests them in. Other scalar
//!   top-level members become attributes.
//! - Text lines keep the whole line as the body; a level word among the first tokens
//!   (`2024-… INFO …`, Lambda's `timestamp requestId LEVEL message`) gives the severity.
//! - Ids the line does not carry come from the invocation it was written in (the sidecar tracks the
//!   current invocation from `platform.start` / `platform.runtimeDone`).

use super::events::{LogLine, UnixNanos};
use super::otlp;
use super::xray::hex;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use serde_json::{Map, Value};
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;

/// Most attributes copied from a JSON line.
const MAX_ATTRIBUTES: usize = 32;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The function's stdout/stderr.
    Function,
    /// An extension's.
    Extension,
}

/// What the sidecar knows about the invocation a line was written in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineContext {
    /// Its request id.
    pub request_id: Option<String>,
    /// The trace the invocation's spans are in.
    pub trace_id: Option<[u8; 16]>,
    /// The span that best represents the invocation.
    pub span_id: Option<[u8; 8]>,
}

/// Converts one record.
pub fn log_record(
    time: UnixNanos,
    line: &LogLine,
    source: Source,
    context: &LineContext,
) -> LogRecord {
    let mut record = LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        ..Default::default()
    };
    let mut request_id = None;
    let mut trace_id = None;
    let mut span_id = None;
    match line {
        LogLine::Json(object) => {
            from_json(
                object,
                &mut record,
                &mut request_id,
                &mut trace_id,
                &mut span_id,
            );
        }
        LogLine::Text(text) => {
            let text = text.trim_end_matches(['\n', '\r']);
            match text
                .starts_with('{')
                .then(|| serde_json::from_str::<Map<String, Value>>(text).ok())
                .flatten()
            {
                Some(object) => from_json(
                    &object,
                    &mut record,
                    &mut request_id,
                    &mut trace_id,
                    &mut span_id,
                ),
                None => {
                    record.body = Some(string_value(text));
                    if let Some(level) = text.split_whitespace().take(4).find_map(level_word) {
                        set_severity(&mut record, level);
                    }
                }
            }
        }
    }
    let request_id = request_id.or_else(|| context.request_id.clone());
    if let Some(id) = request_id {
        record
            .attributes
            .push(otlp::string(INVOCATION_ID_ATTRIBUTE, id));
    }
    record.attributes.push(otlp::string(
        "aws.lambda.log.source",
        match source {
            Source::Function => "function",
            Source::Extension => "extension",
        },
    ));
    // Ids from the line win; otherwise the invocation's, as a pair (a span id alone would mislead).
    match trace_id {
        Some(trace) => {
            record.trace_id = trace.to_vec();
            record.span_id = span_id.map(|s: [u8; 8]| s.to_vec()).unwrap_or_default();
        }
        None => {
            if let Some(trace) = context.trace_id {
                record.trace_id = trace.to_vec();
                record.span_id = context.span_id.map(|s| s.to_vec()).unwrap_or_default();
            }
        }
    }
    record
}

fn from_json(
    object: &Map<String, Value>,
    record: &mut LogRecord,
    request_id: &mut Option<String>,
    trace_id: &mut Option<[u8; 16]>,
    span_id: &mut Option<[u8; 8]>,
) {
    // Nested places tracing-subscriber's JSON format uses, outermost last so the innermost span wins.
    let mut scopes: Vec<&Map<String, Value>> = vec![object];
    if let Some(Value::Object(fields)) = object.get("fields") {
        scopes.push(fields);
    }
    if let Some(Value::Object(span)) = object.get("span") {
        scopes.push(span);
    }
    if let Some(Value::Array(spans)) = object.get("spans") {
        scopes.extend(spans.iter().rev().filter_map(Value::as_object));
    }
    let find = |keys: &[&str]| {
        scopes
            .iter()
            .find_map(|scope| keys.iter().find_map(|k| scope.get(*k)?.as_str()))
    };
    let message = find(&["message", "msg"]);
    record.body = Some(match message {
        Some(message) => string_value(message),
        None => string_value(&Value::Object(object.clone()).to_string()),
    });
    if let Some(level) = find(&["level", "severity", "log.level"]).and_then(level_word) {
        set_severity(record, level);
    }
    *request_id = find(&[
        "requestId",
        "request_id",
        INVOCATION_ID_ATTRIBUTE,
        "AWSRequestId",
    ])
    .map(str::to_owned);
    *trace_id = find(&["trace_id", "traceId", "otelTraceID"])
        .and_then(hex::<16>)
        .filter(|id| *id != [0; 16]);
    *span_id = find(&["span_id", "spanId", "otelSpanID"])
        .and_then(hex::<8>)
        .filter(|id| *id != [0; 8]);
    const CONSUMED: [&str; 16] = [
        "message",
        "msg",
        "level",
        "severity",
        "log.level",
        "requestId",
        "request_id",
        INVOCATION_ID_ATTRIBUTE,
        "AWSRequestId",
        "trace_id",
        "traceId",
        "span_id",
        "spanId",
        "fields",
        "span",
        "spans",
    ];
    for (key, value) in object {
        if record.attributes.len() >= MAX_ATTRIBUTES || CONSUMED.contains(&key.as_str()) {
            continue;
        }
        if matches!(key.as_str(), "timestamp" | "time") {
            continue;
        }
        let attribute = match value {
            Value::String(s) => otlp::string(key, s.clone()),
            Value::Bool(b) => otlp::boolean(key, *b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => otlp::int(key, i),
                None => otlp::double(key, n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => continue,
        };
        record.attributes.push(attribute);
    }
}

fn string_value(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.to_owned())),
    }
}

/// A severity from a level word (any case), `None` if it is not one.
fn level_word(word: &str) -> Option<(SeverityNumber, &str)> {
    let number = match word.to_ascii_uppercase().as_str() {
        "TRACE" => SeverityNumber::Trace,
        "DEBUG" => SeverityNumber::Debug,
        "INFO" | "INFORMATION" => SeverityNumber::Info,
        "WARN" | "WARNING" => SeverityNumber::Warn,
        "ERROR" | "ERR" => SeverityNumber::Error,
        "FATAL" | "CRITICAL" | "PANIC" => SeverityNumber::Fatal,
        _ => return None,
    };
    Some((number, word))
}

fn set_severity(record: &mut LogRecord, (number, text): (SeverityNumber, &str)) {
    record.severity_number = number as i32;
    record.severity_text = text.to_owned();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::events::EventBody;
    use crate::telemetry::parse::parse_batch;

    fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a str> {
        testkit::otlp_view::string_attribute(&record.attributes, key)
    }

    fn line(json: &str) -> (UnixNanos, LogLine) {
        let event = parse_batch(json.as_bytes()).unwrap().events.remove(0);
        match event.body {
            EventBody::FunctionLog(line) | EventBody::ExtensionLog(line) => (event.time, line),
            other => panic!("{other:?}"),
        }
    }

    fn body(record: &LogRecord) -> &str {
        match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn invocation() -> LineContext {
        LineContext {
            request_id: Some("current-request".into()),
            trace_id: Some([0xaa; 16]),
            span_id: Some([0xbb; 8]),
        }
    }

    #[test]
    fn json_objects_give_body_severity_and_the_ids_nested_in_spans() {
        let (time, json) = line(include_str!(
            "../../tests/fixtures/telemetry/function.json.json"
        ));
        let record = log_record(time, &json, Source::Function, &invocation());
        assert_eq!(body(&record), "S3 ListBuckets failed");
        assert_eq!(record.severity_number, SeverityNumber::Error as i32);
        assert_eq!(record.severity_text, "ERROR");
        assert_eq!(
            attribute(&record, "faas.invocation_id"),
            Some("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"),
            "the line's own request id wins"
        );
        assert_eq!(
            record.trace_id,
            hex::<16>("67a3b1c25f8e9d0c1b2a39485766abcd")
                .unwrap()
                .to_vec()
        );
        assert!(
            record.span_id.is_empty(),
            "no span id in the line: none invented"
        );
        assert_eq!(attribute(&record, "error.code"), Some("AccessDenied"));
        assert_eq!(
            attribute(&record, "aws.lambda.log.source"),
            Some("function")
        );
        assert_eq!(record.time_unix_nano, time);
    }

    #[test]
    fn json_written_as_text_is_parsed_too() {
        let (time, text) = line(include_str!(
            "../../tests/fixtures/telemetry/function.json-in-text.json"
        ));
        let record = log_record(time, &text, Source::Function, &invocation());
        assert_eq!(body(&record), "listed buckets");
        assert_eq!(record.severity_number, SeverityNumber::Info as i32);
        assert_eq!(
            record.span_id,
            hex::<8>("00f067aa0ba902b7").unwrap().to_vec()
        );
        assert_eq!(
            attribute(&record, "faas.invocation_id"),
            Some("current-request")
        );
        assert!(record.attributes.iter().any(|kv| kv.key == "count"));
    }

    #[test]
    fn text_lines_take_the_invocation_context_and_a_level_word() {
        let (time, text) = line(include_str!(
            "../../tests/fixtures/telemetry/function.text.json"
        ));
        let record = log_record(time, &text, Source::Function, &invocation());
        assert_eq!(
            body(&record),
            "2026-11-25T10:00:00.055Z  WARN S3 slow bucket_count=2",
            "trailing newline trimmed"
        );
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(record.trace_id, vec![0xaa; 16]);
        assert_eq!(record.span_id, vec![0xbb; 8]);
        assert_eq!(
            attribute(&record, "faas.invocation_id"),
            Some("current-request")
        );

        let (time, text) = line(include_str!(
            "../../tests/fixtures/telemetry/extension.json"
        ));
        let record = log_record(time, &text, Source::Extension, &LineContext::default());
        assert_eq!(record.severity_number, SeverityNumber::Info as i32);
        assert!(record.trace_id.is_empty() && record.span_id.is_empty());
        assert_eq!(
            attribute(&record, "aws.lambda.log.source"),
            Some("extension")
        );
        assert_eq!(attribute(&record, "faas.invocation_id"), None);
    }

    #[test]
    fn a_plain_line_without_level_has_no_severity() {
        let text = LogLine::Text("hello from println".into());
        let record = log_record(1, &text, Source::Function, &LineContext::default());
        assert_eq!(record.severity_number, 0);
        assert_eq!(body(&record), "hello from println");
    }
}
