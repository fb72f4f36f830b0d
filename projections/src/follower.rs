//! The embedded projector: follows the store directly (gap-safe) and applies batches, recording
//! its store checkpoint in the same transaction. Woken by the in-process commit signal, by
//! PostgreSQL notifications from other processes, and otherwise every `idle_poll`.

use std::sync::Arc;
use std::time::Duration;

use commands::reading::{read_after, CommitWaiter};
use commands::StoreCheckpoint;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};

use crate::parking::{apply_or_park, OnFailure};
use crate::{ProjectionError, READ_MODELS};

pub struct FollowerConfig {
    pub batch_size: i64,
    pub idle_poll: Duration,
    pub on_failure: OnFailure,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            idle_poll: Duration::from_millis(250),
            on_failure: OnFailure::Park,
        }
    }
}

pub async fn store_checkpoint(pool: &PgPool) -> Result<StoreCheckpoint, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM projection_store_checkpoints WHERE projection = $1",
    )
    .bind(READ_MODELS)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or(StoreCheckpoint::START, |(transaction_id, position)| {
            StoreCheckpoint {
                transaction_id,
                position,
            }
        }),
    )
}

/// Applies everything committed so far, parking events that cannot be applied; returns the
/// number of events applied.
pub async fn catch_up(pool: &PgPool, batch_size: i64) -> Result<usize, ProjectionError> {
    catch_up_with(pool, batch_size, OnFailure::Park).await
}

/// [`catch_up`], with what to do about an event that cannot be applied.
pub async fn catch_up_with(
    pool: &PgPool,
    batch_size: i64,
    on_failure: OnFailure,
) -> Result<usize, ProjectionError> {
    let mut total = 0;
    let mut checkpoint = store_checkpoint(pool).await?;
    loop {
        let batch = read_after(pool, checkpoint, batch_size).await?;
        let Some(last) = batch.last() else {
            return Ok(total);
        };
        checkpoint = last.checkpoint();
        total += apply_or_park(pool, &batch, Some(checkpoint), on_failure)
            .await?
            .applied;
    }
}

/// Runs until `shutdown` turns true. Errors are logged and retried after a pause: the store
/// checkpoint only moves with a committed batch, so a retry re-reads what failed.
pub async fn run(
    pool: PgPool,
    commits: Arc<Notify>,
    config: FollowerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut waiter = CommitWaiter::new(&pool).await;
    tracing::info!("embedded projector following the event store");
    while !*shutdown.borrow() {
        match catch_up_with(&pool, config.batch_size, config.on_failure).await {
            Ok(n) if n > 0 => tracing::debug!(applied = n, "projected"),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "projection batch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        tokio::select! {
            _ = commits.notified() => {}
            _ = waiter.wait(config.idle_poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("embedded projector stopped");
}
