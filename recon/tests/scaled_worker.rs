//! Scaled-out job runs: `recon relay`, `recon project` and two `recon worker` processes over
//! Kafka. The worker running a job is killed with SIGKILL mid-run; the other one takes the run
//! over when the lease lapses, and the outcome is recorded exactly once.

mod support;

use std::time::{Duration, Instant};

use commands::CommandStore;
use domain::job::JobCommand;
use domain::JobStatus;
use support::{eventually, meta, seed_job, Pipeline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_taken_over_and_completed_once() {
    let pipeline = Pipeline::new().await;
    let pool = pipeline.db.pool.clone();
    let store = CommandStore::new(pool.clone());
    let job = seed_job(&store, &pool, 400_000).await;

    let mut relay = pipeline.spawn("relay", "relay");
    let mut projector = pipeline.spawn("project", "project");
    let mut worker_a = pipeline.spawn("worker", "worker-a");
    let mut worker_b = pipeline.spawn("worker", "worker-b");
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

    // Whoever claims the run dies mid-run.
    let started = Instant::now();
    let claimed = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT worker_id FROM job_leases WHERE job_id = $1")
                .bind(job)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    };
    let holder: String = eventually(
        Duration::from_secs(90),
        Duration::from_millis(20),
        claimed,
        || format!("no worker claimed the run:\n{}", pipeline.log("worker-a")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.load_job(job).await.unwrap().status,
        JobStatus::Running,
        "the run finished before the kill"
    );
    let (victim, survivor) = if holder == "worker-a" {
        (&mut worker_a, "worker-b")
    } else {
        (&mut worker_b, "worker-a")
    };
    victim.kill();

    let finished = loop {
        let state = store.load_job(job).await.unwrap();
        if state.status != JobStatus::Running {
            break state;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run was not taken over:\n{}",
            pipeline.log(survivor)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        finished.status,
        JobStatus::Completed,
        "{:?}",
        finished.failure_reason
    );
    assert_eq!(finished.counts.unwrap().matched, 400_000);
    let history = commands::reading::aggregate_history(&pool, &job.to_string())
        .await
        .unwrap();
    let completions: Vec<_> = history
        .iter()
        .filter(|e| e.event_type == "JobCompleted")
        .collect();
    assert_eq!(completions.len(), 1);
    assert_eq!(
        completions[0].meta("actor"),
        Some(format!("worker:{survivor}").as_str())
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM result_matches WHERE job_id = $1")
        .bind(job)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 400_000, "results are stored once");
    for child in [&mut relay, &mut projector, &mut worker_a, &mut worker_b] {
        child.kill();
    }
}
