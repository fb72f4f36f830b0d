//! What a projection does with an event it cannot apply. A batch fails as a whole (one
//! transaction); when the failure is the event's own (it no longer decodes, or the read models
//! refuse a value in it) rather than the database's or the order's, the batch is applied again
//! one event at a time, and the event that fails is *parked*: recorded in
//! `projection_parked_events` with the reason, and its aggregate's applied sequence moved past
//! it, in one transaction, so the aggregate's later events apply. The read models then lack
//! that one event's effect, which `/api/v1/projections/status` and `/metrics` report.
//! `OnFailure::Stop` retries the batch until the cause is fixed instead.

use commands::{StoreCheckpoint, StoredEvent};
use sqlx::PgPool;

use crate::apply::{apply_batch, Applied};
use crate::{ProjectionError, READ_MODELS};

/// What to do with an event that cannot be applied (`RECON_PROJECTION_FAILURES`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Park it and go on.
    #[default]
    Park,
    /// Stop at it (the batch is retried until the cause is fixed).
    Stop,
}

impl OnFailure {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "park" => Ok(OnFailure::Park),
            "stop" => Ok(OnFailure::Stop),
            other => Err(format!("must be `park` or `stop`, not `{other}`")),
        }
    }
}

impl ProjectionError {
    /// Whether the failure is the event's own, so that retrying cannot fix it: it does not
    /// decode, or the database refused a value (SQLSTATE classes 22, data exception, and 23,
    /// integrity constraint violation). Connection losses, serialization failures and sequence
    /// gaps pass with a retry.
    pub fn is_the_events_own(&self) -> bool {
        match self {
            ProjectionError::Undecodable { .. } => true,
            ProjectionError::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
            _ => false,
        }
    }
}

/// [`apply_batch`], parking the events that cannot be applied when `on_failure` says so. With
/// `store_checkpoint` (the embedded follower), the checkpoint is recorded with the batch, or
/// with each event when they are applied one at a time.
pub async fn apply_or_park(
    pool: &PgPool,
    events: &[StoredEvent],
    store_checkpoint: Option<StoreCheckpoint>,
    on_failure: OnFailure,
) -> Result<Applied, ProjectionError> {
    let error = match apply_batch(pool, events, store_checkpoint).await {
        Ok(applied) => return Ok(applied),
        Err(e) if on_failure == OnFailure::Park && e.is_the_events_own() => e,
        Err(e) => return Err(e),
    };
    tracing::warn!(error = %error, "a batch failed on an event; applying it one event at a time");
    let mut total = Applied::default();
    for event in events {
        let checkpoint = store_checkpoint.map(|_| event.checkpoint());
        match apply_batch(pool, std::slice::from_ref(event), checkpoint).await {
            Ok(applied) => {
                total.applied += applied.applied;
                total.duplicates += applied.duplicates;
            }
            Err(e) if e.is_the_events_own() => {
                park(pool, event, &e.to_string(), checkpoint).await?;
                total.parked += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

async fn park(
    pool: &PgPool,
    event: &StoredEvent,
    reason: &str,
    store_checkpoint: Option<StoreCheckpoint>,
) -> Result<(), ProjectionError> {
    tracing::error!(
        event_id = %event.event_id,
        aggregate_id = %event.aggregate_id,
        sequence = event.sequence,
        %reason,
        "event parked: the read models go on without it"
    );
    let mut tx = pool.begin().await?;
    sqlx::query(include_str!("sql/park_event.sql"))
        .bind(READ_MODELS)
        .bind(event.event_id)
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .bind(event.position)
        .bind(&event.event_type)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    // Past the parked event, never backwards (a redelivered parked event changes nothing).
    sqlx::query(
        "INSERT INTO projection_applied (projection, aggregate_id, last_sequence, last_position)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (projection, aggregate_id) DO UPDATE
         SET last_sequence = GREATEST(projection_applied.last_sequence, EXCLUDED.last_sequence),
             last_position = GREATEST(projection_applied.last_position, EXCLUDED.last_position),
             updated_at = now()",
    )
    .bind(READ_MODELS)
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .bind(event.position)
    .execute(&mut *tx)
    .await?;
    if let Some(checkpoint) = store_checkpoint {
        crate::apply::record_store_checkpoint(&mut tx, checkpoint).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many events a projection has parked.
pub async fn parked_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM projection_parked_events WHERE projection = $1")
        .bind(READ_MODELS)
        .fetch_one(pool)
        .await
}
