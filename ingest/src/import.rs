//! Importing a stored file into the record store: parse on a blocking thread, stream the records
//! through COPY into a temporary table, then add the ones the source does not have yet — all in
//! one transaction, so a rejected or failed import stores nothing.

use std::fs::File;
use std::io::BufReader;

use domain::data_source::ImportedFile;
use serde::Serialize;
use sources::{ImportError, ImportReport, ImportedRecord, MappingError, OnError, RowError};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::file_store::StoredFile;
use crate::settings::{Format, ImportSettings};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub rows_read: u64,
    pub records_read: u64,
    /// Records new to the source.
    pub records_added: u64,
    /// Records the source already had (the same statement imported again): not added.
    pub duplicates: u64,
    pub rows_skipped: u64,
    pub errors_total: u64,
    /// The first row errors (skipped rows), with row, column and reason.
    pub errors: Vec<RowError>,
}

impl ImportSummary {
    /// The file was imported before: it added nothing and every record it holds was there.
    pub fn already_imported(&self) -> bool {
        self.records_added == 0 && self.duplicates > 0
    }

    /// What the source's `SourceFileImported` event records of this import of `file` (the one
    /// event that makes its records part of the source, see `DataSourceCommand::RecordImport`).
    pub fn imported_file(
        &self,
        file_name: String,
        file: &StoredFile,
        settings: &ImportSettings,
    ) -> ImportedFile {
        ImportedFile {
            file_name,
            sha256: file.sha256.clone(),
            size_bytes: file.size_bytes,
            settings: settings.to_value(),
            rows_read: self.rows_read,
            records_added: self.records_added,
            duplicates: self.duplicates,
            rows_skipped: self.rows_skipped,
            errors_total: self.errors_total,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The mapping does not fit the file (e.g. a mapped column is not in the header).
    #[error("the mapping does not fit the file")]
    Mapping(Vec<MappingError>),
    /// The file is not of the configured format.
    #[error("{0}")]
    Format(String),
    /// Bad rows, and the client asked to reject the file when any row is bad.
    #[error("import rejected: {} bad row(s)", .0.errors_total)]
    Rejected(Box<ImportReport>),
    #[error("reading the stored file failed: {0}")]
    Io(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

const CHUNK: usize = 5_000;

fn parse(
    path: &std::path::Path,
    settings: &ImportSettings,
    policy: OnError,
    tx: mpsc::Sender<Vec<ImportedRecord>>,
) -> Result<ImportReport, ImportError> {
    let mut buffer = Vec::with_capacity(CHUNK);
    let mut sink = |record: ImportedRecord| {
        buffer.push(record);
        if buffer.len() >= CHUNK {
            // A closed channel means the database side failed; the import is lost anyway.
            let _ = tx.blocking_send(std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK)));
        }
    };
    let file = File::open(path)?;
    let report = match settings.format {
        Format::Csv => {
            let mapping = settings.mapping.clone().unwrap_or_default();
            sources::import_csv(
                BufReader::with_capacity(1 << 16, file),
                &settings.csv_options(),
                &mapping,
                policy,
                &mut sink,
            )
        }
        Format::Xlsx => {
            let mapping = settings.mapping.clone().unwrap_or_default();
            let options = settings.xlsx.clone().unwrap_or_default();
            sources::import_xlsx(BufReader::new(file), &options, &mapping, policy, &mut sink)
        }
        Format::Camt053 => sources::import_camt053(BufReader::new(file), policy, &mut sink),
        Format::Mt940 => sources::import_mt940(BufReader::new(file), policy, &mut sink),
    };
    if !buffer.is_empty() {
        let _ = tx.blocking_send(buffer);
    }
    report
}

/// CSV field for COPY: NULL for `None`, otherwise quoted with quotes doubled.
fn field(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        out.push('"');
        for c in v.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    }
}

fn encode(out: &mut String, file_sha256: &str, r: &ImportedRecord) {
    use std::fmt::Write;
    let rec = &r.record;
    field(out, Some(&r.fingerprint));
    out.push(',');
    out.push_str(file_sha256);
    let _ = write!(out, ",{},", r.row);
    field(out, Some(&rec.id));
    let _ = write!(out, ",{},", rec.booking_date);
    if let Some(v) = rec.value_date {
        let _ = write!(out, "{v}");
    }
    let _ = write!(out, ",{},{},", rec.amount, rec.currency);
    field(out, rec.reference.as_deref());
    out.push(',');
    field(out, rec.counterparty.as_deref());
    out.push(',');
    field(out, rec.description.as_deref());
    out.push('\n');
}

/// PostgreSQL refuses text it cannot store (a NUL character, say): that is the file's fault.
fn bad_text(e: sqlx::Error) -> ImportFailure {
    match e.as_database_error().and_then(|d| d.code()).as_deref() {
        Some("22021") | Some("22P05") | Some("22P04") => ImportFailure::Format(format!(
            "the file holds text that cannot be stored (e.g. a NUL character): {e}"
        )),
        _ => ImportFailure::Database(e),
    }
}

/// Imports `file` into source `source_id`. With `OnError::Reject` any bad row rejects the whole
/// file; with `Skip` bad rows are left out and listed.
pub async fn import_file(
    pool: &PgPool,
    source_id: Uuid,
    file: &StoredFile,
    settings: &ImportSettings,
    policy: OnError,
) -> Result<ImportSummary, ImportFailure> {
    let (tx_records, mut rx_records) = mpsc::channel::<Vec<ImportedRecord>>(4);
    let path = file.path.clone();
    let parse_settings = settings.clone();
    let parser =
        tokio::task::spawn_blocking(move || parse(&path, &parse_settings, policy, tx_records));

    let mut tx = pool.begin().await?;
    sqlx::query(
        "CREATE TEMP TABLE incoming_records ON COMMIT DROP AS
         SELECT fingerprint, file_sha256, row_number, record_id, booking_date, value_date, amount, currency,
                reference, counterparty, description
         FROM source_records WITH NO DATA",
    )
        .execute(&mut *tx)
        .await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY incoming_records (fingerprint, file_sha256, row_number, record_id, booking_date, value_date, amount, currency, reference, counterparty, description) FROM STDIN WITH (FORMAT csv)",
        )
        .await?;
    let mut records_read = 0u64;
    let mut text = String::new();
    while let Some(chunk) = rx_records.recv().await {
        text.clear();
        for record in &chunk {
            encode(&mut text, &file.sha256, record);
        }
        records_read += chunk.len() as u64;
        copy.send(text.as_bytes()).await.map_err(bad_text)?;
    }
    copy.finish().await.map_err(bad_text)?;
    let report = match parser.await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            return Err(match e {
                ImportError::Mapping(errors) => ImportFailure::Mapping(errors),
                ImportError::Rejected(report) => ImportFailure::Rejected(report),
                ImportError::Format { format, message } => {
                    ImportFailure::Format(format!("{format}: {message}"))
                }
                ImportError::Io(e) => ImportFailure::Io(e.to_string()),
            })
        }
        Err(e) => return Err(ImportFailure::Io(format!("the parser stopped: {e}"))),
    };
    let added = sqlx::query(
        "INSERT INTO source_records (source_id, fingerprint, file_sha256, row_number, record_id, booking_date, value_date,
                                     amount, currency, reference, counterparty, description)
         SELECT DISTINCT ON (fingerprint) $1, fingerprint, file_sha256, row_number, record_id, booking_date, value_date,
                amount, currency, reference, counterparty, description
         FROM incoming_records ORDER BY fingerprint, row_number
         ON CONFLICT (source_id, fingerprint) DO NOTHING",
    )
    .bind(source_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(ImportSummary {
        rows_read: report.rows_read,
        records_read,
        records_added: added,
        duplicates: records_read - added,
        rows_skipped: report.rows_skipped,
        errors_total: report.errors_total,
        errors: report.errors,
    })
}
