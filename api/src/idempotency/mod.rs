//! `Idempotency-Key` on POST, PUT and DELETE (IETF httpapi draft
//! `draft-ietf-httpapi-idempotency-key-header-06`): the first request with a key runs and its
//! response (status, headers, body) is kept per (user, key) for 24 hours; a retry with the same
//! request gets that response again with `Idempotent-Replayed: true`, a retry while the first is
//! still running gets 409, and the same key with a different request gets 422.
//!
//! The key is claimed with one `INSERT … ON CONFLICT` before the handler runs, so of any number
//! of concurrent identical requests exactly one executes.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use application::Caller;
use chrono::{Duration, Utc};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::problem::Problem;

/// How long a response is kept for retries.
pub const RETENTION: Duration = Duration::hours(24);
/// A first request still "running" after this long is taken to have died with its process.
pub const ABANDONED_AFTER: Duration = Duration::minutes(10);
pub const MAX_KEY_LEN: usize = 255;

/// Whether this request asks for idempotency (a mutation with the header).
pub fn requested(req: &ServiceRequest) -> bool {
    matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE)
        && req.headers().contains_key("idempotency-key")
}

fn key_of(req: &ServiceRequest) -> Result<String, Problem> {
    let raw = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The draft makes the key a structured-field string: accept it quoted or bare.
    let key = raw.trim().trim_matches('"');
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(key.to_string())
}

/// Bodies up to this size are part of the request's fingerprint; larger ones (file uploads,
/// streamed) are fingerprinted by method, path, query and `Content-Length` only.
const HASHED_BODY_LIMIT: usize = crate::MAX_BODY_BYTES;

/// Reads a small body so it can be hashed, and puts it back for the handler.
async fn fingerprint(req: &mut ServiceRequest) -> Result<Vec<u8>, Problem> {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.uri().path().as_bytes());
    hasher.update(b"?");
    hasher.update(req.uri().query().unwrap_or_default().as_bytes());
    let length: Option<usize> = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let streamed = req.uri().path().ends_with("/files");
    match length {
        Some(n) if n > HASHED_BODY_LIMIT || streamed => {
            hasher.update(format!(" length={n}").as_bytes());
        }
        None if streamed => hasher.update(b" length=?"),
        _ => {
            let mut payload = req.take_payload();
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| Problem::bad_request(e.to_string()))?;
                if body.len() + chunk.len() > HASHED_BODY_LIMIT {
                    return Err(Problem::too_large(format!(
                        "the request body is larger than {HASHED_BODY_LIMIT} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let body = body.freeze();
            hasher.update(b" ");
            hasher.update(&body);
            req.set_payload(actix_web::dev::Payload::from(body));
        }
    }
    Ok(hasher.finalize().to_vec())
}

/// Runs `req` under its idempotency key, or answers what the key's first request answered.
pub async fn run(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &crate::AppState,
    caller: Caller,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pool = state.pool.clone();
    // Refusals are responses, not errors, so outer middleware (rate-limit headers) sees them.
    let key = match claim(&mut req, &pool, &caller).await {
        Ok(Claim::Owned { key }) => key,
        Ok(Claim::Taken { stored, hash }) => {
            state.metrics.idempotent_replays.inc();
            return Ok(match answer_retry(stored, &hash) {
                Ok(res) => req.into_response(res).map_into_boxed_body(),
                Err(problem) => req.error_response(problem).map_into_boxed_body(),
            });
        }
        Err(problem) => return Ok(req.error_response(problem).map_into_boxed_body()),
    };
    let res = next.call(req).await?;
    let status = res.status();
    let (http_req, http_res) = res.into_parts();
    let (head, body) = http_res.into_parts();
    let bytes = to_bytes(body)
        .await
        .map_err(|_| Problem::internal("the response body could not be read"))?;
    let headers: Vec<(String, String)> = head
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let result = if status.is_server_error() {
        // The request did not complete: free the key so a retry runs it again.
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2")
            .bind(caller.user_id)
            .bind(&key)
            .execute(&pool)
            .await
    } else {
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5
             WHERE user_id = $1 AND key = $2",
        )
        .bind(caller.user_id)
        .bind(&key)
        .bind(status.as_u16() as i32)
        .bind(sqlx::types::Json(&headers))
        .bind(bytes.as_ref())
        .execute(&pool)
        .await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot save the response of an idempotent request");
    }
    let http_res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, http_res))
}

enum Claim {
    /// This request owns the key and runs.
    Owned { key: String },
    /// An earlier request has it: answer from what it kept.
    Taken {
        stored: Option<Saved>,
        hash: Vec<u8>,
    },
}

async fn claim(req: &mut ServiceRequest, pool: &PgPool, caller: &Caller) -> Result<Claim, Problem> {
    let key = key_of(req)?;
    let hash = fingerprint(req).await?;
    let now = Utc::now();
    let claimed: Option<chrono::DateTime<Utc>> = sqlx::query_scalar(include_str!("claim.sql"))
        .bind(caller.user_id)
        .bind(&key)
        .bind(&hash)
        .bind(now)
        .bind(now - RETENTION)
        .bind(now - ABANDONED_AFTER)
        .fetch_optional(pool)
        .await?;
    if claimed.is_some() {
        return Ok(Claim::Owned { key });
    }
    let stored = saved(pool, caller, &key).await?;
    Ok(Claim::Taken { stored, hash })
}

struct Saved {
    request_hash: Vec<u8>,
    state: String,
    status: Option<i32>,
    headers: Option<SavedHeaders>,
    body: Option<Vec<u8>>,
}

type SavedHeaders = sqlx::types::Json<Vec<(String, String)>>;
type SavedRow = (
    Vec<u8>,
    String,
    Option<i32>,
    Option<SavedHeaders>,
    Option<Vec<u8>>,
);

async fn saved(pool: &PgPool, caller: &Caller, key: &str) -> Result<Option<Saved>, Problem> {
    let row: Option<SavedRow> = sqlx::query_as(
        "SELECT request_hash, state, status, headers, body FROM idempotency_keys
             WHERE user_id = $1 AND key = $2",
    )
    .bind(caller.user_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(request_hash, state, status, headers, body)| Saved {
            request_hash,
            state,
            status,
            headers,
            body,
        }),
    )
}

fn answer_retry(stored: Option<Saved>, hash: &[u8]) -> Result<HttpResponse, Problem> {
    // Gone between the claim and the read (its first request failed and freed it): ask for a
    // retry rather than running a second time under this claim.
    let Some(stored) = stored else {
        return Err(in_flight());
    };
    if stored.request_hash != hash {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used for a different request; use a new key",
        ));
    }
    if stored.state != "done" {
        return Err(in_flight());
    }
    let status = stored
        .status
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    for (name, value) in stored.headers.map(|h| h.0).unwrap_or_default() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            res.append_header((name, value));
        }
    }
    res.insert_header(("Idempotent-Replayed", "true"));
    Ok(res.body(stored.body.unwrap_or_default()))
}

fn in_flight() -> Problem {
    let mut p = Problem::conflict(
        "idempotency-key-in-use",
        "a request with this Idempotency-Key is still being processed; retry later",
    );
    p.retry_after = Some(1);
    p
}
