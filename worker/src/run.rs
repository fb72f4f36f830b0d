//! One run of one job.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::job::{
    CurrencyValues, JobCommand, JobCounts, JobOutcome, JobProgress, JobStatus, RunManifest,
};
use domain::records::{CompactString, Record};
use domain::Currency;
use futures::TryStreamExt;
use matching::{MatchError, Matcher, RuleSet};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::{leases, results};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Completed(JobCounts),
    Failed(String),
    /// Cancelled by a user, or the run was superseded; nothing was recorded.
    Stopped,
    /// The job was not running this run when the worker looked.
    NotRunning,
}

/// Timing knobs; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub worker_id: String,
    pub lease: Duration,
    /// How often the run checks for cancellation and renews its lease.
    pub check_every: Duration,
    /// How often progress is recorded (as a `JobProgressed` event).
    pub progress_every: Duration,
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Refused(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cancelled")]
    Stopped,
    /// Worth retrying (the store was briefly unreachable): the run is left to be run again.
    #[error("{0}")]
    Transient(String),
}

fn metadata(settings: &RunSettings, job: Uuid, run: u32) -> CommandMetadata {
    let mut m = CommandMetadata::system(&format!("worker:{}", settings.worker_id));
    m.correlation_id = format!("job:{job}:run:{run}");
    m
}

/// Loads a source's records. Ids are made unique within the side independently of row order: an
/// id that occurs more than once gets its fingerprint's first 12 hex digits appended, on every
/// occurrence.
/// Only records of `files` (the imports the manifest names) are loaded, in fingerprint order
/// (the primary key's order, so no sort): the same inputs give the same results and digest.
async fn load_records(
    pool: &PgPool,
    source: Uuid,
    files: &[String],
) -> Result<Vec<Record>, RunError> {
    let mut rows = sqlx::query(
        "SELECT record_id, fingerprint, booking_date, value_date, amount::text AS amount, currency, reference, counterparty, description
         FROM source_records WHERE source_id = $1 AND file_sha256 = ANY($2) ORDER BY fingerprint",
    )
    .bind(source)
    .bind(files)
    .fetch(pool);
    let mut records = Vec::new();
    let mut fingerprints = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let amount: String = row.try_get("amount")?;
        let currency: String = row.try_get("currency")?;
        fingerprints.push(row.try_get::<String, _>("fingerprint")?);
        let text = |column: &str| -> Result<Option<CompactString>, sqlx::Error> {
            Ok(row
                .try_get::<Option<&str>, _>(column)?
                .map(CompactString::from))
        };
        records.push(Record {
            id: row.try_get::<&str, _>("record_id")?.into(),
            booking_date: row.try_get("booking_date")?,
            value_date: row.try_get("value_date")?,
            amount: Decimal::from_str(&amount)
                .map_err(|e| RunError::Refused(format!("stored amount {amount}: {e}")))?,
            currency: Currency::parse(&currency).map_err(RunError::Refused)?,
            reference: text("reference")?,
            counterparty: text("counterparty")?,
            description: text("description")?,
        });
    }
    let mut seen = HashSet::with_capacity(records.len());
    let repeated: HashSet<CompactString> = records
        .iter()
        .filter(|r| !seen.insert(r.id.as_str()))
        .map(|r| r.id.clone())
        .collect();
    if !repeated.is_empty() {
        for (record, fingerprint) in records.iter_mut().zip(&fingerprints) {
            if repeated.contains(&record.id) {
                record.id = format!(
                    "{}~{}",
                    record.id,
                    &fingerprint[..12.min(fingerprint.len())]
                )
                .into();
            }
        }
    }
    Ok(records)
}

fn sha256_of(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

/// Shared between the matching thread and the supervising task.
const PHASE_LOADING: u8 = 0;
const PHASE_MATCHING: u8 = 1;
const PHASE_STORING: u8 = 2;

#[derive(Default)]
struct Shared {
    cancel: AtomicBool,
    phase: std::sync::atomic::AtomicU8,
    pass: AtomicU64,
    passes: AtomicU64,
    done: AtomicU64,
    total: AtomicU64,
}

/// Runs `run` of `job`, which this worker has claimed. Records progress, then the outcome
/// (completed with results, or failed with the reason). Stops within `check_every` (plus the
/// engine's progress granularity) when the job is cancelled.
pub async fn run_job(
    pool: &PgPool,
    store: &CommandStore,
    job_id: Uuid,
    run: u32,
    settings: &RunSettings,
) -> Result<RunEnd, sqlx::Error> {
    let meta = metadata(settings, job_id, run);
    let job = match store.load_job(job_id).await {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "cannot load job");
            return Ok(RunEnd::NotRunning);
        }
    };
    if job.status != JobStatus::Running || job.run != run {
        // Confirmed from the store: nothing to do for this run, ever.
        leases::finish(pool, job_id, run, &settings.worker_id).await?;
        return Ok(RunEnd::NotRunning);
    }
    tracing::info!(%job_id, run, "running job");
    let shared = Arc::new(Shared::default());
    let work = execute(
        pool,
        store,
        job_id,
        run,
        &job,
        settings,
        &meta,
        shared.clone(),
    );
    tokio::pin!(work);
    let mut last_progress = Instant::now();
    let mut last_reported = None;
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tokio::time::sleep(settings.check_every) => {
                // Still ours? Cancelled, superseded or lease lost: stop.
                // A failed check (database briefly away) is not a verdict: only a definite
                // "cancelled / superseded" or "lease taken" stops the run.
                let ours = match store.load_job(job_id).await {
                    Ok(j) => j.status == JobStatus::Running && j.run == run,
                    Err(_) => true,
                };
                let leased = leases::renew(pool, job_id, run, &settings.worker_id, settings.lease).await.unwrap_or(true);
                if !ours || !leased {
                    // Drop the work at once: loading and storing are cancelled with it (the
                    // results transaction rolls back); the engine thread sees the flag.
                    shared.cancel.store(true, Ordering::Relaxed);
                    break Err(RunError::Stopped);
                }
                if last_progress.elapsed() >= settings.progress_every {
                    last_progress = Instant::now();
                    let phase = match shared.phase.load(Ordering::Relaxed) {
                        PHASE_LOADING => "loading".to_string(),
                        PHASE_STORING => "storing".to_string(),
                        _ => format!("matching pass {} of {}", shared.pass.load(Ordering::Relaxed) + 1, shared.passes.load(Ordering::Relaxed).max(1)),
                    };
                    let progress = JobProgress {
                        phase,
                        done: shared.done.load(Ordering::Relaxed),
                        total: shared.total.load(Ordering::Relaxed),
                    };
                    if ours && last_reported.as_ref() != Some(&progress) {
                        let _ = store.job(job_id, JobCommand::ReportProgress { run, progress: progress.clone() }, &meta).await;
                        last_reported = Some(progress);
                    }
                }
            }
        }
    };
    let end = match outcome {
        Ok(outcome) => match store
            .job(
                job_id,
                JobCommand::Complete {
                    run,
                    outcome: outcome.clone(),
                },
                &meta,
            )
            .await
        {
            Ok(_) => RunEnd::Completed(outcome.counts),
            Err(e) => {
                tracing::warn!(%job_id, run, error = %e, "the outcome was not recorded");
                RunEnd::Stopped
            }
        },
        Err(RunError::Stopped) => RunEnd::Stopped,
        Err(RunError::Transient(e)) => {
            tracing::error!(%job_id, run, error = %e, "transient error during the run; leaving it to be retried");
            RunEnd::Stopped
        }
        Err(RunError::Database(e)) => {
            tracing::error!(%job_id, run, error = %e, "database error during the run; leaving it to be retried");
            RunEnd::Stopped
        }
        Err(RunError::Refused(reason)) => match store
            .job(
                job_id,
                JobCommand::Fail {
                    run,
                    reason: reason.clone(),
                },
                &meta,
            )
            .await
        {
            Ok(_) => RunEnd::Failed(reason),
            Err(_) => RunEnd::Stopped,
        },
    };
    // Settle the lease from what the store says, not from how the run ended: finished when
    // this run is definitely over (recorded, cancelled, superseded); otherwise released, so
    // that another worker (or this one) runs it again at once.
    match store.load_job(job_id).await {
        Ok(current) if !(current.status == JobStatus::Running && current.run == run) => {
            // Results stored by a run that did not complete are never shown; remove them,
            // unless this very run is the one that completed (another worker recorded it).
            let completed_this_run = current.status == JobStatus::Completed && current.run == run;
            if !completed_this_run {
                results::discard(pool, job_id, run).await?;
            }
            leases::finish(pool, job_id, run, &settings.worker_id).await?;
        }
        _ => leases::release(pool, job_id, run, &settings.worker_id).await?,
    }
    tracing::info!(%job_id, run, ?end, "run ended");
    Ok(end)
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    pool: &PgPool,
    store: &CommandStore,
    job_id: Uuid,
    run: u32,
    job: &domain::Job,
    settings: &RunSettings,
    _meta: &CommandMetadata,
    shared: Arc<Shared>,
) -> Result<JobOutcome, RunError> {
    let definition = job
        .definition
        .clone()
        .ok_or_else(|| RunError::Refused("the job has no definition".into()))?;
    let rules = RuleSet::from_json_value(&definition.rule_set)
        .map_err(|e| RunError::Refused(format!("invalid rule set: {e}")))?;
    let matcher =
        Matcher::new(&rules).map_err(|e| RunError::Refused(format!("invalid rule set: {e}")))?;
    let mut files = Vec::new();
    for (side, id) in [
        ("left", definition.left_source_id),
        ("right", definition.right_source_id),
    ] {
        let source = store
            .load_data_source(id)
            .await
            .map_err(|e| RunError::Transient(e.to_string()))?;
        if !source.exists() {
            return Err(RunError::Refused(format!(
                "the {side} data source {id} does not exist"
            )));
        }
        files.push(source.files);
    }
    let phase = Instant::now();
    let left = load_records(pool, definition.left_source_id, &files[0]).await?;
    let right = load_records(pool, definition.right_source_id, &files[1]).await?;
    shared.phase.store(PHASE_MATCHING, Ordering::Relaxed);
    tracing::info!(%job_id, run, left = left.len(), right = right.len(), seconds = phase.elapsed().as_secs_f64(), "loaded records");
    let phase = Instant::now();
    if shared.cancel.load(Ordering::Relaxed) {
        return Err(RunError::Stopped);
    }
    let engine = shared.clone();
    let (left, right, outcome) = tokio::task::spawn_blocking(move || {
        let shared = engine;
        let progress = |p: matching::Progress| {
            shared.pass.store(p.pass_index as u64, Ordering::Relaxed);
            shared.passes.store(p.pass_count as u64, Ordering::Relaxed);
            shared.done.store(p.done, Ordering::Relaxed);
            shared.total.store(p.total, Ordering::Relaxed);
            if shared.cancel.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let outcome = matcher.run_with_progress(&left, &right, &progress);
        (left, right, outcome)
    })
    .await
    .map_err(|e| RunError::Refused(format!("the matching engine stopped: {e}")))?;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(MatchError::Cancelled) => return Err(RunError::Stopped),
        Err(e) => return Err(RunError::Refused(e.to_string())),
    };
    tracing::info!(%job_id, run, matches = outcome.matches.len(), seconds = phase.elapsed().as_secs_f64(), "matched");
    let phase = Instant::now();
    shared.phase.store(PHASE_STORING, Ordering::Relaxed);
    let results_sha256 = results::store(
        pool,
        job_id,
        run,
        &settings.worker_id,
        &outcome,
        &left,
        &right,
    )
    .await?
    .ok_or(RunError::Stopped)?;
    tracing::info!(%job_id, run, seconds = phase.elapsed().as_secs_f64(), "stored results");
    let counts = JobCounts {
        matched: outcome.matches.len() as u64,
        unmatched_left: outcome.unmatched_left.len() as u64,
        unmatched_right: outcome.unmatched_right.len() as u64,
        suggestions: outcome.suggestions.len() as u64,
    };
    let values = outcome
        .summary
        .iter()
        .map(|s| CurrencyValues {
            currency: s.currency.to_string(),
            matched_left: s.left.matched_amount,
            matched_right: s.right.matched_amount,
            unmatched_left: s.left.unmatched_amount,
            unmatched_right: s.right.unmatched_amount,
        })
        .collect();
    let right_files = files.pop().unwrap_or_default();
    let left_files = files.pop().unwrap_or_default();
    Ok(JobOutcome {
        counts,
        values,
        manifest: RunManifest {
            rule_set_version: rules.version,
            rule_set_sha256: sha256_of(&definition.rule_set),
            left_files,
            right_files,
            left_records: left.len() as u64,
            right_records: right.len() as u64,
            results_sha256,
        },
    })
}
