//! Every endpoint × every kind of caller, asserting the exact status. Generated from the route
//! table (`api::routes::ENDPOINTS`): an endpoint added without an intended rule and a sample
//! request here fails the test. What each endpoint should need, and what each need allows, are
//! written here independently of the table and of the code that decides.

mod support;

use actix_web::http::StatusCode;
use domain::access::Need;
use serde_json::json;
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Auditor,
    OperatorMember,
    OperatorStranger,
    ViewerMember,
    ViewerStranger,
    NoToken,
    BadToken,
}

const EVERYONE: [Who; 8] = [
    Who::Admin,
    Who::Auditor,
    Who::OperatorMember,
    Who::OperatorStranger,
    Who::ViewerMember,
    Who::ViewerStranger,
    Who::NoToken,
    Who::BadToken,
];

/// The rules, as the issue states them: None = allowed (the endpoint's own success status).
fn refusal(need: Need, who: Who) -> Option<u16> {
    use Who::*;
    if need == Need::Nothing {
        return None;
    }
    if matches!(who, NoToken | BadToken) {
        return Some(401);
    }
    match need {
        Need::Nothing | Need::SignedIn => None,
        Need::Admin => (who != Admin).then_some(403),
        Need::Operate => match who {
            Admin | OperatorMember | OperatorStranger => None,
            _ => Some(403),
        },
        Need::Oversee => match who {
            Admin | Auditor => None,
            _ => Some(403),
        },
        Need::ReadProject => match who {
            Admin | Auditor | OperatorMember | ViewerMember => None,
            _ => Some(404),
        },
        Need::WriteProject => match who {
            Admin | OperatorMember => None,
            Auditor | ViewerMember => Some(403),
            _ => Some(404),
        },
    }
}

/// What each endpoint should need, written here rather than read from the route table, so a
/// rule changed in the table by mistake fails this test.
fn intended_need(method: &str, path: &str) -> Option<Need> {
    use Need::*;
    Some(match (method, path) {
        ("GET", "/health") | ("GET", "/ready") | ("GET", "/metrics") => Nothing,
        ("GET", "/openapi.json" | "/docs" | "/docs/{asset}") => Nothing,
        ("POST", "/api/v1/auth/login" | "/api/v1/auth/refresh" | "/api/v1/auth/logout") => Nothing,
        ("POST", "/api/v1/users") | ("GET", "/api/v1/users") => Admin,
        ("GET", "/api/v1/users/me") | ("PUT", "/api/v1/users/me/password") => SignedIn,
        ("GET", "/api/v1/users/{id}")
        | ("PUT", "/api/v1/users/{id}/role")
        | ("POST", "/api/v1/users/{id}/disable") => Admin,
        ("POST", "/api/v1/projects") | ("POST", "/api/v1/sources/preview") => Operate,
        ("GET", "/api/v1/projects") | ("GET", "/api/v1/jobs") => SignedIn,
        ("GET", "/api/v1/dashboard/summary") | ("GET", "/api/v1/projections/status") => Oversee,
        (
            "GET",
            "/api/v1/projects/{id}"
            | "/api/v1/projects/{id}/events"
            | "/api/v1/projects/{id}/members"
            | "/api/v1/projects/{id}/jobs"
            | "/api/v1/projects/{id}/sources"
            | "/api/v1/jobs/{id}"
            | "/api/v1/jobs/{id}/events"
            | "/api/v1/jobs/{id}/results"
            | "/api/v1/jobs/{id}/results/{kind}"
            | "/api/v1/jobs/{id}/results/{kind}/export"
            | "/api/v1/sources/{id}"
            | "/api/v1/sources/{id}/events",
        ) => ReadProject,
        (
            "PUT",
            "/api/v1/projects/{id}" | "/api/v1/jobs/{id}" | "/api/v1/sources/{id}/settings",
        ) => WriteProject,
        ("DELETE", "/api/v1/jobs/{id}" | "/api/v1/projects/{id}/members/{user_id}") => WriteProject,
        (
            "POST",
            "/api/v1/projects/{id}/archive"
            | "/api/v1/projects/{id}/members"
            | "/api/v1/projects/{id}/jobs"
            | "/api/v1/projects/{id}/sources"
            | "/api/v1/jobs/{id}/start"
            | "/api/v1/jobs/{id}/cancel"
            | "/api/v1/jobs/{id}/retry"
            | "/api/v1/sources/{id}/files",
        ) => WriteProject,
        _ => return None,
    })
}

struct Callers {
    tokens: Vec<(Who, Option<String>)>,
    operator: String,
    viewer: String,
}

impl Callers {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .and_then(|(_, t)| t.as_deref())
    }
}

/// A project with two CSV sources and a job; the member operator and viewer belong to it, and
/// so does a spare user (for the remove-member endpoint).
struct Fixture {
    project: String,
    source: String,
    other_source: String,
    job: String,
    spare_user: String,
}

async fn fixture(app: &TestApp, callers: &Callers, n: usize) -> Fixture {
    let (project, _) = app.create_project(&format!("matrix {n}")).await;
    let settings = json!({"format": "csv", "mapping": {"booking_date": "date", "amount": "amount",
        "fixed_currency": "EUR", "reference": "ref"}});
    let mut sources = Vec::new();
    for name in ["left", "right"] {
        let a = app
            .post(
                &format!("/api/v1/projects/{project}/sources"),
                json!({"name": name, "settings": settings}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        sources.push(a.body["id"].as_str().unwrap().to_string());
    }
    let (job, _) = app
        .create_job(&project, "job", &(sources[0].clone(), sources[1].clone()))
        .await;
    let (spare_user, _) = app.user(&format!("spare{n}@example.com"), "viewer").await;
    for user in [&callers.operator, &callers.viewer, &spare_user] {
        let a = app
            .post(
                &format!("/api/v1/projects/{project}/members"),
                json!({ "user_id": user }),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    }
    Fixture {
        project,
        source: sources[0].clone(),
        other_source: sources[1].clone(),
        job,
        spare_user,
    }
}

/// A request that succeeds for an allowed caller: (path, body, status).
async fn sample(
    app: &TestApp,
    method: &str,
    template: &str,
    fx: &Fixture,
    n: usize,
) -> Option<(String, Option<String>, u16)> {
    let p = &fx.project;
    let j = &fx.job;
    let s = &fx.source;
    let job_body =
        json!({"name": "job v2", "left_source_id": fx.source, "right_source_id": fx.other_source,
        "rule_set": rule_set()})
        .to_string();
    let csv_settings = json!({"format": "csv", "mapping": {"booking_date": "date", "amount": "amount",
        "fixed_currency": "EUR", "reference": "ref"}});
    let fresh_user = || async {
        app.user(&format!("target{n}-{}@example.com", uuid()), "viewer")
            .await
            .0
    };
    let refresh_token = || async {
        app.login(ADMIN_EMAIL, PASSWORD).await.body["refresh_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let b = |v: serde_json::Value| Some(v.to_string());
    Some(match (method, template) {
        ("GET", "/health") | ("GET", "/ready") | ("GET", "/metrics") => {
            (template.into(), None, 200)
        }
        ("GET", "/openapi.json" | "/docs") => (template.into(), None, 200),
        ("GET", "/docs/{asset}") => ("/docs/docs.js".into(), None, 200),
        ("POST", "/api/v1/auth/login") => (
            template.into(),
            b(json!({"email": ADMIN_EMAIL, "password": PASSWORD})),
            200,
        ),
        ("POST", "/api/v1/auth/refresh") => (
            template.into(),
            b(json!({"refresh_token": refresh_token().await})),
            200,
        ),
        ("POST", "/api/v1/auth/logout") => (
            template.into(),
            b(json!({"refresh_token": refresh_token().await})),
            204,
        ),
        ("POST", "/api/v1/users") => (
            template.into(),
            b(
                json!({"email": format!("new{n}-{}@example.com", uuid()), "role": "viewer", "password": PASSWORD}),
            ),
            201,
        ),
        ("GET", "/api/v1/users/me") => (template.into(), None, 200),
        ("GET", "/api/v1/users") => (format!("{template}?role=viewer"), None, 200),
        // The same password again: a new credential, and every caller can still sign in.
        ("PUT", "/api/v1/users/me/password") => (
            template.into(),
            b(json!({"current_password": PASSWORD, "new_password": PASSWORD})),
            200,
        ),
        ("GET", "/api/v1/users/{id}") => (format!("/api/v1/users/{}", fx.spare_user), None, 200),
        ("PUT", "/api/v1/users/{id}/role") => (
            format!("/api/v1/users/{}/role", fresh_user().await),
            b(json!({"role": "operator"})),
            200,
        ),
        ("POST", "/api/v1/users/{id}/disable") => (
            format!("/api/v1/users/{}/disable", fresh_user().await),
            None,
            200,
        ),
        ("POST", "/api/v1/projects") => (
            template.into(),
            b(json!({"name": "new", "base_currency": "EUR"})),
            201,
        ),
        ("GET", "/api/v1/projects") => (template.into(), None, 200),
        ("GET", "/api/v1/projects/{id}") => (
            format!("/api/v1/projects/{p}?wait_for_position=1"),
            None,
            200,
        ),
        ("PUT", "/api/v1/projects/{id}") => (
            format!("/api/v1/projects/{p}"),
            b(json!({"name": "renamed"})),
            200,
        ),
        ("POST", "/api/v1/projects/{id}/archive") => {
            (format!("/api/v1/projects/{p}/archive"), None, 200)
        }
        ("GET", "/api/v1/projects/{id}/events") => {
            (format!("/api/v1/projects/{p}/events"), None, 200)
        }
        ("GET", "/api/v1/projects/{id}/members") => {
            (format!("/api/v1/projects/{p}/members"), None, 200)
        }
        ("POST", "/api/v1/projects/{id}/members") => (
            format!("/api/v1/projects/{p}/members"),
            b(json!({"user_id": fresh_user().await})),
            200,
        ),
        ("DELETE", "/api/v1/projects/{id}/members/{user_id}") => (
            format!("/api/v1/projects/{p}/members/{}", fx.spare_user),
            None,
            200,
        ),
        ("POST", "/api/v1/projects/{id}/jobs") => {
            (format!("/api/v1/projects/{p}/jobs"), Some(job_body), 201)
        }
        ("GET", "/api/v1/projects/{id}/jobs") => (format!("/api/v1/projects/{p}/jobs"), None, 200),
        ("GET", "/api/v1/jobs") => (template.into(), None, 200),
        ("GET", "/api/v1/jobs/{id}") => {
            (format!("/api/v1/jobs/{j}?wait_for_position=1"), None, 200)
        }
        ("PUT", "/api/v1/jobs/{id}") => (format!("/api/v1/jobs/{j}"), Some(job_body), 200),
        ("DELETE", "/api/v1/jobs/{id}") => (format!("/api/v1/jobs/{j}"), None, 200),
        ("POST", "/api/v1/jobs/{id}/start") => (format!("/api/v1/jobs/{j}/start"), None, 200),
        ("POST", "/api/v1/jobs/{id}/cancel") => (format!("/api/v1/jobs/{j}/cancel"), None, 200),
        // A job that never failed cannot be retried: past authorisation, the job refuses.
        ("POST", "/api/v1/jobs/{id}/retry") => (format!("/api/v1/jobs/{j}/retry"), None, 409),
        ("GET", "/api/v1/jobs/{id}/events") => (format!("/api/v1/jobs/{j}/events"), None, 200),
        // The job has not run: past authorisation, there are no results yet.
        ("GET", "/api/v1/jobs/{id}/results") => (format!("/api/v1/jobs/{j}/results"), None, 409),
        ("GET", "/api/v1/jobs/{id}/results/{kind}") => {
            (format!("/api/v1/jobs/{j}/results/matches"), None, 409)
        }
        ("GET", "/api/v1/jobs/{id}/results/{kind}/export") => (
            format!("/api/v1/jobs/{j}/results/matches/export"),
            None,
            409,
        ),
        ("POST", "/api/v1/projects/{id}/sources") => (
            format!("/api/v1/projects/{p}/sources"),
            b(json!({"name": "third", "settings": csv_settings})),
            201,
        ),
        ("GET", "/api/v1/projects/{id}/sources") => {
            (format!("/api/v1/projects/{p}/sources"), None, 200)
        }
        ("POST", "/api/v1/sources/preview") => (
            template.into(),
            b(json!({"settings": csv_settings, "content": "date,amount,ref\n2026-01-01,1.00,A\n"})),
            200,
        ),
        ("GET", "/api/v1/sources/{id}") => (
            format!("/api/v1/sources/{s}?wait_for_position=1"),
            None,
            200,
        ),
        ("PUT", "/api/v1/sources/{id}/settings") => (
            format!("/api/v1/sources/{s}/settings"),
            b(json!({ "settings": csv_settings })),
            200,
        ),
        ("POST", "/api/v1/sources/{id}/files") => (
            format!("/api/v1/sources/{s}/files?file_name=a.csv"),
            Some("date,amount,ref\n2026-01-01,1.00,A\n".into()),
            201,
        ),
        ("GET", "/api/v1/sources/{id}/events") => {
            (format!("/api/v1/sources/{s}/events"), None, 200)
        }
        ("GET", "/api/v1/dashboard/summary") => (template.into(), None, 200),
        ("GET", "/api/v1/projections/status") => (template.into(), None, 200),
        _ => return None,
    })
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[actix_web::test]
async fn every_endpoint_by_every_role_on_own_and_foreign_projects() {
    let app = spawn_app().await;
    let (_, auditor) = app.user("auditor@example.com", "auditor").await;
    let (operator_id, operator) = app.user("operator@example.com", "operator").await;
    let (_, stranger_op) = app.user("stranger-op@example.com", "operator").await;
    let (viewer_id, viewer) = app.user("viewer@example.com", "viewer").await;
    let (_, stranger_viewer) = app.user("stranger-viewer@example.com", "viewer").await;
    // A token signed with another key.
    let forged = application::identity::AccessTokens::from_secret(&[42u8; 32])
        .unwrap()
        .issue(
            uuid::Uuid::parse_str(&app.admin_id).unwrap(),
            domain::Role::Admin,
            chrono::Utc::now(),
        );
    let callers = Callers {
        tokens: vec![
            (Who::Admin, Some(app.admin_token.clone())),
            (Who::Auditor, Some(auditor)),
            (Who::OperatorMember, Some(operator)),
            (Who::OperatorStranger, Some(stranger_op)),
            (Who::ViewerMember, Some(viewer)),
            (Who::ViewerStranger, Some(stranger_viewer)),
            (Who::NoToken, None),
            (Who::BadToken, Some(forged)),
        ],
        operator: operator_id,
        viewer: viewer_id,
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    let shared = fixture(&app, &callers, 0).await;
    for (i, endpoint) in api::routes::ENDPOINTS.iter().enumerate() {
        let method = endpoint.method.as_str();
        let need = intended_need(method, endpoint.path).unwrap_or_else(|| {
            panic!(
                "{method} {} is not in intended_need: say here what it should need",
                endpoint.path
            )
        });
        for who in EVERYONE {
            let n = 1 + i * 10 + who as usize;
            // A command that is allowed changes what it touches: it gets a project of its own,
            // so one caller's change cannot decide another's answer.
            let fresh;
            let fx = if method != "GET" && refusal(need, who).is_none() {
                fresh = fixture(&app, &callers, n).await;
                &fresh
            } else {
                &shared
            };
            let Some((path, body, success)) = sample(&app, method, endpoint.path, fx, n).await
            else {
                panic!(
                    "no sample request for {method} {}: add one to this test (and give the endpoint its access rule)",
                    endpoint.path
                );
            };
            let expected = refusal(need, who).unwrap_or(success);
            let answer = app
                .send_as(callers.token(who), method, &path, body.as_deref(), &[])
                .await;
            checked += 1;
            if answer.status.as_u16() != expected {
                failures.push(format!(
                    "{method} {} as {who:?}: expected {expected}, got {} {}",
                    endpoint.path, answer.status, answer.body
                ));
            }
            if expected == 401 {
                let challenge = answer.header("www-authenticate").unwrap_or_default();
                if !challenge.starts_with("Bearer") {
                    failures.push(format!(
                        "{method} {path}: 401 without WWW-Authenticate: Bearer"
                    ));
                }
            }
            if expected >= 400 && answer.header("content-type") != Some("application/problem+json")
            {
                failures.push(format!(
                    "{method} {path} as {who:?}: refusal is not problem+json"
                ));
            }
        }
    }
    assert!(checked >= api::routes::ENDPOINTS.len() * EVERYONE.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
