//! What the API reads: the read models, the dashboard counters, and how far behind they are.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::job::JobStatus;
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::READ_MODELS;

/// One page of a list.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub offset: i64,
    pub total: i64,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub base_currency: String,
    pub status: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn project_view(row: &PgRow) -> Result<ProjectView, sqlx::Error> {
    Ok(ProjectView {
        id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        base_currency: row.try_get("base_currency")?,
        status: row.try_get("status")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct JobCountsView {
    pub matched: i64,
    pub unmatched_left: i64,
    pub unmatched_right: i64,
    pub suggestions: i64,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub left_source_id: Uuid,
    pub right_source_id: Uuid,
    pub rule_set: Value,
    pub status: String,
    pub counts: Option<JobCountsView>,
    pub failure_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub run: i32,
    pub progress: Option<Value>,
    /// Per-currency values and the run's manifest, once completed.
    pub outcome: Option<Value>,
    /// The definition's revision: 1 when created, one more with each update.
    pub revision: i32,
    /// The revision the shown results were computed from (absent without results, or for
    /// results older than revisions).
    pub results_revision: Option<i32>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn job_view(row: &PgRow) -> Result<JobView, sqlx::Error> {
    let matched: Option<i64> = row.try_get("matched")?;
    let counts = match matched {
        Some(matched) => Some(JobCountsView {
            matched,
            unmatched_left: row
                .try_get::<Option<i64>, _>("unmatched_left")?
                .unwrap_or(0),
            unmatched_right: row
                .try_get::<Option<i64>, _>("unmatched_right")?
                .unwrap_or(0),
            suggestions: row.try_get::<Option<i64>, _>("suggestions")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(JobView {
        id: row.try_get("job_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        left_source_id: row.try_get("left_source_id")?,
        right_source_id: row.try_get("right_source_id")?,
        rule_set: row.try_get("rule_set")?,
        status: row.try_get("status")?,
        counts,
        failure_reason: row.try_get("failure_reason")?,
        cancel_reason: row.try_get("cancel_reason")?,
        run: row.try_get("run")?,
        progress: row.try_get("progress")?,
        outcome: row.try_get("outcome")?,
        revision: row.try_get("revision")?,
        results_revision: row.try_get("results_revision")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Only the projects this user is a member of (operators and viewers), or every project (None).
const MEMBER_FILTER: &str = "($MEMBER::uuid IS NULL OR project_id IN
    (SELECT m.project_id FROM rm_project_members m WHERE m.user_id = $MEMBER))";

fn member_filter(n: usize) -> String {
    MEMBER_FILTER.replace("$MEMBER", &format!("${n}"))
}

/// Projects, oldest first; `status` filters (`active`, `archived`); `member`, when set, keeps
/// only the projects that user belongs to.
pub async fn list_projects(
    pool: &PgPool,
    status: Option<&str>,
    member: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<Page<ProjectView>, sqlx::Error> {
    let filter = format!(
        "WHERE ($1::text IS NULL OR status = $1) AND {}",
        member_filter(2)
    );
    let rows = sqlx::query(&format!(
        "SELECT * FROM rm_projects {filter} ORDER BY created_at, project_id LIMIT $3 OFFSET $4"
    ))
    .bind(status)
    .bind(member)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM rm_projects {filter}"))
        .bind(status)
        .bind(member)
        .fetch_one(pool)
        .await?;
    Ok(Page {
        items: rows.iter().map(project_view).collect::<Result<_, _>>()?,
        limit,
        offset,
        total,
    })
}

pub async fn get_project(pool: &PgPool, id: Uuid) -> Result<Option<ProjectView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM rm_projects WHERE project_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(project_view).transpose()
}

/// Jobs, oldest first, optionally of one project and one status; `member`, when set, keeps
/// only jobs of projects that user belongs to.
pub async fn list_jobs(
    pool: &PgPool,
    project_id: Option<Uuid>,
    status: Option<JobStatus>,
    member: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<Page<JobView>, sqlx::Error> {
    let status = status.map(JobStatus::as_str);
    let filter = format!(
        "WHERE ($1::uuid IS NULL OR project_id = $1) AND ($2::text IS NULL OR status = $2) AND {}",
        member_filter(3)
    );
    let rows = sqlx::query(&format!(
        "SELECT * FROM rm_jobs {filter} ORDER BY created_at, job_id LIMIT $4 OFFSET $5"
    ))
    .bind(project_id)
    .bind(status)
    .bind(member)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM rm_jobs {filter}"))
        .bind(project_id)
        .bind(status)
        .bind(member)
        .fetch_one(pool)
        .await?;
    Ok(Page {
        items: rows.iter().map(job_view).collect::<Result<_, _>>()?,
        limit,
        offset,
        total,
    })
}

pub async fn get_job(pool: &PgPool, id: Uuid) -> Result<Option<JobView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM rm_jobs WHERE job_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(job_view).transpose()
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectCounts {
    pub total: i64,
    pub active: i64,
    pub archived: i64,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatusCounts {
    pub total: i64,
    /// Every status, zero included: created, running, completed, failed, cancelled, deleted.
    pub by_status: BTreeMap<String, i64>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    pub projects: ProjectCounts,
    pub jobs: JobStatusCounts,
}

/// The dashboard summary, from the projector's counters.
pub async fn dashboard(pool: &PgPool) -> Result<Dashboard, sqlx::Error> {
    let counters: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT counter, value FROM rm_dashboard_counters")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    Ok(Dashboard {
        projects: ProjectCounts {
            total: get("projects.total"),
            active: get("projects.active"),
            archived: get("projects.archived"),
        },
        jobs: JobStatusCounts {
            total: get("jobs.total"),
            by_status: JobStatus::ALL_EXISTING
                .iter()
                .map(|s| (s.as_str().to_string(), get(&format!("jobs.{}", s.as_str()))))
                .collect(),
        },
    })
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionStatus {
    #[schema(value_type = String)]
    pub projection: &'static str,
    pub events_in_store: i64,
    pub events_applied: i64,
    /// Events committed to the store that the read models have not applied yet.
    pub lag: i64,
    /// How old the oldest of them is (0 when none; approximate, see `oldest_unapplied.sql`).
    pub lag_seconds: f64,
    /// Events that could not be applied and were parked (`projection_parked_events`).
    pub parked_events: i64,
}

/// How far behind the store the read models are. Each aggregate's sequence starts at 1 with no
/// holes, so the sum of applied sequences is the number of events applied.
pub async fn projection_status(pool: &PgPool) -> Result<ProjectionStatus, sqlx::Error> {
    let in_store = commands::reading::event_count(pool).await?;
    let applied: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(last_sequence), 0)::bigint FROM projection_applied WHERE projection = $1",
    )
    .bind(READ_MODELS)
    .fetch_one(pool)
    .await?;
    let lag = (in_store - applied).max(0);
    // Unapplied events are among the newest: look at the last `lag` events by position, with a
    // margin for transactions that took a position earlier and committed later.
    let lag_seconds = if lag == 0 {
        0.0
    } else {
        sqlx::query_scalar::<_, f64>(include_str!("sql/oldest_unapplied.sql"))
            .bind(READ_MODELS)
            .bind(lag + 1000)
            .fetch_one(pool)
            .await?
    };
    Ok(ProjectionStatus {
        projection: READ_MODELS,
        events_in_store: in_store,
        events_applied: applied,
        lag,
        lag_seconds,
        parked_events: crate::parking::parked_count(pool).await?,
    })
}

/// Whether the read models have applied the event at `position` (and, so, every earlier event of
/// its aggregate). `None` when no event has that position.
pub async fn has_applied(pool: &PgPool, position: i64) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT e.sequence <= coalesce(a.last_sequence, 0)
         FROM events e
         LEFT JOIN projection_applied a ON a.projection = $2 AND a.aggregate_id = e.aggregate_id
         WHERE e.position = $1",
    )
    .bind(position)
    .bind(READ_MODELS)
    .fetch_optional(pool)
    .await
}

/// What [`wait_until_applied`] found, and how many times it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited {
    /// Whether the position was applied in time; `None`: no event has that position.
    pub applied: Option<bool>,
    pub checks: u32,
}

/// How often a wait checks when no change notification wakes it: notifications can be
/// missed (a dropped connection), so this bounds the delay they would cause.
pub const WAIT_FALLBACK: Duration = Duration::from_millis(250);

/// Waits up to `timeout` for [`has_applied`], checking again whenever `changes` moves (a
/// counter of the projectors' change notifications, `crate::changes`) and at least every
/// `fallback` (the API uses [`WAIT_FALLBACK`]), not in a polling loop.
pub async fn wait_until_applied(
    pool: &PgPool,
    position: i64,
    timeout: Duration,
    mut changes: tokio::sync::watch::Receiver<u64>,
    fallback: Duration,
) -> Result<Waited, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut checks = 0;
    loop {
        // Marked seen before the check: a change committed after it wakes the next wait.
        changes.borrow_and_update();
        checks += 1;
        match has_applied(pool, position).await? {
            Some(false) if tokio::time::Instant::now() < deadline => {
                let nap = fallback.min(deadline - tokio::time::Instant::now());
                // A closed channel (no listener) leaves the fallback.
                if tokio::time::timeout(nap, changes.changed())
                    .await
                    .is_ok_and(|r| r.is_err())
                {
                    tokio::time::sleep(nap).await;
                }
            }
            applied => return Ok(Waited { applied, checks }),
        }
    }
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub settings: Value,
    pub files: i64,
    pub records: i64,
    pub last_file: Option<Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn source_view(row: &PgRow) -> Result<SourceView, sqlx::Error> {
    Ok(SourceView {
        id: row.try_get("source_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        settings: row.try_get("settings")?,
        files: row.try_get("files")?,
        records: row.try_get("records")?,
        last_file: row.try_get("last_file")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get_source(pool: &PgPool, id: Uuid) -> Result<Option<SourceView>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM rm_sources WHERE source_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(source_view).transpose()
}

pub async fn list_sources(
    pool: &PgPool,
    project_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Page<SourceView>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM rm_sources WHERE project_id = $1 ORDER BY created_at, source_id LIMIT $2 OFFSET $3")
        .bind(project_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_sources WHERE project_id = $1")
        .bind(project_id)
        .fetch_one(pool)
        .await?;
    Ok(Page {
        items: rows.iter().map(source_view).collect::<Result<_, _>>()?,
        limit,
        offset,
        total,
    })
}
