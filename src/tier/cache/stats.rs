//! The cache's counters and their snapshot.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{BudgetCache, Shared, State};

/// A snapshot of a cache's counters (cumulative) and gauges (`bytes`, `entries`,
/// `peak_bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls served from an entry present.
    pub hits: u64,
    /// Calls that ran a load or waited for another caller's (`loads + joins`).
    pub misses: u64,
    /// Calls that waited for a load another caller was running.
    pub joins: u64,
    /// Loads run.
    pub loads: u64,
    /// Loads that failed or panicked.
    pub load_failures: u64,
    /// Unpinned entries dropped to make room.
    pub evictions: u64,
    /// Calls (gets or charges) that had to wait for room.
    pub waits: u64,
    /// Calls that gave up for lack of room (`WouldBlock`).
    pub would_blocks: u64,
    /// Bytes counted against the budget now (see the module documentation).
    pub bytes: u64,
    /// Entries present now (loads in flight and removed-but-pinned entries excluded).
    pub entries: u64,
    /// The most `bytes` has ever been.
    pub peak_bytes: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) joins: AtomicU64,
    pub(super) loads: AtomicU64,
    pub(super) load_failures: AtomicU64,
    pub(super) evictions: AtomicU64,
    pub(super) waits: AtomicU64,
    pub(super) would_blocks: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) entries: AtomicU64,
    pub(super) peak_bytes: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl<K, V, E> BudgetCache<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub fn stats(&self) -> CacheStats {
        let c = &self.shared.stats;
        CacheStats {
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            joins: c.joins.load(Relaxed),
            loads: c.loads.load(Relaxed),
            load_failures: c.load_failures.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            waits: c.waits.load(Relaxed),
            would_blocks: c.would_blocks.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            entries: c.entries.load(Relaxed),
            peak_bytes: c.peak_bytes.load(Relaxed),
        }
    }
}

impl<K, V, E> Shared<K, V, E> {
    /// Publishes the gauges; called under the lock after every change to them.
    pub(super) fn publish(&self, st: &State<K, V, E>) {
        let entries = (st.slots.len() - st.loading) as u64;
        self.stats.bytes.store(st.used, Relaxed);
        self.stats.entries.store(entries, Relaxed);
        self.stats.peak_bytes.store(st.peak, Relaxed);
    }
}
