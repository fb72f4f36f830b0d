//! Route table. One module per resource.

pub mod auth;
pub mod dashboard;
pub mod health;
pub mod jobs;
pub mod projects;
pub mod results;
pub mod sources;
pub mod users;

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use commands::{Committed, StoredEvent};
use serde::Serialize;

use std::future::Future;

use crate::access::Endpoint;
use crate::problem::Problem;
use crate::read_cache::ReadKey;
use crate::request::Freshness;
use crate::AppState;

/// Every endpoint Recon serves, with its access rule (see `crate::access`).
pub static ENDPOINTS: LazyLock<Vec<Endpoint>> = LazyLock::new(|| {
    [
        health::endpoints(),
        auth::endpoints(),
        users::endpoints(),
        projects::endpoints(),
        jobs::endpoints(),
        sources::endpoints(),
        results::endpoints(),
        dashboard::endpoints(),
        crate::docs::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
});

pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::access::register(cfg, &ENDPOINTS);
}

/// What every command answers: the aggregate, its new version and the store position of the
/// command's last event (pass it as `wait_for_position` to read your own write).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandAnswer {
    pub id: uuid::Uuid,
    pub version: u64,
    pub position: Option<i64>,
    pub events: usize,
}

pub fn command_answer(mut builder: HttpResponseBuilder, committed: Committed) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(committed.version as i64)))
        .json(CommandAnswer {
            id: committed.id,
            version: committed.version,
            position: committed.position,
            events: committed.events,
        })
}

pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&version_tag(version)).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The ETag of a version: `"3"`.
fn version_tag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A 200 with the read-your-writes outcome in `Recon-Consistency`.
fn answered(freshness: Freshness) -> HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    if let Some(value) = freshness.header_value() {
        builder.insert_header(("Recon-Consistency", value));
    }
    builder
}

/// A query answer, with the read-your-writes outcome in `Recon-Consistency`.
pub fn query_answer<T: Serialize>(freshness: Freshness, body: &T) -> HttpResponse {
    answered(freshness).json(body)
}

/// A hot read, through the read cache (`crate::read_cache`): `load` runs on a miss, and its
/// answer is kept unless the request asked to read its own write. The ETag is the read model's
/// version when it has one, else a digest of the answer.
pub async fn cached_read<T, Fut>(
    state: &AppState,
    key: ReadKey,
    freshness: Freshness,
    load: impl FnOnce() -> Fut,
) -> Result<HttpResponse, Problem>
where
    T: Serialize,
    Fut: Future<Output = Result<(T, Option<i64>), Problem>>,
{
    let resource = key.resource();
    // Taken before the read: an answer read while a change lands is of the older generation.
    let generation = state.read_cache.generation();
    // A read of one's own write skips the cache (the notification of that write may not have
    // arrived yet) but refreshes it, so a plain read after it does not go back in time.
    let use_cache = freshness == Freshness::NotRequested;
    if let Some(hit) = generation
        .filter(|_| use_cache)
        .and_then(|_| state.read_cache.get(key))
    {
        state.metrics.read_cache(resource, "hit");
        return Ok(json_answer(freshness, hit.body.clone(), &hit.etag));
    }
    let outcome = match (generation, use_cache) {
        (Some(_), true) => "miss",
        _ => "bypass",
    };
    state.metrics.read_cache(resource, outcome);
    let (value, version) = load().await?;
    let body = web::Bytes::from(serde_json::to_vec(&value).map_err(Problem::internal)?);
    let tag = match version {
        Some(v) => version_tag(v),
        None => digest_etag(&body),
    };
    // A timed-out wait read what the read models had: keep nothing of it.
    if let (Some(generation), false) = (generation, freshness == Freshness::TimedOut) {
        state
            .read_cache
            .put(key, generation, body.clone(), tag.clone());
    }
    Ok(json_answer(freshness, body, &tag))
}

fn digest_etag(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

fn json_answer(freshness: Freshness, body: web::Bytes, tag: &str) -> HttpResponse {
    let mut builder = answered(freshness);
    builder.content_type("application/json");
    if let Ok(value) = HeaderValue::from_str(tag) {
        builder.insert_header((header::ETAG, value));
    }
    builder.body(body)
}

/// One event of an aggregate's history as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub position: i64,
    pub event_id: uuid::Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub actor: Option<String>,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
}

impl From<StoredEvent> for HistoryEntry {
    fn from(e: StoredEvent) -> Self {
        Self {
            actor: e.meta("actor").map(str::to_string),
            position: e.position,
            event_id: e.event_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            recorded_at: e.recorded_at,
            payload: e.payload,
            metadata: e.metadata,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    pub aggregate_id: String,
    pub aggregate_type: Option<String>,
    pub events: Vec<HistoryEntry>,
}

/// An aggregate's history, or 404 when it has none of the expected type.
pub async fn history(
    pool: &sqlx::PgPool,
    id: uuid::Uuid,
    aggregate_type: &str,
) -> Result<HttpResponse, crate::problem::Problem> {
    let events = commands::reading::aggregate_history(pool, &id.to_string()).await?;
    if events
        .first()
        .is_none_or(|e| e.aggregate_type != aggregate_type)
    {
        return Err(crate::problem::Problem::not_found(format!(
            "no {aggregate_type} {id}"
        )));
    }
    Ok(HttpResponse::Ok().json(History {
        aggregate_id: id.to_string(),
        aggregate_type: events.first().map(|e| e.aggregate_type.clone()),
        events: events.into_iter().map(HistoryEntry::from).collect(),
    }))
}
