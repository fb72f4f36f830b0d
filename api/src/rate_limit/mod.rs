//! Per-user rate limits (per client IP before sign-in), GCRA, with the IETF httpapi RateLimit
//! headers (`draft-ietf-httpapi-ratelimit-headers-09`: `RateLimit-Policy`, `RateLimit`) beside
//! the common `X-RateLimit-Limit/-Remaining/-Reset`, and 429 problem+json with `Retry-After`.
//!
//! Limits are kept in each process: with N API replicas a user may make N times the quota.

pub mod gcra;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use uuid::Uuid;

pub use gcra::Quota;
use gcra::{decide, Decision};

use crate::problem::Problem;
use crate::AppState;

/// Who a limit is counted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(Uuid),
    Address(IpAddr),
}

/// The configured tiers.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Every signed-in user without a tier of their own.
    pub default: Quota,
    /// Requests without a valid token, per client address.
    pub anonymous: Quota,
    /// Users with a tier of their own.
    pub users: HashMap<Uuid, Quota>,
}

impl RateLimits {
    /// Parses `RECON_RATE_LIMIT_USERS`: `<user id>=<quota>;<user id>=<quota>`.
    pub fn parse_users(raw: &str) -> Result<HashMap<Uuid, Quota>, String> {
        let mut users = HashMap::new();
        for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, quota) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}` is not `<user id>=<quota>`"))?;
            let id = Uuid::parse_str(id.trim()).map_err(|e| format!("`{id}`: {e}"))?;
            users.insert(id, Quota::parse(quota)?);
        }
        Ok(users)
    }
}

pub struct RateLimiter {
    limits: RateLimits,
    origin: Instant,
    arrivals: Mutex<HashMap<Key, Duration>>,
}

const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            origin: Instant::now(),
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key: Key) -> (Quota, Decision) {
        let quota = match &key {
            Key::User(id) => *self.limits.users.get(id).unwrap_or(&self.limits.default),
            Key::Address(_) => self.limits.anonymous,
        };
        let now = self.origin.elapsed();
        let mut arrivals = match self.arrivals.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if arrivals.len() >= MAX_KEYS {
            // Keys whose bucket is full again hold nothing worth keeping.
            arrivals.retain(|_, tat| *tat > now);
        }
        let (decision, tat) = decide(&quota, arrivals.get(&key).copied(), now);
        arrivals.insert(key, tat);
        (quota, decision)
    }
}

fn seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn set(headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// The middleware: counts the request against its caller's quota before anything else runs.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let limiter = state.as_ref().and_then(|s| s.rate_limiter.clone());
    let exempt = crate::routes::health::PROBES.contains(&req.path());
    let (Some(state), Some(limiter), false) = (state, limiter, exempt) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let claims = crate::access::bearer_token(req.request())
        .and_then(|token| state.identity.tokens.verify(token));
    let user = claims.as_ref().map(|claims| claims.sub);
    if let Some(claims) = claims {
        // Authorisation uses these rather than verifying the signature a second time.
        req.extensions_mut().insert(claims);
    }
    let key = match user {
        Some(id) => Key::User(id),
        None => Key::Address(
            req.peer_addr()
                .map(|a| a.ip())
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ),
    };
    let (quota, decision) = limiter.check(key);
    let window = quota.period.as_secs();
    let policy = format!("\"default\";q={};w={window}", quota.limit);
    let (remaining, reset) = match decision {
        Decision::Allowed { remaining, reset } => (remaining, seconds_up(reset)),
        Decision::Refused { retry_after } => (0, seconds_up(retry_after)),
    };
    let mut res = match decision {
        Decision::Allowed { .. } => next.call(req).await?.map_into_boxed_body(),
        Decision::Refused { retry_after } => {
            tracing::debug!("rate limit refused a request");
            state.metrics.rate_limited.inc();
            let problem = Problem::too_many(
                format!(
                    "more than {} requests per {window} s (burst {}); retry after the time in Retry-After",
                    quota.limit, quota.burst
                ),
                seconds_up(retry_after) as i64,
            );
            req.error_response(problem).map_into_boxed_body()
        }
    };
    let headers = res.headers_mut();
    set(headers, "ratelimit-policy", policy);
    set(
        headers,
        "ratelimit",
        format!("\"default\";r={remaining};t={reset}"),
    );
    set(headers, "x-ratelimit-limit", quota.limit.to_string());
    set(headers, "x-ratelimit-remaining", remaining.to_string());
    set(headers, "x-ratelimit-reset", reset.to_string());
    Ok(res)
}
