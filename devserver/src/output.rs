//! Child process output: each line of a child's stdout and stderr (as lambda-env captures them) is
//! copied to the runner's stdout with the process's name in front (`[bootstrap] …`,
//! `[otel-sidecar] …`), one `write` per line so lines of different processes never interleave.

use std::io::Write;

/// Writes `line` to stdout with `[process] ` in front.
pub fn print(line: &lambda_env::OutputLine) {
    let text = format!("[{}] {}\n", line.process, line.line);
    // Nowhere to report a closed stdout to: the runner is going away.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
