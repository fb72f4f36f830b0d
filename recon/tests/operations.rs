//! Roles that serve no API still answer /health, /ready and /metrics on their own port.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::announced;

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
