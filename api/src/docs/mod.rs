//! `/openapi.json` (the OpenAPI 3.1 document, see [`spec`]) and `/docs`, a page that renders it.
//! The page's script and style are compiled into the binary, so it works offline, and its
//! Content-Security-Policy lets it load nothing but them and the document.

pub mod schemas;
pub mod spec;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use domain::access::Need;

use crate::access::{endpoint, Endpoint, Scope, GET};
use crate::problem::Problem;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(GET, "/openapi.json", Need::Nothing, Scope::Global, || {
            web::get().to(openapi_json)
        }),
        endpoint(GET, "/docs", Need::Nothing, Scope::Global, || {
            web::get().to(page)
        }),
        endpoint(GET, "/docs/{asset}", Need::Nothing, Scope::Global, || {
            web::get().to(asset)
        }),
    ]
}

/// The page may run its own script and style and fetch the document; nothing else, no inline
/// code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/docs.js");
const STYLE: &str = include_str!("page/docs.css");

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(&*spec::SPEC)
}

/// The API documentation page.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")))]
pub(crate) async fn page() -> HttpResponse {
    with_policy(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

/// The page's script and style.
#[utoipa::path(get, path = "/docs/{asset}", tag = "docs",
    params(("asset" = String, Path, description = "`docs.js` or `docs.css`")),
    responses((status = 200, description = "The asset", content(
            (String = "text/javascript"), (String = "text/css")))))]
pub(crate) async fn asset(name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let (content_type, body) = match name.as_str() {
        "docs.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "docs.css" => ("text/css; charset=utf-8", STYLE),
        other => return Err(Problem::not_found(format!("no asset `{other}`"))),
    };
    Ok(with_policy(HttpResponse::Ok())
        .content_type(content_type)
        .body(body))
}

fn with_policy(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    builder
}
