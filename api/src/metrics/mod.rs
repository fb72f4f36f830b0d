//! `/metrics` in the Prometheus text format: HTTP requests by route template, status and
//! duration; the database pool; projection and relay lag (events and seconds, measured at
//! scrape time); job runs by outcome (in a process that runs the worker); read-cache outcomes;
//! rate-limit refusals; idempotent replays; failed sign-ins.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::AppState;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    pub rate_limited: IntCounter,
    pub idempotent_replays: IntCounter,
    pub logins_failed: IntCounter,
    read_cache: IntCounterVec,
    pool: IntGaugeVec,
    projection: IntGaugeVec,
    projection_lag_seconds: Gauge,
    relay: IntGaugeVec,
    relay_lag_seconds: GaugeVec,
    job_runs: IntCounterVec,
    /// Where this process's job-run counts come from, if it runs the worker.
    job_run_counts: OnceLock<JobRunCounts>,
}

/// The job runs of this process by outcome (`worker::outcomes::counts`).
pub type JobRunCounts = fn() -> Vec<(&'static str, u64)>;

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("recon_http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "recon_http_request_duration_seconds",
                "Time from request to response head",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        let rate_limited = IntCounter::new(
            "recon_rate_limit_refusals_total",
            "Requests refused with 429 by the rate limit",
        )?;
        let idempotent_replays = IntCounter::new(
            "recon_idempotent_replays_total",
            "Requests answered from a kept Idempotency-Key response",
        )?;
        let logins_failed = IntCounter::new(
            "recon_logins_failed_total",
            "Sign-ins refused: wrong address or password, locked or disabled accounts",
        )?;
        let read_cache = IntCounterVec::new(
            Opts::new(
                "recon_read_cache_total",
                "Hot reads by outcome: hit, miss (read and kept), bypass (read-your-writes or the cache is off)",
            ),
            &["resource", "outcome"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("recon_db_pool_connections", "Database pool connections"),
            &["state"],
        )?;
        let projection = IntGaugeVec::new(
            Opts::new(
                "recon_projection",
                "Read models: events in the store, applied, and the lag between them",
            ),
            &["measure"],
        )?;
        let projection_lag_seconds = Gauge::new(
            "recon_projection_lag_seconds",
            "Age of the oldest event the read models have not applied (0 when none)",
        )?;
        let relay = IntGaugeVec::new(
            Opts::new(
                "recon_relay",
                "Per relay: events committed but not yet published to Kafka, and events published",
            ),
            &["relay", "measure"],
        )?;
        let relay_lag_seconds = GaugeVec::new(
            Opts::new(
                "recon_relay_lag_seconds",
                "Per relay: age of the oldest event not yet published (0 when none)",
            ),
            &["relay"],
        )?;
        let job_runs = IntCounterVec::new(
            Opts::new(
                "recon_job_runs_total",
                "Job runs of this process's worker by outcome: completed, failed, stopped, not_running, error",
            ),
            &["outcome"],
        )?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(projection_lag_seconds.clone()),
            Box::new(relay.clone()),
            Box::new(relay_lag_seconds.clone()),
            Box::new(job_runs.clone()),
            Box::new(durations.clone()),
            Box::new(rate_limited.clone()),
            Box::new(idempotent_replays.clone()),
            Box::new(logins_failed.clone()),
            Box::new(read_cache.clone()),
            Box::new(pool.clone()),
            Box::new(projection.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            requests,
            durations,
            rate_limited,
            idempotent_replays,
            logins_failed,
            read_cache,
            pool,
            projection,
            projection_lag_seconds,
            relay,
            relay_lag_seconds,
            job_runs,
            job_run_counts: OnceLock::new(),
        })
    }

    /// Reports this process's job runs (call once, in a process that runs the worker).
    pub fn count_job_runs(&self, counts: JobRunCounts) {
        let _ = self.job_run_counts.set(counts);
    }

    /// Counts a hot read (`crate::read_cache`).
    pub fn read_cache(&self, resource: &str, outcome: &str) {
        self.read_cache
            .with_label_values(&[resource, outcome])
            .inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.durations
            .with_label_values(&[method, route])
            .observe(seconds);
    }
}

/// Counts every answer by its route template (`/api/v1/jobs/{id}`, never the raw path, so ids
/// do not become label values); unmatched paths count as `(unmatched)`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let res = next.call(req).await?.map_into_boxed_body();
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_string());
        state.metrics.observe(
            &method,
            &route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    render(&state.metrics, &state.pool).await
}

/// The metrics, with the pool and projection lag measured now.
pub async fn render(m: &Metrics, pool: &sqlx::PgPool) -> HttpResponse {
    let idle = pool.num_idle() as i64;
    m.pool.with_label_values(&["idle"]).set(idle);
    m.pool
        .with_label_values(&["in_use"])
        .set(pool.size() as i64 - idle);
    match projections::queries::projection_status(pool).await {
        Ok(status) => {
            m.projection
                .with_label_values(&["events_in_store"])
                .set(status.events_in_store);
            m.projection
                .with_label_values(&["lag_events"])
                .set(status.lag);
            m.projection_lag_seconds.set(status.lag_seconds);
            m.projection
                .with_label_values(&["parked_events"])
                .set(status.parked_events);
        }
        Err(e) => tracing::debug!(error = %e, "projection status unavailable for /metrics"),
    }
    match sqlx::query_as::<_, (String, i64, f64, i64)>(include_str!("relay_lag.sql"))
        .fetch_all(pool)
        .await
    {
        Ok(relays) => {
            for (relay, lag_events, lag_seconds, published) in relays {
                m.relay
                    .with_label_values(&[&relay, "lag_events"])
                    .set(lag_events);
                m.relay
                    .with_label_values(&[&relay, "published_events"])
                    .set(published);
                m.relay_lag_seconds
                    .with_label_values(&[&relay])
                    .set(lag_seconds);
            }
        }
        Err(e) => tracing::debug!(error = %e, "relay lag unavailable for /metrics"),
    }
    if let Some(counts) = m.job_run_counts.get() {
        for (outcome, n) in counts() {
            let counter = m.job_runs.with_label_values(&[outcome]);
            counter.inc_by(n.saturating_sub(counter.get()));
        }
    }
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        return HttpResponse::InternalServerError().body(e.to_string());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_and_is_exported_by_name() {
        let m = Metrics::new().unwrap();
        m.observe("GET", "/api/v1/jobs/{id}", 200, 0.003);
        m.rate_limited.inc();
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&m.registry.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            r#"recon_http_requests_total{method="GET",route="/api/v1/jobs/{id}",status="200"} 1"#
        ), "{text}");
        assert!(text.contains("recon_http_request_duration_seconds_bucket"));
        assert!(text.contains("recon_rate_limit_refusals_total 1"));
    }
}
