//! `/api/v1/dashboard/summary` and `/api/v1/projections/status` (lag).

use actix_web::{web, HttpResponse};
use projections::queries::{Dashboard, ProjectionStatus};

use super::cached_read;
use crate::access::{endpoint, Endpoint, Scope, GET};
use crate::problem::Problem;
use crate::read_cache::ReadKey;
use crate::request::Consistency;
use crate::AppState;
use domain::access::Need;

pub fn endpoints() -> Vec<Endpoint> {
    use Need::*;
    use Scope::*;
    vec![
        endpoint(GET, "/api/v1/dashboard/summary", Oversee, Global, || {
            web::get().to(summary)
        }),
        endpoint(GET, "/api/v1/projections/status", Oversee, Global, || {
            web::get().to(status)
        }),
    ]
}

/// Counters of projects and jobs by status.
#[utoipa::path(get, path = "/api/v1/dashboard/summary", tag = "dashboard", params(Consistency),
    responses((status = 200, description = "The counters", body = Dashboard,
        headers(("ETag" = String, description = "A digest of the answer"))),
        (status = 304, description = "Not modified (If-None-Match)")))]
async fn summary(
    state: web::Data<AppState>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state).await?;
    cached_read(&state, ReadKey::Dashboard, freshness, || async {
        Ok((projections::queries::dashboard(&state.pool).await?, None))
    })
    .await
}

/// How far the read models are behind the store.
#[utoipa::path(get, path = "/api/v1/projections/status", tag = "dashboard",
    responses((status = 200, description = "Lag", body = ProjectionStatus)))]
async fn status(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let status = projections::queries::projection_status(&state.pool).await?;
    Ok(HttpResponse::Ok().json(status))
}
