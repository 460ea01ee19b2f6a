//! Command-line arguments (clap): global settings, each with an environment variable, and the
//! subcommands.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Sign up, log in and call the IAM-protected API of aws-rust-http-api from the command line.
///
/// Settings come from flags, their environment variables, the deployed stack's outputs
/// (--stack), or what the last `login` stored, in that order.
#[derive(Debug, Parser)]
#[command(name = "aws-rust-http-api", version)]
pub struct Cli {
    /// The flags every command accepts (before or after the subcommand).
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Read the settings from this CloudFormation stack's outputs (e.g. aws-rust-http-api-dev); uses
    /// your own AWS credentials.
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_STACK")]
    pub stack: Option<String>,
    /// Base URL of the HTTP API (stack output HttpApiUrl).
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_URL")]
    pub api_url: Option<String>,
    /// Region of the API and pools (stack output Region; default: the user pool id's region).
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_REGION")]
    pub region: Option<String>,
    /// Cognito User Pool id (stack output UserPoolId).
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_USER_POOL_ID")]
    pub user_pool_id: Option<String>,
    /// Cognito User Pool app client id (stack output UserPoolClientId).
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Cognito Identity Pool id (stack output IdentityPoolId).
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_IDENTITY_POOL_ID")]
    pub identity_pool_id: Option<String>,
    /// Session cache file [default: <user cache dir>/aws-rust-http-api/session.json].
    #[arg(long, global = true, env = "AWS_RUST_HTTP_API_SESSION_FILE")]
    pub session_file: Option<PathBuf>,
    /// Log each step to standard error (never secrets).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// What to run: one variant per subcommand, its fields that subcommand's own flags.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a user in the User Pool (the email is the username); Cognito emails a code.
    Signup {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The password (INSECURE: visible to other local users and in shell history). Default:
        /// prompted twice on a terminal, else the first line of standard input.
        #[arg(long)]
        password: Option<String>,
    },
    /// Confirm a sign-up with the emailed code, or with --admin.
    Confirm {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The confirmation code from the email.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        code: Option<String>,
        /// Confirm without a code (AdminConfirmSignUp) using your own AWS credentials; for
        /// development stages.
        #[arg(long)]
        admin: bool,
    },
    /// Log in (SRP: the password never leaves the machine), get Identity Pool credentials, and
    /// cache both for later commands.
    Login {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Send the password to Cognito (USER_PASSWORD_AUTH) instead of proving it with SRP; the
        /// app client must allow that flow.
        #[arg(long)]
        password_auth: bool,
        /// The password (INSECURE: visible to other local users and in shell history). Default:
        /// prompted on a terminal, else the first line of standard input.
        #[arg(long)]
        password: Option<String>,
    },
    /// Call the API with a SigV4-signed request and print the answer.
    #[command(override_usage = "aws-rust-http-api call [OPTIONS] [METHOD] PATH")]
    Call {
        /// [METHOD] PATH: the method (default GET, or POST with --data) and the path under the API
        /// URL, with an optional query string, e.g. `/private` or `PUT '/items/a b?x=1'`.
        #[arg(value_name = "METHOD_AND_PATH", num_args = 1..=2, required = true)]
        target: Vec<String>,
        /// Request body: the text itself, @FILE, or @- for standard input (content type
        /// application/json unless -H sets another).
        #[arg(short, long)]
        data: Option<String>,
        /// Extra header "Name: value" (signed too); repeatable.
        #[arg(short = 'H', long = "header", value_parser = crate::target::parse_header)]
        headers: Vec<(String, String)>,
        /// Print the status line and response headers before the body.
        #[arg(short, long)]
        include: bool,
    },
    /// Show the logged-in identity and when its credentials expire (renewing them if needed).
    Whoami,
    /// Delete the cached session.
    Logout,
}
