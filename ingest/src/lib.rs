//! Data-source uploads.
//!
//! - [`file_store::FileStore`]: raw files kept content-addressed (by SHA-256), written while the
//!   upload streams in, so a large file is never held in memory.
//! - [`settings::ImportSettings`]: a source's format and column mapping, validated with paths.
//! - [`import::import_file`]: parses a stored file and adds its records to the record store in
//!   one transaction, skipping records the source already has (same fingerprint).

pub mod file_store;
pub mod import;
pub mod settings;

pub use file_store::{FileStore, StoredFile};
pub use import::{import_file, ImportFailure, ImportSummary};
pub use settings::{Format, ImportSettings};
