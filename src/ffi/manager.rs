//! `aof_manager_t`: many logs under one root directory, opened by name, sharing one
//! runtime; and `aof_manager_options_t`, its options.
//!
//! A manager handle is a token like a log handle (see `registry`).

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::boundary::{self, mut_in, Failure, FfiResult, Out};
use super::log::{aof_log_t, register};
use super::options::aof_options_t;
use super::registry::Registry;
use super::status::{aof_status_t, AOF_OK};
use super::tier_options::ArchiveTuning;
use crate::manager::{Manager, ManagerOptions, MAX_LOG_NAME_LEN};
use crate::Options;

/// The longest log name `aof_manager_open_log` accepts, in bytes (without the NUL).
pub const AOF_MANAGER_MAX_NAME_LEN: usize = 200;
const _: () = assert!(AOF_MANAGER_MAX_NAME_LEN == MAX_LOG_NAME_LEN);

/// The most threads of either kind a manager's runtime may be given.
pub const AOF_MANAGER_MAX_THREADS: u32 = 1024;
const _: () = assert!(AOF_MANAGER_MAX_THREADS as usize == crate::runtime::MAX_RUNTIME_THREADS);

/// An open manager: the parent of the logs in one root directory, each in a subdirectory
/// named after the log, all sharing the manager's threads. An opaque token like
/// `aof_log_t`: libaof never dereferences it, and a closed handle is detected
/// (`AOF_ERR_CLOSED`). May be used from many threads at once.
pub struct aof_manager_t {
    _opaque: [u8; 0],
}

/// Options for `aof_manager_open`. Create with `aof_manager_options_new`, free with
/// `aof_manager_options_free`. One thread at a time.
pub struct aof_manager_options_t {
    pub(super) inner: ManagerOptions,
    /// The archive's limits and retries, whichever archive is set, and whenever.
    pub(super) tuning: ArchiveTuning,
}

/// Open managers by token.
static MANAGERS: Registry<Manager> =
    Registry::new("manager", "aof_manager_open", 0x4000_0000_0000_0000);

fn lookup(handle: *const aof_manager_t) -> FfiResult<Arc<Manager>> {
    if handle.is_null() {
        return Err(Failure::null_arg("manager"));
    }
    MANAGERS.get(handle.addr())
}

/// A non-NULL C string argument.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives `'a`.
pub(super) unsafe fn c_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a CStr> {
    if ptr.is_null() {
        return Err(Failure::null_arg(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// A log name from C: UTF-8 (the other rules are the engine's).
fn log_name(name: &CStr) -> FfiResult<&str> {
    name.to_str()
        .map_err(|_| Failure::invalid(format!("log name {name:?} is not valid UTF-8")))
}

/// Creates manager options with the defaults: 2 worker threads, at most 32 blocking
/// threads. On success `*out_options` owns a new handle; free it with
/// `aof_manager_options_free`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`out_options`).
///
/// # Safety
/// `out_options` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_new(
    out_options: *mut *mut aof_manager_options_t,
) -> aof_status_t {
    boundary::guard("aof_manager_options_new", || {
        let out = Out::new(out_options, "out_options")?;
        let handle = Box::new(aof_manager_options_t {
            inner: ManagerOptions::default(),
            tuning: ArchiveTuning::default(),
        });
        // SAFETY: the caller's contract for `out_options`.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(AOF_OK)
    })
}

/// Frees manager options. NULL is a no-op. Managers opened with them are not affected
/// (`aof_manager_open` copies them).
///
/// # Safety
/// `options` must be NULL or a handle from `aof_manager_options_new` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_free(options: *mut aof_manager_options_t) {
    boundary::guard_value("aof_manager_options_free", (), || {
        if !options.is_null() {
            // SAFETY: a live handle from `aof_manager_options_new` (Box::into_raw), freed
            // once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Runs `set` on the options behind `options` with a thread count checked against
/// 1..=`AOF_MANAGER_MAX_THREADS`.
///
/// # Safety
/// `options` must be NULL or a live handle not used by another thread during the call.
unsafe fn set_threads(
    func: &'static str,
    options: *mut aof_manager_options_t,
    what: &str,
    n: u32,
    set: impl FnOnce(&mut ManagerOptions, usize),
) -> aof_status_t {
    boundary::guard(func, || {
        // SAFETY: forwarded to our caller.
        let handle = unsafe { mut_in(options, "options") }?;
        if !(1..=AOF_MANAGER_MAX_THREADS).contains(&n) {
            return Err(Failure::invalid(format!(
                "{what} {n} is outside 1..={AOF_MANAGER_MAX_THREADS}"
            )));
        }
        set(&mut handle.inner, n as usize);
        Ok(AOF_OK)
    })
}

/// Sets the number of async worker threads of the manager's runtime: 1 up to
/// `AOF_MANAGER_MAX_THREADS` (1024). Default 2. They run the logs' background tasks
/// (timers, wake-ups), never blocking file I/O. Out of range: `AOF_ERR_INVALID_ARG`,
/// options unchanged.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG` (outside 1 ..=
/// `AOF_MANAGER_MAX_THREADS`; options unchanged).
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_worker_threads(
    options: *mut aof_manager_options_t,
    threads: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        set_threads(
            "aof_manager_options_set_worker_threads",
            options,
            "worker threads",
            threads,
            |o, n| o.worker_threads = n,
        )
    }
}

/// Sets the most threads the manager's blocking pool may run at once: 1 up to
/// `AOF_MANAGER_MAX_THREADS` (1024). Default 32. The pool runs the background file I/O of
/// every log (write-outs and syncs of the background flush policies, zero-ahead, segment
/// pre-allocation); its threads start on demand and end after 10 s idle. Out of range:
/// `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG` (outside 1 ..=
/// `AOF_MANAGER_MAX_THREADS`; options unchanged).
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_max_blocking_threads(
    options: *mut aof_manager_options_t,
    threads: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        set_threads(
            "aof_manager_options_set_max_blocking_threads",
            options,
            "max blocking threads",
            threads,
            |o, n| o.max_blocking_threads = n,
        )
    }
}

/// Opens the manager of directory `root`, creating the directory (not its parents) if it is
/// missing, and finishes any drop a crash interrupted (see `aof_manager_drop_log`). `options`
/// may be NULL for the defaults; they are copied. It starts the manager's runtime:
/// `worker_threads` threads at once, blocking threads on demand up to `max_blocking_threads`;
/// that is every thread the manager and all its logs use, whatever the number of logs. On
/// success `*out_manager` receives a new handle, to be closed with `aof_manager_close`; on
/// failure it is left untouched.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`root`, `out_manager`), `AOF_ERR_INVALID_ARG` (an
/// empty `root`), `AOF_ERR_BUSY` (another manager, in this process or another, has `root`
/// open), `AOF_ERR_IO` (also: `root` is a file, or its parent is missing), `AOF_ERR_NO_SPACE`,
/// `AOF_ERR_CATALOG` (the root's catalogue cannot be opened or written), `AOF_ERR_REMOTE` (the
/// archive cannot be set up: a directory that cannot be created, an S3 client that cannot be
/// built), `AOF_ERR_MISUSE` (from a libaof runtime thread).
///
/// # Safety
/// `root` must be NULL or a NUL-terminated string; `options` NULL or a live options
/// handle; `out_manager` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_open(
    root: *const c_char,
    options: *const aof_manager_options_t,
    out_manager: *mut *mut aof_manager_t,
) -> aof_status_t {
    boundary::guard("aof_manager_open", || {
        // SAFETY: the caller's contract for `root`.
        let root = unsafe { c_str(root, "root") }?;
        let out = Out::new(out_manager, "out_manager")?;
        if root.is_empty() {
            return Err(Failure::invalid("`root` is empty"));
        }
        // SAFETY: NULL or a live options handle per the caller's contract.
        let options =
            unsafe { options.as_ref() }.map_or_else(ManagerOptions::default, |o| o.inner.clone());
        let manager = Manager::open(Path::new(OsStr::from_bytes(root.to_bytes())), options)?;
        let handle = std::ptr::without_provenance_mut(MANAGERS.insert(manager));
        // SAFETY: the caller's contract for `out_manager`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Opens (creating if needed) the log `name` in the subdirectory `<root>/<name>`, on the
/// manager's runtime; recovery is as for `aof_open`. `options` may be NULL for the
/// defaults; they are copied. A name is 1 to `AOF_MANAGER_MAX_NAME_LEN` (200) bytes of
/// UTF-8 without `/`, control characters or a leading `.` (so neither `.` nor `..`; names
/// starting with a dot are the manager's own). On success `*out_log` receives an ordinary
/// log handle: use it with every `aof_*` log call, from any thread, and release it with
/// `aof_close` (before or after `aof_manager_close`). On failure `*out_log` is untouched.
///
/// An open log holds one file descriptor for its `LOCK` and one per segment file, plus one
/// once zero-ahead has run on its active segment and one while the next segment is being
/// pre-allocated: an idle log of one or two segments holds 2 or 3. Mind `RLIMIT_NOFILE`
/// when opening many logs. A log has no thread of its own. An idle log costs about 5 KiB
/// of private memory plus 12 KiB per 64 MiB of segment capacity (offset-index tables:
/// ~17 KiB for a one-segment log with the default options), and keeps about 64 KiB of
/// page cache mapped (shared and reclaimable, not private); measured by the bench's
/// `manager` cell, see docs/C_API.md.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`manager`, `name`, `out_log`), `AOF_ERR_INVALID_ARG`
/// (a bad name, inconsistent options, not a manager handle), `AOF_ERR_CLOSED`, `AOF_ERR_BUSY`
/// (the log is open already, in this process or another, or another thread is opening or
/// dropping it), `AOF_ERR_IO` (also: out of file descriptors), `AOF_ERR_NO_SPACE`,
/// `AOF_ERR_CORRUPTION`, `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE` (from a libaof runtime thread).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `options` NULL or a live options
/// handle; `out_log` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_open_log(
    manager: *mut aof_manager_t,
    name: *const c_char,
    options: *const aof_options_t,
    out_log: *mut *mut aof_log_t,
) -> aof_status_t {
    boundary::guard("aof_manager_open_log", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { c_str(name, "name") }?;
        let out = Out::new(out_log, "out_log")?;
        let manager = lookup(manager)?;
        let name = log_name(name)?;
        // SAFETY: NULL or a live options handle per the caller's contract.
        let options: Options = match unsafe { options.as_ref() } {
            Some(o) => o.inner.clone(),
            None => Options::default(),
        };
        let log = manager.open_log(name, options)?;
        let handle = register(log);
        // SAFETY: the caller's contract for `out_log`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Lists the logs under the manager's root, open or not, sorted bytewise, into `buf`: each name
/// followed by a NUL, then one more NUL (`"a\0b\0\0"`; no logs: `"\0"`). `*out_len` receives
/// the bytes written, final NUL included. If they do not fit in `buf_len` bytes, returns
/// `AOF_ERR_BUFFER_TOO_SMALL` with the size needed in `*out_len` (the one out-param written on
/// failure; `buf` is untouched): call with `buf_len = 0` (and `buf` NULL) to size a buffer, and
/// again if logs were created meanwhile. `buf` may be NULL only if `buf_len` is 0.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`manager`, `out_len`, or `buf` with `buf_len > 0`),
/// `AOF_ERR_INVALID_ARG` (not a manager handle), `AOF_ERR_CLOSED`, `AOF_ERR_BUFFER_TOO_SMALL`
/// (the size needed in `*out_len`), `AOF_ERR_IO`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_list(
    manager: *const aof_manager_t,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_manager_list", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let names = lookup(manager)?.list_logs()?;
        let mut bytes = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum::<usize>() + 1);
        for name in &names {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
        }
        bytes.push(0);
        // SAFETY: the caller's contracts for `buf` (NULL only with `buf_len` 0, checked
        // above) and `out_len`.
        unsafe {
            boundary::copy_out(&bytes, buf, buf_len, out_len, |needed| {
                format!(
                    "the list of {} logs needs {needed} bytes; the buffer holds {buf_len}",
                    names.len()
                )
            })
        }
    })
}

/// Drops the log `name` for good: its directory and every record in it. The log must be closed
/// (`aof_close`). Durable and crash-safe: when this returns `AOF_OK` the log is gone, and a
/// crash during the call leaves either the whole log under its name or nothing under its name
/// (the directory is first renamed to a reserved name and only then emptied; the next
/// `aof_manager_open` removes what a crash left; docs/FORMAT.md gives the steps). If a step
/// after the rename fails, the log is already gone under its name and the error is returned;
/// the rest is removed by the next drop of that name or the next `aof_manager_open`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`manager`, `name`), `AOF_ERR_INVALID_ARG` (a bad
/// name, not a manager handle), `AOF_ERR_CLOSED`, `AOF_ERR_NO_SUCH_LOG`, `AOF_ERR_BUSY` (the
/// log is open, in this process or another, or another thread is opening or dropping it),
/// `AOF_ERR_IO` (if after the rename: the log is gone under its name, and the rest is removed
/// by the next drop of the name or the next `aof_manager_open`), `AOF_ERR_CATALOG`,
/// `AOF_ERR_MISUSE` (from a libaof runtime thread).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_drop_log(
    manager: *mut aof_manager_t,
    name: *const c_char,
) -> aof_status_t {
    boundary::guard("aof_manager_drop_log", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { c_str(name, "name") }?;
        let manager = lookup(manager)?;
        manager.drop_log(log_name(name)?)?;
        Ok(AOF_OK)
    })
}

/// Renders the metrics of every log the manager has open in the Prometheus text
/// exposition format, NUL-terminated: each metric family once, one sample per log with its
/// name as the `log` label (the format is as for `aof_metrics_prometheus`). The size as
/// for `aof_metrics_prometheus`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`manager`, `out_len`, `buf` with `buf_len` > 0),
/// `AOF_ERR_INVALID_ARG` (not a manager handle), `AOF_ERR_CLOSED`,
/// `AOF_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_metrics_prometheus(
    manager: *const aof_manager_t,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_manager_metrics_prometheus", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let text = lookup(manager)?.prometheus()?;
        // SAFETY: the caller's contracts for `buf` (NULL only with `buf_len` 0, checked
        // above) and `out_len`.
        unsafe { super::metrics::copy_text_out(text, buf, buf_len, out_len) }
    })
}

/// Closes the manager. Every log it opened that is still open is closed first, as by
/// `aof_close` (written, synced, marked clean): their handles stay valid, their calls return
/// `AOF_ERR_CLOSED` from then on, and each must still be released with `aof_close` (which then
/// returns `AOF_OK`). Opens and drops running on other threads finish first. Then the root is
/// released and the manager's threads stop. NULL is a no-op returning `AOF_OK`. The handle is
/// invalid afterwards whatever the status but `AOF_ERR_MISUSE`; the status is the first error
/// of a log's close (every log is closed anyway). Later calls with the handle, a second
/// `aof_manager_close` included, return `AOF_ERR_CLOSED`; calls running concurrently on other
/// threads finish or fail with `AOF_ERR_CLOSED`.
///
/// Statuses: `AOF_OK` (also for NULL), `AOF_ERR_INVALID_ARG` (not a manager handle),
/// `AOF_ERR_CLOSED` (closed already), `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_POISONED`,
/// `AOF_ERR_CATALOG` (the first error of a log's close; every log is closed anyway),
/// `AOF_ERR_MISUSE` (from a libaof runtime thread: nothing closed).
#[no_mangle]
pub extern "C" fn aof_manager_close(manager: *mut aof_manager_t) -> aof_status_t {
    boundary::guard("aof_manager_close", || {
        if manager.is_null() {
            return Ok(AOF_OK);
        }
        crate::runtime::ensure_outside()?;
        MANAGERS.remove(manager.addr())?.close()?;
        Ok(AOF_OK)
    })
}

#[cfg(test)]
mod tests;
