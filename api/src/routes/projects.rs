//! `/api/v1/projects`: create, list, get, update (PUT), archive, history.

use super::{CommandAnswer, History};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name, ValidationErrors};
use domain::Currency;
use projections::queries::{Page, ProjectView};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{cached_read, command_answer, etag, query_answer};
use crate::access::{endpoint, Authenticated, Endpoint, Scope, DELETE, GET, POST, PUT};
use crate::problem::Problem;
use crate::read_cache::ReadKey;
use crate::request::{parse_json, CommandContext, Consistency, ListQuery};
use crate::AppState;
use domain::access::Need;

pub fn endpoints() -> Vec<Endpoint> {
    use Need::*;
    use Scope::*;
    vec![
        endpoint(POST, "/api/v1/projects", Operate, Global, || {
            web::post().to(create)
        }),
        endpoint(GET, "/api/v1/projects", SignedIn, Global, || {
            web::get().to(list)
        }),
        endpoint(GET, "/api/v1/projects/{id}", ReadProject, Project, || {
            web::get().to(get)
        }),
        endpoint(PUT, "/api/v1/projects/{id}", WriteProject, Project, || {
            web::put().to(update)
        }),
        endpoint(
            POST,
            "/api/v1/projects/{id}/archive",
            WriteProject,
            Project,
            || web::post().to(archive),
        ),
        endpoint(
            GET,
            "/api/v1/projects/{id}/events",
            ReadProject,
            Project,
            || web::get().to(history),
        ),
        endpoint(
            GET,
            "/api/v1/projects/{id}/members",
            ReadProject,
            Project,
            || web::get().to(members),
        ),
        endpoint(
            POST,
            "/api/v1/projects/{id}/members",
            WriteProject,
            Project,
            || web::post().to(add_member),
        ),
        endpoint(
            DELETE,
            "/api/v1/projects/{id}/members/{user_id}",
            WriteProject,
            Project,
            || web::delete().to(remove_member),
        ),
    ]
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    #[schema(schema_with = crate::docs::schemas::name)]
    name: String,
    #[serde(default)]
    #[schema(schema_with = crate::docs::schemas::description)]
    description: String,
    /// A three-letter ISO 4217 code.
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    base_currency: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProject {
    #[schema(schema_with = crate::docs::schemas::name)]
    name: String,
    #[serde(default)]
    #[schema(schema_with = crate::docs::schemas::description)]
    description: String,
}

fn name_and_description(
    errors: &mut ValidationErrors,
    name: &str,
    description: &str,
) -> (Option<Name>, Option<Description>) {
    (
        errors.check("name", Name::parse(name)),
        errors.check("description", Description::parse(description)),
    )
}

/// Create a project; the caller becomes its first member.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    request_body = CreateProject,
    responses((status = 201, description = "Created", body = CommandAnswer,
        headers(("Location" = String, description = "The new project"), ("ETag" = String, description = "Its version")))))]
async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CreateProject = parse_json(&body)?;
    let mut errors = ValidationErrors::new();
    let (name, description) = name_and_description(&mut errors, &input.name, &input.description);
    let base_currency = errors.check("base_currency", Currency::parse(&input.base_currency));
    let (Some(name), Some(description), Some(base_currency)) = (name, description, base_currency)
    else {
        return Err(Problem::invalid(errors));
    };
    let id = Uuid::now_v7();
    let command = ProjectCommand::Create {
        project_id: id,
        name,
        description,
        base_currency,
        owner: Some(ctx.caller.user_id),
    };
    let committed = state.store.project(id, command, &ctx.metadata).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/api/v1/projects/{id}")));
    Ok(command_answer(builder, committed))
}

/// Projects the caller may see (admins and auditors: all).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListQuery),
    responses((status = 200, description = "A page of projects", body = Page<ProjectView>)))]
async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let (limit, offset) = query.page().resolve()?;
    if let Some(status) = query.status.as_deref() {
        if !matches!(status, "active" | "archived") {
            return Err(Problem::invalid_field(
                "status",
                "must be `active` or `archived`",
            ));
        }
    }
    let freshness = query.consistency().wait(&state).await?;
    let page = projections::queries::list_projects(
        &state.pool,
        query.status.as_deref(),
        caller.0.member_filter(),
        limit,
        offset,
    )
    .await?;
    Ok(query_answer(freshness, &page))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = Uuid, Path, description = "The project"), Consistency),
    responses((status = 200, description = "The project", body = ProjectView,
        headers(("ETag" = String, description = "Its version, for If-Match and If-None-Match"))),
        (status = 304, description = "Not modified (If-None-Match)")))]
async fn get(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state).await?;
    cached_read(&state, ReadKey::Project(*id), freshness, || async {
        let project = projections::queries::get_project(&state.pool, *id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no project {id}")))?;
        let version = project.version;
        Ok((project, Some(version)))
    })
    .await
}

/// Rename or re-describe a project (honours If-Match).
#[utoipa::path(put, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = Uuid, Path, description = "The project")),
    request_body = UpdateProject,
    responses((status = 200, description = "Updated", body = CommandAnswer)))]
async fn update(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: UpdateProject = parse_json(&body)?;
    let mut errors = ValidationErrors::new();
    let (name, description) = name_and_description(&mut errors, &input.name, &input.description);
    let (Some(name), Some(description)) = (name, description) else {
        return Err(Problem::invalid(errors));
    };
    let command = ProjectCommand::Update {
        expected_version: ctx.expected_version,
        name,
        description,
    };
    let committed = state.store.project(*id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// Archive a project: it takes no new sources or jobs.
#[utoipa::path(post, path = "/api/v1/projects/{id}/archive", tag = "projects",
    params(("id" = Uuid, Path, description = "The project")),
    responses((status = 200, description = "Archived", body = CommandAnswer)))]
async fn archive(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let command = ProjectCommand::Archive {
        expected_version: ctx.expected_version,
    };
    let committed = state.store.project(*id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// The project's events, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/events", tag = "projects",
    params(("id" = Uuid, Path, description = "The project")),
    responses((status = 200, description = "Its history", body = History)))]
async fn history(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    super::history(&state.pool, *id, "project").await
}

/// What `GET /projects/{id}/members` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Members {
    pub project_id: Uuid,
    /// User ids.
    pub members: Vec<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    user_id: Uuid,
}

/// The project's members (from the store, so a member added a moment ago is listed).
/// The project's members.
#[utoipa::path(get, path = "/api/v1/projects/{id}/members", tag = "projects",
    params(("id" = Uuid, Path, description = "The project")),
    responses((status = 200, description = "Its members", body = Members,
        headers(("ETag" = String, description = "The project's version")))))]
async fn members(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    let project = state.store.load_project(*id).await?;
    if project.status == domain::ProjectStatus::Absent {
        return Err(Problem::not_found(format!("no project {id}")));
    }
    let members: Vec<Uuid> = project.members.iter().copied().collect();
    let mut response = HttpResponse::Ok().json(Members {
        project_id: *id,
        members,
    });
    response
        .headers_mut()
        .insert(header::ETAG, etag(project.version as i64));
    Ok(response)
}

/// Add a user to the project.
#[utoipa::path(post, path = "/api/v1/projects/{id}/members", tag = "projects",
    params(("id" = Uuid, Path, description = "The project")),
    request_body = MemberBody,
    responses((status = 200, description = "Added (or already a member)", body = CommandAnswer)))]
async fn add_member(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: MemberBody = parse_json(&body)?;
    // The user must exist: a typo in an id must not grant access to nobody in particular.
    state
        .identity
        .get_user(input.user_id)
        .await
        .map_err(|e| match e {
            application::identity::UserError::NotFound => {
                Problem::invalid_field("user_id", "no such user")
            }
            other => other.into(),
        })?;
    let command = ProjectCommand::AddMember {
        expected_version: ctx.expected_version,
        user_id: input.user_id,
    };
    let committed = state.store.project(*id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// Remove a user from the project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/members/{user_id}", tag = "projects",
    params(("id" = Uuid, Path, description = "The project"), ("user_id" = Uuid, Path, description = "The member")),
    responses((status = 200, description = "Removed", body = CommandAnswer)))]
async fn remove_member(
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (id, user_id) = *path;
    let command = ProjectCommand::RemoveMember {
        expected_version: ctx.expected_version,
        user_id,
    };
    let committed = state.store.project(id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}
