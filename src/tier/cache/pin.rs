//! Pins: what keeps an entry from eviction, and its bytes counted, while it is in use.

use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Weak};

use super::{Admission, CacheError, RoomWait, Shared, Slot, State};
use crate::sync::lock;

/// A value held in (or loaded through) the cache. While any clone is alive the entry is
/// not evicted, and its bytes stay counted even if it is removed.
pub struct Pinned<V> {
    // Declared before `pin` so it drops first: a removed entry's bytes are released only
    // once its value is gone.
    value: Arc<V>,
    pin: Arc<dyn PinOwner>,
}

/// The pin's link back to its entry, without the key and error types in `Pinned`'s.
trait PinOwner: Send + Sync {
    fn charge(&self, extra: u64, admission: Admission) -> Result<(), CacheError>;
    fn uncharge(&self, bytes: u64);
}

impl<V> Pinned<V> {
    /// Counts `extra` more bytes against the budget for this entry (e.g. its offset index,
    /// built on first touch): call it before allocating them. Evicts unpinned entries if
    /// needed and obeys `admission` like a miss. The caller charges once per allocation
    /// (a `OnceLock` in `V` decides who builds). A no-op if the cache is gone.
    pub fn charge(&self, extra: u64, admission: Admission) -> Result<(), CacheError> {
        self.pin.charge(extra, admission)
    }

    /// Gives back `bytes` of earlier charges (e.g. building the index failed after its
    /// charge). Never takes the entry below nothing.
    pub fn uncharge(&self, bytes: u64) {
        self.pin.uncharge(bytes)
    }
}

impl<V> Clone for Pinned<V> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            pin: Arc::clone(&self.pin),
        }
    }
}

impl<V> Deref for Pinned<V> {
    type Target = V;

    fn deref(&self) -> &V {
        &self.value
    }
}

impl<V: fmt::Debug> fmt::Debug for Pinned<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pinned").field(&*self.value).finish()
    }
}

impl<K, V, E> Shared<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// One pin of entry `id` dropped.
    pub(super) fn unpin(&self, key: &K, id: u64) {
        let mut st = lock(&self.state);
        let st = &mut *st;
        match st.slots.get_mut(key) {
            Some(Slot::Ready(e)) if e.id == id => {
                e.pins -= 1;
                if e.pins > 0 {
                    return;
                }
                e.gen = st.next_gen;
                st.next_gen += 1;
                st.lru.insert(e.gen, key.clone());
                st.evictable += e.size;
            }
            _ => {
                let Some(r) = st.retired.get_mut(&id) else {
                    return;
                };
                r.pins -= 1;
                if r.pins > 0 {
                    return;
                }
                st.used -= r.size;
                st.retired.remove(&id);
                self.publish(st);
            }
        }
        self.room.notify_all();
    }

    /// The size of entry `id`, cached or retired.
    pub(super) fn size_mut<'s>(
        st: &'s mut State<K, V, E>,
        key: &K,
        id: u64,
    ) -> Option<&'s mut u64> {
        match st.slots.get_mut(key) {
            Some(Slot::Ready(e)) if e.id == id => Some(&mut e.size),
            _ => st.retired.get_mut(&id).map(|r| &mut r.size),
        }
    }

    pub(super) fn charge(
        &self,
        key: &K,
        id: u64,
        extra: u64,
        admission: Admission,
    ) -> Result<(), CacheError> {
        if extra == 0 {
            return Ok(());
        }
        let mut wait = RoomWait::new(admission);
        let mut st = lock(&self.state);
        loop {
            // Pinned by the caller, so neither evicted nor released meanwhile.
            let Some(size) = Self::size_mut(&mut st, key, id) else {
                return Ok(());
            };
            let total = size.saturating_add(extra);
            if total > self.budget {
                return Err(CacheError::TooLarge {
                    size: total,
                    budget: self.budget,
                });
            }
            match self.try_reserve(&mut st, extra) {
                Ok(()) => {
                    if let Some(size) = Self::size_mut(&mut st, key, id) {
                        *size += extra;
                    }
                    return Ok(());
                }
                Err(pinned) => st = wait.wait(self, st, extra, pinned)?,
            }
        }
    }

    pub(super) fn uncharge(&self, key: &K, id: u64, bytes: u64) {
        let mut st = lock(&self.state);
        let Some(size) = Self::size_mut(&mut st, key, id) else {
            return;
        };
        let bytes = bytes.min(*size);
        *size -= bytes;
        st.used -= bytes;
        self.publish(&st);
        drop(st);
        self.room.notify_all();
    }
}

impl<V: Send + Sync + 'static> Pinned<V> {
    pub(super) fn new<K, E>(value: Arc<V>, cache: &Arc<Shared<K, V, E>>, key: K, id: u64) -> Self
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let pin = PinGuard {
            cache: Arc::downgrade(cache),
            key,
            id,
        };
        Self {
            value,
            pin: Arc::new(pin),
        }
    }
}

/// One pin of one entry, shared by the clones of a `Pinned`. Holds the cache weakly: pins
/// outliving the cache keep their values, not the cache's other entries.
struct PinGuard<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    cache: Weak<Shared<K, V, E>>,
    key: K,
    id: u64,
}

impl<K, V, E> PinOwner for PinGuard<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn charge(&self, extra: u64, admission: Admission) -> Result<(), CacheError> {
        match self.cache.upgrade() {
            Some(sh) => sh.charge(&self.key, self.id, extra, admission),
            None => Ok(()),
        }
    }

    fn uncharge(&self, bytes: u64) {
        if let Some(sh) = self.cache.upgrade() {
            sh.uncharge(&self.key, self.id, bytes);
        }
    }
}

impl<K, V, E> Drop for PinGuard<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn drop(&mut self) {
        if let Some(sh) = self.cache.upgrade() {
            sh.unpin(&self.key, self.id);
        }
    }
}
