//! The OpenAPI document against what the server really serves: every route of the route table
//! (`api::routes::ENDPOINTS`, the only place routes are registered) is in the spec and nothing
//! else is; protected operations name their token and refusals; every reference resolves; the
//! document and the docs page are served without a token, the page under a strict CSP and with
//! nothing loaded from elsewhere.

mod support;

use std::collections::BTreeSet;

use domain::access::Need;
use serde_json::Value;
use support::*;

fn spec_json() -> Value {
    serde_json::to_value(api::docs::spec::spec()).expect("the spec serialises")
}

fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> &'a Value {
    &spec["paths"][path][method.to_ascii_lowercase()]
}

#[test]
fn the_spec_documents_every_route_and_nothing_else() {
    let spec = spec_json();
    let served: BTreeSet<(String, String)> = api::routes::ENDPOINTS
        .iter()
        .map(|e| (e.method.as_str().to_string(), e.path.to_string()))
        .collect();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "delete" | "patch"))
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in the spec: {missing:?}"
    );
    assert!(extra.is_empty(), "in the spec but not served: {extra:?}");
    assert!(
        served.len() >= 47,
        "the route table shrank: {}",
        served.len()
    );
}

#[test]
fn the_spec_is_openapi_3_1_and_every_operation_is_described() {
    let spec = spec_json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for e in api::routes::ENDPOINTS.iter() {
        let op = operation(&spec, e.method.as_str(), e.path);
        let what = format!("{} {}", e.method, e.path);
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{what} has no summary"
        );
        assert!(op["tags"][0].is_string(), "{what} has no tag");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what} documents no success"
        );
        // Every path parameter of the template is declared.
        for segment in e.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let declared = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
                assert!(declared, "{what} does not declare path parameter `{name}`");
            }
        }
        // Error answers are problem+json.
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let content = response["content"].as_object();
                let problem = content.is_some_and(|c| c.contains_key("application/problem+json"));
                let status_body = e.path == "/ready"; // readiness answers its Status either way
                assert!(
                    problem || status_body,
                    "{what}: {status} is not problem+json"
                );
            }
        }
    }
}

#[test]
fn protected_operations_name_the_token_and_their_refusals() {
    let spec = spec_json();
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for e in api::routes::ENDPOINTS.iter() {
        let op = operation(&spec, e.method.as_str(), e.path);
        let what = format!("{} {}", e.method, e.path);
        let responses = &op["responses"];
        let header_params: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "header")
            .filter_map(|p| p["name"].as_str())
            .collect();
        if e.need == Need::Nothing {
            assert!(
                op["security"].is_null(),
                "{what} is public but asks for a token"
            );
            continue;
        }
        assert_eq!(op["security"][0]["bearer"], Value::Array(vec![]), "{what}");
        assert!(responses["401"].is_object(), "{what} lacks 401");
        assert!(
            responses["401"]["headers"]["WWW-Authenticate"].is_object(),
            "{what}: 401 without WWW-Authenticate"
        );
        assert!(
            responses["429"]["headers"]["Retry-After"].is_object(),
            "{what}"
        );
        if e.need != Need::SignedIn {
            assert!(responses["403"].is_object(), "{what} lacks 403");
        }
        if e.path.contains('{') {
            assert!(responses["404"].is_object(), "{what} lacks 404");
        }
        if e.method.as_str() != "GET" {
            assert!(
                header_params.contains(&"Idempotency-Key"),
                "{what} lacks Idempotency-Key"
            );
            assert!(responses["409"].is_object(), "{what} lacks 409");
        }
    }
}

/// Every `$ref` in the document names a schema it defines.
#[test]
fn every_reference_resolves() {
    let spec = spec_json();
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(
        refs.len() > 50,
        "suspiciously few references: {}",
        refs.len()
    );
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    for name in ["RuleSet", "ImportSettings", "Problem", "JobView", "Session"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_and_the_docs_page_are_served_without_a_token() {
    let app = spawn_app().await;
    let document = app.send_as(None, "GET", "/openapi.json", None, &[]).await;
    assert_eq!(document.status, 200);
    assert!(document.body["openapi"]
        .as_str()
        .unwrap()
        .starts_with("3.1"));
    assert_eq!(
        document.body,
        spec_json(),
        "the served document is the spec"
    );

    let mut client = awc::Client::default()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(client.status(), 200);
    let csp = client
        .headers()
        .get("content-security-policy")
        .expect("the page has a CSP")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(csp, api::docs::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline"));
    let html = String::from_utf8(client.body().await.unwrap().to_vec()).unwrap();
    // Offline: every asset the page names is on this server, and there is no inline script.
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let target = &html[i + attr.len()..];
            assert!(
                target.starts_with('/'),
                "the page loads something from elsewhere: {}",
                &target[..target.find('"').unwrap_or(target.len())]
            );
        }
    }
    assert!(!html.contains("<script>"), "inline script breaks the CSP");
    for (asset, kind) in [("docs.js", "text/javascript"), ("docs.css", "text/css")] {
        let mut res = awc::Client::default()
            .get(format!("{}/docs/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        let content_type = res.headers().get("content-type").unwrap().to_str().unwrap();
        assert!(content_type.starts_with(kind), "{asset}: {content_type}");
        let body = res.body().await.unwrap();
        assert!(body.len() > 500, "{asset} is empty");
        assert!(
            !String::from_utf8_lossy(&body).contains("innerHTML"),
            "{asset}: the page renders with textContent only"
        );
    }
    let missing = app.send_as(None, "GET", "/docs/nope.js", None, &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
}

/// Field rules that live in the domain are the document's too: names, descriptions, roles.
#[test]
fn field_rules_in_the_document_are_the_domains() {
    let spec = spec_json();
    let schemas = &spec["components"]["schemas"];
    let project = &schemas["CreateProject"]["properties"];
    assert_eq!(
        project["name"]["maxLength"],
        domain::validation::Name::MAX_CHARS
    );
    assert_eq!(
        project["description"]["maxLength"],
        domain::validation::Description::MAX_CHARS
    );
    let roles: Vec<&str> = domain::Role::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        schemas["CreateUser"]["properties"]["role"]["enum"],
        serde_json::json!(roles)
    );
    assert_eq!(
        schemas["CreateUser"]["properties"]["password"]["minLength"],
        application::identity::passwords::MIN_LEN
    );
    for body in ["JobBody", "CreateSource", "UpdateProject"] {
        assert_eq!(
            schemas[body]["properties"]["name"]["maxLength"],
            domain::validation::Name::MAX_CHARS,
            "{body}"
        );
    }
}
