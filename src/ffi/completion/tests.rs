use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};

use super::*;
use crate::ffi::log::{aof_close, aof_flush, aof_open};
use crate::ffi::options::{aof_options_free, aof_options_new, aof_options_set_async_limits};
use crate::ffi::status::{AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG, AOF_ERR_WOULD_BLOCK};

/// Opens a log through the C API in a fresh directory, with `options` (may be NULL).
fn open_temp(
    options: *const crate::ffi::options::aof_options_t,
) -> (tempfile::TempDir, *mut aof_log_t) {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().join("log").into_os_string().into_vec()).unwrap();
    let mut log = ptr::null_mut();
    // SAFETY: a C string, NULL or live options, a writable out-param.
    let status = unsafe { aof_open(path.as_ptr(), options, &mut log) };
    assert_eq!(status, AOF_OK);
    (dir, log)
}

fn new_queue() -> *mut aof_completion_queue_t {
    let mut cq = ptr::null_mut();
    // SAFETY: `cq` is writable.
    assert_eq!(unsafe { aof_completion_queue_new(&mut cq) }, AOF_OK);
    assert!(!cq.is_null());
    cq
}

fn empty() -> aof_completion_t {
    aof_completion_t {
        id: 0,
        user_data: ptr::null_mut(),
        log: ptr::null_mut(),
        status: -99,
        reserved: 7,
    }
}

#[test]
fn outcomes_map_to_statuses_and_fields_round_trip() {
    let mut slot = 5u8;
    let user: *mut c_void = (&raw mut slot).cast();
    let c = Completion {
        source: 0xdead_beef_0001,
        id: 42,
        tag: user.expose_provenance() as u64,
        outcome: Outcome::Durable,
    };
    let out = to_c(&c);
    assert_eq!((out.id, out.status, out.reserved), (42, AOF_OK, 0));
    assert_eq!(out.user_data, user);
    assert_eq!(out.log.addr(), 0xdead_beef_0001);
    // The pointer handed back is usable.
    // SAFETY: `user_data` is `slot`'s address, with its provenance exposed above.
    assert_eq!(unsafe { *out.user_data.cast::<u8>() }, 5);
    assert_eq!(status_of(&Outcome::Poisoned("x".into())), AOF_ERR_POISONED);
    assert_eq!(status_of(&Outcome::Closed), AOF_ERR_CLOSED);
}

#[test]
fn nulls_then_handles_then_values() {
    assert_eq!(aof_completion_queue_free(ptr::null_mut()), AOF_OK);
    let mut n = 77usize;
    let mut fd = -5;
    let mut out = [empty()];
    let bogus = ptr::without_provenance_mut::<aof_completion_queue_t>(usize::MAX - 7);
    // SAFETY: every pointer passed is NULL, a bogus handle (never dereferenced) or writable.
    unsafe {
        assert_eq!(aof_completion_queue_new(ptr::null_mut()), AOF_ERR_NULL_ARG);
        let mut cq = ptr::null_mut();
        assert_eq!(
            aof_completion_queue_new_callback(None, ptr::null_mut(), &mut cq),
            AOF_ERR_NULL_ARG
        );
        assert!(cq.is_null());
        assert_eq!(
            aof_cq_poll(ptr::null_mut(), out.as_mut_ptr(), 1, 0, &mut n),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_cq_poll(bogus, ptr::null_mut(), 1, 0, &mut n),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_cq_poll(bogus, out.as_mut_ptr(), 1, 0, ptr::null_mut()),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_cq_poll(bogus, ptr::null_mut(), 0, 0, &mut n),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(aof_cq_fd(ptr::null(), &mut fd), AOF_ERR_NULL_ARG);
        assert_eq!(aof_cq_fd(bogus, ptr::null_mut()), AOF_ERR_NULL_ARG);
        assert_eq!(aof_cq_fd(bogus, &mut fd), AOF_ERR_INVALID_ARG);
        assert_eq!(aof_completion_queue_free(bogus), AOF_ERR_INVALID_ARG);
        assert_eq!(
            aof_log_set_completion_queue(ptr::null_mut(), bogus),
            AOF_ERR_NULL_ARG
        );
        let mut id = 9u64;
        assert_eq!(
            aof_append_async(ptr::null_mut(), ptr::null(), 0, ptr::null_mut(), &mut id),
            AOF_ERR_NULL_ARG
        );
        let bogus_log = ptr::without_provenance_mut::<aof_log_t>(usize::MAX - 7);
        assert_eq!(
            aof_append_async(bogus_log, ptr::null(), 3, ptr::null_mut(), &mut id),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_append_async(bogus_log, ptr::null(), 0, ptr::null_mut(), &mut id),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(id, 9);
    }
    assert_eq!((n, fd, out[0].status), (77, -5, -99));

    // A queue handle is no log handle, and a log handle no queue handle.
    let (_dir, log) = open_temp(ptr::null());
    let cq = new_queue();
    let as_log = ptr::without_provenance_mut::<aof_log_t>(cq.addr());
    let as_queue = ptr::without_provenance_mut::<aof_completion_queue_t>(log.addr());
    assert_eq!(aof_flush(as_log), AOF_ERR_INVALID_ARG);
    assert_eq!(
        aof_log_set_completion_queue(log, as_queue),
        AOF_ERR_INVALID_ARG
    );
    assert_eq!(aof_completion_queue_free(as_queue), AOF_ERR_INVALID_ARG);
    // SAFETY: `out` and `n` are writable.
    unsafe {
        assert_eq!(
            aof_cq_poll(cq, out.as_mut_ptr(), 0, 0, &mut n),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_cq_poll(cq, ptr::null_mut(), 0, 0, &mut n),
            AOF_ERR_INVALID_ARG
        );
    }
    assert_eq!(aof_close(log), AOF_OK);
    assert_eq!(aof_completion_queue_free(cq), AOF_OK);
    // Freed: closed, whatever the other arguments hold.
    assert_eq!(aof_completion_queue_free(cq), AOF_ERR_CLOSED);
    // SAFETY: `out`, `n` and `fd` are writable.
    unsafe {
        assert_eq!(
            aof_cq_poll(cq, out.as_mut_ptr(), 0, 0, &mut n),
            AOF_ERR_CLOSED
        );
        assert_eq!(aof_cq_fd(cq, &mut fd), AOF_ERR_CLOSED);
    }
    assert_eq!((n, fd), (77, -5));
}

#[test]
fn polled_completions_carry_id_user_data_and_log() {
    let (_dir, log) = open_temp(ptr::null());
    let cq = new_queue();
    let mut marks = [0u8; 10];
    let mut id = 0;
    // SAFETY: `id` is writable; the data are readable; `user_data` is never dereferenced.
    unsafe {
        assert_eq!(
            aof_append_async(log, b"x".as_ptr(), 1, ptr::null_mut(), &mut id),
            AOF_ERR_INVALID_ARG,
            "no queue attached"
        );
        assert_eq!(aof_log_set_completion_queue(log, cq), AOF_OK);
        for (i, mark) in marks.iter_mut().enumerate() {
            let payload = [i as u8; 16];
            let user: *mut c_void = (mark as *mut u8).cast();
            assert_eq!(
                aof_append_async(log, payload.as_ptr(), 16, user, &mut id),
                AOF_OK
            );
            assert_eq!(id, i as u64 + 1);
        }
        assert_eq!(
            aof_append_async(log, ptr::null(), 0, ptr::null_mut(), ptr::null_mut()),
            AOF_OK
        );
    }
    assert_eq!(aof_completion_queue_free(cq), AOF_ERR_BUSY);
    let mut fd = -1;
    // SAFETY: `fd` is writable.
    assert_eq!(unsafe { aof_cq_fd(cq, &mut fd) }, AOF_OK);
    assert!(fd >= 0);
    let mut out: Vec<aof_completion_t> = (0..16).map(|_| empty()).collect();
    let mut got = Vec::new();
    while got.len() < 11 {
        let mut n = 0;
        // SAFETY: `out` holds 16 writable completions; `n` is writable.
        let status = unsafe { aof_cq_poll(cq, out.as_mut_ptr(), 4, 5_000, &mut n) };
        assert_eq!(status, AOF_OK);
        assert!((1..=4).contains(&n));
        got.extend(
            out[..n]
                .iter()
                .map(|c| (c.id, c.user_data, c.log, c.status)),
        );
        assert_eq!(out[4].status, -99, "no more than `max` written");
    }
    for (i, &(id, user, from, status)) in got.iter().enumerate() {
        assert_eq!((id, from, status), (i as u64 + 1, log, AOF_OK));
        let want = marks
            .get_mut(i)
            .map_or(ptr::null_mut(), |m| (m as *mut u8).cast());
        assert_eq!(user, want);
    }
    let mut n = 5;
    // SAFETY: as above.
    let status = unsafe { aof_cq_poll(cq, out.as_mut_ptr(), 16, 0, &mut n) };
    assert_eq!((status, n), (AOF_TIMED_OUT, 0));
    // Detached: appends are refused again; the queue may go while the log stays open.
    assert_eq!(aof_log_set_completion_queue(log, ptr::null_mut()), AOF_OK);
    assert_eq!(aof_completion_queue_free(cq), AOF_OK);
    assert_eq!(aof_log_set_completion_queue(log, cq), AOF_ERR_CLOSED);
    assert_eq!(aof_close(log), AOF_OK);
    assert_eq!(
        aof_log_set_completion_queue(log, ptr::null_mut()),
        AOF_ERR_CLOSED
    );
}

#[test]
fn async_limits_refuse_or_wait() {
    let mut o = ptr::null_mut();
    // SAFETY: `o` is writable, then a live options handle until freed.
    unsafe {
        assert_eq!(aof_options_new(&mut o), AOF_OK);
        assert_eq!((*o).inner.async_limits, crate::AsyncLimits::default());
        assert_eq!(
            aof_options_set_async_limits(o, 0, 1, 0),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_options_set_async_limits(o, 1, 0, 0),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!((*o).inner.async_limits, crate::AsyncLimits::default());
        assert_eq!(
            aof_options_set_async_limits(ptr::null_mut(), 1, 1, 0),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(aof_options_set_async_limits(o, 2, 1 << 20, 1500), AOF_OK);
        assert_eq!(
            (*o).inner.async_limits.wait,
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(aof_options_set_async_limits(o, 2, 1 << 20, -1), AOF_OK);
        assert_eq!((*o).inner.async_limits.wait, None);
        assert_eq!(
            crate::ffi::options::aof_options_set_flush_policy(
                o,
                crate::ffi::options::AOF_FLUSH_PERIODIC,
                0,
                3_600_000
            ),
            AOF_OK
        );
    }
    let (_dir, log) = open_temp(o);
    // SAFETY: a live handle from `aof_options_new`.
    unsafe { aof_options_free(o) };
    let cq = new_queue();
    assert_eq!(aof_log_set_completion_queue(log, cq), AOF_OK);
    let mut id = 0;
    // SAFETY: `id` is writable; empty records need no data.
    unsafe {
        for want in 1..=2 {
            assert_eq!(
                aof_append_async(log, ptr::null(), 0, ptr::null_mut(), &mut id),
                AOF_OK
            );
            assert_eq!(id, want);
        }
        assert_eq!(
            aof_append_async(log, ptr::null(), 0, ptr::null_mut(), &mut id),
            AOF_ERR_WOULD_BLOCK
        );
    }
    assert_eq!(id, 2);
    assert_eq!(
        aof_log_set_completion_queue(log, cq),
        AOF_ERR_INVALID_ARG,
        "in flight"
    );
    assert_eq!(aof_close(log), AOF_OK);
    let mut out = [empty(), empty(), empty()];
    let mut n = 0;
    // SAFETY: `out` holds 3 writable completions; `n` is writable.
    let status = unsafe { aof_cq_poll(cq, out.as_mut_ptr(), 3, 0, &mut n) };
    assert_eq!(status, AOF_OK);
    assert_eq!(n, 2, "close completed both");
    assert_eq!(aof_completion_queue_free(cq), AOF_OK);
}

/// What the test callback records.
#[derive(Default)]
struct Seen {
    ids: Mutex<Vec<u64>>,
    thread: Mutex<Option<std::thread::ThreadId>>,
    /// The queue's own handle, and the status of freeing it from the callback.
    queue: AtomicUsize,
    free_status: AtomicI32,
}

unsafe extern "C" fn record(ctx: *mut c_void, completions: *const aof_completion_t, count: usize) {
    // SAFETY: `ctx` is the `Seen` the test keeps alive until the queue is freed; the array
    // holds `count` completions for the duration of the call.
    let (seen, batch) = unsafe {
        (
            &*ctx.cast::<Seen>(),
            std::slice::from_raw_parts(completions, count),
        )
    };
    assert!((1..=256).contains(&count));
    *lock(&seen.thread) = Some(std::thread::current().id());
    lock(&seen.ids).extend(batch.iter().map(|c| c.id));
    let own = ptr::without_provenance_mut(seen.queue.load(SeqCst));
    seen.free_status
        .store(aof_completion_queue_free(own), SeqCst);
}

#[test]
fn a_callback_queue_delivers_everything_on_its_thread() {
    let seen = Seen::default();
    let mut cq = ptr::null_mut();
    let ctx: *mut c_void = (&raw const seen).cast_mut().cast();
    // SAFETY: `record` has the signature; `seen` outlives the queue; `cq` is writable.
    let status = unsafe { aof_completion_queue_new_callback(Some(record), ctx, &mut cq) };
    assert_eq!(status, AOF_OK);
    seen.queue.store(cq.addr(), SeqCst);
    let (mut fd, mut n) = (-1, 0);
    let mut out = [empty()];
    // SAFETY: writable out-params.
    unsafe {
        assert_eq!(aof_cq_fd(cq, &mut fd), AOF_ERR_INVALID_ARG);
        assert_eq!(
            aof_cq_poll(cq, out.as_mut_ptr(), 1, 0, &mut n),
            AOF_ERR_INVALID_ARG
        );
    }
    let (_dir, log) = open_temp(ptr::null());
    assert_eq!(aof_log_set_completion_queue(log, cq), AOF_OK);
    for _ in 0..1000 {
        // SAFETY: an empty record needs no data.
        let status =
            unsafe { aof_append_async(log, ptr::null(), 0, ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(status, AOF_OK);
    }
    assert_eq!(aof_close(log), AOF_OK);
    // Every callback ran while the handle was live (its free then is a misuse, not a
    // closed handle).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lock(&seen.ids).len() < 1000 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(aof_completion_queue_free(cq), AOF_OK);
    // Everything delivered, on the dispatcher; it could not free its own queue.
    assert_eq!(*lock(&seen.ids), (1..=1000).collect::<Vec<_>>());
    assert_ne!(*lock(&seen.thread), Some(std::thread::current().id()));
    assert_eq!(seen.free_status.load(SeqCst), AOF_ERR_MISUSE);
}
