//! Child process output: each line of a child's stdout and stderr is copied to the runner's stdout
//! with the process's name in front (`[bootstrap] …`, `[otel-sidecar] …`), one `write` per line so
//! lines of different processes never interleave.

use std::io::{BufRead, BufReader, Read, Write};
use std::thread::JoinHandle;

/// Copies `source` line by line to stdout with `[name] ` in front, until it closes.
pub fn relay(name: &str, source: impl Read + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    let prefix = format!("[{name}] ");
    std::thread::Builder::new()
        .name(format!("relay-{name}"))
        .spawn(move || {
            let mut reader = BufReader::new(source);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.last() != Some(&b'\n') {
                            line.push(b'\n');
                        }
                        let mut out = Vec::with_capacity(prefix.len() + line.len());
                        out.extend_from_slice(prefix.as_bytes());
                        out.extend_from_slice(&line);
                        // Nowhere to report a closed stdout to: the runner is going away.
                        let _ = std::io::stdout().lock().write_all(&out);
                    }
                }
            }
        })
}
