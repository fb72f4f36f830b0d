//! The scaled-out pipeline with real processes: store → `recon relay` → Kafka (Tansu) →
//! `recon project` → read models. Roles are killed with SIGKILL mid-stream; afterwards every
//! event must have reached the read models exactly once in effect.

mod support;

use std::sync::Arc;
use std::time::Duration;

use commands::CommandStore;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use support::{assert_read_models_match_replay, eventually, write_project_with_job, Pipeline};

const CATCH_UP: Duration = Duration::from_secs(90);

/// Writes `units` units of work, one every `pause`, in the background.
fn write_steadily(
    store: Arc<CommandStore>,
    units: usize,
    pause: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0..units {
            write_project_with_job(&store, i).await;
            tokio::time::sleep(pause).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_reaches_the_projection_through_kafka_with_key_and_headers() {
    let pipeline = Pipeline::new().await;
    let mut relay = pipeline.spawn("relay", "relay");
    let mut projector = pipeline.spawn("project", "project");
    let store = CommandStore::new(pipeline.db.pool.clone());
    write_project_with_job(&store, 1).await;
    pipeline.wait_caught_up(CATCH_UP).await;
    assert_read_models_match_replay(&pipeline.db.pool).await;

    // The message on the topic: key = aggregate id, headers = event id, type, version, traceparent.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", testkit::kafka_brokers())
        .set("group.id", testkit::unique_name("inspect"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&pipeline.topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message")
        .unwrap();
    let event: commands::StoredEvent = serde_json::from_slice(message.payload().unwrap()).unwrap();
    assert_eq!(message.key().unwrap(), event.aggregate_id.as_bytes());
    let headers = message.headers().expect("headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).to_string())
    };
    assert_eq!(header("event_id"), Some(event.event_id.to_string()));
    assert_eq!(header("event_type"), Some(event.event_type.clone()));
    assert_eq!(header("event_version"), Some("1".to_string()));
    assert_eq!(header("traceparent").as_deref(), event.meta("traceparent"));

    // Something that is not a Recon event lands on the topic: dead-lettered, the projector goes on.
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", testkit::kafka_brokers())
        .create()
        .unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&pipeline.topic)
                .key("junk")
                .payload("not json"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    write_project_with_job(&store, 2).await;
    pipeline.wait_caught_up(CATCH_UP).await;
    let pool = pipeline.db.pool.clone();
    let dead_lettered = || {
        let pool = pool.clone();
        async move {
            let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_dead_letters")
                .fetch_one(&pool)
                .await
                .unwrap();
            (dead == 1).then_some(())
        }
    };
    eventually(CATCH_UP, Duration::from_millis(100), dead_lettered, || {
        "the junk message was not dead-lettered".into()
    })
    .await;
    assert_read_models_match_replay(&pipeline.db.pool).await;

    relay.kill();
    projector.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_stream_loses_nothing_and_projections_count_once() {
    let pipeline = Pipeline::new().await;
    let store = Arc::new(CommandStore::new(pipeline.db.pool.clone()));
    let mut projector = pipeline.spawn("project", "project");
    let mut relay = pipeline.spawn("relay", "relay");
    let writer = write_steadily(store.clone(), 120, Duration::from_millis(25));

    // Kill the relay once it has published some, but not all, of the stream.
    let pool = pipeline.db.pool.clone();
    let published = || {
        let pool = pool.clone();
        async move { (relay::checkpoint(&pool, "default").await.unwrap().position > 0).then_some(()) }
    };
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(50),
        published,
        || format!("relay never published:\n{}", pipeline.log("relay")),
    )
    .await;
    relay.kill();
    assert!(
        !writer.is_finished(),
        "the stream ended before the relay was killed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut relay = pipeline.spawn("relay", "relay-restarted");
    writer.await.unwrap();

    pipeline.wait_caught_up(CATCH_UP).await;
    assert_read_models_match_replay(&pipeline.db.pool).await;
    relay.kill();
    projector.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_killed_mid_batch_counts_each_event_once() {
    let pipeline = Pipeline::new().await;
    let store = Arc::new(CommandStore::new(pipeline.db.pool.clone()));
    let mut relay = pipeline.spawn("relay", "relay");
    let mut projector = pipeline.spawn("project", "project");
    let writer = write_steadily(store.clone(), 120, Duration::from_millis(25));

    let pool = pipeline.db.pool.clone();
    let applied = || {
        let pool = pool.clone();
        async move {
            (projections::queries::projection_status(&pool)
                .await
                .unwrap()
                .events_applied
                > 0)
            .then_some(())
        }
    };
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(20),
        applied,
        || format!("projector never applied:\n{}", pipeline.log("project")),
    )
    .await;
    projector.kill();
    assert!(
        !writer.is_finished(),
        "the stream ended before the projector was killed"
    );
    let mut projector = pipeline.spawn("project", "project-restarted");
    writer.await.unwrap();

    pipeline.wait_caught_up(CATCH_UP).await;
    assert_read_models_match_replay(&pipeline.db.pool).await;
    relay.kill();
    projector.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projectors_share_the_partitions_and_a_standby_relay_takes_over() {
    let pipeline = Pipeline::new().await;
    let store = Arc::new(CommandStore::new(pipeline.db.pool.clone()));
    let mut first_relay = pipeline.spawn("relay", "relay");
    let mut projector_a = pipeline.spawn("project", "project");
    let mut projector_b = pipeline.spawn("project", "project-b");
    // Let the first relay become the leader before the standby starts.
    let leads = || {
        std::future::ready(
            pipeline
                .log("relay")
                .contains("relay is the leader")
                .then_some(()),
        )
    };
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(50),
        leads,
        || format!("relay never led:\n{}", pipeline.log("relay")),
    )
    .await;
    let mut standby = pipeline.spawn("relay", "relay-standby");
    let writer = write_steadily(store.clone(), 80, Duration::from_millis(25));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        pipeline.log("relay-standby").contains("standing by"),
        "{}",
        pipeline.log("relay-standby")
    );
    first_relay.kill();
    writer.await.unwrap();

    pipeline.wait_caught_up(CATCH_UP).await;
    assert!(
        pipeline
            .log("relay-standby")
            .contains("relay is the leader"),
        "the standby never took over"
    );
    assert_read_models_match_replay(&pipeline.db.pool).await;
    for child in [&mut standby, &mut projector_a, &mut projector_b] {
        child.kill();
    }
}
