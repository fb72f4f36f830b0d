//! Read models (projects, jobs, dashboard) built idempotently from the event stream, from Kafka or in process.
