//! `recon` with no configuration: all roles in one process, its own private PostgreSQL cluster
//! in the data directory (started as an unprivileged user when run as root), no Kafka.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{announced_address, create_user_with_cli, sign_in};

fn recon(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recon"));
    c.env_remove("DATABASE_URL")
        .env_remove("KAFKA_BROKERS")
        .env("RECON_DATABASE", "private")
        .env("RECON_DATA_DIR", data_dir)
        .env("RECON_HTTP_ADDR", "127.0.0.1:0");
    c
}

#[actix_web::test]
async fn embedded_mode_runs_everything_in_one_process_with_a_private_cluster() {
    let data_dir = std::env::temp_dir().join(testkit::unique_name("recon-embedded"));
    let mut child = recon(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = announced_address(&mut child, Duration::from_secs(120));
    let anonymous = awc::Client::default();

    let ready = anonymous.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    // No default user, no open door: nothing but health is served without a token.
    let refused = anonymous
        .post(format!("{base}/api/v1/projects"))
        .send_json(&json!({"name": "Embedded", "base_currency": "CHF"}))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // The first admin, made with the CLI beside the running server (it attaches to the
    // private cluster, like replay).
    let admin_id = create_user_with_cli(recon(&data_dir), "admin@example.com", "admin");
    let token = sign_in(&base, "admin@example.com").await;
    let client = awc::Client::builder().bearer_auth(token).finish();

    let mut created = client
        .post(format!("{base}/api/v1/projects"))
        .send_json(&json!({"name": "Embedded", "base_currency": "CHF"}))
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.unwrap();
    let (id, position) = (
        created["id"].as_str().unwrap().to_string(),
        created["position"].as_i64().unwrap(),
    );
    let mut listed = client
        .get(format!(
            "{base}/api/v1/projects?wait_for_position={position}"
        ))
        .send()
        .await
        .unwrap();
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["items"][0]["name"], "Embedded");

    // The replay CLI attaches to the running private cluster (and leaves it running).
    let history = recon(&data_dir)
        .args(["replay", "history", &id])
        .output()
        .unwrap();
    assert!(
        history.status.success(),
        "{}",
        String::from_utf8_lossy(&history.stderr)
    );
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("ProjectCreated v1"));
    assert!(
        history.contains(&admin_id),
        "the actor is the signed-in admin: {history}"
    );
    let state = recon(&data_dir)
        .args(["replay", "state", &id, "--version", "1"])
        .output()
        .unwrap();
    let state: Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(state["state"]["base_currency"], "CHF");
    let bad = recon(&data_dir)
        .args(["replay", "state", &id, "--at", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
    let unknown = recon(&data_dir)
        .args(["replay", "history", "no-such-aggregate"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let still_ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(
        still_ready.status().as_u16(),
        200,
        "the CLI must not stop the server's cluster"
    );

    // Graceful shutdown stops the cluster it started.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "recon exited with {status}");
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the private cluster is still running"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
