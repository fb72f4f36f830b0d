//! Read-your-writes waits wake on the projectors' change notifications instead of polling: a
//! wait for an event applied 600 ms later asks the database a handful of times (a 10 ms polling
//! loop asked about 60), and still finds it when no notification comes.

use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use projections::queries::{wait_until_applied, WAIT_FALLBACK};
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
    let pool = db.pool.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        projections::follower::catch_up(&pool, 1000).await.unwrap();
    });
    let started = Instant::now();
    let waited = wait_until_applied(&db.pool, position, Duration::from_secs(5), rx)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(waited.applied, Some(true));
    assert!(took >= Duration::from_millis(600), "{took:?}");
    // 600 ms of waiting: the first check, the fallback's at 250 and 500 ms, then the one the
    // notification wakes (a 10 ms polling loop made about 60). Without the notification the
    // next check would come at 750 ms.
    assert!(waited.checks <= 4, "{} checks", waited.checks);
    assert!(
        took < Duration::from_millis(700),
        "{took:?}: woken by the notification, not by the fallback at 750 ms"
    );
    assert_eq!(WAIT_FALLBACK, Duration::from_millis(250));
}

#[tokio::test]
async fn without_notifications_the_fallback_still_finds_the_event() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let store = CommandStore::new(db.pool.clone());
    let position = project(&store).await;
    // Nobody listens: the receiver never changes.
    let (_tx, rx) = tokio::sync::watch::channel(0u64);
    let pool = db.pool.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        projections::follower::catch_up(&pool, 1000).await.unwrap();
    });
    let waited = wait_until_applied(&db.pool, position, Duration::from_secs(5), rx)
        .await
        .unwrap();
    assert_eq!(waited.applied, Some(true));
    assert!(waited.checks <= 4, "{} checks", waited.checks);

    // An event nobody applies: the wait gives up at its limit.
    let unapplied = project(&store).await;
    let started = Instant::now();
    let timed_out = wait_until_applied(
        &db.pool,
        unapplied,
        Duration::from_millis(100),
        tokio::sync::watch::channel(0u64).1,
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
    )
    .await
    .unwrap();
    assert_eq!(unknown.applied, None, "no event has that position");
}
