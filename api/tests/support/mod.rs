//! Shared by the API tests: the real server on a random port, a fresh database per test, the
//! embedded projector following the store, and one admin signed in.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web;
use commands::CommandStore;
use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    pub client: awc::Client,
    /// An access token of the admin the app was started with.
    pub admin_token: String,
    pub admin_id: String,
    /// The app's database, for tests that reach past the API.
    pub db_url: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "a long enough password";

pub struct Answer {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Starts the app on its own thread and multi-threaded Tokio runtime (as `recon` runs it), so
/// nothing of it is dropped by the test's actix System on teardown.
/// Starts the app with one admin, created as `recon users create` does, and signs them in.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

/// Request limits for an app, made from the id of its admin.
pub type Limits = Box<dyn FnOnce(uuid::Uuid) -> api::rate_limit::RateLimits + Send>;

/// The same, with request limits.
pub async fn spawn_app_with(limits: Option<Limits>) -> TestApp {
    spawn_app_configured(limits, Vec::new()).await
}

/// The same, with request limits and CORS origins.
pub async fn spawn_app_configured(limits: Option<Limits>, cors_origins: Vec<String>) -> TestApp {
    let mut app = spawn_app_tweaked(limits, cors_origins, Box::new(|_| {})).await;
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    app.admin_token = session.body["access_token"].as_str().unwrap().to_string();
    app.admin_id = session.body["user_id"].as_str().unwrap().to_string();
    app
}

/// Changes to the app's state before it serves.
pub type Tweak = Box<dyn FnOnce(&mut api::AppState) + Send>;

/// The same, with request limits, CORS origins and a change to the app's state; nobody is
/// signed in yet (`admin_token` is empty).
pub async fn spawn_app_tweaked(
    limits: Option<Limits>,
    cors_origins: Vec<String>,
    tweak: Tweak,
) -> TestApp {
    let (ready, port) = std::sync::mpsc::channel();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let db = testkit::fresh_database().await;
            commands::migrations::migrate(&db.pool).await.unwrap();
            let store = Arc::new(CommandStore::new(db.pool.clone()));
            let tokens = Arc::new(
                application::identity::AccessTokens::load(&db.pool, None)
                    .await
                    .unwrap(),
            );
            let identity = application::Identity::new(store.clone(), tokens.clone());
            let admin =
                application::identity::NewUser::parse(ADMIN_EMAIL, "admin", PASSWORD.into())
                    .unwrap();
            let admin_id = identity
                .create_user(admin, &commands::CommandMetadata::system("test"))
                .await
                .unwrap()
                .id;
            tokio::spawn(projections::follower::run(
                db.pool.clone(),
                store.commit_signal(),
                Default::default(),
                shutdown,
            ));
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            ready
                .send((listener.local_addr().unwrap().port(), db.url.clone()))
                .unwrap();
            let mut state = api::AppState::new(
                store,
                ingest::FileStore::new(std::env::temp_dir().join(testkit::unique_name("files"))),
                tokens,
            )
            .unwrap();
            state.cors_origins = cors_origins;
            tweak(&mut state);
            state.rate_limiter =
                limits.map(|l| Arc::new(api::rate_limit::RateLimiter::new(l(admin_id))));
            api::serve(listener, web::Data::new(state), 1)
                .unwrap()
                .await
                .unwrap();
        });
    });
    let (port, db_url) = port.recv().unwrap();
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: awc::Client::default(),
        admin_token: String::new(),
        admin_id: String::new(),
        db_url,
        _stop: stop,
    }
}

impl TestApp {
    pub async fn login(&self, email: &str, password: &str) -> Answer {
        let body = json!({"email": email, "password": password}).to_string();
        self.send_as(None, "POST", "/api/v1/auth/login", Some(&body), &[])
            .await
    }

    /// Creates a user through the API (as the admin) and signs them in: (user id, access token).
    pub async fn user(&self, email: &str, role: &str) -> (String, String) {
        let created = self
            .post(
                "/api/v1/users",
                json!({"email": email, "role": role, "password": PASSWORD}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let session = self.login(email, PASSWORD).await;
        assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
        (
            created.body["id"].as_str().unwrap().to_string(),
            session.body["access_token"].as_str().unwrap().to_string(),
        )
    }

    /// A request as the admin.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let token = self.admin_token.clone();
        self.send_as(Some(&token), method, path, body, headers)
            .await
    }

    /// A request with `token` as the bearer token (None: no Authorization header).
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => self.client.get(url),
            "POST" => self.client.post(url),
            "PUT" => self.client.put(url),
            "DELETE" => self.client.delete(url),
            "OPTIONS" => self.client.options(url),
            other => panic!("method {other}"),
        };
        if let Some(token) = token {
            req = req.insert_header(("authorization", format!("Bearer {token}")));
        }
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = match body {
            Some(b) => {
                req.insert_header(("content-type", "application/json"))
                    .send_body(b.to_string())
                    .await
            }
            None => req.send().await,
        }
        .expect("request");
        let bytes = res.body().limit(10 * 1024 * 1024).await.unwrap();
        Answer {
            status: res.status(),
            headers: res.headers().clone(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            },
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, Some(&body.to_string()), &[]).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, &[]).await
    }

    pub async fn create_project(&self, name: &str) -> (String, i64) {
        let a = self
            .post(
                "/api/v1/projects",
                json!({"name": name, "base_currency": "EUR"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        (
            a.body["id"].as_str().unwrap().to_string(),
            a.body["position"].as_i64().unwrap(),
        )
    }

    pub async fn create_sources(&self, project: &str) -> (String, String) {
        let mut ids = Vec::new();
        for name in ["bank", "ledger"] {
            let a = self
                .post(
                    &format!("/api/v1/projects/{project}/sources"),
                    json!({"name": name, "settings": {"format": "camt053"}}),
                )
                .await;
            assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
            ids.push(a.body["id"].as_str().unwrap().to_string());
        }
        (ids[0].clone(), ids[1].clone())
    }

    pub async fn create_job(
        &self,
        project: &str,
        name: &str,
        sources: &(String, String),
    ) -> (String, i64) {
        let a = self
            .post(
                &format!("/api/v1/projects/{project}/jobs"),
                job_body(name, sources),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        (
            a.body["id"].as_str().unwrap().to_string(),
            a.body["position"].as_i64().unwrap(),
        )
    }
}

pub fn rule_set() -> Value {
    json!({"version": 1, "passes": [{"name": "reference", "cardinality": "one_to_one", "reference": {},
        "amount_tolerance": {"absolute": "0.01"}, "date_window": {"field": "booking_date", "days": 3}}]})
}

pub fn job_body(name: &str, sources: &(String, String)) -> Value {
    json!({"name": name, "left_source_id": sources.0, "right_source_id": sources.1, "rule_set": rule_set()})
}

pub fn fake_sources() -> (String, String) {
    (
        "00000000-0000-0000-0000-00000000000a".into(),
        "00000000-0000-0000-0000-00000000000b".into(),
    )
}
