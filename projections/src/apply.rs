//! Applying events to the read models, exactly once in effect.

use std::collections::HashMap;

use commands::{StoreCheckpoint, StoredEvent};
use domain::data_source::{DataSource, DataSourceEvent};
use domain::job::{Job, JobEvent, JobStatus};
use domain::project::{Project, ProjectEvent};
use domain::upcasting::{decode, upcasters};
use domain::user::User;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{ProjectionError, READ_MODELS};

/// What a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub applied: usize,
    /// Events already applied earlier (redelivery, replay): recognised and skipped.
    pub duplicates: usize,
    /// Events that could not be applied and were parked (`crate::parking`).
    pub parked: usize,
}

/// Applies `events` in one transaction. Each aggregate's events must come in sequence order;
/// an event at or below the aggregate's applied sequence is skipped. With `store_checkpoint`,
/// also records how far the embedded follower has read the store, in the same transaction.
pub async fn apply_batch(
    pool: &PgPool,
    events: &[StoredEvent],
    store_checkpoint: Option<StoreCheckpoint>,
) -> Result<Applied, ProjectionError> {
    let mut tx = pool.begin().await?;
    let mut outcome = Applied::default();
    let mut applied_sequence: HashMap<&str, i64> = HashMap::new();
    let upcasters = upcasters();
    for event in events {
        let last = match applied_sequence.get(event.aggregate_id.as_str()) {
            Some(last) => *last,
            None => lock_applied_sequence(&mut tx, &event.aggregate_id).await?,
        };
        if event.sequence <= last {
            outcome.duplicates += 1;
            continue;
        }
        if event.sequence != last + 1 {
            return Err(ProjectionError::SequenceGap {
                aggregate_id: event.aggregate_id.clone(),
                expected: last + 1,
                got: event.sequence,
            });
        }
        apply_event(&mut tx, &upcasters, event).await?;
        sqlx::query(
            "UPDATE projection_applied SET last_sequence = $3, last_position = $4, updated_at = now()
             WHERE projection = $1 AND aggregate_id = $2",
        )
        .bind(READ_MODELS)
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .bind(event.position)
        .execute(&mut *tx)
        .await?;
        applied_sequence.insert(&event.aggregate_id, event.sequence);
        outcome.applied += 1;
    }
    if let Some(checkpoint) = store_checkpoint {
        record_store_checkpoint(&mut tx, checkpoint).await?;
    }
    if outcome.applied > 0 {
        crate::changes::announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// How far the embedded follower has read the store.
pub(crate) async fn record_store_checkpoint(
    tx: &mut PgConnection,
    checkpoint: StoreCheckpoint,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_store_checkpoints (projection, transaction_id, position)
         VALUES ($1, $2::bigint::text::xid8, $3)
         ON CONFLICT (projection) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position",
    )
    .bind(READ_MODELS)
    .bind(checkpoint.transaction_id)
    .bind(checkpoint.position)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The aggregate's applied sequence, row-locked until commit so two projector processes that
/// briefly share an aggregate during a rebalance apply each event once.
async fn lock_applied_sequence(
    tx: &mut PgConnection,
    aggregate_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_applied (projection, aggregate_id, last_sequence, last_position)
         VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING",
    )
    .bind(READ_MODELS)
    .bind(aggregate_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar(
        "SELECT last_sequence FROM projection_applied WHERE projection = $1 AND aggregate_id = $2 FOR UPDATE",
    )
    .bind(READ_MODELS)
    .bind(aggregate_id)
    .fetch_one(&mut *tx)
    .await
}

async fn apply_event(
    tx: &mut PgConnection,
    upcasters: &[Box<dyn cqrs_es::persist::EventUpcaster>],
    event: &StoredEvent,
) -> Result<(), ProjectionError> {
    let undecodable = |e: domain::upcasting::DecodeError| ProjectionError::Undecodable {
        event_id: event.event_id,
        reason: e.to_string(),
    };
    match event.aggregate_type.as_str() {
        "project" => {
            let decoded =
                decode::<Project>(upcasters, event.to_serialized()).map_err(undecodable)?;
            apply_project(tx, event, decoded).await?;
        }
        "job" => {
            let decoded = decode::<Job>(upcasters, event.to_serialized()).map_err(undecodable)?;
            apply_job(tx, event, decoded).await?;
        }
        "data_source" => {
            let decoded =
                decode::<DataSource>(upcasters, event.to_serialized()).map_err(undecodable)?;
            apply_data_source(tx, event, decoded).await?;
        }
        "user" => {
            let decoded = decode::<User>(upcasters, event.to_serialized()).map_err(undecodable)?;
            crate::users::apply_user(tx, event, aggregate_uuid(event)?, decoded).await?;
        }
        // Aggregates these read models do not describe: recorded as applied, nothing to change.
        _ => {}
    }
    Ok(())
}

fn aggregate_uuid(event: &StoredEvent) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(&event.aggregate_id).map_err(|e| ProjectionError::Undecodable {
        event_id: event.event_id,
        reason: format!("aggregate id is not a uuid: {e}"),
    })
}

async fn bump(tx: &mut PgConnection, counter: &str, delta: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rm_dashboard_counters (counter, value) VALUES ($1, $2)
         ON CONFLICT (counter) DO UPDATE SET value = rm_dashboard_counters.value + EXCLUDED.value",
    )
    .bind(counter)
    .bind(delta)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn apply_project(
    tx: &mut PgConnection,
    event: &StoredEvent,
    decoded: ProjectEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decoded {
        ProjectEvent::ProjectCreated {
            name,
            description,
            base_currency,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_projects (project_id, name, description, base_currency, status, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'active', $5, $6, $6)",
            )
            .bind(id)
            .bind(name.as_str())
            .bind(description.as_str())
            .bind(base_currency.as_str())
            .bind(event.sequence)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            bump(tx, "projects.total", 1).await?;
            bump(tx, "projects.active", 1).await?;
        }
        ProjectEvent::ProjectUpdated { name, description } => {
            sqlx::query(
                "UPDATE rm_projects SET name = $2, description = $3, version = $4, updated_at = $5 WHERE project_id = $1",
            )
            .bind(id)
            .bind(name.as_str())
            .bind(description.as_str())
            .bind(event.sequence)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
        }
        ProjectEvent::ProjectArchived {} => {
            sqlx::query("UPDATE rm_projects SET status = 'archived', version = $2, updated_at = $3 WHERE project_id = $1")
                .bind(id)
                .bind(event.sequence)
                .bind(event.recorded_at)
                .execute(&mut *tx)
                .await?;
            bump(tx, "projects.active", -1).await?;
            bump(tx, "projects.archived", 1).await?;
        }
        ProjectEvent::ProjectMemberAdded { user_id } => {
            sqlx::query(
                "INSERT INTO rm_project_members (project_id, user_id, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(user_id)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            set_project_version(tx, id, event).await?;
        }
        ProjectEvent::ProjectMemberRemoved { user_id } => {
            sqlx::query("DELETE FROM rm_project_members WHERE project_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            set_project_version(tx, id, event).await?;
        }
    }
    Ok(())
}

async fn set_project_version(
    tx: &mut PgConnection,
    id: Uuid,
    event: &StoredEvent,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE rm_projects SET version = $2, updated_at = $3 WHERE project_id = $1")
        .bind(id)
        .bind(event.sequence)
        .bind(event.recorded_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn status_counter(status: &str) -> String {
    format!("jobs.{status}")
}

async fn apply_job(
    tx: &mut PgConnection,
    event: &StoredEvent,
    decoded: JobEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    let new_status = match &decoded {
        JobEvent::JobCreated {
            project_id,
            definition,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_jobs (job_id, project_id, name, left_source_id, right_source_id, rule_set, status, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8, $8)",
            )
            .bind(id)
            .bind(project_id)
            .bind(definition.name.as_str())
            .bind(definition.left_source_id)
            .bind(definition.right_source_id)
            .bind(&definition.rule_set)
            .bind(event.sequence)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            bump(tx, "jobs.total", 1).await?;
            bump(tx, &status_counter(JobStatus::Created.as_str()), 1).await?;
            return Ok(());
        }
        JobEvent::JobUpdated { definition } => {
            sqlx::query(
                "UPDATE rm_jobs SET name = $2, left_source_id = $3, right_source_id = $4, rule_set = $5,
                        revision = revision + 1 WHERE job_id = $1",
            )
            .bind(id)
            .bind(definition.name.as_str())
            .bind(definition.left_source_id)
            .bind(definition.right_source_id)
            .bind(&definition.rule_set)
            .execute(&mut *tx)
            .await?;
            // As in the aggregate: a finished job redefined needs a new run and shows no results.
            let finished: bool = sqlx::query_scalar(
                "SELECT status IN ('completed', 'failed', 'cancelled') FROM rm_jobs WHERE job_id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if finished {
                sqlx::query(
                    "UPDATE rm_jobs SET matched = NULL, unmatched_left = NULL, unmatched_right = NULL, suggestions = NULL,
                            failure_reason = NULL, cancel_reason = NULL, progress = NULL, outcome = NULL,
                            results_revision = NULL
                     WHERE job_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            finished.then_some(JobStatus::Created)
        }
        JobEvent::JobDeleted {} => Some(JobStatus::Deleted),
        JobEvent::JobStarted {} | JobEvent::JobRetried {} => {
            sqlx::query(
                "UPDATE rm_jobs SET matched = NULL, unmatched_left = NULL, unmatched_right = NULL, suggestions = NULL,
                        failure_reason = NULL, cancel_reason = NULL, progress = NULL, outcome = NULL, run = run + 1
                 WHERE job_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Some(JobStatus::Running)
        }
        JobEvent::JobCancelled { reason } => {
            sqlx::query("UPDATE rm_jobs SET cancel_reason = $2 WHERE job_id = $1")
                .bind(id)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
            Some(JobStatus::Cancelled)
        }
        JobEvent::JobProgressed { progress, .. } => {
            sqlx::query("UPDATE rm_jobs SET progress = $2 WHERE job_id = $1")
                .bind(id)
                .bind(serde_json::to_value(progress).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
            None
        }
        JobEvent::JobCompleted {
            counts,
            values,
            manifest,
            revision,
            ..
        } => {
            sqlx::query(
                "UPDATE rm_jobs SET matched = $2, unmatched_left = $3, unmatched_right = $4, suggestions = $5,
                        outcome = $6, progress = NULL, results_revision = NULLIF($7, 0) WHERE job_id = $1",
            )
            .bind(id)
            .bind(counts.matched as i64)
            .bind(counts.unmatched_left as i64)
            .bind(counts.unmatched_right as i64)
            .bind(counts.suggestions as i64)
            .bind(serde_json::json!({"values": values, "manifest": manifest}))
            .bind(*revision as i32)
            .execute(&mut *tx)
            .await?;
            Some(JobStatus::Completed)
        }
        JobEvent::JobFailed { reason, .. } => {
            sqlx::query(
                "UPDATE rm_jobs SET failure_reason = $2, progress = NULL WHERE job_id = $1",
            )
            .bind(id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            Some(JobStatus::Failed)
        }
    };
    if let Some(new_status) = new_status {
        let old: String =
            sqlx::query_scalar("SELECT status FROM rm_jobs WHERE job_id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("UPDATE rm_jobs SET status = $2 WHERE job_id = $1")
            .bind(id)
            .bind(new_status.as_str())
            .execute(&mut *tx)
            .await?;
        bump(tx, &status_counter(&old), -1).await?;
        bump(tx, &status_counter(new_status.as_str()), 1).await?;
    }
    sqlx::query("UPDATE rm_jobs SET version = $2, updated_at = $3 WHERE job_id = $1")
        .bind(id)
        .bind(event.sequence)
        .bind(event.recorded_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn apply_data_source(
    tx: &mut PgConnection,
    event: &StoredEvent,
    decoded: DataSourceEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decoded {
        DataSourceEvent::DataSourceCreated {
            project_id,
            name,
            settings,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_sources (source_id, project_id, name, settings, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(id)
            .bind(project_id)
            .bind(name.as_str())
            .bind(&settings)
            .bind(event.sequence)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        DataSourceEvent::DataSourceConfigured { settings } => {
            sqlx::query("UPDATE rm_sources SET settings = $2 WHERE source_id = $1")
                .bind(id)
                .bind(&settings)
                .execute(&mut *tx)
                .await?;
        }
        DataSourceEvent::SourceFileImported { file } => {
            sqlx::query(
                "UPDATE rm_sources SET files = files + 1, records = records + $2, last_file = $3 WHERE source_id = $1",
            )
            .bind(id)
            .bind(file.records_added as i64)
            .bind(serde_json::to_value(&file).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query("UPDATE rm_sources SET version = $2, updated_at = $3 WHERE source_id = $1")
        .bind(id)
        .bind(event.sequence)
        .bind(event.recorded_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
