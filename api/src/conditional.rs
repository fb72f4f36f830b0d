//! Conditional reads: a `GET` whose `If-None-Match` names the answer's `ETag` is answered
//! `304 Not Modified` (with the `ETag`, without the body). Every read that answers an `ETag`
//! gets this, whatever its handler. The handler still runs: this saves the transfer, and a
//! cache in front of the handler (issue 9, moka) will save the work.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

/// Whether an `If-None-Match` value names `etag` (weak comparison, as RFC 9110 asks for
/// `If-None-Match`; `*` matches any).
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || strip(candidate) == etag)
}

pub async fn not_modified(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = (req.method() == Method::GET)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let res = next.call(req).await?.map_into_boxed_body();
    let (Some(wanted), StatusCode::OK) = (wanted, res.status()) else {
        return Ok(res);
    };
    let etag: Option<HeaderValue> = res.headers().get(header::ETAG).cloned();
    let (Some(etag), Ok(wanted)) = (etag, wanted.to_str()) else {
        return Ok(res);
    };
    if !matches(wanted, etag.to_str().unwrap_or_default()) {
        return Ok(res);
    }
    let (req, _) = res.into_parts();
    let answer = HttpResponse::NotModified()
        .insert_header((header::ETAG, etag))
        .finish();
    Ok(ServiceResponse::new(req, answer))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        assert!(matches("\"3\"", "\"3\""));
        assert!(matches("W/\"3\"", "\"3\""));
        assert!(matches("\"1\", \"3\"", "\"3\""));
        assert!(matches("*", "\"3\""));
        assert!(!matches("\"4\"", "\"3\""));
        assert!(!matches("3", "\"33\""));
    }
}
