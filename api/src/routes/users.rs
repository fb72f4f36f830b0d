//! `/api/v1/users`: user administration (admins) and the caller's own profile and password.

use super::CommandAnswer;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use application::identity::NewUser;
use application::identity::UserView;
use domain::Role;
use projections::queries::Page;
use projections::users::UserRow;
use serde::Deserialize;
use uuid::Uuid;

use super::{command_answer, etag};
use crate::access::{endpoint, Authenticated, Endpoint, Scope};
use crate::problem::Problem;
use crate::request::{parse_json, CommandContext, ListQuery};
use crate::AppState;
use actix_web::http::Method;
use domain::access::Need;

pub fn endpoints() -> Vec<Endpoint> {
    use Need::*;
    use Scope::*;
    vec![
        endpoint(Method::POST, "/api/v1/users", Admin, Global, || {
            web::post().to(create)
        }),
        endpoint(Method::GET, "/api/v1/users", Admin, Global, || {
            web::get().to(list)
        }),
        endpoint(Method::GET, "/api/v1/users/me", SignedIn, Global, || {
            web::get().to(me)
        }),
        endpoint(
            Method::PUT,
            "/api/v1/users/me/password",
            SignedIn,
            Global,
            || web::put().to(change_password),
        ),
        endpoint(Method::GET, "/api/v1/users/{id}", Admin, Global, || {
            web::get().to(get)
        }),
        endpoint(
            Method::PUT,
            "/api/v1/users/{id}/role",
            Admin,
            Global,
            || web::put().to(change_role),
        ),
        endpoint(
            Method::POST,
            "/api/v1/users/{id}/disable",
            Admin,
            Global,
            || web::post().to(disable),
        ),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    #[schema(format = "email", example = "ana@example.com")]
    email: String,
    #[schema(schema_with = crate::docs::schemas::role)]
    role: String,
    #[schema(schema_with = crate::docs::schemas::new_password)]
    password: String,
}

/// Create a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUser,
    responses((status = 201, description = "Created", body = CommandAnswer,
        headers(("Location" = String, description = "The new user"))),
        (status = 409, description = "A user with this e-mail address exists", body = Problem, content_type = "application/problem+json")))]
async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CreateUser = parse_json(&body)?;
    let new =
        NewUser::parse(&input.email, &input.role, input.password).map_err(Problem::invalid)?;
    let committed = state.identity.create_user(new, &ctx.metadata).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/api/v1/users/{}", committed.id)));
    Ok(command_answer(builder, committed))
}

async fn view(state: &AppState, id: Uuid) -> Result<HttpResponse, Problem> {
    let user = state.identity.get_user(id).await?;
    let mut response = HttpResponse::Ok().json(&user);
    response
        .headers_mut()
        .insert(header::ETAG, etag(user.version as i64));
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, description = "The caller", body = UserView)))]
async fn me(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, Problem> {
    view(&state, caller.0.user_id).await
}

/// One user (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user")),
    responses((status = 200, description = "The user", body = UserView,
        headers(("ETag" = String, description = "Its version")))))]
async fn get(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    view(&state, *id).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    #[schema(schema_with = crate::docs::schemas::role)]
    role: String,
}

/// Change a user's role (admins).
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "users",
    params(("id" = Uuid, Path, description = "The user")),
    request_body = RoleBody,
    responses((status = 200, description = "Changed", body = CommandAnswer)))]
async fn change_role(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: RoleBody = parse_json(&body)?;
    let role = Role::parse(&input.role).map_err(|m| Problem::invalid_field("role", m))?;
    let committed = state
        .identity
        .change_role(
            ctx.caller.user_id,
            *id,
            role,
            ctx.expected_version,
            &ctx.metadata,
        )
        .await?;
    state.gate.forget(*id);
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// Disable a user: their sessions end and they cannot sign in (admins).
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = Uuid, Path, description = "The user")),
    responses((status = 200, description = "Disabled", body = CommandAnswer)))]
async fn disable(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let committed = state
        .identity
        .disable(ctx.caller.user_id, *id, ctx.expected_version, &ctx.metadata)
        .await?;
    state.gate.forget(*id);
    Ok(command_answer(HttpResponse::Ok(), committed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    #[schema(schema_with = crate::docs::schemas::new_password)]
    new_password: String,
}

/// Change the caller's own password; their other sessions end.
#[utoipa::path(put, path = "/api/v1/users/me/password", tag = "users",
    request_body = PasswordBody,
    responses((status = 200, description = "Changed", body = CommandAnswer)))]
async fn change_password(
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: PasswordBody = parse_json(&body)?;
    let committed = state
        .identity
        .change_password(
            ctx.caller.user_id,
            input.current_password,
            input.new_password,
            &ctx.metadata,
        )
        .await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RoleFilter {
    /// Only users with this role: `admin`, `operator`, `viewer` or `auditor`.
    role: Option<String>,
}

/// Users (from the `rm_users` read model): `?role=&status=&limit=&offset=`.
/// Users (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery, RoleFilter),
    responses((status = 200, description = "A page of users", body = Page<UserRow>)))]
async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
    filter: web::Query<RoleFilter>,
) -> Result<HttpResponse, Problem> {
    let (limit, offset) = query.page().resolve()?;
    if let Some(role) = filter.role.as_deref() {
        Role::parse(role).map_err(|m| Problem::invalid_field("role", m))?;
    }
    if let Some(status) = query.status.as_deref() {
        if !matches!(status, "active" | "disabled") {
            return Err(Problem::invalid_field(
                "status",
                "must be `active` or `disabled`",
            ));
        }
    }
    let freshness = query.consistency().wait(&state).await?;
    let page = projections::users::list_users(
        &state.pool,
        filter.role.as_deref(),
        query.status.as_deref(),
        limit,
        offset,
    )
    .await?;
    Ok(super::query_answer(freshness, &page))
}
