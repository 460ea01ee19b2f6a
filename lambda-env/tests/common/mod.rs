//! Shared by lambda-env's tests: the fixture runtime/extension (`src/bin/fixture.rs`) as processes
//! with the names Lambda would give them, and reading their stamped output.

#![allow(dead_code)]
// Test support: a failed unwrap fails the test that called it.
#![allow(clippy::unwrap_used)]

use lambda_env::{Config, Process, Sandbox};
use std::path::PathBuf;

pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lambda-env-fixture"))
}

/// The fixture as the runtime.
pub fn runtime() -> Process {
    Process::new(fixture())
        .name("bootstrap")
        .env("FIXTURE_ROLE", "runtime")
}

/// The fixture as an extension called `name` (a symlink in `dir`: an extension's name is its file
/// name).
pub fn extension(dir: &tempfile::TempDir, name: &str) -> Process {
    let path = dir.path().join(name);
    if !path.exists() {
        std::os::unix::fs::symlink(fixture(), &path).unwrap();
    }
    Process::new(path).env("FIXTURE_ROLE", "extension")
}

pub fn config() -> Config {
    Config {
        function_name: "lambda-env-test".into(),
        memory_mb: 256,
        timeout: std::time::Duration::from_secs(20),
        echo_output: true,
        ..Config::default()
    }
}

/// The Unix-microsecond stamps of `process`'s lines starting with `word` (e.g. `next`).
pub fn stamps(sandbox: &Sandbox, process: &str, word: &str) -> Vec<i64> {
    sandbox
        .output_of(process)
        .iter()
        .filter_map(|line| line.strip_prefix(&format!("{word} ")))
        .filter_map(|rest| rest.split_whitespace().next_back()?.parse().ok())
        .collect()
}

/// Lines of `process` starting with `word`.
pub fn lines(sandbox: &Sandbox, process: &str, word: &str) -> Vec<String> {
    sandbox
        .output_of(process)
        .into_iter()
        .filter(|line| line.starts_with(&format!("{word} ")))
        .collect()
}

/// Waits until `process` printed `count` lines starting with `word` (output arrives through a pipe).
pub async fn wait_lines(sandbox: &Sandbox, process: &str, word: &str, count: usize) -> Vec<String> {
    for _ in 0..2000 {
        let found = lines(sandbox, process, word);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!(
        "{process} never printed {count} `{word}` lines: {:#?}",
        sandbox.output_of(process)
    );
}
