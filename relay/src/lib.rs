//! The relay: follows the event store in store order (gap-safe) and publishes every event to a
//! Kafka topic — key = aggregate id, headers = event id, type, version and W3C `traceparent`.
//!
//! Outbox semantics: the relay records how far it has published only after the broker
//! acknowledged, so a crash re-sends and never loses. One relay publishes at a time: it holds a
//! PostgreSQL advisory lock on a dedicated connection; others wait as standbys and take over when
//! the holder's connection (and so its lock) goes away.

use std::time::Duration;

use commands::reading::{read_after, CommitWaiter};
use commands::{StoreCheckpoint, StoredEvent};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub brokers: String,
    pub topic: String,
    pub partitions: i32,
    pub replication: i32,
    /// Relays with the same name share one lock and one checkpoint.
    pub name: String,
    pub batch_size: i64,
    pub idle_poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
}

/// Creates the topic if it does not exist.
pub async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), RelayError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(RelayError::Topic {
                    topic: name,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

fn producer(brokers: &str) -> Result<FutureProducer, RelayError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()?)
}

pub async fn checkpoint(pool: &PgPool, name: &str) -> Result<StoreCheckpoint, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM relay_checkpoints WHERE relay = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or(StoreCheckpoint::START, |(transaction_id, position)| {
            StoreCheckpoint {
                transaction_id,
                position,
            }
        }),
    )
}

/// Moves the checkpoint forward only: a deposed leader finishing a late batch cannot move it back.
async fn save_checkpoint(
    pool: &PgPool,
    name: &str,
    at: StoreCheckpoint,
    published: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, transaction_id, position, published_events)
         VALUES ($1, $2::bigint::text::xid8, $3, $4)
         ON CONFLICT (relay) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,
             published_events = relay_checkpoints.published_events + EXCLUDED.published_events, updated_at = now()
         WHERE (relay_checkpoints.transaction_id, relay_checkpoints.position) < (EXCLUDED.transaction_id, EXCLUDED.position)",
    )
    .bind(name)
    .bind(at.transaction_id)
    .bind(at.position)
    .bind(published)
    .execute(pool)
    .await?;
    Ok(())
}

/// Waits until this process holds the relay lock, on a dedicated connection (never a pooled
/// one: dropping it closes the session and so releases the lock). `None` when shut down.
async fn acquire_leadership(
    pool: &PgPool,
    name: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<PgConnection>, RelayError> {
    let mut announced = false;
    loop {
        if *shutdown.borrow() {
            return Ok(None);
        }
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtext('recon-relay'), hashtext($1))",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
        if got {
            tracing::info!(relay = name, "relay is the leader");
            return Ok(Some(conn));
        }
        let _ = conn.close().await;
        if !announced {
            tracing::info!(relay = name, "another relay is leading; standing by");
            announced = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

fn headers(event: &StoredEvent) -> OwnedHeaders {
    let event_id = event.event_id.to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "event_id",
            value: Some(event_id.as_bytes()),
        })
        .insert(Header {
            key: "event_type",
            value: Some(event.event_type.as_bytes()),
        })
        .insert(Header {
            key: "event_version",
            value: Some(event.event_version.as_bytes()),
        })
        .insert(Header {
            key: "aggregate_type",
            value: Some(event.aggregate_type.as_bytes()),
        });
    if let Some(traceparent) = event.meta("traceparent") {
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(traceparent.as_bytes()),
        });
    }
    headers
}

/// Publishes `batch` and waits for every acknowledgement. Any failure fails the whole batch.
async fn publish(
    producer: &FutureProducer,
    topic: &str,
    batch: &[StoredEvent],
) -> Result<(), RelayError> {
    let bodies = batch
        .iter()
        .map(|event| {
            serde_json::to_vec(event).map_err(|e| RelayError::Topic {
                topic: topic.to_string(),
                reason: format!("event {} not serialisable: {e}", event.event_id),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut deliveries = Vec::with_capacity(batch.len());
    for (event, body) in batch.iter().zip(&bodies) {
        let record = FutureRecord::to(topic)
            .key(event.aggregate_id.as_str())
            .payload(body)
            .headers(headers(event));
        deliveries.push(producer.send(record, Duration::from_secs(30)));
    }
    for delivery in futures::future::join_all(deliveries).await {
        delivery.map_err(|(e, _)| RelayError::Kafka(e))?;
    }
    Ok(())
}

/// Runs the relay until `shutdown` turns true: stand by, lead, publish, checkpoint. Kafka or
/// database outages are waited out (retried every 2 s), never fatal: commands keep being
/// accepted meanwhile and the relay catches up from its checkpoint.
pub async fn run(
    pool: PgPool,
    config: RelayConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), RelayError> {
    loop {
        match lead(&pool, &config, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "relay interrupted; retrying in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return Ok(());
                }
            }
        }
    }
}

async fn lead(
    pool: &PgPool,
    config: &RelayConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let pool = pool.clone();
    ensure_topic(
        &config.brokers,
        &config.topic,
        config.partitions,
        config.replication,
    )
    .await?;
    let producer = producer(&config.brokers)?;
    let mut waiter = CommitWaiter::new(&pool).await;
    'lead: loop {
        let Some(mut lock) = acquire_leadership(&pool, &config.name, shutdown).await? else {
            break;
        };
        let mut at = checkpoint(&pool, &config.name).await?;
        while !*shutdown.borrow() {
            // Still the leader? If the lock connection broke, the lock is gone with it.
            if let Err(e) = sqlx::query("SELECT 1").execute(&mut lock).await {
                tracing::warn!(error = %e, "lost the relay lock connection; re-electing");
                drop(lock);
                continue 'lead;
            }
            let batch = read_after(&pool, at, config.batch_size).await?;
            let Some(last) = batch.last().map(StoredEvent::checkpoint) else {
                tokio::select! {
                    _ = waiter.wait(config.idle_poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            match publish(&producer, &config.topic, &batch).await {
                Ok(()) => {
                    save_checkpoint(&pool, &config.name, last, batch.len() as i64).await?;
                    at = last;
                    tracing::debug!(events = batch.len(), position = last.position, "published");
                }
                Err(e) => {
                    // Some of the batch may have been delivered: it is sent again, never skipped.
                    tracing::warn!(error = %e, "publishing failed; retrying the batch");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        break;
    }
    tracing::info!("relay stopped");
    Ok(())
}
