//! The state of recently commanded aggregates, kept in process so that a command need not
//! replay the aggregate's events before deciding.
//!
//! The cache is only a hint: the append is still checked by the store's unique
//! (aggregate type, id, sequence) key. A cached state that is behind the store (another process
//! appended meanwhile) makes the append fail as a conflict, and `CommandStore` then reloads from
//! the store and decides again; a command refused on cached state is decided again on the
//! stored state too, so a stale cache can neither lose a command nor refuse one wrongly.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

/// Most aggregates kept per type. Past it, an arbitrary entry makes room: the cache only saves
/// a load, so which one goes does not matter for correctness.
pub const DEFAULT_CAPACITY: usize = 16_384;

pub(crate) struct AggregateCache<A> {
    entries: Mutex<HashMap<Uuid, (A, usize)>>,
    capacity: usize,
}

impl<A: Clone> AggregateCache<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The aggregate's last known state and sequence, if kept.
    pub(crate) fn get(&self, id: Uuid) -> Option<(A, usize)> {
        self.lock().get(&id).cloned()
    }

    pub(crate) fn put(&self, id: Uuid, aggregate: A, sequence: usize) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&id) {
            if let Some(victim) = entries.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(id, (aggregate, sequence));
    }

    pub(crate) fn forget(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (A, usize)>> {
        // A panic while holding the lock cannot leave a half-written entry (insert and remove
        // are atomic for the map), so a poisoned lock is still safe to use.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_capacity_and_forgets_on_request() {
        let cache = AggregateCache::new(2);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for (n, id) in ids.iter().enumerate() {
            cache.put(*id, n, n);
        }
        let kept = ids.iter().filter(|id| cache.get(**id).is_some()).count();
        assert_eq!(kept, 2);
        assert_eq!(cache.get(ids[2]), Some((2, 2)), "the newest entry is kept");
        cache.put(ids[2], 7, 8);
        assert_eq!(
            cache.get(ids[2]),
            Some((7, 8)),
            "an update replaces the entry"
        );
        cache.forget(ids[2]);
        assert_eq!(cache.get(ids[2]), None);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = AggregateCache::new(0);
        let id = Uuid::new_v4();
        cache.put(id, 1u8, 1);
        assert_eq!(cache.get(id), None);
    }
}
