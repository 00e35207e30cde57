//! Asynchronous appends: the record is appended (and visible) when the call returns; its
//! durability is reported later, exactly once, to a future or to the log's completion
//! queue (see `completion`).
//!
//! They ride the same syncs as everything else. Under `FlushPolicy::Sync` a *sync
//! driver* makes them durable: one blocking job at a time that leads group-commit rounds
//! (the very rounds `Sync` appenders lead or follow) for as long as asynchronous appends
//! wait, so one thread with many appends in flight gets one `fdatasync` per round, like
//! many threads appending synchronously. Under the other policies the flusher syncs as its
//! policy says, and the completions follow its syncs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Inner, Log};
use crate::completion::pending::Waiter;
use crate::completion::{CompletionQueue, DurableAppend};
use crate::config::FlushPolicy;
use crate::error::{Error, Result};
use crate::metrics::{Histograms, Metrics, Trigger};

impl Log {
    /// Appends one record now and returns a future that resolves to its id once it is
    /// durable (see [`DurableAppend`]). The record gets its id, in call order, and is
    /// visible to readers before this returns; the future only waits. Blocks only where
    /// an append would (a segment roll) and, past [`crate::Options::async_limits`], for
    /// room as they say (or the future fails with `WouldBlock`).
    pub fn append_async(&self, payload: &[u8]) -> DurableAppend {
        let (tx, rx) = oneshot::channel();
        match self.inner.append_tracked(payload, Waiter::Future(tx)) {
            Ok(id) => DurableAppend::waiting(id, rx),
            Err(e) => DurableAppend::failed(e),
        }
    }

    /// Appends one record now and returns its id; its completion (with `tag`) is posted
    /// later to the queue attached with [`Log::attach_queue`]: exactly one per call that
    /// returned `Ok`, none for one that failed. Fails with `InvalidArgument` if no queue is
    /// attached; otherwise as [`Log::append_async`].
    pub fn append_notify(&self, payload: &[u8], tag: u64) -> Result<u64> {
        if !self.inner.view.commit.pending.has_queue() {
            self.inner.view.check_open()?;
            return Err(Error::InvalidArgument(
                "no completion queue is attached to the log".into(),
            ));
        }
        self.inner.append_tracked(payload, Waiter::Queue(tag))
    }

    /// Attaches the queue that [`Log::append_notify`] posts to (replacing any other), or
    /// detaches it (`None`). Completions carry `source`, to tell apart the logs that share
    /// a queue. Fails with `InvalidArgument` while asynchronous appends are in flight. Close detaches
    /// the queue once every completion is posted.
    pub fn attach_queue(&self, queue: Option<Arc<CompletionQueue>>, source: u64) -> Result<()> {
        self.inner.view.check_open()?;
        self.inner
            .view
            .commit
            .pending
            .attach(queue.map(|q| (q, source)))
    }
}

impl Inner {
    /// An append whose outcome goes to `waiter`: takes room in the in-flight bound,
    /// appends, registers the waiter under the writer lock, and asks for a sync. Once
    /// registered the waiter will hear of the outcome (a failure after that point goes to
    /// it, not to the caller), so the caller sees exactly one of the two.
    fn append_tracked(&self, payload: &[u8], waiter: Waiter) -> Result<u64> {
        let view = &self.view;
        let started = view.metrics.hist.start_append(false);
        view.check_open()?;
        let len = payload.len() as u64;
        let max = self.options.record_limit();
        if len > max {
            return Err(Error::RecordTooLarge { len, max });
        }
        let pending = &view.commit.pending;
        let limits = &self.options.async_limits;
        let reserved = pending.reserve(
            len,
            limits,
            || self.request_sync(),
            || view.check_writable(),
        );
        if matches!(reserved, Ok(true) | Err(Error::WouldBlock(_))) {
            Metrics::add(&view.metrics.async_full, 1);
        }
        reserved?;
        let (id, write) = match self.append_registered(payload, waiter) {
            Ok(appended) => appended,
            Err(e) => {
                pending.unreserve(len);
                return Err(e);
            }
        };
        Metrics::add(&view.metrics.async_appends, 1);
        // A poison between the append's check and the registration found no entry to
        // fail: fail it now (a no-op when the poison saw it).
        view.fail_pending();
        match self.options.flush {
            FlushPolicy::Sync => self.start_sync_driver(),
            _ => self.poke_flusher(id, write),
        }
        Histograms::finish(&view.metrics.hist.append_latency, started);
        Ok(id)
    }

    /// The append itself, registering `waiter` under the writer lock. The record is in the
    /// writer's buffer once this returns; a failed write-out after the registration poisons
    /// the log, which completes the waiter.
    /// Returns the id and whether the flusher should write out (as `append_records_then`).
    fn append_registered(&self, payload: &[u8], waiter: Waiter) -> Result<(u64, bool)> {
        let len = payload.len() as u64;
        let mut waiter = Some(waiter);
        let mut registered = None;
        let appended = self.append_records_then(&[payload], false, |id| {
            let waiter = waiter.take().expect("one record, one registration");
            self.view.commit.pending.register(id, len, waiter);
            registered = Some(id);
        });
        match (registered, appended) {
            (Some(_), Ok(appended)) => Ok(appended),
            // Whatever failed after the registration reaches the waiter, not the caller.
            (Some(id), Err(_)) => Ok((id, false)),
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => unreachable!("an append that succeeded registered its waiter"),
        }
    }

    /// Asks for a sync soon, whatever the policy: an append waits for room in the
    /// in-flight bound, which only completions make.
    fn request_sync(&self) {
        match self.options.flush {
            FlushPolicy::Sync => self.start_sync_driver(),
            _ => self.signal.poke(true, true),
        }
    }

    /// Starts the sync driver unless it runs. It runs until no registered append waits:
    /// an append registered meanwhile (which saw the flag up and started nothing) is found
    /// by the driver's look after lowering the flag (both `SeqCst`).
    fn start_sync_driver(&self) {
        if self.sync_driver.load(SeqCst) || self.sync_driver.swap(true, SeqCst) {
            return;
        }
        let Some(inner) = self.weak_self.upgrade() else {
            self.sync_driver.store(false, SeqCst);
            return;
        };
        self.runtime.spawn_blocking(move || inner.run_sync_driver());
    }

    fn run_sync_driver(&self) {
        loop {
            let target = self.view.last_id();
            let round = catch_unwind(AssertUnwindSafe(|| {
                fail::fail_point!("background::async_sync", |_| Err(Error::Internal(
                    "injected failure of the asynchronous sync".into()
                )));
                self.make_durable(target, Trigger::Sync)
            }));
            let failure = match round {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(payload) => {
                    let msg = crate::durability::panic_message(payload.as_ref());
                    Some(Error::Internal(format!("panicked: {msg}")))
                }
            };
            self.sync_driver.store(false, SeqCst);
            if let Some(e) = failure {
                // Poisons the log (unless closed or poisoned already), which completes
                // every waiting append with the poison.
                self.fail_in_background("asynchronous sync", &e);
                return;
            }
            let waiting = self.view.commit.pending.registered() > 0
                && self.view.last_id() > self.view.durable_id();
            if !waiting || self.sync_driver.swap(true, SeqCst) {
                return;
            }
        }
    }
}
