//! What one execution environment runs and with which function settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One line a process of the environment wrote.
#[derive(Clone, Debug)]
pub struct OutputLine {
    /// The process name (the executable's file name; an extension's name).
    pub process: String,
    /// `function` for the runtime, `extension` for an extension (the Telemetry API stream).
    pub stream: &'static str,
    /// The line, without its line break.
    pub line: String,
}

/// Called with every line the processes write (stdout and stderr).
pub type OutputCallback = Arc<dyn Fn(&OutputLine) + Send + Sync>;

/// A process to start: the runtime (`bootstrap`) or an external extension.
#[derive(Clone, Debug)]
pub struct Process {
    /// The executable, started directly (no shell); relative paths resolve against the caller's directory.
    pub path: PathBuf,
    /// Command-line arguments after the executable.
    pub args: Vec<String>,
    /// Variables on top of the sandbox's (and Lambda's).
    pub env: Vec<(String, String)>,
    /// The name Lambda gives it: the executable's file name unless set.
    pub name: Option<String>,
}

impl Process {
    /// `path` with no arguments, no extra variables and the executable's file name as its name.
    pub fn new(path: impl Into<PathBuf>) -> Process {
        Process {
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            name: None,
        }
    }

    /// Adds a variable for this process only; it overrides the sandbox's `env` and Lambda's variables.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Process {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Appends one command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Process {
        self.args.push(arg.into());
        self
    }

    /// Overrides the name Lambda derives from the file name (what an extension registers under and
    /// what prefixes its output lines).
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = Some(name.into());
        self
    }

    /// Lambda's name for it (`path.Base(agentPath)` in rapid's `doInitExtensions`).
    pub fn process_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string())
        })
    }
}

/// The runtime: a process the sandbox starts, or one the caller runs itself against
/// [`crate::Sandbox::runtime_api_url`] (a Rust task in a test). A caller-run runtime is never frozen
/// or signalled; init completes at its first `next`.
#[derive(Clone, Debug)]
pub enum Runtime {
    /// The sandbox starts this process after the extensions have registered, as Lambda starts `bootstrap`.
    Process(Process),
    /// The caller runs the runtime itself against the Runtime API.
    External,
}

/// The sandbox's settings.
#[derive(Clone)]
pub struct Config {
    /// `AWS_LAMBDA_FUNCTION_NAME`, the log group's name and the last part of [`Config::function_arn`];
    /// also `functionName` in an extension's register response.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION` and the `version` of `platform.start` (`$LATEST` by default).
    pub function_version: String,
    /// `_HANDLER` and `handler` in an extension's register response.
    pub handler: String,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`, and the region in [`Config::function_arn`].
    pub region: String,
    /// The account in [`Config::function_arn`] and `accountId` in an extension's register response
    /// (when the extension asks for it).
    pub account_id: String,
    /// Memory in MB: `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` and `memorySizeMB` of `platform.report` (not enforced).
    pub memory_mb: u32,
    /// The function timeout: the whole invoke phase (runtime and extensions), as in Lambda.
    pub timeout: Duration,
    /// How long init may take (Lambda: 10 s).
    pub init_timeout: Duration,
    /// What SHUTDOWN gives the runtime and extensions together (Lambda: 2 s with extensions).
    pub shutdown_budget: Duration,
    /// Who runs the runtime: a process the sandbox starts or the caller ([`Runtime::External`], the default).
    pub runtime: Runtime,
    /// External extensions, started in this order (Lambda: `/opt/extensions/*` sorted by name).
    pub extensions: Vec<Process>,
    /// Variables for every process, on top of the inherited environment (if any) and under Lambda's.
    pub env: Vec<(String, String)>,
    /// Start processes with the caller's environment (else only `PATH`, `env` and Lambda's variables).
    pub inherit_env: bool,
    /// SIGSTOP the processes between invocations, as Lambda freezes the sandbox.
    pub freeze: bool,
    /// Called with every output line of every process.
    pub on_output: Option<OutputCallback>,
    /// Echo output lines to stderr as `[name] line` (tests see them on failure).
    pub echo_output: bool,
    /// The APIs' port on 127.0.0.1 (any free one if None).
    pub api_port: Option<u16>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("function_name", &self.function_name)
            .field("memory_mb", &self.memory_mb)
            .field("timeout", &self.timeout)
            .field("runtime", &self.runtime)
            .field("extensions", &self.extensions)
            .field("freeze", &self.freeze)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            function_name: "function".into(),
            function_version: "$LATEST".into(),
            handler: "bootstrap".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            shutdown_budget: Duration::from_secs(2),
            runtime: Runtime::External,
            extensions: Vec::new(),
            env: Vec::new(),
            inherit_env: true,
            freeze: true,
            on_output: None,
            echo_output: false,
            api_port: None,
        }
    }
}

impl Config {
    /// Makes `process` the runtime, started once every extension has registered.
    pub fn runtime(mut self, process: Process) -> Config {
        self.runtime = Runtime::Process(process);
        self
    }

    /// Adds an external extension, started after the ones already added.
    pub fn extension(mut self, process: Process) -> Config {
        self.extensions.push(process);
        self
    }

    /// Every executable file in `dir` as an extension, sorted by name as Lambda starts them
    /// (rapid `agents.ListExternalAgentPaths`).
    pub fn extensions_dir(mut self, dir: &Path) -> std::io::Result<Config> {
        use std::os::unix::fs::PermissionsExt as _;
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                paths.push(entry.path());
            }
        }
        paths.sort();
        self.extensions.extend(paths.into_iter().map(Process::new));
        Ok(self)
    }

    /// The function's ARN as Lambda gives it to the runtime and extensions.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }
}
