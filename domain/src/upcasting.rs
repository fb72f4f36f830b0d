//! Schema evolution: events are stored with the version they were written in and upcast to the
//! current shape whenever they are read — by the command side, projections and replay alike.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::Value;

/// The upcasters of every aggregate, oldest version first. Each one turns one (event type,
/// version) into the next version. Today every event is at version 1, so the list is empty;
/// the mechanism is exercised by this module's tests.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}

/// Why a stored event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event {event_type} version {event_version} has no upcaster to the current version")]
    UnknownVersion {
        event_type: String,
        event_version: String,
    },
    #[error("event {event_type} does not match its schema: {source}")]
    Shape {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Upcasts a stored event with `upcasters` and deserialises it as an event of aggregate `A`.
pub fn decode<A: Aggregate>(
    upcasters: &[Box<dyn EventUpcaster>],
    event: SerializedEvent,
) -> Result<A::Event, DecodeError> {
    let event = upcasters.iter().fold(event, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    });
    let decoded: A::Event =
        serde_json::from_value(event.payload.clone()).map_err(|source| DecodeError::Shape {
            event_type: event.event_type.clone(),
            source,
        })?;
    if decoded.event_version() != event.event_version {
        return Err(DecodeError::UnknownVersion {
            event_type: event.event_type,
            event_version: event.event_version,
        });
    }
    Ok(decoded)
}

/// Builds the [`SerializedEvent`] that `decode` reads from the columns of a stored event.
pub fn serialized(
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: Value,
) -> SerializedEvent {
    SerializedEvent::new(
        aggregate_id.to_string(),
        sequence as usize,
        aggregate_type.to_string(),
        event_type.to_string(),
        event_version.to_string(),
        payload,
        Value::Null,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Project, ProjectEvent};
    use serde_json::json;

    /// A hypothetical version 0 of ProjectCreated that called the currency `currency`.
    struct RenameCurrencyField;

    impl EventUpcaster for RenameCurrencyField {
        fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
            event_type == "ProjectCreated" && event_version == "0"
        }

        fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
            if let Some(body) = event
                .payload
                .get_mut("ProjectCreated")
                .and_then(Value::as_object_mut)
            {
                if let Some(currency) = body.remove("currency") {
                    body.insert("base_currency".into(), currency);
                }
            }
            event.event_version = "1".into();
            event
        }
    }

    fn v0_event() -> SerializedEvent {
        serialized(
            "project",
            "p",
            1,
            "ProjectCreated",
            "0",
            json!({"ProjectCreated": {"project_id": "00000000-0000-0000-0000-000000000001",
                   "name": "Old", "description": "", "currency": "EUR"}}),
        )
    }

    #[test]
    fn an_old_event_is_upcast_on_read() {
        let upcasters: Vec<Box<dyn EventUpcaster>> = vec![Box::new(RenameCurrencyField)];
        let event = decode::<Project>(&upcasters, v0_event()).unwrap();
        match event {
            ProjectEvent::ProjectCreated { base_currency, .. } => {
                assert_eq!(base_currency.as_str(), "EUR")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_old_event_without_upcaster_is_refused_not_misread() {
        assert!(decode::<Project>(&upcasters(), v0_event()).is_err());
    }
}
