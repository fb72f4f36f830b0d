//! What an import produces: records, row errors and the report, plus the policy driver shared by
//! all formats.

use std::fmt;

use domain::records::Record;
use serde::{Deserialize, Serialize};

use crate::error::ImportError;
use crate::fingerprint::fingerprint;

/// At most this many row errors are listed in an [`ImportReport`]; `errors_total` counts all.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// A record as imported: the normalised record, its content fingerprint and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedRecord {
    pub record: Record,
    /// SHA-256 (lower-case hex) of the record's normalised content, see [`crate::fingerprint`].
    pub fingerprint: String,
    /// Where the record came from, 1-based: for CSV/XLSX the spreadsheet row (the header, when
    /// there is one, is row 1); for MT940 the line of the `:61:` field; for camt.053 the entry's
    /// position in the file (1st `Ntry`, 2nd `Ntry`, … across all statements).
    pub row: u64,
}

/// A record as read, before its fingerprint is computed: for callers that do not need the
/// fingerprint (hashing is most of an import's work), see [`crate::read_csv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub record: Record,
    /// Same numbering as [`ImportedRecord::row`].
    pub row: u64,
}

impl ReadRecord {
    /// The record with its fingerprint, as the `import_*` functions deliver it.
    pub fn fingerprinted(self) -> ImportedRecord {
        ImportedRecord {
            fingerprint: fingerprint(&self.record),
            record: self.record,
            row: self.row,
        }
    }
}

/// One problem with one row (or statement entry).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Same numbering as [`ImportedRecord::row`].
    pub row: u64,
    /// The column's header name (or, in a file without header, its spreadsheet letter); for
    /// statements the element or field (`Ntry/Amt`, `:61:`). `None` for whole-row problems.
    pub column: Option<String>,
    /// What is wrong, quoting the offending value, e.g. `"12,3x" is not a decimal number`.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(row: u64, column: Option<String>, message: impl Into<String>) -> Self {
        Self {
            row,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column \"{}\": {}", self.row, c, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// What to do with bad rows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Any bad row fails the import ([`ImportError::Rejected`]).
    #[default]
    Reject,
    /// Bad rows are skipped and listed in the report; the good ones are imported.
    Skip,
}

/// The outcome of an import.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows (entries) read, the header excluded, blank rows included.
    pub rows_read: u64,
    /// Rows that became records.
    pub records_ok: u64,
    /// Bad rows left out (with [`OnError::Skip`]; always 0 with `Reject`).
    pub rows_skipped: u64,
    /// Rows whose every cell was empty: ignored, not errors.
    pub rows_blank: u64,
    /// The first [`MAX_LISTED_ERRORS`] row errors, in file order.
    pub errors: Vec<RowError>,
    /// How many row errors there were in all (a row can have several).
    pub errors_total: u64,
}

/// The parsed first rows of a file under a proposed mapping, for a mapping editor.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The header row's names, when the file has one.
    pub headers: Option<Vec<String>>,
    pub rows: Vec<PreviewRow>,
}

/// One previewed row: its raw cells and either its record or its errors.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewRow {
    pub row: u64,
    /// The row's cells as text (XLSX numbers in their shortest exact form, dates as `YYYY-MM-DD`).
    pub cells: Vec<String>,
    /// The record the row becomes (`record` and its `fingerprint`), when it has no errors.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub record: Option<ImportedRecord>,
    pub errors: Vec<RowError>,
}

/// Applies the [`OnError`] policy, feeds the sink (of [`ImportedRecord`]s or [`ReadRecord`]s)
/// and keeps the report.
pub(crate) struct Driver<F> {
    policy: OnError,
    sink: F,
    report: ImportReport,
}

impl<F> Driver<F> {
    pub(crate) fn new(policy: OnError, sink: F) -> Self {
        Self {
            policy,
            sink,
            report: ImportReport::default(),
        }
    }

    pub(crate) fn ok<T>(&mut self, record: T)
    where
        F: FnMut(T),
    {
        self.report.rows_read += 1;
        self.report.records_ok += 1;
        // Once a rejecting import has seen a bad row it is going to fail: stop delivering.
        if self.policy == OnError::Skip || self.report.errors_total == 0 {
            (self.sink)(record);
        }
    }

    pub(crate) fn bad(&mut self, errors: Vec<RowError>) {
        self.report.rows_read += 1;
        if self.policy == OnError::Skip {
            self.report.rows_skipped += 1;
        }
        self.report.errors_total += errors.len() as u64;
        for e in errors {
            if self.report.errors.len() < MAX_LISTED_ERRORS {
                self.report.errors.push(e);
            }
        }
    }

    pub(crate) fn blank(&mut self) {
        self.report.rows_read += 1;
        self.report.rows_blank += 1;
    }

    pub(crate) fn row<T>(&mut self, outcome: Result<T, Vec<RowError>>)
    where
        F: FnMut(T),
    {
        match outcome {
            Ok(r) => self.ok(r),
            Err(e) => self.bad(e),
        }
    }

    pub(crate) fn finish(self) -> Result<ImportReport, ImportError> {
        if self.policy == OnError::Reject && self.report.errors_total > 0 {
            Err(ImportError::Rejected(Box::new(self.report)))
        } else {
            Ok(self.report)
        }
    }
}
