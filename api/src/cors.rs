//! Cross-origin requests and transport security headers.
//!
//! CORS is off unless origins are configured (`RECON_CORS_ORIGINS`): browsers then may call the
//! API from those origins only, with the headers Recon reads and exposing the ones it answers.
//! HSTS is sent when the request came over TLS (directly, or as `Forwarded` /
//! `X-Forwarded-Proto` from the proxy in front).

use actix_cors::Cors;
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;

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

/// `Strict-Transport-Security`, sent on answers to requests that came over TLS.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Whether the request came over TLS: directly, or through a proxy that says so
/// (`Forwarded: proto=https`, `X-Forwarded-Proto: https`).
pub fn came_over_tls(req: &ServiceRequest) -> bool {
    req.connection_info().scheme() == "https"
}
