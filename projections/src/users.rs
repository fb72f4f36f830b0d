//! The users read model (`rm_users`): what the admin list shows.

use chrono::{DateTime, Utc};
use commands::StoredEvent;
use domain::user::UserEvent;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::queries::Page;
use crate::ProjectionError;

pub(crate) async fn apply_user(
    tx: &mut PgConnection,
    event: &StoredEvent,
    id: Uuid,
    decoded: UserEvent,
) -> Result<(), ProjectionError> {
    let (set, value): (&str, Option<String>) = match decoded {
        UserEvent::UserCreated { email, role, .. } => {
            sqlx::query(
                "INSERT INTO rm_users (user_id, email, role, status, version, created_at, updated_at)
                 VALUES ($1, $2, $3, 'active', $4, $5, $5)",
            )
            .bind(id)
            .bind(email.as_str())
            .bind(role.as_str())
            .bind(event.sequence)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        UserEvent::UserRoleChanged { role } => ("role = $4", Some(role.as_str().to_string())),
        UserEvent::UserDisabled {} => ("status = 'disabled'", None),
        UserEvent::UserLocked { until, .. } => {
            ("locked_until = $4::timestamptz", Some(until.to_rfc3339()))
        }
        // A new password lifts a lock (as in the aggregate).
        UserEvent::UserPasswordChanged { .. } => ("locked_until = NULL", None),
    };
    let sql =
        format!("UPDATE rm_users SET {set}, version = $2, updated_at = $3 WHERE user_id = $1");
    let mut query = sqlx::query(&sql)
        .bind(id)
        .bind(event.sequence)
        .bind(event.recorded_at);
    if let Some(value) = value {
        query = query.bind(value);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    pub status: String,
    pub locked_until: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn user_row(row: &PgRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        status: row.try_get("status")?,
        locked_until: row.try_get("locked_until")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Users, oldest first; `role` and `status` filter.
pub async fn list_users(
    pool: &PgPool,
    role: Option<&str>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<UserRow>, sqlx::Error> {
    let filter = "WHERE ($1::text IS NULL OR role = $1) AND ($2::text IS NULL OR status = $2)";
    let rows = sqlx::query(&format!(
        "SELECT * FROM rm_users {filter} ORDER BY created_at, user_id LIMIT $3 OFFSET $4"
    ))
    .bind(role)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM rm_users {filter}"))
        .bind(role)
        .bind(status)
        .fetch_one(pool)
        .await?;
    Ok(Page {
        items: rows.iter().map(user_row).collect::<Result<_, _>>()?,
        limit,
        offset,
        total,
    })
}
