//! The scaled-out projector: a Kafka consumer group. Offsets are committed to Kafka only after
//! the batch's database transaction committed; a crash in between means redelivery, which the
//! per-aggregate applied sequence turns into a no-op.

use std::collections::HashMap;
use std::time::Duration;

use commands::StoredEvent;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::apply::apply_batch;
use crate::ProjectionError;

#[derive(Debug, Clone)]
pub struct KafkaProjectorConfig {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub batch_max: usize,
    /// How long to keep filling a batch after its first message.
    pub batch_linger: Duration,
}

pub fn consumer(config: &KafkaProjectorConfig) -> Result<StreamConsumer, ProjectionError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .create()?;
    consumer.subscribe(&[&config.topic])?;
    Ok(consumer)
}

struct Received {
    partition: i32,
    offset: i64,
    event: StoredEvent,
}

fn decode(message: &rdkafka::message::BorrowedMessage<'_>) -> Result<Received, ProjectionError> {
    let bad = |reason: String| ProjectionError::BadMessage {
        partition: message.partition(),
        offset: message.offset(),
        reason,
    };
    let payload = message.payload().ok_or_else(|| bad("empty payload".into()))?;
    let event: StoredEvent = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
    Ok(Received {
        partition: message.partition(),
        offset: message.offset(),
        event,
    })
}

/// Consumes until `shutdown` turns true or an error that retrying cannot fix.
pub async fn run(pool: PgPool, config: KafkaProjectorConfig, mut shutdown: watch::Receiver<bool>) -> Result<(), ProjectionError> {
    let consumer = consumer(&config)?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "projector consuming");
    loop {
        let first = tokio::select! {
            message = consumer.recv() => message,
            _ = shutdown.changed() => break,
        };
        let mut batch = vec![decode(&first?)?];
        let deadline = tokio::time::Instant::now() + config.batch_linger;
        while batch.len() < config.batch_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(message) => batch.push(decode(&message?)?),
                Err(_) => break,
            }
        }
        let events: Vec<StoredEvent> = batch.iter().map(|r| r.event.clone()).collect();
        let mut attempt = 0;
        loop {
            match apply_batch(&pool, &events, None).await {
                Ok(outcome) => {
                    tracing::debug!(applied = outcome.applied, duplicates = outcome.duplicates, "projected batch");
                    break;
                }
                Err(ProjectionError::Database(e)) if attempt < 30 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "projection batch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let mut next: HashMap<i32, i64> = HashMap::new();
        for r in &batch {
            let entry = next.entry(r.partition).or_insert(r.offset + 1);
            *entry = (*entry).max(r.offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            offsets.add_partition_offset(&config.topic, partition, Offset::Offset(offset))?;
        }
        if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
            // After a rebalance the partition may belong to another member now; it will
            // redeliver from the last committed offset, which the applied sequence makes harmless.
            tracing::warn!(error = %e, "offset commit failed; events will be redelivered");
        }
    }
    tracing::info!("projector stopped");
    Ok(())
}
