//! What `call` sends: the URL built from the API's base URL and the user's PATH (percent-encoded the
//! way SigV4 canonicalises it, so every signer agrees), the method, extra headers and the body.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};
use url::Url;

/// Characters kept as they are: RFC 3986 unreserved (SigV4's rule). Everything else is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A bad `call` argument.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The API base URL is not an absolute http(s) URL.
    #[error("the API URL {url:?} is not an absolute http(s) URL: {reason}")]
    BadApiUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PATH argument cannot be turned into a URL.
    #[error("invalid PATH {path:?}: {reason}")]
    BadPath {
        /// The PATH argument as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `-H` without `Name: value`.
    #[error("invalid header {0:?}: expected \"Name: value\"")]
    BadHeader(String),
    /// `--data @file` could not be read.
    #[error("reading the request body from {path}: {source}")]
    Body {
        /// The file named after `@`.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Parses and checks the API base URL (flag, environment, stack output or session).
pub fn parse_api_url(raw: &str) -> Result<Url, TargetError> {
    let bad = |reason: String| TargetError::BadApiUrl {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none() {
        return Err(bad("no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment".into()));
    }
    Ok(url)
}

/// The URL for `path` (e.g. `/private?name=José Doe`) under `base` (which may end in a stage path).
///
/// The path is percent-encoded except for unreserved characters, `/` and existing `%XX` escapes;
/// each query name and value is decoded then re-encoded with only unreserved characters left
/// as they are (`+` is a literal plus, sent as `%2B`).
pub fn build_url(base: &Url, path: &str) -> Result<Url, TargetError> {
    let bad = |reason: &str| TargetError::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.contains("://") {
        return Err(bad(
            "PATH is relative to the API URL (e.g. /private); to call another API, pass --api-url",
        ));
    }
    if path.contains('#') {
        return Err(bad("fragments (#...) are never sent to the server"));
    }
    if path.chars().any(char::is_control) {
        return Err(bad("control characters are not allowed"));
    }
    let (raw_path, raw_query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut full_path = base.path().trim_end_matches('/').to_owned();
    if !raw_path.starts_with('/') {
        full_path.push('/');
    }
    full_path.push_str(&encode_path(raw_path));
    let mut url = base.clone();
    url.set_path(&full_path);
    url.set_query(raw_query.map(encode_query).as_deref());
    Ok(url)
}

fn encode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let is_escape = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if b == b'/' || is_escape || (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        i += 1;
    }
    out
}

fn encode_query(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            format!("{}={}", reencode(name), reencode(value))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn reencode(component: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(component).collect();
    percent_encoding::percent_encode(&decoded, UNRESERVED).to_string()
}

/// Parses `-H "Name: value"` into a lower-case name and a trimmed value.
pub fn parse_header(raw: &str) -> Result<(String, String), TargetError> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| TargetError::BadHeader(raw.to_owned()))?;
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name || value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(TargetError::BadHeader(raw.to_owned()));
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
}

/// The request body from `--data`: the text itself, `@FILE`, or `@-` for standard input.
pub fn read_body(data: &str) -> Result<Vec<u8>, TargetError> {
    match data.strip_prefix('@') {
        Some("-") => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut body).map_err(|source| {
                TargetError::Body {
                    path: "standard input".into(),
                    source,
                }
            })?;
            Ok(body)
        }
        Some(path) => std::fs::read(path).map_err(|source| TargetError::Body {
            path: path.to_owned(),
            source,
        }),
        None => Ok(data.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, path: &str) -> String {
        build_url(&parse_api_url(base).unwrap(), path)
            .unwrap()
            .to_string()
    }

    #[test]
    fn joins_under_the_base_path() {
        assert_eq!(
            url("https://h.example/", "/private"),
            "https://h.example/private"
        );
        assert_eq!(
            url("https://h.example/dev/", "private"),
            "https://h.example/dev/private"
        );
        assert_eq!(
            url("https://h.example/dev", "/a/b"),
            "https://h.example/dev/a/b"
        );
    }

    #[test]
    fn encodes_spaces_and_non_ascii_in_the_path_once() {
        assert_eq!(
            url("https://h.example", "/files/my doc/Ünïcode"),
            "https://h.example/files/my%20doc/%C3%9Cn%C3%AFcode"
        );
        assert_eq!(
            url("https://h.example", "/a%2Fb"),
            "https://h.example/a%2Fb"
        );
        assert_eq!(
            url("https://h.example", "/100%"),
            "https://h.example/100%25"
        );
    }

    #[test]
    fn query_is_sent_in_canonical_form() {
        assert_eq!(
            url(
                "https://h.example",
                "/p?name=José Doe&tags=a,b&flag&q=1+1&enc=%41"
            ),
            "https://h.example/p?name=Jos%C3%A9%20Doe&tags=a%2Cb&flag=&q=1%2B1&enc=A"
        );
    }

    #[test]
    fn rejects_what_cannot_be_sent() {
        let base = parse_api_url("https://h.example").unwrap();
        assert!(build_url(&base, "/a#frag").is_err());
        assert!(build_url(&base, "/a\nb").is_err());
        assert!(build_url(&base, "https://other.example/private").is_err());
        assert!(parse_api_url("ftp://h.example").is_err());
        assert!(parse_api_url("h.example").is_err());
        assert!(parse_api_url("https://h.example/?q=1").is_err());
    }

    #[test]
    fn headers_are_parsed_strictly() {
        assert_eq!(
            parse_header("Content-Type: text/plain ").unwrap(),
            ("content-type".into(), "text/plain".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header(": x").is_err());
    }
}
