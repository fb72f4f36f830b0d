//! The application layer: each use case takes an authenticated actor, checks what crosses
//! aggregates, and runs commands through [`commands::CommandStore`]. The API's handlers parse,
//! call and map to HTTP; the CLI and tests call the same functions.
//!
//! - [`identity`]: users, passwords, sign-in, access and refresh tokens.
//! - [`access`]: who the caller is (from an access token) and whether they may touch a project.
//! - [`jobs`]: job definitions checked across aggregates (sources of the job's project, an
//!   active project, a rule set the engine accepts).
//! - [`sources`]: data sources in active projects, and the upload workflow.

pub mod access;
pub mod identity;
pub mod jobs;
pub mod sources;

pub use access::{AccessError, Caller, Gatekeeper};
pub use identity::Identity;
