//! An invocation (`internal/lambda/rapid/handlers.go` `doInvoke`): `platform.start`, INVOKE
//! released, the response, the runtime's next `next`, `platform.runtimeDone`, the extensions' `next`.

use super::reset::interrupted;
use super::{Inner, Interrupt};
use crate::error::Error;
use crate::event::{ms, span, tracing};
use crate::process::Kind;
use crate::sandbox::{Finished, Invoke, Outcome};
use crate::state::{Answer, Current, RuntimeEvent, State};
use crate::xray::TraceHeader;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

impl Inner {
    /// Waits for `f`, a process of this environment dying, or `deadline`.
    async fn wait<R>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&State) -> Option<R>,
    ) -> Result<R, Interrupt> {
        let processes: Vec<(u32, String, Kind)> = self
            .live()
            .iter()
            .map(|p| (p.pid, p.name.clone(), p.kind))
            .collect();
        self.shared
            .wait_for(Some(deadline), |s| {
                if let Some(r) = f(s) {
                    return Some(Ok(r));
                }
                s.exits.iter().find_map(|(_, pid, _)| {
                    processes
                        .iter()
                        .find(|(p, _, _)| p == pid)
                        .map(|(_, name, kind)| {
                            Err(Interrupt::Died {
                                name: name.clone(),
                                kind: *kind,
                            })
                        })
                })
            })
            .await
            .unwrap_or(Err(Interrupt::Deadline))
    }

    pub(super) async fn run_invoke(
        self: &Arc<Self>,
        request_id: String,
        invoke: Invoke,
        response_tx: oneshot::Sender<Outcome>,
    ) -> Result<Finished, Error> {
        let mut life = self.life.lock().await;
        if life.shut_down {
            return Err(Error::ShutDown);
        }
        let failed_init = |error: &Error| Outcome::Failure {
            error_type: "Runtime.InitError".into(),
            reason: error.to_string(),
        };
        if life.needs_init {
            life.needs_init = false;
            if let Err(error) = self.begin_init(&mut life, "invoke").await {
                let _ = response_tx.send(failed_init(&error));
                return Err(error);
            }
        }
        if let Err(error) = self.finish_init(&mut life).await {
            let _ = response_tx.send(failed_init(&error));
            return Err(error);
        }
        let cold = life.cold.take();
        self.thaw();
        let shared = &self.shared;
        let trace = invoke
            .trace_header
            .as_deref()
            .and_then(TraceHeader::parse)
            .unwrap_or_else(TraceHeader::fresh);
        let header = trace.header();
        let tracing = tracing(&trace.parent, &header);
        let started = Instant::now();
        let deadline = started + self.config.timeout;
        let deadline_ms = shared.clock.unix_ms(deadline);
        shared.update(|s| {
            s.current = Some(Current {
                request_id: request_id.clone(),
                answer: None,
                answer_started: None,
                answer_finished: None,
            });
        });
        shared.emit(
            started,
            "platform.start",
            json!({"requestId": request_id, "version": self.config.function_version, "tracing": tracing}),
        );
        let extension_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": shared.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": header},
        });
        let runtime_event = RuntimeEvent {
            request_id: request_id.clone(),
            payload: invoke.payload.clone(),
            deadline_ms,
            function_arn: shared.function_arn.clone(),
            trace_header: header.clone(),
            client_context: invoke.client_context.clone(),
            cognito_identity: invoke.cognito_identity.clone(),
        };
        let runtime_started = shared.update(|s| {
            for extension in &mut s.extensions {
                if extension.events.iter().any(|e| e == "INVOKE") {
                    extension.party.release(extension_event.clone());
                }
            }
            let at = Instant::now();
            s.runtime.release(runtime_event);
            at
        });
        let mut response_tx = Some(response_tx);
        let mut respond = |outcome: Outcome| {
            if let Some(tx) = response_tx.take() {
                let _ = tx.send(outcome);
            }
        };

        // AwaitRuntimeResponse.
        let answered = self
            .wait(deadline, |s| {
                let current = s.current.as_ref()?;
                let answer = current.answer.clone()?;
                Some((answer, current.answer_started?, current.answer_finished?))
            })
            .await;
        let answer = match answered {
            Ok(answer) => answer,
            Err(interrupt) => {
                return Ok(self
                    .reset(
                        &mut life,
                        interrupt,
                        request_id,
                        started,
                        runtime_started,
                        None,
                        header,
                        tracing,
                        cold,
                        &mut respond,
                    )
                    .await);
            }
        };
        let (answer, answer_started, answer_finished) = answer;
        let outcome = match &answer {
            Answer::Response(body) => Outcome::Response(body.clone()),
            Answer::Error { error_type, body } => Outcome::FunctionError {
                error_type: error_type.clone(),
                body: body.clone(),
            },
        };
        respond(outcome.clone());

        // AwaitRuntimeReady: the runtime's next `next`.
        let ready = self.wait(deadline, |s| s.runtime.waiting()).await;
        let runtime_ready = match ready {
            Ok(at) => at,
            Err(interrupt) => {
                let answered = Some((answer, answer_started, answer_finished));
                return Ok(self
                    .reset(
                        &mut life,
                        interrupt,
                        request_id,
                        started,
                        runtime_started,
                        answered,
                        header,
                        tracing,
                        cold,
                        &mut respond,
                    )
                    .await);
            }
        };
        let mut runtime_done = json!({
            "requestId": request_id,
            "status": "success",
            "metrics": {
                "durationMs": ms(runtime_ready.saturating_duration_since(runtime_started)),
                "producedBytes": produced_bytes(&answer),
            },
            "spans": [
                span(&shared.clock, "responseLatency", runtime_started, answer_started),
                span(&shared.clock, "responseDuration", answer_started, answer_finished),
                span(&shared.clock, "runtimeOverhead", answer_finished, runtime_ready),
            ],
            "tracing": tracing,
        });
        if let Answer::Error { error_type, .. } = &answer {
            runtime_done["status"] = json!("error");
            runtime_done["errorType"] = json!(error_type);
        }
        shared.emit(Instant::now(), "platform.runtimeDone", runtime_done.clone());

        // AwaitAgentsReady.
        let extensions_started = Instant::now();
        let has_extensions = shared.read(|s| !s.extensions.is_empty());
        let extensions_ready = self.wait(deadline, |s| s.extensions_waiting()).await;
        let ended = match extensions_ready {
            Ok(latest) => latest.unwrap_or(runtime_ready).max(runtime_ready),
            Err(interrupt) => {
                let (status, error_type, reason) = interrupted(&interrupt, self.config.timeout);
                let report = self.stop_after(&mut life, &interrupt).await;
                let record = self.report(
                    &request_id,
                    status,
                    error_type.as_deref(),
                    started.elapsed(),
                    cold,
                    &[],
                    &tracing,
                );
                return Ok(Finished {
                    request_id,
                    outcome: if status == "timeout" {
                        Outcome::Timeout
                    } else {
                        Outcome::Failure {
                            error_type: error_type.unwrap_or_default(),
                            reason,
                        }
                    },
                    cold: cold.is_some(),
                    trace_header: header,
                    runtime_done,
                    report: record,
                    reset: Some(report),
                    released_at: shared.clock.wall(runtime_started),
                    answered_at: Some(shared.clock.wall(answer_finished)),
                    runtime_next_at: Some(shared.clock.wall(runtime_ready)),
                });
            }
        };
        let spans = if has_extensions {
            vec![span(
                &shared.clock,
                "extensionOverhead",
                extensions_started,
                ended.max(extensions_started),
            )]
        } else {
            Vec::new()
        };
        let (status, error_type) = match &answer {
            Answer::Response(_) => ("success", None),
            Answer::Error { error_type, .. } => ("error", Some(error_type.as_str())),
        };
        let report = self.report(
            &request_id,
            status,
            error_type,
            ended.saturating_duration_since(runtime_started),
            cold,
            &spans,
            &tracing,
        );
        shared.update(|s| s.current = None);
        self.freeze().await;
        Ok(Finished {
            request_id,
            outcome,
            cold: cold.is_some(),
            trace_header: header,
            runtime_done,
            report,
            reset: None,
            released_at: shared.clock.wall(runtime_started),
            answered_at: Some(shared.clock.wall(answer_finished)),
            runtime_next_at: Some(shared.clock.wall(runtime_ready)),
        })
    }
}

pub(super) fn produced_bytes(answer: &Answer) -> usize {
    match answer {
        Answer::Response(body) | Answer::Error { body, .. } => body.len(),
    }
}
