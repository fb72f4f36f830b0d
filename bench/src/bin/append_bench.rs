//! `append-bench [--clients 32] [--duration 30] [--warmup 2] [--pool 40] [--mode create|mixed] [--keep]
//! [--disable-notify-trigger]`
//!
//! Commands per second through Recon's command layer (`commands::CommandStore`): every command
//! loads its aggregate from the event store, lets it decide, and appends the resulting event with
//! its metadata (one transaction), then reads the event's store position, exactly as the API does.
//!
//! - `create`: each client creates new projects (`ProjectCommand::Create`), one event each.
//! - `mixed`: each client cycles through a project's life: Create, Update x3, Archive, so four
//!   commands in five run on an existing aggregate (loading 1-4 prior events).
//!
//! A fresh database `recon_bench_<uuid>` is created on `RECON_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`), migrated, and dropped at the end (unless `--keep`).
//! `--disable-notify-trigger` is a diagnostic, not a configuration Recon supports: it disables the
//! event store's `events_notify` trigger (a `pg_notify` per appending transaction) in the
//! benchmark database only, to measure what that trigger costs.
//!
//! The last line of output is machine-readable: `RESULT mode=… commands=… cps=… p50_ms=… …`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use commands::{migrations, CommandMetadata, CommandStore};
use domain::project::ProjectCommand;
use domain::validation::{Description, Name};
use domain::Currency;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

/// The allocator Recon's binary runs with (decision 0009), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Create,
    Mixed,
}

struct Args {
    clients: usize,
    duration: Duration,
    warmup: Duration,
    pool: u32,
    mode: Mode,
    keep: bool,
    /// Diagnostic: disable the store's `events_notify` trigger after migrating.
    no_notify: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        clients: 32,
        duration: Duration::from_secs(30),
        warmup: Duration::from_secs(2),
        pool: 40,
        mode: Mode::Create,
        keep: false,
        no_notify: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--clients" | "-c" => args.clients = value()?.parse()?,
            "--duration" | "-T" => args.duration = Duration::from_secs_f64(value()?.parse()?),
            "--warmup" => args.warmup = Duration::from_secs_f64(value()?.parse()?),
            "--pool" => args.pool = value()?.parse()?,
            "--mode" => {
                args.mode = match value()?.as_str() {
                    "create" => Mode::Create,
                    "mixed" => Mode::Mixed,
                    other => bail!("unknown mode {other} (create | mixed)"),
                }
            }
            "--keep" => args.keep = true,
            "--disable-notify-trigger" => args.no_notify = true,
            "--help" | "-h" => {
                println!("append-bench [--clients 32] [--duration 30] [--warmup 2] [--pool 40] [--mode create|mixed] [--keep] [--disable-notify-trigger]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    Ok(args)
}

fn server_url() -> String {
    std::env::var("RECON_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Per-client result: latencies (µs) of commands completed inside the measured window.
#[derive(Default)]
struct ClientStats {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

fn create(id: Uuid, name: &str) -> Result<ProjectCommand> {
    Ok(ProjectCommand::Create {
        project_id: id,
        name: Name::parse(name).map_err(|e| anyhow!(e))?,
        description: Description::parse("benchmark project").map_err(|e| anyhow!(e))?,
        base_currency: Currency::parse("EUR").map_err(|e| anyhow!(e))?,
        owner: None,
    })
}

async fn client(
    store: Arc<CommandStore>,
    n: usize,
    mode: Mode,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<ClientStats> {
    let mut stats = ClientStats::default();
    let mut project = Uuid::new_v4();
    let mut step: u64 = 0;
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let meta = CommandMetadata::system(&format!("bench-client-{n}"));
        // In mixed mode: 0 = create, 1..=3 = update, 4 = archive, then a new project.
        let phase = if mode == Mode::Create { 0 } else { step % 5 };
        if phase == 0 {
            project = Uuid::new_v4();
        }
        let command = match phase {
            0 => create(project, &format!("Bench project {n}-{k}"))?,
            1..=3 => ProjectCommand::Update {
                expected_version: Some(phase),
                name: Name::parse(&format!("Bench project {n}-{k} v{}", phase + 1))
                    .map_err(|e| anyhow!(e))?,
                description: Description::parse("benchmark project, renamed")
                    .map_err(|e| anyhow!(e))?,
            },
            _ => ProjectCommand::Archive {
                expected_version: Some(4),
            },
        };
        let started = Instant::now();
        let result = store.project(project, command, &meta).await;
        let took = started.elapsed();
        let counted = measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed);
        match result {
            Ok(_) => {
                step += 1;
                if counted {
                    stats
                        .latencies_us
                        .push(took.as_micros().min(u32::MAX as u128) as u32);
                }
            }
            Err(e) => {
                // Restart the cycle on a fresh project so one failure does not cascade.
                step = 0;
                if counted {
                    stats.errors += 1;
                    stats.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    Ok(stats)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let server = server_url();
    let name = format!("recon_bench_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| format!("connect to {server}/postgres"))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    eprintln!("append-bench: database {name}");

    let result = run(&args, &format!("{server}/{name}")).await;

    if !args.keep {
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    result
}

async fn run(args: &Args, url: &str) -> Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(args.pool)
        .min_connections(args.pool.min(args.clients as u32))
        .connect(url)
        .await
        .context("connect to the benchmark database")?;
    migrations::migrate(&pool).await.context("migrate")?;
    if args.no_notify {
        sqlx::raw_sql("ALTER TABLE events DISABLE TRIGGER events_notify")
            .execute(&pool)
            .await?;
    }
    let store = Arc::new(CommandStore::new(pool.clone()));

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(args.clients);
    for n in 0..args.clients {
        tasks.push(tokio::spawn(client(
            store.clone(),
            n,
            args.mode,
            measuring.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(args.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(args.duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();

    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    for t in tasks {
        let s = t.await??;
        all.extend_from_slice(&s.latencies_us);
        errors += s.errors;
        if first_error.is_none() {
            first_error = s.first_error;
        }
    }
    all.sort_unstable();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    pool.close().await;

    let secs = elapsed.as_secs_f64();
    let cps = all.len() as f64 / secs;
    let mean = all.iter().map(|&x| x as f64).sum::<f64>() / all.len().max(1) as f64 / 1000.0;
    let mode = match args.mode {
        Mode::Create => "create",
        Mode::Mixed => "mixed",
    };
    if let Some(e) = first_error {
        eprintln!("append-bench: {errors} command errors, first: {e}");
    }
    let notify = if args.no_notify {
        " (events_notify trigger DISABLED)"
    } else {
        ""
    };
    println!(
        "append-bench{notify}: mode={mode} clients={} pool={} warmup={:.0}s measured={secs:.2}s: {} commands, {cps:.1} commands/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} mean {:.2}; {errors} errors; {events} events in store",
        args.clients,
        args.pool,
        args.warmup.as_secs_f64(),
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 100.0),
        mean,
    );
    println!(
        "RESULT mode={mode} notify_trigger={} clients={} seconds={secs:.3} commands={} cps={cps:.1} p50_ms={:.3} p99_ms={:.3} errors={errors}",
        !args.no_notify,
        args.clients,
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
    );
    Ok(())
}
