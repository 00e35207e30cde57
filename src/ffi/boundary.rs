//! The one wrapper around every export, and the pointer helpers the exports use.
//!
//! Every `extern "C"` function of libaof runs its body through [`guard`] (status-returning
//! calls) or [`guard_value`] (calls returning something else), even those that cannot fail
//! today, so that no later change can let a panic unwind into C. The wrapper
//! - catches panics, so none unwinds into C: the status is `AOF_ERR_PANIC` (or the typed
//!   default for other return types) and the panic's message becomes the last error;
//! - turns a failed body (`Err(Failure)`) into its status and stores the message as this
//!   thread's last error; successful calls leave the last error untouched.
//!
//! The body checks NULLs first, with [`Out::new`], [`opt_out`], [`nonnull_unless_empty`]
//! and friends, so a NULL argument always gives `AOF_ERR_NULL_ARG` before any other check;
//! then the handle (closed: `AOF_ERR_CLOSED`; never issued: `AOF_ERR_INVALID_ARG`); then
//! the values, lengths included ([`bytes_in`], [`array_in`]). It writes its out-params
//! last, only on success, through [`Out::write`].

use std::any::Any;
use std::fmt::Display;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use super::error_msg;
use super::status::{self, aof_status_t, AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG, AOF_ERR_PANIC};

/// A failed call: its status and the detail for the last-error message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: aof_status_t,
    pub message: String,
}

impl Failure {
    pub fn new(status: aof_status_t, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn null_arg(name: impl Display) -> Self {
        Failure::new(AOF_ERR_NULL_ARG, format!("`{name}` is NULL"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(AOF_ERR_INVALID_ARG, message)
    }
}

impl From<crate::Error> for Failure {
    fn from(err: crate::Error) -> Self {
        Failure::new(status::from_error(&err), err.to_string())
    }
}

/// What the body of a status-returning export gives back.
pub(crate) type FfiResult<T = aof_status_t> = Result<T, Failure>;

/// Runs the body of an export that returns a status; see the module docs.
pub(crate) fn guard(func: &'static str, body: impl FnOnce() -> FfiResult) -> aof_status_t {
    // AssertUnwindSafe: after a caught panic the caller gets AOF_ERR_PANIC and is told (in
    // the header) to close the log; nothing half-updated is used by this wrapper.
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            error_msg::set(func, &failure.message);
            failure.status
        }
        Err(payload) => {
            error_msg::set(func, &panic_message(payload));
            AOF_ERR_PANIC
        }
    }
}

/// Runs the body of an export that does not return a status: a panic gives `default` (and
/// the last-error message says what happened).
pub(crate) fn guard_value<T>(func: &'static str, default: T, body: impl FnOnce() -> T) -> T {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            error_msg::set(func, &panic_message(payload));
            default
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string payload)".to_owned()
    };
    // A payload whose destructor panics would unwind out of here; leak it instead.
    std::mem::forget(payload);
    format!("panic: {text}")
}

/// A required out-param: checked for NULL up front, written once at the end on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// `Err(AOF_ERR_NULL_ARG)` if `ptr` is NULL.
    pub fn new(ptr: *mut T, name: &str) -> FfiResult<Self> {
        NonNull::new(ptr)
            .map(Out)
            .ok_or_else(|| Failure::null_arg(name))
    }

    /// Stores `value` without reading or dropping the old contents (C memory holds no Rust
    /// destructors).
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] must be valid for a write of `T` and suitably
    /// aligned (the C caller's contract for every out-param).
    pub unsafe fn write(self, value: T) {
        // SAFETY: non-NULL by construction; validity and alignment are the caller's
        // contract, forwarded by this function's own safety section.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Copies `bytes` (which the caller ended with a NUL) into the caller's buffer `buf` of
/// `buf_len` bytes, and their length into `*out_len` either way: a buffer too small is
/// `AOF_ERR_BUFFER_TOO_SMALL`, with the message `too_small(needed)`. The size-then-copy
/// protocol of every export that hands out a string.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes, and NULL only with `buf_len`
/// 0; `out_len` as for [`Out::write`].
pub(crate) unsafe fn copy_out(
    bytes: &[u8],
    buf: *mut std::ffi::c_char,
    buf_len: usize,
    out_len: Out<usize>,
    too_small: impl FnOnce(usize) -> String,
) -> FfiResult {
    let needed = bytes.len();
    if needed > buf_len || buf.is_null() {
        // SAFETY: the caller's contract for `out_len`.
        unsafe { out_len.write(needed) };
        return Err(Failure::new(
            super::status::AOF_ERR_BUFFER_TOO_SMALL,
            too_small(needed),
        ));
    }
    // SAFETY: `buf` is non-NULL with `buf_len >= needed` writable bytes per the caller's
    // contract; `bytes` is libaof's own allocation, so the ranges do not overlap. Then the
    // caller's contract for `out_len`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), needed);
        out_len.write(needed);
    }
    Ok(super::status::AOF_OK)
}

/// An optional out-param (NULL means the caller does not want the value).
pub(crate) fn opt_out<T>(ptr: *mut T) -> Option<Out<T>> {
    NonNull::new(ptr).map(Out)
}

/// Writes an optional out-param if it was given.
///
/// # Safety
/// As for [`Out::write`].
pub(crate) unsafe fn write_opt<T>(out: Option<Out<T>>, value: T) {
    if let Some(out) = out {
        // SAFETY: forwarded to our caller.
        unsafe { out.write(value) }
    }
}

/// Borrows a required input pointer as an exclusive reference.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` that nothing else accesses for `'a`.
pub(crate) unsafe fn mut_in<'a, T>(ptr: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: forwarded to our caller.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null_arg(name))
}

/// The NULL check of a `(ptr, len)` input alone: NULL is allowed only when `len` is 0.
/// `name` is formatted only on failure (pass `format_args!` for a computed one).
/// Exports whose handle must be checked before the input's values (its length) call this
/// before looking the handle up, and [`bytes_in`] or [`array_in`] after.
pub(crate) fn nonnull_unless_empty<T>(
    ptr: *const T,
    len: usize,
    name: impl Display,
) -> FfiResult<()> {
    if len > 0 && ptr.is_null() {
        return Err(Failure::null_arg(name));
    }
    Ok(())
}

/// Borrows `(data, len)` as a byte slice: NULL is allowed only when `len` is 0.
///
/// # Safety
/// When `data` is not NULL it must point to `len` readable bytes that stay unchanged for
/// `'a`.
pub(crate) unsafe fn bytes_in<'a>(
    data: *const u8,
    len: usize,
    name: impl Display + Copy,
) -> FfiResult<&'a [u8]> {
    nonnull_unless_empty(data, len, name)?;
    if len == 0 {
        return Ok(&[]);
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "`{name}` length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, `len` readable bytes per the caller's contract, and `len` fits the
    // `isize::MAX` limit of `from_raw_parts`.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Borrows `(ptr, count)` as a slice of `T`: NULL is allowed only when `count` is 0.
///
/// # Safety
/// When `ptr` is not NULL it must point to `count` initialized, aligned `T`s that stay
/// unchanged for `'a`.
pub(crate) unsafe fn array_in<'a, T>(
    ptr: *const T,
    count: usize,
    name: impl Display + Copy,
) -> FfiResult<&'a [T]> {
    nonnull_unless_empty(ptr, count, name)?;
    if count == 0 {
        return Ok(&[]);
    }
    if count
        .checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Failure::invalid(format!(
            "`{name}` count {count} is too large"
        )));
    }
    // SAFETY: non-NULL, aligned and initialized per the caller's contract; the total size
    // was checked against `isize::MAX`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{AOF_ERR_CLOSED, AOF_OK};

    #[test]
    fn panics_become_a_status_and_a_message() {
        let status = guard("aof_test_panic", || panic!("boom {}", 42));
        assert_eq!(status, AOF_ERR_PANIC);
        assert_eq!(error_msg::last(), "aof_test_panic: panic: boom 42");
        let value = guard_value("aof_test_value", 7u32, || panic!("static str"));
        assert_eq!(value, 7);
        assert_eq!(error_msg::last(), "aof_test_value: panic: static str");
    }

    #[test]
    fn failures_set_the_message_and_success_leaves_it() {
        let status = guard("aof_test_fail", || Err(crate::Error::Closed.into()));
        assert_eq!(status, AOF_ERR_CLOSED);
        assert_eq!(error_msg::last(), "aof_test_fail: the log is closed");
        assert_eq!(guard("aof_test_ok", || Ok(AOF_OK)), AOF_OK);
        assert_eq!(error_msg::last(), "aof_test_fail: the log is closed");
    }

    #[test]
    fn out_params_are_written_only_by_write() {
        let mut slot = 5u64;
        let status = guard("aof_test_out", || {
            let out = Out::new(&mut slot as *mut u64, "out")?;
            let _ = out;
            Err(Failure::invalid("nope"))
        });
        assert_eq!(status, AOF_ERR_INVALID_ARG);
        assert_eq!(slot, 5);
        let status = guard("aof_test_out", || {
            let out = Out::new(std::ptr::null_mut::<u64>(), "out_id")?;
            // SAFETY: unreachable: `Out::new` failed on NULL.
            unsafe { out.write(1) };
            Ok(AOF_OK)
        });
        assert_eq!(status, AOF_ERR_NULL_ARG);
        assert_eq!(error_msg::last(), "aof_test_out: `out_id` is NULL");
    }

    #[test]
    fn byte_inputs() {
        // SAFETY: NULL with length 0 never reads.
        let empty = unsafe { bytes_in(std::ptr::null(), 0, "d") }.unwrap();
        assert_eq!(empty, &[] as &[u8]);
        // SAFETY: NULL with a length is rejected before any read.
        let err = unsafe { bytes_in(std::ptr::null(), 3, "d") }.unwrap_err();
        assert_eq!(err.status, AOF_ERR_NULL_ARG);
        let data = [1u8, 2, 3];
        // SAFETY: `data` has 3 readable bytes.
        assert_eq!(unsafe { bytes_in(data.as_ptr(), 3, "d") }.unwrap(), &data);
    }
}
