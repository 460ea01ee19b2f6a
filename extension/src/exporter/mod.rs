//! Exporters: where drained buffer entries go. [`Exporters::export`] merges entries per signal into
//! size-bounded requests, adds the resource attributes, prints the console summary and sends to the
//! OTLP/HTTP backend; what could not be delivered for a retryable reason is handed back to be buffered.

pub mod console;
pub mod otlp;
pub mod retry;

use crate::pipeline::resource::Enricher;
use crate::pipeline::stats::Stats;
use crate::pipeline::{Entry, Payload, PerSignal, Signal};
use bytes::{Bytes, BytesMut};
use console::Console;
use otlp::{OtlpExporter, SendOutcome};
use std::sync::Arc;
use tokio::time::Instant;

/// Where exported data goes: the OTLP exporter (with an endpoint), the console summary, or both.
#[derive(Debug)]
pub struct Exporters {
    otlp: Option<OtlpExporter>,
    console: Option<Console>,
    stats: Arc<Stats>,
    max_request_bytes: usize,
}

impl Exporters {
    /// `otlp` (if any) and/or the console; requests are split to stay near `max_request_bytes`.
    pub fn new(
        otlp: Option<OtlpExporter>,
        console: bool,
        stats: Arc<Stats>,
        max_request_bytes: usize,
    ) -> Self {
        Self {
            otlp,
            console: console.then(Console::default),
            stats,
            max_request_bytes,
        }
    }

    /// Whether data is sent over the network (so exports take time).
    pub fn is_remote(&self) -> bool {
        self.otlp.is_some()
    }

    /// Exports `entries`; returns the ones to keep for a later attempt (retryable failures).
    pub async fn export(
        &self,
        mut entries: Vec<Entry>,
        enricher: &Enricher,
        deadline: Option<Instant>,
    ) -> Vec<Entry> {
        if let Some(console) = &self.console {
            let fresh: Vec<Payload> = entries
                .iter()
                .filter(|e| !e.printed)
                .filter_map(|e| e.decode().ok())
                .collect();
            console.print(&fresh.iter().collect::<Vec<_>>());
            entries.iter_mut().for_each(|e| e.printed = true);
        }
        let Some(otlp) = &self.otlp else {
            return Vec::new();
        };
        let mut per_signal: PerSignal<Vec<Entry>> = PerSignal::default();
        for entry in entries {
            per_signal[entry.signal].push(entry);
        }
        // The signals concurrently; what is kept comes back in the canonical order (Signal::ALL).
        let [first, second, third] = Signal::ALL.map(|signal| {
            let entries = std::mem::take(&mut per_signal[signal]);
            self.export_signal(otlp, signal, entries, enricher, deadline)
        });
        let (first, second, third) = tokio::join!(first, second, third);
        [first, second, third].concat()
    }

    async fn export_signal(
        &self,
        otlp: &OtlpExporter,
        signal: Signal,
        entries: Vec<Entry>,
        enricher: &Enricher,
        deadline: Option<Instant>,
    ) -> Vec<Entry> {
        let mut kept = Vec::new();
        for chunk in chunks(entries, self.max_request_bytes.min(CHUNK_BYTES)) {
            if !kept.is_empty() {
                // The backend just failed for this signal: keep the rest without hammering it.
                kept.push(chunk);
                continue;
            }
            let items = chunk.items;
            // Decoded only for the time of one request, to merge in the resource attributes.
            let mut payload = match chunk.decode() {
                Ok(payload) => payload,
                Err(error) => {
                    // Cannot happen for data we validated on receipt; never send what we cannot read.
                    tracing::error!(message = "buffered telemetry unreadable; dropped", signal = signal.as_str(), items, %error);
                    self.stats.record_rejected(signal, items);
                    continue;
                }
            };
            enricher.apply(&mut payload);
            let body = payload.encode_request();
            drop(payload);
            match otlp.send(signal, body.clone(), deadline).await {
                SendOutcome::Delivered { rejected } => {
                    if rejected > 0 {
                        self.stats.record_rejected(signal, rejected);
                    }
                }
                SendOutcome::Permanent(reason) => {
                    tracing::error!(message = "backend refused telemetry; dropped", signal = signal.as_str(), items, reason = %reason);
                    self.stats.record_rejected(signal, items);
                }
                SendOutcome::Retryable(reason) => {
                    tracing::warn!(message = "export failed; telemetry kept for a later flush", signal = signal.as_str(), items, reason = %reason);
                    let mut kept_entry = Entry::encoded(signal, Bytes::from(body), items);
                    kept_entry.printed = true;
                    kept.push(kept_entry);
                }
            }
        }
        kept
    }
}

/// Largest merged request: bounds the transient memory of decoding one chunk for enrichment.
const CHUNK_BYTES: usize = 1 << 20;

/// Merges consecutive entries (one signal) into entries of about `max_bytes` at most. Encoded requests of
/// one type concatenate into a valid request holding all their resources (protobuf repeated fields).
fn chunks(entries: Vec<Entry>, max_bytes: usize) -> Vec<Entry> {
    let mut out: Vec<(Signal, BytesMut, u64, bool)> = Vec::new();
    for entry in entries {
        match out.last_mut() {
            Some((signal, body, items, printed))
                if *signal == entry.signal && body.len() + entry.bytes <= max_bytes =>
            {
                body.extend_from_slice(&entry.body);
                *items += entry.items;
                *printed &= entry.printed;
            }
            _ => out.push((
                entry.signal,
                BytesMut::from(&entry.body[..]),
                entry.items,
                entry.printed,
            )),
        }
    }
    out.into_iter()
        .map(|(signal, body, items, printed)| Entry {
            printed,
            ..Entry::encoded(signal, body.freeze(), items)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn entry(name_len: usize) -> Entry {
        Entry::new(&Payload::Traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "x".repeat(name_len),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }]))
    }

    #[test]
    fn chunks_merge_up_to_the_size_and_keep_every_item() {
        let one = entry(100).bytes;
        let merged = chunks((0..5).map(|_| entry(100)).collect(), one * 2);
        assert_eq!(merged.len(), 3);
        assert_eq!(
            merged
                .iter()
                .map(|e| e.decode().unwrap().item_count())
                .sum::<u64>(),
            5
        );
        assert_eq!(merged[0].bytes, merged[0].decode().unwrap().encoded_len());
        assert_eq!(merged.iter().map(|e| e.items).sum::<u64>(), 5);
    }
}
