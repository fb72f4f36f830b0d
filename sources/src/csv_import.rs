//! Delimited text files (CSV, TSV, semicolon-separated, …), streamed record by record.
//!
//! Encodings: a byte-order mark always wins (UTF-8, UTF-16 LE, UTF-16 BE). Without one the file
//! is read as `options.encoding`: UTF-8 when unset, or any WHATWG encoding label such as
//! `"windows-1252"`, `"latin1"`/`"iso-8859-1"` (both mean windows-1252 under WHATWG, which agrees
//! with ISO-8859-1 on every printable character), `"iso-8859-15"`, `"utf-16le"`, `"utf-16be"`.
//! Decoding happens on the fly in a small buffer: the file is never held in memory, raw or
//! decoded. UTF-8 input is passed through unchanged and checked per row, so invalid bytes are
//! reported as a row error (with a hint to set the encoding) instead of being silently replaced.

use std::io::{self, Read};

use encoding_rs::Encoding;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{ImportError, MappingError};
use crate::mapping::Mapping;
use crate::report::{Driver, ImportReport, ImportedRecord, OnError, Preview, ReadRecord, RowError};
use crate::tabular::{convert_row, preview_row, Cell, RowOutcome};

/// How to read a delimited text file. JSON:
/// `{"delimiter": ";", "quote": "\"", "has_header": true, "encoding": "windows-1252", "skip_rows": 0}`
/// (all keys optional; defaults as shown except `delimiter` `","` and `encoding` unset = UTF-8).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The input as the CSV reader gets it: UTF-8 bytes.
///
/// The first bytes decide, as the module documentation promises: a UTF-8 byte-order mark is
/// skipped and the rest passes straight through; a UTF-16 mark brings in the transcoder for that
/// encoding; without a mark the configured encoding applies. UTF-8 (configured or not) is never
/// transcoded, so invalid bytes reach the row check and are reported instead of replaced.
enum Utf8Input<R> {
    /// Not read yet: the input and the configured encoding.
    Unread(Option<(R, Option<&'static Encoding>)>),
    Plain(io::Chain<Head, R>),
    Decoded(DecodeReaderBytes<io::Chain<Head, R>, Vec<u8>>),
}

impl<R: Read> Utf8Input<R> {
    fn new(input: R, encoding: Option<&'static Encoding>) -> Self {
        Utf8Input::Unread(Some((input, encoding)))
    }
}

/// The transcoder: `encoding` without a byte-order mark, the mark's encoding with one.
fn decoder<R: Read>(
    encoding: Option<&'static Encoding>,
    input: R,
) -> DecodeReaderBytes<R, Vec<u8>> {
    DecodeReaderBytesBuilder::new()
        .encoding(encoding)
        .bom_override(true)
        .utf8_passthru(true)
        .strip_bom(true)
        .build(input)
}

impl<R: Read> Read for Utf8Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Utf8Input::Unread(unread) = self {
            let Some((mut input, encoding)) = unread.take() else {
                // Only after a failed first read, which ended the import.
                return Ok(0);
            };
            let mut head = Head::default();
            head.fill(&mut input)?;
            *self = match head.rest() {
                [0xEF, 0xBB, 0xBF] => {
                    head.start = head.len;
                    Utf8Input::Plain(head.chain(input))
                }
                [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => {
                    Utf8Input::Decoded(decoder(None, head.chain(input)))
                }
                _ => match encoding {
                    Some(e) if e != encoding_rs::UTF_8 => {
                        Utf8Input::Decoded(decoder(Some(e), head.chain(input)))
                    }
                    _ => Utf8Input::Plain(head.chain(input)),
                },
            };
        }
        match self {
            Utf8Input::Unread(_) => Ok(0),
            Utf8Input::Plain(r) => r.read(buf),
            Utf8Input::Decoded(r) => r.read(buf),
        }
    }
}

/// The first (up to) three bytes of the input, read to look for a byte-order mark and then
/// handed on.
#[derive(Default)]
struct Head {
    bytes: [u8; 3],
    start: usize,
    len: usize,
}

impl Head {
    /// Reads three bytes, fewer only at the end of the input.
    fn fill(&mut self, input: &mut impl Read) -> io::Result<()> {
        while self.len < self.bytes.len() {
            match input.read(&mut self.bytes[self.len..]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The bytes not handed on yet.
    fn rest(&self) -> &[u8] {
        &self.bytes[self.start..self.len]
    }
}

impl Read for Head {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest().len().min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// A streaming reader of a delimited file's rows, with the header already read.
struct CsvRows<R: Read> {
    reader: csv::Reader<Utf8Input<R>>,
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
        let reader = csv::ReaderBuilder::new()
            // Fewer, larger reads than the default 8 KiB.
            .buffer_capacity(64 * 1024)
            .has_headers(false)
            .flexible(true)
            .delimiter(options.delimiter as u8)
            .quote(options.quote as u8)
            .from_reader(Utf8Input::new(input, options.encoding()));
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

    /// The current row as cells (into `cells`, emptied first), or a row error when it is not
    /// valid UTF-8.
    fn cells<'a>(&'a self, cells: &mut Vec<Cell<'a>>) -> Result<(), RowError> {
        cells.clear();
        // One validation of the whole row instead of one per field; a field is then valid unless
        // a character straddles its boundary, which slicing the row at its bounds detects.
        if let Ok(line) = std::str::from_utf8(self.record.as_slice()) {
            let mut start = 0;
            for field in self.record.iter() {
                let end = start + field.len();
                match line.get(start..end) {
                    Some(s) => cells.push(Cell::Text(s)),
                    None => return Err(self.not_utf8(cells.len())),
                }
                start = end;
            }
            return Ok(());
        }
        for (i, field) in self.record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) => cells.push(Cell::Text(s)),
                Err(_) => return Err(self.not_utf8(i)),
            }
        }
        Ok(())
    }

    fn not_utf8(&self, field: usize) -> RowError {
        let column = match &self.headers {
            Some(h) => h.get(field).cloned(),
            None => Some(crate::mapping::column_letter(field)),
        };
        RowError::new(
            self.row,
            column,
            "the text is not valid UTF-8: set csv.encoding (e.g. \"windows-1252\")",
        )
    }
}

/// Hands an emptied cells buffer on to the next row: the same allocation under a new lifetime.
fn recycle<'b>(mut cells: Vec<Cell<'_>>) -> Vec<Cell<'b>> {
    cells.clear();
    // Nothing is left to map; collecting an emptied vector into one of a type with the same
    // layout reuses its allocation (std's in-place collection).
    cells.into_iter().map(|_| Cell::Empty).collect()
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
    mut sink: F,
) -> Result<ImportReport, ImportError> {
    read_csv(input, options, mapping, policy, |r| sink(r.fingerprinted()))
}

/// [`import_csv`] without the fingerprints: every row becomes a [`ReadRecord`] (record and row
/// number; [`ReadRecord::fingerprinted`] adds the fingerprint). For callers that do not need
/// fingerprints, hashing being most of an import's work. Same errors and report.
pub fn read_csv<R: Read, F: FnMut(ReadRecord)>(
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
    let mut buffer = Vec::new();
    while rows.advance()? {
        let mut cells = recycle(buffer);
        match rows.cells(&mut cells) {
            Ok(()) => match convert_row(&cells, &resolved, rows.row) {
                RowOutcome::Blank => driver.blank(),
                RowOutcome::Record(r) => driver.ok(r),
                RowOutcome::Bad(errors) => driver.bad(errors),
            },
            Err(e) => driver.bad(vec![e]),
        }
        buffer = recycle(cells);
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
    let mut buffer = Vec::new();
    while out.len() < limit && rows.advance()? {
        let mut cells = recycle(buffer);
        match rows.cells(&mut cells) {
            Ok(()) => {
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
        buffer = recycle(cells);
    }
    Ok(Preview {
        headers: rows.headers,
        rows: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `step` bytes a read, to exercise the peeking with short reads.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn read_all(mut r: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    proptest! {
        /// Sniffing gives the bytes the transcoder gives with the encoding the module documents:
        /// a UTF-8 mark wins over a configured encoding, and UTF-8 (configured or not) passes
        /// through unchanged. BOMs of every kind, short inputs, invalid UTF-8, short reads.
        #[test]
        fn input_bytes_equal_the_transcoders(
            bom in prop_oneof![
                Just(&b""[..]),
                Just(&b"\xEF\xBB\xBF"[..]),
                Just(&b"\xEF\xBB"[..]),
                Just(&b"\xFF\xFE"[..]),
                Just(&b"\xFE\xFF"[..]),
                Just(&b"\xFF"[..]),
            ],
            body in proptest::collection::vec(any::<u8>(), 0..40),
            ascii in "[a-z,;\"\n]{0,20}",
            step in 1usize..5,
            encoding in prop_oneof![
                Just(None),
                Just(Some("utf-8")),
                Just(Some("windows-1252")),
                Just(Some("utf-16le")),
            ],
        ) {
            let mut bytes = bom.to_vec();
            bytes.extend_from_slice(ascii.as_bytes());
            bytes.extend_from_slice(&body);
            let encoding = encoding.and_then(|l| Encoding::for_label(l.as_bytes()));
            for input in [&bytes[..], &bytes[..bytes.len().min(2)], &bytes[..bytes.len().min(3)]] {
                let sniffed = read_all(Utf8Input::new(Trickle { bytes: input, step }, encoding));
                let documented = if encoding == Some(encoding_rs::UTF_8) || input.starts_with(b"\xEF\xBB\xBF") {
                    None
                } else {
                    encoding
                };
                let decoded = read_all(decoder(documented, Trickle { bytes: input, step }));
                prop_assert_eq!(sniffed, decoded);
            }
        }
    }

    #[test]
    fn a_character_split_between_fields_is_not_utf8() {
        // "é" is C3 A9: the row's bytes without the delimiter are valid UTF-8, its fields not.
        let input = b"Date,Payee,Amount\n2024-01-31,a\xC3,\xA9b\n";
        let mapping = Mapping::from_json(
            r#"{"booking_date": "Date", "amount": "Amount", "counterparty": "Payee", "fixed_currency": "EUR"}"#,
        )
        .unwrap();
        let result = read_csv(
            &input[..],
            &CsvOptions::default(),
            &mapping,
            OnError::Skip,
            |_| {},
        )
        .unwrap();
        assert_eq!(result.rows_skipped, 1);
        assert_eq!(result.errors[0].column.as_deref(), Some("Payee"));
        assert!(result.errors[0].message.contains("not valid UTF-8"));
    }

    #[test]
    fn the_cells_buffer_is_reused() {
        let mut cells: Vec<Cell<'static>> = Vec::with_capacity(8);
        cells.push(Cell::Text("x"));
        let ptr = cells.as_ptr() as usize;
        let text = String::from("short-lived");
        let mut borrowed = recycle(cells);
        borrowed.push(Cell::Text(&text));
        let back: Vec<Cell<'static>> = recycle(borrowed);
        assert_eq!(back.as_ptr() as usize, ptr);
        assert!(back.is_empty() && back.capacity() >= 8);
    }
}
