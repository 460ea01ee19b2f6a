//! `aws-rust-http-api`: argument parsing, logging and exit codes; the work is in the library.

use clap::Parser;
use client::cli::{Cli, Command};
use client::cognito::AuthMethod;
use client::commands::{self, CallArgs, Context};
use client::password::read_password;
use client::session;
use client::settings::Settings;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit code when the API answered with an HTTP error status (4xx/5xx).
const EXIT_HTTP_ERROR: u8 = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // Our error messages already include their causes: print the top level only.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    let session_file = match global.session_file {
        Some(path) => path,
        None => session::default_path()?,
    };
    let ctx = Context {
        explicit: Settings {
            api_url: global.api_url,
            region: global.region,
            user_pool_id: global.user_pool_id,
            client_id: global.client_id,
            identity_pool_id: global.identity_pool_id,
        },
        stack: global.stack,
        session_file,
    };
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Signup { email, password } => {
            let password = || read_password(password, true);
            commands::signup(&ctx, email.trim(), password, &mut out).await?;
        }
        Command::Confirm {
            email,
            code,
            admin: _,
        } => {
            commands::confirm(&ctx, email.trim(), code.as_deref(), &mut out).await?;
        }
        Command::Login {
            email,
            password_auth,
            password,
        } => {
            let password = || read_password(password, false);
            let method = if password_auth {
                AuthMethod::Password
            } else {
                AuthMethod::Srp
            };
            commands::login(&ctx, email.trim(), password, method, &mut out).await?;
        }
        Command::Call {
            target,
            data,
            headers,
            include,
        } => {
            let pretty = std::io::stdout().is_terminal();
            let args = CallArgs {
                target,
                data,
                headers,
                include,
                pretty,
            };
            let status = commands::call(&ctx, args, &mut out).await?;
            if status >= 400 {
                eprintln!("error: the API answered HTTP {status}");
                return Ok(ExitCode::from(EXIT_HTTP_ERROR));
            }
        }
        Command::Whoami => commands::whoami(&ctx, &mut out).await?,
        Command::Logout => commands::logout(&ctx, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(verbose: bool) {
    let filter = if verbose { "warn,client=debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
