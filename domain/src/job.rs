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
    Delete {
        expected_version: Option<Version>,
    },
    Start {
        expected_version: Option<Version>,
    },
    /// Runs a failed or cancelled job again (a new run).
    Retry {
        expected_version: Option<Version>,
    },
    Cancel {
        expected_version: Option<Version>,
        reason: Option<String>,
    },
    /// Issued by the worker running `run`, throttled.
    ReportProgress {
        run: u32,
        progress: JobProgress,
    },
    /// Issued by the worker that ran `run`.
    Complete {
        run: u32,
        outcome: JobOutcome,
    },
    /// Issued by the worker that ran `run`.
    Fail {
        run: u32,
        reason: String,
    },
}

/// How far a run has got.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    /// `loading`, `matching`, `storing`.
    pub phase: String,
    pub done: u64,
    pub total: u64,
}

/// Matched and unmatched values of one currency, as exact decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CurrencyValues {
    pub currency: String,
    pub matched_left: rust_decimal::Decimal,
    pub matched_right: rust_decimal::Decimal,
    pub unmatched_left: rust_decimal::Decimal,
    pub unmatched_right: rust_decimal::Decimal,
}

/// What a run was computed from and what it produced, so an auditor can check it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunManifest {
    pub rule_set_version: u32,
    /// SHA-256 of the rule set's canonical JSON.
    pub rule_set_sha256: String,
    /// SHA-256 of every file imported into each source at the time of the run.
    pub left_files: Vec<String>,
    pub right_files: Vec<String>,
    pub left_records: u64,
    pub right_records: u64,
    /// SHA-256 over the stored results in their canonical order.
    pub results_sha256: String,
}

/// Everything a completed run reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobOutcome {
    pub counts: JobCounts,
    pub values: Vec<CurrencyValues>,
    pub manifest: RunManifest,
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
    JobRetried {},
    JobProgressed {
        run: u32,
        progress: JobProgress,
    },
    JobCancelled {
        reason: Option<String>,
    },
    JobCompleted {
        counts: JobCounts,
        /// Added after version 1 shipped without it; absent in older events.
        #[serde(default)]
        run: u32,
        #[serde(default)]
        values: Vec<CurrencyValues>,
        #[serde(default)]
        manifest: Option<RunManifest>,
        /// The definition revision the run used (see [`Job::revision`]); 0 in events written
        /// before revisions were recorded.
        #[serde(default)]
        revision: u32,
    },
    JobFailed {
        reason: String,
        #[serde(default)]
        run: u32,
    },
}

impl DomainEvent for JobEvent {
    fn event_type(&self) -> String {
        match self {
            JobEvent::JobCreated { .. } => "JobCreated",
            JobEvent::JobUpdated { .. } => "JobUpdated",
            JobEvent::JobDeleted { .. } => "JobDeleted",
            JobEvent::JobStarted { .. } => "JobStarted",
            JobEvent::JobRetried { .. } => "JobRetried",
            JobEvent::JobProgressed { .. } => "JobProgressed",
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
    InvalidTransition {
        action: &'static str,
        status: JobStatus,
    },
    /// The client's `If-Match` version is not the job's current version.
    #[error("version conflict: expected version {expected}, job is at version {actual}")]
    VersionConflict { expected: Version, actual: Version },
    /// A worker reported on a run that is no longer the job's current running run (it was
    /// cancelled, or another worker took over): its report is refused.
    #[error("run {run} is not the job's current run ({current}, {})", .status.as_str())]
    StaleRun {
        run: u32,
        current: u32,
        status: JobStatus,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub definition: Option<JobDefinition>,
    pub status: JobStatus,
    pub counts: Option<JobCounts>,
    pub failure_reason: Option<String>,
    /// Runs started so far (start and retries); the current run's number.
    #[serde(default)]
    pub run: u32,
    #[serde(default)]
    pub progress: Option<JobProgress>,
    /// The definition's revision: 1 when created, one more with each update. A run uses the
    /// revision current when it started (updates are refused while running).
    #[serde(default)]
    pub revision: u32,
    pub version: Version,
}

impl Job {
    fn check_run(&self, run: u32) -> Result<(), JobError> {
        self.check_exists(None)?;
        if self.status != JobStatus::Running || run != self.run {
            return Err(JobError::StaleRun {
                run,
                current: self.run,
                status: self.status,
            });
        }
        Ok(())
    }

    /// Refuses commands to absent or deleted jobs and stale `If-Match` versions.
    fn check_exists(&self, expected: Option<Version>) -> Result<(), JobError> {
        match self.status {
            JobStatus::Absent => return Err(JobError::NotFound),
            JobStatus::Deleted => return Err(JobError::Deleted),
            _ => {}
        }
        crate::check_expected_version(expected, self.version).map_err(|v| {
            JobError::VersionConflict {
                expected: v.expected,
                actual: v.actual,
            }
        })
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
            JobCommand::Retry { expected_version } => {
                self.check_exists(expected_version)?;
                if !matches!(self.status, Failed | Cancelled) {
                    return Err(self.refuse("retry"));
                }
                Ok(vec![JobEvent::JobRetried {}])
            }
            JobCommand::ReportProgress { run, progress } => {
                self.check_run(run)?;
                Ok(vec![JobEvent::JobProgressed { run, progress }])
            }
            JobCommand::Complete { run, outcome } => {
                self.check_run(run)?;
                Ok(vec![JobEvent::JobCompleted {
                    counts: outcome.counts,
                    run,
                    values: outcome.values,
                    manifest: Some(outcome.manifest),
                    revision: self.revision,
                }])
            }
            JobCommand::Fail { run, reason } => {
                self.check_run(run)?;
                Ok(vec![JobEvent::JobFailed { reason, run }])
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
                self.revision = 1;
            }
            JobEvent::JobUpdated { definition } => {
                self.definition = Some(definition);
                self.revision += 1;
                // A finished run's results belong to the old definition: the job needs a new
                // run, and shows no results until it has one.
                if matches!(
                    self.status,
                    JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
                ) {
                    self.status = JobStatus::Created;
                    self.counts = None;
                    self.failure_reason = None;
                    self.progress = None;
                }
            }
            JobEvent::JobDeleted {} => self.status = JobStatus::Deleted,
            JobEvent::JobStarted {} | JobEvent::JobRetried {} => {
                self.status = JobStatus::Running;
                self.run += 1;
                self.counts = None;
                self.failure_reason = None;
                self.progress = None;
            }
            JobEvent::JobProgressed { progress, .. } => self.progress = Some(progress),
            JobEvent::JobCancelled { .. } => self.status = JobStatus::Cancelled,
            JobEvent::JobCompleted { counts, .. } => {
                self.status = JobStatus::Completed;
                self.counts = Some(counts);
            }
            JobEvent::JobFailed { reason, .. } => {
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
        JobDefinition::parse(
            name,
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            json!({"passes": []}),
        )
        .unwrap()
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
        let err = JobDefinition::parse(" ", Uuid::from_u128(1), Uuid::from_u128(1), json!([]))
            .unwrap_err();
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
            .when(JobCommand::Start {
                expected_version: None,
            })
            .then_expect_error(JobError::NotFound);
    }

    #[test]
    fn update_replaces_the_definition_unless_running() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Update {
                expected_version: Some(1),
                definition: definition("weekly"),
            })
            .then_expect_events(vec![JobEvent::JobUpdated {
                definition: definition("weekly"),
            }]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Update {
                expected_version: None,
                definition: definition("weekly"),
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "update",
                status: JobStatus::Running,
            });
    }

    #[test]
    fn update_with_the_same_definition_emits_nothing() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Update {
                expected_version: None,
                definition: definition("nightly"),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn stale_if_match_version_conflicts() {
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Cancel {
                expected_version: Some(1),
                reason: None,
            })
            .then_expect_error(JobError::VersionConflict {
                expected: 1,
                actual: 2,
            });
    }

    #[test]
    fn delete_is_an_event_and_deleted_jobs_refuse_everything() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Delete {
                expected_version: None,
            })
            .then_expect_events(vec![JobEvent::JobDeleted {}]);
        for command in [
            JobCommand::Start {
                expected_version: None,
            },
            JobCommand::Delete {
                expected_version: None,
            },
            JobCommand::Update {
                expected_version: None,
                definition: definition("x"),
            },
            JobCommand::Cancel {
                expected_version: None,
                reason: None,
            },
            JobCommand::Fail {
                run: 1,
                reason: "x".into(),
            },
            JobCommand::Retry {
                expected_version: None,
            },
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
            .when(JobCommand::Delete {
                expected_version: None,
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "delete",
                status: JobStatus::Running,
            });
    }

    #[test]
    fn start_only_from_created() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Start {
                expected_version: Some(1),
            })
            .then_expect_events(vec![started()]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Start {
                expected_version: None,
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "start",
                status: JobStatus::Running,
            });
        Given::with(())
            .given(vec![created(), started(), completed(0)])
            .when(JobCommand::Start {
                expected_version: None,
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "start",
                status: JobStatus::Completed,
            });
    }

    #[test]
    fn cancel_from_created_or_running_only() {
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Cancel {
                expected_version: None,
                reason: Some("wrong files".into()),
            })
            .then_expect_events(vec![JobEvent::JobCancelled {
                reason: Some("wrong files".into()),
            }]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Cancel {
                expected_version: None,
                reason: None,
            })
            .then_expect_events(vec![JobEvent::JobCancelled { reason: None }]);
        Given::with(())
            .given(vec![
                created(),
                started(),
                JobEvent::JobFailed {
                    reason: "x".into(),
                    run: 1,
                },
            ])
            .when(JobCommand::Cancel {
                expected_version: None,
                reason: None,
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "cancel",
                status: JobStatus::Failed,
            });
    }

    fn outcome(matched: u64) -> JobOutcome {
        JobOutcome {
            counts: JobCounts {
                matched,
                unmatched_left: 1,
                unmatched_right: 2,
                suggestions: 0,
            },
            ..Default::default()
        }
    }

    fn completed(matched: u64) -> JobEvent {
        JobEvent::JobCompleted {
            counts: outcome(matched).counts,
            run: 1,
            values: vec![],
            manifest: Some(RunManifest::default()),
            revision: 1,
        }
    }

    #[test]
    fn complete_and_fail_only_while_running_and_only_for_the_current_run() {
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Complete {
                run: 1,
                outcome: outcome(5),
            })
            .then_expect_events(vec![completed(5)]);
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::Fail {
                run: 1,
                reason: "source missing".into(),
            })
            .then_expect_events(vec![JobEvent::JobFailed {
                reason: "source missing".into(),
                run: 1,
            }]);
        Given::with(())
            .given(vec![created()])
            .when(JobCommand::Complete {
                run: 0,
                outcome: outcome(5),
            })
            .then_expect_error(JobError::StaleRun {
                run: 0,
                current: 0,
                status: JobStatus::Created,
            });
        // A worker of run 1 reporting after the job was cancelled and retried (run 2).
        Given::with(())
            .given(vec![
                created(),
                started(),
                JobEvent::JobCancelled { reason: None },
                JobEvent::JobRetried {},
            ])
            .when(JobCommand::Complete {
                run: 1,
                outcome: outcome(5),
            })
            .then_expect_error(JobError::StaleRun {
                run: 1,
                current: 2,
                status: JobStatus::Running,
            });
        Given::with(())
            .given(vec![
                created(),
                started(),
                JobEvent::JobCancelled { reason: None },
            ])
            .when(JobCommand::Fail {
                run: 1,
                reason: "x".into(),
            })
            .then_expect_error(JobError::StaleRun {
                run: 1,
                current: 1,
                status: JobStatus::Cancelled,
            });
    }

    #[test]
    fn progress_is_recorded_for_the_current_run_only() {
        let progress = JobProgress {
            phase: "matching".into(),
            done: 10,
            total: 100,
        };
        Given::with(())
            .given(vec![created(), started()])
            .when(JobCommand::ReportProgress {
                run: 1,
                progress: progress.clone(),
            })
            .then_expect_events(vec![JobEvent::JobProgressed {
                run: 1,
                progress: progress.clone(),
            }]);
        Given::with(())
            .given(vec![created(), started(), completed(1)])
            .when(JobCommand::ReportProgress { run: 1, progress })
            .then_expect_error(JobError::StaleRun {
                run: 1,
                current: 1,
                status: JobStatus::Completed,
            });
    }

    #[test]
    fn failed_or_cancelled_jobs_can_be_retried_as_a_new_run() {
        for ended in [
            JobEvent::JobFailed {
                reason: "x".into(),
                run: 1,
            },
            JobEvent::JobCancelled { reason: None },
        ] {
            Given::with(())
                .given(vec![created(), started(), ended])
                .when(JobCommand::Retry {
                    expected_version: None,
                })
                .then_expect_events(vec![JobEvent::JobRetried {}]);
        }
        Given::with(())
            .given(vec![created(), started(), completed(1)])
            .when(JobCommand::Retry {
                expected_version: None,
            })
            .then_expect_error(JobError::InvalidTransition {
                action: "retry",
                status: JobStatus::Completed,
            });
        let mut job = Job::default();
        for e in [
            created(),
            started(),
            JobEvent::JobFailed {
                reason: "x".into(),
                run: 1,
            },
            JobEvent::JobRetried {},
        ] {
            job.apply(e);
        }
        assert_eq!((job.run, job.status), (2, JobStatus::Running));
    }

    /// Issue 12: a PUT on a completed job kept it completed, serving the old rule set's
    /// results. A redefinition after a finished run needs a new run.
    #[test]
    fn redefining_a_finished_job_needs_a_new_run_and_results_name_their_revision() {
        let changed = definition("renamed");
        for finished in [
            completed(3),
            JobEvent::JobFailed {
                reason: "x".into(),
                run: 1,
            },
            JobEvent::JobCancelled { reason: None },
        ] {
            let mut job = Job::default();
            for e in [created(), started(), finished.clone()] {
                job.apply(e);
            }
            let events = job
                .decide(JobCommand::Update {
                    expected_version: None,
                    definition: changed.clone(),
                })
                .unwrap();
            assert_eq!(
                events,
                vec![JobEvent::JobUpdated {
                    definition: changed.clone()
                }]
            );
            for e in events {
                job.apply(e);
            }
            assert_eq!(
                (job.status, job.revision, job.counts),
                (JobStatus::Created, 2, None),
                "after {finished:?}"
            );
            let rerun = job
                .decide(JobCommand::Start {
                    expected_version: None,
                })
                .unwrap();
            assert_eq!(rerun, vec![JobEvent::JobStarted {}]);
            for e in rerun {
                job.apply(e);
            }
            let done = job
                .decide(JobCommand::Complete {
                    run: 2,
                    outcome: outcome(5),
                })
                .unwrap();
            assert!(
                matches!(
                    done[..],
                    [JobEvent::JobCompleted {
                        revision: 2,
                        run: 2,
                        ..
                    }]
                ),
                "{done:?}"
            );
        }
    }

    #[test]
    fn a_version_1_completion_without_run_or_manifest_still_reads() {
        let old = serde_json::json!({"JobCompleted": {"counts": {"matched": 1, "unmatched_left": 0, "unmatched_right": 0, "suggestions": 0}}});
        let event: JobEvent = serde_json::from_value(old).unwrap();
        assert!(matches!(
            event,
            JobEvent::JobCompleted {
                run: 0,
                manifest: None,
                revision: 0,
                ..
            }
        ));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in JobStatus::ALL_EXISTING {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("absent"), None);
    }
}
