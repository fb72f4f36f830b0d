//! XLSX workbooks: one sheet, read through the same [`Mapping`] as CSV.
//!
//! Cells keep their spreadsheet types: date cells become dates whatever `date_format` says (text
//! cells are parsed with it), numeric cells become exact decimals through their shortest
//! round-trip text ([`crate::decimal::decimal_from_f64`]: a cell showing `12.34` is exactly
//! `12.34`, never `12.339999999999999857891452847979962825775146484375`), text cells are parsed
//! with the mapping's decimal format. Row numbers are the sheet's own (row 1 is the top row).
//!
//! The workbook format is a zip archive, so the reader must be seekable; the chosen sheet is
//! decoded into memory by calamine (sheets are far smaller than CSV dumps in practice).

use std::io::{Read, Seek};

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::ImportError;
use crate::mapping::{Mapping, Resolved};
use crate::report::{Driver, ImportReport, ImportedRecord, OnError, Preview, ReadRecord};
use crate::tabular::{convert_row, preview_row, Cell, RowOutcome};

/// A sheet by name or by 0-based position.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    Index(usize),
    Name(String),
}

impl Default for SheetRef {
    fn default() -> Self {
        SheetRef::Index(0)
    }
}

/// How to read a workbook. JSON: `{"sheet": "Transactions", "has_header": true, "skip_rows": 0}`
/// (`sheet` may be a 0-based index; all keys optional, default: the first sheet, with header).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XlsxOptions {
    #[serde(default)]
    pub sheet: SheetRef,
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// Sheet rows to ignore at the top (before the header or data).
    #[serde(default)]
    pub skip_rows: u64,
}

fn default_true() -> bool {
    true
}

impl Default for XlsxOptions {
    fn default() -> Self {
        Self {
            sheet: SheetRef::default(),
            has_header: true,
            skip_rows: 0,
        }
    }
}

fn cell(data: &Data) -> Cell<'_> {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s),
        Data::Float(f) => Cell::Number(*f),
        Data::Int(i) => Cell::Int(*i),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            match NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)) {
                Some(date) => Cell::Date(date),
                None => Cell::Error(format!("(date serial {} out of range)", dt.as_f64())),
            }
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) => match s
            .get(..10)
            .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
        {
            Some(d) => Cell::Date(d),
            None => Cell::Text(s),
        },
        Data::DurationIso(s) => Cell::Text(s),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

/// Opens the workbook, reads the sheet and the header, and resolves the mapping; then calls
/// `each(cells, row_number, resolved)` for every data row until it returns false.
fn with_rows<R, F>(
    input: R,
    options: &XlsxOptions,
    mapping: &Mapping,
    mut each: F,
) -> Result<Option<Vec<String>>, ImportError>
where
    R: Read + Seek,
    F: FnMut(&[Cell<'_>], u64, &Resolved) -> bool,
{
    let mut book: Xlsx<R> = Xlsx::new(input)
        .map_err(|e| ImportError::format("XLSX", format!("not a readable workbook: {e}")))?;
    let names = book.sheet_names();
    let name = match &options.sheet {
        SheetRef::Name(n) => names.iter().find(|s| s == &n).cloned().ok_or_else(|| {
            ImportError::mapping(
                "xlsx.sheet",
                format!("no sheet named \"{n}\" (sheets: {})", quoted_list(&names)),
            )
        })?,
        SheetRef::Index(i) => names.get(*i).cloned().ok_or_else(|| {
            ImportError::mapping(
                "xlsx.sheet",
                format!(
                    "sheet index {i} is out of range: the workbook has {} sheet(s) ({})",
                    names.len(),
                    quoted_list(&names)
                ),
            )
        })?,
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| ImportError::format("XLSX", format!("cannot read sheet \"{name}\": {e}")))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let pad = first_col as usize;

    let mut headers: Option<Vec<String>> = None;
    let mut resolved: Option<Resolved> = None;
    let mut buf: Vec<Cell<'_>> = Vec::new();
    for (i, data_row) in range.rows().enumerate() {
        let number = u64::from(first_row) + 1 + i as u64;
        if number <= options.skip_rows {
            continue;
        }
        buf.clear();
        buf.extend(std::iter::repeat_n(Cell::Empty, pad));
        buf.extend(data_row.iter().map(cell));
        if resolved.is_none() {
            if options.has_header {
                headers = Some(buf.iter().map(Cell::text).collect());
            }
            resolved = Some(
                mapping
                    .resolve(headers.as_deref())
                    .map_err(ImportError::Mapping)?,
            );
            if options.has_header {
                continue;
            }
        }
        let Some(m) = resolved.as_ref() else { continue };
        if !each(&buf, number, m) {
            break;
        }
    }
    if resolved.is_none() {
        // Empty sheet: still report mapping problems.
        mapping
            .resolve(headers.as_deref())
            .map_err(ImportError::Mapping)?;
    }
    Ok(headers)
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Imports one sheet of an XLSX workbook; see [`crate::csv_import::import_csv`] for the contract.
pub fn import_xlsx<R: Read + Seek, F: FnMut(ImportedRecord)>(
    input: R,
    options: &XlsxOptions,
    mapping: &Mapping,
    policy: OnError,
    mut sink: F,
) -> Result<ImportReport, ImportError> {
    let mut driver = Driver::new(policy, |r: ReadRecord| sink(r.fingerprinted()));
    with_rows(input, options, mapping, |cells, number, m| {
        match convert_row(cells, m, number) {
            RowOutcome::Blank => driver.blank(),
            RowOutcome::Record(r) => driver.ok(r),
            RowOutcome::Bad(errors) => driver.bad(errors),
        }
        true
    })?;
    driver.finish()
}

/// Parses the first `limit` non-blank data rows of the sheet under a proposed mapping.
pub fn preview_xlsx<R: Read + Seek>(
    input: R,
    options: &XlsxOptions,
    mapping: &Mapping,
    limit: usize,
) -> Result<Preview, ImportError> {
    let mut rows = Vec::new();
    let headers = with_rows(input, options, mapping, |cells, number, m| {
        if rows.len() >= limit {
            return false;
        }
        if let Some(p) = preview_row(cells, m, number) {
            rows.push(p);
        }
        rows.len() < limit
    })?;
    Ok(Preview { headers, rows })
}
