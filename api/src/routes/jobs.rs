//! Jobs: `/api/v1/projects/{id}/jobs` (create, list) and `/api/v1/jobs/{id}` (get, PUT, DELETE,
//! start, cancel, history).

use super::{CommandAnswer, History};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use application::jobs::JobInput;
use domain::job::{JobCommand, JobStatus};
use matching::RuleSet;
use projections::queries::{JobView, Page};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{cached_read, command_answer, query_answer};
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
        endpoint(
            POST,
            "/api/v1/projects/{id}/jobs",
            WriteProject,
            Project,
            || web::post().to(create),
        ),
        endpoint(
            GET,
            "/api/v1/projects/{id}/jobs",
            ReadProject,
            Project,
            || web::get().to(list_in_project),
        ),
        endpoint(GET, "/api/v1/jobs", SignedIn, Global, || {
            web::get().to(list)
        }),
        endpoint(GET, "/api/v1/jobs/{id}", ReadProject, Job, || {
            web::get().to(get)
        }),
        endpoint(PUT, "/api/v1/jobs/{id}", WriteProject, Job, || {
            web::put().to(update)
        }),
        endpoint(DELETE, "/api/v1/jobs/{id}", WriteProject, Job, || {
            web::delete().to(delete)
        }),
        endpoint(POST, "/api/v1/jobs/{id}/start", WriteProject, Job, || {
            web::post().to(start)
        }),
        endpoint(POST, "/api/v1/jobs/{id}/cancel", WriteProject, Job, || {
            web::post().to(cancel)
        }),
        endpoint(POST, "/api/v1/jobs/{id}/retry", WriteProject, Job, || {
            web::post().to(retry)
        }),
        endpoint(GET, "/api/v1/jobs/{id}/events", ReadProject, Job, || {
            web::get().to(history)
        }),
    ]
}

/// The job definition as clients send it (create and PUT).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct JobBody {
    #[schema(schema_with = crate::docs::schemas::name)]
    name: String,
    left_source_id: Uuid,
    right_source_id: Uuid,
    /// The matching rules (`matching::RuleSet`).
    #[schema(value_type = RuleSet)]
    rule_set: Value,
}

fn job_input(body: &[u8]) -> Result<JobInput, Problem> {
    let input: JobBody = parse_json(body)?;
    Ok(JobInput {
        name: input.name,
        left_source_id: input.left_source_id,
        right_source_id: input.right_source_id,
        rule_set: input.rule_set,
    })
}

/// Define a reconciliation job between two sources of the project.
#[utoipa::path(post, path = "/api/v1/projects/{id}/jobs", tag = "jobs",
    params(("id" = Uuid, Path, description = "The project")),
    request_body = JobBody,
    responses((status = 201, description = "Created", body = CommandAnswer,
        headers(("Location" = String, description = "The new job"), ("ETag" = String, description = "Its version")))))]
async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    project_id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input = job_input(&body)?;
    let committed = state.jobs.create(*project_id, input, &ctx.metadata).await?;
    let id = committed.id;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/api/v1/jobs/{id}")));
    Ok(command_answer(builder, committed))
}

/// Jobs, optionally of one project; with `project_must_exist`, an unknown project is a 404
/// (checked after the read-your-writes wait, so a just-created project is found).
async fn list_jobs(
    state: &AppState,
    caller: &Authenticated,
    project_id: Option<Uuid>,
    project_must_exist: bool,
    query: &ListQuery,
) -> Result<HttpResponse, Problem> {
    let (limit, offset) = query.page().resolve()?;
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => Some(JobStatus::parse(raw).ok_or_else(|| {
            Problem::invalid_field(
                "status",
                "must be one of created, running, completed, failed, cancelled, deleted",
            )
        })?),
    };
    let freshness = query.consistency().wait(state).await?;
    if let (true, Some(id)) = (project_must_exist, project_id) {
        if projections::queries::get_project(&state.pool, id)
            .await?
            .is_none()
        {
            return Err(Problem::not_found(format!("no project {id}")));
        }
    }
    let page = projections::queries::list_jobs(
        &state.pool,
        project_id,
        status,
        caller.0.member_filter(),
        limit,
        offset,
    )
    .await?;
    Ok(query_answer(freshness, &page))
}

/// Jobs the caller may see.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, description = "A page of jobs", body = Page<JobView>)))]
async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    list_jobs(&state, &caller, query.project_id, false, &query).await
}

/// The project's jobs.
#[utoipa::path(get, path = "/api/v1/projects/{id}/jobs", tag = "jobs",
    params(("id" = Uuid, Path, description = "The project"), ListQuery),
    responses((status = 200, description = "A page of jobs", body = Page<JobView>)))]
async fn list_in_project(
    state: web::Data<AppState>,
    caller: Authenticated,
    project_id: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    list_jobs(&state, &caller, Some(*project_id), true, &query).await
}

/// One job: status, progress, counts.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job"), Consistency),
    responses((status = 200, description = "The job", body = JobView,
        headers(("ETag" = String, description = "Its version"))),
        (status = 304, description = "Not modified (If-None-Match)")))]
async fn get(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state).await?;
    cached_read(&state, ReadKey::Job(*id), freshness, || async {
        let job = projections::queries::get_job(&state.pool, *id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no job {id}")))?;
        let version = job.version;
        Ok((job, Some(version)))
    })
    .await
}

async fn run(
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    command: JobCommand,
) -> Result<HttpResponse, Problem> {
    let committed = state.store.job(id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// Redefine a job that is not running (honours If-Match). A finished job (completed, failed,
/// cancelled) goes back to `created` with the next revision: it needs a new run.
#[utoipa::path(put, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    request_body = JobBody,
    responses((status = 200, description = "Redefined", body = CommandAnswer)))]
async fn update(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input = job_input(&body)?;
    let committed = state
        .jobs
        .redefine(*id, input, ctx.expected_version, &ctx.metadata)
        .await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

/// Delete a job (its history stays).
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    responses((status = 200, description = "Deleted", body = CommandAnswer)))]
async fn delete(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let command = JobCommand::Delete {
        expected_version: ctx.expected_version,
    };
    run(&state, &ctx, *id, command).await
}

/// Start a run; a worker picks it up.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/start", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    responses((status = 200, description = "Started", body = CommandAnswer)))]
async fn start(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let command = JobCommand::Start {
        expected_version: ctx.expected_version,
    };
    run(&state, &ctx, *id, command).await
}

/// Run a failed or cancelled job again.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    responses((status = 200, description = "Started again", body = CommandAnswer)))]
async fn retry(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let command = JobCommand::Retry {
        expected_version: ctx.expected_version,
    };
    run(&state, &ctx, *id, command).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

/// Cancel a created or running job.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    request_body(content = Option<CancelBody>, description = "Optional: why"),
    responses((status = 200, description = "Cancelled", body = CommandAnswer)))]
async fn cancel(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CancelBody = if body.is_empty() {
        CancelBody::default()
    } else {
        parse_json(&body)?
    };
    if input
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 1000)
    {
        return Err(Problem::invalid_field(
            "reason",
            "must be at most 1000 characters",
        ));
    }
    let command = JobCommand::Cancel {
        expected_version: ctx.expected_version,
        reason: input.reason,
    };
    run(&state, &ctx, *id, command).await
}

/// The job's events, oldest first.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job")),
    responses((status = 200, description = "Its history", body = History)))]
async fn history(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    super::history(&state.pool, *id, "job").await
}
