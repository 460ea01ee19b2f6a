//! Freeze: SIGSTOP to every process once the runtime and all extensions wait in `next`, SIGCONT
//! before the next release or the shutdown.

use super::Inner;
use nix::sys::signal::Signal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Inner {
    pub fn freezes(&self) -> Vec<chrono::DateTime<chrono::Utc>> {
        self.freezes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|at| self.shared.clock.wall(*at))
            .collect()
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// SIGSTOP, only when the runtime and every extension wait in `next`; returns once the kernel
    /// shows every process stopped (Lambda's cgroup freeze is synchronous too), at most 1 s.
    pub(super) async fn freeze(&self) {
        if !self.config.freeze {
            return;
        }
        let all_waiting = self
            .shared
            .read(|s| s.runtime.waiting().is_some() && s.extensions_waiting().is_some());
        if !all_waiting {
            return;
        }
        let processes = self.live();
        for process in &processes {
            process.signal(Signal::SIGSTOP);
        }
        self.frozen.store(true, Ordering::SeqCst);
        let give_up = Instant::now() + Duration::from_secs(1);
        while !processes.iter().all(|p| p.is_stopped()) && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.freezes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
    }

    pub fn mark_thawed(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        if self.frozen.swap(false, Ordering::SeqCst) {
            for process in self.live() {
                process.signal(Signal::SIGCONT);
            }
        }
    }
}
