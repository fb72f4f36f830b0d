//! Rate limits through the real API: per user after sign-in, per address before, tiers per
//! user, the RateLimit headers, 429 problem+json with Retry-After.

mod support;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use api::rate_limit::{Quota, RateLimits};
use support::*;

fn limits(users: HashMap<uuid::Uuid, Quota>) -> RateLimits {
    RateLimits {
        default: Quota::parse("60/min,burst=5").unwrap(),
        // Sign-in of the test's admin and users needs a few anonymous requests.
        anonymous: Quota::parse("60/min,burst=4").unwrap(),
        users,
    }
}

#[actix_web::test]
async fn a_user_gets_the_burst_then_429_with_retry_after_and_others_are_not_affected() {
    let app = spawn_app_with(Some(Box::new(|_| limits(HashMap::new())))).await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let a = app.get("/api/v1/users/me").await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header("x-ratelimit-limit"), Some("60"));
        assert_eq!(a.header("ratelimit-policy"), Some("\"default\";q=60;w=60"));
        remaining.push(a.header("x-ratelimit-remaining").unwrap().to_string());
        assert!(a.header("ratelimit").unwrap().starts_with("\"default\";r="));
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let refused = app.get("/api/v1/users/me").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    // Health is never limited.
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    // Another address, no token: its own quota.
    let anonymous = app
        .send_as(None, "GET", "/api/v1/projects", None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header("x-ratelimit-remaining").is_some());
    // One second later the admin has one more request.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get("/api/v1/users/me").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_user_with_a_tier_of_their_own_gets_it() {
    let tier = Quota::parse("1000/min,burst=100").unwrap();
    let app = spawn_app_with(Some(Box::new(move |admin| {
        limits(HashMap::from([(admin, tier)]))
    })))
    .await;
    for _ in 0..50 {
        let a = app.get("/api/v1/users/me").await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "the admin's tier allows a burst of 100"
        );
        assert_eq!(a.header("x-ratelimit-limit"), Some("1000"));
    }
    // Everyone else has the default tier.
    let (_, viewer) = app.user("v@example.com", "viewer").await;
    let a = app
        .send_as(Some(&viewer), "GET", "/api/v1/users/me", None, &[])
        .await;
    assert_eq!(a.header("x-ratelimit-limit"), Some("60"));
    let parsed =
        RateLimits::parse_users(&format!("{}=1000/min,burst=100", uuid::Uuid::nil())).unwrap();
    assert_eq!(parsed[&uuid::Uuid::nil()], tier);
    assert!(RateLimits::parse_users("not-a-uuid=1/s").is_err());
    assert!(RateLimits::parse_users(&uuid::Uuid::nil().to_string()).is_err());
}

#[actix_web::test]
async fn anonymous_requests_are_limited_per_address() {
    let app = spawn_app_with(Some(Box::new(|_| limits(HashMap::new())))).await;
    // spawn_app signed in once (one anonymous request); the burst is 4.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let a = app.login(ADMIN_EMAIL, "wrong password here").await;
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429], "{statuses:?}");
}
