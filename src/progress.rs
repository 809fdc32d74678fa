//! Progress over long steps: a bar on a terminal, periodic log lines elsewhere.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a step with a known number of units (folds, chunks).
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: AtomicU64,
    start: Instant,
    last_log: std::sync::Mutex<Instant>,
}

impl Progress {
    /// Starts tracking `total` units of work named `label`.
    pub fn new(label: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b.set_message(label.to_string());
            b
        });
        Self {
            bar,
            label: label.to_string(),
            total,
            done: AtomicU64::new(0),
            start: Instant::now(),
            last_log: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Records `n` more units done; safe to call from worker threads.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
            return;
        }
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if done == self.total || last.elapsed() >= Duration::from_secs(10) {
            *last = Instant::now();
            tracing::info!(
                "{}: {done}/{} ({:.1}s)",
                self.label,
                self.total,
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Ends the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
