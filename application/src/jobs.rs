//! Job definitions: what crosses aggregates when a job is created or redefined. The rule set is
//! checked against the matching engine, both sources must belong to the job's project, and the
//! project must be active.

use std::convert::Infallible;
use std::sync::Arc;

use commands::store::CreateJobError;
use commands::{CommandError, CommandMetadata, CommandStore, Committed};
use domain::job::{JobCommand, JobDefinition, JobError};
use domain::{ValidationErrors, Version};
use serde_json::Value;
use uuid::Uuid;

/// A job definition as a client gives it.
#[derive(Debug, Clone)]
pub struct JobInput {
    pub name: String,
    pub left_source_id: Uuid,
    pub right_source_id: Uuid,
    pub rule_set: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Create(#[from] CreateJobError),
    #[error(transparent)]
    Command(#[from] CommandError<JobError>),
    #[error("no such job")]
    NoSuchJob,
}

impl From<CommandError<Infallible>> for JobsError {
    fn from(e: CommandError<Infallible>) -> Self {
        JobsError::Command(commands::store::widen(e))
    }
}

pub struct Jobs {
    store: Arc<CommandStore>,
}

impl Jobs {
    pub fn new(store: Arc<CommandStore>) -> Self {
        Self { store }
    }

    /// Checks a definition for a job of `project_id`; every invalid field is reported at once.
    pub async fn define(
        &self,
        project_id: Uuid,
        input: JobInput,
    ) -> Result<JobDefinition, JobsError> {
        let mut errors = ValidationErrors::new();
        if input.rule_set.is_object() {
            if let Err(e) = matching::RuleSet::from_json_value(&input.rule_set) {
                for f in e.errors {
                    let path = if f.path.is_empty() {
                        "rule_set".to_string()
                    } else {
                        format!("rule_set.{}", f.path)
                    };
                    errors.add(path, f.message);
                }
            }
        }
        for (path, id) in [
            ("left_source_id", input.left_source_id),
            ("right_source_id", input.right_source_id),
        ] {
            let source = self.store.load_data_source(id).await?;
            if source.project_id != Some(project_id) {
                errors.add(path, format!("no data source {id} in this project"));
            }
        }
        // The definition's own field errors first, then the engine's and the sources'.
        let definition = JobDefinition::parse(
            &input.name,
            input.left_source_id,
            input.right_source_id,
            input.rule_set,
        );
        match definition {
            Ok(definition) if errors.errors.is_empty() => Ok(definition),
            Ok(_) => Err(JobsError::Invalid(errors)),
            Err(mut own) => {
                own.errors.extend(errors.errors);
                Err(JobsError::Invalid(own))
            }
        }
    }

    /// Creates a job in an active project (checked first, so an unknown project is "not found"
    /// whatever the definition).
    pub async fn create(
        &self,
        project_id: Uuid,
        input: JobInput,
        metadata: &CommandMetadata,
    ) -> Result<Committed, JobsError> {
        self.store.active_project(project_id).await?;
        let definition = self.define(project_id, input).await?;
        let job_id = Uuid::now_v7();
        let command = JobCommand::Create {
            job_id,
            project_id,
            definition,
        };
        Ok(self.store.job(job_id, command, metadata).await?)
    }

    /// Replaces a job's definition (PUT), checked against the job's own project.
    pub async fn redefine(
        &self,
        job_id: Uuid,
        input: JobInput,
        expected_version: Option<Version>,
        metadata: &CommandMetadata,
    ) -> Result<Committed, JobsError> {
        let job = self.store.load_job(job_id).await?;
        let project_id = job.project_id.ok_or(JobsError::NoSuchJob)?;
        let definition = self.define(project_id, input).await?;
        let command = JobCommand::Update {
            expected_version,
            definition,
        };
        Ok(self.store.job(job_id, command, metadata).await?)
    }
}
