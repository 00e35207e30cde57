//! The asynchronous appends of one log that are not complete yet, in id order, and the
//! bound on how many there may be.
//!
//! Exactly one completion per append: an entry is registered under the writer lock (so
//! entries are in id order and registered before any sync can cover them), and leaves the
//! list only by being popped, under the list's lock, by `settle` (durable), or `fail_all`
//! (poisoned, closed), or the drop of the list (closed). Completions are posted while the
//! lock is held, so those of one log reach their queue in id order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::queue::{Completion, CompletionQueue, Outcome};
use crate::error::{Error, Result};
use crate::metrics::Recorder;
use crate::sync::lock;

/// The bound on a log's asynchronous appends in flight (appended, not yet complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncLimits {
    /// Appends in flight at most (at least 1).
    pub max_records: u64,
    /// Payload bytes in flight at most (at least 1). A single append larger than this is
    /// still let through when nothing else is in flight.
    pub max_bytes: u64,
    /// How long an append waits for room past a bound before it fails with `WouldBlock`
    /// (having appended nothing); `None`: it fails at once. While it waits, a sync is
    /// requested, whatever the flush policy, so that room is made.
    pub wait: Option<Duration>,
}

pub const DEFAULT_MAX_ASYNC_RECORDS: u64 = 65_536;
pub const DEFAULT_MAX_ASYNC_BYTES: u64 = 64 << 20;
pub const DEFAULT_ASYNC_WAIT: Duration = Duration::from_secs(30);

impl Default for AsyncLimits {
    fn default() -> Self {
        AsyncLimits {
            max_records: DEFAULT_MAX_ASYNC_RECORDS,
            max_bytes: DEFAULT_MAX_ASYNC_BYTES,
            wait: Some(DEFAULT_ASYNC_WAIT),
        }
    }
}

impl AsyncLimits {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_records == 0 || self.max_bytes == 0 {
            return Err(Error::InvalidArgument(
                "async limits: max_records and max_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Who hears of an append's outcome.
pub(crate) enum Waiter {
    /// The log's attached queue, with the caller's tag.
    Queue(u64),
    /// A future (`Log::append_async`).
    Future(oneshot::Sender<Outcome>),
}

struct Entry {
    id: u64,
    bytes: u64,
    waiter: Waiter,
    /// When it was registered, if completion latencies are recorded.
    since: Option<Instant>,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    /// Appends in flight: reserved (being appended) and registered.
    records: u64,
    bytes: u64,
    /// The queue `Waiter::Queue` entries post to, and the source it tags them with.
    queue: Option<(Arc<CompletionQueue>, u64)>,
}

/// The in-flight asynchronous appends of one log.
#[derive(Default)]
pub(crate) struct Pending {
    state: Mutex<State>,
    /// Appends waiting for room.
    room: Condvar,
    /// Registered entries: lets `settle` skip the lock when there are none (every sync
    /// of a log without asynchronous appends).
    registered: AtomicU64,
    completed: AtomicU64,
    /// Registration to completion, when `timed` (the log's histograms are on).
    timed: AtomicBool,
    latency: Recorder,
}

impl Pending {
    /// Attaches the queue that `Waiter::Queue` entries post to (or detaches it). Refused
    /// while appends are in flight: their completions must reach the queue they were
    /// made for.
    pub fn attach(&self, queue: Option<(Arc<CompletionQueue>, u64)>) -> Result<()> {
        let mut state = lock(&self.state);
        if state.records > 0 {
            return Err(Error::InvalidArgument(format!(
                "{} asynchronous appends are in flight; the queue changes once they complete",
                state.records
            )));
        }
        if let Some((old, _)) = state.queue.take() {
            old.detach();
        }
        if let Some((new, _)) = &queue {
            new.attach();
        }
        state.queue = queue;
        Ok(())
    }

    /// Turns the completion-latency distribution on or off (`Options::histograms`).
    pub fn set_timed(&self, on: bool) {
        self.timed.store(on, SeqCst);
    }

    pub fn latency(&self) -> &Recorder {
        &self.latency
    }

    pub fn has_queue(&self) -> bool {
        lock(&self.state).queue.is_some()
    }

    /// Appends in flight now.
    pub fn in_flight(&self) -> u64 {
        lock(&self.state).records
    }

    /// Appends registered and not complete yet.
    pub fn registered(&self) -> u64 {
        self.registered.load(SeqCst)
    }

    /// Completions delivered so far (durable or not).
    pub fn completed(&self) -> u64 {
        self.completed.load(SeqCst)
    }

    /// Takes room for one append of `bytes`. Past a bound it waits per `limits`, calling
    /// `make_room` first (it asks for a sync) and `check` on every wake-up (close and
    /// poison end the wait with their error). True if it had to wait or was refused.
    pub fn reserve(
        &self,
        bytes: u64,
        limits: &AsyncLimits,
        make_room: impl Fn(),
        check: impl Fn() -> Result<()>,
    ) -> Result<bool> {
        let deadline = limits.wait.and_then(|w| Instant::now().checked_add(w));
        let mut state = lock(&self.state);
        let mut waited = false;
        loop {
            let fits = state.records < limits.max_records
                && state.bytes.saturating_add(bytes) <= limits.max_bytes;
            if fits || state.records == 0 {
                state.records += 1;
                state.bytes += bytes;
                return Ok(waited);
            }
            check()?;
            let full = || {
                Error::WouldBlock(format!(
                    "{} asynchronous appends ({} bytes) are in flight, the bound is {} \
                     ({} bytes)",
                    state.records, state.bytes, limits.max_records, limits.max_bytes
                ))
            };
            let Some(deadline) = limits.wait.and(deadline) else {
                return Err(full());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(full());
            }
            if !waited {
                waited = true;
                make_room();
            }
            state = self
                .room
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Gives back room taken by `reserve` for an append that failed.
    pub fn unreserve(&self, bytes: u64) {
        let mut state = lock(&self.state);
        state.records -= 1;
        state.bytes -= bytes;
        drop(state);
        self.room.notify_all();
    }

    /// Turns a reservation into an entry for record `id`. Called under the writer lock,
    /// right after the record got its id.
    pub fn register(&self, id: u64, bytes: u64, waiter: Waiter) {
        let mut state = lock(&self.state);
        debug_assert!(state.entries.back().is_none_or(|e| e.id < id));
        let since = self.timed.load(SeqCst).then(Instant::now);
        state.entries.push_back(Entry {
            id,
            bytes,
            waiter,
            since,
        });
        self.registered.fetch_add(1, SeqCst);
    }

    /// Completes, as durable, every entry up to `durable`.
    pub fn settle(&self, durable: u64) {
        if self.registered.load(SeqCst) == 0 {
            return;
        }
        let mut state = lock(&self.state);
        let n = state.entries.iter().take_while(|e| e.id <= durable).count();
        self.complete(&mut state, n, &Outcome::Durable);
    }

    /// Completes every entry with `outcome` (poison, close). Registered entries only: an
    /// append between its reservation and its registration sees the poison or close
    /// itself (see `Log::append_notify`).
    pub fn fail_all(&self, outcome: &Outcome) {
        let mut state = lock(&self.state);
        let n = state.entries.len();
        self.complete(&mut state, n, outcome);
        drop(state);
        // Appends waiting for room re-check close and poison.
        self.room.notify_all();
    }

    /// Pops the first `n` entries and delivers `outcome` to each, in id order.
    fn complete(&self, state: &mut State, n: usize, outcome: &Outcome) {
        if n == 0 {
            return;
        }
        let source = state.queue.as_ref().map_or(0, |(_, s)| *s);
        let mut posts = Vec::new();
        let mut bytes = 0;
        let now = self.timed.load(SeqCst).then(Instant::now);
        for entry in state.entries.drain(..n) {
            bytes += entry.bytes;
            if let (Some(now), Some(since)) = (now, entry.since) {
                self.latency
                    .record(now.duration_since(since).as_nanos() as u64);
            }
            match entry.waiter {
                Waiter::Queue(tag) => posts.push(Completion {
                    source,
                    id: entry.id,
                    tag,
                    outcome: outcome.clone(),
                }),
                // A dropped future no longer listens: nothing to tell.
                Waiter::Future(tx) => {
                    let _ = tx.send(outcome.clone());
                }
            }
        }
        if let Some((queue, _)) = &state.queue {
            queue.post(posts);
        }
        state.records -= n as u64;
        state.bytes -= bytes;
        self.registered.fetch_sub(n as u64, SeqCst);
        self.completed.fetch_add(n as u64, SeqCst);
        self.room.notify_all();
    }
}

impl Pending {
    /// Lets go of the queue (close, once every completion is posted).
    pub fn detach(&self) {
        if let Some((queue, _)) = lock(&self.state).queue.take() {
            queue.detach();
        }
    }
}

impl Drop for Pending {
    /// The last resort of "exactly one completion": a list dropped with entries in it
    /// (the log is gone without its close having settled them) reports them closed.
    fn drop(&mut self) {
        self.fail_all(&Outcome::Closed);
        self.detach();
    }
}
