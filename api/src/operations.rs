//! The operations endpoints of roles that serve no API (`recon relay`, `recon project`,
//! `recon worker`): `/health`, `/ready` and `/metrics` on their own port, so an orchestrator can
//! probe every process alike.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use sqlx::PgPool;

use crate::metrics::{JobRunCounts, Metrics};
use crate::routes::health;

struct OpsState {
    pool: PgPool,
    metrics: Arc<Metrics>,
}

async fn ready(state: web::Data<OpsState>) -> HttpResponse {
    health::readiness(&state.pool).await
}

async fn scrape(state: web::Data<OpsState>) -> HttpResponse {
    crate::metrics::render(&state.metrics, &state.pool).await
}

/// Serves `/health`, `/ready` and `/metrics` (pool, projection and relay lag, and the job runs
/// of `job_runs` when the process runs the worker) on `listener`.
pub fn serve(
    listener: TcpListener,
    pool: PgPool,
    job_runs: Option<JobRunCounts>,
) -> std::io::Result<Server> {
    let metrics = Arc::new(Metrics::new().map_err(std::io::Error::other)?);
    if let Some(counts) = job_runs {
        metrics.count_job_runs(counts);
    }
    let state = web::Data::new(OpsState { pool, metrics });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/health", web::get().to(health::health))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .listen(listener)?
    .run())
}
