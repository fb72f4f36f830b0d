//! Job leases in PostgreSQL.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Claims `run` of `job` for `worker` unless another worker holds a live lease on it, or the run
/// already finished. Returns whether this worker now holds it.
pub async fn try_claim(
    pool: &PgPool,
    job: Uuid,
    run: u32,
    worker: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO job_leases (job_id, run, worker_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
         ON CONFLICT (job_id) DO UPDATE
             SET run = EXCLUDED.run, worker_id = EXCLUDED.worker_id, expires_at = EXCLUDED.expires_at, finished = false
             WHERE job_leases.run < EXCLUDED.run
                OR (job_leases.run = EXCLUDED.run AND NOT job_leases.finished AND job_leases.expires_at < now())
         RETURNING job_id",
    )
    .bind(job)
    .bind(run as i32)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(claimed.is_some())
}

/// Extends the lease; `false` when this worker no longer holds it (it expired and was taken).
pub async fn renew(
    pool: &PgPool,
    job: Uuid,
    run: u32,
    worker: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query(
        "UPDATE job_leases SET expires_at = now() + make_interval(secs => $4)
         WHERE job_id = $1 AND run = $2 AND worker_id = $3 AND NOT finished",
    )
    .bind(job)
    .bind(run as i32)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Marks the run finished (completed, failed or cancelled): nobody picks it up again.
pub async fn finish(pool: &PgPool, job: Uuid, run: u32, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_leases SET finished = true, expires_at = now() WHERE job_id = $1 AND run = $2 AND worker_id = $3")
        .bind(job)
        .bind(run as i32)
        .bind(worker)
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives the run up without finishing it (shutdown): another worker may take it at once.
pub async fn release(pool: &PgPool, job: Uuid, run: u32, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE job_leases SET expires_at = now() - interval '1 second' WHERE job_id = $1 AND run = $2 AND worker_id = $3 AND NOT finished")
        .bind(job)
        .bind(run as i32)
        .bind(worker)
        .execute(pool)
        .await?;
    Ok(())
}

/// Running jobs (per the read model) whose current run nobody holds: never claimed, or claimed
/// by a worker whose lease expired without finishing.
pub async fn orphaned_runs(pool: &PgPool, limit: i64) -> Result<Vec<(Uuid, u32)>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT j.job_id, j.run FROM rm_jobs j LEFT JOIN job_leases l ON l.job_id = j.job_id
         WHERE j.status = 'running'
           AND (l.job_id IS NULL OR l.run < j.run OR (l.run = j.run AND NOT l.finished AND l.expires_at < now()))
         ORDER BY j.updated_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(j, r)| (j, r as u32)).collect())
}
