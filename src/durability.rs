//! Durability: the watermarks readers and waiters block on, group commit (one leader
//! syncs for every waiting writer), the background flusher that carries out the `Async`,
//! `Batched` and `Periodic` policies, and the supervision that turns a background task's
//! panic into poison instead of silence.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::completion::pending::Pending;
use crate::error::{Error, Result};
use crate::metrics::Trigger;
use crate::sync::{lock, Padded, TaskSignal};

/// A monotonically rising id that threads can wait on. Waking costs nothing while no one
/// waits. The waiter count and the value are both `SeqCst`, so an advance either sees the
/// waiter and notifies, or the waiter sees the new value before it sleeps: no lost wake-up.
#[derive(Default)]
pub struct Watermark {
    value: Padded<AtomicU64>,
    /// The threads waiting: sleeping ones in the low 32 bits (an advance must wake them),
    /// busy-polling ones in units of [`SPINNER`] (they need no wake-up, but count for
    /// `has_waiters`). Read on every append (is a reader waiting?), changed rarely: apart
    /// from `value`, which the flusher changes on every write-out.
    waiters: Padded<AtomicU64>,
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

    /// Whether any thread is waiting on this watermark now, sleeping or busy-polling.
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(SeqCst) > 0
    }

    /// Wakes every sleeping waiter so it re-checks its own stop condition (close, poison).
    /// Busy-polling ones check it themselves.
    pub fn wake_all(&self) {
        if self.waiters.load(SeqCst) & SLEEPERS > 0 {
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
        self.wait_spinning(target, deadline, Duration::ZERO, stop)
    }

    /// [`Watermark::wait_for`], but first busy-polls the value for up to `spin` (bounded
    /// by the deadline) before it sleeps. A spinning thread counts for `has_waiters` (so an
    /// appender writes its record out at once for it) but needs no wake-up: the advance
    /// that ends the spin costs the writer nothing more, and the spinner sees it within a
    /// few polls instead of after a futex wake-up. It checks the clock and `stop()` every
    /// [`SPIN_CHECK_EVERY`] polls, so close and poison still end the spin. Unless the spin
    /// reached the target, the sleeping loop below decides the outcome (interrupted, timed
    /// out) and only sleeps if neither holds.
    pub fn wait_spinning(
        &self,
        target: u64,
        deadline: Option<Instant>,
        spin: Duration,
        stop: impl Fn() -> bool,
    ) -> std::result::Result<(), WaitEnd> {
        if self.get() >= target {
            return Ok(());
        }
        if spin.is_zero() {
            self.waiters.fetch_add(1, SeqCst);
        } else {
            self.waiters.fetch_add(SPINNER, SeqCst);
            if self.spin_until(target, deadline, spin, &stop) {
                self.waiters.fetch_sub(SPINNER, SeqCst);
                return Ok(());
            }
            // From spinner to sleeper in one step, so `has_waiters` never drops meanwhile.
            self.waiters.fetch_sub(SPINNER - 1, SeqCst);
        }
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

    /// The spin phase of [`Watermark::wait_spinning`]: `true` once the value reaches
    /// `target`; `false` once `stop()` holds or `spin` (or the deadline, if sooner) has
    /// passed.
    fn spin_until(
        &self,
        target: u64,
        deadline: Option<Instant>,
        spin: Duration,
        stop: &impl Fn() -> bool,
    ) -> bool {
        let Some(spin_end) = Instant::now().checked_add(spin) else {
            return false;
        };
        let end = deadline.map_or(spin_end, |d| d.min(spin_end));
        loop {
            for _ in 0..SPIN_CHECK_EVERY {
                if self.get() >= target {
                    return true;
                }
                std::hint::spin_loop();
            }
            if stop() || Instant::now() >= end {
                return false;
            }
        }
    }
}

/// One busy-polling thread in `Watermark::waiters`; sleeping ones count 1 each, below it.
const SPINNER: u64 = 1 << 32;
/// The sleeping waiters' part of `Watermark::waiters`.
const SLEEPERS: u64 = SPINNER - 1;

/// Polls between two looks at the clock and the stop condition while spinning: a few
/// microseconds of `spin_loop` hints, so neither the clock nor `stop()` dominates a poll.
const SPIN_CHECK_EVERY: u32 = 64;

/// Group commit. Whoever needs durability and finds no sync under way becomes the leader:
/// it writes out everything appended so far and runs one `fdatasync` that covers every
/// writer waiting behind it. The others wait for the durable watermark, and one of them
/// leads the next round if the last one did not reach its id. Asynchronous appends wait
/// in `pending`, settled by every advance of the watermark.
pub struct GroupCommit {
    /// Advanced only through [`GroupCommit::advance`], which settles `pending`.
    pub durable: Watermark,
    pub pending: Pending,
    leader: Mutex<bool>,
    leader_done: Condvar,
}

impl GroupCommit {
    pub fn new(durable: u64) -> Self {
        GroupCommit {
            durable: Watermark::new(durable),
            pending: Pending::default(),
            leader: Mutex::new(false),
            leader_done: Condvar::new(),
        }
    }

    /// Records that every id up to `to` is durable (an `fdatasync` covering them has
    /// returned): wakes its waiters and completes the asynchronous appends it covers.
    pub fn advance(&self, to: u64) {
        self.durable.advance(to);
        self.pending.settle(self.durable.get());
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
                self.advance(synced);
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
    pub task: TaskSignal,
    /// A background sync is due (count trigger reached, or `Async`).
    pub sync_due: AtomicBool,
}

impl FlusherSignal {
    /// Asks the flusher to sync (if `sync`) and to write out buffered records (if `write`:
    /// the caller's records were the first in an empty buffer).
    pub fn poke(&self, sync: bool, write: bool) {
        // Already due: the flusher has not taken the request yet, and when it does it
        // syncs up to the last id, which the caller stored (SeqCst) before this load.
        let newly_due = sync && !self.sync_due.load(SeqCst) && !self.sync_due.swap(true, SeqCst);
        if newly_due || write {
            self.task.wake();
        }
    }
}

/// The work the flusher drives; implemented by the log.
pub trait FlushTarget: Send + Sync + 'static {
    /// Moves buffered records into the file so readers can see them. No sync.
    fn write_out(&self) -> Result<()>;
    /// Makes everything appended so far durable (group commit); `trigger` says why.
    fn sync_all(&self, trigger: Trigger) -> Result<()>;
    /// Whether anything appended is not yet durable.
    fn has_unsynced(&self) -> bool;
    /// Records a failure that no caller sees (the flusher has no caller): poisons the log.
    fn background_failed(&self, task: &str, err: &Error);
}

/// The background flusher of one log: wakes on a poke or on its timer, has buffered records
/// written out and synced when the policy says so. Writes and syncs run on the blocking
/// pool, never on the async workers shared by every log, and at most one of each at a
/// time: the sync runs concurrently with the next write-outs, so an appender that outruns
/// a slow `fdatasync` finds its records taken off its hands meanwhile.
pub async fn run_flusher<T: FlushTarget>(
    target: Arc<T>,
    signal: Arc<FlusherSignal>,
    interval: Option<Duration>,
) {
    let mut ticker = interval.map(|i| {
        // The first tick one interval from now, not at once.
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + i, i);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut writing: Option<JoinHandle<Result<()>>> = None;
    let mut syncing: Option<JoinHandle<Result<()>>> = None;
    let mut timer_pending = false;
    let mut write_wanted = false;
    loop {
        let woke = tokio::select! {
            _ = signal.task.woken() => Woke::Poke,
            _ = async { ticker.as_mut().expect("guarded").tick().await }, if ticker.is_some() => {
                Woke::Timer
            }
            done = async { writing.as_mut().expect("guarded").await }, if writing.is_some() => {
                Woke::WriteDone(done)
            }
            done = async { syncing.as_mut().expect("guarded").await }, if syncing.is_some() => {
                Woke::SyncDone(done)
            }
        };
        fail::fail_point!("background::flusher");
        let failed = match woke {
            Woke::Poke => {
                write_wanted = true;
                None
            }
            Woke::Timer => {
                timer_pending = true;
                None
            }
            Woke::WriteDone(done) => {
                writing = None;
                job_failure("background write-out", done)
            }
            Woke::SyncDone(done) => {
                syncing = None;
                job_failure("background sync", done)
            }
        };
        if let Some((task, e)) = failed {
            target.background_failed(task, &e);
            return;
        }
        if signal.task.is_stopped() {
            // Close writes and syncs everything itself; let jobs under way finish first.
            for job in [writing.take(), syncing.take()].into_iter().flatten() {
                let _ = job.await;
            }
            return;
        }
        if writing.is_none() && std::mem::take(&mut write_wanted) {
            let t = target.clone();
            writing = Some(tokio::task::spawn_blocking(move || t.write_out()));
        }
        // One sync at a time; a request made meanwhile stays due until this one ends.
        if syncing.is_none() {
            let due = signal.sync_due.swap(false, SeqCst);
            if due || (std::mem::take(&mut timer_pending) && target.has_unsynced()) {
                let t = target.clone();
                let trigger = if due {
                    Trigger::Batched
                } else {
                    Trigger::Periodic
                };
                syncing = Some(tokio::task::spawn_blocking(move || t.sync_all(trigger)));
            }
        }
    }
}

type JobResult = std::result::Result<Result<()>, tokio::task::JoinError>;

enum Woke {
    Poke,
    Timer,
    WriteDone(JobResult),
    SyncDone(JobResult),
}

/// The failure of a finished blocking job, if any: its error, or its panic.
fn job_failure(task: &'static str, done: JobResult) -> Option<(&'static str, Error)> {
    match done {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some((task, e)),
        Err(join) => Some((task, Error::Internal(join_message(join)))),
    }
}

/// What a failed join says: the panic's message, or that the task was cancelled.
pub fn join_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => format!("panicked: {}", panic_message(payload.as_ref())),
        Err(join) => join.to_string(),
    }
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Spawns a background task of a log on `runtime`. A panic anywhere in its async body
/// is caught and handed to `failed` (which poisons the log and wakes its waiters) rather
/// than ending the task in silence. A task that fails without panicking reports its own
/// failure before it returns.
pub fn spawn_supervised<F>(
    runtime: &Handle,
    task: &'static str,
    body: F,
    failed: impl FnOnce(&'static str, Error) + Send + 'static,
) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    runtime.spawn(async move {
        if let Err(payload) = (CatchUnwind {
            inner: Box::pin(body),
        })
        .await
        {
            let msg = format!("panicked: {}", panic_message(payload.as_ref()));
            failed(task, Error::Internal(msg));
        }
    })
}

/// A future that turns a panic while polling `inner` into an `Err` with the payload.
struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Unwind safety: after a panic the inner future is never polled again, and the
        // state it shares with the log stays consistent under its locks (see `sync::lock`);
        // the log is poisoned instead.
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spinning waiter counts as a waiter but not as a sleeper (the advance wakes no
    /// one), and it sees the advance.
    #[test]
    fn spinning_wait_sees_an_advance_without_sleeping() {
        let mark = Arc::new(Watermark::new(0));
        let waiter = {
            let mark = Arc::clone(&mark);
            std::thread::spawn(move || {
                mark.wait_spinning(1, None, Duration::from_secs(10), || false)
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        assert!(mark.has_waiters(), "a spinning thread is a waiter");
        assert_eq!(mark.waiters.load(SeqCst), SPINNER, "and not a sleeper");
        let t0 = Instant::now();
        mark.advance(1);
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_deadline_bounds_the_spin() {
        let mark = Watermark::new(0);
        let t0 = Instant::now();
        let deadline = Some(t0 + Duration::from_millis(20));
        let r = mark.wait_spinning(1, deadline, Duration::from_secs(10), || false);
        assert_eq!(r, Err(WaitEnd::TimedOut));
        assert!(!mark.has_waiters());
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(20) && took < Duration::from_secs(5));
    }

    /// After a short spin the waiter sleeps, and an advance still wakes it.
    #[test]
    fn a_spin_shorter_than_the_gap_falls_back_to_sleeping() {
        let mark = Arc::new(Watermark::new(0));
        let waiter = {
            let mark = Arc::clone(&mark);
            std::thread::spawn(move || {
                mark.wait_spinning(1, None, Duration::from_micros(100), || false)
            })
        };
        let t0 = Instant::now();
        while mark.waiters.load(SeqCst) != 1 {
            assert!(t0.elapsed() < Duration::from_secs(5), "never went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
        mark.advance(1);
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert!(!mark.has_waiters());
    }

    /// `stop()` ends the spin long before it runs out, without any wake-up.
    #[test]
    fn stop_interrupts_the_spin() {
        let mark = Arc::new(Watermark::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (mark, stop) = (Arc::clone(&mark), Arc::clone(&stop));
            std::thread::spawn(move || {
                let r = mark.wait_spinning(1, None, Duration::from_secs(10), || stop.load(SeqCst));
                (r, Instant::now())
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        let t0 = Instant::now();
        stop.store(true, SeqCst);
        let (r, ended) = waiter.join().unwrap();
        assert_eq!(r, Err(WaitEnd::Interrupted));
        assert!(!mark.has_waiters());
        assert!(ended.duration_since(t0) < Duration::from_secs(5));
    }
}

#[cfg(test)]
mod supervision_tests {
    use super::*;

    #[test]
    fn a_panicking_task_is_reported_with_its_message() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let task = spawn_supervised(
            rt.handle(),
            "test task",
            async { panic!("boom {}", 7) },
            move |task, err| tx.send(format!("{task}: {err}")).unwrap(),
        );
        rt.block_on(task).unwrap();
        let msg = rx.recv().unwrap();
        assert!(msg.starts_with("test task: "), "{msg}");
        assert!(msg.contains("panicked: boom 7"), "{msg}");
    }

    #[test]
    fn a_task_that_ends_normally_reports_nothing() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reported = Arc::new(AtomicBool::new(false));
        let r = reported.clone();
        let task = spawn_supervised(rt.handle(), "quiet", async {}, move |_, _| {
            r.store(true, SeqCst)
        });
        rt.block_on(task).unwrap();
        assert!(!reported.load(SeqCst));
    }
}
