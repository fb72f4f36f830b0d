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

use crate::ProjectionError;

#[derive(Debug, Clone)]
pub struct KafkaProjectorConfig {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub batch_max: usize,
    /// How long to keep filling a batch after its first message.
    pub batch_linger: Duration,
    /// What to do with an event that cannot be applied.
    pub on_failure: crate::parking::OnFailure,
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
    /// `None`: not a Recon event; dead-lettered, its offset still committed.
    event: Option<StoredEvent>,
}

/// Reads a message; one that is not a Recon event goes to `projection_dead_letters`.
async fn decode(
    pool: &PgPool,
    topic: &str,
    message: &rdkafka::message::BorrowedMessage<'_>,
) -> Result<Received, ProjectionError> {
    let (partition, offset) = (message.partition(), message.offset());
    let parsed = match message.payload() {
        None => Err("empty payload".to_string()),
        Some(payload) => serde_json::from_slice::<StoredEvent>(payload).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(event) => Ok(Received {
            partition,
            offset,
            event: Some(event),
        }),
        Err(reason) => {
            tracing::error!(partition, offset, %reason, "not a Recon event; dead-lettered");
            // Retried until stored: the message's offset is committed after this.
            let mut attempt = 0u64;
            loop {
                let stored = sqlx::query(
                    "INSERT INTO projection_dead_letters (projection, topic, partition, \"offset\", key, payload, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (projection, topic, partition, \"offset\") DO NOTHING",
                )
                .bind(crate::READ_MODELS)
                .bind(topic)
                .bind(partition)
                .bind(offset)
                .bind(message.key().map(|k| String::from_utf8_lossy(k).into_owned()))
                .bind(message.payload().map(|p| String::from_utf8_lossy(p).into_owned()))
                .bind(&reason)
                .execute(pool)
                .await;
                match stored {
                    Ok(_) => break,
                    Err(e) => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "cannot store a dead letter; retrying");
                        tokio::time::sleep(Duration::from_millis(500 * attempt.min(10))).await;
                    }
                }
            }
            Ok(Received {
                partition,
                offset,
                event: None,
            })
        }
    }
}

/// Consumes until `shutdown` turns true or an error that retrying cannot fix.
pub async fn run(
    pool: PgPool,
    config: KafkaProjectorConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let consumer = consumer(&config)?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "projector consuming");
    loop {
        let first = tokio::select! {
            message = consumer.recv() => message,
            _ = shutdown.changed() => break,
        };
        let first = match first {
            Ok(message) => decode(&pool, &config.topic, &message).await,
            Err(e) => {
                tracing::warn!(error = %e, "consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut batch = vec![first?];
        let deadline = tokio::time::Instant::now() + config.batch_linger;
        while batch.len() < config.batch_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(message)) => batch.push(decode(&pool, &config.topic, &message).await?),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        let events: Vec<StoredEvent> = batch.iter().filter_map(|r| r.event.clone()).collect();
        // Retried until it applies; an event that cannot be applied is parked (or, with
        // `OnFailure::Stop`, stops the projector here). A batch that keeps failing shows as lag
        // and in the log.
        let mut attempt = 0u32;
        loop {
            match crate::parking::apply_or_park(&pool, &events, None, config.on_failure).await {
                Ok(outcome) => {
                    tracing::debug!(
                        applied = outcome.applied,
                        duplicates = outcome.duplicates,
                        "projected batch"
                    );
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "projection batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(10)))) => {}
                        _ = shutdown.changed() => return Ok(()),
                    }
                }
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
