//! Progress counting and cooperative cancellation for long-running algorithms.
//!
//! Algorithms advance the counter as they finish units of work and stop early (with
//! [`Error::Cancelled`](crate::Error)) once [`Monitor::cancel`] has been called, e.g. by a binding
//! layer that noticed Ctrl-C. Neither affects the results of work that completes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared progress counter and cancellation flag.
#[derive(Debug, Default)]
pub struct Monitor {
    done: AtomicUsize,
    total: AtomicUsize,
    cancelled: AtomicBool,
}

impl Monitor {
    /// A fresh monitor: nothing done, not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare how many units the current job has.
    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Record `units` more units done.
    pub fn advance(&self, units: usize) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }

    /// (units done, total units).
    pub fn progress(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Ask the running job to stop.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the job was asked to stop.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}
