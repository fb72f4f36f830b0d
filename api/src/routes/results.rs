//! Results of a job's completed run: `/api/v1/jobs/{id}/results` (summary), cursor pages of
//! matches, unmatched records and suggestions, and streamed CSV / NDJSON exports.

use actix_web::{web, HttpResponse};
use domain::records::Side;
use futures::stream;
use projections::results::{self, ResultFilter, ResultKind, ResultPage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{endpoint, Endpoint, Scope, GET};
use crate::problem::Problem;
use crate::AppState;
use domain::access::Need;

pub fn endpoints() -> Vec<Endpoint> {
    use Need::*;
    use Scope::*;
    vec![
        endpoint(GET, "/api/v1/jobs/{id}/results", ReadProject, Job, || {
            web::get().to(summary)
        }),
        endpoint(
            GET,
            "/api/v1/jobs/{id}/results/{kind}",
            ReadProject,
            Job,
            || web::get().to(list),
        ),
        endpoint(
            GET,
            "/api/v1/jobs/{id}/results/{kind}/export",
            ReadProject,
            Job,
            || web::get().to(export),
        ),
    ]
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ResultQuery {
    /// Where the page starts: the previous page's `next_cursor` (default 0).
    cursor: Option<i64>,
    /// Page size, 1 to 500 (default 50; exports ignore it).
    limit: Option<i64>,
    /// `left` or `right`: required for `unmatched`.
    side: Option<String>,
    /// Matches of this pass only (its index in the rule set).
    pass: Option<i32>,
    /// Matches scored at least this, 0 to 1.
    min_score: Option<f64>,
    /// Unmatched records in this currency only.
    currency: Option<String>,
    /// Exports: `csv` (default) or `ndjson`.
    format: Option<String>,
}

impl ResultQuery {
    fn kind(&self, kind: &str) -> Result<ResultKind, Problem> {
        match kind {
            "matches" => Ok(ResultKind::Matches),
            "suggestions" => Ok(ResultKind::Suggestions),
            "unmatched" => match self.side.as_deref() {
                Some("left") => Ok(ResultKind::Unmatched(Side::Left)),
                Some("right") => Ok(ResultKind::Unmatched(Side::Right)),
                _ => Err(Problem::invalid_field("side", "must be `left` or `right`")),
            },
            other => Err(Problem::not_found(format!(
                "no result list `{other}` (matches, unmatched, suggestions)"
            ))),
        }
    }

    fn filter(&self) -> Result<ResultFilter, Problem> {
        if self.min_score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return Err(Problem::invalid_field(
                "min_score",
                "must be between 0 and 1",
            ));
        }
        Ok(ResultFilter {
            pass_index: self.pass,
            min_score: self.min_score,
            currency: self.currency.as_ref().map(|c| c.to_ascii_uppercase()),
        })
    }
}

/// What `GET /jobs/{id}/results` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultsSummary {
    pub job_id: Uuid,
    pub run: u32,
    /// The definition revision the results were computed from (see the job's `revision`).
    pub definition_revision: Option<i32>,
    pub counts: Option<projections::queries::JobCountsView>,
    /// Per-currency values and the run's manifest.
    pub outcome: Option<serde_json::Value>,
}

/// The run whose results are shown: the job's run, once completed.
async fn completed_run(
    state: &AppState,
    id: Uuid,
) -> Result<(u32, projections::queries::JobView), Problem> {
    let job = projections::queries::get_job(&state.pool, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no job {id}")))?;
    if job.status != "completed" {
        return Err(Problem::conflict(
            "no-results",
            format!("the job has no results: it is {}", job.status),
        ));
    }
    Ok((job.run as u32, job))
}

/// The completed run's counts and outcome.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/results", tag = "results",
    params(("id" = Uuid, Path, description = "The job")),
    responses((status = 200, description = "The run's summary", body = ResultsSummary),
        (status = 409, description = "The job has no results yet", body = Problem, content_type = "application/problem+json")))]
async fn summary(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    let (run, job) = completed_run(&state, *id).await?;
    Ok(HttpResponse::Ok().json(ResultsSummary {
        job_id: job.id,
        run,
        definition_revision: job.results_revision,
        counts: job.counts,
        outcome: job.outcome,
    }))
}

/// A cursor page of the run's matches, unmatched records (`?side=`) or suggestions.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/results/{kind}", tag = "results",
    params(("id" = Uuid, Path, description = "The job"),
        ("kind" = String, Path, description = "`matches`, `unmatched` or `suggestions`"), ResultQuery),
    responses((status = 200, description = "A page", body = ResultPage),
        (status = 409, description = "The job has no results yet", body = Problem, content_type = "application/problem+json")))]
async fn list(
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    query: web::Query<ResultQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, kind) = path.into_inner();
    let kind = query.kind(&kind)?;
    let filter = query.filter()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 500"));
    }
    let (run, _) = completed_run(&state, id).await?;
    let page = results::page(
        &state.pool,
        id,
        run,
        kind,
        &filter,
        query.cursor.unwrap_or(0),
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Streams every item, page by page from the database, so an export of millions of rows never
/// sits in memory.
/// Every item of a result list, streamed as CSV or NDJSON.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/results/{kind}/export", tag = "results",
    params(("id" = Uuid, Path, description = "The job"),
        ("kind" = String, Path, description = "`matches`, `unmatched` or `suggestions`"), ResultQuery),
    responses((status = 200, description = "The list", content(
            (String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 409, description = "The job has no results yet", body = Problem, content_type = "application/problem+json")))]
async fn export(
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
    query: web::Query<ResultQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, kind_name) = path.into_inner();
    let kind = query.kind(&kind_name)?;
    let filter = query.filter()?;
    let csv = match query.format.as_deref() {
        None | Some("csv") => true,
        Some("ndjson") | Some("json") => false,
        Some(_) => {
            return Err(Problem::invalid_field(
                "format",
                "must be `csv` or `ndjson`",
            ))
        }
    };
    let (run, _) = completed_run(&state, id).await?;
    let pool = state.pool.clone();
    let header = if csv {
        Some(results::csv_header(kind).to_string())
    } else {
        None
    };
    let pages = stream::unfold(Some(0i64), move |cursor| {
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let cursor = cursor?;
            match results::page(&pool, id, run, kind, &filter, cursor, 5000).await {
                Ok(page) => {
                    let text = if csv {
                        results::csv_lines(kind, &page.items)
                    } else {
                        page.items.iter().map(|i| format!("{i}\n")).collect()
                    };
                    Some((
                        Ok::<_, actix_web::Error>(web::Bytes::from(text)),
                        page.next_cursor,
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed mid-stream");
                    Some((
                        Err(actix_web::error::ErrorInternalServerError("export failed")),
                        None,
                    ))
                }
            }
        }
    });
    let head = stream::iter(header.map(|h| Ok::<_, actix_web::Error>(web::Bytes::from(h))));
    let (content_type, extension) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "ndjson")
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{id}-{kind_name}.{extension}\""),
        ))
        .streaming(futures::StreamExt::chain(head, pages)))
}
