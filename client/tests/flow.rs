//! The whole flow with the real CLI binary against moto (User Pool, Identity Pool, CloudFormation)
//! and a local HTTP server standing in for API Gateway: sign-up, confirm, login (SRP and
//! password), whoami, signed calls (verified by recomputing the signature with botocore),
//! credential renewal, expired session, logout.
//!
//! moto answers USER_SRP_AUTH with random SALT/SRP_B and accepts any PASSWORD_CLAIM_SIGNATURE: the
//! SRP message flow is exercised here, the SRP math in tests/srp_reference.rs.

mod common;

use base64::Engine as _;
use common::{Recorded, Recorder, cli, run, run_python};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use testkit::MotoServer;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "Corr3ct-Horse!battery";
/// What moto's GetCredentialsForIdentity always returns.
const MOTO_KEY: &str = "TESTACCESSKEY12345";
const MOTO_SECRET: &str = "ABCSECRETKEY";
const MOTO_TOKEN: &str = "ABC12345";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[track_caller]
fn assert_fails_with(output: &Output, code: i32, needle: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains(needle),
        "expected {needle:?} in: {}",
        text(&output.stderr)
    );
}

fn session_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("session file"))
        .expect("session JSON")
}

/// Recomputes the request's Authorization header with botocore from what the server received.
fn assert_signature_verifies(request: &Recorded, host: &str) {
    let authorization = request.header("authorization").expect("signed request");
    let signed_headers: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("SignedHeaders")
        .split(';')
        .collect();
    for required in ["host", "x-amz-date", "x-amz-security-token"] {
        assert!(
            signed_headers.contains(&required),
            "{required} not signed: {authorization}"
        );
    }
    let headers: Vec<[&str; 2]> = signed_headers
        .iter()
        .map(|name| [*name, request.header(name).expect("signed header was sent")])
        .collect();
    let case = json!([{
        "method": request.method,
        "url": format!("http://{host}{}", request.target),
        "headers": headers,
        "body_b64": base64::engine::general_purpose::STANDARD.encode(&request.body),
        "access_key": MOTO_KEY,
        "secret_key": MOTO_SECRET,
        "token": MOTO_TOKEN,
        "region": "eu-west-1",
        "service": "execute-api",
        "amz_date": request.header("x-amz-date").expect("x-amz-date"),
    }]);
    let botocore = run_python("sigv4_reference.py", &[], &case);
    assert_eq!(
        botocore[0]["botocore"].as_str(),
        Some(authorization),
        "botocore disagrees"
    );
}

#[test]
fn signup_confirm_login_call_refresh_logout() {
    let moto = MotoServer::start().expect("moto_server");
    let endpoint = moto.endpoint();
    let api = Recorder::start();
    let stack = "aws-rust-http-api-flowtest";
    let ids = run_python(
        "moto_setup.py",
        &[&endpoint, "eu-west-1", stack, &api.url],
        &json!(null),
    );
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("cache/aws-rust-http-api/session.json");
    let cli = || cli(&endpoint, &session_file);
    let mut transcript = String::new();
    let mut keep = |output: &Output| {
        transcript.push_str(&text(&output.stdout));
        transcript.push_str(&text(&output.stderr));
    };

    // Sign-up: settings from the stack outputs, password from stdin.
    let out = run(
        cli().args(["signup", "--email", EMAIL, "--stack", stack]),
        &format!("{PASSWORD}\n"),
    );
    keep(&out);
    assert!(assert_ok(&out, "signup").contains("confirm --email"));

    // A stack that is not deployed: the error says so.
    let out = run(
        cli().args([
            "signup",
            "--email",
            EMAIL,
            "--stack",
            "aws-rust-http-api-nope",
        ]),
        "x\n",
    );
    keep(&out);
    assert_fails_with(&out, 1, "deploy it first");

    // Not confirmed yet: a clear error, no session.
    let out = run(
        cli().args(["login", "--email", EMAIL, "--stack", stack]),
        PASSWORD,
    );
    keep(&out);
    assert_fails_with(&out, 1, "has not confirmed");
    assert!(!session_file.exists());

    // Admin confirmation with the caller's own AWS credentials.
    let out = run(
        cli().args(["confirm", "--admin", "--email", EMAIL, "--stack", stack]),
        "",
    );
    keep(&out);
    assert_ok(&out, "confirm --admin");

    // Wrong password (USER_PASSWORD_AUTH: moto checks it; it does not check SRP proofs).
    let out = run(
        cli().args([
            "login",
            "--password-auth",
            "--email",
            EMAIL,
            "--stack",
            stack,
        ]),
        "nope\n",
    );
    keep(&out);
    assert_fails_with(&out, 1, "wrong email or password");

    // The password flow works when asked for.
    let out = run(
        cli().args([
            "login",
            "--password-auth",
            "--email",
            EMAIL,
            "--stack",
            stack,
        ]),
        PASSWORD,
    );
    keep(&out);
    assert_ok(&out, "login --password-auth");

    // SRP login (the default): tokens, identity, credentials cached 0600.
    let out = run(
        cli().args(["login", "--email", EMAIL, "--stack", stack]),
        &format!("{PASSWORD}\n"),
    );
    keep(&out);
    let stdout = assert_ok(&out, "login");
    let session = session_json(&session_file);
    let identity_id = session["identity_id"].as_str().unwrap().to_owned();
    assert!(stdout.contains(&identity_id), "{stdout}");
    assert_eq!(session["settings"]["user_pool_id"], ids["UserPoolId"]);
    assert_eq!(session["settings"]["api_url"], ids["HttpApiUrl"]);
    assert_eq!(session["credentials"]["session_token"], MOTO_TOKEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&session_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "session file mode {mode:o}");
    }
    assert!(
        !std::fs::read_to_string(&session_file)
            .unwrap()
            .contains(PASSWORD)
    );

    // whoami: no flags needed any more.
    let out = run(cli().arg("whoami"), "");
    keep(&out);
    let stdout = assert_ok(&out, "whoami");
    assert!(
        stdout.contains(&identity_id) && stdout.contains("credentials expire"),
        "{stdout}"
    );

    // A GET with a query that needs encoding, signed; the server got what was signed.
    let host = api
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let out = run(cli().args(["call", "/private?name=José Doe&tags=a,b"]), "");
    keep(&out);
    let stdout = assert_ok(&out, "call GET");
    let body: Value = serde_json::from_str(&stdout).expect("raw JSON body on a pipe");
    assert_eq!(body["path"], "/private?name=Jos%C3%A9%20Doe&tags=a%2Cb");
    let get = api.requests().pop().expect("request received");
    assert_eq!(get.method, "GET");
    assert_eq!(get.header("x-amz-security-token"), Some(MOTO_TOKEN));
    assert_signature_verifies(&get, &host);

    // A POST with a JSON body and -i.
    let out = run(
        cli().args([
            "call",
            "POST",
            "/private/items",
            "-i",
            "--data",
            r#"{"name":"Zoë"}"#,
        ]),
        "",
    );
    keep(&out);
    let stdout = assert_ok(&out, "call POST");
    assert!(stdout.starts_with("HTTP/1.1 200 OK\n"), "{stdout}");
    let post = api.requests().pop().expect("request received");
    assert_eq!(post.method, "POST");
    assert_eq!(post.body, r#"{"name":"Zoë"}"#.as_bytes());
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_signature_verifies(&post, &host);

    // A body from a file and an extra header: both sent and signed.
    let body_file = dir.path().join("body.txt");
    std::fs::write(&body_file, "plain text ✓").unwrap();
    let data = format!("@{}", body_file.display());
    let out = run(
        cli()
            .args([
                "call",
                "put",
                "/private/notes/1",
                "-H",
                "Content-Type: text/plain",
                "-H",
                "X-Trace-Note: first",
            ])
            .args(["--data", &data]),
        "",
    );
    keep(&out);
    assert_ok(&out, "call PUT --data @file");
    let put = api.requests().pop().expect("request received");
    assert_eq!(put.method, "PUT");
    assert_eq!(put.body, "plain text ✓".as_bytes());
    assert_eq!(put.header("content-type"), Some("text/plain"));
    let authorization = put.header("authorization").unwrap_or_default();
    assert!(
        authorization.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-trace-note,"
        ),
        "{authorization}"
    );
    assert_signature_verifies(&put, &host);

    // 403: non-zero exit and an explanation.
    let out = run(cli().args(["call", "/forbidden"]), "");
    keep(&out);
    assert_fails_with(&out, 3, "execute-api:Invoke");

    // Expired credentials, valid ID token: new credentials from the same ID token.
    let mut stale = session_json(&session_file);
    stale["credentials"]["expiration"] = json!(1);
    std::fs::write(&session_file, stale.to_string()).unwrap();
    let out = run(cli().args(["call", "/private"]), "");
    keep(&out);
    assert_ok(&out, "call with expired credentials");
    let renewed = session_json(&session_file);
    assert!(renewed["credentials"]["expiration"].as_u64().unwrap() > 1);
    assert_eq!(renewed["tokens"]["id_token"], stale["tokens"]["id_token"]);

    // Expired credentials and tokens: renewed with the refresh token, saved.
    let mut expired = session_json(&session_file);
    expired["credentials"]["expiration"] = json!(1);
    expired["tokens"]["expires_at"] = json!(1);
    std::fs::write(&session_file, expired.to_string()).unwrap();
    let out = run(cli().arg("whoami"), "");
    keep(&out);
    assert_ok(&out, "whoami after expiry");
    let renewed = session_json(&session_file);
    assert!(renewed["credentials"]["expiration"].as_u64().unwrap() > 1);
    assert!(renewed["tokens"]["expires_at"].as_u64().unwrap() > 1);
    assert_ne!(renewed["tokens"]["id_token"], expired["tokens"]["id_token"]);
    assert_eq!(
        renewed["tokens"]["refresh_token"],
        expired["tokens"]["refresh_token"]
    );

    // A refused refresh token: "log in again".
    let mut revoked = renewed.clone();
    revoked["credentials"]["expiration"] = json!(1);
    revoked["tokens"]["expires_at"] = json!(1);
    revoked["tokens"]["refresh_token"] = json!("revoked-token");
    std::fs::write(&session_file, revoked.to_string()).unwrap();
    let out = run(cli().args(["call", "/private"]), "");
    keep(&out);
    assert_fails_with(&out, 1, "run `login` again");

    // Logout, then calls say so.
    let out = run(cli().arg("logout"), "");
    keep(&out);
    assert_ok(&out, "logout");
    assert!(!session_file.exists());
    let out = run(cli().args(["call", "/private"]), "");
    keep(&out);
    assert_fails_with(&out, 1, "not logged in");

    // Nothing secret was ever printed.
    let id_token = renewed["tokens"]["id_token"].as_str().unwrap();
    let refresh_token = renewed["tokens"]["refresh_token"].as_str().unwrap();
    for secret in [PASSWORD, MOTO_SECRET, MOTO_TOKEN, id_token, refresh_token] {
        assert!(
            !transcript.contains(secret),
            "a secret was printed: {transcript}"
        );
    }
}

#[test]
fn missing_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("session.json");
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["signup", "--email", EMAIL]),
        "pw\n",
    );
    assert_fails_with(&out, 1, "--client-id");
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["whoami"]),
        "",
    );
    assert_fails_with(&out, 1, "not logged in");
    let out = run(
        cli("http://127.0.0.1:9", &session_file)
            .env_remove("AWS_REGION")
            .args(["login", "--email", EMAIL, "--stack", "s"]),
        "pw\n",
    );
    assert_fails_with(&out, 1, "no region to read stack s from");
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["confirm", "--email", EMAIL]),
        "",
    );
    assert_eq!(out.status.code(), Some(2), "--code or --admin is required");
    // The password is asked for only once the settings are complete: with no pool settings and an
    // empty standard input, the error names the missing setting, not the empty password.
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["login", "--email", EMAIL]),
        "",
    );
    assert_fails_with(&out, 1, "--user-pool-id");
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["signup", "--email", EMAIL]),
        "",
    );
    assert_fails_with(&out, 1, "--client-id");
    // An invalid -H is an invalid argument (exit 2), found before anything is read or sent.
    let out = run(
        cli("http://127.0.0.1:9", &session_file).args(["call", "-H", "no colon", "/private"]),
        "",
    );
    assert_fails_with(&out, 2, "invalid header \"no colon\"");
}
