//! The local loop end to end, with the real binaries: `devserver` (this crate) runs the release
//! `bootstrap` and `otel-sidecar` (built by `./scripts/test`) under lambda-env, S3 is moto,
//! the sidecar exports to a decoding fake OTLP backend. Then `./scripts/dev` itself, twice, with
//! the same prebuilt binaries: start, call `/`, see the console exporter's output, Ctrl-C, nothing
//! left, second run works.

mod common;

use common::{Watched, alive, field, port_free, sidecar_config, started_pids};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::{FakeOtlpBackend, MotoServer, release_binary};

const BUCKETS: &[&str] = &["loop-a", "loop-b", "loop-c"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn create_buckets(http: &reqwest::Client, s3: &str) {
    for bucket in BUCKETS {
        let status = http
            .put(format!("{s3}/{bucket}"))
            .send()
            .await
            .expect("PUT bucket")
            .status();
        assert!(status.is_success(), "creating {bucket}: {status}");
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devserver_serves_the_function_and_the_sidecar_delivers_its_telemetry() {
    let moto = MotoServer::start().expect("moto");
    let backend = FakeOtlpBackend::start().await.expect("fake OTLP backend");
    let http = reqwest::Client::new();
    create_buckets(&http, &moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = testkit::moto::free_port().expect("port");

    let mut command = Command::new(env!("CARGO_BIN_EXE_devserver"));
    command
        .arg("--runtime")
        .arg(release_binary("bootstrap").expect("bootstrap"))
        .arg("--extension")
        .arg(release_binary("otel-sidecar").expect("otel-sidecar"))
        .args(["--listen", "127.0.0.1:0"])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("OTEL_SIDECAR_CONFIG", sidecar_config(dir.path(), receiver))
        .env(
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{receiver}"),
        )
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint());
    let mut devserver = Watched::spawn("devserver", command);
    let url = devserver.wait_for("the listening line", Duration::from_secs(30), |line| {
        line.contains("listening")
            .then(|| field(line, "url"))
            .flatten()
            .map(String::from)
    });

    // GET / through the local API Gateway: the demo buckets, all pages.
    let (status, body) = get_json(&http, &format!("{url}/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["buckets"], serde_json::json!(BUCKETS));

    // /private without a signature: the function's own 403, not a 200.
    let (status, body) = get_json(&http, &format!("{url}/private")).await;
    assert_eq!(status, 403, "{body}");

    // The RIE-style endpoint takes the example event with a Cognito identity as it is.
    let event =
        std::fs::read(repo_root().join("deploy/events/get-private.json")).expect("example event");
    let response = http
        .post(format!("{url}/2015-03-31/functions/function/invocations"))
        .body(event)
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), 200);
    let payload: Value = response.json().await.expect("payload");
    assert_eq!(payload["statusCode"], 200, "{payload}");
    let private: Value =
        serde_json::from_str(payload["body"].as_str().expect("body")).expect("body JSON");
    assert_eq!(
        private["caller"]["cognitoIdentity"]["identityId"],
        "us-east-1:00000000-0000-4000-8000-00000000000a"
    );

    // The invocation's server span arrives at the backend through the sidecar.
    let deadline = Instant::now() + Duration::from_secs(20);
    let root_span = loop {
        let spans = testkit::otlp_view::spans(&backend.traces());
        if let Some(span) = spans
            .iter()
            .find(|s| s.attr_str("url.path") == Some("/") && s.attr_str("http.route") == Some("/"))
        {
            break span.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no server span for GET / at the backend; got {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        root_span.attr_str("faas.invocation_id").is_some(),
        "{root_span:#?}"
    );

    // The function dies: like Lambda, the invocation fails (API Gateway's 500) and the next request
    // gets a new environment (a cold start), extension first again. It dies between invocations: once
    // the three so far have their REPORT (their hand-off and the sidecar's flush belong to them, and a
    // death before that fails the invocation still running instead).
    let deadline = Instant::now() + Duration::from_secs(20);
    while devserver
        .output()
        .iter()
        .filter(|l| l.contains(" REPORT "))
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "no REPORT for the first three invocations"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = started_pids(&devserver.output());
    let names: Vec<&str> = first.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["otel-sidecar", "bootstrap"],
        "extensions start before the runtime"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first[1].1),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill bootstrap");
    let (status, body) = get_json(&http, &format!("{url}/")).await;
    assert_eq!(
        (status, body),
        (500, serde_json::json!({"message": "Internal Server Error"}))
    );
    let (status, body) = get_json(&http, &format!("{url}/")).await;
    assert_eq!(status, 200, "{body}");
    // The relay threads may not have read the second environment's "started" lines yet.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pids = loop {
        let pids = started_pids(&devserver.output());
        if pids.len() >= 4 || Instant::now() >= deadline {
            break pids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let names: Vec<&str> = pids.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["otel-sidecar", "bootstrap", "otel-sidecar", "bootstrap"]
    );
    assert!(
        !alive(first[0].1),
        "the old environment's sidecar was not stopped"
    );

    // Ctrl-C: everything stops, in Lambda's order, and nothing is left.
    let lines_before = devserver.output().len();
    let requests_before = backend.requests().len();
    devserver.interrupt();
    let status = devserver.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "devserver exit: {status}");
    for (name, pid) in &pids {
        assert!(!alive(*pid), "{name} (pid {pid}) still running");
    }
    // The sidecar flushed at SHUTDOWN: it said so after the Ctrl-C (the first environment's reset
    // logged the same line earlier, hence only the lines since), and the backend got what only
    // SHUTDOWN sends (the last invocation's `platform.report` arrives after the sidecar's last `next`).
    let since_interrupt = devserver.output()[lines_before..].join("\n");
    assert!(
        since_interrupt.contains("shutdown: everything exported"),
        "no SHUTDOWN flush after Ctrl-C:\n{since_interrupt}"
    );
    assert!(
        backend.requests().len() > requests_before,
        "nothing exported at SHUTDOWN:\n{since_interrupt}"
    );
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert!(port_free(port), "API port {port} still bound");
    assert!(
        port_free(receiver),
        "sidecar receiver port {receiver} still bound"
    );
}

/// `./scripts/dev` as a newcomer runs it (with the release binaries instead of a build: CI has just
/// built them, and a test must not rebuild the world), twice: the first run with the console
/// exporter and stopped by Ctrl-C, the second sending to an OTLP backend with headers, as the README
/// shows, and stopped by SIGTERM to the script alone.
#[test]
fn scripts_dev_starts_shows_telemetry_and_stops_cleanly_twice() {
    // The shipped binaries as `./scripts/test` built them (release), devserver as cargo built it here.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).expect("bin dir");
    for (name, path) in [
        ("bootstrap", release_binary("bootstrap").expect("bootstrap")),
        (
            "otel-sidecar",
            release_binary("otel-sidecar").expect("otel-sidecar"),
        ),
        ("devserver", PathBuf::from(env!("CARGO_BIN_EXE_devserver"))),
    ] {
        std::os::unix::fs::symlink(path, bin_dir.join(name)).expect("symlink");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let backend = runtime
        .block_on(FakeOtlpBackend::start())
        .expect("fake OTLP backend");
    let http = reqwest::Client::new();
    for run in 1..=2 {
        let (port, s3_port, receiver) = (free(), free(), free());
        let mut command = Command::new(repo_root().join("scripts/dev"));
        command
            .env("DEV_BIN_DIR", &bin_dir)
            .env("DEV_PORT", port.to_string())
            .env("DEV_S3_PORT", s3_port.to_string())
            .env("DEV_BUCKETS", "dev-one dev-two")
            .env("OTEL_SIDECAR_CONFIG", sidecar_config(dir.path(), receiver))
            .env(
                "OTEL_SIDECAR_ENDPOINT",
                format!("http://127.0.0.1:{receiver}"),
            )
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_HEADERS");
        if run == 2 {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint())
                .env("OTEL_EXPORTER_OTLP_HEADERS", "x-dev-check=run-2");
        }
        let mut dev = Watched::spawn("scripts/dev", command);
        dev.wait_for("the ready message", Duration::from_secs(120), |l| {
            l.starts_with("Ready.").then_some(())
        });
        // The instructions follow the ready line: wait for them rather than read what has arrived so far.
        let curl = format!("curl -s http://127.0.0.1:{port}/");
        dev.wait_for("the curl instructions", Duration::from_secs(10), |l| {
            (l.trim() == curl).then_some(())
        });

        let (status, body) =
            runtime.block_on(get_json(&http, &format!("http://127.0.0.1:{port}/")));
        assert_eq!(status, 200, "run {run}: {body}");
        assert_eq!(
            body["buckets"],
            serde_json::json!(["dev-one", "dev-two"]),
            "run {run}"
        );
        if run == 1 {
            // No OTEL_EXPORTER_OTLP_ENDPOINT: the console exporter prints the invocation's trace.
            dev.wait_for(
                "the console exporter's trace",
                Duration::from_secs(20),
                |l| l.starts_with("[otel-sidecar] [otel] trace").then_some(()),
            );
        } else {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !testkit::otlp_view::spans(&backend.traces())
                .iter()
                .any(|s| s.attr_str("url.path") == Some("/"))
            {
                assert!(
                    Instant::now() < deadline,
                    "run 2: no GET / span at the backend; it received {:?}, spans {:#?}",
                    backend
                        .requests()
                        .iter()
                        .map(|r| (r.path.clone(), r.status))
                        .collect::<Vec<_>>(),
                    testkit::otlp_view::spans(&backend.traces())
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                backend
                    .requests()
                    .iter()
                    .all(|r| r.headers.get("x-dev-check").is_some_and(|v| v == "run-2")),
                "OTEL_EXPORTER_OTLP_HEADERS not sent"
            );
        }
        let pids = started_pids(&dev.output());
        assert_eq!(pids.len(), 2, "{pids:?}");
        // Every line carries its process's name, devserver's own too (README: "Run it locally").
        assert!(
            dev.output()
                .iter()
                .any(|l| l.starts_with("[devserver] ") && l.contains("listening")),
            "run {run}: devserver's lines are not prefixed: {:#?}",
            dev.output()
        );

        if run == 1 {
            dev.interrupt(); // Ctrl-C in a terminal: SIGINT to the whole process group
        } else {
            dev.terminate(); // `kill PID`: the script alone must stop what it started
        }
        dev.wait_exit(Duration::from_secs(30));
        for (name, pid) in &pids {
            assert!(!alive(*pid), "run {run}: {name} (pid {pid}) still running");
        }
        for p in [port, s3_port, receiver] {
            assert!(
                port_free(p),
                "run {run}: port {p} still bound after stopping"
            );
        }
    }
}

fn free() -> u16 {
    testkit::moto::free_port().expect("free port")
}

/// `./scripts/dev --help` prints the usage block at the top of the script, and none of its code.
#[test]
fn scripts_dev_help_is_the_usage_block_alone() {
    let output = Command::new(repo_root().join("scripts/dev"))
        .arg("--help")
        .output()
        .expect("scripts/dev --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let script = std::fs::read_to_string(repo_root().join("scripts/dev")).expect("the script");
    // The script's leading comment lines (after the shebang), without their `#`.
    let usage: Vec<&str> = script
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .strip_prefix(' ')
                .unwrap_or(l.trim_start_matches('#'))
        })
        .collect();
    assert!(usage.len() > 5, "{usage:?}");
    assert_eq!(help.lines().collect::<Vec<_>>(), usage);
}
