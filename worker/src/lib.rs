//! The worker: runs reconciliation jobs.
//!
//! - [`leases`]: which worker runs which job run; leases expire unless renewed, so a job whose
//!   worker died is picked up by another.
//! - [`run`]: one run — load both sources from the record store, run the matching engine with
//!   throttled progress and prompt cancellation, store the results, record the outcome.
//! - [`results`]: writing results (one transaction per run) and reading them back (cursor
//!   pages, filters, streamed exports).
//! - [`dispatch`]: the loop that finds started jobs (from Kafka in scaled mode, and by scanning
//!   for running jobs without a live lease) and runs them.

pub mod dispatch;
pub mod leases;
pub mod outcomes;
pub mod results;
pub mod run;

pub use dispatch::{run as run_worker, WorkerConfig};
pub use run::{run_job, RunEnd};
