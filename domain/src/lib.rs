//! Recon's domain: the aggregates (projects, reconciliation jobs), their commands, events and
//! invariants, and the value types they are built from. Pure: no I/O, no clocks, no randomness.
//!
//! Every business rule is a function of (state, command) → events | error and is tested in
//! given(events) / when(command) / then(events | error) form, without a database.

pub mod access;
pub mod data_source;
pub mod job;
pub mod money;
pub mod project;
pub mod records;
pub mod upcasting;
pub mod user;
pub mod validation;

pub use data_source::{DataSource, DataSourceCommand, DataSourceError, DataSourceEvent};
pub use job::{Job, JobCommand, JobCounts, JobError, JobEvent, JobStatus};
pub use money::{Currency, Money};
pub use project::{Project, ProjectCommand, ProjectError, ProjectEvent, ProjectStatus};
pub use user::{Email, Role, User, UserCommand, UserError, UserEvent, UserStatus};
pub use validation::{FieldError, ValidationErrors};

/// The version every event type is written with today. Bump it for an event whose shape changes
/// and register an upcaster in [`upcasting`] that turns the old shape into the new one.
pub const CURRENT_EVENT_VERSION: &str = "1";

/// Version an aggregate has reached: the number of events applied to it (0 = never created).
pub type Version = u64;

/// A version mismatch: the client's `If-Match` (`expected`) is not the aggregate's `actual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleVersion {
    pub expected: Version,
    pub actual: Version,
}

/// Checks a client's `If-Match` version (none: no check) against the aggregate's version.
pub fn check_expected_version(
    expected: Option<Version>,
    actual: Version,
) -> Result<(), StaleVersion> {
    match expected {
        Some(expected) if expected != actual => Err(StaleVersion { expected, actual }),
        _ => Ok(()),
    }
}
