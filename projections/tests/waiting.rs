//! Read-your-writes waits wake on the projectors' change notifications instead of polling:
//! with a fallback far longer than the test, a wait ends right after its event is applied,
//! having asked the database a couple of times (a 10 ms polling loop asked about 60 times in
//! 600 ms); without notifications the fallback still finds the event.
//!
//! The projector here is `catch_up`, repeated until it applies something: other tests' open
//! transactions on the same server can hold back the gap-safe read for a while.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use projections::queries::wait_until_applied;
use sqlx::postgres::PgListener;
use uuid::Uuid;

async fn project(store: &CommandStore) -> i64 {
    let id = Uuid::new_v4();
    let committed = store
        .project(
            id,
            ProjectCommand::Create {
                project_id: id,
                name: Name::parse("waited for").unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            },
            &CommandMetadata::system("test"),
        )
        .await
        .unwrap();
    committed.position.unwrap()
}

/// Projects after `delay`, repeating until something is applied; returns when the attempt
/// that applied it began (set before each attempt: the wait can end, woken by the commit,
/// before the attempt returns).
fn project_later(pool: sqlx::PgPool, delay: Duration) -> Arc<Mutex<Option<Instant>>> {
    let applied_at = Arc::new(Mutex::new(None));
    let mark = applied_at.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        loop {
            *mark.lock().unwrap() = Some(Instant::now());
            if projections::follower::catch_up(&pool, 1000).await.unwrap() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    applied_at
}

#[tokio::test]
async fn a_wait_wakes_on_the_change_notification_not_by_polling() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = CommandStore::new(db.pool.clone());
    let position = project(&store).await;

    // What an API process does: count the notifications it hears.
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let mut listener = PgListener::connect_with(&db.pool).await.unwrap();
    listener
        .listen(projections::changes::CHANNEL)
        .await
        .unwrap();
    tokio::spawn(async move {
        while listener.recv().await.is_ok() {
            tx.send_modify(|n| *n += 1);
        }
    });
    let applied_at = project_later(db.pool.clone(), Duration::from_millis(600));
    // A fallback longer than the whole wait: only the notification can end it early.
    let fallback = Duration::from_secs(20);
    let waited = wait_until_applied(&db.pool, position, Duration::from_secs(15), rx, fallback)
        .await
        .unwrap();
    let ended = Instant::now();
    assert_eq!(waited.applied, Some(true));
    let applied_at = applied_at.lock().unwrap().expect("applied");
    assert!(
        ended.duration_since(applied_at) < Duration::from_secs(1),
        "the wait ended {:?} after the apply: not woken by the notification",
        ended.duration_since(applied_at)
    );
    // The first check, and the one the notification woke.
    assert!(waited.checks <= 3, "{} checks", waited.checks);
}

#[tokio::test]
async fn without_notifications_the_fallback_still_finds_the_event() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = CommandStore::new(db.pool.clone());
    let position = project(&store).await;
    // Nobody listens: the receiver never changes.
    let (_tx, rx) = tokio::sync::watch::channel(0u64);
    project_later(db.pool.clone(), Duration::from_millis(300));
    let waited = wait_until_applied(
        &db.pool,
        position,
        Duration::from_secs(15),
        rx,
        Duration::from_millis(250),
    )
    .await
    .unwrap();
    assert_eq!(waited.applied, Some(true));

    // An event nobody applies: the wait gives up at its limit.
    let unapplied = project(&store).await;
    let started = Instant::now();
    let timed_out = wait_until_applied(
        &db.pool,
        unapplied,
        Duration::from_millis(100),
        tokio::sync::watch::channel(0u64).1,
        Duration::from_millis(250),
    )
    .await
    .unwrap();
    assert_eq!(timed_out.applied, Some(false));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let unknown = wait_until_applied(
        &db.pool,
        unapplied + 1000,
        Duration::from_millis(100),
        tokio::sync::watch::channel(0u64).1,
        Duration::from_millis(250),
    )
    .await
    .unwrap();
    assert_eq!(unknown.applied, None, "no event has that position");
}
