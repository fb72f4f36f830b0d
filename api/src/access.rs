//! The route table and its access rules. Every endpoint is registered from [`endpoints`], each
//! with what it needs (`domain::access::Need`) and how its path names a project, so an endpoint
//! cannot exist without a rule; the authorisation middleware of each resource applies it before
//! the handler runs (and before the body is read).

use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use application::access::Subject;
use application::{AccessError, Caller};
use domain::access::Need;
use uuid::Uuid;

use crate::problem::Problem;
use crate::AppState;

/// The methods, short, for the route tables.
pub const GET: Method = Method::GET;
pub const POST: Method = Method::POST;
pub const PUT: Method = Method::PUT;
pub const DELETE: Method = Method::DELETE;

/// How an endpoint's `{id}` names the project it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The endpoint concerns no single project.
    Global,
    /// `{id}` is a project.
    Project,
    /// `{id}` is a job (of a project).
    Job,
    /// `{id}` is a data source (of a project).
    Source,
}

/// One endpoint: method, full path template, access rule, handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
    pub scope: Scope,
    pub route: fn() -> actix_web::Route,
}

/// `endpoint(GET, "/api/v1/projects", Need::SignedIn, Scope::Global, || web::get().to(list))`
pub fn endpoint(
    method: Method,
    path: &'static str,
    need: Need,
    scope: Scope,
    route: fn() -> actix_web::Route,
) -> Endpoint {
    Endpoint {
        method,
        path,
        need,
        scope,
        route,
    }
}

#[derive(Clone, Copy)]
struct Rule {
    method: &'static Method,
    need: Need,
    scope: Scope,
}

/// Registers the endpoints, one resource per path, each wrapped in the authorisation of its
/// methods. Paths under `/api/v1/<collection>` are grouped in one scope per collection, static
/// paths before templated ones: actix tries resources in order, and a templated path costs a
/// regular-expression match, so a request is matched only against its own collection's paths
/// (a static path such as `/users/me` still wins over `/users/{id}`).
pub fn register(cfg: &mut web::ServiceConfig, table: &'static [Endpoint]) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in table {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    // Stable: the table's order among static paths and among templated ones is kept.
    paths.sort_by_key(|p| p.contains('{'));
    let mut collections: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for path in paths {
        match collection_of(path) {
            Some(prefix) => match collections.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, members)) => members.push(path),
                None => collections.push((prefix, vec![path])),
            },
            None => {
                cfg.service(resource(table, path, path));
            }
        }
    }
    for (prefix, members) in collections {
        let mut scope = web::scope(prefix);
        for path in members {
            scope = scope.service(resource(table, path, &path[prefix.len()..]));
        }
        cfg.service(scope);
    }
}

/// `/api/v1/<collection>` of a path under the API, if it has one.
fn collection_of(path: &'static str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty() && !name.contains('{')).then(|| &path[.."/api/v1/".len() + name.len()])
}

/// The resource of `path` (registered as `relative` inside its scope) with its methods' routes
/// and their authorisation.
fn resource(
    table: &'static [Endpoint],
    path: &'static str,
    relative: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let here: Vec<&'static Endpoint> = table.iter().filter(|e| e.path == path).collect();
    let rules: Rc<Vec<Rule>> = Rc::new(
        here.iter()
            .map(|e| Rule {
                method: &e.method,
                need: e.need,
                scope: e.scope,
            })
            .collect(),
    );
    let mut resource = web::resource(relative);
    for e in &here {
        resource = resource.route((e.route)());
    }
    resource.wrap(from_fn(move |req, next| {
        let rules = rules.clone();
        authorize(req, next, rules)
    }))
}

async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    rules: Rc<Vec<Rule>>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request = req.request().clone();
    crate::timeout::within(request, authorize_and_run(req, next, rules)).await
}

async fn authorize_and_run(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    rules: Rc<Vec<Rule>>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A method without a rule has no route either: the resource answers 405.
    let Some(rule) = rules.iter().find(|r| r.method == req.method()).copied() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if rule.need != Need::Nothing {
        // Refusals are responses, not errors, so outer middleware (rate-limit headers) sees them.
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            let problem = Problem::internal("application state missing");
            return Ok(req.error_response(problem).map_into_boxed_body());
        };
        let caller = match check(&state, &req, rule).await {
            Ok(caller) => caller,
            Err(problem) => return Ok(req.error_response(problem).map_into_boxed_body()),
        };
        req.extensions_mut().insert(caller);
        tracing::Span::current().record("actor", caller.actor().as_str());
        // Keys are per user: public endpoints (sign-in) ignore the header.
        if crate::idempotency::requested(&req) {
            return crate::idempotency::run(req, next, &state, caller).await;
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Who the caller is, and whether the rule lets them in.
async fn check(state: &AppState, req: &ServiceRequest, rule: Rule) -> Result<Caller, Problem> {
    let token = bearer_token(req.request()).ok_or(Problem::unauthenticated(
        "send an access token: Authorization: Bearer <token> (POST /api/v1/auth/login)",
    ))?;
    // The rate limit has verified the token already when it is on.
    let verified = req
        .extensions()
        .get::<application::identity::tokens::Claims>()
        .cloned();
    let caller = match verified {
        Some(claims) => state.gate.authenticate_verified(&claims).await?,
        None => state.gate.authenticate(token).await?,
    };
    let subject = subject_of(req, rule.scope)?;
    state.gate.authorize(&caller, rule.need, subject).await?;
    Ok(caller)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn subject_of(req: &ServiceRequest, scope: Scope) -> Result<Subject, Problem> {
    if scope == Scope::Global {
        return Ok(Subject::None);
    }
    let raw = req.match_info().get("id").unwrap_or_default();
    let id = Uuid::parse_str(raw)
        .map_err(|_| Problem::not_found(format!("no resource `{raw}` (not a uuid)")))?;
    Ok(match scope {
        Scope::Global => Subject::None,
        Scope::Project => Subject::Project(id),
        Scope::Job => Subject::Job(id),
        Scope::Source => Subject::Source(id),
    })
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated => {
                Problem::unauthenticated("the access token is missing, invalid or expired")
            }
            AccessError::Forbidden => Problem::forbidden(e.to_string()),
            AccessError::Hidden => Problem::not_found("no such resource"),
            AccessError::Unavailable(s) => Problem::unavailable(s),
        }
    }
}

/// The authenticated caller, in handlers of endpoints that need a token (set by the
/// authorisation middleware).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub Caller);

impl FromRequest for Authenticated {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .copied()
                .map(Authenticated)
                .ok_or_else(|| Problem::unauthenticated("a valid access token is required")),
        )
    }
}
