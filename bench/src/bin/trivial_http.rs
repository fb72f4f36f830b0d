//! The baseline of the read benchmark (`scripts/bench/cached_reads.sh`): the same actix-web,
//! allocator and worker count as `recon serve`, one handler answering a fixed small JSON body,
//! no middleware. What a read through Recon's whole stack is compared with.
//!
//!   trivial-http 127.0.0.1:8099 2     # address, HTTP workers

use actix_web::{web, App, HttpResponse, HttpServer};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn trivial() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8099".to_string());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    actix_web::rt::System::new().block_on(async move {
        println!("trivial-http listening on http://{addr}");
        HttpServer::new(|| App::new().route("/", web::get().to(trivial)))
            .workers(workers)
            .bind(&addr)?
            .run()
            .await
    })
}
