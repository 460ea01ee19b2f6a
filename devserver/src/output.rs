//! Output with the process's name in front of every line: each line of a child's stdout and stderr (as
//! lambda-env captures them) is copied to the runner's stdout as `[bootstrap] …`, `[otel-sidecar] …`,
//! and the runner's own log lines go to stderr as `[devserver] …`; one `write` per line so lines of
//! different processes never interleave.

use std::io::Write;

/// Writes `line` to stdout with `[process] ` in front.
pub fn print(line: &lambda_env::OutputLine) {
    let text = format!("[{}] {}\n", line.process, line.line);
    // Nowhere to report a closed stdout to: the runner is going away.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The runner's own name, in front of its log lines.
pub const OWN_NAME: &str = "devserver";

/// A `tracing_subscriber` writer: stderr, with `[devserver] ` in front of each event. The fmt layer
/// hands over one whole formatted event per `write`, so every call is one line (or a few, for a
/// multi-line message, of which only the first is prefixed).
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnLines;

impl Write for OwnLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut line = Vec::with_capacity(OWN_NAME.len() + 3 + buf.len());
        line.extend_from_slice(format!("[{OWN_NAME}] ").as_bytes());
        line.extend_from_slice(buf);
        std::io::stderr().lock().write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for OwnLines {
    type Writer = OwnLines;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
