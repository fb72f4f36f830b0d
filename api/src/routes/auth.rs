//! `/api/v1/auth`: sign in (e-mail and password → access and refresh tokens), refresh, sign out.

use actix_web::{web, HttpResponse};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize)]
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

async fn login(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: Login = parse_json(&body)?;
    if input.email.len() > 1024 || input.password.len() > 1024 {
        return Err(Problem::invalid_field(
            "(body)",
            "email and password must be at most 1024 bytes",
        ));
    }
    Ok(session(
        state.identity.login(&input.email, input.password).await?,
    ))
}

async fn refresh(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: RefreshBody = parse_json(&body)?;
    Ok(session(state.identity.refresh(&input.refresh_token).await?))
}

async fn logout(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: RefreshBody = parse_json(&body)?;
    state.identity.logout(&input.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}
