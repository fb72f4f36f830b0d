//! Run results: written once per run in one transaction (replacing a partial attempt of the same
//! run). They are read back by `projections::results` (cursor pages, CSV / NDJSON exports).

use std::collections::HashMap;

use domain::records::{push_csv_quoted, Record, Side};
use matching::MatchOutcome;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

const COPY_CHUNK: usize = 2_000;

/// Streams CSV lines into a COPY, hashing them too.
struct CopyWriter<'c> {
    copy: sqlx::postgres::PgCopyIn<&'c mut PgConnection>,
    buffer: String,
    lines: usize,
    hasher: &'c mut Sha256,
}

impl<'c> CopyWriter<'c> {
    async fn line(&mut self, line: &str) -> Result<(), sqlx::Error> {
        self.buffer.push_str(line);
        self.lines += 1;
        if self.lines >= COPY_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        if !self.buffer.is_empty() {
            self.hasher.update(self.buffer.as_bytes());
            self.copy.send(self.buffer.as_bytes()).await?;
            self.buffer.clear();
            self.lines = 0;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(), sqlx::Error> {
        self.flush().await?;
        self.copy.finish().await?;
        Ok(())
    }
}

async fn copy_in<'c>(
    conn: &'c mut PgConnection,
    statement: &str,
    hasher: &'c mut Sha256,
) -> Result<CopyWriter<'c>, sqlx::Error> {
    Ok(CopyWriter {
        copy: conn.copy_in_raw(statement).await?,
        buffer: String::new(),
        lines: 0,
        hasher,
    })
}

/// Position of each record by id.
fn id_index(records: &[Record]) -> HashMap<&str, usize> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect()
}

/// Stores the outcome of `run` and returns the SHA-256 over everything stored, in order.
/// Fenced by the lease: `None` (and nothing stored) unless `worker` still holds the run.
pub async fn store(
    pool: &PgPool,
    job: Uuid,
    run: u32,
    worker: &str,
    outcome: &MatchOutcome,
    left: &[Record],
    right: &[Record],
) -> Result<Option<String>, sqlx::Error> {
    let (left_index, right_index) = (id_index(left), id_index(right));
    let mut hasher = Sha256::new();
    let mut tx = pool.begin().await?;
    // Fenced by the lease, checked at the start and again just before commit. Not a row lock:
    // the run's supervisor renews the lease meanwhile and must not wait behind this transaction.
    if !holds_lease(&mut tx, job, run, worker).await? {
        return Ok(None);
    }
    for table in ["result_matches", "result_unmatched", "result_suggestions"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE job_id = $1 AND run = $2"
        ))
        .bind(job)
        .bind(run as i32)
        .execute(&mut *tx)
        .await?;
    }
    {
        let mut w = copy_in(&mut tx, "COPY result_matches (job_id, run, seq, pass_index, pass_name, score, amount_difference, day_difference, conditions, left_ids, right_ids) FROM STDIN WITH (FORMAT csv)", &mut hasher).await?;
        let mut line = String::new();
        for (seq, m) in (1..).zip(outcome.matches.iter()) {
            line.clear();
            line.push_str(&format!("{job},{run},{seq},{},", m.pass_index));
            push_csv_quoted(&mut line, &m.pass_name);
            line.push_str(&format!(
                ",{},{},{},",
                m.score, m.reason.amount_difference, m.reason.day_difference
            ));
            push_csv_quoted(
                &mut line,
                &serde_json::to_string(&m.reason.conditions).unwrap_or_default(),
            );
            line.push(',');
            push_csv_quoted(
                &mut line,
                &serde_json::to_string(&m.left).unwrap_or_default(),
            );
            line.push(',');
            push_csv_quoted(
                &mut line,
                &serde_json::to_string(&m.right).unwrap_or_default(),
            );
            line.push('\n');
            w.line(&line).await?;
        }
        w.finish().await?;
    }
    {
        let mut w = copy_in(&mut tx, "COPY result_unmatched (job_id, run, side, seq, record_id, booking_date, amount, currency, reference) FROM STDIN WITH (FORMAT csv)", &mut hasher).await?;
        let mut line = String::new();
        for (side, ids, records, index) in [
            (Side::Left, &outcome.unmatched_left, left, &left_index),
            (Side::Right, &outcome.unmatched_right, right, &right_index),
        ] {
            for (seq, id) in (1..).zip(ids.iter()) {
                let Some(record) = index.get(id.as_str()).map(|i| &records[*i]) else {
                    continue;
                };
                line.clear();
                line.push_str(&format!("{job},{run},{},{seq},", side.as_str()));
                push_csv_quoted(&mut line, id);
                line.push_str(&format!(
                    ",{},{},{},",
                    record.booking_date, record.amount, record.currency
                ));
                if let Some(reference) = &record.reference {
                    push_csv_quoted(&mut line, reference);
                }
                line.push('\n');
                w.line(&line).await?;
            }
        }
        w.finish().await?;
    }
    {
        let mut w = copy_in(&mut tx, "COPY result_suggestions (job_id, run, seq, pass_index, pass_name, side, record_id, candidates) FROM STDIN WITH (FORMAT csv)", &mut hasher).await?;
        let mut line = String::new();
        for (seq, s) in (1..).zip(outcome.suggestions.iter()) {
            line.clear();
            line.push_str(&format!("{job},{run},{seq},{},", s.pass_index));
            push_csv_quoted(&mut line, &s.pass_name);
            line.push_str(&format!(",{},", s.side.as_str()));
            push_csv_quoted(&mut line, &s.record);
            line.push(',');
            push_csv_quoted(
                &mut line,
                &serde_json::to_string(&s.candidates).unwrap_or_default(),
            );
            line.push('\n');
            w.line(&line).await?;
        }
        w.finish().await?;
    }
    if !holds_lease(&mut tx, job, run, worker).await? {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(hex::encode(hasher.finalize())))
}

async fn holds_lease(
    tx: &mut PgConnection,
    job: Uuid,
    run: u32,
    worker: &str,
) -> Result<bool, sqlx::Error> {
    let holds: Option<i32> = sqlx::query_scalar("SELECT run FROM job_leases WHERE job_id = $1 AND run = $2 AND worker_id = $3 AND NOT finished")
        .bind(job)
        .bind(run as i32)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(holds.is_some())
}

/// Removes what a run stored (a run whose completion was refused).
pub async fn discard(pool: &PgPool, job: Uuid, run: u32) -> Result<(), sqlx::Error> {
    for table in ["result_matches", "result_unmatched", "result_suggestions"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE job_id = $1 AND run = $2"
        ))
        .bind(job)
        .bind(run as i32)
        .execute(pool)
        .await?;
    }
    Ok(())
}
