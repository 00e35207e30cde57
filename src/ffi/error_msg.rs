//! The per-thread last-error message.
//!
//! Every failing call (negative status) stores a detailed message on the *calling* thread
//! before it returns; successful calls and non-error statuses (`AOF_END`, `AOF_TIMED_OUT`)
//! leave it untouched. Engine worker threads never write it.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use super::boundary;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `"<func>: <message>"` as this thread's last error. Interior NULs (impossible in
/// practice, but messages embed paths and caller data) are replaced so nothing is lost
/// silently.
pub(crate) fn set(func: &str, message: &str) {
    let text = format!("{func}: {message}").replace('\0', "\\0");
    let text = CString::new(text).unwrap_or_default();
    // `try_with`: during thread teardown the slot may already be gone; then there is no
    // one left to read the message anyway.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// Runs `f` on this thread's last message (empty when none).
fn with_last<R>(f: impl FnOnce(&CStr) -> R) -> R {
    let mut f = Some(f);
    let from_slot = LAST_ERROR.try_with(|slot| {
        let f = f.take().expect("called once");
        f(slot.borrow().as_c_str())
    });
    match (from_slot, f) {
        (Ok(r), _) => r,
        (Err(_), Some(f)) => f(c""),
        (Err(_), None) => unreachable!("try_with fails only before running the closure"),
    }
}

#[cfg(test)]
pub(crate) fn last() -> String {
    with_last(|m| m.to_string_lossy().into_owned())
}

/// Returns this thread's last error message: `""` when no call on this thread has failed.
/// Never NULL. The pointer is owned by libaof and stays valid until the next libaof call on
/// this thread (in practice: until the next failing call) or the thread's exit. Successful
/// calls leave the message untouched, so check the status first.
#[no_mangle]
pub extern "C" fn aof_last_error_message() -> *const c_char {
    boundary::guard_value("aof_last_error_message", c"".as_ptr(), || {
        with_last(|m| m.as_ptr())
    })
}

/// Copies this thread's last error message into `buf` as a NUL-terminated string,
/// truncated to `buf_len - 1` bytes when it does not fit. Returns the full length of the
/// message (excluding the NUL), so a return value `>= buf_len` means it was truncated.
/// With `buf_len == 0` nothing is written and `buf` may be NULL (use it to size a buffer).
/// If `buf` is NULL, nothing is written. Never changes the last error itself.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn aof_last_error_copy(buf: *mut c_char, buf_len: usize) -> usize {
    boundary::guard_value("aof_last_error_copy", 0, || {
        with_last(|m| {
            let bytes = m.to_bytes();
            if !buf.is_null() && buf_len > 0 {
                let n = bytes.len().min(buf_len - 1);
                // SAFETY: the caller guarantees `buf` has `buf_len` writable bytes and
                // `n + 1 <= buf_len`; the message is a separate Rust allocation, so the two
                // ranges do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                    buf.add(n).write(0);
                }
            }
            bytes.len()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_copy() {
        set("aof_test", "something failed");
        assert_eq!(last(), "aof_test: something failed");
        let mut buf = [0x55 as c_char; 8];
        // SAFETY: `buf` has 8 writable bytes.
        let full = unsafe { aof_last_error_copy(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(full, "aof_test: something failed".len());
        // SAFETY: the copy NUL-terminated `buf`.
        let copied = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(copied.to_str().unwrap(), "aof_tes");
        // SAFETY: NULL with length 0 is allowed.
        let sized = unsafe { aof_last_error_copy(std::ptr::null_mut(), 0) };
        assert_eq!(sized, full);
        // SAFETY: the returned pointer is valid until the next failing call on this thread.
        let msg = unsafe { CStr::from_ptr(aof_last_error_message()) };
        assert_eq!(msg.to_str().unwrap(), "aof_test: something failed");
    }

    #[test]
    fn empty_on_a_fresh_thread_and_nul_safe() {
        std::thread::spawn(|| {
            assert_eq!(last(), "");
            set("f", "a\0b");
            assert_eq!(last(), "f: a\\0b");
        })
        .join()
        .unwrap();
    }
}
