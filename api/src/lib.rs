//! Recon's HTTP API (actix-web). Commands and queries live under `/api/v1`; `/health` and
//! `/ready` are for operators. See `docs/api.md`.

pub mod access;
pub mod conditional;
pub mod cors;
pub mod docs;
pub mod idempotency;
pub mod metrics;
pub mod operations;
pub mod problem;
pub mod rate_limit;
pub mod read_cache;
pub mod request;
pub mod routes;
pub mod timeout;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{Compress, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpMessage, HttpServer};
use commands::CommandStore;
use sqlx::PgPool;

use tracing::Instrument;

use crate::problem::Problem;
use crate::request::{request_id_from, RequestId};

/// Sent with every answer.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

/// Largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shared by every request handler.
pub struct AppState {
    pub store: Arc<CommandStore>,
    pub pool: PgPool,
    /// Where uploaded files are kept, content-addressed.
    pub files: ingest::FileStore,
    pub max_upload_bytes: u64,
    /// How long a read may take to answer (`timeout`).
    pub request_timeout: std::time::Duration,
    /// Users, sign-in and tokens.
    pub identity: Arc<application::Identity>,
    /// Who the caller is and what they may touch.
    pub gate: Arc<application::Gatekeeper>,
    /// What `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
    /// Data sources and uploads.
    pub sources: application::sources::Sources,
    /// Job definitions checked across aggregates.
    pub jobs: application::jobs::Jobs,
    /// Per-user request limits; None: no limits.
    pub rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
    /// Origins browsers may call the API from (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Hot reads, invalidated by the projectors' change notifications (`serve` follows them).
    pub read_cache: Arc<read_cache::ReadCache>,
}

impl AppState {
    pub fn new(
        store: Arc<CommandStore>,
        files: ingest::FileStore,
        tokens: Arc<application::identity::AccessTokens>,
    ) -> Result<Self, prometheus::Error> {
        Ok(Self {
            pool: store.pool().clone(),
            identity: Arc::new(application::Identity::new(store.clone(), tokens.clone())),
            gate: Arc::new(application::Gatekeeper::new(store.clone(), tokens)),
            jobs: application::jobs::Jobs::new(store.clone()),
            sources: application::sources::Sources::new(store.clone(), files.clone()),
            // The metric names are constants; `metrics::tests` checks they register.
            metrics: Arc::new(metrics::Metrics::new()?),
            store,
            files,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            request_timeout: timeout::DEFAULT,
            rate_limiter: None,
            cors_origins: Vec::new(),
            read_cache: Arc::new(read_cache::ReadCache::new()),
        })
    }
}

/// Registers every route and the extractor error handlers (so bad paths, queries and bodies are
/// problem+json too).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| Problem::invalid_field("(query)", err.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default().error_handler(|err, _| {
                Problem::not_found(format!("no such resource: {err}")).into()
            }),
        )
        .configure(routes::configure)
        .default_service(web::to(|req: actix_web::HttpRequest| async move {
            actix_web::ResponseError::error_response(&Problem::not_found(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            )))
        }));
}

/// Turns the framework's own plain-text error answers (body too large, wrong method) into
/// problem+json like every other error; answers that are problem+json already pass through.
fn framework_error_as_problem<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if already {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let problem = match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes"
        )),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!(
                "{} is not allowed on {}",
                res.request().method(),
                res.request().path()
            ),
        ),
        other => Problem::new(
            other,
            "error",
            "Error",
            other.canonical_reason().unwrap_or("error"),
        ),
    };
    let (req, _) = res.into_parts();
    let response = actix_web::ResponseError::error_response(&problem);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// Starts the HTTP server on `listener`. The returned server runs when awaited (or spawned).
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    workers: usize,
) -> std::io::Result<Server> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(state.read_cache.clone().follow(state.pool.clone()));
        }
        Err(_) => tracing::warn!("no Tokio runtime: the read cache stays off"),
    }
    let server = HttpServer::new(move || {
        let cors = cors::cors(&state.cors_origins);
        App::new()
            .app_data(state.clone())
            .wrap(
                ErrorHandlers::new()
                    .handler(StatusCode::PAYLOAD_TOO_LARGE, framework_error_as_problem)
                    .handler(StatusCode::METHOD_NOT_ALLOWED, framework_error_as_problem),
            )
            .wrap(actix_web::middleware::from_fn(conditional::not_modified))
            .wrap(actix_web::middleware::from_fn(rate_limit::limit))
            .wrap(actix_web::middleware::from_fn(metrics::observe))
            .wrap(Compress::default())
            // Outside authentication and limits: a preflight is answered before either.
            .wrap(cors)
            // Outermost, one layer: the request id, and the headers every answer carries.
            .wrap_fn(|req, srv| {
                let request_id = request_id_from(&req);
                req.extensions_mut().insert(RequestId(request_id.clone()));
                let tls = cors::came_over_tls(&req);
                // `actor` is recorded once the caller is known (`access`).
                let span = tracing::info_span!("http", method = %req.method(), path = %req.path(), request_id = %request_id, actor = tracing::field::Empty);
                let fut = srv.call(req).instrument(span);
                async move {
                    // Instrumented, not entered across the await: the span is current only
                    // while this request's future runs.
                    let mut res = fut.await?;
                    let headers = res.headers_mut();
                    if let Ok(value) = HeaderValue::from_str(&request_id) {
                        headers.insert(HeaderName::from_static("x-request-id"), value);
                    }
                    for (name, value) in SECURITY_HEADERS {
                        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
                    }
                    if tls {
                        headers.insert(
                            actix_web::http::header::STRICT_TRANSPORT_SECURITY,
                            HeaderValue::from_static(cors::HSTS),
                        );
                    }
                    Ok(res)
                }
            })
            .configure(configure)
    })
    .workers(workers.max(1))
    // A client must send its request head within 10 s (slow-loris); bodies stream as they come.
    .client_request_timeout(std::time::Duration::from_secs(10))
    .shutdown_timeout(10)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
