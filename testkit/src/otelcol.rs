//! A real OpenTelemetry Collector as an export target: `otelcol-peers` (built by
//! `scripts/lib/peers.sh` from `testkit/peers/otelcol`) with the OTLP/HTTP receiver on a free
//! loopback port and the file exporter writing every request it accepted as one JSON line, which
//! [`Collector::received`] decodes with the official protobuf definitions. It can be killed
//! (SIGKILL, as a crash) and restarted on the same port, appending to the same file.

use crate::TestkitError;
use crate::moto::free_port;
use crate::otlp_backend::Received;
use crate::peers::{Peer, peer_binary};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the collector's receiver is set up.
#[derive(Clone, Debug, Default)]
pub struct CollectorOptions {
    /// Require `Authorization: Bearer <token>` (the contrib `bearertokenauth` extension): a request
    /// without it is answered 401 and never written.
    pub bearer_token: Option<String>,
    /// Paths of the traces, metrics and logs endpoints instead of `/v1/traces`, `/v1/metrics`, `/v1/logs`.
    pub url_paths: Option<[String; 3]>,
}

/// A running (or killed) collector; killed when dropped.
pub struct Collector {
    binary: PathBuf,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    child: Option<Child>,
    starts: usize,
}

impl Collector {
    /// Builds the collector if needed, starts it on a free port and waits until it accepts connections.
    pub fn start(options: &CollectorOptions) -> Result<Collector, TestkitError> {
        let binary = peer_binary(Peer::Collector)?;
        let dir = tempfile::tempdir().map_err(|source| TestkitError::Io {
            what: "creating the collector's directory".into(),
            source,
        })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        std::fs::write(
            dir.path().join("config.yaml"),
            config(addr, dir.path(), options),
        )
        .map_err(|source| TestkitError::Io {
            what: "writing the collector's config".into(),
            source,
        })?;
        let mut collector = Collector {
            binary,
            dir,
            addr,
            child: None,
            starts: 0,
        };
        collector.restart()?;
        Ok(collector)
    }

    /// `http://127.0.0.1:PORT`, the base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the collector with SIGKILL (no graceful shutdown: a crash) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the collector again (after [`Collector::kill`]) on the same port, appending to the
    /// same file, and waits until it accepts connections.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        self.starts += 1;
        let log_path = self
            .dir
            .path()
            .join(format!("collector-{}.log", self.starts));
        let log = std::fs::File::create(&log_path).map_err(|source| TestkitError::Io {
            what: format!("creating {}", log_path.display()),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| TestkitError::Io {
            what: "duplicating the log file".into(),
            source,
        })?;
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config={}",
                self.dir.path().join("config.yaml").display()
            ))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| TestkitError::Io {
                what: format!("spawning {}", self.binary.display()),
                source,
            })?;
        self.child = Some(child);
        let timeout = Duration::from_secs(30);
        let start = Instant::now();
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(TestkitError::Missing(format!(
                    "the collector exited with {status}: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )));
            }
            if start.elapsed() > timeout {
                return Err(TestkitError::Timeout(
                    timeout,
                    "the collector to listen".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Everything the collector wrote so far, one decoded request per line, in the order written.
    /// A line still being written (the file exporter flushes its buffer on a tick, so the file can
    /// end in the middle of a line) is left for the next call; a whole line that does not decode is
    /// an error.
    pub fn received(&self) -> Result<Vec<Received>, TestkitError> {
        let path = self.output_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(TestkitError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(decode_line)
            .collect()
    }

    /// The collector's own log of its `n`th run (1 = the first start).
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("collector-{n}.log")))
            .unwrap_or_default()
    }

    fn output_path(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One line of the file exporter's JSON output: an OTLP/JSON export request of one signal.
fn decode_line(line: &str) -> Result<Received, TestkitError> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        TestkitError::Invalid(format!("collector output is not JSON ({e}): {line}"))
    })?;
    let invalid = |e: serde_json::Error| {
        TestkitError::Invalid(format!("collector output is not OTLP/JSON ({e}): {line}"))
    };
    if value.get("resourceSpans").is_some() {
        serde_json::from_value(value)
            .map(Received::Traces)
            .map_err(invalid)
    } else if value.get("resourceMetrics").is_some() {
        serde_json::from_value(value)
            .map(Received::Metrics)
            .map_err(invalid)
    } else if value.get("resourceLogs").is_some() {
        serde_json::from_value(value)
            .map(Received::Logs)
            .map_err(invalid)
    } else {
        Err(TestkitError::Invalid(format!(
            "collector output of no known signal: {line}"
        )))
    }
}

fn config(addr: SocketAddr, dir: &Path, options: &CollectorOptions) -> String {
    let mut http = format!("        endpoint: \"{addr}\"\n");
    if let Some([traces, metrics, logs]) = &options.url_paths {
        http.push_str(&format!(
            "        traces_url_path: \"{traces}\"\n        metrics_url_path: \"{metrics}\"\n        logs_url_path: \"{logs}\"\n"
        ));
    }
    let (extensions, service_extensions) = match &options.bearer_token {
        Some(token) => {
            http.push_str("        auth:\n          authenticator: bearertokenauth\n");
            (
                format!("extensions:\n  bearertokenauth:\n    token: \"{token}\"\n"),
                "  extensions: [bearertokenauth]\n",
            )
        }
        None => (String::new(), ""),
    };
    // flush_interval: the file exporter buffers its writes and flushes on this tick (its default is
    // 1 s); 5 ms keeps what a test reads close behind what the collector accepted.
    let output = dir.join("received.jsonl");
    [
        "receivers:\n  otlp:\n    protocols:\n      http:\n".to_string(),
        http,
        "exporters:\n  file:\n".into(),
        format!("    path: \"{}\"\n", output.display()),
        "    append: true\n    flush_interval: 5ms\n".into(),
        extensions,
        "service:\n".into(),
        service_extensions.into(),
        "  telemetry:\n    metrics:\n      level: none\n".into(),
        "  pipelines:\n".into(),
        "    traces: {receivers: [otlp], exporters: [file]}\n".into(),
        "    metrics: {receivers: [otlp], exporters: [file]}\n".into(),
        "    logs: {receivers: [otlp], exporters: [file]}\n".into(),
    ]
    .concat()
}
