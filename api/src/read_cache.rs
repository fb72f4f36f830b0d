//! A cache of hot reads (a project, a job, a data source, the dashboard) in front of the read
//! models, invalidated by the projectors' change notifications (`projections::changes`).
//!
//! Every entry carries the *generation* it was read at: the count of change notifications this
//! process had heard before the read began. An entry serves only while the generation is the
//! same, so any change announced after the read invalidates it (whole-cache invalidation: a
//! batch of events can touch many rows, and the dashboard changes with nearly every one).
//! - A read that asks for `wait_for_position` bypasses the cache: the wait has seen the read
//!   models apply that position, but the notification of that commit may not have arrived yet,
//!   so only a fresh read is sure to include it.
//! - While the listening connection is down nothing is served from the cache (it is unknown
//!   what changed); when it comes back, the generation moves on.
//! - Entries also expire after [`TIME_TO_LIVE`], bounding staleness should a projector fail to
//!   send its notification after a commit.
//!
//! The same notifications wake read-your-writes waits ([`ReadCache::changes`]), cache on or off.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use uuid::Uuid;

/// What is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadKey {
    Project(Uuid),
    Job(Uuid),
    Source(Uuid),
    Dashboard,
}

impl ReadKey {
    /// The metric label.
    pub fn resource(self) -> &'static str {
        match self {
            ReadKey::Project(_) => "project",
            ReadKey::Job(_) => "job",
            ReadKey::Source(_) => "source",
            ReadKey::Dashboard => "dashboard",
        }
    }
}

/// A serialised answer and its ETag.
#[derive(Debug)]
pub struct CachedRead {
    generation: u64,
    pub body: Bytes,
    pub etag: String,
}

pub const TIME_TO_LIVE: Duration = Duration::from_secs(10);
const CAPACITY: u64 = 100_000;

pub struct ReadCache {
    entries: moka::sync::Cache<ReadKey, Arc<CachedRead>>,
    generation: AtomicU64,
    listening: AtomicBool,
    /// Off: nothing is kept, every read goes to the read models (the notifications still wake
    /// read-your-writes waits).
    enabled: bool,
    /// Moves with every generation: what read-your-writes waits wake on.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadCache {
    pub fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TIME_TO_LIVE)
                .build(),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            enabled: true,
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that changes whenever the read models may have changed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A cache that keeps nothing (`RECON_READ_CACHE=off`).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// The generation a read beginning now belongs to; `None` while nothing may be cached.
    pub fn generation(&self) -> Option<u64> {
        (self.enabled && self.listening.load(Ordering::Acquire))
            .then(|| self.generation.load(Ordering::Acquire))
    }

    /// The cached answer, if it is of the current generation.
    pub fn get(&self, key: ReadKey) -> Option<Arc<CachedRead>> {
        let current = self.generation()?;
        self.entries
            .get(&key)
            .filter(|entry| entry.generation == current)
    }

    /// Keeps an answer read at `generation` (taken *before* the read began).
    pub fn put(&self, key: ReadKey, generation: u64, body: Bytes, etag: String) {
        self.entries.insert(
            key,
            Arc::new(CachedRead {
                generation,
                body,
                etag,
            }),
        );
    }

    /// Everything cached so far is stale.
    pub fn invalidate(&self) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.changes.send_replace(generation);
    }

    fn set_listening(&self, listening: bool) {
        // Whatever happened while not listening is unknown: a new generation either way.
        self.invalidate();
        self.listening.store(listening, Ordering::Release);
    }

    /// Listens for read-model changes until the process ends, reconnecting after failures.
    pub async fn follow(self: Arc<Self>, pool: PgPool) {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(projections::changes::CHANNEL).await {
                    Ok(()) => {
                        self.set_listening(true);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(_)) => self.invalidate(),
                                // The connection dropped: notifications may have been missed;
                                // listen again from a new connection.
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!(error = %e, "read-cache listener failed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot LISTEN for read-model changes"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect the read-cache listener"),
            }
            self.set_listening(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_only_in_its_generation_and_while_listening() {
        let cache = ReadCache::new();
        let key = ReadKey::Dashboard;
        assert_eq!(
            cache.generation(),
            None,
            "not listening yet: nothing is cached"
        );
        cache.set_listening(true);
        let g = cache.generation().unwrap();
        cache.put(key, g, Bytes::from_static(b"{}"), "\"1\"".into());
        assert!(cache.get(key).is_some());
        cache.invalidate();
        assert!(cache.get(key).is_none(), "a change invalidates it");

        // A read that began before a change is stale when it lands.
        let before = cache.generation().unwrap();
        cache.invalidate();
        cache.put(key, before, Bytes::from_static(b"{}"), "\"1\"".into());
        assert!(cache.get(key).is_none());

        let g = cache.generation().unwrap();
        cache.put(key, g, Bytes::from_static(b"{}"), "\"1\"".into());
        cache.set_listening(false);
        assert!(cache.get(key).is_none(), "not listening: nothing is served");
        cache.set_listening(true);
        assert!(
            cache.get(key).is_none(),
            "reconnected: what was kept is of an old generation"
        );
    }
}
