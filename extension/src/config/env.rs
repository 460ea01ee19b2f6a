//! Environment input: `${env:NAME}` substitution in config strings and parsing of the standard
//! comma-separated `key=value` lists (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`).

use super::ConfigError;

/// Looks up one environment variable (injected so tests never touch the process environment).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `${env:NAME}` / `${env:NAME:-fallback}` in `value`; `$${` stands for a literal `${`.
/// `key` names the config key, for the error when a variable is unset and has no fallback.
pub fn substitute(key: &str, value: &str, env: EnvLookup<'_>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${env:") {
            let end = after
                .find('}')
                .ok_or_else(|| ConfigError::invalid(key, "unterminated `${env:` reference"))?;
            let reference = &after[..end];
            let (name, fallback) = match reference.split_once(":-") {
                Some((name, fallback)) => (name, Some(fallback)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::invalid(
                    key,
                    format!("`${{env:{reference}}}` is not a valid variable name"),
                ));
            }
            match (env(name), fallback) {
                (Some(found), _) => out.push_str(&found),
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) => {
                    return Err(ConfigError::MissingVariable {
                        key: key.to_owned(),
                        variable: name.to_owned(),
                    });
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses the W3C-baggage-like `k1=v1,k2=v2` list used by `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES`; values are percent-decoded. Returns the entries or a message naming the
/// first bad entry by position (never its value, which may be a secret).
pub fn parse_key_value_list(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    for (index, item) in raw.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("entry {} has no `=`", index + 1));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {} has an empty key", index + 1));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("entry {} (`{key}`) has a bad %-escape", index + 1))?;
        entries.push((key.to_owned(), value));
    }
    Ok(entries)
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_KEY" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_fallbacks_and_escapes() {
        assert_eq!(
            substitute("k", "key=${env:API_KEY}!", &env).unwrap(),
            "key=s3cr3t!"
        );
        assert_eq!(substitute("k", "${env:NOPE:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(substitute("k", "${env:EMPTY:-dflt}", &env).unwrap(), "");
        assert_eq!(
            substitute("k", "$${env:API_KEY} costs $5", &env).unwrap(),
            "${env:API_KEY} costs $5"
        );
    }

    #[test]
    fn missing_variable_names_key_and_variable() {
        let err = substitute("exporter.headers.x-api-key", "${env:NOPE}", &env).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exporter.headers.x-api-key") && text.contains("NOPE"),
            "{text}"
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(substitute("k", "${env:API_KEY", &env).is_err());
        assert!(substitute("k", "${env:BAD NAME}", &env).is_err());
    }

    #[test]
    fn key_value_lists_are_trimmed_and_percent_decoded() {
        let parsed = parse_key_value_list(" a=1 , b = x%20y ,,c=").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(
            parse_key_value_list("novalue")
                .unwrap_err()
                .contains("entry 1")
        );
        assert!(parse_key_value_list("a=%zz").is_err());
    }
}
