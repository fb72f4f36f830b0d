//! `Idempotency-Key` through the real API: replays, a reused key with another body, keys per
//! user, and 100 concurrent identical requests of which exactly one executes.

mod support;

use actix_web::http::StatusCode;
use serde_json::json;
use support::*;

fn project(name: &str) -> String {
    json!({"name": name, "base_currency": "EUR"}).to_string()
}

async fn csv_source(app: &TestApp, project: &str) -> String {
    let source = app
        .post(&format!("/api/v1/projects/{project}/sources"), json!({"name": "csv", "settings": {"format": "csv",
            "mapping": {"booking_date": "date", "amount": "amount", "fixed_currency": "EUR", "reference": "ref"}}}))
        .await;
    assert_eq!(source.status, StatusCode::CREATED, "{:?}", source.body);
    source.body["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_retry_with_the_same_key_gets_the_first_answer_and_executes_nothing() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "create-1")];
    let first = app
        .send("POST", "/api/v1/projects", Some(&project("A")), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = app
        .send("POST", "/api/v1/projects", Some(&project("A")), &key)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    let pos = first.body["position"].as_i64().unwrap();
    let listed = app
        .get(&format!("/api/v1/projects?wait_for_position={pos}"))
        .await;
    assert_eq!(listed.body["total"], 1, "the retry created nothing");

    // The same key with another body is a client error, not a silent replay.
    let other = app
        .send("POST", "/api/v1/projects", Some(&project("B")), &key)
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        other.body["type"],
        "https://recon.dev/problems/idempotency-key-reused"
    );

    // A refusal is an answer too: replayed, not re-run.
    let id = first.body["id"].as_str().unwrap();
    let archive_key = [("idempotency-key", "archive-1"), ("if-match", "\"9\"")];
    let stale = app
        .send(
            "POST",
            &format!("/api/v1/projects/{id}/archive"),
            None,
            &archive_key,
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let replayed = app
        .send(
            "POST",
            &format!("/api/v1/projects/{id}/archive"),
            None,
            &archive_key,
        )
        .await;
    assert_eq!(
        (replayed.status, replayed.header("idempotent-replayed")),
        (StatusCode::CONFLICT, Some("true"))
    );
    assert_eq!(
        replayed.header("content-type"),
        Some("application/problem+json")
    );
}

#[actix_web::test]
async fn keys_are_per_user_and_malformed_keys_are_refused() {
    let app = spawn_app().await;
    let (_, operator) = app.user("op@example.com", "operator").await;
    let key = [("idempotency-key", "same-key")];
    let by_admin = app
        .send("POST", "/api/v1/projects", Some(&project("A")), &key)
        .await;
    let by_operator = app
        .send_as(
            Some(&operator),
            "POST",
            "/api/v1/projects",
            Some(&project("A")),
            &key,
        )
        .await;
    assert_eq!(
        (by_admin.status, by_operator.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(by_admin.body["id"], by_operator.body["id"]);
    assert_eq!(by_operator.header("idempotent-replayed"), None);

    let long = "k".repeat(256);
    for bad in [long.as_str(), "has space", ""] {
        let a = app
            .send(
                "POST",
                "/api/v1/projects",
                Some(&project("C")),
                &[("idempotency-key", bad)],
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad:?}: {:?}", a.body);
    }
    // Reads ignore the header.
    let read = app
        .send("GET", "/api/v1/projects", None, &[("idempotency-key", "r")])
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[actix_web::test]
async fn an_upload_retried_with_its_key_is_answered_from_the_first() {
    let app = spawn_app().await;
    let (p, _) = app.create_project("uploads").await;
    let source = csv_source(&app, &p).await;
    let file = "date,amount,ref\n2026-01-01,1.00,A\n2026-01-02,2.00,B\n";
    let path = format!("/api/v1/sources/{source}/files?file_name=a.csv");
    let key = [("idempotency-key", "upload-1")];
    let first = app.send("POST", &path, Some(file), &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = app.send("POST", &path, Some(file), &key).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let events = app.get(&format!("/api/v1/sources/{source}/events")).await;
    assert_eq!(
        events.body["events"].as_array().unwrap().len(),
        2,
        "created + one import"
    );
}

#[actix_web::test]
async fn of_a_hundred_concurrent_identical_requests_exactly_one_executes() {
    let app = spawn_app().await;
    let (p, _) = app.create_project("burst").await;
    let source = csv_source(&app, &p).await;
    // An upload large enough to take a while, so that the others arrive while it runs.
    let mut file = String::from("date,amount,ref\n");
    for i in 0..20_000 {
        file.push_str(&format!(
            "2026-01-{:02},{}.{:02},INV-{i}\n",
            1 + i % 28,
            i,
            i % 100
        ));
    }
    let path = format!("/api/v1/sources/{source}/files?file_name=big.csv");
    // Open the connections first, so the burst arrives at once.
    futures::future::join_all((0..100).map(|_| app.get("/health"))).await;
    let key = [("idempotency-key", "burst")];
    let requests = (0..100).map(|_| app.send("POST", &path, Some(&file), &key));
    let answers = futures::future::join_all(requests).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .collect();
    let in_flight = answers
        .iter()
        .filter(|a| a.status == StatusCode::CONFLICT)
        .inspect(|a| {
            assert_eq!(
                a.body["type"],
                "https://recon.dev/problems/idempotency-key-in-use"
            );
            assert_eq!(a.header("retry-after"), Some("1"));
        })
        .count();
    assert_eq!(created.len() + in_flight, 100, "only 201 and 409");
    // The race happened: requests arrived while the first was still running.
    assert!(
        in_flight > 0,
        "no request overlapped the first; the test proved nothing"
    );
    let executed: Vec<_> = created
        .iter()
        .filter(|a| a.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(executed.len(), 1, "exactly one request ran the command");
    assert_eq!(executed[0].body["import"]["records_added"], 20_000);
    let events = app.get(&format!("/api/v1/sources/{source}/events")).await;
    let imports = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "SourceFileImported")
        .count();
    assert_eq!(imports, 1, "one import in the store");
}
