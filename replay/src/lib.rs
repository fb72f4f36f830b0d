//! Audit replay: an aggregate's history with its metadata, and its state as of a version or a
//! point in time — folded from the stored events through the same upcasters and `apply` the
//! command side uses, so replay shows exactly what the system decided on.

use chrono::{DateTime, Utc};
use commands::reading::aggregate_history;
use commands::StoredEvent;
use cqrs_es::Aggregate;
use domain::job::Job;
use domain::project::Project;
use domain::upcasting::{decode, upcasters};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

/// Which moment of an aggregate's life to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    /// After the event with this sequence number (version N = the first N events).
    Version(u64),
    /// After every event recorded at or before this time.
    Time(DateTime<Utc>),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("no events for aggregate {0}")]
    NotFound(String),
    #[error("aggregate {id} has {latest} event(s); version {requested} does not exist")]
    NoSuchVersion {
        id: String,
        requested: u64,
        latest: u64,
    },
    #[error("aggregate {id} did not exist at {at}: its first event was recorded at {first}")]
    BeforeCreation {
        id: String,
        at: DateTime<Utc>,
        first: DateTime<Utc>,
    },
    #[error("aggregate type `{0}` is not known to this build")]
    UnknownType(String),
    #[error("event {sequence} cannot be decoded: {reason}")]
    Undecodable { sequence: i64, reason: String },
}

/// The rebuilt state and where in the history it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayedState {
    pub aggregate_id: String,
    pub aggregate_type: String,
    pub version: u64,
    pub last_event_at: DateTime<Utc>,
    pub last_position: i64,
    pub state: Value,
}

/// Every event of the aggregate, oldest first; an error if it has none.
pub async fn history(pool: &PgPool, aggregate_id: &str) -> Result<Vec<StoredEvent>, ReplayError> {
    let events = aggregate_history(pool, aggregate_id).await?;
    if events.is_empty() {
        return Err(ReplayError::NotFound(aggregate_id.to_string()));
    }
    Ok(events)
}

/// The events that make up the aggregate as of `as_of`.
pub fn select(
    aggregate_id: &str,
    events: &[StoredEvent],
    as_of: AsOf,
) -> Result<usize, ReplayError> {
    let latest = events.len() as u64;
    match as_of {
        AsOf::Latest => Ok(events.len()),
        AsOf::Version(v) if v == 0 || v > latest => Err(ReplayError::NoSuchVersion {
            id: aggregate_id.to_string(),
            requested: v,
            latest,
        }),
        AsOf::Version(v) => Ok(v as usize),
        AsOf::Time(at) => {
            let n = events.iter().take_while(|e| e.recorded_at <= at).count();
            if n == 0 {
                return Err(ReplayError::BeforeCreation {
                    id: aggregate_id.to_string(),
                    at,
                    first: events[0].recorded_at,
                });
            }
            Ok(n)
        }
    }
}

fn fold<A: Aggregate>(events: &[StoredEvent]) -> Result<Value, ReplayError> {
    let upcasters = upcasters();
    let mut aggregate = A::default();
    for event in events {
        let decoded = decode::<A>(&upcasters, event.to_serialized()).map_err(|e| {
            ReplayError::Undecodable {
                sequence: event.sequence,
                reason: e.to_string(),
            }
        })?;
        aggregate.apply(decoded);
    }
    serde_json::to_value(&aggregate).map_err(|e| ReplayError::Undecodable {
        sequence: events.last().map_or(0, |e| e.sequence),
        reason: e.to_string(),
    })
}

/// The aggregate's state as of `as_of`.
pub async fn state(
    pool: &PgPool,
    aggregate_id: &str,
    as_of: AsOf,
) -> Result<ReplayedState, ReplayError> {
    let events = history(pool, aggregate_id).await?;
    state_from(aggregate_id, &events, as_of)
}

/// [`state`] over events already loaded.
pub fn state_from(
    aggregate_id: &str,
    events: &[StoredEvent],
    as_of: AsOf,
) -> Result<ReplayedState, ReplayError> {
    let n = select(aggregate_id, events, as_of)?;
    let events = &events[..n];
    let last = &events[n - 1];
    let state = match last.aggregate_type.as_str() {
        "project" => fold::<Project>(events)?,
        "job" => fold::<Job>(events)?,
        "data_source" => fold::<domain::DataSource>(events)?,
        other => return Err(ReplayError::UnknownType(other.to_string())),
    };
    Ok(ReplayedState {
        aggregate_id: aggregate_id.to_string(),
        aggregate_type: last.aggregate_type.clone(),
        version: n as u64,
        last_event_at: last.recorded_at,
        last_position: last.position,
        state,
    })
}

/// One history line for people: sequence, time, type and version, who, and the ids that tie it
/// to a request and a trace, then the payload.
pub fn describe(event: &StoredEvent) -> String {
    let meta = |k| event.meta(k).unwrap_or("-");
    format!(
        "#{seq} {at} {ty} v{ver} position={pos} event_id={id}\n    actor={actor} request_id={req} correlation_id={corr} causation_id={cause} trace_id={trace}\n    {payload}",
        seq = event.sequence,
        at = event.recorded_at.to_rfc3339(),
        ty = event.event_type,
        ver = event.event_version,
        pos = event.position,
        id = event.event_id,
        actor = meta("actor"),
        req = meta("request_id"),
        corr = meta("correlation_id"),
        cause = meta("causation_id"),
        trace = meta("trace_id"),
        payload = event.payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use uuid::Uuid;

    fn event(sequence: i64, minute: u32, payload: Value, event_type: &str) -> StoredEvent {
        StoredEvent {
            position: sequence * 10,
            transaction_id: sequence,
            event_id: Uuid::from_u128(sequence as u128),
            aggregate_type: "project".into(),
            aggregate_id: "p".into(),
            sequence,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload,
            metadata: json!({"actor": "alice"}),
            recorded_at: Utc.with_ymd_and_hms(2026, 1, 1, 12, minute, 0).unwrap(),
        }
    }

    fn events() -> Vec<StoredEvent> {
        vec![
            event(
                1,
                0,
                json!({"ProjectCreated": {"project_id": Uuid::from_u128(1), "name": "First", "description": "", "base_currency": "EUR"}}),
                "ProjectCreated",
            ),
            event(
                2,
                5,
                json!({"ProjectUpdated": {"name": "Second", "description": "d"}}),
                "ProjectUpdated",
            ),
            event(3, 10, json!({"ProjectArchived": {}}), "ProjectArchived"),
        ]
    }

    #[test]
    fn state_at_a_version_folds_only_that_many_events() {
        let s = state_from("p", &events(), AsOf::Version(2)).unwrap();
        assert_eq!(s.version, 2);
        assert_eq!(s.state["name"], "Second");
        assert_eq!(s.state["status"], "active");
        let latest = state_from("p", &events(), AsOf::Latest).unwrap();
        assert_eq!(latest.state["status"], "archived");
    }

    #[test]
    fn state_at_a_time_takes_events_recorded_until_then() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 7, 0).unwrap();
        let s = state_from("p", &events(), AsOf::Time(at)).unwrap();
        assert_eq!((s.version, s.state["name"].as_str()), (2, Some("Second")));
        let before = Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap();
        assert!(matches!(
            state_from("p", &events(), AsOf::Time(before)),
            Err(ReplayError::BeforeCreation { .. })
        ));
    }

    #[test]
    fn versions_outside_the_history_are_errors() {
        assert!(matches!(
            state_from("p", &events(), AsOf::Version(4)),
            Err(ReplayError::NoSuchVersion { latest: 3, .. })
        ));
        assert!(matches!(
            state_from("p", &events(), AsOf::Version(0)),
            Err(ReplayError::NoSuchVersion { .. })
        ));
    }

    #[test]
    fn describe_shows_metadata() {
        let line = describe(&events()[0]);
        assert!(
            line.contains("actor=alice") && line.contains("ProjectCreated v1"),
            "{line}"
        );
    }
}
