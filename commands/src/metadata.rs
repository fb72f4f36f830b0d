//! Who issued a command, in answer to which request, as part of which flow: stored with every
//! event it produces.

use std::collections::HashMap;
use uuid::Uuid;

/// Metadata recorded with each event. `causation_id` is what directly caused the command (the
/// HTTP request, or the event a process reacted to); `correlation_id` ties a whole flow together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMetadata {
    pub actor: String,
    pub request_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub trace_id: String,
    /// W3C trace context of the command, forwarded in Kafka headers.
    pub traceparent: String,
}

impl CommandMetadata {
    /// Metadata for a command issued by the system itself (a worker, a test, the CLI).
    pub fn system(actor: &str) -> Self {
        let request_id = Uuid::new_v4().to_string();
        let trace_id = Uuid::new_v4().simple().to_string();
        Self {
            actor: actor.to_string(),
            correlation_id: request_id.clone(),
            causation_id: request_id.clone(),
            request_id,
            traceparent: traceparent_for(&trace_id),
            trace_id,
        }
    }

    pub fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("actor".to_string(), self.actor.clone()),
            ("request_id".to_string(), self.request_id.clone()),
            ("correlation_id".to_string(), self.correlation_id.clone()),
            ("causation_id".to_string(), self.causation_id.clone()),
            ("trace_id".to_string(), self.trace_id.clone()),
            ("traceparent".to_string(), self.traceparent.clone()),
        ])
    }
}

/// A W3C `traceparent` for a trace id (32 hex digits), with a fresh span id, sampled.
pub fn traceparent_for(trace_id: &str) -> String {
    let span = Uuid::new_v4().simple().to_string();
    format!("00-{trace_id}-{}-01", &span[..16])
}

/// The trace id of a valid W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let parts: Vec<&str> = traceparent.trim().split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [version, trace, span, flags]
            if hex(version, 2)
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2)
                && *trace != "0".repeat(32) =>
        {
            Some(trace)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_its_trace_id() {
        let m = CommandMetadata::system("test");
        assert_eq!(trace_id_of(&m.traceparent), Some(m.trace_id.as_str()));
        assert_eq!(m.to_map().len(), 6);
    }

    #[test]
    fn malformed_traceparents_are_rejected() {
        assert_eq!(trace_id_of("garbage"), None);
        assert_eq!(
            trace_id_of("00-00000000000000000000000000000000-0000000000000001-01"),
            None
        );
        assert!(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some());
    }
}
