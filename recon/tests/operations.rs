//! Roles that serve no API still answer /health, /ready and /metrics on their own port.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use commands::CommandStore;
use domain::job::JobCommand;
use domain::JobStatus;
use support::{announced, eventually, meta, seed_job};

#[actix_web::test]
async fn a_worker_serves_health_readiness_and_metrics_on_its_operations_port() {
    let db = testkit::fresh_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_recon"))
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .env_remove("KAFKA_BROKERS")
        .env("RECON_OPS_ADDR", "127.0.0.1:0")
        .env("RECON_WORKER_ID", "ops-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = announced(&mut child, "recon operations on ", Duration::from_secs(60));
    let client = awc::Client::default();
    // A relay that has published nothing: every event is its lag.
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, transaction_id, position) VALUES ('silent', '0', 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // A run for the worker, counted by outcome.
    let store = CommandStore::new(db.pool.clone());
    let job = seed_job(&store, &db.pool, 10).await;
    store
        .job(
            job,
            JobCommand::Start {
                expected_version: None,
            },
            &meta(),
        )
        .await
        .unwrap();
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(50),
        || {
            let (store, pool) = (&store, &db.pool);
            async move {
                // The worker finds runs in the read models: project here (no projector runs).
                projections::follower::catch_up(pool, 1000).await.unwrap();
                let state = store.load_job(job).await.unwrap();
                (state.status == JobStatus::Completed).then_some(())
            }
        },
        || "the worker did not complete the job".to_string(),
    )
    .await;
    let events = commands::reading::event_count(&db.pool).await.unwrap();
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(
        ready.status().as_u16(),
        200,
        "the worker applied the migrations"
    );
    let mut metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = String::from_utf8(metrics.body().await.unwrap().to_vec()).unwrap();
    assert!(
        text.contains("recon_db_pool_connections{state=\"idle\"}"),
        "{text}"
    );
    assert!(
        text.contains("recon_projection{measure=\"lag_events\"}"),
        "{text}"
    );
    assert!(text.contains("recon_projection_lag_seconds"), "{text}");
    for expected in [
        r#"recon_job_runs_total{outcome="completed"} 1"#.to_string(),
        format!(r#"recon_relay{{measure="lag_events",relay="silent"}} {events}"#),
        r#"recon_relay{measure="published_events",relay="silent"} 0"#.to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected} in:\n{text}");
    }
    assert!(
        text.contains(r#"recon_relay_lag_seconds{relay="silent"}"#),
        "{text}"
    );
    // The operations port serves nothing else.
    let api = client
        .get(format!("{base}/api/v1/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 404);
    let _ = child.kill();
    let _ = child.wait();
}
