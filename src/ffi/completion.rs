//! `aof_completion_queue_t` and asynchronous appends: `aof_append_async` appends at once
//! and posts the record's outcome later, exactly once, to the queue attached to the log,
//! where the caller polls it (with an eventfd for event loops) or a callback receives it
//! on a dispatcher thread.
//!
//! A queue handle is a token like a log handle (see `registry`), in a table of its own.
//! Each completion names its log by the log's handle (the engine's `source`) and carries
//! the caller's `user_data` back (the engine's `tag`, the pointer's address with its
//! provenance exposed, so that the pointer handed back is usable).

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex};

use super::boundary::{self, bytes_in, nonnull_unless_empty, opt_out, write_opt, Failure, Out};
use super::log::{self, aof_log_t};
use super::registry::Registry;
use super::status::{
    aof_status_t, AOF_ERR_BUSY, AOF_ERR_CLOSED, AOF_ERR_MISUSE, AOF_ERR_POISONED, AOF_OK,
    AOF_TIMED_OUT,
};
use crate::completion::{Completion, CompletionQueue, Outcome};
use crate::sync::lock;

/// A completion queue: where the outcomes of `aof_append_async` are posted, for one log or
/// several (of any manager, or opened alone). Made by `aof_completion_queue_new` (to poll)
/// or `aof_completion_queue_new_callback` (a callback receives them), freed with
/// `aof_completion_queue_free`. An opaque token like `aof_log_t`: libaof never
/// dereferences it, a freed handle gives `AOF_ERR_CLOSED`, and a value that was never a
/// queue handle (a log handle passed by mistake included) `AOF_ERR_INVALID_ARG`. May be
/// used from many threads at once.
pub struct aof_completion_queue_t {
    _opaque: [u8; 0],
}

/// The outcome of one `aof_append_async`, as `aof_cq_poll` or a callback receives it.
#[repr(C)]
pub struct aof_completion_t {
    /// The record's id, as `aof_append_async` returned it.
    pub id: u64,
    /// The `user_data` given to `aof_append_async`, unchanged.
    pub user_data: *mut c_void,
    /// The handle of the log the record was appended to. For comparison only: libaof never
    /// dereferences it, and once that log is closed with `aof_close` it is a dead handle
    /// (calls with it return `AOF_ERR_CLOSED`), though completions posted before or by the
    /// close still carry it.
    pub log: *mut aof_log_t,
    /// `AOF_OK`: the record is durable (the `fdatasync` that covers it returned).
    /// `AOF_ERR_POISONED`: the log was poisoned (a failed write or sync) before the record
    /// was durable; the record may or may not survive a crash, and the log's calls now
    /// return `AOF_ERR_POISONED` with the reason as their last error. `AOF_ERR_CLOSED`: the
    /// log was closed without its close being able to sync the record (the close itself
    /// failed); it may or may not survive either.
    pub status: aof_status_t,
    /// Zero; room for later use.
    pub reserved: u32,
}

const _: () = assert!(size_of::<aof_completion_t>() == 32);

/// The function a callback queue hands completions to: `completions` points to `count`
/// (1 to 256) completions, valid only during the call; `ctx` is the pointer given to
/// `aof_completion_queue_new_callback`. Runs on the queue's dispatcher thread; see
/// `aof_completion_queue_new_callback` for what it may and must not do.
pub type aof_completion_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, completions: *const aof_completion_t, count: usize),
>;

/// What the table holds for a queue handle.
struct QueueHandle {
    queue: Arc<CompletionQueue>,
    /// Set by `aof_completion_queue_free`, under the lock that attaching a log takes too:
    /// no log attaches to a queue between the free's check that none is attached and the
    /// removal of its handle.
    freed: Mutex<bool>,
}

/// Live queues by token: a tweak of their own (log 0, manager 2^62; see `Registry::new`).
static QUEUES: Registry<QueueHandle> = Registry::new(
    "completion queue",
    "aof_completion_queue_new or aof_completion_queue_new_callback",
    0x8000_0000_0000_0000,
);

fn lookup(handle: *const aof_completion_queue_t) -> boundary::FfiResult<Arc<QueueHandle>> {
    if handle.is_null() {
        return Err(Failure::null_arg("cq"));
    }
    QUEUES.get(handle.addr())
}

fn register(queue: Arc<CompletionQueue>) -> *mut aof_completion_queue_t {
    let handle = QueueHandle {
        queue,
        freed: Mutex::new(false),
    };
    std::ptr::without_provenance_mut(QUEUES.insert(handle))
}

/// The status of an outcome: the one mapping.
fn status_of(outcome: &Outcome) -> aof_status_t {
    match outcome {
        Outcome::Durable => AOF_OK,
        Outcome::Poisoned(_) => AOF_ERR_POISONED,
        Outcome::Closed => AOF_ERR_CLOSED,
    }
}

/// A completion as C sees it. The log was attached with its handle's address as source
/// and the append's tag is the address of `user_data` (see `aof_append_async`).
fn to_c(c: &Completion) -> aof_completion_t {
    aof_completion_t {
        id: c.id,
        user_data: std::ptr::with_exposed_provenance_mut(c.tag as usize),
        log: std::ptr::without_provenance_mut(c.source as usize),
        status: status_of(&c.outcome),
        reserved: 0,
    }
}

/// Creates a completion queue to poll: `aof_cq_poll` takes completions, and `aof_cq_fd`
/// gives an eventfd that is readable while completions wait (for epoll, poll, an event
/// loop). Attach it to logs with `aof_log_set_completion_queue`. On success `*out_cq`
/// receives a new handle, to be freed with `aof_completion_queue_free`. Statuses:
/// `AOF_ERR_NULL_ARG`, `AOF_ERR_IO` (no eventfd: out of descriptors).
///
/// # Safety
/// `out_cq` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_completion_queue_new(
    out_cq: *mut *mut aof_completion_queue_t,
) -> aof_status_t {
    boundary::guard("aof_completion_queue_new", || {
        let out = Out::new(out_cq, "out_cq")?;
        let handle = register(CompletionQueue::new()?);
        // SAFETY: the caller's contract for `out_cq`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// The callback of a queue and what it is given, moved to the dispatcher thread.
struct Dispatch {
    callback: unsafe extern "C" fn(*mut c_void, *const aof_completion_t, usize),
    ctx: *mut c_void,
    /// The batch as C sees it, reused from call to call.
    batch: Vec<aof_completion_t>,
}

// SAFETY: libaof never dereferences `ctx` nor the pointers of a completion; it only hands
// them to the callback, on the dispatcher thread, which the caller accepted for `ctx` when
// making the queue (documented on `aof_completion_queue_new_callback`).
unsafe impl Send for Dispatch {}

impl Dispatch {
    fn deliver(&mut self, completions: &[Completion]) {
        self.batch.clear();
        self.batch.extend(completions.iter().map(to_c));
        // SAFETY: a non-NULL function of the documented signature; the array holds
        // `batch.len()` initialised completions and outlives the call; `ctx` is the
        // caller's own.
        unsafe { (self.callback)(self.ctx, self.batch.as_ptr(), self.batch.len()) };
    }
}

/// Creates a completion queue that hands completions to `callback` instead of being
/// polled (`aof_cq_poll` and `aof_cq_fd` return `AOF_ERR_INVALID_ARG` for it). Attach it
/// to logs with `aof_log_set_completion_queue`. On success `*out_cq` receives a new
/// handle, to be freed with `aof_completion_queue_free`.
///
/// The callback runs on a dispatcher thread the queue owns (one per queue, started here,
/// joined by `aof_completion_queue_free`), never on libaof's runtime threads nor on the
/// thread whose sync made the records durable. It gets batches of 1 to 256 completions
/// in the order they were posted (each log's in id order), one call at a time; the array
/// is valid only during the call. `ctx` (may be NULL) is passed to every call as is, and
/// used from the dispatcher thread only: it must be safe to use there. While the callback
/// runs, later completions of every log on the queue wait: a slow callback delays them,
/// never the appends (which only the in-flight bound of `aof_options_set_async_limits`
/// holds back, as completions are counted when posted, not when delivered). It must
/// return normally: no C++ exception, `longjmp` or thread exit may leave it. It may call
/// libaof, `aof_append_async`, `aof_close` and `aof_completion_queue_free` of another
/// queue included, but not free its own queue (`AOF_ERR_MISUSE`). Statuses:
/// `AOF_ERR_NULL_ARG` (`callback`, `out_cq`), `AOF_ERR_INTERNAL` (the thread could not be
/// started).
///
/// # Safety
/// `callback` must be NULL or a function of this signature that stays callable until
/// `aof_completion_queue_free` returns; `out_cq` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_completion_queue_new_callback(
    callback: aof_completion_fn,
    ctx: *mut c_void,
    out_cq: *mut *mut aof_completion_queue_t,
) -> aof_status_t {
    boundary::guard("aof_completion_queue_new_callback", || {
        let callback = callback.ok_or_else(|| Failure::null_arg("callback"))?;
        let out = Out::new(out_cq, "out_cq")?;
        let mut dispatch = Dispatch {
            callback,
            ctx,
            batch: Vec::new(),
        };
        let queue =
            CompletionQueue::with_callback(Box::new(move |completions: &[Completion]| {
                dispatch.deliver(completions);
            }))?;
        let handle = register(queue);
        // SAFETY: the caller's contract for `out_cq`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Frees a completion queue. NULL is a no-op returning `AOF_OK`. Refused with
/// `AOF_ERR_BUSY` while an open log is attached to it (the handle stays valid): close
/// the log (`aof_close` detaches it once every completion of the log is posted) or
/// detach it with `aof_log_set_completion_queue(log, NULL)` first. Completions not taken
/// yet are dropped with a polled queue; a callback queue delivers them to its callback
/// and joins its dispatcher thread before this returns, so the callback and `ctx` are not
/// used afterwards. From the queue's own callback: `AOF_ERR_MISUSE` (it cannot join the
/// thread it runs on). Later calls with the handle return `AOF_ERR_CLOSED`. Do not free
/// a queue while another thread waits in `aof_cq_poll` on it: that wait lasts its
/// timeout (nothing is freed under it). Statuses: `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
/// (not a queue handle), `AOF_ERR_BUSY`, `AOF_ERR_MISUSE`.
#[no_mangle]
pub extern "C" fn aof_completion_queue_free(cq: *mut aof_completion_queue_t) -> aof_status_t {
    boundary::guard("aof_completion_queue_free", || {
        if cq.is_null() {
            return Ok(AOF_OK);
        }
        let handle = lookup(cq)?;
        if handle.queue.on_dispatcher() {
            return Err(Failure::new(
                AOF_ERR_MISUSE,
                "a completion queue cannot be freed from its own callback",
            ));
        }
        let mut freed = lock(&handle.freed);
        let attached = handle.queue.attached_logs();
        if attached > 0 {
            return Err(Failure::new(
                AOF_ERR_BUSY,
                format!(
                    "{attached} open logs are attached to the queue; close them or detach \
                     them with aof_log_set_completion_queue(log, NULL) first"
                ),
            ));
        }
        QUEUES.remove(cq.addr())?;
        *freed = true;
        drop(freed);
        // The last reference, unless another thread is in a call with the handle: dropping
        // the queue delivers what is left to a callback and joins the dispatcher (or that
        // call's end does).
        drop(handle);
        Ok(AOF_OK)
    })
}

/// Attaches the completion queue `cq` to the log: `aof_append_async` on the log posts its
/// completions there, with `log` set to this handle. NULL `cq` detaches the log's queue
/// (then `aof_append_async` fails until another is attached). Replaces a queue attached
/// before. Any number of logs, of any manager or opened alone, may share a queue; their
/// completions interleave, each log's in id order. Refused with `AOF_ERR_INVALID_ARG`
/// while asynchronous appends of the log are in flight (their completions go to the queue
/// they were made for; wait for them, or `aof_flush`, then poll). `aof_close` detaches
/// the queue once every completion of the log is posted. Statuses: `AOF_ERR_NULL_ARG`
/// (`log`), `AOF_ERR_CLOSED` (the log closed, or the queue freed), `AOF_ERR_INVALID_ARG`
/// (not a log or not a queue handle; appends in flight).
#[no_mangle]
pub extern "C" fn aof_log_set_completion_queue(
    log: *mut aof_log_t,
    cq: *mut aof_completion_queue_t,
) -> aof_status_t {
    boundary::guard("aof_log_set_completion_queue", || {
        let source = log.addr() as u64;
        let log = log::lookup(log)?;
        if cq.is_null() {
            log.attach_queue(None, 0)?;
            return Ok(AOF_OK);
        }
        let handle = lookup(cq)?;
        let freed = lock(&handle.freed);
        if *freed {
            return Err(Failure::new(
                AOF_ERR_CLOSED,
                "the completion queue was freed",
            ));
        }
        log.attach_queue(Some(handle.queue.clone()), source)?;
        Ok(AOF_OK)
    })
}

/// Appends one record of `len` bytes now and returns at once: its id goes to `*out_id`
/// (if not NULL), and the record is visible to readers as `aof_append`'s would be (per
/// `aof_options_set_visibility`). Its durability is reported later by exactly one
/// completion on the log's queue (`aof_log_set_completion_queue`), with `user_data`
/// (any value, NULL included; never dereferenced) handed back as is: one for every call
/// that returned `AOF_OK`, none for a call that failed. Completions of one log arrive in
/// id order, whatever the flush policy (they follow its syncs; under `AOF_FLUSH_SYNC`
/// libaof syncs in the background, one `fdatasync` for all the appends waiting). `data`
/// may be NULL only if `len` is 0. Past the in-flight bound of
/// `aof_options_set_async_limits` the call waits for room (asking for a sync), up to the
/// bound's wait, then fails with `AOF_ERR_WOULD_BLOCK`, having appended nothing. Statuses:
/// `AOF_ERR_NULL_ARG` (`log`, or NULL `data` with `len > 0`), `AOF_ERR_CLOSED`,
/// `AOF_ERR_INVALID_ARG` (not a log handle; no queue attached), `AOF_ERR_TOO_LARGE`
/// (nothing written), `AOF_ERR_WOULD_BLOCK`, `AOF_ERR_POISONED`, `AOF_ERR_IO`,
/// `AOF_ERR_NO_SPACE`.
///
/// # Safety
/// `data` must be NULL or point to `len` readable bytes; `out_id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_append_async(
    log: *mut aof_log_t,
    data: *const u8,
    len: usize,
    user_data: *mut c_void,
    out_id: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_append_async", || {
        nonnull_unless_empty(data, len, "data")?;
        let out = opt_out(out_id);
        let log = log::lookup(log)?;
        // SAFETY: the caller's contract for `data`.
        let payload = unsafe { bytes_in(data, len, "data") }?;
        let id = log.append_notify(payload, user_data.expose_provenance() as u64)?;
        // SAFETY: the caller's contract for `out_id`.
        unsafe { write_opt(out, id) };
        Ok(AOF_OK)
    })
}

thread_local! {
    /// The completions `aof_cq_poll` moves, reused from call to call on each thread.
    static POLLED: Cell<Vec<Completion>> = const { Cell::new(Vec::new()) };
}

/// More than this many completions' worth of room is not kept between polls.
const POLLED_KEEP: usize = 4096;

/// Moves up to `max` completions into `out[0..*out_count]`, in posting order (each log's
/// in id order), waiting up to `timeout_ms` milliseconds for the first (0: does not wait;
/// `UINT32_MAX`: no limit, as in `aof_sync_until`). Returns `AOF_OK` with `*out_count`
/// from 1 to `max`, or `AOF_TIMED_OUT` with `*out_count` set to 0 (the one status besides
/// `AOF_OK` that writes it) and `out` untouched. Every completion is taken by exactly one
/// poll, also when several threads poll one queue. `out` may be NULL only when `max` is 0,
/// which is itself `AOF_ERR_INVALID_ARG` (checked after the handle, like every value).
/// Statuses: `AOF_ERR_NULL_ARG` (`cq`, `out_count`, `out` with `max > 0`),
/// `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a queue handle; a callback queue; `max`
/// of 0).
///
/// # Safety
/// `out` must be NULL or point to `max` writable `aof_completion_t`; `out_count` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn aof_cq_poll(
    cq: *mut aof_completion_queue_t,
    out: *mut aof_completion_t,
    max: usize,
    timeout_ms: u32,
    out_count: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_cq_poll", || {
        if cq.is_null() {
            return Err(Failure::null_arg("cq"));
        }
        nonnull_unless_empty(out, max, "out")?;
        let out_count = Out::new(out_count, "out_count")?;
        let handle = lookup(cq)?;
        if handle.queue.has_callback() {
            return Err(Failure::invalid(
                "this completion queue delivers to a callback; it cannot be polled",
            ));
        }
        if max == 0 {
            return Err(Failure::invalid("`max` is 0"));
        }
        let mut polled = POLLED.take();
        polled.clear();
        let moved = handle
            .queue
            .poll(&mut polled, max, log::timeout(timeout_ms));
        let n = polled.len();
        for (i, c) in polled.iter().enumerate() {
            // SAFETY: `out` is non-NULL with `max >= n` writable elements per the caller's
            // contract (`poll` moves at most `max`).
            unsafe { out.add(i).write(to_c(c)) };
        }
        polled.clear();
        polled.shrink_to(POLLED_KEEP);
        POLLED.set(polled);
        moved?;
        // SAFETY: the caller's contract for `out_count`.
        unsafe { out_count.write(n) };
        Ok(if n > 0 { AOF_OK } else { AOF_TIMED_OUT })
    })
}

/// Stores in `*out_fd` the queue's eventfd: readable while completions wait in the queue,
/// for epoll, poll or an event loop. On each wake-up drain the queue with `aof_cq_poll`
/// (timeout 0) until it returns `AOF_TIMED_OUT`: the descriptor stays readable until a
/// poll empties the queue (and becomes readable again when a completion is posted to an
/// empty queue), so a level-triggered wait sees it again if completions are left, and an
/// edge-triggered one may not. Owned by the queue: never read, write or close it; valid
/// until `aof_completion_queue_free`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`,
/// `AOF_ERR_INVALID_ARG` (not a queue handle; a callback queue, which has none).
///
/// # Safety
/// `out_fd` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_cq_fd(
    cq: *const aof_completion_queue_t,
    out_fd: *mut c_int,
) -> aof_status_t {
    boundary::guard("aof_cq_fd", || {
        if cq.is_null() {
            return Err(Failure::null_arg("cq"));
        }
        let out = Out::new(out_fd, "out_fd")?;
        let fd = lookup(cq)?.queue.fd().ok_or_else(|| {
            Failure::invalid("this completion queue delivers to a callback; it has no eventfd")
        })?;
        // SAFETY: the caller's contract for `out_fd`.
        unsafe { out.write(fd) };
        Ok(AOF_OK)
    })
}

#[cfg(test)]
mod tests;
