//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::access::{endpoint, Endpoint, Scope};
use crate::AppState;
use actix_web::http::Method;
use domain::access::Need;

/// The probes: public, never rate-limited, and answering even when the database is not.
pub const PROBES: [&str; 3] = ["/health", "/ready", "/metrics"];

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/health", Need::Nothing, Scope::Global, || {
            web::get().to(health)
        }),
        endpoint(Method::GET, "/ready", Need::Nothing, Scope::Global, || {
            web::get().to(ready)
        }),
        endpoint(
            Method::GET,
            "/metrics",
            Need::Nothing,
            Scope::Global,
            || web::get().to(crate::metrics::scrape),
        ),
    ]
}

/// What `/health` and `/ready` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok`, `ready`, `migrations pending` or `database unavailable`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Why the database is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn status(status: &'static str) -> Status {
    Status {
        status,
        error: None,
    }
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process answers", body = Status)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(status("ok"))
}

/// Ready: the database answers and every migration of this build is applied.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready: the database is unavailable or migrations are pending", body = Status)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    readiness(&state.pool).await
}

/// The readiness answer for a process using `pool`.
pub async fn readiness(pool: &sqlx::PgPool) -> HttpResponse {
    match commands::migrations::is_up_to_date(pool).await {
        Ok(true) => HttpResponse::Ok().json(status("ready")),
        Ok(false) => HttpResponse::ServiceUnavailable().json(status("migrations pending")),
        Err(e) => HttpResponse::ServiceUnavailable().json(Status {
            error: Some(e.to_string()),
            ..status("database unavailable")
        }),
    }
}
