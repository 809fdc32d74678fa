//! One progress display for a whole job: a bar on a terminal (stage, units
//! done, elapsed, ETA), periodic log lines when stderr is not a terminal.

use std::{
    io::IsTerminal,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a job, one stage at a time, each with a known number of units
/// (folds, chunks of paths).
pub struct Progress {
    bar: Option<ProgressBar>,
    stage: Mutex<Stage>,
    done: AtomicU64,
    start: Instant,
}

struct Stage {
    label: String,
    total: u64,
    start: Instant,
    last_log: Instant,
}

impl Progress {
    /// Starts tracking a job whose first stage is `label` with `total` units.
    pub fn new(label: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} (stage {elapsed}, eta {eta})",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b
        });
        let now = Instant::now();
        let p = Self {
            bar,
            stage: Mutex::new(Stage {
                label: String::new(),
                total: 0,
                start: now,
                last_log: now,
            }),
            done: AtomicU64::new(0),
            start: now,
        };
        p.stage(label, total);
        p
    }

    /// Switches the display to a new stage of `total` units.
    pub fn stage(&self, label: &str, total: u64) {
        let mut s = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        s.label = label.to_string();
        s.total = total;
        s.start = Instant::now();
        s.last_log = s.start;
        self.done.store(0, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.reset();
            b.set_length(total);
            b.set_message(format!(
                "{label} (job {:.1}s)",
                self.start.elapsed().as_secs_f64()
            ));
        }
    }

    /// Records `n` more units done; safe to call from worker threads.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
            return;
        }
        let mut s = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        if done == s.total || s.last_log.elapsed() >= Duration::from_secs(10) {
            s.last_log = Instant::now();
            let elapsed = s.start.elapsed().as_secs_f64();
            let eta = if done > 0 && done < s.total {
                format!(
                    ", eta {:.0}s",
                    elapsed / done as f64 * (s.total - done) as f64
                )
            } else {
                String::new()
            };
            tracing::info!(
                "{}: {done}/{} ({elapsed:.1}s{eta}; job {:.1}s)",
                s.label,
                s.total,
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Ends the display.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
