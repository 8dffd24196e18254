//! Progress bars (indicatif) and Ctrl-C for the core's long operations.
use std::sync::Mutex;
use std::time::Duration;

use ctscreen::{CancelFlag, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A [`Progress`] that shows one bar per stage on stderr (hidden with `--quiet` or when
/// stderr is not a terminal) and cancels when Ctrl-C is pressed.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    cancel: CancelFlag,
    quiet: bool,
}

impl Bars {
    /// Installs the Ctrl-C handler (once per process) and returns the bars.
    pub fn new(quiet: bool) -> Self {
        let cancel = CancelFlag::new();
        let flag = cancel.clone();
        // Fails only if a handler is already installed; the first one keeps working.
        let _ = ctrlc::set_handler(move || flag.cancel());
        Self {
            bar: Mutex::new(None),
            cancel,
            quiet,
        }
    }

    /// True once Ctrl-C was pressed.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Clears the current bar.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().map(|mut b| b.take()).ok().flatten() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn start(&self, stage: &str, total: u64) {
        self.finish();
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        };
        bar.set_style(
            ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, done: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(done);
            }
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
