//! Finding a database with no configuration: `DATABASE_URL` if set; else a PostgreSQL on
//! localhost if one answers; else a private cluster in the data directory, started from the
//! PostgreSQL binaries installed on the machine (as an unprivileged user when run as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

/// How `recon` chose its database, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatabaseMode {
    /// DATABASE_URL, else localhost, else a private cluster.
    Auto,
    /// Always the private cluster in the data directory.
    Private,
}

pub struct Database {
    /// The database's URL (for logs; never contains a password we did not get from the user).
    #[allow(dead_code)]
    pub url: String,
    pub pool: PgPool,
    /// Set when Recon started a private cluster; stopped on graceful shutdown.
    pub private_cluster: Option<PrivateCluster>,
}

pub async fn connect_pool(url: &str, max_connections: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url.parse::<PgConnectOptions>() {
        Ok(_) if url.contains('@') => {
            let (scheme_user, host) = url.split_once('@').unwrap_or((url, ""));
            let scheme_user = match scheme_user.rsplit_once(':') {
                Some((left, _)) if left.contains("//") && !left.ends_with('/') => {
                    format!("{left}:***")
                }
                _ => scheme_user.to_string(),
            };
            format!("{scheme_user}@{host}")
        }
        _ => url.to_string(),
    }
}

pub async fn resolve(
    database_url: Option<&str>,
    mode: DatabaseMode,
    data_dir: &Path,
    max_connections: u32,
) -> Result<Database> {
    if mode == DatabaseMode::Auto {
        if let Some(url) = database_url {
            tracing::info!(database = %redact(url), "using DATABASE_URL");
            return Ok(Database {
                pool: connect_pool(url, max_connections).await?,
                url: url.to_string(),
                private_cluster: None,
            });
        }
        for user in ["postgres", "root"] {
            let server = format!("postgres://{user}@127.0.0.1:5432");
            if let Ok(url) = ensure_database(&server, "recon").await {
                tracing::info!(database = %url, "using the PostgreSQL server on localhost");
                return Ok(Database {
                    pool: connect_pool(&url, max_connections).await?,
                    url,
                    private_cluster: None,
                });
            }
        }
    }
    let cluster = PrivateCluster::start(&data_dir.join("postgres")).await?;
    let url = ensure_database(&cluster.server_url(), "recon").await?;
    tracing::info!(database = %url, data = %cluster.data_dir.display(), "using Recon's private PostgreSQL cluster");
    Ok(Database {
        pool: connect_pool(&url, max_connections).await?,
        url,
        private_cluster: Some(cluster),
    })
}

/// Connects to `server`, creates `name` if missing, and returns its URL.
async fn ensure_database(server: &str, name: &str) -> Result<String> {
    let options: PgConnectOptions = format!("{server}/postgres").parse()?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(3),
        PgConnection::connect_with(&options.disable_statement_logging()),
    )
    .await
    .map_err(|_| anyhow!("timed out connecting to {server}"))??;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        match sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {}
            // Another process created it between our check and our CREATE.
            Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(format!("{server}/{name}"))
}

/// A PostgreSQL cluster owned by Recon, in `<data dir>/postgres`.
pub struct PrivateCluster {
    pub data_dir: PathBuf,
    pub port: u16,
    bin_dir: PathBuf,
    run_as: Option<String>,
    /// False when we attached to a cluster another `recon` process started: not ours to stop.
    started_here: bool,
}

impl PrivateCluster {
    pub fn server_url(&self) -> String {
        format!("postgres://recon@127.0.0.1:{}", self.port)
    }

    /// Initialises the cluster if needed and starts it, or attaches to it if already running.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let bin_dir = find_postgres_binaries()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let run_as = unprivileged_user(&data_dir)?;
        let mut cluster = Self {
            data_dir,
            port: 0,
            bin_dir,
            run_as,
            started_here: false,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.run(
                "initdb",
                &[
                    "-D",
                    &cluster.path(),
                    "-U",
                    "recon",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
            )?;
        }
        if let Some(port) = cluster.running_port() {
            tracing::info!(port, "private PostgreSQL cluster already running");
            cluster.port = port;
            return Ok(cluster);
        }
        cluster.port = free_port()?;
        cluster.started_here = true;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200",
            cluster.port
        );
        let log = cluster.data_dir.join("postgres.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &cluster.path(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(cluster)
    }

    fn path(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    /// The port of a postmaster already serving this data directory (line 4 of postmaster.pid).
    fn running_port(&self) -> Option<u16> {
        let status = self
            .command("pg_ctl", &["-D", &self.path(), "status"])
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin_dir.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(program).args(args);
                c
            }
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let output = self
            .command(tool, args)
            .output()
            .with_context(|| format!("running {tool}"))?;
        if !output.status.success() {
            bail!(
                "{tool} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Fast shutdown of a cluster this process started; called on graceful exit. After a crash the cluster keeps running and the
    /// next start attaches to it.
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        if let Err(e) = self.run("pg_ctl", &["-D", &self.path(), "-m", "fast", "-w", "stop"]) {
            tracing::warn!(error = %e, "stopping the private PostgreSQL cluster");
        }
    }
}

fn find_postgres_binaries() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("RECON_POSTGRES_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| anyhow!("no PostgreSQL server binaries found (install postgresql, or set DATABASE_URL or RECON_POSTGRES_BIN)"))
}

/// PostgreSQL refuses to run as root. As root, hand the data directory to the `postgres` user
/// (or `nobody`) and run the server tools as that user.
fn unprivileged_user(data_dir: &Path) -> Result<Option<String>> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("running id -u")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let user = ["postgres", "nobody"]
        .into_iter()
        .find(|u| Command::new("id").arg(u).output().map(|o| o.status.success()).unwrap_or(false))
        .ok_or_else(|| anyhow!("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL"))?;
    let status = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(data_dir)
        .status()?;
    if !status.success() {
        bail!("cannot hand {} to user {user}", data_dir.display());
    }
    let _ = Command::new("chmod").arg("700").arg(data_dir).status();
    // The user must be able to reach the directory through its parents.
    let reachable = Command::new("runuser")
        .args(["-u", user, "--", "test", "-w"])
        .arg(data_dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !reachable {
        bail!(
            "user {user} cannot reach {} (a parent directory is private); choose a data directory elsewhere with --data-dir",
            data_dir.display()
        );
    }
    Ok(Some(user.to_string()))
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
