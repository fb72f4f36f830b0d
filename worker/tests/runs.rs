//! Job runs against a real PostgreSQL: results and outcome recorded once, cancellation within a
//! second, orphaned runs picked up by the worker loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::data_source::DataSourceCommand;
use domain::job::{JobCommand, JobDefinition};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::{Currency, JobStatus};
use projections::results::{self, ResultFilter, ResultKind};
use serde_json::json;
use uuid::Uuid;
use worker::run::RunSettings;
use worker::{run_job, RunEnd};

fn meta() -> CommandMetadata {
    CommandMetadata::system("test")
}

fn settings(id: &str) -> RunSettings {
    RunSettings {
        worker_id: id.into(),
        lease: Duration::from_secs(5),
        check_every: Duration::from_millis(100),
        progress_every: Duration::from_millis(200),
    }
}

fn rule_set() -> serde_json::Value {
    json!({"version": 1, "passes": [{"name": "reference", "cardinality": "one_to_one", "reference": {},
        "amount_tolerance": {"absolute": "0.01"}, "date_window": {"field": "booking_date", "days": 3}}]})
}

fn test_file(records: u64) -> domain::data_source::ImportedFile {
    domain::data_source::ImportedFile {
        file_name: "generated".into(),
        sha256: "test".into(),
        size_bytes: 0,
        settings: json!({"format": "camt053"}),
        rows_read: records,
        records_added: records,
        duplicates: 0,
        rows_skipped: 0,
        errors_total: 0,
    }
}

struct Setup {
    db: testkit::TestDatabase,
    store: Arc<CommandStore>,
    job: Uuid,
    left: Uuid,
    right: Uuid,
}

/// A project with two sources of `n` records each: all but the last 10 match 1:1 by reference
/// (with a cent of difference and a day of drift); each side has 10 unmatched records.
async fn setup(n: i64) -> Setup {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = Arc::new(CommandStore::new(db.pool.clone()));
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
    for (id, name) in [(left, "bank"), (right, "ledger")] {
        store
            .data_source(
                id,
                DataSourceCommand::Create {
                    source_id: id,
                    project_id: project,
                    name: Name::parse(name).unwrap(),
                    settings: json!({"format": "camt053"}),
                },
                &meta(),
            )
            .await
            .unwrap();
    }
    for (source, prefix, drift, cents, unmatched_ref) in [
        (left, "L", 0, 0, "BANKONLY"),
        (right, "R", 1, 1, "LEDGERONLY"),
    ] {
        sqlx::query(
            "INSERT INTO source_records (source_id, fingerprint, file_sha256, row_number, record_id, booking_date, amount, currency, reference)
             SELECT $1, md5($2 || i), 'test', i, $2 || i, date '2026-01-01' + ((i % 20) + $3)::int, (i % 5000) + 1 + $4::int * 0.01, 'EUR',
                    CASE WHEN i > $5 - 10 THEN $6 || i ELSE 'REF-' || i END
             FROM generate_series(1, $5::int) AS i",
        )
        .bind(source)
        .bind(prefix)
        .bind(drift)
        .bind(cents)
        .bind(n)
        .bind(unmatched_ref)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // Records only count once their import is recorded (the run's manifest names the files).
    for source in [left, right] {
        store
            .data_source(
                source,
                DataSourceCommand::RecordImport {
                    file: test_file(n as u64),
                },
                &meta(),
            )
            .await
            .unwrap();
    }
    let job = Uuid::new_v4();
    let definition = JobDefinition::parse("nightly", left, right, rule_set()).unwrap();
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
    // Catch up fully: a long transaction elsewhere in the cluster (another test's bulk insert)
    // holds back what the gap-safe reader may see, so one pass may not be enough.
    loop {
        projections::follower::catch_up(&db.pool, 1000)
            .await
            .unwrap();
        if projections::queries::projection_status(&db.pool)
            .await
            .unwrap()
            .lag
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Setup {
        db,
        store,
        job,
        left,
        right,
    }
}

async fn event_types(pool: &sqlx::PgPool, id: Uuid) -> Vec<String> {
    commands::reading::aggregate_history(pool, &id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stores_results_and_records_its_outcome_once() {
    let s = setup(1000).await;
    assert!(
        worker::leases::try_claim(&s.db.pool, s.job, 1, "w1", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !worker::leases::try_claim(&s.db.pool, s.job, 1, "w2", Duration::from_secs(5))
            .await
            .unwrap(),
        "a live lease is exclusive"
    );
    let end = run_job(&s.db.pool, &s.store, s.job, 1, &settings("w1"))
        .await
        .unwrap();
    let RunEnd::Completed(counts) = end else {
        panic!("{end:?}")
    };
    assert_eq!(
        (
            counts.matched,
            counts.unmatched_left,
            counts.unmatched_right,
            counts.suggestions
        ),
        (990, 10, 10, 0)
    );

    // The same run again: the job is no longer running it; nothing is recorded twice.
    assert_eq!(
        run_job(&s.db.pool, &s.store, s.job, 1, &settings("w2"))
            .await
            .unwrap(),
        RunEnd::NotRunning
    );
    let events = event_types(&s.db.pool, s.job).await;
    assert_eq!(events.iter().filter(|t| *t == "JobCompleted").count(), 1);

    let history = commands::reading::aggregate_history(&s.db.pool, &s.job.to_string())
        .await
        .unwrap();
    let completed = history
        .iter()
        .find(|e| e.event_type == "JobCompleted")
        .unwrap();
    let manifest = &completed.payload["JobCompleted"]["manifest"];
    assert_eq!(manifest["left_records"], 1000);
    assert_eq!(manifest["rule_set_version"], 1);
    assert_eq!(manifest["results_sha256"].as_str().unwrap().len(), 64);
    let values = &completed.payload["JobCompleted"]["values"][0];
    assert_eq!(values["currency"], "EUR");
    assert!(
        values["unmatched_left"].as_str().is_some(),
        "values are exact decimal strings"
    );

    let page = results::page(
        &s.db.pool,
        s.job,
        1,
        ResultKind::Matches,
        &ResultFilter::default(),
        0,
        500,
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 500);
    let next = results::page(
        &s.db.pool,
        s.job,
        1,
        ResultKind::Matches,
        &ResultFilter::default(),
        page.next_cursor.unwrap(),
        500,
    )
    .await
    .unwrap();
    assert_eq!((next.items.len(), next.next_cursor), (490, None));
    assert_eq!(page.items[0]["amount_difference"], "-0.01");
    assert_eq!(page.items[0]["day_difference"].as_i64().unwrap().abs(), 1);
    let unmatched = results::page(
        &s.db.pool,
        s.job,
        1,
        ResultKind::Unmatched(domain::records::Side::Right),
        &ResultFilter::default(),
        0,
        50,
    )
    .await
    .unwrap();
    assert_eq!(unmatched.items.len(), 10);
    assert!(unmatched.items[0]["reference"]
        .as_str()
        .unwrap()
        .starts_with("LEDGERONLY"));
    let _ = (s.left, s.right);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_job_within_a_second_and_records_nothing() {
    let s = setup(300_000).await;
    assert!(
        worker::leases::try_claim(&s.db.pool, s.job, 1, "w1", Duration::from_secs(5))
            .await
            .unwrap()
    );
    let (pool, store, job) = (s.db.pool.clone(), s.store.clone(), s.job);
    let running =
        tokio::spawn(async move { run_job(&pool, &store, job, 1, &settings("w1")).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !running.is_finished(),
        "the run ended before it could be cancelled"
    );
    s.store
        .job(
            s.job,
            JobCommand::Cancel {
                expected_version: None,
                reason: Some("test".into()),
            },
            &meta(),
        )
        .await
        .unwrap();
    let cancelled_at = Instant::now();
    let end = running.await.unwrap().unwrap();
    let took = cancelled_at.elapsed();
    assert_eq!(end, RunEnd::Stopped);
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    let events = event_types(&s.db.pool, s.job).await;
    assert!(!events.contains(&"JobCompleted".to_string()), "{events:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM result_matches WHERE job_id = $1")
        .bind(s.job)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(
        s.store.load_job(s.job).await.unwrap().status,
        JobStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_loop_picks_up_a_run_whose_worker_died() {
    let s = setup(200).await;
    // A worker claimed run 1 and died: its lease has expired, nothing was finished.
    sqlx::query("INSERT INTO job_leases (job_id, run, worker_id, expires_at) VALUES ($1, 1, 'dead', now() - interval '1 second')")
        .bind(s.job)
        .execute(&s.db.pool)
        .await
        .unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let mut config = worker::WorkerConfig::new("alive".into());
    config.scan_every = Duration::from_millis(100);
    let loop_task = tokio::spawn(worker::run_worker(
        s.db.pool.clone(),
        s.store.clone(),
        config,
        shutdown,
    ));
    let started = Instant::now();
    loop {
        if s.store.load_job(s.job).await.unwrap().status == JobStatus::Completed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the orphaned run was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = event_types(&s.db.pool, s.job).await;
    assert_eq!(events.iter().filter(|t| *t == "JobCompleted").count(), 1);
    let history = commands::reading::aggregate_history(&s.db.pool, &s.job.to_string())
        .await
        .unwrap();
    let completed = history
        .iter()
        .find(|e| e.event_type == "JobCompleted")
        .unwrap();
    assert_eq!(completed.meta("actor"), Some("worker:alive"));
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), loop_task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_a_missing_source_fails_with_the_reason() {
    let s = setup(10).await;
    let project = s.store.load_job(s.job).await.unwrap().project_id.unwrap();
    let job = Uuid::new_v4();
    let missing = Uuid::new_v4();
    let definition = JobDefinition::parse("broken", s.left, missing, rule_set()).unwrap();
    s.store
        .create_job(project, job, definition, &meta())
        .await
        .unwrap();
    s.store
        .job(
            job,
            JobCommand::Start {
                expected_version: None,
            },
            &meta(),
        )
        .await
        .unwrap();
    assert!(
        worker::leases::try_claim(&s.db.pool, job, 1, "w1", Duration::from_secs(5))
            .await
            .unwrap()
    );
    let end = run_job(&s.db.pool, &s.store, job, 1, &settings("w1"))
        .await
        .unwrap();
    match end {
        RunEnd::Failed(reason) => assert!(reason.contains(&missing.to_string()), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.store.load_job(job).await.unwrap().status,
        JobStatus::Failed
    );
}
