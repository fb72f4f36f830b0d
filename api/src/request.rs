//! Reading requests: JSON bodies with exact error paths, the command context from headers,
//! pagination, and read-your-writes waiting.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use commands::metadata::{trace_id_of, traceparent_for};
use commands::CommandMetadata;
use domain::Version;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::problem::Problem;

/// Parses a JSON body: a syntax error is a 400; a well-formed document of the wrong shape is a
/// 422 naming the field's path (`rule_set`, `left_source_id`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    if let Some(path) = nul_character_at(&value, String::new()) {
        // PostgreSQL stores no U+0000 in text or jsonb: refuse it here, for every field.
        return Err(Problem::invalid_field(
            &path,
            "must not contain the NUL character (U+0000)",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        // serde names a missing field in the message; put it in the path instead.
        match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) => Problem::invalid_field(&join(&path, field), "is required"),
            None => Problem::invalid_field(if path.is_empty() { "(body)" } else { &path }, message),
        }
    })
}

/// The path of the first string (or key) holding U+0000, if any.
fn nul_character_at(value: &serde_json::Value, path: String) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "(body)".to_string()
        } else {
            path.clone()
        }
    };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(here),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_character_at(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let inner = join(&path, k);
            if k.contains('\0') {
                Some(inner)
            } else {
                nul_character_at(v, inner)
            }
        }),
        _ => None,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The request id: the client's `X-Request-Id` if it sent a sane one, else a new one. Set by the
/// request-id middleware and echoed in the response.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn request_id_from(req: &actix_web::dev::ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        // A thread-local generator, not a system call per request.
        .unwrap_or_else(|| {
            uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string()
        })
}

/// Everything a command needs from the request's headers: who, which request, which flow, which
/// trace, and the `If-Match` version, if any.
pub struct CommandContext {
    /// Who issues the command: the signed-in user (recorded as the events' `actor`).
    pub caller: application::Caller,
    pub metadata: CommandMetadata,
    pub expected_version: Option<Version>,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Parses `If-Match: "3"` (also `W/"3"` and `3`).
pub fn parse_if_match(raw: &str) -> Result<Version, Problem> {
    let stripped = raw.trim().trim_start_matches("W/").trim_matches('"');
    stripped.parse::<Version>().map_err(|_| {
        Problem::bad_request(format!(
            "If-Match must be a version such as \"3\", got `{raw}`"
        ))
    })
}

impl FromRequest for CommandContext {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let request_id = req
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_else(|| Uuid::new_v4().to_string());
            // The actor is the authenticated user, never what a client claims.
            let caller = req
                .extensions()
                .get::<application::Caller>()
                .copied()
                .ok_or_else(|| Problem::unauthenticated("a valid access token is required"))?;
            let actor = caller.actor();
            let (trace_id, traceparent) =
                match header(req, "traceparent").and_then(|t| trace_id_of(t).map(|id| (id, t))) {
                    Some((id, t)) => (id.to_string(), t.to_string()),
                    None => {
                        let id = Uuid::new_v4().simple().to_string();
                        let t = traceparent_for(&id);
                        (id, t)
                    }
                };
            let correlation_id = header(req, "x-correlation-id")
                .map(str::to_string)
                .unwrap_or_else(|| request_id.clone());
            let expected_version = header(req, "if-match").map(parse_if_match).transpose()?;
            Ok(CommandContext {
                caller,
                metadata: CommandMetadata {
                    actor,
                    causation_id: request_id.clone(),
                    request_id,
                    correlation_id,
                    trace_id,
                    traceparent,
                },
                expected_version,
            })
        })())
    }
}

/// The query of every list: filters, a page, and read-your-writes. Spelled out rather than
/// composed with `#[serde(flatten)]`, which makes numbers in query strings unparseable.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only items in this status (projects: `active`, `archived`; jobs: `created`, `running`,
    /// `completed`, `failed`, `cancelled`, `deleted`; users: `active`, `disabled`).
    pub status: Option<String>,
    /// Only the jobs of this project (`GET /api/v1/jobs`).
    pub project_id: Option<Uuid>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
    /// Read your own write: wait until the read models have applied this store position.
    pub wait_for_position: Option<i64>,
    /// How long to wait for `wait_for_position`, at most 10000 ms (default 2000).
    pub wait_timeout_ms: Option<u64>,
}

impl ListQuery {
    pub fn page(&self) -> Pagination {
        Pagination {
            limit: self.limit,
            offset: self.offset,
        }
    }

    pub fn consistency(&self) -> Consistency {
        Consistency {
            wait_for_position: self.wait_for_position,
            wait_timeout_ms: self.wait_timeout_ms,
        }
    }
}

/// `?limit=&offset=`: default 50, at most 500.
#[derive(Debug, Deserialize)]
pub struct Pagination {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Pagination {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 500;

    pub fn resolve(&self) -> Result<(i64, i64), Problem> {
        let limit = self.limit.unwrap_or(Self::DEFAULT);
        let offset = self.offset.unwrap_or(0);
        if !(1..=Self::MAX).contains(&limit) {
            return Err(Problem::invalid_field(
                "limit",
                format!("must be between 1 and {}", Self::MAX),
            ));
        }
        if offset < 0 {
            return Err(Problem::invalid_field("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// `?wait_for_position=P&wait_timeout_ms=T`: read your own writes. The query waits (at most T,
/// default 2000, max 10000 ms) until the read models have applied the event at store position P.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Consistency {
    /// Read your own write: wait until the read models have applied this store position.
    pub wait_for_position: Option<i64>,
    /// How long to wait for `wait_for_position`, at most 10000 ms (default 2000).
    pub wait_timeout_ms: Option<u64>,
}

/// Whether the wait was satisfied; reported in the `Recon-Consistency` response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    NotRequested,
    Reached,
    TimedOut,
}

impl Freshness {
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Freshness::NotRequested => None,
            Freshness::Reached => Some("reached"),
            Freshness::TimedOut => Some("timeout"),
        }
    }
}

impl Consistency {
    pub async fn wait(&self, state: &crate::AppState) -> Result<Freshness, Problem> {
        let Some(position) = self.wait_for_position else {
            return Ok(Freshness::NotRequested);
        };
        let timeout_ms = self.wait_timeout_ms.unwrap_or(2000);
        if timeout_ms > 10_000 {
            return Err(Problem::invalid_field(
                "wait_timeout_ms",
                "must be at most 10000",
            ));
        }
        let waited = projections::queries::wait_until_applied(
            &state.pool,
            position,
            Duration::from_millis(timeout_ms),
            state.read_cache.changes(),
            projections::queries::WAIT_FALLBACK,
        )
        .await?;
        match waited.applied {
            Some(true) => Ok(Freshness::Reached),
            Some(false) => Ok(Freshness::TimedOut),
            None => Err(Problem::invalid_field(
                "wait_for_position",
                format!("no event has position {position}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: Uuid,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422_with_paths() {
        assert_eq!(parse_json::<Body>(b"{not json").unwrap_err().status, 400);
        let missing =
            parse_json::<Body>(br#"{"inner": {"id": "00000000-0000-0000-0000-000000000001"}}"#)
                .unwrap_err();
        assert_eq!(
            (missing.status, missing.errors[0].path.as_str()),
            (422, "name")
        );
        let nested = parse_json::<Body>(br#"{"name": "x", "inner": {"id": "nope"}}"#).unwrap_err();
        assert_eq!(
            (nested.status, nested.errors[0].path.as_str()),
            (422, "inner.id")
        );
        let nested_missing = parse_json::<Body>(br#"{"name": "x", "inner": {}}"#).unwrap_err();
        assert_eq!(nested_missing.errors[0].path, "inner.id");
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_with_its_path() {
        let nul =
            parse_json::<serde_json::Value>(br#"{"a": {"b": ["ok", "x\u0000y"]}}"#).unwrap_err();
        assert_eq!((nul.status, nul.errors[0].path.as_str()), (422, "a.b[1]"));
        let key = parse_json::<serde_json::Value>(br#"{"k\u0000": 1}"#).unwrap_err();
        assert_eq!(key.status, 422);
        assert!(parse_json::<serde_json::Value>(br#"{"a": "fine \u00e5"}"#).is_ok());
    }

    #[test]
    fn if_match_accepts_quoted_weak_and_bare_versions() {
        assert_eq!(parse_if_match("\"3\"").unwrap(), 3);
        assert_eq!(parse_if_match("W/\"4\"").unwrap(), 4);
        assert_eq!(parse_if_match("5").unwrap(), 5);
        assert_eq!(parse_if_match("abc").unwrap_err().status, 400);
    }

    #[test]
    fn pagination_defaults_and_bounds() {
        assert_eq!(
            Pagination {
                limit: None,
                offset: None
            }
            .resolve()
            .unwrap(),
            (50, 0)
        );
        assert!(Pagination {
            limit: Some(501),
            offset: None
        }
        .resolve()
        .is_err());
        assert!(Pagination {
            limit: Some(0),
            offset: None
        }
        .resolve()
        .is_err());
        assert!(Pagination {
            limit: None,
            offset: Some(-1)
        }
        .resolve()
        .is_err());
    }
}
