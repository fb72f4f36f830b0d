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

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
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
        }
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

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
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
        HttpResponse::build(self.status_code())
            .content_type("application/problem+json")
            .json(self)
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Problem::unavailable(format!("database unavailable: {e}"))
            }
            other => Problem::internal(other),
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
