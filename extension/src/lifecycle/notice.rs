//! Waiting, with a deadline, for a condition on state that other tasks change: [`Notice`] wraps tokio's
//! `Notify` so that a change announced between checking the condition and starting to wait is never
//! lost.

use tokio::sync::Notify;
use tokio::time::Instant;

/// Announces changes of some shared state to the tasks waiting for a condition on it.
#[derive(Debug, Default)]
pub struct Notice(Notify);

impl Notice {
    /// Wakes every task waiting in [`Notice::wait_for`]; call after changing the state.
    pub fn announce(&self) {
        self.0.notify_waiters();
    }

    /// Waits until `condition()` holds or `deadline` passes; returns the condition's last value.
    ///
    /// `notify_waiters` only wakes the `Notified` futures that exist when it is called, so the future
    /// is created (and enabled) before each check of the condition: an announcement made after the
    /// check, before the wait, still ends the wait.
    pub async fn wait_for(&self, deadline: Instant, mut condition: impl FnMut() -> bool) -> bool {
        loop {
            let announced = self.0.notified();
            tokio::pin!(announced);
            announced.as_mut().enable();
            if condition() {
                return true;
            }
            tokio::select! {
                () = &mut announced => {}
                () = tokio::time::sleep_until(deadline) => return condition(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_announcement_between_the_check_and_the_wait_is_not_lost() {
        let notice = Notice::default();
        let started = Instant::now();
        let mut checks = 0;
        let held = notice
            .wait_for(started + Duration::from_secs(5), || {
                checks += 1;
                if checks == 1 {
                    // Another task changes the state and announces it right after this check.
                    notice.announce();
                    return false;
                }
                true
            })
            .await;
        assert!(held);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "woken by the announcement, not by the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_at_the_announcement_and_ends_at_the_deadline_without_one() {
        let notice = Arc::new(Notice::default());
        let done = Arc::new(AtomicBool::new(false));
        let changer = {
            let (notice, done) = (notice.clone(), done.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                notice.announce(); // a change that does not meet the condition
                tokio::time::sleep(Duration::from_millis(10)).await;
                done.store(true, Ordering::SeqCst);
                notice.announce();
            })
        };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        assert!(
            notice
                .wait_for(deadline, || done.load(Ordering::SeqCst))
                .await
        );
        assert_eq!(started.elapsed(), Duration::from_millis(40));
        changer.await.unwrap();

        let started = Instant::now();
        let never = notice
            .wait_for(started + Duration::from_millis(20), || false)
            .await;
        assert!(!never);
        assert_eq!(started.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_nobody_announced_is_still_seen_at_the_deadline() {
        let notice = Notice::default();
        let started = Instant::now();
        let mut checks = 0;
        let met = notice
            .wait_for(started + Duration::from_millis(20), || {
                checks += 1;
                checks > 1
            })
            .await;
        assert!(met);
        assert_eq!(started.elapsed(), Duration::from_millis(20));
    }
}
