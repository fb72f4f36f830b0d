//! Black-box API tests: the real server on a random port, a fresh database per test, the
//! embedded projector following the store.

mod support;

use actix_web::http::StatusCode;
use serde_json::json;
use support::*;

#[actix_web::test]
async fn health_and_ready() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    let ready = app.get("/ready").await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[actix_web::test]
async fn project_lifecycle_reads_its_own_writes() {
    let app = spawn_app().await;
    let created = app
        .send(
            "POST",
            "/api/v1/projects",
            Some(r#"{"name": " Bank vs ledger ", "description": "daily", "base_currency": "eur"}"#),
            &[("x-request-id", "req-42"), ("x-actor", "alice")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("x-request-id"), Some("req-42"));
    // Created, and its creator made its first member.
    assert_eq!(created.header("etag"), Some("\"2\""));
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location").unwrap(),
        format!("/api/v1/projects/{id}")
    );
    let position = created.body["position"].as_i64().unwrap();

    let got = app
        .get(&format!(
            "/api/v1/projects/{id}?wait_for_position={position}"
        ))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("recon-consistency"), Some("reached"));
    assert_eq!(got.body["name"], "Bank vs ledger");
    assert_eq!(got.body["base_currency"], "EUR");
    assert_eq!(got.body["status"], "active");

    let updated = app
        .send(
            "PUT",
            &format!("/api/v1/projects/{id}"),
            Some(r#"{"name": "Renamed", "description": ""}"#),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(
        (updated.status, updated.body["version"].as_i64()),
        (StatusCode::OK, Some(3))
    );

    let stale = app
        .send(
            "PUT",
            &format!("/api/v1/projects/{id}"),
            Some(r#"{"name": "Again"}"#),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(
        stale.header("content-type"),
        Some("application/problem+json")
    );
    assert!(stale.body["detail"].as_str().unwrap().contains("version"));

    let archived = app
        .post(&format!("/api/v1/projects/{id}/archive"), json!({}))
        .await;
    assert_eq!(archived.status, StatusCode::OK);
    let p = archived.body["position"].as_i64().unwrap();
    let list = app
        .get(&format!(
            "/api/v1/projects?status=archived&wait_for_position={p}"
        ))
        .await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["name"], "Renamed");
    assert_eq!(list.body["items"][0]["version"], 4);

    let again = app
        .post(&format!("/api/v1/projects/{id}/archive"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let history = app.get(&format!("/api/v1/projects/{id}/events")).await;
    let events = history.body["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ProjectCreated",
            "ProjectMemberAdded",
            "ProjectUpdated",
            "ProjectArchived"
        ]
    );
    // The actor is the signed-in user; an `X-Actor` header is ignored.
    assert_eq!(events[0]["actor"], app.admin_id.as_str());
    assert_eq!(
        events[1]["payload"]["ProjectMemberAdded"]["user_id"],
        app.admin_id.as_str()
    );
    assert_eq!(events[0]["metadata"]["request_id"], "req-42");
}

#[actix_web::test]
async fn job_lifecycle_and_dashboard() {
    let app = spawn_app().await;
    let (project, _) = app.create_project("P").await;
    let sources = app.create_sources(&project).await;
    let (job, _) = app.create_job(&project, "nightly", &sources).await;
    let (other, _) = app.create_job(&project, "weekly", &sources).await;

    let put = app
        .send(
            "PUT",
            &format!("/api/v1/jobs/{job}"),
            Some(&job_body("nightly v2", &sources).to_string()),
            &[],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let start = app
        .post(&format!("/api/v1/jobs/{job}/start"), json!({}))
        .await;
    assert_eq!(start.status, StatusCode::OK);
    let put_running = app
        .send(
            "PUT",
            &format!("/api/v1/jobs/{job}"),
            Some(&job_body("x", &sources).to_string()),
            &[],
        )
        .await;
    assert_eq!(put_running.status, StatusCode::CONFLICT);
    let delete_running = app
        .send("DELETE", &format!("/api/v1/jobs/{job}"), None, &[])
        .await;
    assert_eq!(delete_running.status, StatusCode::CONFLICT);
    let cancel = app
        .post(
            &format!("/api/v1/jobs/{job}/cancel"),
            json!({"reason": "wrong files"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    let deleted = app
        .send("DELETE", &format!("/api/v1/jobs/{other}"), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let start_deleted = app
        .post(&format!("/api/v1/jobs/{other}/start"), json!({}))
        .await;
    assert_eq!(start_deleted.status, StatusCode::CONFLICT);
    // Read-your-writes is per event: wait for each of the two jobs' last events.
    let cancelled_at = cancel.body["position"].as_i64().unwrap();
    let deleted_at = deleted.body["position"].as_i64().unwrap();
    let job_view = app
        .get(&format!(
            "/api/v1/jobs/{job}?wait_for_position={cancelled_at}"
        ))
        .await;
    assert_eq!(job_view.header("recon-consistency"), Some("reached"));
    let dash = app
        .get(&format!(
            "/api/v1/dashboard/summary?wait_for_position={deleted_at}"
        ))
        .await;
    assert_eq!(dash.header("recon-consistency"), Some("reached"));
    assert_eq!(dash.body["projects"]["total"], 1);
    assert_eq!(dash.body["jobs"]["total"], 2);
    assert_eq!(dash.body["jobs"]["by_status"]["cancelled"], 1);
    assert_eq!(dash.body["jobs"]["by_status"]["deleted"], 1);
    assert_eq!(dash.body["jobs"]["by_status"]["created"], 0);
    assert_eq!(dash.body["jobs"]["by_status"]["running"], 0);

    let got = app.get(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(got.body["name"], "nightly v2");
    assert_eq!(got.body["status"], "cancelled");
    assert_eq!(got.body["cancel_reason"], "wrong files");
    assert_eq!(got.header("etag"), Some("\"4\""));

    let listed = app
        .get(&format!("/api/v1/projects/{project}/jobs?status=deleted"))
        .await;
    assert_eq!(listed.body["total"], 1);
    let all = app.get("/api/v1/jobs?limit=1").await;
    assert_eq!(
        (
            all.body["total"].as_i64(),
            all.body["items"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );

    let history = app.get(&format!("/api/v1/jobs/{job}/events")).await;
    assert_eq!(history.body["events"].as_array().unwrap().len(), 4);
    let lag = app.get("/api/v1/projections/status").await;
    assert_eq!(
        lag.body["events_in_store"], 11,
        "the admin, 1 project (created, member added), 2 sources, 6 job events"
    );
}

#[actix_web::test]
async fn bad_input_gets_the_right_problem() {
    let app = spawn_app().await;
    let malformed = app
        .send("POST", "/api/v1/projects", Some("{not json"), &[])
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.header("content-type"),
        Some("application/problem+json")
    );

    let invalid = app
        .post(
            "/api/v1/projects",
            json!({"name": "  ", "base_currency": "EURO"}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["name", "base_currency"]);

    let missing = app.post("/api/v1/projects", json!({"name": "x"})).await;
    assert_eq!(
        (missing.status, missing.body["errors"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("base_currency"))
    );

    let (project, _) = app.create_project("P").await;
    let bad_job = app
        .post(&format!("/api/v1/projects/{project}/jobs"), json!({"name": "j", "left_source_id": "nope", "right_source_id": "00000000-0000-0000-0000-00000000000b", "rule_set": {}}))
        .await;
    assert_eq!(
        (bad_job.status, bad_job.body["errors"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("left_source_id"))
    );
    let same_sources = app
        .post(&format!("/api/v1/projects/{project}/jobs"), json!({"name": "j", "left_source_id": "00000000-0000-0000-0000-00000000000b", "right_source_id": "00000000-0000-0000-0000-00000000000b", "rule_set": []}))
        .await;
    let paths: Vec<&str> = same_sources.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "right_source_id",
            "rule_set",
            "left_source_id",
            "right_source_id"
        ]
    );
    let sources = app.create_sources(&project).await;
    let bad_rules = app
        .post(&format!("/api/v1/projects/{project}/jobs"), json!({"name": "j", "left_source_id": sources.0, "right_source_id": sources.1,
            "rule_set": {"version": 1, "passes": [{"name": "p", "cardinality": "one_to_one", "reference": {"extract": "("}}]}}))
        .await;
    assert_eq!(bad_rules.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_rules.body["errors"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("rule_set.passes[0].reference.extract"),
        "{:?}",
        bad_rules.body
    );

    let unknown = "00000000-0000-0000-0000-000000000999";
    assert_eq!(
        app.get(&format!("/api/v1/projects/{unknown}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/projects/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{unknown}/start"), json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/projects/{unknown}/jobs"),
            job_body("j", &fake_sources())
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/api/v1/projects/{unknown}/archive"), json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{unknown}/events"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let bad_if_match = app
        .send(
            "POST",
            &format!("/api/v1/projects/{project}/archive"),
            None,
            &[("if-match", "soon")],
        )
        .await;
    assert_eq!(bad_if_match.status, StatusCode::BAD_REQUEST);
    let big_page = app.get("/api/v1/projects?limit=501").await;
    assert_eq!(
        (big_page.status, big_page.body["errors"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );
    let bad_status = app.get("/api/v1/jobs?status=done").await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown_position = app.get("/api/v1/projects?wait_for_position=999999").await;
    assert_eq!(
        (
            unknown_position.status,
            unknown_position.body["errors"][0]["path"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wait_for_position"))
    );

    // A file with text PostgreSQL cannot store is the file's fault: 422, nothing stored.
    let csv_source = app
        .post(&format!("/api/v1/projects/{project}/sources"), json!({"name": "csv", "settings": {"format": "csv",
            "mapping": {"booking_date": "date", "amount": "amount", "fixed_currency": "EUR", "reference": "ref"}}}))
        .await;
    let csv_source = csv_source.body["id"].as_str().unwrap().to_string();
    let nul = app
        .send(
            "POST",
            &format!("/api/v1/sources/{csv_source}/files"),
            Some("date,amount,ref\n2026-01-01,1.00,A\u{0}B\n"),
            &[],
        )
        .await;
    assert_eq!(
        nul.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        nul.body
    );
    let bad_policy = app
        .send(
            "POST",
            &format!("/api/v1/sources/{csv_source}/files?on_error=maybe"),
            Some("x"),
            &[],
        )
        .await;
    assert_eq!(
        (
            bad_policy.status,
            bad_policy.body["errors"][0]["path"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("on_error"))
    );

    // Archived projects take no new jobs and no more data.
    app.post(&format!("/api/v1/projects/{project}/archive"), json!({}))
        .await;
    let upload_archived = app
        .send(
            "POST",
            &format!("/api/v1/sources/{csv_source}/files"),
            Some("date,amount,ref\n2026-01-01,1.00,A\n"),
            &[],
        )
        .await;
    assert_eq!(upload_archived.status, StatusCode::CONFLICT);
    assert_eq!(
        app.post(
            &format!("/api/v1/projects/{project}/jobs"),
            job_body("j", &fake_sources())
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    let too_big = "x".repeat(api::MAX_BODY_BYTES + 10);
    let huge = app
        .send("POST", "/api/v1/projects", Some(&too_big), &[])
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.header("content-type"),
        Some("application/problem+json")
    );
    let no_route = app.get("/api/v1/nothing-here").await;
    assert_eq!(
        (no_route.status, no_route.header("content-type")),
        (StatusCode::NOT_FOUND, Some("application/problem+json"))
    );
    let wrong_method = app.send("DELETE", "/api/v1/projects", None, &[]).await;
    assert_eq!(
        (
            wrong_method.status.as_u16(),
            wrong_method.header("content-type")
        ),
        (405, Some("application/problem+json"))
    );
}

#[actix_web::test]
async fn a_read_whose_etag_the_client_has_is_not_modified() {
    let app = spawn_app().await;
    let (id, position) = app.create_project("conditional").await;
    let path = format!("/api/v1/projects/{id}?wait_for_position={position}");
    let first = app.get(&path).await;
    let etag = first.header("etag").unwrap().to_string();
    assert_eq!(etag, "\"2\"");
    let same = app
        .send("GET", &path, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(same.body, serde_json::Value::Null);
    let weak = app
        .send("GET", &path, None, &[("if-none-match", "W/\"2\"")])
        .await;
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);
    // After a change the old tag no longer matches.
    let renamed = app
        .send(
            "PUT",
            &format!("/api/v1/projects/{id}"),
            Some(r#"{"name": "renamed"}"#),
            &[],
        )
        .await;
    let p = renamed.body["position"].as_i64().unwrap();
    let changed = app
        .send(
            "GET",
            &format!("/api/v1/projects/{id}?wait_for_position={p}"),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.header("etag"), Some("\"3\""));
    assert_eq!(changed.body["name"], "renamed");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_template_and_report_the_pool_and_lag() {
    let app = spawn_app().await;
    let (id, position) = app.create_project("metered").await;
    app.get(&format!(
        "/api/v1/projects/{id}?wait_for_position={position}"
    ))
    .await;
    app.login(ADMIN_EMAIL, "not the password").await;
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let text = String::from_utf8(res.to_vec()).unwrap();
    for expected in [
        r#"recon_http_requests_total{method="POST",route="/api/v1/projects",status="201"} 1"#,
        r#"recon_http_requests_total{method="GET",route="/api/v1/projects/{id}",status="200"} 1"#,
        r#"recon_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1"#,
        "recon_http_request_duration_seconds_bucket",
        r#"recon_db_pool_connections{state="idle"}"#,
        r#"recon_projection{measure="lag_events"}"#,
        "recon_rate_limit_refusals_total 0",
        "recon_logins_failed_total 1",
        r#"recon_read_cache_total{outcome="bypass",resource="project"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(!text.contains(&id), "ids must not become label values");
}

/// A read that takes longer than the limit is stopped with 503 and `Retry-After`; commands are
/// never cut off (one stopped between its append and its answer would leave the client
/// guessing and its Idempotency-Key claimed).
#[actix_web::test]
async fn a_read_over_the_time_limit_is_stopped_with_503_and_commands_are_not() {
    let mut app = spawn_app_tweaked(
        None,
        Vec::new(),
        Box::new(|state| state.request_timeout = std::time::Duration::from_millis(300)),
    )
    .await;
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    app.admin_token = session.body["access_token"].as_str().unwrap().to_string();
    // The dashboard's table and the event store locked as a superuser would: reads and
    // appends block until the lock goes.
    let mut lock = sqlx::postgres::PgConnection::connect(&app.db_url)
        .await
        .unwrap();
    use sqlx::Connection;
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE rm_dashboard_counters, events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let read = app.get("/api/v1/dashboard/summary").await;
    assert_eq!(
        read.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        read.body
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(read.header("retry-after"), Some("1"));
    assert_eq!(
        read.header("content-type"),
        Some("application/problem+json")
    );
    // A command waiting on the same lock, longer than the limit, runs to its end once the
    // lock goes.
    let key = [("idempotency-key", "timeout-test")];
    let body = json!({"name": "slow", "base_currency": "EUR"}).to_string();
    let command = app.send("POST", "/api/v1/projects", Some(&body), &key);
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    };
    let started = std::time::Instant::now();
    let (created, ()) = futures::join!(command, release);
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert!(
        started.elapsed() > std::time::Duration::from_millis(700),
        "the command did wait"
    );
    let again = app
        .send("POST", "/api/v1/projects", Some(&body), &key)
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["id"], created.body["id"]);
}

/// Serialization failures and deadlocks pass with a retry: they are 503 with `Retry-After`,
/// not 500, whether they come from a query or from an append. The errors are PostgreSQL's own
/// (raised with their SQLSTATE), mapped as the handlers map them.
#[actix_web::test]
async fn serialization_failures_and_deadlocks_are_503_with_retry_after() {
    let db = testkit::fresh_database().await;
    for code in ["40001", "40P01"] {
        let err = sqlx::query(&format!(
            "DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{code}'; END $$"
        ))
        .execute(&db.pool)
        .await
        .unwrap_err();
        assert!(commands::repository::is_transient(&err), "{code}");
        let problem = api::problem::Problem::from(err);
        assert_eq!(
            (problem.status, problem.retry_after),
            (503, Some(1)),
            "{code}"
        );
    }
    let other = sqlx::query("SELECT 1/0")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(!commands::repository::is_transient(&other));
    assert_eq!(api::problem::Problem::from(other).status, 500);
}
