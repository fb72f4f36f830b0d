//! Delimited text files (CSV, TSV, semicolon-separated, …), streamed record by record.
//!
//! Encodings: a byte-order mark always wins (UTF-8, UTF-16 LE, UTF-16 BE). Without one the file
//! is read as `options.encoding`: UTF-8 when unset, or any WHATWG encoding label such as
//! `"windows-1252"`, `"latin1"`/`"iso-8859-1"` (both mean windows-1252 under WHATWG, which agrees
//! with ISO-8859-1 on every printable character), `"iso-8859-15"`, `"utf-16le"`, `"utf-16be"`.
//! Decoding happens on the fly in a small buffer: the file is never held in memory, raw or
//! decoded. UTF-8 input is passed through unchanged and checked per row, so invalid bytes are
//! reported as a row error (with a hint to set the encoding) instead of being silently replaced.

use std::io::Read;

use encoding_rs::Encoding;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{ImportError, MappingError};
use crate::mapping::Mapping;
use crate::report::{Driver, ImportReport, ImportedRecord, OnError, Preview, RowError};
use crate::tabular::{convert_row, preview_row, Cell, RowOutcome};

/// How to read a delimited text file. JSON:
/// `{"delimiter": ";", "quote": "\"", "has_header": true, "encoding": "windows-1252", "skip_rows": 0}`
/// (all keys optional; defaults as shown except `delimiter` `","` and `encoding` unset = UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter, one ASCII character: `,` `;` `\t` `|` …
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Quote character, one ASCII character (doubled inside a quoted field to escape it).
    #[serde(default = "default_quote")]
    pub quote: char,
    /// Whether the first row (after `skip_rows`) names the columns.
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// WHATWG encoding label; `None` = UTF-8. A byte-order mark overrides it.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Rows to skip before the header (or the data), e.g. a bank's preamble. They still count in
    /// the row numbers.
    #[serde(default)]
    pub skip_rows: u64,
}

fn default_delimiter() -> char {
    ','
}
fn default_quote() -> char {
    '"'
}
fn default_true() -> bool {
    true
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: ',',
            quote: '"',
            has_header: true,
            encoding: None,
            skip_rows: 0,
        }
    }
}

impl CsvOptions {
    /// `;`-delimited with a header row, UTF-8: the usual continental-European export.
    pub fn semicolon() -> Self {
        Self {
            delimiter: ';',
            ..Self::default()
        }
    }

    /// Checks the options; errors carry paths such as `csv.delimiter`.
    pub fn validate(&self) -> Vec<MappingError> {
        let mut errors = Vec::new();
        let single = |c: char| c.is_ascii() && c != '\n' && c != '\r';
        if !single(self.delimiter) {
            errors.push(MappingError::new(
                "csv.delimiter",
                "must be one ASCII character other than a line break",
            ));
        }
        if !single(self.quote) {
            errors.push(MappingError::new(
                "csv.quote",
                "must be one ASCII character other than a line break",
            ));
        } else if self.quote == self.delimiter {
            errors.push(MappingError::new(
                "csv.quote",
                "must differ from the delimiter",
            ));
        }
        if let Some(label) = &self.encoding {
            if Encoding::for_label(label.trim().as_bytes()).is_none() {
                errors.push(MappingError::new(
                    "csv.encoding",
                    format!("unknown encoding \"{label}\" (try \"utf-8\", \"utf-16le\", \"windows-1252\", \"iso-8859-15\")"),
                ));
            }
        }
        errors
    }

    fn encoding(&self) -> Option<&'static Encoding> {
        self.encoding
            .as_ref()
            .and_then(|l| Encoding::for_label(l.trim().as_bytes()))
    }
}

/// A streaming reader of a delimited file's rows, with the header already read.
struct CsvRows<R: Read> {
    reader: csv::Reader<DecodeReaderBytes<R, Vec<u8>>>,
    record: csv::ByteRecord,
    /// Number of the last row read (1-based, as a spreadsheet shows it).
    row: u64,
    headers: Option<Vec<String>>,
}

impl<R: Read> CsvRows<R> {
    fn open(input: R, options: &CsvOptions) -> Result<Self, ImportError> {
        let errors = options.validate();
        if !errors.is_empty() {
            return Err(ImportError::Mapping(errors));
        }
        let decoded = DecodeReaderBytesBuilder::new()
            .encoding(options.encoding())
            .bom_override(true)
            .utf8_passthru(true)
            .strip_bom(true)
            .build(input);
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(options.delimiter as u8)
            .quote(options.quote as u8)
            .from_reader(decoded);
        let mut rows = Self {
            reader,
            record: csv::ByteRecord::new(),
            row: 0,
            headers: None,
        };
        for _ in 0..options.skip_rows {
            if !rows.advance()? {
                break;
            }
        }
        if options.has_header && rows.advance()? {
            let mut names = Vec::with_capacity(rows.record.len());
            for field in rows.record.iter() {
                let name = std::str::from_utf8(field).map_err(|_| {
                    ImportError::format(
                        "CSV",
                        format!("the header (row {}) is not valid UTF-8: set csv.encoding (e.g. \"windows-1252\")", rows.row),
                    )
                })?;
                names.push(name.trim().to_string());
            }
            rows.headers = Some(names);
        }
        Ok(rows)
    }

    /// Reads the next row into `self.record`; false at the end.
    fn advance(&mut self) -> Result<bool, ImportError> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(csv_error)?;
        if more {
            self.row += 1;
        }
        Ok(more)
    }

    /// The current row as cells, or a row error when it is not valid UTF-8.
    fn cells(&self) -> Result<Vec<Cell<'_>>, RowError> {
        let mut cells = Vec::with_capacity(self.record.len());
        for (i, field) in self.record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) => cells.push(Cell::Text(s)),
                Err(_) => {
                    let column = match &self.headers {
                        Some(h) => h.get(i).cloned(),
                        None => Some(crate::mapping::column_letter(i)),
                    };
                    return Err(RowError::new(
                        self.row,
                        column,
                        "the text is not valid UTF-8: set csv.encoding (e.g. \"windows-1252\")",
                    ));
                }
            }
        }
        Ok(cells)
    }
}

fn csv_error(e: csv::Error) -> ImportError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::format("CSV", format!("{other:?}")),
    }
}

/// Imports a delimited text file: every row becomes an [`ImportedRecord`] handed to `sink`, in
/// file order, as it is read.
///
/// Fails before reading data when the options or the mapping are invalid (also when a mapped
/// header name is missing from the file); fails on read errors; with [`OnError::Reject`] fails
/// with the report when any row is bad.
pub fn import_csv<R: Read, F: FnMut(ImportedRecord)>(
    input: R,
    options: &CsvOptions,
    mapping: &Mapping,
    policy: OnError,
    sink: F,
) -> Result<ImportReport, ImportError> {
    let mut rows = CsvRows::open(input, options)?;
    let resolved = mapping
        .resolve(rows.headers.as_deref())
        .map_err(ImportError::Mapping)?;
    let mut driver = Driver::new(policy, sink);
    while rows.advance()? {
        match rows.cells() {
            Ok(cells) => match convert_row(&cells, &resolved, rows.row) {
                RowOutcome::Blank => driver.blank(),
                RowOutcome::Record(r) => driver.ok(r),
                RowOutcome::Bad(errors) => driver.bad(errors),
            },
            Err(e) => driver.bad(vec![e]),
        }
    }
    driver.finish()
}

/// Parses the first `limit` non-blank data rows under a proposed mapping: each row's raw cells
/// and either its record or its errors. Nothing else happens.
pub fn preview_csv<R: Read>(
    input: R,
    options: &CsvOptions,
    mapping: &Mapping,
    limit: usize,
) -> Result<Preview, ImportError> {
    let mut rows = CsvRows::open(input, options)?;
    let resolved = mapping
        .resolve(rows.headers.as_deref())
        .map_err(ImportError::Mapping)?;
    let mut out = Vec::new();
    while out.len() < limit && rows.advance()? {
        match rows.cells() {
            Ok(cells) => {
                if let Some(p) = preview_row(&cells, &resolved, rows.row) {
                    out.push(p);
                }
            }
            Err(e) => out.push(crate::report::PreviewRow {
                row: rows.row,
                cells: rows
                    .record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
                record: None,
                errors: vec![e],
            }),
        }
    }
    Ok(Preview {
        headers: rows.headers,
        rows: out,
    })
}
