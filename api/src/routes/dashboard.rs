//! `/api/v1/dashboard/summary` and `/api/v1/projections/status` (lag).

use actix_web::{web, HttpResponse};

use super::query_answer;
use crate::access::{endpoint, Endpoint, Scope, GET};
use crate::problem::Problem;
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

async fn summary(
    state: web::Data<AppState>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state.pool).await?;
    let dashboard = projections::queries::dashboard(&state.pool).await?;
    Ok(query_answer(freshness, &dashboard))
}

async fn status(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let status = projections::queries::projection_status(&state.pool).await?;
    Ok(HttpResponse::Ok().json(status))
}
