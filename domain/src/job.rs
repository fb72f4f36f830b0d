//! The reconciliation Job aggregate: what to reconcile (two data sources under a rule set) and
//! where the run stands (created → running → completed | failed | cancelled; deleted at any
//! point it is not running).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::validation::{Name, ValidationErrors};
use crate::{Version, CURRENT_EVENT_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// No `JobCreated` event yet.
    #[default]
    Absent,
    Created,
    Running,
    Completed,
    Failed,
    Cancelled,
    Deleted,
}

impl JobStatus {
    pub const ALL_EXISTING: [JobStatus; 6] = [
        JobStatus::Created,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Absent => "absent",
            JobStatus::Created => "created",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL_EXISTING.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What a job reconciles. Validated as a whole by [`JobDefinition::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDefinition {
    pub name: Name,
    pub left_source_id: Uuid,
    pub right_source_id: Uuid,
    /// The matching rule set: an opaque JSON object for now (the matching engine defines it).
    pub rule_set: Value,
}

impl JobDefinition {
    /// Builds a definition, reporting every invalid field with its path.
    pub fn parse(
        name: &str,
        left_source_id: Uuid,
        right_source_id: Uuid,
        rule_set: Value,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", Name::parse(name));
        if left_source_id == right_source_id {
            errors.add("right_source_id", "must differ from left_source_id");
        }
        if !rule_set.is_object() {
            errors.add("rule_set", "must be a JSON object");
        }
        errors.into_result()?;
        Ok(Self {
            // `errors` was empty, so `name` parsed.
            name: name.ok_or_else(ValidationErrors::new)?,
            left_source_id,
            right_source_id,
            rule_set,
        })
    }
}

/// Outcome counts of a completed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobCounts {
    pub matched: u64,
    pub unmatched_left: u64,
    pub unmatched_right: u64,
    pub suggestions: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobCommand {
    Create {
        job_id: Uuid,
        project_id: Uuid,
        definition: JobDefinition,
    },
    /// Replaces the definition (PUT semantics); refused while running.
    Update {
        expected_version: Option<Version>,
        definition: JobDefinition,
    },
    /// Marks the job deleted (an event; nothing is removed). Refused while running.
    Delete { expected_version: Option<Version> },
    Start { expected_version: Option<Version> },
    Cancel {
        expected_version: Option<Version>,
        reason: Option<String>,
    },
    /// Issued by the worker that ran the job.
    Complete { counts: JobCounts },
    /// Issued by the worker that ran the job.
    Fail { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvent {
    JobCreated {
        job_id: Uuid,
        project_id: Uuid,
        definition: JobDefinition,
    },
    JobUpdated {
        definition: JobDefinition,
    },
    JobDeleted {},
    JobStarted {},
    JobCancelled {
        reason: Option<String>,
    },
    JobCompleted {
        counts: JobCounts,
    },
    JobFailed {
        reason: String,
    },
}

impl DomainEvent for JobEvent {
    fn event_type(&self) -> String {
        match self {
            JobEvent::JobCreated { .. } => "JobCreated",
            JobEvent::JobUpdated { .. } => "JobUpdated",
            JobEvent::JobDeleted { .. } => "JobDeleted",
            JobEvent::JobStarted { .. } => "JobStarted",
            JobEvent::JobCancelled { .. } => "JobCancelled",
            JobEvent::JobCompleted { .. } => "JobCompleted",
            JobEvent::JobFailed { .. } => "JobFailed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        CURRENT_EVENT_VERSION.to_string()
    }
}

/// Why a job refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// `Create` was sent to a job that already exists.
    #[error("job already exists")]
    AlreadyExists,
    /// A command other than `Create` was sent to a job that was never created.
    #[error("job not found")]
    NotFound,
    /// The job was deleted; it accepts no further commands.
    #[error("job is deleted")]
    Deleted,
    /// The command is not allowed in the job's current status (e.g. update while running,
    /// start when completed).
    #[error("cannot {action} a job that is {}", .status.as_str())]
    InvalidTransition { action: &'static str, status: JobStatus },
    /// The client's `If-Match` version is not the job's current version.
    #[error("version conflict: expected version {expected}, job is at version {actual}")]
    VersionConflict { expected: Version, actual: Version },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub definition: Option<JobDefinition>,
    pub status: JobStatus,
    pub counts: Option<JobCounts>,
    pub failure_reason: Option<String>,
    pub version: Version,
}

impl Job {
    /// Refuses commands to absent or deleted jobs and stale `If-Match` versions.
    fn check_exists(&self, expected: Option<Version>) -> Result<(), JobError> {
        match self.status {
            JobStatus::Absent => return Err(JobError::NotFound),
            JobStatus::Deleted => return Err(JobError::Deleted),
            _ => {}
        }
        match expected {
            Some(expected) if expected != self.version => Err(JobError::VersionConflict {
                expected,
                actual: self.version,
            }),
            _ => Ok(()),
        }
    }

    fn refuse(&self, action: &'static str) -> JobError {
        JobError::InvalidTransition {
            action,
            status: self.status,
        }
    }

    /// The pure decision: which events a command produces in this state.
    pub fn decide(&self, command: JobCommand) -> Result<Vec<JobEvent>, JobError> {
        use JobStatus::*;
        match command {
            JobCommand::Create {
                job_id,
                project_id,
                definition,
            } => {
                if self.status != Absent {
                    return Err(JobError::AlreadyExists);
                }
                Ok(vec![JobEvent::JobCreated {
                    job_id,
                    project_id,
                    definition,
                }])
            }
            JobCommand::Update {
                expected_version,
                definition,
            } => {
                self.check_exists(expected_version)?;
                if self.status == Running {
                    return Err(self.refuse("update"));
                }
                if self.definition.as_ref() == Some(&definition) {
                    return Ok(vec![]);
                }
                Ok(vec![JobEvent::JobUpdated { definition }])
            }
            JobCommand::Delete { expected_version } => {
                self.check_exists(expected_version)?;
                if self.status == Running {
                    return Err(self.refuse("delete"));
                }
                Ok(vec![JobEvent::JobDeleted {}])
            }
            JobCommand::Start { expected_version } => {
                self.check_exists(expected_version)?;
                if self.status != Created {
                    return Err(self.refuse("start"));
                }
                Ok(vec![JobEvent::JobStarted {}])
            }
            JobCommand::Cancel {
                expected_version,
                reason,
            } => {
                self.check_exists(expected_version)?;
                if !matches!(self.status, Created | Running) {
                    return Err(self.refuse("cancel"));
                }
                Ok(vec![JobEvent::JobCancelled { reason }])
            }
            JobCommand::Complete { counts } => {
                self.check_exists(None)?;
                if self.status != Running {
                    return Err(self.refuse("complete"));
                }
                Ok(vec![JobEvent::JobCompleted { counts }])
            }
            JobCommand::Fail { reason } => {
                self.check_exists(None)?;
                if self.status != Running {
                    return Err(self.refuse("fail"));
                }
                Ok(vec![JobEvent::JobFailed { reason }])
            }
        }
    }
}

impl Aggregate for Job {
    const TYPE: &'static str = "job";
    type Command = JobCommand;
    type Event = JobEvent;
    type Error = JobError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _service: &Self::Services,
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
            JobEvent::JobCreated {
                job_id,
                project_id,
                definition,
            } => {
                self.job_id = Some(job_id);
                self.project_id = Some(project_id);
                self.definition = Some(definition);
                self.status = JobStatus::Created;
            }
            JobEvent::JobUpdated { definition } => self.definition = Some(definition),
            JobEvent::JobDeleted {} => self.status = JobStatus::Deleted,
            JobEvent::JobStarted {} => {
                self.status = JobStatus::Running;
                self.counts = None;
                self.failure_reason = None;
            }
            JobEvent::JobCancelled { .. } => self.status = JobStatus::Cancelled,
            JobEvent::JobCompleted { counts } => {
                self.status = JobStatus::Completed;
                self.counts = Some(counts);
            }
            JobEvent::JobFailed { reason } => {
                self.status = JobStatus::Failed;
                self.failure_reason = Some(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use serde_json::json;

    type Given = TestFramework<Job>;

    fn definition(name: &str) -> JobDefinition {
        JobDefinition::parse(name, Uuid::from_u128(1), Uuid::from_u128(2), json!({"passes": []})).unwrap()
    }

    fn created() -> JobEvent {
        JobEvent::JobCreated {
            job_id: Uuid::from_u128(10),
            project_id: Uuid::from_u128(20),
            definition: definition("nightly"),
        }
    }

    fn started() -> JobEvent {
        JobEvent::JobStarted {}
    }

    #[test]
    fn definition_reports_every_invalid_field() {
        let err = JobDefinition::parse(" ", Uuid::from_u128(1), Uuid::from_u128(1), json!([])).unwrap_err();
        let paths: Vec<_> = err.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["name", "right_source_id", "rule_set"]);
    }

    #[test]
    fn create_emits_created_and_twice_is_refused() {
        Given::with(())
            .given_no_previous_events()
            .when(JobCommand::Create {
                job_id: Uuid::from_u128(10),
                project_id: Uuid::from_u128(20),
                definition: definition("nightly"),
            })
            .then_expect_events(vec![created()]);
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Create {
                job_id: Uuid::from_u128(10),
                project_id: Uuid::from_u128(20),
                definition: definition("nightly"),
            })
            .then_expect_error(JobError::AlreadyExists);
    }

    #[test]
    fn commands_to_an_unknown_job_are_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when(JobCommand::Start { expected_version: None })
            .then_expect_error(JobError::NotFound);
    }

    #[test]
    fn update_replaces_the_definition_unless_running() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Update { expected_version: Some(1), definition: definition("weekly") })
            .then_expect_events(vec![JobEvent::JobUpdated { definition: definition("weekly") }]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Update { expected_version: None, definition: definition("weekly") })
            .then_expect_error(JobError::InvalidTransition { action: "update", status: JobStatus::Running });
    }

    #[test]
    fn update_with_the_same_definition_emits_nothing() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Update { expected_version: None, definition: definition("nightly") })
            .then_expect_events(vec![]);
    }

    #[test]
    fn stale_if_match_version_conflicts() {
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Cancel { expected_version: Some(1), reason: None })
            .then_expect_error(JobError::VersionConflict { expected: 1, actual: 2 });
    }

    #[test]
    fn delete_is_an_event_and_deleted_jobs_refuse_everything() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Delete { expected_version: None })
            .then_expect_events(vec![JobEvent::JobDeleted {}]);
        for command in [
            JobCommand::Start { expected_version: None },
            JobCommand::Delete { expected_version: None },
            JobCommand::Update { expected_version: None, definition: definition("x") },
            JobCommand::Cancel { expected_version: None, reason: None },
            JobCommand::Fail { reason: "x".into() },
        ] {
            Given::with(())
                .given(vec![created(), JobEvent::JobDeleted {}])
                .when(command)
                .then_expect_error(JobError::Deleted);
        }
    }

    #[test]
    fn a_running_job_cannot_be_deleted() {
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Delete { expected_version: None })
            .then_expect_error(JobError::InvalidTransition { action: "delete", status: JobStatus::Running });
    }

    #[test]
    fn start_only_from_created() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Start { expected_version: Some(1) })
            .then_expect_events(vec![started()]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Start { expected_version: None })
            .then_expect_error(JobError::InvalidTransition { action: "start", status: JobStatus::Running });
        Given::with(())
            .given(vec![created(), started(), JobEvent::JobCompleted { counts: JobCounts::default() }])
            .when(JobCommand::Start { expected_version: None })
            .then_expect_error(JobError::InvalidTransition { action: "start", status: JobStatus::Completed });
    }

    #[test]
    fn cancel_from_created_or_running_only() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Cancel { expected_version: None, reason: Some("wrong files".into()) })
            .then_expect_events(vec![JobEvent::JobCancelled { reason: Some("wrong files".into()) }]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Cancel { expected_version: None, reason: None })
            .then_expect_events(vec![JobEvent::JobCancelled { reason: None }]);
        Given::with(())
            .given(vec![created(), started(), JobEvent::JobFailed { reason: "x".into() }])
            .when(JobCommand::Cancel { expected_version: None, reason: None })
            .then_expect_error(JobError::InvalidTransition { action: "cancel", status: JobStatus::Failed });
    }

    #[test]
    fn complete_and_fail_only_while_running() {
        let counts = JobCounts { matched: 5, unmatched_left: 1, unmatched_right: 2, suggestions: 0 };
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Complete { counts })
            .then_expect_events(vec![JobEvent::JobCompleted { counts }]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Fail { reason: "source missing".into() })
            .then_expect_events(vec![JobEvent::JobFailed { reason: "source missing".into() }]);
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Complete { counts })
            .then_expect_error(JobError::InvalidTransition { action: "complete", status: JobStatus::Created });
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Fail { reason: "x".into() })
            .then_expect_error(JobError::InvalidTransition { action: "fail", status: JobStatus::Created });
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in JobStatus::ALL_EXISTING {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("absent"), None);
    }
}
