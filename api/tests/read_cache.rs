//! Hot reads through the read cache: a repeated read is a hit, a change announced by the
//! projector invalidates it well before the entries' time to live, and a read that waits for
//! its own write is never answered from the cache, however soon after the write it comes.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

async fn cache_count(app: &TestApp, resource: &str, outcome: &str) -> u64 {
    let mut res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let series = format!(r#"recon_read_cache_total{{outcome="{outcome}",resource="{resource}"}} "#);
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Reads `path` until `done` holds for its body, for at most `limit`.
async fn read_until(
    app: &TestApp,
    path: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let a = app.get(path).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        if done(&a.body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still stale after {limit:?}: {:?}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn a_repeated_read_is_a_hit_and_a_projected_change_invalidates_it() {
    let app = spawn_app().await;
    let (id, position) = app.create_project("cached").await;
    let path = format!("/api/v1/projects/{id}");
    let fresh = app
        .get(&format!("{path}?wait_for_position={position}"))
        .await;
    assert_eq!(fresh.status, 200);

    // The listener may still be connecting: read until one read is kept and the next one hits.
    let started = Instant::now();
    while cache_count(&app, "project", "hit").await == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "no cache hit");
        let a = app.get(&path).await;
        assert_eq!(a.body, fresh.body);
    }
    let hit = app.get(&path).await;
    assert_eq!(hit.body, fresh.body, "a hit answers what was read");
    assert_eq!(hit.header("etag"), fresh.header("etag"));
    let conditional = app
        .send(
            "GET",
            &path,
            None,
            &[("if-none-match", hit.header("etag").unwrap())],
        )
        .await;
    assert_eq!(conditional.status, 304);

    let renamed = app
        .send(
            "PUT",
            &path,
            Some(&json!({"name": "renamed"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    // Invalidated by the projector's notification, long before the 10 s time to live.
    let took = read_until(&app, &path, Duration::from_secs(3), |b| {
        b["name"] == "renamed"
    })
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A read of one's own write refreshes the cache: a plain read after it does not go back.
    let again = app
        .send(
            "PUT",
            &path,
            Some(&json!({"name": "again"}).to_string()),
            &[],
        )
        .await;
    let position = again.body["position"].as_i64().unwrap();
    let own = app
        .get(&format!("{path}?wait_for_position={position}"))
        .await;
    assert_eq!(own.body["name"], "again");
    let plain = app.get(&path).await;
    assert_eq!(
        plain.body["name"], "again",
        "a plain read after one's own went back in time"
    );
}

#[actix_web::test]
async fn a_read_of_ones_own_write_is_never_answered_from_the_cache() {
    let app = spawn_app().await;
    let (id, _) = app.create_project("raced").await;
    let path = format!("/api/v1/projects/{id}");
    for round in 0..30 {
        // Keep an entry, so that a hit would be stale...
        app.get(&path).await;
        app.get(&path).await;
        let name = format!("name {round}");
        let changed = app
            .send("PUT", &path, Some(&json!({"name": name}).to_string()), &[])
            .await;
        assert_eq!(changed.status, 200, "{:?}", changed.body);
        let position = changed.body["position"].as_i64().unwrap();
        // ...and read the write at once: the answer must include it.
        let read = app
            .get(&format!("{path}?wait_for_position={position}"))
            .await;
        assert_eq!(read.header("recon-consistency"), Some("reached"));
        assert_eq!(read.body["name"], name.as_str(), "round {round}");
    }
    assert!(cache_count(&app, "project", "bypass").await >= 30);
    assert!(
        cache_count(&app, "project", "hit").await > 0,
        "the reads between the writes hit: the race was there to lose"
    );
}

#[actix_web::test]
async fn the_dashboard_is_cached_with_an_etag_that_changes_with_it() {
    let app = spawn_app().await;
    let (_, position) = app.create_project("one").await;
    let path = "/api/v1/dashboard/summary";
    let first = app
        .get(&format!("{path}?wait_for_position={position}"))
        .await;
    let etag = first.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let again = app.get(path).await;
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let not_modified = app
        .send("GET", path, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(not_modified.status, 304);

    let before = first.body["projects"]["total"].as_i64().unwrap();
    app.create_project("two").await;
    read_until(&app, path, Duration::from_secs(3), |b| {
        b["projects"]["total"].as_i64() == Some(before + 1)
    })
    .await;
    let changed = app.get(path).await;
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}
