//! Durability: the watermarks readers and waiters block on, group commit (one leader
//! syncs for every waiting writer), and the background flusher that carries out the
//! `Async`, `Batched` and `Periodic` policies on the shared runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::padded::Padded;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A monotonically rising id that threads can wait on. Waking costs nothing while no one
/// waits. The waiter count and the value are both `SeqCst`, so an advance either sees the
/// waiter and notifies, or the waiter sees the new value before it sleeps: no lost wake-up.
#[derive(Default)]
pub struct Watermark {
    value: Padded<AtomicU64>,
    /// Read on every append (is a reader waiting?), changed rarely: apart from `value`,
    /// which the flusher changes on every write-out.
    waiters: Padded<AtomicUsize>,
    lock: Mutex<()>,
    cv: Condvar,
}

/// Why a wait on a watermark ended without reaching its target.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitEnd {
    TimedOut,
    Interrupted,
}

impl Watermark {
    pub fn new(value: u64) -> Self {
        Watermark {
            value: Padded(AtomicU64::new(value)),
            ..Watermark::default()
        }
    }

    pub fn get(&self) -> u64 {
        self.value.load(SeqCst)
    }

    pub fn advance(&self, to: u64) {
        if self.value.fetch_max(to, SeqCst) < to {
            self.wake_all();
        }
    }

    /// Whether any thread is waiting on this watermark now.
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(SeqCst) > 0
    }

    /// Wakes every waiter so it re-checks its own stop condition (close, poison).
    pub fn wake_all(&self) {
        if self.waiters.load(SeqCst) > 0 {
            drop(lock(&self.lock));
            self.cv.notify_all();
        }
    }

    /// Waits until the value is at least `target`, the deadline passes, or `stop()` holds
    /// after a wake-up.
    pub fn wait_for(
        &self,
        target: u64,
        deadline: Option<Instant>,
        stop: impl Fn() -> bool,
    ) -> std::result::Result<(), WaitEnd> {
        if self.get() >= target {
            return Ok(());
        }
        self.waiters.fetch_add(1, SeqCst);
        let mut guard = lock(&self.lock);
        let result = loop {
            if self.get() >= target {
                break Ok(());
            }
            if stop() {
                break Err(WaitEnd::Interrupted);
            }
            match deadline {
                None => guard = self.cv.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break Err(WaitEnd::TimedOut);
                    }
                    guard = self
                        .cv
                        .wait_timeout(guard, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, SeqCst);
        result
    }
}

/// Group commit. Whoever needs durability and finds no sync under way becomes the leader:
/// it writes out everything appended so far and runs one `fdatasync` that covers every
/// writer waiting behind it. The others wait for the durable watermark, and one of them
/// leads the next round if the last one did not reach its id.
pub struct GroupCommit {
    pub durable: Watermark,
    leader: Mutex<bool>,
    leader_done: Condvar,
}

impl GroupCommit {
    pub fn new(durable: u64) -> Self {
        GroupCommit {
            durable: Watermark::new(durable),
            leader: Mutex::new(false),
            leader_done: Condvar::new(),
        }
    }

    /// Returns once `target` is durable. `sync` writes and syncs, returning the id it made
    /// durable; `check` reports poison or close, and is consulted on every round.
    pub fn make_durable(
        &self,
        target: u64,
        check: impl Fn() -> Result<()>,
        sync: impl Fn() -> Result<u64>,
    ) -> Result<()> {
        loop {
            if self.durable.get() >= target {
                return Ok(());
            }
            check()?;
            {
                let mut leading = lock(&self.leader);
                while *leading {
                    leading = self
                        .leader_done
                        .wait(leading)
                        .unwrap_or_else(|p| p.into_inner());
                    if self.durable.get() >= target {
                        return Ok(());
                    }
                }
                *leading = true;
            }
            let result = sync();
            if let Ok(synced) = result {
                // Before the followers wake, so they find their ids durable.
                self.durable.advance(synced);
            }
            *lock(&self.leader) = false;
            self.leader_done.notify_all();
            result?;
        }
    }

    /// Wakes leaders' followers and durability waiters after poison or close.
    pub fn wake_all(&self) {
        drop(lock(&self.leader));
        self.leader_done.notify_all();
        self.durable.wake_all();
    }
}

/// Signals from appenders to the background flusher of one log.
#[derive(Default)]
pub struct FlusherSignal {
    pub notify: Notify,
    /// A background sync is due (count trigger reached, or `Async`).
    pub sync_due: AtomicBool,
    /// The flusher must stop.
    pub shutdown: AtomicBool,
}

impl FlusherSignal {
    /// Asks the flusher to write out buffered records (and sync, if `sync`).
    pub fn poke(&self, sync: bool) {
        if sync {
            // Already due: the flusher has not taken the request yet, and when it does it
            // syncs up to the last id, which the caller stored (SeqCst) before this load.
            if self.sync_due.load(SeqCst) || self.sync_due.swap(true, SeqCst) {
                return;
            }
        }
        self.notify.notify_one();
    }

    pub fn stop(&self) {
        self.shutdown.store(true, SeqCst);
        self.notify.notify_one();
    }
}

/// The work the flusher drives; implemented by the log.
pub trait FlushTarget: Send + Sync + 'static {
    /// Moves buffered records into the file so readers can see them. Fast; no sync.
    fn write_out(&self) -> Result<()>;
    /// Makes everything appended so far durable (group commit).
    fn sync_all(&self) -> Result<()>;
    /// Whether anything appended is not yet durable.
    fn has_unsynced(&self) -> bool;
    /// Records a failure that the caller never sees (the flusher has no caller).
    fn background_failed(&self, err: &Error);
}

/// The background flusher of one log: wakes on a poke or on its timer, writes buffered
/// records out and syncs when the policy says so. The sync runs on the blocking pool so
/// that the shared workers stay free for other logs.
pub async fn run_flusher<T: FlushTarget>(
    target: std::sync::Arc<T>,
    signal: std::sync::Arc<FlusherSignal>,
    interval: Option<Duration>,
) {
    let mut ticker = interval.map(|i| {
        // The first tick one interval from now, not at once.
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + i, i);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let timer_fired = match ticker.as_mut() {
            Some(t) => tokio::select! {
                _ = signal.notify.notified() => false,
                _ = t.tick() => true,
            },
            None => {
                signal.notify.notified().await;
                false
            }
        };
        if signal.shutdown.load(SeqCst) {
            return;
        }
        if let Err(e) = target.write_out() {
            target.background_failed(&e);
            return;
        }
        let sync_due = signal.sync_due.swap(false, SeqCst);
        if sync_due || (timer_fired && target.has_unsynced()) {
            let t = target.clone();
            let done = tokio::task::spawn_blocking(move || t.sync_all()).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    target.background_failed(&e);
                    return;
                }
                Err(join) => {
                    target.background_failed(&Error::Internal(format!("flush task: {join}")));
                    return;
                }
            }
        }
    }
}
