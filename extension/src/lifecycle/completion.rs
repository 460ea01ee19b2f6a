//! "The function has finished this invocation": the arrival of the invocation's root span.
//!
//! The handler exports at the end of every invocation, after its response is sent: first `/v1/metrics`,
//! then `/v1/traces`, whose SERVER span carries `faas.invocation_id` = the Lambda request id and ends
//! last. When a receiver has buffered a span with that attribute that is either of kind SERVER or has no
//! parent, every piece of telemetry of the invocation is already in the buffer, so the sidecar can flush
//! and call `next` at once, without waiting for the Telemetry API (whose batches arrive >= 25 ms late).
//!
//! The wait is bounded (see [`crate::lifecycle::controller`]): a function that exports nothing, or
//! exports without the attribute, cannot stall the sidecar.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How many finished invocation ids are remembered (only the recent ones matter).
const REMEMBERED: usize = 64;

/// Finished invocation ids, with a notification on each arrival.
#[derive(Debug, Default)]
pub struct Completions {
    finished: Mutex<VecDeque<String>>,
    arrived: Notify,
}

impl Completions {
    /// Records that the root span of invocation `id` was received (call after buffering it).
    pub fn mark(&self, id: String) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            if finished.len() == REMEMBERED {
                finished.pop_front();
            }
            finished.push_back(id);
        }
        self.arrived.notify_waiters();
    }

    /// Whether the root span of `id` has been received.
    pub fn is_finished(&self, id: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|f| f == id)
    }

    /// Whether any completion signal was ever received.
    pub fn any(&self) -> bool {
        !self
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Waits until `id` finished or `deadline` passes; returns whether it finished.
    pub async fn wait(&self, id: &str, deadline: Instant) -> bool {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_finished(id) {
                return true;
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => return self.is_finished(id),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn wakes_on_the_matching_id_and_times_out_otherwise() {
        let completions = Arc::new(Completions::default());
        let waiter = {
            let completions = completions.clone();
            tokio::spawn(async move {
                completions
                    .wait("b", Instant::now() + Duration::from_secs(5))
                    .await
            })
        };
        tokio::task::yield_now().await;
        completions.mark("a".into());
        completions.mark("b".into());
        assert!(waiter.await.unwrap());
        assert!(
            !completions
                .wait("c", Instant::now() + Duration::from_millis(10))
                .await
        );
        assert!(completions.any());
    }

    #[test]
    fn remembers_a_bounded_number_of_ids() {
        let completions = Completions::default();
        for i in 0..(REMEMBERED + 10) {
            completions.mark(i.to_string());
        }
        assert!(!completions.is_finished("0"));
        assert!(completions.is_finished(&(REMEMBERED + 9).to_string()));
    }
}
