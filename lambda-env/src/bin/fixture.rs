//! A Lambda runtime or extension for lambda-env's own tests, speaking the real APIs over plain HTTP/1.1
//! (std only) and printing what it does, with Unix-microsecond stamps, on stdout.
//!
//! `FIXTURE_ROLE=runtime`: loops on `next`; the payload says what to do: `work_ms` before answering,
//! `error` (answer through `/error`), `crash` (exit 3), `sleep_after_response_ms` before the next `next`.
//! `FIXTURE_IGNORE_SIGTERM=1` ignores SIGTERM.
//!
//! `FIXTURE_ROLE=extension`: registers (`FIXTURE_EVENTS`, default `INVOKE,SHUTDOWN`), optionally
//! subscribes to the Telemetry API (`FIXTURE_TELEMETRY_TIMEOUT_MS`) with a listener that prints each
//! batch, then loops on `next`: after INVOKE waits `FIXTURE_DELAY_NEXT_MS`; on SHUTDOWN waits
//! `FIXTURE_SHUTDOWN_MS` and exits 0 (never, with `FIXTURE_NEVER_EXIT=1`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Response = (u16, Vec<(String, String)>, Vec<u8>);

fn micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn env_ms(name: &str) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let mut stream = TcpStream::connect(&api).expect("connect to the API");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
    out
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .1
        .iter()
        .find(|(k, _)| k == &name.to_ascii_lowercase())
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn runtime() {
    if std::env::var_os("FIXTURE_IGNORE_SIGTERM").is_some() {
        // SAFETY: setting a signal disposition to SIG_IGN at startup, before any thread exists.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
    }
    loop {
        println!("next {}", micros());
        let event = request("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
        let id = header(&event, "Lambda-Runtime-Aws-Request-Id").to_owned();
        println!(
            "invoke {id} trace={} deadline={} arn={}",
            header(&event, "Lambda-Runtime-Trace-Id"),
            header(&event, "Lambda-Runtime-Deadline-Ms"),
            header(&event, "Lambda-Runtime-Invoked-Function-Arn")
        );
        let work: serde_json::Value = serde_json::from_slice(&event.2).unwrap_or_default();
        let ms = |key: &str| Duration::from_millis(work[key].as_u64().unwrap_or(0));
        if work["crash"].as_bool() == Some(true) {
            std::process::exit(3);
        }
        std::thread::sleep(ms("work_ms"));
        if work["error"].as_bool() == Some(true) {
            request(
                "POST",
                &format!("/2018-06-01/runtime/invocation/{id}/error"),
                &[("Lambda-Runtime-Function-Error-Type", "Function.Test")],
                br#"{"errorType":"Test","errorMessage":"asked to fail"}"#,
            );
        } else {
            request(
                "POST",
                &format!("/2018-06-01/runtime/invocation/{id}/response"),
                &[("Content-Type", "application/json")],
                &event.2,
            );
        }
        println!("responded {id} {}", micros());
        std::thread::sleep(ms("sleep_after_response_ms"));
    }
}

/// Prints each Telemetry API batch: arrival stamp and the event types.
fn telemetry_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the telemetry listener");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
            let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
            println!("batch {} {}", micros(), types.join(","));
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

fn extension() {
    let name = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_owned))
        .unwrap_or_else(|| "fixture".into());
    let events = std::env::var("FIXTURE_EVENTS").unwrap_or_else(|_| "INVOKE,SHUTDOWN".into());
    let events: Vec<&str> = events.split(',').filter(|e| !e.is_empty()).collect();
    let registered = request(
        "POST",
        "/2020-01-01/extension/register",
        &[
            ("Lambda-Extension-Name", &name),
            ("Lambda-Extension-Accept-Feature", "accountId"),
        ],
        serde_json::json!({ "events": events })
            .to_string()
            .as_bytes(),
    );
    let id = header(&registered, "Lambda-Extension-Identifier").to_owned();
    println!(
        "registered {} {}",
        registered.0,
        String::from_utf8_lossy(&registered.2)
    );
    if let Ok(timeout) = std::env::var("FIXTURE_TELEMETRY_TIMEOUT_MS") {
        let port = telemetry_listener();
        let subscribed = request(
            "PUT",
            "/2022-07-01/telemetry",
            &[("Lambda-Extension-Identifier", &id), ("Content-Type", "application/json")],
            format!(
                r#"{{"schemaVersion":"2022-12-13","types":["platform","function"],"buffering":{{"timeoutMs":{timeout}}},"destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{port}/"}}}}"#
            )
            .as_bytes(),
        );
        println!("subscribed {}", subscribed.0);
    }
    loop {
        println!("next {}", micros());
        let event = request(
            "GET",
            "/2020-01-01/extension/event/next",
            &[("Lambda-Extension-Identifier", &id)],
            b"",
        );
        let event: serde_json::Value = serde_json::from_slice(&event.2).unwrap_or_default();
        match event["eventType"].as_str() {
            Some("INVOKE") => {
                println!("invoke {}", event["requestId"].as_str().unwrap_or(""));
                std::thread::sleep(env_ms("FIXTURE_DELAY_NEXT_MS"));
            }
            Some("SHUTDOWN") => {
                println!(
                    "shutdown {} {} {}",
                    event["shutdownReason"].as_str().unwrap_or(""),
                    event["deadlineMs"],
                    micros() / 1000
                );
                std::thread::sleep(env_ms("FIXTURE_SHUTDOWN_MS"));
                if std::env::var_os("FIXTURE_NEVER_EXIT").is_some() {
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                    }
                }
                std::process::exit(0);
            }
            _ => {
                println!("unexpected {event}");
                std::process::exit(2);
            }
        }
    }
}

fn main() {
    match std::env::var("FIXTURE_ROLE").as_deref() {
        Ok("runtime") => runtime(),
        Ok("extension") => extension(),
        _ => {
            eprintln!("FIXTURE_ROLE must be runtime or extension");
            std::process::exit(2);
        }
    }
}
