//! Run results: written once per run in one transaction (replacing a partial attempt of the same
//! run), read back in cursor pages or streamed as CSV / NDJSON.

use std::collections::HashMap;

use domain::records::{Record, Side};
use matching::MatchOutcome;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

const COPY_CHUNK: usize = 2_000;

fn quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Left => "left",
        Side::Right => "right",
    }
}

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
            quoted(&mut line, &m.pass_name);
            line.push_str(&format!(
                ",{},{},{},",
                m.score, m.reason.amount_difference, m.reason.day_difference
            ));
            quoted(
                &mut line,
                &serde_json::to_string(&m.reason.conditions).unwrap_or_default(),
            );
            line.push(',');
            quoted(
                &mut line,
                &serde_json::to_string(&m.left).unwrap_or_default(),
            );
            line.push(',');
            quoted(
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
                line.push_str(&format!("{job},{run},{},{seq},", side_name(side)));
                quoted(&mut line, id);
                line.push_str(&format!(
                    ",{},{},{},",
                    record.booking_date, record.amount, record.currency
                ));
                if let Some(reference) = &record.reference {
                    quoted(&mut line, reference);
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
            quoted(&mut line, &s.pass_name);
            line.push_str(&format!(",{},", side_name(s.side)));
            quoted(&mut line, &s.record);
            line.push(',');
            quoted(
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

/// Which list of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    Matches,
    Unmatched(Side),
    Suggestions,
}

/// Filters a list accepts (`pass` and `min_score` for matches, `currency` for unmatched).
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub pass_index: Option<i32>,
    pub min_score: Option<f64>,
    pub currency: Option<String>,
}

/// One page: `next_cursor` is absent on the last page.
#[derive(Debug, Serialize)]
pub struct ResultPage {
    pub items: Vec<Value>,
    pub limit: i64,
    pub next_cursor: Option<i64>,
}

fn match_json(row: &PgRow) -> Result<Value, sqlx::Error> {
    Ok(serde_json::json!({
        "seq": row.try_get::<i64, _>("seq")?,
        "pass_index": row.try_get::<i32, _>("pass_index")?,
        "pass_name": row.try_get::<String, _>("pass_name")?,
        "score": row.try_get::<f64, _>("score")?,
        "amount_difference": row.try_get::<String, _>("amount_difference")?,
        "day_difference": row.try_get::<i32, _>("day_difference")?,
        "conditions": row.try_get::<Value, _>("conditions")?,
        "left": row.try_get::<Value, _>("left_ids")?,
        "right": row.try_get::<Value, _>("right_ids")?,
    }))
}

fn unmatched_json(row: &PgRow) -> Result<Value, sqlx::Error> {
    Ok(serde_json::json!({
        "seq": row.try_get::<i64, _>("seq")?,
        "side": row.try_get::<String, _>("side")?,
        "record_id": row.try_get::<String, _>("record_id")?,
        "booking_date": row.try_get::<chrono::NaiveDate, _>("booking_date")?,
        "amount": row.try_get::<String, _>("amount")?,
        "currency": row.try_get::<String, _>("currency")?,
        "reference": row.try_get::<Option<String>, _>("reference")?,
    }))
}

fn suggestion_json(row: &PgRow) -> Result<Value, sqlx::Error> {
    Ok(serde_json::json!({
        "seq": row.try_get::<i64, _>("seq")?,
        "pass_index": row.try_get::<i32, _>("pass_index")?,
        "pass_name": row.try_get::<String, _>("pass_name")?,
        "side": row.try_get::<String, _>("side")?,
        "record_id": row.try_get::<String, _>("record_id")?,
        "candidates": row.try_get::<Value, _>("candidates")?,
    }))
}

/// Items after `cursor` (a `seq`), at most `limit`.
pub async fn page(
    pool: &PgPool,
    job: Uuid,
    run: u32,
    kind: ResultKind,
    filter: &ResultFilter,
    cursor: i64,
    limit: i64,
) -> Result<ResultPage, sqlx::Error> {
    let rows = match kind {
        ResultKind::Matches => {
            sqlx::query(
                "SELECT seq, pass_index, pass_name, score, amount_difference::text AS amount_difference, day_difference,
                        conditions, left_ids, right_ids
                 FROM result_matches WHERE job_id = $1 AND run = $2 AND seq > $3
                   AND ($5::int IS NULL OR pass_index = $5) AND ($6::float8 IS NULL OR score >= $6)
                 ORDER BY seq LIMIT $4",
            )
            .bind(job)
            .bind(run as i32)
            .bind(cursor)
            .bind(limit + 1)
            .bind(filter.pass_index)
            .bind(filter.min_score)
            .fetch_all(pool)
            .await?
        }
        ResultKind::Unmatched(side) => {
            sqlx::query(
                "SELECT seq, side, record_id, booking_date, amount::text AS amount, currency, reference
                 FROM result_unmatched WHERE job_id = $1 AND run = $2 AND side = $5 AND seq > $3
                   AND ($6::text IS NULL OR currency = $6)
                 ORDER BY seq LIMIT $4",
            )
            .bind(job)
            .bind(run as i32)
            .bind(cursor)
            .bind(limit + 1)
            .bind(side_name(side))
            .bind(filter.currency.as_deref())
            .fetch_all(pool)
            .await?
        }
        ResultKind::Suggestions => {
            sqlx::query(
                "SELECT seq, pass_index, pass_name, side, record_id, candidates
                 FROM result_suggestions WHERE job_id = $1 AND run = $2 AND seq > $3 ORDER BY seq LIMIT $4",
            )
            .bind(job)
            .bind(run as i32)
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(pool)
            .await?
        }
    };
    let to_json = match kind {
        ResultKind::Matches => match_json,
        ResultKind::Unmatched(_) => unmatched_json,
        ResultKind::Suggestions => suggestion_json,
    };
    // One row more than asked tells whether another page follows.
    let more = rows.len() as i64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(to_json)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if more {
        items.last().and_then(|i| i["seq"].as_i64())
    } else {
        None
    };
    Ok(ResultPage {
        items,
        limit,
        next_cursor,
    })
}

/// The CSV header of an export.
pub fn csv_header(kind: ResultKind) -> &'static str {
    match kind {
        ResultKind::Matches => "seq,pass_index,pass_name,score,amount_difference,day_difference,conditions,left,right\n",
        ResultKind::Unmatched(_) => "seq,side,record_id,booking_date,amount,currency,reference\n",
        ResultKind::Suggestions => "seq,pass_index,pass_name,side,record_id,candidates\n",
    }
}

/// One page of items as CSV lines (arrays and objects as JSON text in a quoted cell).
pub fn csv_lines(kind: ResultKind, items: &[Value]) -> String {
    let columns: &[&str] = match kind {
        ResultKind::Matches => &[
            "seq",
            "pass_index",
            "pass_name",
            "score",
            "amount_difference",
            "day_difference",
            "conditions",
            "left",
            "right",
        ],
        ResultKind::Unmatched(_) => &[
            "seq",
            "side",
            "record_id",
            "booking_date",
            "amount",
            "currency",
            "reference",
        ],
        ResultKind::Suggestions => &[
            "seq",
            "pass_index",
            "pass_name",
            "side",
            "record_id",
            "candidates",
        ],
    };
    let mut out = String::new();
    for item in items {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match &item[*column] {
                Value::Null => {}
                Value::String(s) => quoted(&mut out, s),
                Value::Number(n) => out.push_str(&n.to_string()),
                other => quoted(&mut out, &other.to_string()),
            }
        }
        out.push('\n');
    }
    out
}
