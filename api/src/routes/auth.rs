//! `/api/v1/auth`: sign in (e-mail and password → access and refresh tokens), refresh, sign out.

use actix_web::{web, HttpResponse};
use application::identity::Session;
use serde::Deserialize;

use crate::access::{endpoint, Endpoint, Scope};
use crate::problem::Problem;
use crate::request::parse_json;
use crate::AppState;
use actix_web::http::Method;
use domain::access::Need;

pub fn endpoints() -> Vec<Endpoint> {
    use Need::*;
    use Scope::*;
    vec![
        endpoint(Method::POST, "/api/v1/auth/login", Nothing, Global, || {
            web::post().to(login)
        }),
        endpoint(
            Method::POST,
            "/api/v1/auth/refresh",
            Nothing,
            Global,
            || web::post().to(refresh),
        ),
        endpoint(Method::POST, "/api/v1/auth/logout", Nothing, Global, || {
            web::post().to(logout)
        }),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// Tokens must not be cached by anything between us and the client.
fn session(session: application::identity::Session) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(session)
}

/// Sign in: an access token (15 minutes) and a refresh token. Five failures lock the account for
/// 15 minutes (429, with the same answer whether or not the address exists).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = Login,
    responses((status = 200, description = "Signed in", body = Session),
        (status = 401, description = "Wrong e-mail address or password", body = Problem, content_type = "application/problem+json")))]
async fn login(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: Login = parse_json(&body)?;
    if input.email.len() > 1024 || input.password.len() > 1024 {
        return Err(Problem::invalid_field(
            "(body)",
            "email and password must be at most 1024 bytes",
        ));
    }
    match state.identity.login(&input.email, input.password).await {
        Ok(signed_in) => Ok(session(signed_in)),
        Err(e) => {
            use application::identity::LoginError;
            if matches!(e, LoginError::Refused | LoginError::Locked { .. }) {
                state.metrics.logins_failed.inc();
            }
            Err(e.into())
        }
    }
}

/// A new session for a refresh token (rotated: the old one stops working; reusing it ends the
/// whole family of sessions).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses((status = 200, description = "A new session", body = Session),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json")))]
async fn refresh(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: RefreshBody = parse_json(&body)?;
    Ok(session(state.identity.refresh(&input.refresh_token).await?))
}

/// Sign out: the refresh token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshBody,
    responses((status = 204, description = "Signed out")))]
async fn logout(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: RefreshBody = parse_json(&body)?;
    state.identity.logout(&input.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}
