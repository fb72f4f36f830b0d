//! Fan-out: follows the event store in commit order and publishes every event to Kafka.
