//! The completion queue: where the outcomes of asynchronous appends are posted, for the
//! caller to take in its own time. Two ways to take them: poll (with an eventfd that is
//! readable while completions wait, for event loops), or a callback run on a dispatcher
//! thread the queue owns (never on a runtime worker, never on the thread that synced).

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsio;
use crate::sync::lock;

/// How an asynchronous append ended. Every such append gets exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record is durable: the `fdatasync` that covers it returned.
    Durable,
    /// The log was poisoned (a failed write or sync, or a background failure) before the
    /// record was durable; the message is the poison's. The record may or may not survive.
    Poisoned(Arc<str>),
    /// The log was closed before the record could be made durable (only when close could
    /// not sync it); the record may or may not survive.
    Closed,
}

impl Outcome {
    /// The error a failed outcome stands for (`Ok` when durable).
    pub fn into_result(self) -> Result<()> {
        match self {
            Outcome::Durable => Ok(()),
            Outcome::Poisoned(why) => Err(Error::Poisoned(why.to_string())),
            Outcome::Closed => Err(Error::Closed),
        }
    }
}

/// The outcome of one asynchronous append, as posted to a [`CompletionQueue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The `source` the log was attached with (tells apart the logs sharing a queue).
    pub source: u64,
    /// The record's id (as the append returned it).
    pub id: u64,
    /// The caller's tag given to the append.
    pub tag: u64,
    pub outcome: Outcome,
}

/// A function that receives completions on the dispatcher thread, in batches, in the
/// order they were posted.
pub type Callback = Box<dyn FnMut(&[Completion]) + Send + 'static>;

/// Completions handed to a callback at once, at most.
const DISPATCH_BATCH: usize = 256;

/// Where asynchronous appends of one or several logs post their completions (see
/// [`crate::Log::attach_queue`]). Completions of one log arrive in id order; those of
/// different logs interleave.
pub struct CompletionQueue {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    dispatcher_id: Option<ThreadId>,
}

struct Shared {
    items: Mutex<Items>,
    /// Pollers (or the dispatcher) waiting for the queue to become non-empty.
    ready: Condvar,
    /// Readable while completions wait (poll mode only).
    eventfd: Option<OwnedFd>,
    /// Logs attached now; a queue cannot be freed while any is.
    attached: AtomicUsize,
    posted: AtomicU64,
    callback_panics: AtomicU64,
}

#[derive(Default)]
struct Items {
    queue: VecDeque<Completion>,
    /// Set when the queue is dropped: the dispatcher delivers what is left and ends.
    stopping: bool,
}

impl CompletionQueue {
    /// A queue to poll, with an eventfd for event loops.
    pub fn new() -> Result<Arc<CompletionQueue>> {
        Ok(Arc::new(CompletionQueue {
            shared: Arc::new(Shared::new(Some(fsio::eventfd()?))),
            dispatcher: Mutex::new(None),
            dispatcher_id: None,
        }))
    }

    /// A queue that hands completions to `callback` on a thread of its own, in batches of
    /// up to 256, in posting order. While the callback runs, later completions wait in
    /// the queue (a slow callback delays them, never the appenders, who are bounded only
    /// by the logs' in-flight limits). A panic in the callback is caught and counted
    /// ([`CompletionQueue::callback_panics`]); its batch counts as delivered and the
    /// dispatcher goes on with the next. Dropping the queue delivers what is left, then
    /// joins the thread.
    pub fn with_callback(mut callback: Callback) -> Result<Arc<CompletionQueue>> {
        let shared = Arc::new(Shared::new(None));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("aof-completions".into())
            .spawn(move || theirs.dispatch(&mut callback))
            .map_err(|e| Error::Internal(format!("cannot start the dispatcher thread: {e}")))?;
        let id = thread.thread().id();
        Ok(Arc::new(CompletionQueue {
            shared,
            dispatcher: Mutex::new(Some(thread)),
            dispatcher_id: Some(id),
        }))
    }

    /// Whether completions go to a callback (and [`CompletionQueue::poll`] is refused).
    pub fn has_callback(&self) -> bool {
        self.dispatcher_id.is_some()
    }

    /// The eventfd that is readable while completions wait (poll mode; `None` with a
    /// callback). Level-triggered in effect: it stays readable until a poll empties the
    /// queue, so drain until empty on each wake-up. Owned by the queue: do not read it,
    /// write it or close it.
    pub fn fd(&self) -> Option<RawFd> {
        self.shared.eventfd.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Moves up to `max` completions into `out` (appended), waiting up to `timeout` for
    /// the first (`None`: without limit; zero: not at all). Returns how many it moved.
    pub fn poll(
        &self,
        out: &mut Vec<Completion>,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        if self.has_callback() {
            return Err(Error::InvalidArgument(
                "this completion queue delivers to a callback; it cannot be polled".into(),
            ));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let shared = &*self.shared;
        let mut items = lock(&shared.items);
        while items.queue.is_empty() && max > 0 {
            items = match deadline {
                None => shared.ready.wait(items).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    let waited = shared.ready.wait_timeout(items, d - now);
                    waited.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
        let n = max.min(items.queue.len());
        out.extend(items.queue.drain(..n));
        if items.queue.is_empty() {
            shared.clear_signal();
        }
        Ok(n)
    }

    /// Completions waiting to be polled (or dispatched) now.
    pub fn len(&self) -> usize {
        lock(&self.shared.items).queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Completions posted since the queue was made.
    pub fn posted(&self) -> u64 {
        self.shared.posted.load(SeqCst)
    }

    /// Panics of the callback caught by the dispatcher.
    pub fn callback_panics(&self) -> u64 {
        self.shared.callback_panics.load(SeqCst)
    }

    /// Logs attached to the queue now.
    pub fn attached_logs(&self) -> usize {
        self.shared.attached.load(SeqCst)
    }

    /// Whether the calling thread is this queue's dispatcher (running its callback).
    pub fn on_dispatcher(&self) -> bool {
        self.dispatcher_id == Some(std::thread::current().id())
    }

    pub(crate) fn attach(&self) {
        self.shared.attached.fetch_add(1, SeqCst);
    }

    pub(crate) fn detach(&self) {
        self.shared.attached.fetch_sub(1, SeqCst);
    }

    /// Posts completions, in order, with one lock: wakes pollers (or the dispatcher) and
    /// makes the eventfd readable if the queue was empty.
    pub(crate) fn post(&self, completions: impl IntoIterator<Item = Completion>) {
        let shared = &*self.shared;
        let mut items = lock(&shared.items);
        let was_empty = items.queue.is_empty();
        let before = items.queue.len();
        items.queue.extend(completions);
        let added = items.queue.len() - before;
        if added == 0 {
            return;
        }
        shared.posted.fetch_add(added as u64, SeqCst);
        if was_empty {
            if let Some(fd) = &shared.eventfd {
                fsio::eventfd_signal(fd);
            }
            shared.ready.notify_all();
        }
    }
}

impl Drop for CompletionQueue {
    fn drop(&mut self) {
        lock(&self.shared.items).stopping = true;
        self.shared.ready.notify_all();
        let thread = lock(&self.dispatcher).take();
        // Dropped by its own callback (it closed the last log holding the queue): the
        // thread ends by itself once the callback returns.
        if let Some(thread) = thread.filter(|_| !self.on_dispatcher()) {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn new(eventfd: Option<OwnedFd>) -> Shared {
        Shared {
            items: Mutex::new(Items::default()),
            ready: Condvar::new(),
            eventfd,
            attached: AtomicUsize::new(0),
            posted: AtomicU64::new(0),
            callback_panics: AtomicU64::new(0),
        }
    }

    /// Under the items lock, once the queue is empty: the eventfd is not readable.
    fn clear_signal(&self) {
        if let Some(fd) = &self.eventfd {
            fsio::eventfd_clear(fd);
        }
    }

    /// The dispatcher thread: takes batches and runs the callback outside the lock, until
    /// the queue is dropped and empty.
    fn dispatch(&self, callback: &mut Callback) {
        let mut batch = Vec::with_capacity(DISPATCH_BATCH);
        loop {
            {
                let mut items = lock(&self.items);
                while items.queue.is_empty() && !items.stopping {
                    items = self.ready.wait(items).unwrap_or_else(|p| p.into_inner());
                }
                if items.queue.is_empty() {
                    return;
                }
                let n = items.queue.len().min(DISPATCH_BATCH);
                batch.extend(items.queue.drain(..n));
            }
            if catch_unwind(AssertUnwindSafe(|| callback(&batch))).is_err() {
                self.callback_panics.fetch_add(1, SeqCst);
            }
            batch.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(id: u64) -> Completion {
        Completion {
            source: 7,
            id,
            tag: id * 10,
            outcome: Outcome::Durable,
        }
    }

    fn readable(fd: RawFd) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: one live pollfd, count 1, no wait.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n == 1 && pfd.revents & libc::POLLIN != 0
    }

    /// The eventfd is readable exactly while completions wait, across partial drains.
    #[test]
    fn the_eventfd_is_readable_while_completions_wait() {
        let q = CompletionQueue::new().unwrap();
        let fd = q.fd().unwrap();
        assert!(!readable(fd));
        q.post((1..=3).map(completion));
        assert!(readable(fd));
        let mut out = Vec::new();
        assert_eq!(q.poll(&mut out, 2, Some(Duration::ZERO)).unwrap(), 2);
        assert!(readable(fd), "one still waits");
        q.post([completion(4)]);
        assert_eq!(q.poll(&mut out, 10, Some(Duration::ZERO)).unwrap(), 2);
        assert!(!readable(fd));
        assert_eq!(out.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(q.posted(), 4);
        assert_eq!(q.poll(&mut out, 10, Some(Duration::ZERO)).unwrap(), 0);
    }

    #[test]
    fn a_poll_waits_for_the_first_completion_or_its_timeout() {
        let q = CompletionQueue::new().unwrap();
        let mut out = Vec::new();
        let t0 = Instant::now();
        assert_eq!(
            q.poll(&mut out, 4, Some(Duration::from_millis(20)))
                .unwrap(),
            0
        );
        assert!(t0.elapsed() >= Duration::from_millis(20));
        let poster = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                q.post([completion(1)]);
            })
        };
        assert_eq!(q.poll(&mut out, 4, None).unwrap(), 1);
        poster.join().unwrap();
    }

    /// Every completion reaches the callback once, in order; a panicking callback is
    /// counted and the dispatcher goes on; drop delivers what is left.
    #[test]
    fn the_callback_gets_every_completion_in_order_and_survives_a_panic() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let theirs = seen.clone();
        let q = CompletionQueue::with_callback(Box::new(move |batch: &[Completion]| {
            lock(&theirs).extend(batch.iter().map(|c| c.id));
            if batch.iter().any(|c| c.id == 500) {
                panic!("callback failure");
            }
        }))
        .unwrap();
        assert!(q.fd().is_none());
        assert!(q.poll(&mut Vec::new(), 1, None).is_err());
        for id in 1..=1000 {
            q.post([completion(id)]);
        }
        // Dropping the queue delivers the rest and joins the dispatcher.
        let shared = q.shared.clone();
        drop(q);
        let panics = shared.callback_panics.load(SeqCst);
        let ids = lock(&seen).clone();
        assert_eq!(ids, (1..=1000).collect::<Vec<_>>());
        assert_eq!(panics, 1);
    }
}
