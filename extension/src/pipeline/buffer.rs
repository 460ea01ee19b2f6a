//! The bounded buffer between receivers and exporters.
//!
//! Entries hold the *encoded* protobuf request (what was received, or its re-encoding for JSON and gRPC),
//! not decoded structs, which take several times more memory; so the cap really bounds memory. When a push would exceed the cap, the oldest
//! entries are evicted until it fits; every evicted span, data point and log record is counted per signal
//! (the counts are exported as `otel_sidecar.dropped` and logged at the next flush). Data handed back after
//! a failed export goes to the front (it is the oldest), so it is also the first to be evicted.

use super::payload::Payload;
use super::signal::{PerSignal, Signal};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The buffer as shared by receivers (push) and the flusher (drain).
#[derive(Debug, Clone)]
pub struct SharedBuffer(Arc<Mutex<Buffer>>);

impl SharedBuffer {
    /// An empty buffer holding at most `cap_bytes`.
    pub fn new(cap_bytes: usize) -> Self {
        Self(Arc::new(Mutex::new(Buffer::new(cap_bytes))))
    }

    /// Locks the buffer (critical sections are short and never await).
    pub fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A panic aborts the process (release profile), so a poisoned lock still holds consistent data.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One buffered request: an encoded Export*ServiceRequest of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The signal of the request in `body`: which OTLP path it is exported to.
    pub signal: Signal,
    /// The encoded request; requests of one signal concatenate into a valid merged request.
    pub body: Bytes,
    /// Encoded size counted against the cap (`body.len()`).
    pub bytes: usize,
    /// Spans, data points or log records in it.
    pub items: u64,
    /// Already shown by the console exporter (set when data is kept for a retry).
    pub printed: bool,
}

impl Entry {
    /// Encodes a payload.
    pub fn new(payload: &Payload) -> Self {
        Self::encoded(
            payload.signal(),
            Bytes::from(payload.encode_request()),
            payload.item_count(),
        )
    }

    /// Wraps an already encoded request of `signal` holding `items` items.
    pub fn encoded(signal: Signal, body: Bytes, items: u64) -> Self {
        Self {
            signal,
            bytes: body.len(),
            body,
            items,
            printed: false,
        }
    }

    /// Decodes the request (for enrichment and the console).
    pub fn decode(&self) -> Result<Payload, prost::DecodeError> {
        Payload::decode(self.signal, &self.body)
    }
}

/// FIFO of payloads under a byte cap.
#[derive(Debug)]
pub struct Buffer {
    entries: VecDeque<Entry>,
    bytes: usize,
    cap: usize,
    dropped: PerSignal<u64>,
}

impl Buffer {
    /// An empty buffer holding at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            cap,
            dropped: PerSignal::default(),
        }
    }

    /// Appends newly received data, evicting the oldest entries if needed. An entry larger than the
    /// whole cap is itself dropped (receivers reject such requests before they get here).
    pub fn push(&mut self, entry: Entry) {
        if entry.bytes > self.cap {
            self.count_drop(&entry);
            return;
        }
        self.make_room(entry.bytes);
        self.bytes += entry.bytes;
        self.entries.push_back(entry);
    }

    /// Puts back entries whose export failed, in their original order, ahead of newer data. If they do not
    /// all fit, the oldest of them are dropped and counted.
    pub fn restore(&mut self, entries: Vec<Entry>) {
        for entry in entries.into_iter().rev() {
            if self.bytes + entry.bytes > self.cap {
                // Everything still to restore is older than what is buffered: it is what goes first.
                self.count_drop(&entry);
                continue;
            }
            self.bytes += entry.bytes;
            self.entries.push_front(entry);
        }
    }

    /// Takes everything out.
    pub fn drain(&mut self) -> Vec<Entry> {
        self.bytes = 0;
        self.entries.drain(..).collect()
    }

    /// Whether no entry is buffered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes currently accounted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many entries (requests) are buffered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Total items dropped so far, per signal.
    pub fn dropped(&self) -> PerSignal<u64> {
        self.dropped
    }

    fn make_room(&mut self, incoming: usize) {
        while self.bytes + incoming > self.cap {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes;
            self.count_drop(&oldest);
        }
    }

    fn count_drop(&mut self, entry: &Entry) {
        self.dropped[entry.signal] += entry.items;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn spans(n: usize, name_len: usize) -> Entry {
        let span = Span {
            name: "x".repeat(name_len),
            ..Default::default()
        };
        Entry::new(&Payload::Traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span; n],
                ..Default::default()
            }],
            ..Default::default()
        }]))
    }

    #[test]
    fn accounts_bytes_exactly() {
        let mut buffer = Buffer::new(1 << 20);
        let (a, b) = (spans(2, 10), spans(3, 20));
        let total = a.bytes + b.bytes;
        buffer.push(a);
        buffer.push(b);
        assert_eq!(buffer.bytes(), total);
        assert_eq!(buffer.len(), 2);
        let drained = buffer.drain();
        assert_eq!(drained.iter().map(|e| e.bytes).sum::<usize>(), total);
        assert_eq!((buffer.bytes(), buffer.len()), (0, 0));
    }

    #[test]
    fn entry_size_matches_the_encoded_request() {
        let entry = spans(3, 17);
        assert_eq!(entry.bytes, entry.decode().unwrap().encoded_len());
    }

    #[test]
    fn evicts_oldest_first_and_counts_items() {
        let one = spans(1, 100).bytes;
        let mut buffer = Buffer::new(one * 3);
        for _ in 0..3 {
            buffer.push(spans(1, 100));
        }
        assert_eq!(buffer.dropped(), PerSignal::default());
        buffer.push(spans(1, 100));
        assert_eq!(buffer.dropped()[Signal::Traces], 1);
        assert_eq!(buffer.len(), 3);
        assert!(buffer.bytes() <= one * 3);
        // A bigger entry evicts as many as needed.
        buffer.push(spans(2, 100));
        assert_eq!(buffer.dropped()[Signal::Traces], 3);
        assert_eq!(buffer.len(), 2);
    }

    #[test]
    fn drops_are_counted_under_the_dropped_entrys_own_signal() {
        let entry = |signal, items| Entry::encoded(signal, Bytes::from(vec![0; 60]), items);
        let mut buffer = Buffer::new(100);
        buffer.push(entry(Signal::Metrics, 2));
        buffer.push(entry(Signal::Logs, 3));
        buffer.push(entry(Signal::Traces, 5));
        buffer.push(entry(Signal::Traces, 7));
        let dropped = buffer.dropped();
        assert_eq!(
            (
                dropped[Signal::Metrics],
                dropped[Signal::Logs],
                dropped[Signal::Traces]
            ),
            (2, 3, 5)
        );
    }

    #[test]
    fn an_entry_larger_than_the_cap_is_dropped_and_counted() {
        let mut buffer = Buffer::new(64);
        buffer.push(spans(4, 100));
        assert!(buffer.is_empty());
        assert_eq!(buffer.dropped()[Signal::Traces], 4);
    }

    #[test]
    fn restored_entries_go_first_and_are_the_first_dropped() {
        let one = spans(1, 50).bytes;
        let mut buffer = Buffer::new(one * 3 + 2);
        let old = vec![spans(1, 50), spans(1, 50)];
        buffer.push(spans(1, 51)); // newer data, slightly bigger so we can tell them apart
        buffer.push(spans(1, 51));
        buffer.restore(old);
        // Room for only one of the two restored entries: the older one is dropped.
        assert_eq!(buffer.dropped()[Signal::Traces], 1);
        let drained = buffer.drain();
        assert_eq!(drained.len(), 3);
        assert_eq!(drained[0].bytes, one);
        assert!(drained[1].bytes > one);
    }
}
