//! The data path between receivers and exporters: decoded OTLP payloads, the bounded [`buffer::Buffer`],
//! resource enrichment and the sidecar's own counters.

pub mod buffer;
pub mod payload;
pub mod resource;
pub mod stats;

pub use buffer::{Buffer, Entry, SharedBuffer};
pub use payload::{Payload, Signal};
