//! Recon's command side and event store.
//!
//! - [`store::CommandStore`] runs commands against cqrs-es aggregates persisted by postgres-es,
//!   and answers with the aggregate's new version and the store position of its last event.
//! - [`reading`] reads committed events in store order without ever skipping one that commits
//!   late (gap-safe), for the relay, the embedded projector and replay.
//! - [`migrations`] applies the SQL in `migrations/` at start-up and by `recon migrate`.

pub mod aggregate_cache;
pub mod metadata;
pub mod migrations;
pub mod reading;
pub mod repository;
pub mod store;

pub use metadata::CommandMetadata;
pub use reading::{StoreCheckpoint, StoredEvent};
pub use store::{CommandError, CommandStore, Committed};
