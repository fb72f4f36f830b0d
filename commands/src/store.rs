//! Runs commands: load the aggregate (from the in-process cache, or the store), let it decide,
//! append its events with the command's metadata, and answer with the new version and store
//! position. See `aggregate_cache` for why a cached state can never decide wrongly.

use std::sync::Arc;

use crate::aggregate_cache::{AggregateCache, DEFAULT_CAPACITY};
use crate::repository::{RecordingRepository, LAST_POSITION};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use domain::data_source::{DataSource, DataSourceCommand, DataSourceError};
use domain::job::{Job, JobCommand, JobDefinition, JobError};
use domain::project::{Project, ProjectCommand, ProjectError, ProjectStatus};
use domain::user::{User, UserCommand, UserError};
use domain::Version;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::metadata::CommandMetadata;

/// What a successful command produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Committed {
    pub id: Uuid,
    /// The aggregate's version after the command (unchanged when it produced no event).
    pub version: Version,
    /// Store position of the command's last event; `None` when it produced no event.
    pub position: Option<i64>,
    pub events: usize,
}

/// Why a command was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command in its current state.
    #[error(transparent)]
    Rejected(E),
    /// Another command changed the aggregate between load and append (optimistic concurrency).
    #[error("the aggregate was changed concurrently; reload and retry")]
    Conflict,
    /// The store could not be reached.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a stored event that no longer deserialises, an unexpected SQL error).
    #[error("event store failure: {0}")]
    Internal(String),
}

impl<E: std::error::Error> From<AggregateError<E>> for CommandError<E> {
    fn from(err: AggregateError<E>) -> Self {
        match err {
            AggregateError::UserError(e) => CommandError::Rejected(e),
            AggregateError::AggregateConflict => CommandError::Conflict,
            AggregateError::DatabaseConnectionError(e) => CommandError::Unavailable(e.to_string()),
            AggregateError::DeserializationError(e) => {
                CommandError::Internal(format!("stored event unreadable: {e}"))
            }
            AggregateError::UnexpectedError(e) => CommandError::Internal(e.to_string()),
        }
    }
}

/// Why a job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateJobError {
    /// The job's project does not exist or is archived.
    #[error("{0}")]
    Project(ProjectError),
    #[error(transparent)]
    Job(#[from] CommandError<JobError>),
}

/// Aggregates whose state counts the events applied to them.
pub trait Versioned: Aggregate {
    fn version(&self) -> Version;
    /// Whether the command creates the aggregate. Creation ids are freshly generated (UUID v7),
    /// so the command is decided on the empty state without a load; should the id exist after
    /// all, the append conflicts and the command is decided again on the stored state.
    fn is_creation(command: &Self::Command) -> bool;
}

impl Versioned for Project {
    fn version(&self) -> Version {
        self.version
    }
    fn is_creation(command: &ProjectCommand) -> bool {
        matches!(command, ProjectCommand::Create { .. })
    }
}

impl Versioned for DataSource {
    fn version(&self) -> Version {
        self.version
    }
    fn is_creation(command: &DataSourceCommand) -> bool {
        matches!(command, DataSourceCommand::Create { .. })
    }
}

impl Versioned for Job {
    fn version(&self) -> Version {
        self.version
    }
    fn is_creation(command: &JobCommand) -> bool {
        matches!(command, JobCommand::Create { .. })
    }
}

impl Versioned for User {
    fn version(&self) -> Version {
        self.version
    }
    fn is_creation(command: &UserCommand) -> bool {
        matches!(command, UserCommand::Create { .. })
    }
}

type Store<A> = PersistedEventStore<RecordingRepository, A>;

fn event_store<A: Aggregate>(pool: &PgPool) -> Store<A> {
    PersistedEventStore::new_event_store(RecordingRepository::new(pool.clone()))
        .with_upcasters(domain::upcasting::upcasters())
}

/// The command side: one per process, cheap to share behind an `Arc`.
pub struct CommandStore {
    pool: PgPool,
    projects: Store<Project>,
    jobs: Store<Job>,
    sources: Store<DataSource>,
    users: Store<User>,
    cached_projects: AggregateCache<Project>,
    cached_jobs: AggregateCache<Job>,
    cached_sources: AggregateCache<DataSource>,
    cached_users: AggregateCache<User>,
    committed: Arc<Notify>,
    /// Wakes the task that tells other processes (LISTEN `recon_events`) that events committed.
    announce: Arc<Notify>,
}

/// Sends `NOTIFY recon_events` after commits, at most once per `COALESCE` window, outside any
/// appending transaction (a NOTIFY inside one serialises commits cluster-wide).
async fn announce_commits(pool: PgPool, signal: Arc<Notify>) {
    const COALESCE: std::time::Duration = std::time::Duration::from_millis(5);
    loop {
        signal.notified().await;
        tokio::time::sleep(COALESCE).await;
        if let Err(e) = sqlx::query("SELECT pg_notify('recon_events', '')")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "cannot announce commits; followers will poll");
        }
    }
}

impl CommandStore {
    /// Must be called within a Tokio runtime: it starts the commit announcer.
    pub fn new(pool: PgPool) -> Self {
        let announce = Arc::new(Notify::new());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(announce_commits(pool.clone(), announce.clone()));
        }
        Self {
            projects: event_store(&pool),
            jobs: event_store(&pool),
            sources: event_store(&pool),
            users: event_store(&pool),
            cached_projects: AggregateCache::new(DEFAULT_CAPACITY),
            cached_jobs: AggregateCache::new(DEFAULT_CAPACITY),
            cached_sources: AggregateCache::new(DEFAULT_CAPACITY),
            cached_users: AggregateCache::new(DEFAULT_CAPACITY),
            pool,
            committed: Arc::new(Notify::new()),
            announce,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Signalled after every commit: the in-process bus that wakes the embedded projector.
    pub fn commit_signal(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    pub async fn project(
        &self,
        id: Uuid,
        command: ProjectCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<ProjectError>> {
        self.execute(&self.projects, &self.cached_projects, id, command, metadata)
            .await
    }

    pub async fn job(
        &self,
        id: Uuid,
        command: JobCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<JobError>> {
        self.execute(&self.jobs, &self.cached_jobs, id, command, metadata)
            .await
    }

    pub async fn data_source(
        &self,
        id: Uuid,
        command: DataSourceCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<DataSourceError>> {
        self.execute(&self.sources, &self.cached_sources, id, command, metadata)
            .await
    }

    pub async fn user(
        &self,
        id: Uuid,
        command: UserCommand,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<UserError>> {
        self.execute(&self.users, &self.cached_users, id, command, metadata)
            .await
    }

    /// The user's current state, folded from its events (never from the cache: sign-in and
    /// authorisation must see a role change or a disable made by another process).
    pub async fn load_user(
        &self,
        id: Uuid,
    ) -> Result<User, CommandError<std::convert::Infallible>> {
        load(&self.users, id).await
    }

    /// The data source's current state, folded from its events.
    pub async fn load_data_source(
        &self,
        id: Uuid,
    ) -> Result<DataSource, CommandError<std::convert::Infallible>> {
        load(&self.sources, id).await
    }

    /// The project, if it exists and is active; the error says why not.
    pub async fn active_project(&self, project_id: Uuid) -> Result<Project, CreateJobError> {
        let project = self
            .load_project(project_id)
            .await
            .map_err(|e| CreateJobError::Job(widen(e)))?;
        match project.status {
            ProjectStatus::Absent => Err(CreateJobError::Project(ProjectError::NotFound)),
            ProjectStatus::Archived => Err(CreateJobError::Project(ProjectError::Archived)),
            ProjectStatus::Active => Ok(project),
        }
    }

    /// Creates a job in an active project. The project check and the job's creation are not one
    /// transaction: a job created while its project is being archived may slip through; the
    /// archive then still stands and the job remains visible under the archived project.
    pub async fn create_job(
        &self,
        project_id: Uuid,
        job_id: Uuid,
        definition: JobDefinition,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CreateJobError> {
        self.active_project(project_id).await?;
        let command = JobCommand::Create {
            job_id,
            project_id,
            definition,
        };
        Ok(self.job(job_id, command, metadata).await?)
    }

    /// The project's current state, folded from its events.
    pub async fn load_project(
        &self,
        id: Uuid,
    ) -> Result<Project, CommandError<std::convert::Infallible>> {
        load(&self.projects, id).await
    }

    /// The job's current state, folded from its events.
    pub async fn load_job(&self, id: Uuid) -> Result<Job, CommandError<std::convert::Infallible>> {
        load(&self.jobs, id).await
    }

    async fn execute<A>(
        &self,
        store: &Store<A>,
        cache: &AggregateCache<A>,
        id: Uuid,
        command: A::Command,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()> + Versioned + Clone,
        A::Command: Clone,
    {
        let aggregate_id = id.to_string();
        let assumed = if A::is_creation(&command) {
            Some((A::default(), 0))
        } else {
            cache.get(id)
        };
        if let Some((aggregate, current_sequence)) = assumed {
            let context = EventStoreAggregateContext {
                aggregate_id: aggregate_id.clone(),
                aggregate,
                current_sequence,
                current_snapshot: None,
            };
            match self
                .decide_and_append(store, cache, id, context, command.clone(), metadata)
                .await
            {
                // The assumed state may be behind the store: decide again on the stored one.
                Err(CommandError::Conflict | CommandError::Rejected(_)) => cache.forget(id),
                decided => return decided,
            }
        }
        let context = store.load_aggregate(&aggregate_id).await?;
        self.decide_and_append(store, cache, id, context, command, metadata)
            .await
    }

    /// Lets the aggregate in `context` decide, appends its events, and keeps the new state in
    /// `cache` (or forgets the aggregate when the append failed).
    async fn decide_and_append<A>(
        &self,
        store: &Store<A>,
        cache: &AggregateCache<A>,
        id: Uuid,
        mut context: EventStoreAggregateContext<A>,
        command: A::Command,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()> + Versioned + Clone,
    {
        let sink: EventSink<A> = EventSink::default();
        let version_before = context.aggregate.version();
        context
            .aggregate
            .handle(command, &(), &sink)
            .await
            .map_err(CommandError::Rejected)?;
        let events = sink.collect().await;
        if events.is_empty() {
            cache.put(id, context.aggregate.clone(), context.current_sequence);
            return Ok(Committed {
                id,
                version: version_before,
                position: None,
                events: 0,
            });
        }
        let mut next = context.aggregate.clone();
        for event in &events {
            next.apply(event.clone());
        }
        let (committed, position) = LAST_POSITION
            .scope(std::cell::Cell::new(None), async {
                let committed = store.commit(events, context, metadata.to_map()).await;
                (committed, LAST_POSITION.with(|p| p.get()))
            })
            .await;
        let committed = match committed {
            Ok(committed) => committed,
            Err(e) => {
                cache.forget(id);
                return Err(e.into());
            }
        };
        self.committed.notify_one();
        self.announce.notify_one();
        let last_sequence = committed.last().map_or(0, |e| e.sequence);
        cache.put(id, next, last_sequence);
        Ok(Committed {
            id,
            version: last_sequence as u64,
            position,
            events: committed.len(),
        })
    }
}

/// An aggregate's current state, folded from its events (read only: nothing is appended).
async fn load<A: Aggregate>(
    store: &Store<A>,
    id: Uuid,
) -> Result<A, CommandError<std::convert::Infallible>> {
    let mut context = store
        .load_aggregate(&id.to_string())
        .await
        .map_err(map_load_error)?;
    Ok(std::mem::take(context.aggregate()))
}

/// A load failure (which refuses nothing) as the error of any command.
pub fn widen<E: std::error::Error>(e: CommandError<std::convert::Infallible>) -> CommandError<E> {
    match e {
        CommandError::Rejected(never) => match never {},
        CommandError::Conflict => CommandError::Conflict,
        CommandError::Unavailable(s) => CommandError::Unavailable(s),
        CommandError::Internal(s) => CommandError::Internal(s),
    }
}

fn map_load_error<E: std::error::Error>(
    err: AggregateError<E>,
) -> CommandError<std::convert::Infallible> {
    match err {
        AggregateError::DatabaseConnectionError(e) => CommandError::Unavailable(e.to_string()),
        other => CommandError::Internal(other.to_string()),
    }
}
