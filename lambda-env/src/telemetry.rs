//! The Telemetry API's delivery side: subscriptions validated as Lambda does, one batching task per
//! subscriber (LMI RIE `internal/telemetry/internal/subscriber.go` `eventConsumerLoop` and `batch.go`:
//! a batch starts with its first event, goes out when full or `timeoutMs` after that event), batches
//! POSTed as a JSON array to the destination with `sandbox.localdomain` replaced by 127.0.0.1
//! (`client.go` `newHTTPClient`). Subscribers get every event since the current init started, so one
//! that subscribes during init still gets `platform.initStart`.

use crate::event::{Event, EventLog};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Schema versions Lambda accepts for `PUT /2022-07-01/telemetry` (records follow 2022-12-13).
pub const SCHEMA_VERSIONS: [&str; 2] = ["2022-07-01", "2022-12-13"];

/// Buffering limits (the subscription schema in the LMI RIE's `schema/telemetry-subscription-schema.json`)
/// and defaults (`subscription_api.go` `Subscribe`).
const MAX_ITEMS: (i64, i64, usize) = (1000, 10_000, 10_000);
const MAX_BYTES: (i64, i64, usize) = (262_144, 1_048_576, 262_144);
const TIMEOUT_MS: (i64, i64, u64) = (25, 30_000, 1000);

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscribeError {
    /// 400 `ValidationError`.
    #[error("{0}")]
    Validation(String),
    /// 403 `Telemetry.SubscriptionClosed`: init is over.
    #[error("Telemetry API subscription is closed")]
    Closed,
}

/// One batch POSTed to a subscriber.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The subscriber's extension name.
    pub extension: String,
    /// The event types in the batch, in order.
    pub types: Vec<String>,
    /// When its first event was queued (the batch's timeout runs from here).
    pub first_event_at: Instant,
    /// When the POST was started.
    pub sent_at: Instant,
    /// When the POST was answered (or failed).
    pub answered_at: Instant,
    /// The HTTP status, or why there was none.
    pub result: Result<u16, String>,
}

/// A validated subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// The streams subscribed to: `platform`, `function`, `extension`.
    pub types: Vec<String>,
    /// Where batches go: the destination URI with `sandbox.localdomain` replaced by 127.0.0.1.
    pub url: String,
    /// `buffering.maxItems`: events per batch (1000..=10000, default 10000).
    pub max_items: usize,
    /// `buffering.maxBytes`: bytes per batch (262144..=1048576, default 262144).
    pub max_bytes: usize,
    /// `buffering.timeoutMs`: how long a batch waits after its first event (25 ms..=30 s, default 1 s).
    pub timeout: Duration,
}

enum Command {
    Event(Value, usize),
    Flush(oneshot::Sender<()>),
}

struct Subscriber {
    types: Vec<String>,
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Default)]
struct Inner {
    subscribers: Vec<Subscriber>,
    /// Index in the event log where the current init started (replayed to new subscribers).
    replay_from: usize,
}

#[derive(Default)]
pub(crate) struct Telemetry {
    inner: Mutex<Inner>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Telemetry {
    /// Logs `event` and queues it for every subscriber of its stream (one lock: a subscription
    /// made meanwhile sees it exactly once, by replay or live).
    pub fn publish_logged(&self, log: &EventLog, event: &Event) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        log.push(event.clone());
        send(&inner.subscribers, event);
    }

    /// Starts a new init's replay window and forgets the previous subscribers (rapid `reinitialize`
    /// clears the subscriptions).
    pub fn reset(&self, log: &EventLog) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.subscribers.clear();
        inner.replay_from = log.len();
    }

    /// Subscribes extension `name` with the request body `body`.
    pub fn subscribe(
        &self,
        log: &EventLog,
        name: &str,
        body: &[u8],
    ) -> Result<Vec<String>, SubscribeError> {
        let subscription = validate(body)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let subscriber = Subscriber {
            types: subscription.types.clone(),
            tx,
        };
        for event in log.since(inner.replay_from) {
            send(std::slice::from_ref(&subscriber), &event);
        }
        inner.subscribers.push(subscriber);
        let types = subscription.types.clone();
        tokio::spawn(batcher(
            name.to_owned(),
            subscription,
            rx,
            self.deliveries.clone(),
        ));
        Ok(types)
    }

    /// Sends every subscriber's open batch now and waits for the POSTs, up to `deadline`.
    pub async fn flush(&self, deadline: Instant) {
        let waits: Vec<oneshot::Receiver<()>> = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner
                .subscribers
                .iter()
                .filter_map(|s| {
                    let (done, wait) = oneshot::channel();
                    s.tx.send(Command::Flush(done)).ok().map(|()| wait)
                })
                .collect()
        };
        for wait in waits {
            let _ = tokio::time::timeout_at(deadline.into(), wait).await;
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn send(subscribers: &[Subscriber], event: &Event) {
    let category = event.category();
    let json = event.to_json();
    let size = json.to_string().len();
    for subscriber in subscribers
        .iter()
        .filter(|s| s.types.iter().any(|t| t == category))
    {
        let _ = subscriber.tx.send(Command::Event(json.clone(), size));
    }
}

/// Validates a subscription request as Lambda does.
pub fn validate(body: &[u8]) -> Result<Subscription, SubscribeError> {
    let invalid = |m: String| SubscribeError::Validation(m);
    let request: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid JSON: {e}")))?;
    let version = request["schemaVersion"].as_str().unwrap_or_default();
    if !SCHEMA_VERSIONS.contains(&version) {
        return Err(invalid(format!(
            "schemaVersion must be one of {SCHEMA_VERSIONS:?}, got {:?}",
            request["schemaVersion"]
        )));
    }
    let types: Vec<String> = request["types"]
        .as_array()
        .ok_or_else(|| invalid("types must be an array".into()))?
        .iter()
        .map(|t| match t.as_str() {
            Some(t @ ("platform" | "function" | "extension")) => Ok(t.to_owned()),
            _ => Err(invalid(format!("unknown type {t}"))),
        })
        .collect::<Result<_, _>>()?;
    if types.is_empty() {
        return Err(invalid("types must not be empty".into()));
    }
    let destination = &request["destination"];
    if destination["protocol"] != "HTTP" {
        return Err(invalid(format!(
            "destination.protocol must be HTTP (lambda-env does not deliver over TCP), got {}",
            destination["protocol"]
        )));
    }
    let uri = destination["URI"]
        .as_str()
        .ok_or_else(|| invalid("destination.URI is required".into()))?;
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("destination.URI must be http://: {uri}")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| invalid(format!("destination.URI needs a port: {uri}")))?;
    if host != "sandbox.localdomain" && host != "sandbox" {
        return Err(invalid(
            "destination.URI host must be sandbox.localdomain".into(),
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(format!("bad port in destination.URI: {uri}")))?;
    let buffering = &request["buffering"];
    let limit = |key: &str, (min, max, default): (i64, i64, u64)| -> Result<u64, SubscribeError> {
        match &buffering[key] {
            Value::Null => Ok(default),
            v => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(n as u64),
                _ => Err(invalid(format!(
                    "buffering.{key} must be an integer in {min}..={max}, got {v}"
                ))),
            },
        }
    };
    let max_items = limit("maxItems", (MAX_ITEMS.0, MAX_ITEMS.1, MAX_ITEMS.2 as u64))?;
    let max_bytes = limit("maxBytes", (MAX_BYTES.0, MAX_BYTES.1, MAX_BYTES.2 as u64))?;
    let timeout_ms = limit("timeoutMs", TIMEOUT_MS)?;
    Ok(Subscription {
        types,
        url: format!("http://127.0.0.1:{port}{path}"),
        max_items: max_items as usize,
        max_bytes: max_bytes as usize,
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// One subscriber's batching loop.
async fn batcher(
    extension: String,
    subscription: Subscription,
    mut rx: mpsc::UnboundedReceiver<Command>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
) {
    // A fresh connection per batch: a listener that closes its connections (or was frozen with one
    // open) never gets a batch on a connection it already dropped.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default();
    let mut batch: Vec<Value> = Vec::new();
    let mut bytes = 0;
    let mut first_at: Option<Instant> = None;
    loop {
        let command = match first_at {
            Some(first) => {
                let flush_at = first + subscription.timeout;
                tokio::select! {
                    command = rx.recv() => command,
                    () = tokio::time::sleep_until(flush_at.into()) => {
                        post(&client, &extension, &subscription.url, std::mem::take(&mut batch), first, &deliveries).await;
                        bytes = 0;
                        first_at = None;
                        continue;
                    }
                }
            }
            None => rx.recv().await,
        };
        match command {
            Some(Command::Event(event, size)) => {
                let first = *first_at.get_or_insert_with(Instant::now);
                batch.push(event);
                bytes += size;
                if batch.len() >= subscription.max_items || bytes >= subscription.max_bytes {
                    post(
                        &client,
                        &extension,
                        &subscription.url,
                        std::mem::take(&mut batch),
                        first,
                        &deliveries,
                    )
                    .await;
                    bytes = 0;
                    first_at = None;
                }
            }
            Some(Command::Flush(done)) => {
                if let Some(first) = first_at.take() {
                    post(
                        &client,
                        &extension,
                        &subscription.url,
                        std::mem::take(&mut batch),
                        first,
                        &deliveries,
                    )
                    .await;
                    bytes = 0;
                }
                let _ = done.send(());
            }
            None => return,
        }
    }
}

async fn post(
    client: &reqwest::Client,
    extension: &str,
    url: &str,
    batch: Vec<Value>,
    first_event_at: Instant,
    deliveries: &Mutex<Vec<Delivery>>,
) {
    let types = batch
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    let body = json!(batch).to_string();
    let sent_at = Instant::now();
    let result = client
        .post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string());
    if let Err(error) = &result {
        tracing::warn!(message = "Telemetry API batch not delivered", extension, %error);
    }
    deliveries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Delivery {
            extension: extension.to_owned(),
            types,
            first_event_at,
            sent_at,
            answered_at: Instant::now(),
            result,
        });
}

#[cfg(test)]
mod tests;
