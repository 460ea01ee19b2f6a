//! The hand-off's side of the wire: the connection to the sidecar, what its answers have shown (plain
//! OTLP receiver or otel-sidecar, and otel-sidecar's announced completion wait), and the circuit
//! breaker that records them.
//!
//! An invocation's hand-off is one request, `POST /otel-sidecar/v1/invocations/{id}/handoff` with the
//! metrics and the spans in one body (`sidecar-contract`). The sidecar buffers the metrics, then the
//! spans, then takes the invocation as finished, whether or not its trace was sampled.
//!
//! Once the endpoint has answered a hand-off 2xx announcing its completion wait (it is otel-sidecar:
//! `sidecar_contract::COMPLETION_WAIT_HEADER`), a hand-off made well within that wait and the
//! invocation's deadline is written and not waited for: the runtime calls `next` as soon as the request
//! is on the wire, and the answer is read at the start of the next hand-off (already there: the sidecar
//! answers before its own `next`, and the sandbox is not frozen before it calls `next`). Nothing can be
//! lost to the freeze: within its wait, the sidecar does not call `next` before it has the hand-off (or
//! Lambda's `runtimeDone`, which follows the runtime's `next`). The round trip leaves the runtime's
//! billed path (docs/benchmarks.md). A failure is then noticed one hand-off late: its spans are counted
//! as dropped and the breaker opens then, forgetting the announced wait, so the first hand-off, every
//! probe of the open breaker, a hand-off late in its invocation ([`UNAWAITED_MARGIN`]) and plain OTLP
//! wait for their answers.
//!
//! Plain OTLP is the fallback: when the endpoint answers the hand-off route 404, 405, 415 or 501 (an
//! OpenTelemetry Collector, a vendor's agent or proxy: any OTLP receiver that is not otel-sidecar and
//! so does not know the route; otel-sidecar itself never answers these to a well-formed hand-off), this
//! and every later hand-off sends `/v1/metrics`, then `/v1/traces` (whose SERVER span tells otel-sidecar
//! the invocation is complete), then, for an unsampled invocation, `POST …/{id}/finished`. The hand-off
//! at SIGTERM, which ends no invocation, is plain OTLP too. The first failed request ends a hand-off:
//! the rest is dropped, not sent into a second timeout.

use super::breaker::{Breaker, Decision, Failure};
use super::delivery::{Ending, Outcome};
use super::sidecar::{Answer, Endpoint, SidecarConnection};
use bytes::Bytes;
use prost::Message;
use sidecar_contract::{HANDOFF_CONTENT_TYPE, HandOff, InvocationId, Route};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::time::Instant as Deadline;

/// `Content-Type` of OTLP/HTTP protobuf requests.
const OTLP_PROTOBUF: &str = "application/x-protobuf";

/// The hand-off's connection to the sidecar and what its answers have shown.
#[derive(Debug)]
pub(super) struct Link {
    connection: SidecarConnection,
    breaker: Breaker,
    /// The endpoint answered the hand-off route as a receiver without it does (see
    /// [`NOT_OTEL_SIDECAR`]): it is not otel-sidecar, send plain OTLP.
    plain_otlp: bool,
    /// The completion wait otel-sidecar announced in its 2xx answer to the last hand-off it was sent;
    /// `None` before one, after any failure, or from a receiver that does not announce it: then every
    /// hand-off waits for its answer.
    sidecar_wait: Option<Duration>,
    /// Spans of the hand-off whose answer has not been read yet (dropped if it turns out a failure).
    unanswered_spans: usize,
}

/// How far within the sidecar's completion wait, and before the invocation's deadline, a hand-off must
/// be for the function not to wait for its answer: far more than a loopback write takes to reach the
/// sidecar, even on a CPU-throttled small function, so the sidecar is still waiting when it arrives.
pub const UNAWAITED_MARGIN: Duration = Duration::from_millis(250);

/// Whether the hand-off ending `ending` at `now` (`now_ms` on the wall clock) may be written without
/// waiting for its answer, otel-sidecar having announced that it waits `sidecar_wait` after INVOKE.
fn may_leave_answer(
    sidecar_wait: Option<Duration>,
    ending: &Ending<'_>,
    now: Instant,
    now_ms: u64,
) -> bool {
    let margin_ms = UNAWAITED_MARGIN.as_millis() as u64;
    sidecar_wait.is_some_and(|wait| {
        now.saturating_duration_since(ending.started) + UNAWAITED_MARGIN < wait
            && ending.deadline_ms > now_ms.saturating_add(margin_ms)
    })
}

/// `time` in ms since the Unix epoch.
fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// Answers to the hand-off route that mean "no such route here" (not found, method not allowed,
/// unsupported media type, not implemented): the endpoint is another OTLP receiver. Nothing was
/// accepted, so re-sending the same data as plain OTLP sends nothing twice.
const NOT_OTEL_SIDECAR: [u16; 4] = [404, 405, 415, 501];

/// One hand-off's encoded OTLP export requests.
pub(super) struct Encoded {
    /// An `ExportMetricsServiceRequest`, if any metric was recorded.
    pub(super) metrics: Option<Bytes>,
    /// An `ExportTraceServiceRequest`, if any span ended.
    pub(super) traces: Option<Bytes>,
}

impl Link {
    /// A link to the sidecar at `endpoint` (not connected yet), hand-offs bounded by `timeout`.
    pub(super) fn new(endpoint: Endpoint, timeout: Duration, breaker: Breaker) -> Link {
        Link {
            connection: SidecarConnection::new(endpoint, timeout),
            breaker,
            plain_otlp: false,
            sidecar_wait: None,
            unanswered_spans: 0,
        }
    }

    /// The deadline of a hand-off starting now.
    pub(super) fn deadline(&self) -> Deadline {
        self.connection.deadline()
    }

    /// The breaker's decision for a hand-off now.
    pub(super) fn decide(&mut self) -> Decision {
        self.breaker.decide(Instant::now())
    }

    /// Counts `spans` dropped without a hand-off.
    pub(super) fn dropped(&mut self, spans: usize) {
        self.breaker.dropped(spans);
    }

    /// Sends `encoded` (which holds `spans` spans), ending `ending`, by `deadline`: the hand-off route,
    /// its answer awaited or left for the next hand-off, or plain OTLP (always, for a hand-off that ends
    /// no invocation); and records the result in the breaker. Returns what happened and, unless it
    /// failed, how many requests were sent.
    pub(super) async fn deliver(
        &mut self,
        encoded: &Encoded,
        spans: usize,
        ending: Option<Ending<'_>>,
        deadline: Deadline,
    ) -> (Outcome, Option<u32>) {
        // A probe always waits: the failure that opened the breaker forgot the announced wait.
        let leave_answer = ending.is_some_and(|ending| {
            may_leave_answer(
                self.sidecar_wait,
                &ending,
                Instant::now(),
                unix_ms(SystemTime::now()),
            )
        });
        // A Lambda request id is always valid; anything else goes the plain way, which needs no id.
        let invocation = ending.and_then(|e| InvocationId::parse(e.id).ok());
        let result = match invocation {
            Some(id) if !self.plain_otlp => {
                self.deliver_in_one(encoded, &id, ending, !leave_answer, deadline)
                    .await
            }
            _ => self
                .deliver_plain(encoded, ending, deadline)
                .await
                .map(|requests| (Outcome::Delivered, requests)),
        };
        match result {
            Ok((Outcome::Sent, requests)) => {
                self.unanswered_spans = spans;
                (Outcome::Sent, Some(requests))
            }
            Ok((outcome, requests)) => {
                self.record(Ok(()), 0);
                (outcome, Some(requests))
            }
            Err(failure) => {
                self.record(Err(failure), spans);
                (Outcome::Failed, None)
            }
        }
    }

    /// Reads the answer to the previous hand-off if it was not awaited (by `deadline`), and records it.
    pub(super) async fn settle_previous(&mut self, deadline: Deadline) {
        if let Some(answer) = self.connection.answer(deadline).await {
            let spans = std::mem::take(&mut self.unanswered_spans);
            let result = match answer {
                Ok(Answer {
                    status: 200..=299,
                    completion_wait,
                }) => {
                    self.sidecar_wait = completion_wait;
                    Ok(())
                }
                Ok(Answer { status, .. }) => Err(Failure::Status(status)),
                Err(failure) => Err(failure),
            };
            self.record(result, spans);
        }
    }

    /// Records a hand-off's result in the breaker (and logs a change of its state); `spans` are what a
    /// failed hand-off dropped.
    pub(super) fn record(&mut self, result: Result<(), Failure>, spans: usize) {
        let now = Instant::now();
        let transition = match result {
            Ok(()) => self.breaker.succeeded(now),
            Err(failure) => {
                // The next hand-off (a probe) waits for its answer again.
                self.sidecar_wait = None;
                let transition = self.breaker.failed(now, failure);
                // Counted as dropped while open, the opening hand-off's spans included.
                self.breaker.dropped(spans);
                transition
            }
        };
        if let Some(transition) = transition {
            transition.log();
        }
    }

    /// The hand-off route: one request. Returns how many requests were sent.
    async fn deliver_in_one(
        &mut self,
        encoded: &Encoded,
        id: &InvocationId,
        ending: Option<Ending<'_>>,
        await_answer: bool,
        deadline: Deadline,
    ) -> Result<(Outcome, u32), Failure> {
        let body = HandOff {
            metrics: encoded.metrics.clone(),
            traces: encoded.traces.clone(),
        }
        .encode_to_vec();
        let path = Route::HandOff.path(id);
        self.connection
            .send(&path, Some(HANDOFF_CONTENT_TYPE), &body, deadline)
            .await?;
        if !await_answer {
            return Ok((Outcome::Sent, 1));
        }
        let answer = self.connection.answer(deadline).await;
        let answer =
            answer.unwrap_or_else(|| Err(Failure::Other("no answer awaited".to_owned())))?;
        match answer.status {
            200..=299 => {
                self.sidecar_wait = answer.completion_wait;
                Ok((Outcome::Delivered, 1))
            }
            status if NOT_OTEL_SIDECAR.contains(&status) => {
                // Nothing was accepted: sending it all the plain way now sends nothing twice.
                self.plain_otlp = true;
                tracing::info!(
                    status,
                    "the telemetry endpoint is not otel-sidecar (no hand-off route): handing off plain OTLP from now on"
                );
                Ok((
                    Outcome::Delivered,
                    1 + self.deliver_plain(encoded, ending, deadline).await?,
                ))
            }
            status => Err(Failure::Status(status)),
        }
    }

    /// Plain OTLP: metrics, then spans, then (unsampled invocation) the "finished" signal. Returns how
    /// many requests were sent.
    async fn deliver_plain(
        &mut self,
        encoded: &Encoded,
        ending: Option<Ending<'_>>,
        deadline: Deadline,
    ) -> Result<u32, Failure> {
        let mut requests = 0;
        for (path, body) in [
            ("/v1/metrics", &encoded.metrics),
            ("/v1/traces", &encoded.traces),
        ] {
            if let Some(body) = body {
                let status = self
                    .connection
                    .post(path, Some(OTLP_PROTOBUF), body, deadline)
                    .await?
                    .status;
                requests += 1;
                if !(200..300).contains(&status) {
                    return Err(Failure::Status(status));
                }
            }
        }
        let unsampled = ending.filter(|e| !e.sampled);
        if let Some(id) = unsampled.and_then(|e| InvocationId::parse(e.id).ok()) {
            let status = self
                .connection
                .post(&Route::Finished.path(&id), None, &[], deadline)
                .await?
                .status;
            requests += 1;
            if !(200..300).contains(&status) {
                // An OTLP receiver without this route (a plain collector): not a failure of the
                // hand-off, and it cost a fast answer only.
                tracing::debug!(status, "finished signal refused");
            }
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Option<Duration> = Some(Duration::from_secs(3));

    /// An invocation that started `ran` before `now`, with `left` until its deadline.
    fn ending(now: Instant, now_ms: u64, ran: Duration, left: Duration) -> Ending<'static> {
        Ending {
            id: "id",
            sampled: true,
            started: now - ran,
            deadline_ms: now_ms + left.as_millis() as u64,
        }
    }

    #[test]
    fn the_answer_is_left_only_well_within_the_sidecars_wait_and_the_deadline() {
        let (now, now_ms) = (Instant::now(), 1_700_000_000_000);
        let ms = Duration::from_millis;
        let leave =
            |wait, ran, left| may_leave_answer(wait, &ending(now, now_ms, ran, left), now, now_ms);
        assert!(leave(WAIT, ms(15), ms(10_000)), "a short invocation");
        assert!(
            !leave(None, ms(15), ms(10_000)),
            "not known to be otel-sidecar"
        );
        assert!(
            !leave(Some(Duration::ZERO), ms(15), ms(10_000)),
            "a sidecar that never waits"
        );
        assert!(
            !leave(WAIT, ms(2_800), ms(10_000)),
            "too close to the end of the sidecar's wait"
        );
        assert!(
            !leave(WAIT, ms(3_500), ms(10_000)),
            "past the sidecar's wait"
        );
        assert!(!leave(WAIT, ms(15), ms(200)), "too close to the deadline");
        assert!(leave(WAIT, ms(2_700), ms(300)), "just within both margins");
    }
}
