//! Errors that stop an import as a whole (as opposed to [`crate::RowError`]s, which concern one
//! row and are subject to the [`crate::OnError`] policy).

use std::fmt;

use serde::Serialize;

use crate::report::ImportReport;

/// One problem with a column mapping or import options, located by a JSON field path such as
/// `mapping.amount` or `csv.encoding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingError {
    /// JSON field path, e.g. `mapping.amount`.
    pub path: String,
    pub message: String,
}

impl MappingError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Formats a list of mapping errors one per line.
fn join(errors: &[MappingError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why an import (or preview) did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The mapping or the options are invalid (also: a mapped column name is not in the header).
    #[error("invalid mapping or options: {}", join(.0))]
    Mapping(Vec<MappingError>),
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not a readable file of the expected format (not a row problem: the structure
    /// itself is broken, e.g. an unterminated XML element, an MT940 statement without `:25:`).
    #[error("{format}: {message}")]
    Format {
        format: &'static str,
        message: String,
    },
    /// With [`crate::OnError::Reject`]: at least one row was bad. The report lists the errors.
    #[error("import rejected: {} bad row(s){}", .0.errors_total, first_error(.0))]
    Rejected(Box<ImportReport>),
}

fn first_error(report: &ImportReport) -> String {
    match report.errors.first() {
        Some(e) => format!(", first: {e}"),
        None => String::new(),
    }
}

impl ImportError {
    pub(crate) fn format(format: &'static str, message: impl Into<String>) -> Self {
        ImportError::Format {
            format,
            message: message.into(),
        }
    }

    pub(crate) fn mapping(path: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError::Mapping(vec![MappingError::new(path, message)])
    }
}
