//! The DataSource aggregate: one side's records in a project (a bank account's statements, a
//! ledger export). Its import settings (format, column mapping, formats) and every file imported
//! into it are events; the records themselves live in the record store, derived from the kept
//! raw files, deduplicated by fingerprint.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::validation::Name;
use crate::{Version, CURRENT_EVENT_VERSION};

/// A file imported into a source, as recorded for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedFile {
    pub file_name: String,
    /// SHA-256 of the raw bytes; the file is kept under this name.
    pub sha256: String,
    pub size_bytes: u64,
    /// The settings (format, mapping, options) the file was read with.
    pub settings: Value,
    pub rows_read: u64,
    /// Records new to the source.
    pub records_added: u64,
    /// Records the source already had (same fingerprint): not added again.
    pub duplicates: u64,
    /// Bad rows skipped (on_error = skip).
    pub rows_skipped: u64,
    pub errors_total: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DataSourceCommand {
    Create {
        source_id: Uuid,
        project_id: Uuid,
        name: Name,
        /// Validated by the importer before it gets here.
        settings: Value,
    },
    /// Replaces the import settings used by later uploads.
    Configure {
        expected_version: Option<Version>,
        settings: Value,
    },
    RecordImport {
        file: ImportedFile,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSourceEvent {
    DataSourceCreated {
        source_id: Uuid,
        project_id: Uuid,
        name: Name,
        settings: Value,
    },
    DataSourceConfigured {
        settings: Value,
    },
    SourceFileImported {
        file: ImportedFile,
    },
}

impl DomainEvent for DataSourceEvent {
    fn event_type(&self) -> String {
        match self {
            DataSourceEvent::DataSourceCreated { .. } => "DataSourceCreated",
            DataSourceEvent::DataSourceConfigured { .. } => "DataSourceConfigured",
            DataSourceEvent::SourceFileImported { .. } => "SourceFileImported",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        CURRENT_EVENT_VERSION.to_string()
    }
}

/// Why a data source refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataSourceError {
    #[error("data source already exists")]
    AlreadyExists,
    #[error("data source not found")]
    NotFound,
    #[error("version conflict: expected version {expected}, data source is at version {actual}")]
    VersionConflict { expected: Version, actual: Version },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    pub source_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub name: Option<Name>,
    pub settings: Value,
    /// SHA-256 of every file imported, in import order (repeats included).
    pub files: Vec<String>,
    pub records: u64,
    pub version: Version,
}

impl DataSource {
    pub fn exists(&self) -> bool {
        self.source_id.is_some()
    }

    fn check(&self, expected: Option<Version>) -> Result<(), DataSourceError> {
        if !self.exists() {
            return Err(DataSourceError::NotFound);
        }
        crate::check_expected_version(expected, self.version).map_err(|v| {
            DataSourceError::VersionConflict {
                expected: v.expected,
                actual: v.actual,
            }
        })
    }

    pub fn decide(
        &self,
        command: DataSourceCommand,
    ) -> Result<Vec<DataSourceEvent>, DataSourceError> {
        match command {
            DataSourceCommand::Create {
                source_id,
                project_id,
                name,
                settings,
            } => {
                if self.exists() {
                    return Err(DataSourceError::AlreadyExists);
                }
                Ok(vec![DataSourceEvent::DataSourceCreated {
                    source_id,
                    project_id,
                    name,
                    settings,
                }])
            }
            DataSourceCommand::Configure {
                expected_version,
                settings,
            } => {
                self.check(expected_version)?;
                if self.settings == settings {
                    return Ok(vec![]);
                }
                Ok(vec![DataSourceEvent::DataSourceConfigured { settings }])
            }
            DataSourceCommand::RecordImport { file } => {
                self.check(None)?;
                Ok(vec![DataSourceEvent::SourceFileImported { file }])
            }
        }
    }
}

impl Aggregate for DataSource {
    const TYPE: &'static str = "data_source";
    type Command = DataSourceCommand;
    type Event = DataSourceEvent;
    type Error = DataSourceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            DataSourceEvent::DataSourceCreated {
                source_id,
                project_id,
                name,
                settings,
            } => {
                self.source_id = Some(source_id);
                self.project_id = Some(project_id);
                self.name = Some(name);
                self.settings = settings;
            }
            DataSourceEvent::DataSourceConfigured { settings } => self.settings = settings,
            DataSourceEvent::SourceFileImported { file } => {
                self.files.push(file.sha256);
                self.records += file.records_added;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use serde_json::json;

    type Given = TestFramework<DataSource>;

    fn created() -> DataSourceEvent {
        DataSourceEvent::DataSourceCreated {
            source_id: Uuid::from_u128(1),
            project_id: Uuid::from_u128(2),
            name: Name::parse("Bank").unwrap(),
            settings: json!({"format": "camt053"}),
        }
    }

    fn file(added: u64) -> ImportedFile {
        ImportedFile {
            file_name: "stmt.xml".into(),
            sha256: "ab".repeat(32),
            size_bytes: 10,
            settings: json!({"format": "camt053"}),
            rows_read: 3,
            records_added: added,
            duplicates: 3 - added,
            rows_skipped: 0,
            errors_total: 0,
        }
    }

    #[test]
    fn create_then_create_again_is_refused() {
        Given::with(())
            .given_no_previous_events()
            .when(DataSourceCommand::Create {
                source_id: Uuid::from_u128(1),
                project_id: Uuid::from_u128(2),
                name: Name::parse("Bank").unwrap(),
                settings: json!({"format": "camt053"}),
            })
            .then_expect_events(vec![created()]);
        Given::with(())
            .given(vec![created()])
            .when(DataSourceCommand::Create {
                source_id: Uuid::from_u128(1),
                project_id: Uuid::from_u128(2),
                name: Name::parse("Bank").unwrap(),
                settings: json!({}),
            })
            .then_expect_error(DataSourceError::AlreadyExists);
    }

    #[test]
    fn configure_replaces_settings_and_a_stale_version_conflicts() {
        Given::with(())
            .given(vec![created()])
            .when(DataSourceCommand::Configure {
                expected_version: Some(1),
                settings: json!({"format": "mt940"}),
            })
            .then_expect_events(vec![DataSourceEvent::DataSourceConfigured {
                settings: json!({"format": "mt940"}),
            }]);
        Given::with(())
            .given(vec![created()])
            .when(DataSourceCommand::Configure {
                expected_version: None,
                settings: json!({"format": "camt053"}),
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![
                created(),
                DataSourceEvent::SourceFileImported { file: file(3) },
            ])
            .when(DataSourceCommand::Configure {
                expected_version: Some(1),
                settings: json!({}),
            })
            .then_expect_error(DataSourceError::VersionConflict {
                expected: 1,
                actual: 2,
            });
    }

    #[test]
    fn imports_are_recorded_even_when_they_add_nothing() {
        Given::with(())
            .given(vec![
                created(),
                DataSourceEvent::SourceFileImported { file: file(3) },
            ])
            .when(DataSourceCommand::RecordImport { file: file(0) })
            .then_expect_events(vec![DataSourceEvent::SourceFileImported { file: file(0) }]);
        Given::with(())
            .given_no_previous_events()
            .when(DataSourceCommand::RecordImport { file: file(1) })
            .then_expect_error(DataSourceError::NotFound);
        let mut s = DataSource::default();
        for e in [
            created(),
            DataSourceEvent::SourceFileImported { file: file(3) },
            DataSourceEvent::SourceFileImported { file: file(0) },
        ] {
            s.apply(e);
        }
        assert_eq!((s.records, s.files.len()), (3, 2));
    }
}
