//! The whole reconciliation pipeline as Recon runs it, timed phase by phase: two CSV files
//! streamed into the content-addressed file store, imported into the PostgreSQL record store
//! (parse + COPY + fingerprint dedup), then one job run by the worker code: load both sources
//! from PostgreSQL, match, store every result row in PostgreSQL, record the outcome event.
//!
//! `cargo bench -p worker --bench pipeline -- BANK.csv LEDGER.csv` (files from
//! `gen-recon-data`; see scripts/bench/matching.sh). Needs the PostgreSQL that tests use.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandMetadata, CommandStore};
use domain::data_source::DataSourceCommand;
use domain::job::{JobCommand, JobDefinition};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use futures::StreamExt;
use serde_json::json;
use sources::OnError;
use uuid::Uuid;
use worker::run::RunSettings;
use worker::RunEnd;

/// The allocator Recon's binary runs with (decision 0009), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bank_settings() -> serde_json::Value {
    json!({"format": "csv", "mapping": {"id": "id", "booking_date": "booking_date", "amount": "amount",
        "currency": "currency", "reference": "reference", "counterparty": "counterparty"}})
}

fn ledger_settings() -> serde_json::Value {
    json!({"format": "csv", "mapping": {"id": "entry_id", "booking_date": "posting_date", "amount": "amount",
        "currency": "currency", "reference": "doc_ref", "counterparty": "customer"}})
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn phase(name: &str, started: Instant) -> Duration {
    let took = started.elapsed();
    println!(
        "{name:<34} {:>8.2} s   peak RSS so far {:>7.0} MB",
        took.as_secs_f64(),
        peak_rss_mb()
    );
    took
}

async fn upload(files: &ingest::FileStore, path: &Path) -> ingest::StoredFile {
    let file = tokio::fs::File::open(path).await.expect("open input");
    files
        .receive(chunks(file).boxed(), u64::MAX)
        .await
        .expect("store file")
}

/// The file as a stream of 1 MiB chunks, as an HTTP upload arrives.
fn chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 1 << 20];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(bytes::Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (bank, ledger) = match args.as_slice() {
        [bank, ledger, ..] => (
            Path::new(bank).to_path_buf(),
            Path::new(ledger).to_path_buf(),
        ),
        _ => {
            eprintln!("usage: cargo bench -p worker --bench pipeline -- BANK.csv LEDGER.csv");
            std::process::exit(2);
        }
    };
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool)
        .await
        .expect("migrate");
    let store = Arc::new(CommandStore::new(db.pool.clone()));
    let files =
        ingest::FileStore::new(std::env::temp_dir().join(testkit::unique_name("pipeline-files")));
    let meta = CommandMetadata::system("bench");
    let total = Instant::now();

    let project = Uuid::new_v4();
    store
        .project(
            project,
            ProjectCommand::Create {
                project_id: project,
                name: Name::parse("bench").unwrap(),
                description: Description::default(),
                base_currency: Currency::parse("EUR").unwrap(),
                owner: None,
            },
            &meta,
        )
        .await
        .unwrap();
    let mut sources = Vec::new();
    for (name, path, settings) in [
        ("bank", &bank, bank_settings()),
        ("ledger", &ledger, ledger_settings()),
    ] {
        let id = Uuid::new_v4();
        let parsed = ingest::ImportSettings::parse(&settings, "settings").unwrap();
        store
            .data_source(
                id,
                DataSourceCommand::Create {
                    source_id: id,
                    project_id: project,
                    name: Name::parse(name).unwrap(),
                    settings,
                },
                &meta,
            )
            .await
            .unwrap();
        let started = Instant::now();
        let stored = upload(&files, path).await;
        phase(
            &format!("upload {name} ({} MB)", stored.size_bytes / 1_000_000),
            started,
        );
        let started = Instant::now();
        let summary = ingest::import_file(&db.pool, id, &stored, &parsed, OnError::Reject)
            .await
            .expect("import");
        phase(
            &format!("import {name} ({} records)", summary.records_added),
            started,
        );
        // As the upload route does: a run reads only the files its sources' events name.
        let file = summary.imported_file(path.display().to_string(), &stored, &parsed);
        store
            .data_source(id, DataSourceCommand::RecordImport { file }, &meta)
            .await
            .unwrap();
        sources.push(id);
    }
    let rules = json!({"version": 1, "passes": [{"name": "reference 1:1", "cardinality": "one_to_one", "reference": {},
        "amount_tolerance": {"absolute": "0.01"}, "date_window": {"field": "booking_date", "days": 3}}]});
    let job = Uuid::new_v4();
    store
        .create_job(
            project,
            job,
            JobDefinition::parse("bench", sources[0], sources[1], rules).unwrap(),
            &meta,
        )
        .await
        .unwrap();
    store
        .job(
            job,
            JobCommand::Start {
                expected_version: None,
            },
            &meta,
        )
        .await
        .unwrap();
    let settings = RunSettings {
        worker_id: "bench".into(),
        lease: Duration::from_secs(60),
        check_every: Duration::from_millis(250),
        progress_every: Duration::from_secs(1),
    };
    worker::leases::try_claim(&db.pool, job, 1, "bench", settings.lease)
        .await
        .unwrap();
    let started = Instant::now();
    let end = worker::run_job(&db.pool, &store, job, 1, &settings)
        .await
        .unwrap();
    phase("run job (load, match, store results)", started);
    let total = phase("total, CSV files to stored results", total);
    match end {
        // A run that loaded nothing measured nothing.
        RunEnd::Completed(counts) if counts.matched == 0 => {
            eprintln!("the run matched nothing: {counts:?}");
            std::process::exit(1);
        }
        RunEnd::Completed(counts) => println!(
            "matched {} unmatched_left {} unmatched_right {} suggestions {} | total {:.2} s | peak RSS {:.0} MB",
            counts.matched, counts.unmatched_left, counts.unmatched_right, counts.suggestions, total.as_secs_f64(), peak_rss_mb()
        ),
        other => {
            eprintln!("the run did not complete: {other:?}");
            std::process::exit(1);
        }
    }
    let _ = std::fs::remove_dir_all(files.root());
}
