//! The data path between receivers and exporters: the signals and per-signal data, decoded OTLP
//! payloads, the bounded [`buffer::Buffer`], resource enrichment, the sidecar's own counters, and the
//! builders for the OTLP data it creates itself.

pub mod attributes;
pub mod buffer;
pub mod histogram;
pub mod metric_points;
pub mod payload;
pub mod resource;
pub mod signal;
pub mod stats;

pub use buffer::{Buffer, Entry, SharedBuffer};
pub use payload::Payload;
pub use signal::{PerSignal, Signal};
