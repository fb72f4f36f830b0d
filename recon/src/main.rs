//! `recon`: every role of Recon behind one command. With no subcommand it runs all roles in one
//! process (embedded mode: no Kafka needed, and no database configuration needed either).

mod database;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use commands::CommandStore;
use database::{Database, DatabaseMode};
use projections::follower::FollowerConfig;
use projections::kafka::KafkaProjectorConfig;
use relay::RelayConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// mimalloc (decision 0009): faster small allocations than the system allocator, and memory
/// in huge pages, which saves most page faults of a large matching run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "recon",
    version,
    about = "Recon: event-sourced data reconciliation"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Args, Clone)]
struct Config {
    /// PostgreSQL URL. Unset: a PostgreSQL on localhost if one answers, else a private cluster.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// `private` always uses the private cluster in the data directory.
    #[arg(
        long,
        env = "RECON_DATABASE",
        value_enum,
        default_value = "auto",
        global = true
    )]
    database: DatabaseMode,
    /// Where the private PostgreSQL cluster (and, later, uploaded files) live.
    #[arg(
        long,
        env = "RECON_DATA_DIR",
        default_value = "recon-data",
        global = true
    )]
    data_dir: PathBuf,
    #[arg(
        long,
        env = "RECON_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    db_max_connections: u32,
    /// Kafka bootstrap servers. Set: events travel store → relay → Kafka → projector.
    #[arg(long, env = "KAFKA_BROKERS", global = true)]
    kafka_brokers: Option<String>,
    #[arg(
        long,
        env = "RECON_KAFKA_TOPIC",
        default_value = "recon.events",
        global = true
    )]
    kafka_topic: String,
    #[arg(
        long,
        env = "RECON_KAFKA_PARTITIONS",
        default_value_t = 3,
        global = true
    )]
    kafka_partitions: i32,
    #[arg(
        long,
        env = "RECON_KAFKA_REPLICATION",
        default_value_t = 1,
        global = true
    )]
    kafka_replication: i32,
    #[arg(
        long,
        env = "RECON_CONSUMER_GROUP",
        default_value = "recon-projections",
        global = true
    )]
    consumer_group: String,
    /// Relays with the same name share one leader lock and one checkpoint.
    #[arg(
        long,
        env = "RECON_RELAY_NAME",
        default_value = "default",
        global = true
    )]
    relay_name: String,
    #[arg(
        long,
        env = "RECON_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    http_addr: String,
    #[arg(long, env = "RECON_HTTP_WORKERS", default_value_t = 2, global = true)]
    http_workers: usize,
    /// Where uploaded files are kept (content-addressed). Default: <data dir>/files.
    #[arg(long, env = "RECON_FILES_DIR", global = true)]
    files_dir: Option<PathBuf>,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "RECON_MAX_UPLOAD_BYTES", default_value_t = 2 * 1024 * 1024 * 1024, global = true)]
    max_upload_bytes: u64,
    /// Consumer group of the workers (scaled mode).
    #[arg(
        long,
        env = "RECON_WORKER_GROUP",
        default_value = "recon-workers",
        global = true
    )]
    worker_group: String,
    /// This worker's name in leases and event metadata. Default: <host>-<pid>.
    #[arg(long, env = "RECON_WORKER_ID", global = true)]
    worker_id: Option<String>,
    /// Secret (at least 32 bytes) that signs access tokens. Unset: a random key made at first
    /// start and kept in the database, shared by every process using it.
    #[arg(
        long,
        env = "RECON_TOKEN_SECRET",
        global = true,
        hide_env_values = true
    )]
    token_secret: Option<String>,
    /// Requests per signed-in user: `100/min,burst=20` (units s, min, h), or `off`.
    #[arg(
        long,
        env = "RECON_RATE_LIMIT",
        default_value = "100/min,burst=20",
        global = true
    )]
    rate_limit: String,
    /// Requests without a valid token, per client address.
    #[arg(
        long,
        env = "RECON_RATE_LIMIT_ANONYMOUS",
        default_value = "60/min,burst=20",
        global = true
    )]
    rate_limit_anonymous: String,
    /// Where `recon relay`, `recon project` and `recon worker` serve /health, /ready and /metrics
    /// (`:0` picks a free port, printed on stdout). Unset: not served. The API serves its own.
    #[arg(long, env = "RECON_OPS_ADDR", global = true)]
    ops_addr: Option<String>,
    /// Origins browsers may call the API from (CORS), comma-separated, e.g.
    /// `https://app.example.com`. Empty: no cross-origin calls.
    #[arg(long, env = "RECON_CORS_ORIGINS", default_value = "", global = true)]
    cors_origins: String,
    /// Users with a tier of their own: `<user id>=<quota>;<user id>=<quota>`.
    #[arg(
        long,
        env = "RECON_RATE_LIMIT_USERS",
        default_value = "",
        global = true
    )]
    rate_limit_users: String,
    /// `on` (default): hot reads (a project, job, source, the dashboard) are cached and
    /// invalidated by the projectors' change notifications; `off`: every read goes to the
    /// read models.
    #[arg(long, env = "RECON_READ_CACHE", default_value = "on", global = true)]
    read_cache: String,
    /// Seconds a request (but an upload) may take before it is stopped with 503.
    #[arg(
        long,
        env = "RECON_REQUEST_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    request_timeout: u64,
    /// What a projector does with an event it cannot apply: `park` it (recorded in
    /// projection_parked_events; the rest goes on) or `stop` there until it is fixed.
    #[arg(
        long,
        env = "RECON_PROJECTION_FAILURES",
        default_value = "park",
        global = true
    )]
    projection_failures: String,
}

/// The configured request limits (None when `RECON_RATE_LIMIT=off`).
fn rate_limits(config: &Config) -> Result<Option<api::rate_limit::RateLimits>> {
    use api::rate_limit::{Quota, RateLimits};
    if config.rate_limit.trim() == "off" {
        return Ok(None);
    }
    let quota =
        |name: &str, raw: &str| Quota::parse(raw).map_err(|e| anyhow::anyhow!("{name}: {e}"));
    Ok(Some(RateLimits {
        default: quota("RECON_RATE_LIMIT", &config.rate_limit)?,
        anonymous: quota("RECON_RATE_LIMIT_ANONYMOUS", &config.rate_limit_anonymous)?,
        users: RateLimits::parse_users(&config.rate_limit_users)
            .map_err(|e| anyhow::anyhow!("RECON_RATE_LIMIT_USERS: {e}"))?,
    }))
}

#[derive(Subcommand)]
enum Role {
    /// The HTTP API.
    Serve,
    /// Publish committed events to Kafka (one leader, any number of standbys).
    Relay,
    /// Maintain the read models: from Kafka with KAFKA_BROKERS, else straight from the store.
    Project,
    /// Run reconciliation jobs (any number of replicas).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Audit: an aggregate's history and past states.
    Replay {
        #[command(subcommand)]
        command: ReplayCommand,
    },
    /// Manage users (the first admin is created this way).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user. The password is asked for (not echoed), or read from stdin.
    Create {
        #[arg(long)]
        email: String,
        /// admin, operator, viewer or auditor.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of stdin instead of asking for it.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Print an aggregate's events with their metadata.
    History {
        aggregate_id: String,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print an aggregate's state at a version or a time (default: now).
    State {
        aggregate_id: String,
        #[arg(long, conflicts_with = "at")]
        version: Option<u64>,
        /// RFC 3339 time, e.g. 2026-01-31T23:59:59Z.
        #[arg(long)]
        at: Option<String>,
    },
}

/// Logs to stderr: `RECON_LOG` filters, `RECON_LOG_FORMAT=json` writes one JSON object per line
/// (with the fields of the enclosing spans: the request id, the actor), and colour codes are
/// written only to a terminal.
fn init_logging() -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match std::env::var("RECON_LOG_FORMAT").as_deref() {
        Ok("json") => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Ok("text") | Err(_) => builder.init(),
        Ok(other) => {
            return Err(format!(
                "RECON_LOG_FORMAT must be `text` or `json`, not `{other}`"
            ))
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(e) = init_logging() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = cli.config;
    let db = database::resolve(
        config.database_url.as_deref(),
        config.database,
        &config.data_dir,
        config.db_max_connections,
    )
    .await?;
    let result = run_role(cli.role, &config, &db).await;
    if let Some(cluster) = &db.private_cluster {
        db.pool.close().await;
        cluster.stop();
    }
    result
}

async fn run_role(role: Option<Role>, config: &Config, db: &Database) -> Result<ExitCode> {
    if let Some(Role::Replay { command }) = role {
        return replay(&db.pool, command).await;
    }
    let applied = commands::migrations::migrate(&db.pool)
        .await
        .context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let tokens = Arc::new(
        application::identity::AccessTokens::load(&db.pool, config.token_secret.as_deref())
            .await
            .context("loading the token signing key")?,
    );
    if let Some(Role::Users { command }) = role {
        return users(db, tokens, command).await;
    }
    let (stop, shutdown) = watch::channel(false);
    let mut roles: Vec<JoinHandle<Result<()>>> = Vec::new();
    let store = Arc::new(CommandStore::new(db.pool.clone()));
    let mut server = None;
    let runs_worker = matches!(role, Some(Role::Worker) | None);
    match role {
        Some(Role::Migrate) => return Ok(ExitCode::SUCCESS),
        Some(Role::Replay { .. }) | Some(Role::Users { .. }) => unreachable!("handled above"),
        Some(Role::Serve) => server = Some(start_api(config, store.clone(), tokens, false)?),
        Some(Role::Relay) => roles.push(start_relay(config, db, shutdown.clone())?),
        Some(Role::Project) => roles.push(start_projector(config, db, &store, shutdown.clone())),
        Some(Role::Worker) => roles.push(start_worker(config, db, &store, shutdown.clone())),
        None => {
            if config.kafka_brokers.is_some() {
                roles.push(start_relay(config, db, shutdown.clone())?);
            }
            roles.push(start_projector(config, db, &store, shutdown.clone()));
            roles.push(start_worker(config, db, &store, shutdown.clone()));
            server = Some(start_api(config, store.clone(), tokens.clone(), true)?);
            let identity = application::Identity::new(store.clone(), tokens);
            if let Ok(false) = identity.any_user().await {
                tracing::warn!("no user exists yet; create the first admin with: recon users create --email you@example.com --role admin");
                eprintln!("\nNo user exists yet. Create the first admin (it asks for a password):\n  cargo run --release -p recon -- users create --email you@example.com --role admin\n");
            }
        }
    }
    if server.is_none() {
        if let Some(addr) = &config.ops_addr {
            let job_runs =
                runs_worker.then_some(worker::outcomes::counts as api::metrics::JobRunCounts);
            server = Some(start_operations(addr, &db.pool, job_runs)?);
        }
    }
    let handle = server.as_ref().map(|s| s.handle());
    let server_task = server.map(tokio::spawn);
    // Run until a signal, or until a role ends on its own (an error).
    let failed = tokio::select! {
        _ = shutdown_signal() => None,
        ended = futures_first(&mut roles) => Some(ended),
    };
    tracing::info!("shutting down");
    let _ = stop.send(true);
    if let Some(handle) = handle {
        handle.stop(true).await;
    }
    if let Some(task) = server_task {
        let _ = task.await;
    }
    for role in roles {
        let _ = tokio::time::timeout(Duration::from_secs(10), role).await;
    }
    match failed {
        Some(Err(e)) => Err(e),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Waits for the first role task to end (roles run until shutdown, so ending is a failure).
async fn futures_first(roles: &mut Vec<JoinHandle<Result<()>>>) -> Result<()> {
    if roles.is_empty() {
        return std::future::pending().await;
    }
    let (result, index, _) = futures::future::select_all(roles.iter_mut()).await;
    roles.remove(index);
    match result {
        Ok(inner) => inner.and(Err(anyhow::anyhow!("a role stopped unexpectedly"))),
        Err(e) => Err(anyhow::anyhow!("a role panicked: {e}")),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `runs_worker`: this process runs the worker too (embedded mode), so `/metrics` counts its
/// job runs.
fn start_api(
    config: &Config,
    store: Arc<CommandStore>,
    tokens: Arc<application::identity::AccessTokens>,
    runs_worker: bool,
) -> Result<actix_web::dev::Server> {
    let listener = TcpListener::bind(&config.http_addr)
        .with_context(|| format!("binding {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "HTTP API listening");
    // Printed on stdout so scripts and tests can find a port chosen with :0.
    println!("recon listening on http://{addr}");
    let files_dir = config
        .files_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("files"));
    let mut app_state = api::AppState::new(store, ingest::FileStore::new(files_dir), tokens)
        .context("registering the API's metrics")?;
    app_state.max_upload_bytes = config.max_upload_bytes;
    app_state.request_timeout = std::time::Duration::from_secs(config.request_timeout.max(1));
    app_state.cors_origins = config
        .cors_origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    app_state.rate_limiter =
        rate_limits(config)?.map(|l| Arc::new(api::rate_limit::RateLimiter::new(l)));
    app_state.read_cache = match config.read_cache.trim() {
        "on" => app_state.read_cache,
        "off" => Arc::new(api::read_cache::ReadCache::off()),
        other => anyhow::bail!("RECON_READ_CACHE must be `on` or `off`, not `{other}`"),
    };
    if runs_worker {
        app_state.metrics.count_job_runs(worker::outcomes::counts);
    }
    let state = actix_web::web::Data::new(app_state);
    Ok(api::serve(listener, state, config.http_workers)?)
}

/// `/health`, `/ready` and `/metrics` for a role that serves no API.
fn start_operations(
    addr: &str,
    pool: &sqlx::PgPool,
    job_runs: Option<api::metrics::JobRunCounts>,
) -> Result<actix_web::dev::Server> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "operations endpoints listening");
    // Printed on stdout so scripts and tests can find a port chosen with :0.
    println!("recon operations on http://{local}");
    Ok(api::operations::serve(listener, pool.clone(), job_runs)?)
}

fn kafka_brokers(config: &Config) -> Result<String> {
    config
        .kafka_brokers
        .clone()
        .context("the relay needs KAFKA_BROKERS (host:port of the Kafka bootstrap servers)")
}

fn start_relay(
    config: &Config,
    db: &Database,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<Result<()>>> {
    let relay_config = RelayConfig {
        brokers: kafka_brokers(config)?,
        topic: config.kafka_topic.clone(),
        partitions: config.kafka_partitions,
        replication: config.kafka_replication,
        name: config.relay_name.clone(),
        batch_size: 1000,
        idle_poll: Duration::from_millis(250),
    };
    let pool = db.pool.clone();
    Ok(tokio::spawn(async move {
        relay::run(pool, relay_config, shutdown)
            .await
            .context("relay")
    }))
}

fn start_projector(
    config: &Config,
    db: &Database,
    store: &CommandStore,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<()>> {
    let pool = db.pool.clone();
    let on_failure = match projections::parking::OnFailure::parse(&config.projection_failures) {
        Ok(on_failure) => on_failure,
        Err(e) => {
            return tokio::spawn(
                async move { Err(anyhow::anyhow!("RECON_PROJECTION_FAILURES {e}")) },
            )
        }
    };
    match &config.kafka_brokers {
        Some(brokers) => {
            let kafka = KafkaProjectorConfig {
                brokers: brokers.clone(),
                topic: config.kafka_topic.clone(),
                group_id: config.consumer_group.clone(),
                batch_max: 500,
                batch_linger: Duration::from_millis(20),
                on_failure,
            };
            tokio::spawn(async move {
                projections::kafka::run(pool, kafka, shutdown)
                    .await
                    .context("projector")
            })
        }
        None => {
            let commits = store.commit_signal();
            tokio::spawn(async move {
                let follower = FollowerConfig {
                    on_failure,
                    ..FollowerConfig::default()
                };
                projections::follower::run(pool, commits, follower, shutdown).await;
                Ok(())
            })
        }
    }
}

fn start_worker(
    config: &Config,
    db: &Database,
    store: &Arc<CommandStore>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<()>> {
    let worker_id = config.worker_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "recon".into());
        format!("{}-{}", host.trim(), std::process::id())
    });
    let mut worker_config = worker::WorkerConfig::new(worker_id);
    worker_config.kafka = config.kafka_brokers.clone().map(|brokers| {
        (
            brokers,
            config.kafka_topic.clone(),
            config.worker_group.clone(),
        )
    });
    let (pool, store) = (db.pool.clone(), store.clone());
    tokio::spawn(async move {
        worker::run_worker(pool, store, worker_config, shutdown).await;
        Ok(())
    })
}

async fn replay(pool: &sqlx::PgPool, command: ReplayCommand) -> Result<ExitCode> {
    match command {
        ReplayCommand::History { aggregate_id, json } => {
            let events = match replay::history(pool, &aggregate_id).await {
                Ok(events) => events,
                Err(e) => return user_error(e),
            };
            for event in &events {
                if json {
                    println!("{}", serde_json::to_string(event)?);
                } else {
                    println!("{}", replay::describe(event));
                }
            }
        }
        ReplayCommand::State {
            aggregate_id,
            version,
            at,
        } => {
            let as_of = match (version, at) {
                (Some(v), _) => replay::AsOf::Version(v),
                (None, Some(at)) => match chrono::DateTime::parse_from_rfc3339(&at) {
                    Ok(t) => replay::AsOf::Time(t.with_timezone(&chrono::Utc)),
                    Err(e) => {
                        eprintln!("error: --at `{at}` is not an RFC 3339 time (e.g. 2026-01-31T23:59:59Z): {e}");
                        return Ok(ExitCode::from(2));
                    }
                },
                (None, None) => replay::AsOf::Latest,
            };
            match replay::state(pool, &aggregate_id, as_of).await {
                Ok(state) => println!("{}", serde_json::to_string_pretty(&state)?),
                Err(e) => return user_error(e),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn user_error(e: replay::ReplayError) -> Result<ExitCode> {
    match e {
        replay::ReplayError::Database(e) => Err(e.into()),
        other => {
            eprintln!("error: {other}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn users(
    db: &Database,
    tokens: Arc<application::identity::AccessTokens>,
    command: UsersCommand,
) -> Result<ExitCode> {
    match command {
        UsersCommand::Create {
            email,
            role,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                let first = rpassword::prompt_password("password: ")
                    .context("reading the password (use --password-stdin without a terminal)")?;
                let again = rpassword::prompt_password("again: ")?;
                if first != again {
                    eprintln!("error: the two passwords differ");
                    return Ok(ExitCode::from(2));
                }
                first
            };
            let new = match application::identity::NewUser::parse(&email, &role, password) {
                Ok(new) => new,
                Err(errors) => {
                    for e in errors.errors {
                        eprintln!("error: --{}: {}", e.path.replace('_', "-"), e.message);
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            let store = Arc::new(CommandStore::new(db.pool.clone()));
            let identity = application::Identity::new(store, tokens);
            let metadata = commands::CommandMetadata::system("cli");
            match identity.create_user(new, &metadata).await {
                Ok(committed) => {
                    println!("{}", committed.id);
                    Ok(ExitCode::SUCCESS)
                }
                Err(application::identity::UserError::EmailTaken) => {
                    eprintln!("error: --email: a user with this address exists");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
