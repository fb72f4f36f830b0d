//! Errors as RFC 9457 problem details (`application/problem+json`), with field paths for
//! invalid input. Each status has one meaning:
//! 400 malformed request (JSON syntax, headers), 404 unknown id, 409 version conflict or a
//! command the aggregate's state refuses, 413 body too large, 422 invalid fields,
//! 503 store unavailable, 500 anything unexpected.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use commands::CommandError;
use domain::job::JobError;
use domain::project::ProjectError;
use domain::{FieldError, ValidationErrors};
use serde::Serialize;

/// An error, as RFC 9457 problem details (`application/problem+json`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `https://recon.dev/problems/invalid-fields`.
    #[serde(rename = "type")]
    pub problem_type: String,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The invalid fields of a 422, each with its JSON path (`settings.mapping.amount`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<InvalidField>)]
    pub errors: Vec<FieldError>,
    /// Seconds, sent as `Retry-After` (429, 503).
    #[serde(skip)]
    pub retry_after: Option<i64>,
}

/// One invalid field of a request (the OpenAPI form of `domain::FieldError`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct InvalidField {
    /// The field's path in the body or query, e.g. `rule_set.passes[0].name`.
    path: String,
    message: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            problem_type: format!("https://recon.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 401, with `WWW-Authenticate: Bearer`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 413: the body (or upload) is larger than allowed.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
            detail,
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many(detail: impl Into<String>, retry_after: i64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            detail,
        );
        p.retry_after = Some(retry_after);
        p
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, "Conflict", detail)
    }

    pub fn invalid(errors: ValidationErrors) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-fields",
            "Invalid fields",
            errors.to_string(),
        );
        p.errors = errors.errors;
        p
    }

    pub fn invalid_field(path: &str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::new();
        errors.add(path, message);
        Self::invalid(errors)
    }

    /// 503 with `Retry-After: 1`: the database is unreachable or busy; nothing was done.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        p.retry_after = Some(1);
        p
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an unexpected error occurred; it was logged",
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type("application/problem+json");
        if self.status == 401 {
            builder.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                "Bearer realm=\"recon\"",
            ));
        }
        if let Some(seconds) = self.retry_after {
            builder.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        builder.json(self)
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        if commands::repository::is_transient(&e) {
            // Unreachable, a serialization failure or a deadlock: nothing was done; retry.
            Problem::unavailable(format!("database unavailable or busy: {e}"))
        } else {
            Problem::internal(e)
        }
    }
}

impl From<ProjectError> for Problem {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::NotFound => Problem::not_found(e.to_string()),
            ProjectError::VersionConflict { .. } => {
                Problem::conflict("version-conflict", e.to_string())
            }
            ProjectError::AlreadyExists | ProjectError::Archived => {
                Problem::conflict("refused", e.to_string())
            }
            ProjectError::NotAMember => Problem::not_found(e.to_string()),
        }
    }
}

impl From<JobError> for Problem {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound => Problem::not_found(e.to_string()),
            JobError::VersionConflict { .. } => {
                Problem::conflict("version-conflict", e.to_string())
            }
            JobError::AlreadyExists
            | JobError::Deleted
            | JobError::InvalidTransition { .. }
            | JobError::StaleRun { .. } => Problem::conflict("refused", e.to_string()),
        }
    }
}

impl From<domain::DataSourceError> for Problem {
    fn from(e: domain::DataSourceError) -> Self {
        match e {
            domain::DataSourceError::NotFound => Problem::not_found(e.to_string()),
            domain::DataSourceError::VersionConflict { .. } => {
                Problem::conflict("version-conflict", e.to_string())
            }
            domain::DataSourceError::AlreadyExists => Problem::conflict("refused", e.to_string()),
        }
    }
}

impl<E: std::error::Error + Into<Problem>> From<CommandError<E>> for Problem {
    fn from(e: CommandError<E>) -> Self {
        match e {
            CommandError::Rejected(e) => e.into(),
            CommandError::Conflict => Problem::conflict(
                "version-conflict",
                "the resource was changed concurrently; reload and retry",
            ),
            CommandError::Unavailable(s) => Problem::unavailable(s),
            CommandError::Internal(s) => Problem::internal(s),
        }
    }
}

impl From<commands::store::CreateJobError> for Problem {
    fn from(e: commands::store::CreateJobError) -> Self {
        match e {
            commands::store::CreateJobError::Project(e) => e.into(),
            commands::store::CreateJobError::Job(e) => e.into(),
        }
    }
}

impl From<std::convert::Infallible> for Problem {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<domain::UserError> for Problem {
    fn from(e: domain::UserError) -> Self {
        match e {
            domain::UserError::NotFound => Problem::not_found(e.to_string()),
            domain::UserError::VersionConflict { .. } => {
                Problem::conflict("version-conflict", e.to_string())
            }
            domain::UserError::AlreadyExists | domain::UserError::Disabled => {
                Problem::conflict("refused", e.to_string())
            }
        }
    }
}

impl From<application::identity::UserError> for Problem {
    fn from(e: application::identity::UserError) -> Self {
        use application::identity::UserError;
        match e {
            UserError::Invalid(errors) => Problem::invalid(errors),
            UserError::EmailTaken => Problem::conflict("email-taken", e.to_string()),
            UserError::NotFound => Problem::not_found(e.to_string()),
            UserError::WrongPassword => Problem::invalid_field("current_password", "is wrong"),
            UserError::OwnAccount => Problem::conflict("refused", e.to_string()),
            UserError::Command(e) => e.into(),
            UserError::Hashing(s) => Problem::internal(s),
            UserError::Database(e) => e.into(),
        }
    }
}

impl From<application::identity::LoginError> for Problem {
    fn from(e: application::identity::LoginError) -> Self {
        use application::identity::LoginError;
        match e {
            LoginError::Refused => Problem::unauthenticated(e.to_string()),
            // Same message as a refusal: a lock must not tell that an account exists.
            LoginError::Locked { retry_after } => Problem::too_many(e.to_string(), retry_after),
            LoginError::InvalidRefreshToken => Problem::unauthenticated(e.to_string()),
            LoginError::Database(e) => e.into(),
            LoginError::Store(s) => Problem::unavailable(s),
        }
    }
}

impl From<application::jobs::JobsError> for Problem {
    fn from(e: application::jobs::JobsError) -> Self {
        use application::jobs::JobsError;
        match e {
            JobsError::Invalid(errors) => Problem::invalid(errors),
            JobsError::Create(e) => e.into(),
            JobsError::Command(e) => e.into(),
            JobsError::NoSuchJob => Problem::not_found(e.to_string()),
        }
    }
}

/// Row errors as problem fields: `rows[17].Amount: "12,3x" is not a decimal number`.
fn row_errors(errors: &[sources::RowError]) -> ValidationErrors {
    let mut out = ValidationErrors::new();
    for e in errors {
        let path = match &e.column {
            Some(c) => format!("rows[{}].{}", e.row, c),
            None => format!("rows[{}]", e.row),
        };
        out.add(path, e.message.clone());
    }
    out
}

impl From<application::sources::SourcesError> for Problem {
    fn from(e: application::sources::SourcesError) -> Self {
        use application::sources::SourcesError;
        use ingest::file_store::ReceiveError;
        use ingest::ImportFailure;
        match e {
            SourcesError::NoSuchSource => Problem::not_found(e.to_string()),
            SourcesError::Project(e) => e.into(),
            SourcesError::StoredSettings(s) => Problem::internal(s),
            SourcesError::Receive(e) => match e {
                ReceiveError::TooLarge { .. } => Problem::too_large(e.to_string()),
                ReceiveError::Empty => Problem::bad_request("the upload is empty"),
                ReceiveError::Upload(s) => Problem::bad_request(s),
                ReceiveError::Io(e) => Problem::internal(e),
            },
            SourcesError::Import(e) => match e {
                ImportFailure::Mapping(errors) => {
                    Problem::invalid(ingest::settings::mapping_errors("settings", errors))
                }
                ImportFailure::Format(message) => Problem::invalid_field("(file)", message),
                ImportFailure::Rejected(report) => {
                    let mut p = Problem::invalid(row_errors(&report.errors));
                    p.detail = format!(
                        "the file has {} bad row(s) and on_error=reject: nothing was stored (use on_error=skip to import the good rows)",
                        report.errors_total
                    );
                    p
                }
                ImportFailure::Io(s) => Problem::internal(s),
                ImportFailure::Database(e) => Problem::from(e),
            },
            SourcesError::Command(e) => e.into(),
        }
    }
}
