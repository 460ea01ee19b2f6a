//! Command-line options (each with an environment variable), defaulting to what `serverless.yml`
//! deploys: the function's name, memory and timeout.

use crate::sandbox::SandboxConfig;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Runs the function and its extensions under a local Lambda environment (lambda-env) behind
/// a local API Gateway HTTP API. Stop with Ctrl-C: the processes get Lambda's shutdown sequence.
#[derive(Debug, Parser)]
#[command(name = "devserver", version)]
pub struct Args {
    /// The function's runtime executable (`bootstrap`).
    #[arg(long, env = "DEVSERVER_RUNTIME")]
    pub runtime: PathBuf,
    /// An external extension to run next to it (`/opt/extensions/*` in the image); repeatable.
    #[arg(
        long = "extension",
        env = "DEVSERVER_EXTENSIONS",
        value_delimiter = ','
    )]
    pub extensions: Vec<PathBuf>,
    /// Where the local API listens (port 0: any free port, printed at start).
    #[arg(long, env = "DEVSERVER_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    #[arg(long, default_value = "aws-rust-http-api-dev-api")]
    pub function_name: String,
    /// `AWS_REGION` of the environment.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The account id in events and ARNs.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// Memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    #[arg(long, default_value_t = 256)]
    pub memory_mb: u32,
    /// Function timeout in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=900))]
    pub timeout_s: u64,
}

impl Args {
    /// The function's settings from the flags (init timeout: Lambda's 10 s).
    pub fn sandbox(&self) -> SandboxConfig {
        SandboxConfig {
            function_name: self.function_name.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            memory_mb: self.memory_mb,
            timeout: Duration::from_secs(self.timeout_s),
            init_timeout: Duration::from_secs(10),
            runtime: self.runtime.clone(),
            extensions: self.extensions.clone(),
        }
    }
}
