//! The aws-rust-http-api command-line client: Cognito User Pool sign-up and login (SRP), Identity
//! Pool credentials, and SigV4-signed calls to the IAM-protected HTTP API.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`commands`].

pub mod aws;
pub mod cli;
pub mod cognito;
pub mod commands;
pub mod http;
pub mod identity;
pub mod password;
pub mod secret;
pub mod session;
pub mod settings;
pub mod sigv4;
pub mod srp;
pub mod stack;
pub mod target;
