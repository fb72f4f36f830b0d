//! CORS with configured origins, and HSTS behind a TLS-terminating proxy.

mod support;

use actix_web::http::StatusCode;
use support::*;

const ALLOWED: &str = "https://app.example.com";

#[actix_web::test]
async fn configured_origins_may_call_the_api_and_others_may_not() {
    let app = spawn_app_configured(None, vec![ALLOWED.to_string()]).await;
    let preflight = app
        .send_as(
            None,
            "OPTIONS",
            "/api/v1/projects",
            None,
            &[
                ("origin", ALLOWED),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type, idempotency-key",
                ),
            ],
        )
        .await;
    assert_eq!(
        preflight.status,
        StatusCode::OK,
        "a preflight needs no token"
    );
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    let read = app
        .send("GET", "/api/v1/users/me", None, &[("origin", ALLOWED)])
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = read
        .header("access-control-expose-headers")
        .unwrap_or_default();
    assert!(
        exposed.contains("etag") && exposed.contains("x-ratelimit-remaining"),
        "{exposed}"
    );

    let foreign = app
        .send_as(
            None,
            "OPTIONS",
            "/api/v1/projects",
            None,
            &[
                ("origin", "https://evil.example.com"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    assert_ne!(foreign.status, StatusCode::OK);
}

#[actix_web::test]
async fn hsts_is_sent_only_for_requests_that_came_over_tls() {
    let app = spawn_app().await;
    let plain = app.get("/health").await;
    assert_eq!(plain.header("strict-transport-security"), None);
    let proxied = app
        .send("GET", "/health", None, &[("x-forwarded-proto", "https")])
        .await;
    assert_eq!(
        proxied.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
}
