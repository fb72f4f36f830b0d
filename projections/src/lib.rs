//! Read models, built from the event stream.
//!
//! - [`apply`]: applies a batch of events to the read models in one transaction together with
//!   what was applied, so redelivery and replay never double-count.
//! - [`follower`]: the embedded (in-process) projector, which follows the store directly.
//! - [`kafka`]: the scaled-out projector, a Kafka consumer group.
//! - [`queries`]: what the API reads (projects, jobs, dashboard, lag).
//! - [`changes`]: the notification that the read models changed (for readers' caches).
//! - [`parking`]: events that cannot be applied are parked, and the rest goes on.

pub mod apply;
pub mod changes;
pub mod follower;
pub mod kafka;
pub mod parking;
pub mod queries;
pub mod results;
pub mod users;

/// The name under which the read models record what they have applied.
pub const READ_MODELS: &str = "read_models";

/// Why a batch could not be applied. Nothing of a failed batch is kept.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An aggregate's events arrived with a hole in their sequence; applying would corrupt the
    /// read model, so the batch is refused and retried.
    #[error("aggregate {aggregate_id}: expected sequence {expected}, got {got}")]
    SequenceGap {
        aggregate_id: String,
        expected: i64,
        got: i64,
    },
    #[error("event {event_id} cannot be decoded: {reason}")]
    Undecodable {
        event_id: uuid::Uuid,
        reason: String,
    },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("message at {partition}:{offset} is not a Recon event: {reason}")]
    BadMessage {
        partition: i32,
        offset: i64,
        reason: String,
    },
}
