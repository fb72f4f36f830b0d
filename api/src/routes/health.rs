//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::AppState;

/// Alive: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready: the database answers and every migration of this build is applied.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match commands::migrations::is_up_to_date(&state.pool).await {
        Ok(true) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(false) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "migrations pending"}))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "database unavailable", "error": e.to_string()})),
    }
}
