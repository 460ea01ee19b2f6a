//! Formatting of the printed figures: percentiles, milliseconds, and the binary size table.

use std::path::Path;
use std::time::Duration;

/// The `p` quantile (0..=1) of `values` (sorts them).
pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

/// `d` in milliseconds with microsecond precision.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Prints the stripped size of each binary.
pub fn sizes(bins: &[&Path]) {
    println!("| binary | stripped size |\n|---|---|");
    for bin in bins {
        let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {} | {:.2} MB ({size} bytes) |",
            bin.file_name().unwrap_or_default().to_string_lossy(),
            size as f64 / 1e6
        );
    }
}
