//! Shared by the end-to-end tests: running `recon` roles as real processes, writing commands,
//! and checking read models against a from-scratch replay of the store.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::data_source::DataSourceCommand;
use domain::job::{JobCommand, JobDefinition};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A pipeline's private names: its database, topic, consumer group and relay name.
pub struct Pipeline {
    pub db: testkit::TestDatabase,
    pub topic: String,
    pub group: String,
    pub logs: PathBuf,
}

impl Pipeline {
    pub async fn new() -> Self {
        let db = testkit::fresh_database().await;
        commands::migrations::migrate(&db.pool).await.unwrap();
        let logs = std::env::temp_dir().join(testkit::unique_name("recon-e2e"));
        std::fs::create_dir_all(&logs).unwrap();
        Self {
            db,
            topic: testkit::unique_name("recon-events"),
            group: testkit::unique_name("recon-projections"),
            logs,
        }
    }

    /// Starts `recon <role>` as its own process; its log goes to `<logs>/<label>.log`. The
    /// process is killed when the handle is dropped, so a failing test leaves none behind.
    pub fn spawn(&self, role: &str, label: &str) -> RoleProcess {
        let log = std::fs::File::create(self.logs.join(format!("{label}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_recon"))
            .arg(role)
            .env("RECON_WORKER_ID", label)
            .env("RECON_WORKER_GROUP", format!("{}-workers", self.group))
            .env("DATABASE_URL", &self.db.url)
            .env("KAFKA_BROKERS", testkit::kafka_brokers())
            .env("RECON_KAFKA_TOPIC", &self.topic)
            .env("RECON_CONSUMER_GROUP", &self.group)
            .env("RECON_DB_MAX_CONNECTIONS", "5")
            .env("RECON_LOG", "info,projections=debug,relay=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(RoleProcess)
            .expect("spawn recon")
    }

    pub fn log(&self, label: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{label}.log"))).unwrap_or_default()
    }

    /// Waits until the read models have applied every event in the store.
    pub async fn wait_caught_up(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let status = projections::queries::projection_status(&self.db.pool)
                .await
                .unwrap();
            if status.lag == 0 && status.events_in_store > 0 {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "projections did not catch up: {status:?}\nrelay log:\n{}\nprojector log:\n{}",
                self.log("relay"),
                self.log("project")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A running `recon` role.
pub struct RoleProcess(Child);

impl RoleProcess {
    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTP address a `recon` process started with `RECON_HTTP_ADDR=127.0.0.1:0` announces on
/// its stdout (which must be piped). Keeps draining stdout so the process never blocks on it.
pub fn announced_address(child: &mut Child, timeout: Duration) -> String {
    announced(child, "recon listening on ", timeout)
}

/// The address a `recon` process announces on its stdout after `prefix`.
pub fn announced(child: &mut Child, prefix: &'static str, timeout: Duration) -> String {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().expect("recon's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(prefix) {
                let _ = tx.send(url.to_string());
            }
        }
    });
    rx.recv_timeout(timeout)
        .expect("recon announced its address")
}

/// Polls `check` every `every` until it yields a value, which it returns; fails the test with
/// `failure()` once `timeout` has passed.
pub async fn eventually<T, Fut>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Fut,
    failure: impl Fn() -> String,
) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < timeout, "{}", failure());
        tokio::time::sleep(every).await;
    }
}

pub fn meta() -> CommandMetadata {
    CommandMetadata::system("e2e")
}

/// A project with two data sources of `records` generated records each (written straight into
/// the record store) and a 1:1 job between them, not started. Returns the job's id.
pub async fn seed_job(store: &CommandStore, pool: &PgPool, records: i64) -> Uuid {
    let project = Uuid::new_v4();
    store
        .project(
            project,
            ProjectCommand::Create {
                project_id: project,
                name: Name::parse("P").unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            },
            &meta(),
        )
        .await
        .unwrap();
    let (left, right) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, prefix) in [(left, "L"), (right, "R")] {
        store
            .data_source(
                id,
                DataSourceCommand::Create {
                    source_id: id,
                    project_id: project,
                    name: Name::parse(prefix).unwrap(),
                    settings: json!({"format": "mt940"}),
                },
                &meta(),
            )
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO source_records (source_id, fingerprint, file_sha256, row_number, record_id, booking_date, amount, currency, reference)
             SELECT $1, md5($2 || i), 'test', i, $2 || i, date '2026-01-01' + (i % 20), (i % 5000) + 1, 'EUR', 'REF-' || i
             FROM generate_series(1, $3::int) AS i",
        )
        .bind(id)
        .bind(prefix)
        .bind(records)
        .execute(pool)
        .await
        .unwrap();
        let file = domain::data_source::ImportedFile {
            file_name: "generated".into(),
            sha256: "test".into(),
            size_bytes: 0,
            settings: json!({"format": "mt940"}),
            rows_read: records as u64,
            records_added: records as u64,
            duplicates: 0,
            rows_skipped: 0,
            errors_total: 0,
        };
        store
            .data_source(id, DataSourceCommand::RecordImport { file }, &meta())
            .await
            .unwrap();
    }
    let rules = json!({"version": 1, "passes": [{"name": "ref", "cardinality": "one_to_one", "reference": {}, "amount_tolerance": {"absolute": "0.01"}}]});
    let job = Uuid::new_v4();
    store
        .create_job(
            project,
            job,
            JobDefinition::parse("big", left, right, rules).unwrap(),
            &meta(),
        )
        .await
        .unwrap();
    job
}

/// One unit of work: a project with a job that is started, and every third job cancelled.
/// Produces 3 or 4 events.
pub async fn write_project_with_job(store: &CommandStore, i: usize) {
    let project = Uuid::now_v7();
    store
        .project(
            project,
            ProjectCommand::Create {
                project_id: project,
                name: Name::parse(&format!("project {i}")).unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            },
            &meta(),
        )
        .await
        .unwrap();
    let job = Uuid::now_v7();
    let definition = JobDefinition::parse(
        "job",
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        serde_json::json!({}),
    )
    .unwrap();
    store
        .create_job(project, job, definition, &meta())
        .await
        .unwrap();
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
    if i.is_multiple_of(3) {
        store
            .job(
                job,
                JobCommand::Cancel {
                    expected_version: None,
                    reason: None,
                },
                &meta(),
            )
            .await
            .unwrap();
    }
}

/// The read models must equal what a from-scratch replay of the store says: every project and
/// job's state folded from its events, and the dashboard counters equal to counts of those.
pub async fn assert_read_models_match_replay(pool: &PgPool) {
    let status = projections::queries::projection_status(pool).await.unwrap();
    assert_eq!(status.events_applied, status.events_in_store, "{status:?}");

    let aggregates: Vec<(String, String)> =
        sqlx::query_as("SELECT DISTINCT aggregate_type, aggregate_id FROM events")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut projects = 0i64;
    let mut jobs_by_status: BTreeMap<String, i64> = BTreeMap::new();
    for (aggregate_type, id) in &aggregates {
        let replayed = replay::state(pool, id, replay::AsOf::Latest).await.unwrap();
        let uuid = Uuid::parse_str(id).unwrap();
        match aggregate_type.as_str() {
            "project" => {
                projects += 1;
                let view = projections::queries::get_project(pool, uuid)
                    .await
                    .unwrap()
                    .expect("project in read model");
                assert_eq!(view.version as u64, replayed.version);
                assert_eq!(view.status, replayed.state["status"].as_str().unwrap());
            }
            "job" => {
                let status = replayed.state["status"].as_str().unwrap().to_string();
                let view = projections::queries::get_job(pool, uuid)
                    .await
                    .unwrap()
                    .expect("job in read model");
                assert_eq!(view.version as u64, replayed.version);
                assert_eq!(view.status, status);
                *jobs_by_status.entry(status).or_default() += 1;
            }
            "data_source" => {
                let view = projections::queries::get_source(pool, uuid)
                    .await
                    .unwrap()
                    .expect("source in read model");
                assert_eq!(view.version as u64, replayed.version);
                assert_eq!(
                    view.records as u64,
                    replayed.state["records"].as_u64().unwrap()
                );
            }
            other => panic!("unexpected aggregate type {other}"),
        }
    }
    let dashboard = projections::queries::dashboard(pool).await.unwrap();
    assert_eq!(dashboard.projects.total, projects);
    assert_eq!(dashboard.jobs.total, jobs_by_status.values().sum::<i64>());
    for (status, count) in &dashboard.jobs.by_status {
        assert_eq!(
            *count,
            jobs_by_status.get(status).copied().unwrap_or(0),
            "jobs {status}"
        );
    }
}

pub const TEST_PASSWORD: &str = "a long enough password";

/// Creates a user as an operator would: `recon users create --password-stdin` (with the
/// environment of `recon`, a `Command` for the recon binary). Answers the new user's id.
pub fn create_user_with_cli(mut recon: Command, email: &str, role: &str) -> String {
    use std::io::Write;
    let mut child = recon
        .args([
            "users",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn recon users create");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TEST_PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "recon users create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Signs in through the API; answers the access token.
pub async fn sign_in(base: &str, email: &str) -> String {
    let mut res = awc::Client::default()
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&serde_json::json!({"email": email, "password": TEST_PASSWORD}))
        .await
        .expect("sign in");
    assert_eq!(res.status().as_u16(), 200, "sign-in refused");
    let body: serde_json::Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}
