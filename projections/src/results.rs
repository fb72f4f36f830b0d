//! Results of a job's run, as the worker stored them (`worker::results`): cursor pages of
//! matches, unmatched records and suggestions, and the CSV lines of an export.

use domain::records::{push_csv_quoted, Side};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

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
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct ResultPage {
    /// Matches, unmatched records or suggestions (see the API guide for their fields).
    #[schema(value_type = Vec<Object>)]
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
            .bind(side.as_str())
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
                Value::String(s) => push_csv_quoted(&mut out, s),
                Value::Number(n) => out.push_str(&n.to_string()),
                other => push_csv_quoted(&mut out, &other.to_string()),
            }
        }
        out.push('\n');
    }
    out
}
