//! Schema migrations: the SQL files of `migrations/`, embedded in the binary and applied in
//! order, each in its own transaction, under an advisory lock so concurrent starts are safe.

use sqlx::{Connection, PgPool};

/// One migration: its version (the file's numeric prefix), name and SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "event_store",
        sql: include_str!("../../migrations/0001_event_store.sql"),
    },
    Migration {
        version: 2,
        name: "relay",
        sql: include_str!("../../migrations/0002_relay.sql"),
    },
    Migration {
        version: 3,
        name: "read_models",
        sql: include_str!("../../migrations/0003_read_models.sql"),
    },
    Migration {
        version: 4,
        name: "sources_and_runs",
        sql: include_str!("../../migrations/0004_sources_and_runs.sql"),
    },
    Migration {
        version: 5,
        name: "dead_letters",
        sql: include_str!("../../migrations/0005_dead_letters.sql"),
    },
    Migration {
        version: 6,
        name: "notify_after_commit",
        sql: include_str!("../../migrations/0006_notify_after_commit.sql"),
    },
    Migration {
        version: 7,
        name: "dead_letter_key",
        sql: include_str!("../../migrations/0007_dead_letter_key.sql"),
    },
    Migration {
        version: 8,
        name: "identity",
        sql: include_str!("../../migrations/0008_identity.sql"),
    },
    Migration {
        version: 9,
        name: "idempotency",
        sql: include_str!("../../migrations/0009_idempotency.sql"),
    },
    Migration {
        version: 10,
        name: "user_read_model",
        sql: include_str!("../../migrations/0010_user_read_model.sql"),
    },
    Migration {
        version: 11,
        name: "job_revisions",
        sql: include_str!("../../migrations/0011_job_revisions.sql"),
    },
    Migration {
        version: 12,
        name: "parked_events",
        sql: include_str!("../../migrations/0012_parked_events.sql"),
    },
];

/// An arbitrary constant that names Recon's migration lock.
const MIGRATION_LOCK_KEY: i64 = 0x5245_434f_4e4d_4947; // "RECONMIG"

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("database error while migrating: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the database has migration {0}, which this build does not know: is a newer Recon running against it?")]
    Unknown(i64),
}

/// Applies every migration not yet applied. Returns the versions it applied.
pub async fn migrate(pool: &PgPool) -> Result<Vec<i64>, MigrationError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result = apply_missing(&mut conn).await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await;
    let applied = result?;
    unlock?;
    Ok(applied)
}

async fn apply_missing(conn: &mut sqlx::PgConnection) -> Result<Vec<i64>, MigrationError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS recon_schema_migrations (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *conn)
    .await?;
    let done: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM recon_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    if let Some(unknown) = done
        .iter()
        .find(|v| !MIGRATIONS.iter().any(|m| m.version == **v))
    {
        return Err(MigrationError::Unknown(*unknown));
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let failed = |source| MigrationError::Failed {
            version: migration.version,
            name: migration.name,
            source,
        };
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO recon_schema_migrations (version, name) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        applied.push(migration.version);
    }
    Ok(applied)
}

/// True when every migration of this build is applied (what `/ready` checks).
pub async fn is_up_to_date(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('recon_schema_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(false);
    }
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM recon_schema_migrations WHERE version = ANY($1)")
            .bind(MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>())
            .fetch_one(pool)
            .await?;
    Ok(count == MIGRATIONS.len() as i64)
}
