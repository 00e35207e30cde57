//! A byte-budgeted cache: pins, LRU eviction of unpinned entries, admission control and
//! single-flight loading. Generic; the log keeps segment maps (with their offset indexes)
//! in one instance and decompressed frames / downloaded ranges in another.
//!
//! # What the budget counts
//!
//! `bytes` (never above `budget`) is the sum of:
//! - the size of every entry present, pinned or not, including what [`Pinned::charge`]
//!   added to it (a segment's offset index, built on first touch);
//! - the size of every entry [`BudgetCache::remove`]d while pinned, until its last pin
//!   drops (its value is still alive, so it still counts);
//! - the reservation of every load in flight (bytes are reserved before `load` runs).
//!
//! Values are created only by `load`, after their reservation, and a value outlives the
//! cache's reference only while a pin holds it, so if sizes are truthful the values alive
//! never take more than the budget. Pinned bytes are outside eviction's reach: a miss that
//! cannot be made room for by evicting unpinned entries waits (or fails with
//! [`CacheError::WouldBlock`]) instead of going over.
//!
//! A value's `Drop` (an munmap) runs when the cache's reference and the last pin are gone;
//! eviction drops it under the cache's lock, so that the bytes are free only once the value
//! is. `V`'s `Drop` must therefore not touch the same cache (e.g. by dropping its pins).
//!
//! # Recency
//!
//! Only unpinned entries are in the LRU order, ranked by the later of their last hit and
//! their last pin release: an entry in use is as recent as it gets.
//!
//! # Why not the `lru` crate
//!
//! Pinned entries must be skipped by eviction and their bytes still counted; with `lru` an
//! eviction would have to walk past pinned entries (or re-insert them). A generation
//! counter per entry and a `BTreeMap<generation, key>` holding only unpinned entries make
//! every access O(log n) and eviction pop the oldest evictable entry directly.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::lock;

mod pin;
mod stats;

pub use pin::Pinned;
pub use stats::CacheStats;
use stats::{bump, Counters};

/// What a miss (or a charge) does when the budget has no room even after evicting every
/// unpinned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Wait up to this long for pins to drop or entries to be removed. Waiters are not
    /// queued: a large miss may keep waiting while smaller ones take the room freed.
    Wait(Duration),
    /// Fail with [`CacheError::WouldBlock`] at once.
    NoWait,
}

/// Why the cache could not hand out a value. `E` is the loader's error, shared (in an
/// `Arc`) by every caller that waited for the same load.
#[derive(Debug, thiserror::Error)]
pub enum CacheError<E = Infallible> {
    /// The entry alone is larger than the whole budget; it can never be cached.
    #[error("an entry of {size} bytes can never fit in the cache's budget of {budget} bytes")]
    TooLarge { size: u64, budget: u64 },

    /// No room for `needed` bytes: `pinned` of the `budget` bytes are held by pinned
    /// entries and loads in flight, and evicting the rest would not be enough.
    #[error(
        "no room for {needed} bytes in the cache: {pinned} of its {budget} bytes are pinned \
         or being loaded"
    )]
    WouldBlock {
        needed: u64,
        budget: u64,
        pinned: u64,
    },

    /// The load failed; every caller that waited for it gets the same error.
    #[error("loading the cache entry failed: {0}")]
    Load(#[source] Arc<E>),

    /// The load panicked (the caller that ran it sees the panic itself).
    #[error("loading the cache entry panicked")]
    LoadPanicked,
}

// By hand: the derive would require `E: Clone`, and the error is behind an `Arc`.
impl<E> Clone for CacheError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::TooLarge { size, budget } => Self::TooLarge {
                size: *size,
                budget: *budget,
            },
            Self::WouldBlock {
                needed,
                budget,
                pinned,
            } => Self::WouldBlock {
                needed: *needed,
                budget: *budget,
                pinned: *pinned,
            },
            Self::Load(e) => Self::Load(Arc::clone(e)),
            Self::LoadPanicked => Self::LoadPanicked,
        }
    }
}

/// A byte-budgeted cache of `V` by `K`, loaded by callers with loads that fail with `E`.
/// Clones share one cache (one budget). `E` belongs to the cache rather than to each call
/// because a load's error is handed to every caller that joined it.
pub struct BudgetCache<K, V, E = Infallible> {
    shared: Arc<Shared<K, V, E>>,
}

impl<K, V, E> Clone for BudgetCache<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<K, V, E> {
    budget: u64,
    state: Mutex<State<K, V, E>>,
    /// Signalled when bytes are freed or become evictable.
    room: Condvar,
    /// Signalled when a load completes.
    loaded: Condvar,
    stats: Counters,
}

struct State<K, V, E> {
    slots: HashMap<K, Slot<V, E>>,
    /// Unpinned ready entries, oldest first.
    lru: BTreeMap<u64, K>,
    /// Entries removed while pinned, by id: their bytes stay counted until unpinned.
    retired: HashMap<u64, Retired>,
    /// Bytes counted against the budget (see the module documentation).
    used: u64,
    /// Bytes of the entries in `lru`: what eviction could free.
    evictable: u64,
    loading: usize,
    peak: u64,
    next_gen: u64,
    next_id: u64,
}

enum Slot<V, E> {
    Ready(Ready<V>),
    Loading { id: u64, flight: Arc<Flight<V, E>> },
}

struct Ready<V> {
    /// Tells this entry from a later one under the same key (pins name entries by id).
    id: u64,
    value: Arc<V>,
    size: u64,
    pins: usize,
    /// The entry's place in `lru` while unpinned.
    gen: u64,
}

struct Retired {
    size: u64,
    pins: usize,
}

/// One load in flight, shared by the callers waiting for it.
struct Flight<V, E> {
    outcome: OnceLock<Result<Arc<V>, CacheError<E>>>,
    /// Callers waiting; each gets a pin counted when the load succeeds, so the entry cannot
    /// be evicted before they wake. Changed only under the cache's lock.
    joiners: AtomicUsize,
}

impl<K, V, E> BudgetCache<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// A cache that never counts more than `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                budget,
                state: Mutex::new(State {
                    slots: HashMap::new(),
                    lru: BTreeMap::new(),
                    retired: HashMap::new(),
                    used: 0,
                    evictable: 0,
                    loading: 0,
                    peak: 0,
                    next_gen: 0,
                    next_id: 0,
                }),
                room: Condvar::new(),
                loaded: Condvar::new(),
                stats: Counters::default(),
            }),
        }
    }

    pub fn budget(&self) -> u64 {
        self.shared.budget
    }

    /// The value of `key`, pinned. On a hit `size` and `load` are unused. On a miss `size`
    /// bytes are reserved first (evicting least-recently-used unpinned entries; waiting
    /// per `admission` if that is not enough), then `load` runs without the lock and its
    /// value is cached. Callers asking for a key already loading wait for that load,
    /// whatever their `admission` (it holds its bytes already), and share its value or
    /// error. A failed load leaves no entry and frees its reservation.
    pub fn get_or_load<F>(
        &self,
        key: &K,
        size: u64,
        admission: Admission,
        load: F,
    ) -> Result<Pinned<V>, CacheError<E>>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let sh = &self.shared;
        let mut wait = RoomWait::new(admission);
        let mut st = lock(&sh.state);
        loop {
            match st.slots.get(key) {
                Some(Slot::Ready(_)) => {
                    return Ok(sh.pin_ready(&mut st, key).expect("the entry is ready"))
                }
                Some(Slot::Loading { id, flight }) => {
                    let (id, flight) = (*id, Arc::clone(flight));
                    flight.joiners.fetch_add(1, Relaxed);
                    bump(&sh.stats.joins);
                    bump(&sh.stats.misses);
                    let outcome = loop {
                        if let Some(outcome) = flight.outcome.get() {
                            break outcome.clone();
                        }
                        st = sh.loaded.wait(st).unwrap_or_else(|p| p.into_inner());
                    };
                    drop(st);
                    return outcome.map(|value| Pinned::new(value, sh, key.clone(), id));
                }
                None => {}
            }
            if size > sh.budget {
                return Err(CacheError::TooLarge {
                    size,
                    budget: sh.budget,
                });
            }
            match sh.try_reserve(&mut st, size) {
                Ok(()) => break,
                Err(pinned) => st = wait.wait(sh, st, size, pinned).map_err(widen)?,
            }
        }

        let id = st.next_id;
        st.next_id += 1;
        let flight = Arc::new(Flight {
            outcome: OnceLock::new(),
            joiners: AtomicUsize::new(0),
        });
        st.slots.insert(
            key.clone(),
            Slot::Loading {
                id,
                flight: Arc::clone(&flight),
            },
        );
        st.loading += 1;
        bump(&sh.stats.misses);
        bump(&sh.stats.loads);
        drop(st);

        let mut guard = LoadGuard {
            shared: sh,
            key,
            id,
            size,
            flight,
            done: false,
        };
        let outcome = load()
            .map(Arc::new)
            .map_err(|e| CacheError::Load(Arc::new(e)));
        guard.done = true;
        sh.finish(key, id, size, &guard.flight, outcome)
    }

    /// The value of `key` if it is cached (not while loading), pinned; counts as a hit.
    pub fn get(&self, key: &K) -> Option<Pinned<V>> {
        let mut st = lock(&self.shared.state);
        self.shared.pin_ready(&mut st, key)
    }

    /// Whether `key` is cached or being loaded (no pin, no counter: for read-ahead, which
    /// skips what is there already).
    pub fn contains(&self, key: &K) -> bool {
        lock(&self.shared.state).slots.contains_key(key)
    }

    /// Drops the cache's reference to `key` (retention deleted the segment, or it moved to
    /// another tier). Live pins keep the value, and its bytes counted, until they drop. A
    /// load in flight completes for its callers but its value is not cached. Returns
    /// whether there was an entry or a load.
    pub fn remove(&self, key: &K) -> bool {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let found = sh.remove_locked(&mut st, key);
        sh.publish(&st);
        drop(st);
        sh.room.notify_all();
        found
    }

    /// [`remove`](Self::remove)s every key.
    pub fn clear(&self) {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        let keys: Vec<K> = st.slots.keys().cloned().collect();
        for key in &keys {
            sh.remove_locked(&mut st, key);
        }
        sh.publish(&st);
        drop(st);
        sh.room.notify_all();
    }
}

fn widen<E>(e: CacheError) -> CacheError<E> {
    match e {
        CacheError::TooLarge { size, budget } => CacheError::TooLarge { size, budget },
        CacheError::WouldBlock {
            needed,
            budget,
            pinned,
        } => CacheError::WouldBlock {
            needed,
            budget,
            pinned,
        },
        CacheError::Load(never) => match *never {},
        CacheError::LoadPanicked => CacheError::LoadPanicked,
    }
}

/// Waiting for room under one admission policy, across the retries of one call.
struct RoomWait {
    admission: Admission,
    /// `None` with `Wait`: a timeout too far away to represent, i.e. forever.
    deadline: Option<Instant>,
    waited: bool,
}

impl RoomWait {
    fn new(admission: Admission) -> Self {
        let deadline = match admission {
            Admission::Wait(d) => Instant::now().checked_add(d),
            Admission::NoWait => None,
        };
        Self {
            admission,
            deadline,
            waited: false,
        }
    }

    /// Waits once for room to change, or fails with `WouldBlock` if the admission does
    /// not allow (more) waiting. The caller re-checks everything afterwards.
    fn wait<'a, K, V, E>(
        &mut self,
        sh: &'a Shared<K, V, E>,
        st: MutexGuard<'a, State<K, V, E>>,
        needed: u64,
        pinned: u64,
    ) -> Result<MutexGuard<'a, State<K, V, E>>, CacheError> {
        let blocked = || {
            bump(&sh.stats.would_blocks);
            CacheError::WouldBlock {
                needed,
                budget: sh.budget,
                pinned,
            }
        };
        let left = match (self.admission, self.deadline) {
            (Admission::NoWait, _) => return Err(blocked()),
            (Admission::Wait(_), None) => None,
            (Admission::Wait(_), Some(deadline)) => {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(blocked()),
                }
            }
        };
        if !self.waited {
            self.waited = true;
            bump(&sh.stats.waits);
        }
        let st = match left {
            None => sh.room.wait(st).unwrap_or_else(|p| p.into_inner()),
            Some(left) => {
                sh.room
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
        Ok(st)
    }
}

impl<K, V, E> Shared<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn pin_ready(self: &Arc<Self>, st: &mut State<K, V, E>, key: &K) -> Option<Pinned<V>> {
        let Some(Slot::Ready(e)) = st.slots.get_mut(key) else {
            return None;
        };
        if e.pins == 0 {
            st.lru.remove(&e.gen);
            st.evictable -= e.size;
        }
        e.pins += 1;
        let (value, id) = (Arc::clone(&e.value), e.id);
        bump(&self.stats.hits);
        Some(Pinned::new(value, self, key.clone(), id))
    }

    /// Makes `size` bytes count against the budget, evicting the least recently used
    /// unpinned entries if that is enough. Otherwise evicts nothing and returns the bytes
    /// out of eviction's reach.
    fn try_reserve(&self, st: &mut State<K, V, E>, size: u64) -> Result<(), u64> {
        let free = self.budget - st.used;
        if free < size {
            if free + st.evictable < size {
                return Err(st.used - st.evictable);
            }
            while self.budget - st.used < size {
                let Some((_, key)) = st.lru.pop_first() else {
                    unreachable!("evictable bytes are in the LRU order");
                };
                let Some(Slot::Ready(e)) = st.slots.remove(&key) else {
                    unreachable!("only ready entries are in the LRU order");
                };
                st.used -= e.size;
                st.evictable -= e.size;
                bump(&self.stats.evictions);
                // The value (an munmap) goes here, under the lock: the bytes are free
                // for someone else only once it is gone.
                drop(e);
            }
        }
        st.used += size;
        st.peak = st.peak.max(st.used);
        debug_assert!(st.used <= self.budget);
        self.publish(st);
        Ok(())
    }

    /// Completes the load `id` of `key`: caches the value (or, if the key was removed
    /// meanwhile, keeps only its pins' count) or frees the reservation, and wakes joiners.
    fn finish(
        self: &Arc<Self>,
        key: &K,
        id: u64,
        size: u64,
        flight: &Flight<V, E>,
        outcome: Result<Arc<V>, CacheError<E>>,
    ) -> Result<Pinned<V>, CacheError<E>> {
        let mut st = lock(&self.state);
        let present = matches!(st.slots.get(key), Some(Slot::Loading { id: i, .. }) if *i == id);
        if present {
            st.loading -= 1;
        }
        let pins = 1 + flight.joiners.load(Relaxed);
        match &outcome {
            Ok(value) if present => {
                let ready = Ready {
                    id,
                    value: Arc::clone(value),
                    size,
                    pins,
                    gen: 0,
                };
                st.slots.insert(key.clone(), Slot::Ready(ready));
            }
            Ok(_) => {
                st.retired.insert(id, Retired { size, pins });
            }
            Err(_) => {
                if present {
                    st.slots.remove(key);
                }
                st.used -= size;
                bump(&self.stats.load_failures);
            }
        }
        let _ = flight.outcome.set(outcome.clone());
        self.publish(&st);
        drop(st);
        self.loaded.notify_all();
        if outcome.is_err() {
            self.room.notify_all();
        }
        outcome.map(|value| Pinned::new(value, self, key.clone(), id))
    }

    fn remove_locked(&self, st: &mut State<K, V, E>, key: &K) -> bool {
        match st.slots.remove(key) {
            None => false,
            // Its reservation stays counted; `finish` settles it.
            Some(Slot::Loading { .. }) => {
                st.loading -= 1;
                true
            }
            Some(Slot::Ready(e)) if e.pins == 0 => {
                st.lru.remove(&e.gen);
                st.evictable -= e.size;
                st.used -= e.size;
                true
            }
            Some(Slot::Ready(e)) => {
                let retired = Retired {
                    size: e.size,
                    pins: e.pins,
                };
                st.retired.insert(e.id, retired);
                true
            }
        }
    }
}

/// Settles a load whose `load` panicked, so that its reservation is freed and its joiners
/// wake (with `LoadPanicked`) instead of waiting forever.
struct LoadGuard<'a, K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    shared: &'a Arc<Shared<K, V, E>>,
    key: &'a K,
    id: u64,
    size: u64,
    flight: Arc<Flight<V, E>>,
    done: bool,
}

impl<K, V, E> Drop for LoadGuard<'_, K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn drop(&mut self) {
        if !self.done {
            let outcome = Err(CacheError::LoadPanicked);
            let _ = self
                .shared
                .finish(self.key, self.id, self.size, &self.flight, outcome);
        }
    }
}

#[cfg(test)]
mod tests;
