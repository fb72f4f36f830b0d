//! Reading committed events: in store order (gap-safe), or one aggregate's history.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::PgPool;
use sqlx::Row;
use uuid::Uuid;

/// An event as stored, with everything the store recorded about it. This is also the body of
/// the Kafka message the relay publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub position: i64,
    pub transaction_id: i64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

impl<'r> sqlx::FromRow<'r, PgRow> for StoredEvent {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            position: row.try_get("position")?,
            transaction_id: row.try_get("transaction_id")?,
            event_id: row.try_get("event_id")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

impl StoredEvent {
    pub fn checkpoint(&self) -> StoreCheckpoint {
        StoreCheckpoint {
            transaction_id: self.transaction_id,
            position: self.position,
        }
    }

    /// A metadata field as text (`actor`, `request_id`, `traceparent`, ...).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }

    /// The form the domain's upcasters and decoders read.
    pub fn to_serialized(&self) -> cqrs_es::persist::SerializedEvent {
        domain::upcasting::serialized(
            &self.aggregate_type,
            &self.aggregate_id,
            self.sequence as u64,
            &self.event_type,
            &self.event_version,
            self.payload.clone(),
        )
    }
}

/// A point in store order: (writing transaction id, position). Store order sorts by
/// transaction id first, because positions are handed out before commit and can commit out of
/// order; transaction ids below the oldest running transaction can not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StoreCheckpoint {
    pub transaction_id: i64,
    pub position: i64,
}

impl StoreCheckpoint {
    /// Before the first event.
    pub const START: StoreCheckpoint = StoreCheckpoint {
        transaction_id: 0,
        position: 0,
    };
}

/// Up to `limit` committed events after `after`, in store order. Never skips: an event not
/// returned now (its transaction, or an older one, is still running) is returned by a later call.
pub async fn read_after(
    pool: &PgPool,
    after: StoreCheckpoint,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as::<_, StoredEvent>(include_str!("sql/read_after.sql"))
        .bind(after.transaction_id)
        .bind(after.position)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Every event of one aggregate, oldest first.
pub async fn aggregate_history(
    pool: &PgPool,
    aggregate_id: &str,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as::<_, StoredEvent>(include_str!("sql/aggregate_history.sql"))
        .bind(aggregate_id)
        .fetch_all(pool)
        .await
}

/// Number of events in the store.
pub async fn event_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
}

/// Waits for a hint that new events may be committed: a `recon_events` notification, or the
/// timeout. Followers read the store after it either way, so a missed notification only delays.
pub struct CommitWaiter {
    listener: Option<PgListener>,
    pool: PgPool,
}

impl CommitWaiter {
    pub async fn new(pool: &PgPool) -> Self {
        let listener = Self::listen(pool).await;
        Self {
            listener,
            pool: pool.clone(),
        }
    }

    async fn listen(pool: &PgPool) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for commits; falling back to polling");
                return None;
            }
        };
        match listener.listen("recon_events").await {
            Ok(()) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for commits; falling back to polling");
                None
            }
        }
    }

    /// Returns after a notification or `timeout`, whichever is first.
    pub async fn wait(&mut self, timeout: Duration) {
        match self.listener.as_mut() {
            Some(listener) => match tokio::time::timeout(timeout, listener.try_recv()).await {
                Ok(Ok(Some(_))) | Err(_) => {}
                Ok(Ok(None)) => {} // connection lost; PgListener reconnects on the next call
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                    self.listener = Self::listen(&self.pool).await;
                    tokio::time::sleep(timeout).await;
                }
            },
            None => {
                tokio::time::sleep(timeout).await;
                self.listener = Self::listen(&self.pool).await;
            }
        }
    }
}
