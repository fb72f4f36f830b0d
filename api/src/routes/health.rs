//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::access::{endpoint, Endpoint, Scope};
use crate::AppState;
use actix_web::http::Method;
use domain::access::Need;

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

/// Alive: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready: the database answers and every migration of this build is applied.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    readiness(&state.pool).await
}

/// The readiness answer for a process using `pool`.
pub async fn readiness(pool: &sqlx::PgPool) -> HttpResponse {
    match commands::migrations::is_up_to_date(pool).await {
        Ok(true) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(false) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "migrations pending"}))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "database unavailable", "error": e.to_string()})),
    }
}
