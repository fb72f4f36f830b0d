//! Recon's data-source importers: pure functions from bytes to normalised
//! [`domain::records::Record`]s.
//!
//! Formats:
//! - delimited text ([`csv_import`]): any delimiter and quote character, with or without a header
//!   row, UTF-8 (with or without BOM), UTF-16 LE/BE (with BOM) and legacy single-byte encodings
//!   such as windows-1252 / latin-1; streamed record by record;
//! - XLSX workbooks ([`xlsx_import`]): one sheet chosen by name or index;
//! - ISO 20022 camt.053 bank statements ([`camt053`]), versions .001.02 to .001.08;
//! - SWIFT MT940 bank statements ([`mt940`]).
//!
//! The tabular formats (CSV and XLSX) are read through a [`mapping::Mapping`] (JSON) that says
//! which column holds what and how dates and decimals are written. Every record gets a
//! [`fingerprint`] of its normalised content, so re-importing a statement yields the same
//! fingerprints.
//!
//! Nothing here opens files, talks to the network or to a database: the callers hand in readers
//! and receive [`ImportedRecord`]s through a callback (`FnMut(ImportedRecord)`), so a 200 MB file
//! streams through without being held in memory. [`read_csv`] delivers [`ReadRecord`]s instead,
//! without the fingerprint, for callers that do not need it (hashing is most of the work).
//!
//! Error policy ([`OnError`]): with `Reject` any bad row fails the whole import
//! ([`ImportError::Rejected`] carries the [`ImportReport`]); with `Skip` bad rows are left out and
//! listed in the report. Either way at most [`MAX_LISTED_ERRORS`] row errors are listed and
//! `errors_total` counts them all. Note that with `Reject` the sink may already have received the
//! good rows read before the first bad one: a caller that must be all-or-nothing discards what it
//! received when the import returns an error (e.g. rolls back its transaction).

pub mod camt053;
pub mod csv_import;
pub mod decimal;
pub mod error;
pub mod fingerprint;
pub mod mapping;
pub mod mt940;
pub mod report;
mod tabular;
mod text;
pub mod xlsx_import;

pub use camt053::{import_camt053, parse_camt053};
pub use csv_import::{import_csv, preview_csv, read_csv, CsvOptions};
pub use decimal::{parse_decimal, DecimalFormat};
pub use error::{ImportError, MappingError};
pub use fingerprint::{fingerprint, sha256_hex, HashingReader};
pub use mapping::{ColumnRef, Mapping};

pub use mt940::{import_mt940, parse_mt940};
pub use report::{
    ImportReport, ImportedRecord, OnError, Preview, PreviewRow, ReadRecord, RowError,
    MAX_LISTED_ERRORS,
};
pub use xlsx_import::{import_xlsx, preview_xlsx, SheetRef, XlsxOptions};
