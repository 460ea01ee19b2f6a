//! A real S3 / Cognito protocol server for tests: moto's server (PyPI `moto[server]`), which
//! `./scripts/test` installs into `.venv`, started through `python/moto_server.py` (moto with
//! S3 `ListBuckets` pagination fixed, see that file). Each test starts its own on a free port;
//! it is killed when the handle is dropped.

use crate::TestkitError;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server` process.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it accepts connections.
    pub fn start() -> Result<Self, TestkitError> {
        MotoServer::start_with_env(&[])
    }

    /// Like [`MotoServer::start`], with extra environment variables for moto (e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0` to make it check credentials like AWS does).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Self, TestkitError> {
        let program = find_python()?;
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/moto_server.py");
        let port = free_port()?;
        let child = Command::new(&program)
            .arg(&launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| TestkitError::Io {
                what: format!("spawning {}", program.display()),
                source,
            })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = MotoServer { child, addr };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), TestkitError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(TestkitError::Missing(format!(
                    "moto_server exited early with {status}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(TestkitError::Timeout(
            timeout,
            "moto_server to listen".into(),
        ))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the OS says is free now (bound, then released), never one this process handed out before:
/// tests ask for several ports in a row, and the OS may offer a just-released port again.
pub fn free_port() -> Result<u16, TestkitError> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..64 {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| TestkitError::Io {
            what: "binding a free port".into(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map(|addr| addr.port())
            .map_err(|source| TestkitError::Io {
                what: "reading the bound port".into(),
                source,
            })?;
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return Ok(port);
        }
    }
    Err(TestkitError::Io {
        what: "finding a port not handed out before".into(),
        source: std::io::Error::other("64 attempts"),
    })
}

/// The Python that has moto: the workspace's `.venv` (installed on first use, see [`crate::tools`]).
pub fn find_python() -> Result<PathBuf, TestkitError> {
    crate::tools::python()
}
