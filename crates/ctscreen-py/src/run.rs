//! Running long core operations from Python: the GIL is released, Ctrl-C cancels the
//! work at its next chunk boundary, and an optional tqdm bar shows progress.
//!
//! The work runs on a scoped worker thread; the calling thread keeps the GIL released
//! except for a short moment every 50 ms, when it checks for pending signals
//! (`Python::check_signals`) and updates the progress bar. A signal sets the cancel flag
//! the core checks between chunks, the worker returns `Cancelled`, and the signal's
//! exception (normally `KeyboardInterrupt`) is raised.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPyResult;

/// Progress shared between the worker (which reports) and the Python thread (which
/// shows it and may cancel).
#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    /// Stage generation, name and total; the generation changes at every `start`.
    stage: Mutex<(u64, String, u64)>,
    done: AtomicU64,
}

impl ctscreen::Progress for Shared {
    fn start(&self, stage: &str, total: u64) {
        let mut s = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += 1;
        s.1 = stage.to_string();
        s.2 = total;
        self.done.store(0, Ordering::Relaxed);
    }
    fn advance(&self, done: u64) {
        self.done.fetch_add(done, Ordering::Relaxed);
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// A tqdm bar following the shared progress (nothing when tqdm is not installed).
struct Bar<'py> {
    tqdm: Option<Bound<'py, PyAny>>,
    bar: Option<Bound<'py, PyAny>>,
    generation: u64,
    shown: u64,
}

impl<'py> Bar<'py> {
    fn new(py: Python<'py>, enabled: bool) -> Self {
        let tqdm = if enabled {
            py.import("tqdm").and_then(|m| m.getattr("tqdm")).ok()
        } else {
            None
        };
        Self {
            tqdm,
            bar: None,
            generation: 0,
            shown: 0,
        }
    }

    fn update(&mut self, py: Python<'py>, shared: &Shared) -> PyResult<()> {
        let Some(tqdm) = self.tqdm.clone() else {
            return Ok(());
        };
        let (generation, name, total) = {
            let s = shared.stage.lock().unwrap_or_else(|e| e.into_inner());
            (s.0, s.1.clone(), s.2)
        };
        if generation != self.generation {
            self.close()?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("total", total)?;
            kwargs.set_item("desc", name)?;
            kwargs.set_item("leave", false)?;
            self.bar = Some(tqdm.call((), Some(&kwargs))?);
            self.generation = generation;
            self.shown = 0;
        }
        if let Some(bar) = &self.bar {
            let done = shared.done.load(Ordering::Relaxed);
            if done > self.shown {
                bar.call_method1("update", (done - self.shown,))?;
                self.shown = done;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> PyResult<()> {
        if let Some(bar) = self.bar.take() {
            bar.call_method0("close")?;
        }
        Ok(())
    }
}

/// Runs `work` with the GIL released on a worker thread while this thread watches for
/// Ctrl-C (cancelling the work) and, if `show_progress`, drives a tqdm bar.
///
/// Returns the work's result, its error converted to a Python exception, or the
/// exception of a pending signal.
pub fn run_cancellable<T: Send>(
    py: Python<'_>,
    show_progress: bool,
    work: impl FnOnce(&dyn ctscreen::Progress) -> ctscreen::Result<T> + Send,
) -> PyResult<T> {
    let shared = Shared::default();
    let mut bar = Bar::new(py, show_progress);
    let result = std::thread::scope(|scope| {
        let handle = scope.spawn(|| work(&shared));
        loop {
            if handle.is_finished() {
                break;
            }
            py.detach(|| {
                let mut waited = Duration::ZERO;
                let step = Duration::from_millis(5);
                while waited < Duration::from_millis(50) && !handle.is_finished() {
                    std::thread::sleep(step);
                    waited += step;
                }
            });
            let checked = py.check_signals().and_then(|()| bar.update(py, &shared));
            if let Err(e) = checked {
                shared.cancelled.store(true, Ordering::SeqCst);
                let _ = py.detach(|| handle.join());
                return Err(e);
            }
        }
        match handle.join() {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let finished = result.and_then(|r| {
        bar.update(py, &shared)?;
        r.py()
    });
    bar.close()?;
    finished
}
