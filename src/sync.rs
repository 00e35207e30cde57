//! Synchronisation helpers shared by the engine, one of each: a lock that shrugs off
//! poisoning, a cache-line-padded value, the signal that wakes and stops a background task,
//! and the count of write-outs in flight.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Locks `m`, ignoring poison: every structure behind the engine's mutexes stays
/// consistent across a panic (the panicking task poisons the log instead).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A value alone on its cache lines, so that a counter one thread updates on every append
/// does not slow down another thread reading its neighbour (false sharing). 128 bytes
/// covers the adjacent-line prefetcher of x86 as well as 128-byte-line CPUs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Wakes one background task of a log (the flusher, the zeroer) and tells it to stop. A
/// wake-up given while the task is busy is kept for its next wait.
#[derive(Default)]
pub struct TaskSignal {
    notify: Notify,
    shutdown: AtomicBool,
}

impl TaskSignal {
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    pub fn stop(&self) {
        self.shutdown.store(true, SeqCst);
        self.notify.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.shutdown.load(SeqCst)
    }

    pub async fn woken(&self) {
        self.notify.notified().await
    }
}

/// Write-outs in progress. Buffers are written outside the writer lock so appenders keep
/// encoding meanwhile; a roll or a close waits here until none is in flight before it
/// writes or seals the segment itself.
#[derive(Default)]
pub struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    pub fn begin(&self) {
        *lock(&self.count) += 1;
    }

    pub fn end(&self) {
        *lock(&self.count) -= 1;
        self.idle.notify_all();
    }

    /// Waits while `busy(write-outs in flight)` holds; re-checked at every `end`.
    pub fn wait_while(&self, mut busy: impl FnMut(usize) -> bool) {
        let count = lock(&self.count);
        drop(
            self.idle
                .wait_while(count, |n| busy(*n))
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
}
