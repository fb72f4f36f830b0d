//! The event repository cqrs-es persists through: postgres-es's `PostgresEventRepository` for
//! reading, with Recon's own append. The append is one statement per command (no BEGIN/COMMIT
//! round trips) and returns the store positions, which `CommandStore` answers with; they reach
//! it through a task-local, because cqrs-es's `persist` returns nothing.

use std::cell::Cell;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

tokio::task_local! {
    /// Set by `CommandStore` around a commit: the position of the command's last event.
    pub(crate) static LAST_POSITION: Cell<Option<i64>>;
}

pub struct RecordingRepository {
    inner: PostgresEventRepository,
    pool: PgPool,
}

impl RecordingRepository {
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }
}

fn map_error(e: sqlx::Error) -> PersistenceError {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        // A serialization failure or deadlock is as passing as a dropped connection: the
        // command is answered "unavailable, retry", not "internal error".
        _ if is_transient(&e) => PersistenceError::ConnectionError(Box::new(e)),
        _ => PersistenceError::UnknownError(Box::new(e)),
    }
}

/// Whether an error passes with a retry: the database unreachable, a serialization failure
/// (SQLSTATE 40001) or a deadlock (40P01).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

impl PersistedEventRepository for RecordingRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            // Snapshot stores are not used by Recon; keep postgres-es's transactional path for them.
            return self.inner.persist::<A>(events, snapshot_update).await;
        }
        let Some(first) = events.first() else {
            return Ok(());
        };
        let rows: Vec<(i64, i64)> = sqlx::query_as(include_str!("sql/append_events.sql"))
            .bind(A::TYPE)
            .bind(&first.aggregate_id)
            .bind(events.iter().map(|e| e.sequence as i64).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.event_type.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.event_version.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.metadata.clone())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        let last = rows
            .iter()
            .max_by_key(|(sequence, _)| *sequence)
            .map(|(_, position)| *position);
        let _ = LAST_POSITION.try_with(|cell| cell.set(last));
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadlock or serialization failure during an append is "unavailable, retry" (503), not
    /// an unknown error (500).
    #[tokio::test]
    async fn serialization_failures_and_deadlocks_are_connection_errors() {
        let db = testkit::fresh_database().await;
        for code in ["40001", "40P01"] {
            let err = sqlx::query(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{code}'; END $$"
            ))
            .execute(&db.pool)
            .await
            .unwrap_err();
            assert!(
                matches!(map_error(err), PersistenceError::ConnectionError(_)),
                "{code}"
            );
        }
        let unique =
            sqlx::query("DO $$ BEGIN RAISE EXCEPTION 'dup' USING ERRCODE = '23505'; END $$")
                .execute(&db.pool)
                .await
                .unwrap_err();
        assert!(matches!(
            map_error(unique),
            PersistenceError::OptimisticLockError
        ));
    }
}
