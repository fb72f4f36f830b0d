//! Data sources: creating one in an active project, and the upload workflow (the file into the
//! content-addressed store, its records into the record store, then the `SourceFileImported`
//! event that names it).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use commands::store::CreateJobError;
use commands::{CommandError, CommandMetadata, CommandStore, Committed};
use domain::data_source::{DataSourceCommand, DataSourceError};
use domain::validation::Name;
use futures::Stream;
use ingest::file_store::{ReceiveError, StoredFile};
use ingest::{import_file, FileStore, ImportFailure, ImportSettings, ImportSummary};
use sources::OnError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("no such data source")]
    NoSuchSource,
    /// The project does not exist or is archived.
    #[error(transparent)]
    Project(#[from] CreateJobError),
    #[error("the stored settings are unreadable: {0}")]
    StoredSettings(String),
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    #[error(transparent)]
    Import(#[from] ImportFailure),
    #[error(transparent)]
    Command(#[from] CommandError<DataSourceError>),
}

impl From<CommandError<Infallible>> for SourcesError {
    fn from(e: CommandError<Infallible>) -> Self {
        SourcesError::Command(commands::store::widen(e))
    }
}

/// What an upload did.
pub struct Uploaded {
    pub committed: Committed,
    pub file: StoredFile,
    pub summary: ImportSummary,
}

pub struct Sources {
    store: Arc<CommandStore>,
    files: FileStore,
}

impl Sources {
    pub fn new(store: Arc<CommandStore>, files: FileStore) -> Self {
        Self { store, files }
    }

    /// Creates a data source in an active project.
    pub async fn create(
        &self,
        project_id: Uuid,
        name: Name,
        settings: ImportSettings,
        metadata: &CommandMetadata,
    ) -> Result<Committed, SourcesError> {
        self.store.active_project(project_id).await?;
        let source_id = Uuid::now_v7();
        let command = DataSourceCommand::Create {
            source_id,
            project_id,
            name,
            settings: settings.to_value(),
        };
        Ok(self.store.data_source(source_id, command, metadata).await?)
    }

    /// Receives a file for a source of an active project and imports it with the source's
    /// settings; an archived project takes no more data.
    pub async fn upload<S, E>(
        &self,
        source_id: Uuid,
        file_name: String,
        policy: OnError,
        body: S,
        max_bytes: u64,
        metadata: &CommandMetadata,
    ) -> Result<Uploaded, SourcesError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let source = self.store.load_data_source(source_id).await?;
        let project_id = source.project_id.ok_or(SourcesError::NoSuchSource)?;
        self.store.active_project(project_id).await?;
        let settings = ImportSettings::parse(&source.settings, "settings")
            .map_err(|e| SourcesError::StoredSettings(e.to_string()))?;
        let stored = self.files.receive(body, max_bytes).await?;
        let summary = import_file(self.store.pool(), source_id, &stored, &settings, policy).await?;
        let file = summary.imported_file(file_name, &stored, &settings);
        // The records are committed; the event must follow. A concurrent command on the source
        // is the only conflict possible (RecordImport checks no version), so retrying is safe.
        let mut attempt = 0;
        let committed = loop {
            let command = DataSourceCommand::RecordImport { file: file.clone() };
            match self.store.data_source(source_id, command, metadata).await {
                Err(CommandError::Conflict) if attempt < 5 => attempt += 1,
                other => break other?,
            }
        };
        Ok(Uploaded {
            committed,
            file: stored,
            summary,
        })
    }
}
