//! Harness for the local-loop tests: a process whose output (stdout + stderr, line by line) is kept
//! for assertions, started in its own process group so a test can send Ctrl-C (SIGINT) to the whole
//! group the way a terminal does; and "is anything left?" checks (pids, ports).

#![allow(dead_code)] // each test file uses part of the harness

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running process with its output captured.
pub struct Watched {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The threads reading its stdout and stderr: done once every writer has closed them.
    readers: Vec<std::thread::JoinHandle<()>>,
    name: String,
}

impl Watched {
    /// Spawns `command` in a new process group, echoing its output (prefixed) to the test's stderr.
    pub fn spawn(name: &str, mut command: Command) -> Watched {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(name, out, lines.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(name, err, lines.clone()));
        }
        Watched {
            child,
            lines,
            readers,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Everything printed so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().expect("output lock").clone()
    }

    /// Waits until a line satisfies `found` (returning what it extracted), or panics with the output.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = self.output().iter().find_map(|l| found(l)) {
                return value;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.wait_drained();
                panic!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.name,
                    self.output().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} from {} within {timeout:?}:\n{}",
                self.name,
                self.output().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After it exited: waits until its last lines are read (the pipes reach end of file once every
    /// process that held them is gone), at most 5 s so that a stray holder cannot hang the test.
    fn wait_drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
    pub fn interrupt(&self) {
        killpg(Pid::from_raw(self.pid()), Signal::SIGINT).expect("SIGINT to the process group");
    }

    /// SIGTERM to the process alone (its children must be stopped by it).
    pub fn terminate(&self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the process to exit (panics after `timeout`, killing it).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.wait_drained();
                return status;
            }
            if Instant::now() >= deadline {
                let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
                panic!(
                    "{} still running {timeout:?} after the signal:\n{}",
                    self.name,
                    self.output().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watched {
    /// A failed test leaves nothing behind either.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn collect(
    name: &str,
    source: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    let name = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            eprintln!("[{name}] {line}");
            lines.lock().expect("output lock").push(line);
        }
    })
}

/// The value after `key=` in a structured log line (`pid=123`, `url=http://…`), unquoted.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// The pids of the processes devserver started (its `started process=… pid=…` lines).
pub fn started_pids(output: &[String]) -> Vec<(String, i32)> {
    output
        .iter()
        .filter(|l| l.contains(" started ") || l.contains("started process="))
        .filter_map(|l| {
            let process = field(l, "process")?.to_owned();
            let pid = field(l, "pid")?.parse().ok()?;
            Some((process, pid))
        })
        .collect()
}

/// Whether a process with this pid still exists (zombies included).
pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// Whether a loopback TCP port can be bound (nothing listens on it any more).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A sidecar config with its OTLP/HTTP receiver on `port` (so tests never collide on 4318).
/// A sidecar config receiving OTLP on `port`, with the Telemetry API on a free port of its own (tests
/// run side by side: a shared default port would let one test's environment deliver to another's sidecar).
pub fn sidecar_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("otel-config.yaml");
    let telemetry = testkit::moto::free_port().expect("a free port");
    std::fs::write(
        &path,
        format!(
            "receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{port}\" }}\n  otlp_grpc: {{ enabled: false }}\n\
             telemetry_api:\n  listener: \"127.0.0.1:{telemetry}\"\n"
        ),
    )
    .expect("write the sidecar config");
    path
}
