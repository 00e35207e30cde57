//! Asynchronous appends: one thread keeps N appends in flight under
//! `FlushPolicy::Sync` and learns of each one's durability later.
//!
//! - `aof-notify-N`: `Log::append_notify` with a `CompletionQueue` attached. The thread
//!   appends until N are in flight, then polls the queue (blocking) and refills.
//! - `aof-future-N`: `Log::append_async`, its futures run by the small executor below (one
//!   waker per slot, a ready list, the thread parks when nothing is ready).
//!
//! Latency is per record, from the append call to the moment the thread sees its
//! completion: the start time of each append goes into a ring indexed by id (the ids in
//! flight are consecutive and at most N, so the ring never overwrites a live one). Every
//! record is timed. A repetition starts from a fresh log and ends, inside the timed region,
//! when the last completion is seen: then every record is durable.
//!
//! Their comparisons are cells of the append matrix (`append/sync/SIZE/{1,16}t/aof`,
//! `append/sync/SIZE/1t/raw-fsync`), selected along with these (see `companion`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use aof::{CompletionQueue, DurableAppend, FlushPolicy, Log, Options, Outcome};

use crate::drive::Plan;
use crate::stats::{Cell, Lat, Rep};
use crate::util::{elapsed_ns, fill, fresh_dir, new_hist, remove_dir, syncfs};

/// The id segment of these cells' workload.
pub const WORKLOAD: &str = "append-async";
/// Record sizes measured.
pub const SIZES: [usize; 2] = [64, 1024];
/// Appends in flight of the `aof-notify` cells.
pub const DEPTHS: [usize; 4] = [1, 16, 256, 4096];
/// Appends in flight of the `aof-future` cell.
pub const FUTURE_DEPTH: usize = 256;
/// The design target: one thread with at least this many in flight at least matches
/// this many threads appending with `Sync`.
pub const TARGET_DEPTH: usize = 256;
pub const TARGET_THREADS: usize = 16;
/// A repetition fails if no completion arrives for this long.
const STALL: Duration = Duration::from_secs(60);

pub fn notify_engine(depth: usize) -> String {
    format!("aof-notify-{depth}")
}

pub fn future_engine(depth: usize) -> String {
    format!("aof-future-{depth}")
}

/// Every cell of this workload for `size`, in run order: (cell, depth, futures?).
pub fn cells(size: usize) -> Vec<(Cell, usize, bool)> {
    let mut v: Vec<_> = DEPTHS
        .iter()
        .map(|&d| {
            (
                Cell::new(WORKLOAD, "sync", size, 1, &notify_engine(d)),
                d,
                false,
            )
        })
        .collect();
    v.push((
        Cell::new(WORKLOAD, "sync", size, 1, &future_engine(FUTURE_DEPTH)),
        FUTURE_DEPTH,
        true,
    ));
    v
}

/// Whether `c` is a cell of the append matrix these cells are compared with: Sync with 1
/// and 16 threads, and `pwrite` + `fdatasync` per record from 1 thread.
pub fn companion(c: &Cell) -> bool {
    c.workload == "append"
        && c.policy == "sync"
        && SIZES.contains(&c.size)
        && match c.engine.as_str() {
            "aof" => c.threads == 1 || c.threads == TARGET_THREADS,
            "raw-fsync" => c.threads == 1,
            _ => false,
        }
}

/// Whether a `--filter` term names these cells (their workload or engines) rather than
/// something they share with other cells (`sync`, `64B`, `1t`).
pub fn names(term: &str) -> bool {
    let t = term.to_ascii_lowercase();
    [WORKLOAD, "aof-notify", "aof-future"]
        .iter()
        .any(|n| t.contains(n))
}

/// A fresh log under `FlushPolicy::Sync` with default options otherwise.
fn open(path: &Path) -> Log {
    fresh_dir(path);
    let opts = Options {
        flush: FlushPolicy::Sync,
        ..Options::default()
    };
    Log::open(path, opts).expect("open aof log")
}

/// Start times of the records in flight, indexed by id.
struct Ring {
    start: Vec<Instant>,
    mask: u64,
}

impl Ring {
    fn new(depth: usize) -> Ring {
        let n = depth.next_power_of_two();
        Ring {
            start: vec![Instant::now(); n],
            mask: n as u64 - 1,
        }
    }

    fn set(&mut self, id: u64, t: Instant) {
        self.start[(id & self.mask) as usize] = t;
    }

    fn get(&self, id: u64) -> Instant {
        self.start[(id & self.mask) as usize]
    }
}

/// Whether the run should append another record: `done` records so far.
fn more(plan: &Plan, start: Instant, done: u64) -> bool {
    match plan.per_thread {
        Some(n) => done < n,
        None => start.elapsed() < plan.duration,
    }
}

/// Closes the log, checks the counters and builds the repetition.
fn finish(
    log: Log,
    path: &Path,
    before: aof::MetricsSnapshot,
    records: u64,
    size: usize,
    secs: f64,
    hist: &hdrhistogram::Histogram<u64>,
) -> Rep {
    let after = log.metrics();
    assert_eq!(
        after.appends - before.appends,
        records,
        "every append counted"
    );
    assert_eq!(after.async_completed - before.async_completed, records);
    assert!(log.durable_id() >= log.last_id(), "everything durable");
    log.close().expect("aof close");
    drop(log);
    remove_dir(path);
    Rep {
        records,
        bytes: records * size as u64,
        secs,
        lat: Lat::of(hist),
        syncs: Some(after.syncs - before.syncs),
    }
}

/// `append_notify` with `depth` in flight, completions polled from an attached queue.
pub fn notify_rep(dir: &Path, size: usize, depth: usize, plan: Plan) -> Rep {
    let path = dir.join("aof-async");
    let log = open(&path);
    let queue = CompletionQueue::new().expect("completion queue");
    log.attach_queue(Some(queue.clone()), 1)
        .expect("attach queue");
    let data = fill(1, size);
    let mut ring = Ring::new(depth);
    let mut hist = new_hist();
    let mut done = Vec::with_capacity(depth);
    let (mut appended, mut in_flight) = (0u64, 0usize);
    syncfs(dir);
    let before = log.metrics();
    let start = Instant::now();
    loop {
        while in_flight < depth && more(&plan, start, appended) {
            let t = Instant::now();
            let id = log.append_notify(&data, 0).expect("aof append_notify");
            ring.set(id, t);
            in_flight += 1;
            appended += 1;
        }
        if in_flight == 0 {
            break;
        }
        let got = queue
            .poll(&mut done, depth, Some(STALL))
            .expect("poll the completion queue");
        assert!(
            got > 0,
            "no completion for {STALL:?}, {in_flight} in flight"
        );
        let now = Instant::now();
        for c in done.drain(..) {
            assert_eq!(c.outcome, Outcome::Durable, "record {} not durable", c.id);
            hist.saturating_record(now.duration_since(ring.get(c.id)).as_nanos() as u64);
            in_flight -= 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    finish(log, &path, before, appended, size, secs, &hist)
}

/// The executor's shared state: the slots whose futures were woken, and the thread to
/// unpark.
struct Ready {
    slots: Mutex<Vec<usize>>,
    thread: Thread,
}

/// The waker of one slot.
struct SlotWaker {
    slot: usize,
    ready: Arc<Ready>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.slot);
        self.ready.thread.unpark();
    }
}

/// `append_async` with `depth` futures in flight, run by a minimal single-threaded
/// executor: each slot holds one future and its own waker; a woken slot is polled, and
/// once its future resolves the slot appends the next record.
pub fn future_rep(dir: &Path, size: usize, depth: usize, plan: Plan) -> Rep {
    let path = dir.join("aof-async");
    let log = open(&path);
    let data = fill(1, size);
    let ready = Arc::new(Ready {
        slots: Mutex::new(Vec::with_capacity(depth)),
        thread: std::thread::current(),
    });
    let wakers: Vec<Waker> = (0..depth)
        .map(|slot| {
            Waker::from(Arc::new(SlotWaker {
                slot,
                ready: ready.clone(),
            }))
        })
        .collect();
    let mut slots: Vec<Option<(Instant, DurableAppend)>> = (0..depth).map(|_| None).collect();
    let mut hist = new_hist();
    let mut woken = Vec::with_capacity(depth);
    let (mut appended, mut in_flight) = (0u64, 0usize);
    syncfs(dir);
    let before = log.metrics();
    let start = Instant::now();
    // Polls slot `i` (appending into it first if empty and the run goes on) until its
    // future is pending or the run is over.
    let mut step = |i: usize,
                    slots: &mut Vec<Option<(Instant, DurableAppend)>>,
                    appended: &mut u64,
                    in_flight: &mut usize| {
        let mut cx = Context::from_waker(&wakers[i]);
        loop {
            if slots[i].is_none() {
                if !more(&plan, start, *appended) {
                    return;
                }
                slots[i] = Some((Instant::now(), log.append_async(&data)));
                *appended += 1;
                *in_flight += 1;
            }
            let (t, fut) = slots[i].as_mut().expect("a future in the slot");
            match Pin::new(fut).poll(&mut cx) {
                Poll::Pending => return,
                Poll::Ready(r) => {
                    r.expect("aof append_async");
                    hist.saturating_record(elapsed_ns(*t));
                    slots[i] = None;
                    *in_flight -= 1;
                }
            }
        }
    };
    for i in 0..depth {
        step(i, &mut slots, &mut appended, &mut in_flight);
    }
    let mut idle = Instant::now();
    while in_flight > 0 {
        std::mem::swap(
            &mut woken,
            &mut *ready.slots.lock().unwrap_or_else(|p| p.into_inner()),
        );
        if woken.is_empty() {
            assert!(idle.elapsed() < STALL, "no future woke for {STALL:?}");
            std::thread::park_timeout(STALL / 10);
            continue;
        }
        idle = Instant::now();
        for i in woken.drain(..) {
            step(i, &mut slots, &mut appended, &mut in_flight);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    finish(log, &path, before, appended, size, secs, &hist)
}
