//! Cross-origin requests and transport security headers.
//!
//! CORS is off unless origins are configured (`RECON_CORS_ORIGINS`): browsers then may call the
//! API from those origins only, with the headers Recon reads and exposing the ones it answers.
//! HSTS is sent when the request came over TLS (directly, or as `Forwarded` /
//! `X-Forwarded-Proto` from the proxy in front).

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Request headers a browser client may send.
const ALLOWED: &[&str] = &[
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "x-request-id",
    "x-correlation-id",
    "traceparent",
];

/// Response headers a browser client may read.
const EXPOSED: &[&str] = &[
    "etag",
    "location",
    "retry-after",
    "x-request-id",
    "recon-consistency",
    "idempotent-replayed",
    "ratelimit",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "www-authenticate",
];

/// The CORS policy for `origins` (exact origins such as `https://app.example.com`).
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allowed_headers(ALLOWED.iter().copied())
        .expose_headers(EXPOSED.iter().copied())
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Adds `Strict-Transport-Security` to answers of requests that came over TLS.
pub async fn hsts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let tls = req.connection_info().scheme() == "https";
    let mut res = next.call(req).await?.map_into_boxed_body();
    if tls {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}
