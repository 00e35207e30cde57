//! Status codes of the C API and the one mapping from [`crate::Error`] to them.
//!
//! Values are part of the ABI: a code's meaning never changes, and a retired error code is
//! never given to another error.

use std::ffi::{c_char, CStr};

use super::boundary;
use crate::Error;

/// The return type of every libaof call that can fail: `AOF_OK` (0), a positive non-error
/// condition (`AOF_END`, `AOF_TIMED_OUT`) or a negative `AOF_ERR_*` code.
pub type aof_status_t = i32;

/// Success.
pub const AOF_OK: i32 = 0;
/// Not an error: the cursor has no more visible records (yet).
pub const AOF_END: i32 = 1;
/// Not an error: the wait ended because its timeout passed.
pub const AOF_TIMED_OUT: i32 = 2;

/// A required pointer argument was NULL.
pub const AOF_ERR_NULL_ARG: i32 = -1;
/// An argument is out of range or inconsistent (bad option, unknown handle, empty batch...).
pub const AOF_ERR_INVALID_ARG: i32 = -2;
/// The record is larger than the log's maximum record size; nothing was written.
pub const AOF_ERR_TOO_LARGE: i32 = -3;
/// No record with that id is visible (never appended, or not yet visible); also no visible
/// record at or after a byte position (past the end of the visible records).
pub const AOF_ERR_NOT_FOUND: i32 = -4;
/// An operating-system I/O call failed (the last-error message names the call and file).
pub const AOF_ERR_IO: i32 = -5;
/// An I/O call failed because the disk is full (ENOSPC).
pub const AOF_ERR_NO_SPACE: i32 = -6;
/// Bytes on disk failed their checksum or framing.
pub const AOF_ERR_CORRUPTION: i32 = -7;
/// The log directory is locked by another process or another open handle; or a completion
/// queue still has logs attached (`aof_completion_queue_free`).
pub const AOF_ERR_BUSY: i32 = -8;
/// The log handle was closed (also returned to cursors of a closed log), or the completion
/// queue handle freed.
pub const AOF_ERR_CLOSED: i32 = -9;
/// An earlier write or sync failed; the log refuses further writes. Close it and reopen.
pub const AOF_ERR_POISONED: i32 = -10;
/// libaof panicked (a bug); the panic was caught at the C boundary. Close the log.
pub const AOF_ERR_PANIC: i32 = -11;
/// An internal error (a bug or an impossible state).
pub const AOF_ERR_INTERNAL: i32 = -12;
/// The caller's buffer is too small; `aof_read` stores the needed size in `*out_len`.
pub const AOF_ERR_BUFFER_TOO_SMALL: i32 = -13;
/// A blocking call was made from a thread of libaof's own runtime, where it could deadlock;
/// or a completion queue's callback tried to free its own queue.
pub const AOF_ERR_MISUSE: i32 = -14;
/// A manager has no log of that name (`aof_manager_drop_log`).
pub const AOF_ERR_NO_SUCH_LOG: i32 = -15;
/// The segment catalogue failed (a libmdbx error, a damaged or full catalogue, a catalogue
/// entry written by a newer libaof); the last-error message names the file and the cause.
pub const AOF_ERR_CATALOG: i32 = -16;
/// The record was removed by retention or `aof_truncate_before`; the last-error message
/// names the oldest id still available (see also `aof_bounds`).
pub const AOF_ERR_TRUNCATED: i32 = -17;
/// No room, and no (more) waiting: in a cache of the tiers (`aof_manager_options_set_cache`),
/// behind the archive's bounds (`aof_manager_options_set_archive_limits`), or in the bound on
/// asynchronous appends in flight (`aof_options_set_async_limits`). Nothing changed; try
/// again later.
pub const AOF_ERR_WOULD_BLOCK: i32 = -18;
/// The archive could not be reached after retries (or its circuit breaker is open), or
/// refused a request; the last-error message names the operation, key and endpoint.
pub const AOF_ERR_REMOTE: i32 = -19;

/// The status of an engine error. Exhaustive on purpose: a new `Error` variant does not
/// compile until it has a status (`#[non_exhaustive]` does not apply inside this crate).
pub(crate) fn from_error(err: &Error) -> aof_status_t {
    match err {
        Error::InvalidArgument(_) => AOF_ERR_INVALID_ARG,
        Error::RecordTooLarge { .. } => AOF_ERR_TOO_LARGE,
        Error::NotFound { .. } => AOF_ERR_NOT_FOUND,
        Error::Truncated { .. } => AOF_ERR_TRUNCATED,
        Error::Io { .. } if err.is_no_space() => AOF_ERR_NO_SPACE,
        Error::Io { .. } => AOF_ERR_IO,
        Error::Corruption { .. } => AOF_ERR_CORRUPTION,
        Error::Busy(_) => AOF_ERR_BUSY,
        Error::Closed => AOF_ERR_CLOSED,
        Error::NoSuchLog { .. } => AOF_ERR_NO_SUCH_LOG,
        Error::Poisoned(_) => AOF_ERR_POISONED,
        Error::InRuntime => AOF_ERR_MISUSE,
        Error::Catalog { .. } => AOF_ERR_CATALOG,
        Error::PositionNotFound { .. } => AOF_ERR_NOT_FOUND,
        Error::PositionTruncated { .. } => AOF_ERR_TRUNCATED,
        Error::WouldBlock(_) => AOF_ERR_WOULD_BLOCK,
        Error::Remote(_) => AOF_ERR_REMOTE,
        Error::Internal(_) => AOF_ERR_INTERNAL,
    }
}

/// Static description of a status code.
pub(crate) fn describe(status: aof_status_t) -> &'static CStr {
    match status {
        AOF_OK => c"ok",
        AOF_END => c"end of cursor: no more visible records",
        AOF_TIMED_OUT => c"timed out",
        AOF_ERR_NULL_ARG => c"a required pointer argument is NULL",
        AOF_ERR_INVALID_ARG => c"invalid argument",
        AOF_ERR_TOO_LARGE => c"record exceeds the maximum record size",
        AOF_ERR_NOT_FOUND => c"record not found",
        AOF_ERR_IO => c"I/O error",
        AOF_ERR_NO_SPACE => c"no space left on device",
        AOF_ERR_CORRUPTION => c"corruption detected",
        AOF_ERR_BUSY => {
            c"busy: the log directory is locked elsewhere, or the queue has logs attached"
        }
        AOF_ERR_CLOSED => c"the handle is closed (log closed, or queue freed)",
        AOF_ERR_POISONED => c"the log is poisoned by an earlier write or sync failure",
        AOF_ERR_PANIC => c"internal panic caught at the C boundary",
        AOF_ERR_INTERNAL => c"internal error",
        AOF_ERR_WOULD_BLOCK => {
            c"would block: no room (cache, archive backlog or async appends in flight)"
        }
        AOF_ERR_REMOTE => c"the archive is unavailable or refused the request",
        AOF_ERR_BUFFER_TOO_SMALL => c"buffer too small",
        AOF_ERR_MISUSE => {
            c"call not allowed from this thread (libaof runtime, or the queue's own callback)"
        }
        AOF_ERR_NO_SUCH_LOG => c"no log of that name",
        AOF_ERR_CATALOG => c"segment catalogue error",
        AOF_ERR_TRUNCATED => c"record removed by retention or truncation",
        _ => c"unknown status",
    }
}

/// Returns a static, NUL-terminated description of `status`; never NULL. Unknown codes give
/// `"unknown status"`. Does not touch the last-error message.
#[no_mangle]
pub extern "C" fn aof_errstr(status: aof_status_t) -> *const c_char {
    let unknown = c"unknown status".as_ptr();
    boundary::guard_value("aof_errstr", unknown, || describe(status).as_ptr())
}

/// The name of a status constant, e.g. `"AOF_ERR_CLOSED"` for `AOF_ERR_CLOSED` (a static
/// NUL-terminated string), for bindings and logs; NULL for a code that is not a status.
#[no_mangle]
pub extern "C" fn aof_status_name(status: aof_status_t) -> *const c_char {
    boundary::guard_value("aof_status_name", std::ptr::null(), || {
        name(status).map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// The constant's name of each status.
pub(crate) fn name(status: aof_status_t) -> Option<&'static CStr> {
    Some(match status {
        AOF_OK => c"AOF_OK",
        AOF_END => c"AOF_END",
        AOF_TIMED_OUT => c"AOF_TIMED_OUT",
        AOF_ERR_NULL_ARG => c"AOF_ERR_NULL_ARG",
        AOF_ERR_INVALID_ARG => c"AOF_ERR_INVALID_ARG",
        AOF_ERR_TOO_LARGE => c"AOF_ERR_TOO_LARGE",
        AOF_ERR_NOT_FOUND => c"AOF_ERR_NOT_FOUND",
        AOF_ERR_IO => c"AOF_ERR_IO",
        AOF_ERR_NO_SPACE => c"AOF_ERR_NO_SPACE",
        AOF_ERR_CORRUPTION => c"AOF_ERR_CORRUPTION",
        AOF_ERR_BUSY => c"AOF_ERR_BUSY",
        AOF_ERR_CLOSED => c"AOF_ERR_CLOSED",
        AOF_ERR_POISONED => c"AOF_ERR_POISONED",
        AOF_ERR_PANIC => c"AOF_ERR_PANIC",
        AOF_ERR_INTERNAL => c"AOF_ERR_INTERNAL",
        AOF_ERR_BUFFER_TOO_SMALL => c"AOF_ERR_BUFFER_TOO_SMALL",
        AOF_ERR_MISUSE => c"AOF_ERR_MISUSE",
        AOF_ERR_NO_SUCH_LOG => c"AOF_ERR_NO_SUCH_LOG",
        AOF_ERR_CATALOG => c"AOF_ERR_CATALOG",
        AOF_ERR_TRUNCATED => c"AOF_ERR_TRUNCATED",
        AOF_ERR_WOULD_BLOCK => c"AOF_ERR_WOULD_BLOCK",
        AOF_ERR_REMOTE => c"AOF_ERR_REMOTE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn every_error_variant_has_its_status() {
        let io_err = |code| Error::io("write", "/x", io::Error::from_raw_os_error(code));
        let cases = [
            (Error::InvalidArgument("x".into()), AOF_ERR_INVALID_ARG),
            (Error::RecordTooLarge { len: 2, max: 1 }, AOF_ERR_TOO_LARGE),
            (
                Error::NotFound {
                    id: 9,
                    first: 1,
                    last: 2,
                },
                AOF_ERR_NOT_FOUND,
            ),
            (Error::Truncated { id: 3, first: 9 }, AOF_ERR_TRUNCATED),
            (io_err(libc::EIO), AOF_ERR_IO),
            (io_err(libc::ENOSPC), AOF_ERR_NO_SPACE),
            (Error::corruption("/x", 64, "bad crc"), AOF_ERR_CORRUPTION),
            (Error::Busy(PathBuf::from("/x")), AOF_ERR_BUSY),
            (Error::Closed, AOF_ERR_CLOSED),
            (
                Error::NoSuchLog {
                    root: PathBuf::from("/r"),
                    name: "x".into(),
                },
                AOF_ERR_NO_SUCH_LOG,
            ),
            (Error::Poisoned("fsync failed".into()), AOF_ERR_POISONED),
            (Error::InRuntime, AOF_ERR_MISUSE),
            (
                Error::Catalog {
                    path: PathBuf::from("/x/catalog.mdbx"),
                    detail: "damaged".into(),
                },
                AOF_ERR_CATALOG,
            ),
            (
                Error::PositionNotFound {
                    position: 9,
                    first: 0,
                    end: 5,
                },
                AOF_ERR_NOT_FOUND,
            ),
            (
                Error::PositionTruncated {
                    position: 3,
                    first: 7,
                },
                AOF_ERR_TRUNCATED,
            ),
            (Error::Internal("x".into()), AOF_ERR_INTERNAL),
        ];
        for (err, status) in cases {
            assert_eq!(from_error(&err), status, "{err:?}");
        }
    }

    #[test]
    fn codes_are_stable_and_distinct() {
        let all = [
            AOF_OK,
            AOF_END,
            AOF_TIMED_OUT,
            AOF_ERR_NULL_ARG,
            AOF_ERR_INVALID_ARG,
            AOF_ERR_TOO_LARGE,
            AOF_ERR_NOT_FOUND,
            AOF_ERR_IO,
            AOF_ERR_NO_SPACE,
            AOF_ERR_CORRUPTION,
            AOF_ERR_BUSY,
            AOF_ERR_CLOSED,
            AOF_ERR_POISONED,
            AOF_ERR_PANIC,
            AOF_ERR_INTERNAL,
            AOF_ERR_BUFFER_TOO_SMALL,
            AOF_ERR_MISUSE,
            AOF_ERR_NO_SUCH_LOG,
            AOF_ERR_CATALOG,
            AOF_ERR_TRUNCATED,
            AOF_ERR_WOULD_BLOCK,
            AOF_ERR_REMOTE,
        ];
        // The released values: 0, 1, 2, then -1 down to -19 in this order.
        let expected: Vec<i32> = [0, 1, 2].into_iter().chain((1..=19).map(|n| -n)).collect();
        assert_eq!(all.to_vec(), expected);
        for code in all {
            assert_ne!(describe(code), c"unknown status", "{code}");
        }
        assert_eq!(describe(-20), c"unknown status");
        assert_eq!(describe(3), c"unknown status");
    }
}
