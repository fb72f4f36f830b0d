//! An event the read models cannot apply is parked, with its reason, and the events after it
//! (of its aggregate and of others) are applied; with `stop`, the projection stops at it.

use commands::{CommandMetadata, CommandStore};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use projections::follower::catch_up_with;
use projections::parking::OnFailure;
use uuid::Uuid;

async fn create_project(store: &CommandStore, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    store
        .project(
            id,
            ProjectCommand::Create {
                project_id: id,
                name: Name::parse(name).unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            },
            &CommandMetadata::system("test"),
        )
        .await
        .unwrap();
    id
}

/// An event whose payload no longer decodes, written as a faulty release (or a hand-edit)
/// might have.
async fn poison(pool: &sqlx::PgPool, aggregate: Uuid, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('project', $1, $2, 'ProjectCreated', '1', '{\"ProjectCreated\": {\"nonsense\": true}}', '{}')",
    )
    .bind(aggregate.to_string())
    .bind(sequence)
    .execute(pool)
    .await
    .unwrap();
}

/// Projects (with `on_failure`) until `done` holds for the read models' project names:
/// other tests' open transactions on the same server can hold back the gap-safe read for a
/// while. Returns the events applied, or the first error.
async fn project_until(
    pool: &sqlx::PgPool,
    on_failure: OnFailure,
    done: impl Fn(&[String]) -> bool,
) -> Result<usize, projections::ProjectionError> {
    let started = std::time::Instant::now();
    let mut applied = 0;
    loop {
        applied += catch_up_with(pool, 1000, on_failure).await?;
        if done(&names(pool).await) {
            return Ok(applied);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never got there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn names(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM rm_projects ORDER BY name")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_that_cannot_be_applied_is_parked_and_the_rest_goes_on() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = CommandStore::new(db.pool.clone());
    create_project(&store, "before").await;
    let broken = Uuid::new_v4();
    poison(&db.pool, broken, 1).await;
    create_project(&store, "after").await;

    let applied = project_until(&db.pool, OnFailure::Park, |n| n == ["after", "before"])
        .await
        .unwrap();
    assert_eq!(applied, 2);
    let (aggregate, reason): (String, String) = sqlx::query_as(
        "SELECT aggregate_id, reason FROM projection_parked_events WHERE projection = 'read_models'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(aggregate, broken.to_string());
    assert!(reason.contains("decoded"), "{reason}");
    let status = projections::queries::projection_status(&db.pool)
        .await
        .unwrap();
    assert_eq!((status.lag, status.parked_events), (0, 1), "{status:?}");

    // Applying again changes nothing (the parked event counts as passed).
    assert_eq!(
        catch_up_with(&db.pool, 1000, OnFailure::Park)
            .await
            .unwrap(),
        0
    );
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_parked_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(parked, 1);
}

#[tokio::test]
async fn with_stop_the_projection_stops_at_the_event() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = CommandStore::new(db.pool.clone());
    create_project(&store, "before").await;
    project_until(&db.pool, OnFailure::Stop, |n| n == ["before"])
        .await
        .unwrap();
    poison(&db.pool, Uuid::new_v4(), 1).await;
    create_project(&store, "after").await;
    // Until the poison event is readable, catching up applies nothing and goes on.
    let stopped = project_until(&db.pool, OnFailure::Stop, |_| false).await;
    assert!(
        matches!(
            stopped,
            Err(projections::ProjectionError::Undecodable { .. })
        ),
        "{stopped:?}"
    );
    assert_eq!(names(&db.pool).await, ["before"], "nothing after the event");
    let status = projections::queries::projection_status(&db.pool)
        .await
        .unwrap();
    assert_eq!((status.lag, status.parked_events), (2, 0));
}
