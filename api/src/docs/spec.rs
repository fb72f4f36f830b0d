//! The OpenAPI 3.1 document. Paths, bodies and answers come from the handlers' `#[utoipa::path]`
//! and the types' `ToSchema`; what every endpoint shares (the bearer token, the problem answers,
//! `Idempotency-Key`, `If-None-Match`) is added from the route table, so the spec says what the
//! access rules and middleware really do.

use std::sync::LazyLock;

use actix_web::http::Method;
use domain::access::Need;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Type,
};
use utoipa::OpenApi;

use crate::access::Endpoint;
use crate::routes::{self, ENDPOINTS};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Recon API",
        description = "Recon's commands and queries: projects, data sources, matching jobs and \
            their results, users and sign-in. Errors are RFC 9457 problem details. See \
            docs/api.md for the guide."
    ),
    paths(
        routes::health::health,
        routes::health::ready,
        crate::metrics::scrape,
        super::openapi_json,
        super::page,
        super::asset,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::users::create,
        routes::users::list,
        routes::users::me,
        routes::users::change_password,
        routes::users::get,
        routes::users::change_role,
        routes::users::disable,
        routes::projects::create,
        routes::projects::list,
        routes::projects::get,
        routes::projects::update,
        routes::projects::archive,
        routes::projects::history,
        routes::projects::members,
        routes::projects::add_member,
        routes::projects::remove_member,
        routes::jobs::create,
        routes::jobs::list_in_project,
        routes::jobs::list,
        routes::jobs::get,
        routes::jobs::update,
        routes::jobs::delete,
        routes::jobs::start,
        routes::jobs::cancel,
        routes::jobs::retry,
        routes::jobs::history,
        routes::sources::create,
        routes::sources::list,
        routes::sources::preview,
        routes::sources::get,
        routes::sources::configure_settings,
        routes::sources::upload,
        routes::sources::history,
        routes::results::summary,
        routes::results::list,
        routes::results::export,
        routes::dashboard::summary,
        routes::dashboard::status,
    ),
    components(schemas(crate::problem::Problem)),
    tags(
        (name = "auth", description = "Sign in, refresh, sign out"),
        (name = "users", description = "User administration and the caller's own profile"),
        (name = "projects", description = "Projects and their members"),
        (name = "sources", description = "Data sources and their files"),
        (name = "jobs", description = "Reconciliation jobs: define, start, cancel"),
        (name = "results", description = "A completed run's matches, unmatched records and suggestions"),
        (name = "dashboard", description = "Counters and read-model lag"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "docs", description = "This document and its page"),
    )
)]
struct ApiDoc;

/// The document, built once.
pub static SPEC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(spec);

/// The handlers' document with what the route table adds to every endpoint.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token of POST /api/v1/auth/login (15 minutes)",
                    ))
                    .build(),
            ),
        );
    for endpoint in ENDPOINTS.iter() {
        if let Some(operation) = doc
            .paths
            .paths
            .get_mut(endpoint.path)
            .and_then(|item| operation_mut(item, &endpoint.method))
        {
            add_shared(operation, endpoint);
        }
    }
    doc
}

const BEARER: &str = "bearer";

/// The operation of `method` on a path, if documented.
pub fn operation_mut<'a>(item: &'a mut PathItem, method: &Method) -> Option<&'a mut Operation> {
    match *method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        _ => None,
    }
}

fn add_shared(operation: &mut Operation, endpoint: &Endpoint) {
    let signed_in = endpoint.need != Need::Nothing;
    let command = signed_in && endpoint.method != Method::GET;
    let has_body = operation.request_body.is_some();
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let has_path_id = endpoint.path.contains('{');
    if signed_in {
        operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    }
    if command {
        parameter(
            operation,
            "Idempotency-Key",
            "Makes a retry safe: the first answer to this key (per user, 24 h) is replayed \
             with `Idempotent-Replayed: true`; the same key with another body is a 422, and a \
             retry while the first request runs is a 409. 1 to 255 visible ASCII characters.",
            Some(crate::idempotency::MAX_KEY_LEN),
        );
        // Creations (201) make a new resource: there is no version to expect.
        if has_path_id && !operation.responses.responses.contains_key("201") {
            parameter(
                operation,
                "If-Match",
                "The version the command expects (the resource's `ETag`, e.g. `\"3\"`); \
                 another version is a 409.",
                None,
            );
        }
    }
    if operation.responses.responses.contains_key("304") {
        parameter(
            operation,
            "If-None-Match",
            "The `ETag` of a copy the client holds: an unchanged resource answers 304.",
            None,
        );
    }
    if has_body || command {
        problem(
            operation,
            400,
            "Malformed request: the body is not JSON, or a header is malformed",
        );
    }
    if signed_in {
        problem(
            operation,
            401,
            "No access token, or an invalid or expired one",
        );
    }
    if !matches!(endpoint.need, Need::Nothing | Need::SignedIn) {
        problem(operation, 403, "The caller's role does not allow this");
    }
    if has_path_id {
        problem(
            operation,
            404,
            "No such resource, or one the caller may not see (never 403, so ids leak nothing)",
        );
    }
    if command {
        problem(
            operation,
            409,
            "A version conflict (If-Match), a command the resource's state refuses, or an \
             earlier request with this Idempotency-Key still running",
        );
    }
    if has_body {
        problem(operation, 413, "The body is larger than allowed");
    }
    if has_body || has_query || command {
        problem(
            operation,
            422,
            "Invalid fields (each with its path), or an Idempotency-Key reused with another body",
        );
    }
    if !routes::health::PROBES.contains(&endpoint.path) {
        problem(
            operation,
            429,
            "Too many requests: see Retry-After and RateLimit",
        );
    }
    if !matches!(endpoint.path, "/health" | "/ready")
        && !endpoint.path.starts_with("/docs")
        && endpoint.path != "/openapi.json"
    {
        problem(operation, 503, "The database is unavailable; try again");
    }
}

fn parameter(operation: &mut Operation, name: &str, description: &str, max_len: Option<usize>) {
    let parameters: &mut Vec<Parameter> = operation.parameters.get_or_insert_with(Vec::new);
    if parameters.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
        return;
    }
    parameters.push(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(max_len.map(|_| 1))
                    .max_length(max_len),
            ))
            .build(),
    );
}

fn problem(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(problem_response(status, description)));
}

fn problem_response(status: u16, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    let string = || ObjectBuilder::new().schema_type(Type::String);
    match status {
        401 => {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some("`Bearer realm=\"recon\"`"))
                    .build(),
            )
        }
        429 | 503 => {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait"))
                    .build(),
            )
        }
        _ => {}
    }
    response.build()
}
