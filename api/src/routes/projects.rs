//! `/api/v1/projects`: create, list, get, update (PUT), archive, history.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name, ValidationErrors};
use domain::Currency;
use serde::Deserialize;
use uuid::Uuid;

use super::{command_answer, etag, query_answer};
use crate::problem::Problem;
use crate::request::{parse_json, CommandContext, Consistency, ListQuery};
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/projects/{id}")
            .route(web::get().to(get))
            .route(web::put().to(update)),
    )
    .route("/projects/{id}/archive", web::post().to(archive))
    .route("/projects/{id}/events", web::get().to(history));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
    #[serde(default)]
    description: String,
    base_currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProject {
    name: String,
    #[serde(default)]
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
    };
    let committed = state.store.project(id, command, &ctx.metadata).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/api/v1/projects/{id}")));
    Ok(command_answer(builder, committed))
}

async fn list(
    state: web::Data<AppState>,
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
    let freshness = query.consistency().wait(&state.pool).await?;
    let page =
        projections::queries::list_projects(&state.pool, query.status.as_deref(), limit, offset)
            .await?;
    Ok(query_answer(freshness, &page))
}

async fn get(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state.pool).await?;
    let project = projections::queries::get_project(&state.pool, *id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no project {id}")))?;
    let mut response = query_answer(freshness, &project);
    response
        .headers_mut()
        .insert(header::ETAG, etag(project.version));
    Ok(response)
}

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

async fn history(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    super::history(&state.pool, *id, "project").await
}
