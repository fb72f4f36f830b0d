//! Data sources: `/api/v1/projects/{id}/sources` (create, list), `/api/v1/sources/{id}` (get,
//! settings, file uploads, history) and `/api/v1/sources/preview`.

use super::{CommandAnswer, History};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use domain::data_source::DataSourceCommand;
use domain::validation::{Name, ValidationErrors};
use ingest::ImportSettings;
use projections::queries::{Page, SourceView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sources::OnError;
use sources::Preview;
use uuid::Uuid;

use super::{cached_read, command_answer, etag, query_answer};
use crate::access::{endpoint, Endpoint, Scope, GET, POST, PUT};
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
            "/api/v1/projects/{id}/sources",
            WriteProject,
            Project,
            || web::post().to(create),
        ),
        endpoint(
            GET,
            "/api/v1/projects/{id}/sources",
            ReadProject,
            Project,
            || web::get().to(list),
        ),
        endpoint(POST, "/api/v1/sources/preview", Operate, Global, || {
            web::post().to(preview)
        }),
        endpoint(GET, "/api/v1/sources/{id}", ReadProject, Source, || {
            web::get().to(get)
        }),
        endpoint(
            PUT,
            "/api/v1/sources/{id}/settings",
            WriteProject,
            Source,
            || web::put().to(configure_settings),
        ),
        endpoint(
            POST,
            "/api/v1/sources/{id}/files",
            WriteProject,
            Source,
            || web::post().to(upload),
        ),
        endpoint(
            GET,
            "/api/v1/sources/{id}/events",
            ReadProject,
            Source,
            || web::get().to(history),
        ),
    ]
}

fn settings_from(value: &Value) -> Result<ImportSettings, Problem> {
    ImportSettings::parse(value, "settings").map_err(Problem::invalid)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateSource {
    #[schema(schema_with = crate::docs::schemas::name)]
    name: String,
    #[schema(value_type = ImportSettings)]
    settings: Value,
}

/// Create a data source in the project.
#[utoipa::path(post, path = "/api/v1/projects/{id}/sources", tag = "sources",
    params(("id" = Uuid, Path, description = "The project")),
    request_body = CreateSource,
    responses((status = 201, description = "Created", body = CommandAnswer,
        headers(("Location" = String, description = "The new source"), ("ETag" = String, description = "Its version")))))]
async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    project_id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: CreateSource = parse_json(&body)?;
    let mut errors = ValidationErrors::new();
    let name = errors.check("name", Name::parse(&input.name));
    let settings = match ImportSettings::parse(&input.settings, "settings") {
        Ok(s) => Some(s),
        Err(e) => {
            errors.errors.extend(e.errors);
            None
        }
    };
    let (Some(name), Some(settings)) = (name, settings) else {
        return Err(Problem::invalid(errors));
    };
    let committed = state
        .sources
        .create(*project_id, name, settings, &ctx.metadata)
        .await?;
    let id = committed.id;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/api/v1/sources/{id}")));
    Ok(command_answer(builder, committed))
}

/// The project's data sources.
#[utoipa::path(get, path = "/api/v1/projects/{id}/sources", tag = "sources",
    params(("id" = Uuid, Path, description = "The project"), ListQuery),
    responses((status = 200, description = "A page of sources", body = Page<SourceView>)))]
async fn list(
    state: web::Data<AppState>,
    project_id: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let (limit, offset) = query.page().resolve()?;
    let freshness = query.consistency().wait(&state).await?;
    let page = projections::queries::list_sources(&state.pool, *project_id, limit, offset).await?;
    Ok(query_answer(freshness, &page))
}

/// One data source.
#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "sources",
    params(("id" = Uuid, Path, description = "The source"), Consistency),
    responses((status = 200, description = "The source", body = SourceView,
        headers(("ETag" = String, description = "Its version"))),
        (status = 304, description = "Not modified (If-None-Match)")))]
async fn get(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    consistency: web::Query<Consistency>,
) -> Result<HttpResponse, Problem> {
    let freshness = consistency.wait(&state).await?;
    cached_read(&state, ReadKey::Source(*id), freshness, || async {
        let source = projections::queries::get_source(&state.pool, *id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no data source {id}")))?;
        let version = source.version;
        Ok((source, Some(version)))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    #[schema(value_type = ImportSettings)]
    settings: Value,
}

/// Change how the source's files are read (honours If-Match).
#[utoipa::path(put, path = "/api/v1/sources/{id}/settings", tag = "sources",
    params(("id" = Uuid, Path, description = "The source")),
    request_body = SettingsBody,
    responses((status = 200, description = "Configured", body = CommandAnswer)))]
async fn configure_settings(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let input: SettingsBody = parse_json(&body)?;
    let settings = settings_from(&input.settings)?;
    let command = DataSourceCommand::Configure {
        expected_version: ctx.expected_version,
        settings: settings.to_value(),
    };
    let committed = state.store.data_source(*id, command, &ctx.metadata).await?;
    Ok(command_answer(HttpResponse::Ok(), committed))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name, as recorded (at most 255 printable characters; default `upload`).
    file_name: Option<String>,
    /// `reject` (default: any bad row fails the upload) or `skip` (bad rows are listed and left out).
    on_error: Option<String>,
}

/// What an upload answers: the source's new version, the stored file and the import's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// The data source.
    pub id: Uuid,
    pub version: u64,
    pub position: Option<i64>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub size_bytes: u64,
    pub import: ingest::ImportSummary,
    /// The same content was imported before: nothing was added.
    pub already_imported: bool,
}

/// Streams the body into the file store and imports it (`application::sources::upload`).
/// Upload a file (the raw body) and import its records; a file uploaded before adds nothing.
#[utoipa::path(post, path = "/api/v1/sources/{id}/files", tag = "sources",
    params(("id" = Uuid, Path, description = "The source"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file, as it is"),
    responses((status = 201, description = "Received and imported", body = Uploaded,
        headers(("ETag" = String, description = "The source's version"))),
        (status = 413, description = "Larger than the upload limit", body = Problem, content_type = "application/problem+json")))]
async fn upload(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let policy = match query.on_error.as_deref() {
        None | Some("reject") => OnError::Reject,
        Some("skip") => OnError::Skip,
        Some(_) => {
            return Err(Problem::invalid_field(
                "on_error",
                "must be `reject` or `skip`",
            ))
        }
    };
    let file_name = query
        .file_name
        .clone()
        .unwrap_or_else(|| "upload".to_string());
    if file_name.chars().count() > 255 || file_name.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "file_name",
            "must be at most 255 printable characters",
        ));
    }
    let uploaded = state
        .sources
        .upload(
            *id,
            file_name,
            policy,
            payload,
            state.max_upload_bytes,
            &ctx.metadata,
        )
        .await?;
    let (committed, stored, summary) = (uploaded.committed, uploaded.file, uploaded.summary);
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(committed.version as i64)))
        .json(Uploaded {
            id: committed.id,
            version: committed.version,
            position: committed.position,
            sha256: stored.sha256,
            size_bytes: stored.size_bytes,
            already_imported: summary.already_imported(),
            import: summary,
        }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    #[schema(value_type = ImportSettings)]
    settings: Value,
    /// The first lines of a CSV file, as text.
    content: String,
    #[serde(default)]
    rows: Option<usize>,
}

/// Parses the first rows of a CSV with proposed settings; nothing is stored.
/// Parse the first rows of a CSV with proposed settings; nothing is stored.
#[utoipa::path(post, path = "/api/v1/sources/preview", tag = "sources",
    request_body = PreviewBody,
    responses((status = 200, description = "The parsed rows", body = Preview)))]
async fn preview(body: web::Bytes) -> Result<HttpResponse, Problem> {
    let input: PreviewBody = parse_json(&body)?;
    let settings = settings_from(&input.settings)?;
    if settings.format != ingest::Format::Csv {
        return Err(Problem::invalid_field(
            "settings.format",
            "preview supports csv; upload statements directly",
        ));
    }
    let rows = input.rows.unwrap_or(20).min(200);
    let mapping = settings.mapping.clone().unwrap_or_default();
    let preview = sources::preview_csv(
        input.content.as_bytes(),
        &settings.csv_options(),
        &mapping,
        rows,
    )
    .map_err(|e| match e {
        sources::ImportError::Mapping(errors) => {
            Problem::invalid(ingest::settings::mapping_errors("settings", errors))
        }
        other => Problem::invalid_field("content", other.to_string()),
    })?;
    Ok(HttpResponse::Ok().json(preview))
}

/// The source's events, oldest first.
#[utoipa::path(get, path = "/api/v1/sources/{id}/events", tag = "sources",
    params(("id" = Uuid, Path, description = "The source")),
    responses((status = 200, description = "Its history", body = History)))]
async fn history(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    super::history(&state.pool, *id, "data_source").await
}
