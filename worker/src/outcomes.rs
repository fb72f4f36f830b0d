//! How this process's runs ended, counted for `/metrics` (`recon_job_runs_total{outcome}`):
//! the process that runs the worker hands [`counts`] to its metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::run::RunEnd;

/// The outcomes, in the order of [`counts`].
pub const OUTCOMES: [&str; 5] = ["completed", "failed", "stopped", "not_running", "error"];

static COUNTS: [AtomicU64; 5] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Counts a run's end; `None`: the run broke off on a database error.
pub fn record(end: Option<&RunEnd>) {
    let i = match end {
        Some(RunEnd::Completed(_)) => 0,
        Some(RunEnd::Failed(_)) => 1,
        Some(RunEnd::Stopped) => 2,
        Some(RunEnd::NotRunning) => 3,
        None => 4,
    };
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
}

/// Every outcome with its count so far.
pub fn counts() -> Vec<(&'static str, u64)> {
    OUTCOMES
        .iter()
        .zip(&COUNTS)
        .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
        .collect()
}
