//! The shared state the API handlers and the lifecycle work on: who waits in `next`, what was
//! released to whom, the current invocation's answer, and change notification.

use crate::event::{Clock, Event, EventLog};
use crate::telemetry::Telemetry;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::{oneshot, watch};

/// A party that long-polls `next` (the runtime or an extension). rapid models the same with its
/// `Release()` gates (`core.Runtime`, `core.ExternalAgent`).
pub(crate) struct Party<T> {
    pending: Option<T>,
    tx: Option<oneshot::Sender<T>>,
    /// When it last called `next` and has not been given an event since.
    waiting_since: Option<Instant>,
    /// How many times it called `next`.
    pub nexts: u64,
}

impl<T> Default for Party<T> {
    fn default() -> Self {
        Party {
            pending: None,
            tx: None,
            waiting_since: None,
            nexts: 0,
        }
    }
}

impl<T> Party<T> {
    /// A `next` call: the event already released to it, or a receiver for the next one.
    pub fn next(&mut self, now: Instant) -> Result<T, oneshot::Receiver<T>> {
        self.nexts += 1;
        if let Some(event) = self.pending.take() {
            self.waiting_since = None;
            return Ok(event);
        }
        let (tx, rx) = oneshot::channel();
        self.tx = Some(tx);
        self.waiting_since = Some(now);
        Err(rx)
    }

    /// Gives it `event`: now if it waits in `next`, else at its next call.
    pub fn release(&mut self, event: T) {
        self.waiting_since = None;
        match self.tx.take() {
            Some(tx) => {
                if let Err(event) = tx.send(event) {
                    // Its `next` connection went away: the event waits for the next call.
                    self.pending = Some(event);
                }
            }
            None => self.pending = Some(event),
        }
    }

    /// Waiting in `next` right now (its connection still open).
    pub fn waiting(&self) -> Option<Instant> {
        match &self.tx {
            Some(tx) if !tx.is_closed() => self.waiting_since,
            _ => None,
        }
    }
}

/// What the runtime gets from `next`.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeEvent {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub function_arn: String,
    pub trace_header: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
}

/// A registered extension.
pub(crate) struct Extension {
    pub id: String,
    pub name: String,
    pub events: Vec<String>,
    /// Registered by a process the sandbox started (else an internal extension in rapid's terms).
    pub external: bool,
    pub party: Party<Value>,
}

/// How the runtime answered the current invocation.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
}

/// The invocation in progress.
pub(crate) struct Current {
    pub request_id: String,
    pub answer: Option<Answer>,
    /// The runtime started sending its answer (its POST arrived) and finished (body read).
    pub answer_started: Option<Instant>,
    pub answer_finished: Option<Instant>,
}

/// An error a party reported through `init/error` or `exit/error`.
#[derive(Clone, Debug)]
pub struct ReportedError {
    /// `runtime`, or the name of the extension that reported it.
    pub by: String,
    /// Its `Lambda-Runtime-Function-Error-Type` / `Lambda-Extension-Function-Error-Type` header.
    pub error_type: String,
    /// The request body (the error document), lossily decoded as UTF-8.
    pub body: String,
}

#[derive(Default)]
pub(crate) struct State {
    pub registration_open: bool,
    pub subscriptions_open: bool,
    pub runtime: Party<RuntimeEvent>,
    pub extensions: Vec<Extension>,
    pub current: Option<Current>,
    pub init_error: Option<ReportedError>,
    pub exit_errors: Vec<ReportedError>,
    /// Processes that exited: name, pid, status text.
    pub exits: Vec<(String, u32, String)>,
    pub shutting_down: bool,
    /// Names of the extension processes the sandbox starts (their registrations are external).
    pub external_names: Vec<String>,
}

impl State {
    pub fn extension_mut(&mut self, id: &str) -> Option<&mut Extension> {
        self.extensions.iter_mut().find(|e| e.id == id)
    }

    /// Every extension subscribed to `event` waits in `next` (latest arrival), or None.
    pub fn extensions_waiting(&self) -> Option<Option<Instant>> {
        let mut latest = None;
        for extension in &self.extensions {
            let at = extension.party.waiting()?;
            latest = latest.max(Some(at));
        }
        Some(latest)
    }
}

/// Shared between the HTTP handlers, the lifecycle and the sandbox handle.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    changed: watch::Sender<u64>,
    pub events: EventLog,
    pub telemetry: Telemetry,
    pub clock: Clock,
    /// Every output line of every process.
    pub output: Mutex<Vec<crate::config::OutputLine>>,
    pub function_name: String,
    pub function_version: String,
    pub handler: String,
    pub account_id: String,
    pub function_arn: String,
}

impl Shared {
    pub fn new(config: &crate::Config) -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
            events: EventLog::default(),
            telemetry: Telemetry::default(),
            clock: Clock::new(),
            output: Mutex::new(Vec::new()),
            function_name: config.function_name.clone(),
            function_version: config.function_version.clone(),
            handler: config.handler.clone(),
            account_id: config.account_id.clone(),
            function_arn: config.function_arn(),
        }
    }

    /// Runs `f` on the state under its lock (a lock poisoned by a panicking holder is still read).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the state and wakes every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    /// Waits until `f` returns Some (checked at every state change), or until `deadline`.
    pub async fn wait_for<R>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&State) -> Option<R>,
    ) -> Option<R> {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(result) = self.read(&mut f) {
                return Some(result);
            }
            match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline.into(), rx.changed()).await {
                        Ok(Ok(())) => {}
                        _ => return self.read(&mut f),
                    }
                }
                None => {
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Emits an event: logged, and queued for the Telemetry API subscribers.
    pub fn emit(&self, at: Instant, event_type: &str, record: Value) -> Event {
        let event = Event {
            time: self.clock.wall(at),
            event_type: event_type.to_owned(),
            record,
        };
        self.telemetry.publish_logged(&self.events, &event);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_released_before_next_waits_for_it_and_one_after_goes_to_the_waiter() {
        let now = Instant::now();
        let mut party = Party::<u32>::default();
        party.release(1);
        assert_eq!(
            party.next(now).ok(),
            Some(1),
            "pending event handed over at once"
        );
        assert!(party.waiting().is_none());
        let mut rx = party.next(now).expect_err("nothing pending: waits");
        assert_eq!(party.waiting(), Some(now));
        party.release(2);
        assert_eq!(rx.try_recv().ok(), Some(2));
        assert!(party.waiting().is_none(), "busy once it has an event");
        assert_eq!(party.nexts, 2);
    }

    #[test]
    fn an_event_for_a_dropped_next_call_waits_for_the_next_one() {
        let now = Instant::now();
        let mut party = Party::<u32>::default();
        drop(party.next(now).expect_err("waits"));
        assert!(
            party.waiting().is_none(),
            "its connection is gone: not waiting"
        );
        party.release(7);
        assert_eq!(party.next(now).ok(), Some(7));
    }
}
