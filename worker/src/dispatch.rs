//! The worker loop: finds runs to do and does them, one at a time per worker.
//!
//! Runs are found two ways: `JobStarted` / `JobRetried` events from Kafka (scaled mode, a
//! consumer group, so each start reaches one worker), and a periodic scan for running jobs that
//! no live lease covers (never claimed, or their worker died). Claiming is a lease in
//! PostgreSQL, so two workers never run the same run at once.

use std::sync::Arc;
use std::time::Duration;

use commands::CommandStore;
use domain::JobStatus;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::leases;
use crate::run::{run_job, RunSettings};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub run: RunSettings,
    /// How often to look for orphaned runs.
    pub scan_every: Duration,
    /// Kafka brokers, topic and consumer group for start events (scaled mode).
    pub kafka: Option<(String, String, String)>,
}

impl WorkerConfig {
    pub fn new(worker_id: String) -> Self {
        Self {
            run: RunSettings {
                worker_id,
                lease: Duration::from_secs(15),
                check_every: Duration::from_millis(250),
                progress_every: Duration::from_secs(1),
            },
            scan_every: Duration::from_millis(500),
            kafka: None,
        }
    }
}

/// Forwards the job ids of start events from Kafka.
fn start_events(
    brokers: &str,
    topic: &str,
    group: &str,
    found: mpsc::Sender<Uuid>,
) -> Result<tokio::task::JoinHandle<()>, rdkafka::error::KafkaError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.offset.reset", "latest")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(tokio::spawn(async move {
        loop {
            match consumer.recv().await {
                Ok(message) => {
                    let is_start = message.headers().is_some_and(|h| {
                        h.iter().any(|h| {
                            h.key == "event_type"
                                && matches!(h.value, Some(b"JobStarted") | Some(b"JobRetried"))
                        })
                    });
                    let id = message
                        .key()
                        .and_then(|k| std::str::from_utf8(k).ok())
                        .and_then(|k| Uuid::parse_str(k).ok());
                    if let (true, Some(id)) = (is_start, id) {
                        let _ = found.send(id).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "worker consumer error");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }))
}

async fn claim_and_run(
    pool: &PgPool,
    store: &CommandStore,
    config: &WorkerConfig,
    job: Uuid,
    run: u32,
) {
    match leases::try_claim(pool, job, run, &config.run.worker_id, config.run.lease).await {
        Ok(true) => match run_job(pool, store, job, run, &config.run).await {
            Ok(end) => crate::outcomes::record(Some(&end)),
            Err(e) => {
                crate::outcomes::record(None);
                tracing::error!(%job, run, error = %e, "run failed");
                let _ = leases::release(pool, job, run, &config.run.worker_id).await;
            }
        },
        Ok(false) => {}
        Err(e) => tracing::warn!(%job, error = %e, "cannot claim"),
    }
}

/// Runs until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    store: Arc<CommandStore>,
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let (found_tx, mut found) = mpsc::channel::<Uuid>(1024);
    let consumer = match &config.kafka {
        Some((brokers, topic, group)) => match start_events(brokers, topic, group, found_tx) {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "cannot consume start events; relying on the scan");
                None
            }
        },
        None => None,
    };
    tracing::info!(worker = %config.run.worker_id, "worker ready");
    while !*shutdown.borrow() {
        tokio::select! {
            Some(job) = found.recv() => {
                if let Ok(state) = store.load_job(job).await {
                    if state.status == JobStatus::Running {
                        claim_and_run(&pool, &store, &config, job, state.run).await;
                    }
                }
            }
            _ = tokio::time::sleep(config.scan_every) => {
                match leases::orphaned_runs(&pool, 10).await {
                    Ok(runs) => {
                        for (job, run) in runs {
                            if *shutdown.borrow() {
                                break;
                            }
                            claim_and_run(&pool, &store, &config, job, run).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "scanning for runs failed"),
                }
            }
            _ = shutdown.changed() => {}
        }
    }
    if let Some(consumer) = consumer {
        consumer.abort();
    }
    tracing::info!("worker stopped");
}
