//! Progress reporting and cancellation for long operations.
//!
//! Long operations (reconstruction, simulation, evaluation) take a `&dyn Progress`.
//! They call [`Progress::start`] once per stage, [`Progress::advance`] between chunks
//! of work, and check [`Progress::is_cancelled`] between chunks (never inside a
//! kernel), returning [`crate::Error::Cancelled`] when it is set. The CLI shows the
//! counts with `indicatif`, Python with `tqdm`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A sink for progress of long operations and a source of cancellation.
///
/// All methods have no-op defaults, so an implementation overrides only what it needs.
/// Implementations must be `Sync`: chunks may report from worker threads.
pub trait Progress: Sync {
    /// A new stage begins with `total` units of work (views, slices, iterations…).
    fn start(&self, _stage: &str, _total: u64) {}
    /// `done` more units of the current stage are finished.
    fn advance(&self, _done: u64) {}
    /// True when the caller asked to stop; the operation then returns `Error::Cancelled`.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that reports nothing and never cancels.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A cancellation flag shared between threads: set it from anywhere (a Ctrl-C handler,
/// a Python signal check) and the running operation stops at its next chunk boundary.
#[derive(Debug, Default, Clone)]
pub struct CancelFlag {
    flag: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
}

impl CancelFlag {
    /// A new, unset flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the operation to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
    /// Units of work reported done so far (over all stages).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl Progress for CancelFlag {
    fn advance(&self, done: u64) {
        self.done.fetch_add(done, Ordering::Relaxed);
    }
    fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Forwards only cancellation: a sub-step run through it can be cancelled with the
/// caller's `progress` without overwriting the caller's stage and counts.
pub(crate) struct CancelOnly<'a>(pub(crate) &'a dyn Progress);

impl Progress for CancelOnly<'_> {
    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Returns `Err(Error::Cancelled)` when `progress` says so.
pub fn check(progress: &dyn Progress) -> crate::Result<()> {
    if progress.is_cancelled() {
        Err(crate::Error::Cancelled)
    } else {
        Ok(())
    }
}
