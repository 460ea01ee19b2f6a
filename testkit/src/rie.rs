//! AWS's Lambda Runtime Interface Emulator (`aws-lambda-rie`, built by `scripts/lib/peers.sh`), run
//! as `public.ecr.aws/lambda/provided:al2023` runs it, without Docker: the function at
//! `/var/runtime/bootstrap`, extensions in `/opt/extensions/`, other files under `/opt`, working
//! directory `/var/task`, invocations on `POST /2015-03-31/functions/function/invocations`.
//!
//! Those paths are the machine's own, so the emulator runs in private mount and PID namespaces
//! (`unshare --mount --pid --fork --kill-child --mount-proc`; tests run as root): a throwaway
//! directory is bind-mounted over `/opt` and `/var` inside the namespace only, so nothing is ever
//! written to the machine's `/opt`, and killing the namespace's first process ends every process
//! the emulator started (nothing outlives a test).

use crate::TestkitError;
use crate::moto::free_port;
use crate::peers::{Peer, peer_binary};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What goes into the sandbox.
#[derive(Clone, Debug, Default)]
pub struct RieOptions {
    /// The function, copied to `/var/runtime/bootstrap`.
    pub bootstrap: PathBuf,
    /// Extensions, each copied to `/opt/extensions/<its file name>`.
    pub extensions: Vec<PathBuf>,
    /// Other files: a path relative to `/opt` and its contents (e.g. `otel-config.yaml`).
    pub opt_files: Vec<(String, Vec<u8>)>,
    /// The container's environment (what `docker run -e` gives); `PATH` is added. The emulator passes
    /// all of it to the function and the extensions.
    pub env: Vec<(String, String)>,
}

impl RieOptions {
    /// The image as the Dockerfile lays it out, with this checkout's release binaries: `bootstrap`
    /// at `/var/runtime/bootstrap`, `otel-sidecar` at `/opt/extensions/otel-sidecar`, and
    /// `otel_config` as `/opt/otel-config.yaml`; `env` is the container's environment.
    pub fn image(otel_config: String, env: &[(&str, String)]) -> Result<RieOptions, TestkitError> {
        Ok(RieOptions {
            bootstrap: crate::release_binary("bootstrap")?,
            extensions: vec![crate::release_binary("otel-sidecar")?],
            opt_files: vec![("otel-config.yaml".into(), otel_config.into_bytes())],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
    }
}

/// The shipped `otel-config.yaml` (the repository's, which the image copies) with only its two
/// fixed ports moved: the OTLP receiver from 4318 to `receiver` and the Telemetry API listener from
/// 4319 to `listener`, so that tests running in parallel, or other programs on this machine, do not
/// collide on them. Errors if the file no longer has those two settings.
pub fn shipped_otel_config(receiver: u16, listener: u16) -> Result<String, TestkitError> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../otel-config.yaml");
    let shipped = std::fs::read_to_string(&path)
        .map_err(|source| io(&format!("reading {}", path.display()), source))?;
    let (from_receiver, from_listener) = ("\"127.0.0.1:4318\"", "\"0.0.0.0:4319\"");
    if shipped.matches(from_receiver).count() != 1 || shipped.matches(from_listener).count() != 1 {
        return Err(TestkitError::Missing(format!(
            "{} no longer sets the receiver to {from_receiver} and the listener to {from_listener} once each",
            path.display()
        )));
    }
    Ok(shipped
        .replace(from_receiver, &format!("\"127.0.0.1:{receiver}\""))
        .replace(from_listener, &format!("\"0.0.0.0:{listener}\"")))
}

/// A running emulator; it and everything it started are killed when dropped.
pub struct RieSandbox {
    /// The `unshare` process; the emulator is its only child.
    unshare: Child,
    addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    /// The threads reading the emulator's stdout and stderr (done at end of file).
    readers: Vec<std::thread::JoinHandle<()>>,
    _root: tempfile::TempDir,
}

impl RieSandbox {
    /// Lays out the throwaway root, starts the emulator in its namespaces on free ports (invocations
    /// and Runtime API), and waits until it accepts invocations. As in the image, the emulator starts
    /// the extensions and the function at the first invocation.
    pub fn start(options: &RieOptions) -> Result<RieSandbox, TestkitError> {
        let rie = peer_binary(Peer::RuntimeInterfaceEmulator)?;
        let root = tempfile::tempdir().map_err(|source| io("creating the sandbox root", source))?;
        lay_out(root.path(), options)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let runtime_api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        // argv as the image's entry point gives it: `aws-lambda-rie /var/runtime/bootstrap`.
        let script = r#"set -e
mount --bind "$1/opt" /opt
mount --bind "$1/var" /var
cd /var/task
exec "$2" --runtime-interface-emulator-address "$3" --runtime-api-address "$4" /var/runtime/bootstrap"#;
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--",
                "/bin/sh",
                "-c",
                script,
                "sh",
            ])
            .arg(root.path())
            .arg(&rie)
            .arg(addr.to_string())
            .arg(runtime_api.to_string())
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut unshare = command.spawn().map_err(|source| {
            io(
                "spawning `unshare` (util-linux) for the emulator's private mount namespace",
                source,
            )
        })?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let echo = std::env::var_os("QUIET_FUNCTION_LOGS").is_none();
        let mut readers = Vec::new();
        if let Some(out) = unshare.stdout.take() {
            readers.push(collect(out, output.clone(), echo));
        }
        if let Some(err) = unshare.stderr.take() {
            readers.push(collect(err, output.clone(), echo));
        }
        let mut sandbox = RieSandbox {
            unshare,
            addr,
            output,
            readers,
            _root: root,
        };
        sandbox.wait_listening(Duration::from_secs(20))?;
        Ok(sandbox)
    }

    /// `http://127.0.0.1:PORT/2015-03-31/functions/function/invocations`, where `docker run -p
    /// 9000:8080` would have `http://localhost:9000/...`.
    pub fn invocations_url(&self) -> String {
        format!(
            "http://{}/2015-03-31/functions/function/invocations",
            self.addr
        )
    }

    /// Every line the emulator, the function and the extensions wrote (stdout and stderr), so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends SIGTERM to the emulator, as `docker stop` does, and waits up to `timeout` for it (and so
    /// for the whole namespace) to exit, then for the last lines it wrote to be read: `output()` is
    /// complete once this returns.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, TestkitError> {
        let emulator = self.emulator_pid()?;
        kill(emulator, Signal::SIGTERM)
            .map_err(|e| io("sending SIGTERM to the emulator", std::io::Error::from(e)))?;
        let start = Instant::now();
        loop {
            match self.unshare.try_wait() {
                Ok(Some(status)) => {
                    // Everything in the namespace is gone (--kill-child), so the pipes reach end of
                    // file; without this wait the final lines (the sidecar's shutdown summary) could
                    // still be in flight. Bounded all the same: a reader never blocks the test.
                    let drained = Instant::now() + Duration::from_secs(2);
                    while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drained
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    return Ok(status);
                }
                Ok(None) if start.elapsed() > timeout => {
                    return Err(TestkitError::Timeout(
                        timeout,
                        "the emulator to exit after SIGTERM".into(),
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(source) => return Err(io("waiting for the emulator", source)),
            }
        }
    }

    /// The emulator's process id as this machine sees it: the only child of `unshare`.
    fn emulator_pid(&self) -> Result<Pid, TestkitError> {
        let parent = self.unshare.id();
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .map_err(|source| io("reading the children of `unshare`", source))?;
        children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .map(Pid::from_raw)
            .ok_or_else(|| TestkitError::Missing("the emulator is not running".into()))
    }

    fn wait_listening(&mut self, timeout: Duration) -> Result<(), TestkitError> {
        let start = Instant::now();
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.unshare.try_wait() {
                return Err(TestkitError::Missing(format!(
                    "the emulator exited with {status}: {}",
                    self.output().join("\n")
                )));
            }
            if start.elapsed() > timeout {
                return Err(TestkitError::Timeout(
                    timeout,
                    "the emulator to listen".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for RieSandbox {
    fn drop(&mut self) {
        // --kill-child: the emulator gets SIGKILL when `unshare` dies, and with it the namespace.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn io(what: &str, source: std::io::Error) -> TestkitError {
    TestkitError::Io {
        what: what.to_string(),
        source,
    }
}

/// `root/opt/...` and `root/var/{runtime,task}`, mounted over `/opt` and `/var` in the namespace.
fn lay_out(root: &Path, options: &RieOptions) -> Result<(), TestkitError> {
    let mkdir = |dir: &Path| {
        std::fs::create_dir_all(dir)
            .map_err(|source| io(&format!("creating {}", dir.display()), source))
    };
    mkdir(&root.join("opt/extensions"))?;
    mkdir(&root.join("var/runtime"))?;
    mkdir(&root.join("var/task"))?;
    install(&options.bootstrap, &root.join("var/runtime/bootstrap"))?;
    for extension in &options.extensions {
        let name = extension.file_name().ok_or_else(|| {
            TestkitError::Missing(format!(
                "extension path {} has no file name",
                extension.display()
            ))
        })?;
        install(extension, &root.join("opt/extensions").join(name))?;
    }
    for (relative, contents) in &options.opt_files {
        let path = root.join("opt").join(relative);
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        std::fs::write(&path, contents)
            .map_err(|source| io(&format!("writing {}", path.display()), source))?;
    }
    Ok(())
}

/// Copies an executable with mode 0755, as the Dockerfile's `COPY --chmod=0755` does.
fn install(from: &Path, to: &Path) -> Result<(), TestkitError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).map_err(|source| {
        io(
            &format!("copying {} to {}", from.display(), to.display()),
            source,
        )
    })?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))
        .map_err(|source| io(&format!("chmod 0755 {}", to.display()), source))
}

fn collect(
    stream: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    echo: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[rie] {line}");
            }
            lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    })
}
