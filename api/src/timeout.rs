//! A time limit on reads: a `GET` that has not answered within the limit (a slow query, a
//! database that stopped answering, a long read-your-writes wait) is dropped and the client
//! gets 503 with `Retry-After`. Commands are never cut off: one stopped between its append and
//! its answer would have happened without the client knowing, and its `Idempotency-Key` would
//! stay claimed; commands are bounded by the database's own limits instead. The limit covers
//! the time to the response head: a streamed export is not cut off once it has started. It
//! runs inside each resource (after routing, see `access::register`), where the request may be
//! held while the handler runs.

use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use actix_web::web;

use crate::problem::Problem;
use crate::AppState;

/// The default limit (`RECON_REQUEST_TIMEOUT`).
pub const DEFAULT: Duration = Duration::from_secs(30);

/// Runs `work` (the rest of the request: authorisation and the handler, after routing) within
/// the app's limit when it is a read; `request` answers the 503 when it runs out.
pub async fn within<F>(
    request: actix_web::HttpRequest,
    work: F,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    F: std::future::Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
{
    if request.method() != Method::GET {
        return work.await;
    }
    let limit = request
        .app_data::<web::Data<AppState>>()
        .map_or(DEFAULT, |s| s.request_timeout);
    match tokio::time::timeout(limit, work).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(path = %request.path(), "request timed out");
            let problem = Problem::unavailable(format!(
                "the read took longer than {} ms and was stopped; retry",
                limit.as_millis()
            ));
            let response = actix_web::ResponseError::error_response(&problem);
            Ok(ServiceResponse::new(request, response))
        }
    }
}
