//! `aof_cursor_t`: ordered scans and tailing.

use std::time::Duration;

use super::boundary::{self, mut_in, FfiResult, Out};
use super::log::{aof_log_t, lookup, timeout};
use super::status::{aof_status_t, AOF_END, AOF_OK, AOF_TIMED_OUT};
use crate::cursor::MAX_SPIN;
use crate::{Cursor, StartAt};

/// Cursor start: the oldest record of the log.
pub const AOF_START_OLDEST: u64 = 0u64;
/// Cursor start: the newest record that exists when the cursor opens (like `AOF_START_END`
/// for an empty log).
pub const AOF_START_NEWEST: u64 = u64::MAX - 1;
/// Cursor start: after the newest record; the cursor sees only records appended later.
pub const AOF_START_END: u64 = u64::MAX;

/// The longest busy-poll `aof_cursor_set_spin` accepts, in microseconds (one second).
pub const AOF_CURSOR_MAX_SPIN_US: u32 = 1_000_000;

const _: () = assert!(MAX_SPIN.as_micros() == AOF_CURSOR_MAX_SPIN_US as u128);

/// A cursor over a log. One thread at a time; it may be moved between threads.
pub struct aof_cursor_t {
    cursor: Cursor,
}

/// A record returned by `aof_cursor_next`. `data` is borrowed from the cursor: it points
/// into a read-only map of the segment file that the cursor keeps alive, and stays valid
/// until the next call on the same cursor (`aof_cursor_next`, `aof_cursor_wait`) or
/// `aof_cursor_free`, even if the log is closed meanwhile. It is never NULL, even when
/// `len` is 0.
#[repr(C)]
pub struct aof_record_t {
    /// The record's id (ids start at 1 and are dense).
    pub id: u64,
    /// When the record was appended, in microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// The payload (borrowed from the cursor, read-only: writing through it faults).
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
}

/// What `data` points to for an empty record, so it is never NULL.
static EMPTY: [u8; 1] = [0];

fn start_at(start_id: u64) -> StartAt {
    match start_id {
        AOF_START_OLDEST => StartAt::Oldest,
        AOF_START_NEWEST => StartAt::Newest,
        AOF_START_END => StartAt::End,
        id => StartAt::Id(id),
    }
}

/// Opens a cursor on `log`, starting at `start_id`: `AOF_START_OLDEST`,
/// `AOF_START_NEWEST`, `AOF_START_END` or a record id (from the oldest id up to one past the
/// newest). On success `*out_cursor` owns a new cursor, to be freed with `aof_cursor_free`
/// (before or after `aof_close`). An id outside that range: `AOF_ERR_NOT_FOUND`. Also
/// `AOF_ERR_CLOSED`.
///
/// # Safety
/// `out_cursor` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_open(
    log: *mut aof_log_t,
    start_id: u64,
    out_cursor: *mut *mut aof_cursor_t,
) -> aof_status_t {
    boundary::guard("aof_cursor_open", || {
        let out = Out::new(out_cursor, "out_cursor")?;
        let cursor = lookup(log)?.cursor(start_at(start_id))?;
        let handle = Box::into_raw(Box::new(aof_cursor_t { cursor }));
        // SAFETY: the caller's contract for `out_cursor`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Moves to the next record and describes it in `*out_record`: `AOF_OK`; or `AOF_END` when
/// there is no further visible record yet (`*out_record` untouched; more may come: see
/// `aof_cursor_wait`). The record's `data` is valid until the next call on this cursor or
/// its free, even if the log is closed in between. Errors: `AOF_ERR_CLOSED` (the log was
/// closed), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
///
/// # Safety
/// `cursor` must be NULL or a live cursor not used by another thread during the call;
/// `out_record` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_next(
    cursor: *mut aof_cursor_t,
    out_record: *mut aof_record_t,
) -> aof_status_t {
    boundary::guard("aof_cursor_next", || {
        // SAFETY: the caller's contract for `cursor`.
        let handle = unsafe { mut_in(cursor, "cursor") }?;
        let out = Out::new(out_record, "out_record")?;
        let Some(record) = handle.cursor.next()? else {
            return Ok(AOF_END);
        };
        let data = if record.data.is_empty() {
            EMPTY.as_ptr()
        } else {
            record.data.as_ptr()
        };
        let c_record = aof_record_t {
            id: record.id,
            timestamp_us: record.timestamp_us,
            data,
            len: record.data.len(),
        };
        // SAFETY: the caller's contract for `out_record`.
        unsafe { out.write(c_record) };
        Ok(AOF_OK)
    })
}

/// Waits until `aof_cursor_next` has a record: `AOF_OK` at once if one is already visible,
/// else when an append (or, with `AOF_VISIBILITY_DURABLE`, a sync) makes one visible;
/// `AOF_TIMED_OUT` after `timeout_ms` milliseconds (0: just check; `UINT32_MAX`: no limit).
/// Also `AOF_ERR_CLOSED` (including when the log is closed during the wait),
/// `AOF_ERR_MISUSE`. Invalidates the `data` of the cursor's previous record.
///
/// # Safety
/// `cursor` must be NULL or a live cursor not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_wait(
    cursor: *mut aof_cursor_t,
    timeout_ms: u32,
) -> aof_status_t {
    boundary::guard("aof_cursor_wait", || {
        // SAFETY: the caller's contract for `cursor`.
        let handle = unsafe { mut_in(cursor, "cursor") }?;
        let ready = handle.cursor.wait(timeout(timeout_ms))?;
        FfiResult::Ok(if ready { AOF_OK } else { AOF_TIMED_OUT })
    })
}

/// Makes `aof_cursor_wait` busy-poll for up to `spin_us` microseconds before it sleeps.
/// Trades a core (spinning at 100 % while it polls) for wake-up latency: a record that
/// lands during the spin is seen within a few microseconds instead of after the wake-up of
/// a sleeping thread (tens of microseconds or more). Useful when records arrive more often
/// than the spin, so the reader is usually polling when one lands. 0 (the default) never
/// spins. The spin never outlasts the wait's timeout, and closing the log still ends a
/// spinning wait. `spin_us` above `AOF_CURSOR_MAX_SPIN_US`: `AOF_ERR_INVALID_ARG`, the
/// spin unchanged. Also `AOF_ERR_CLOSED`. Does not invalidate the cursor's last record.
///
/// # Safety
/// `cursor` must be NULL or a live cursor not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_set_spin(
    cursor: *mut aof_cursor_t,
    spin_us: u32,
) -> aof_status_t {
    boundary::guard("aof_cursor_set_spin", || {
        // SAFETY: the caller's contract for `cursor`.
        let handle = unsafe { mut_in(cursor, "cursor") }?;
        handle
            .cursor
            .set_spin(Duration::from_micros(u64::from(spin_us)))?;
        Ok(AOF_OK)
    })
}

/// Frees a cursor. NULL is a no-op. Fine before or after its log is closed. The cursor and
/// the `data` of its last record must not be used afterwards.
///
/// # Safety
/// `cursor` must be NULL or a cursor from `aof_cursor_open` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_free(cursor: *mut aof_cursor_t) {
    boundary::guard_value("aof_cursor_free", (), || {
        if !cursor.is_null() {
            // SAFETY: a live cursor from `aof_cursor_open` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(cursor) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        assert_eq!(start_at(AOF_START_OLDEST), StartAt::Oldest);
        assert_eq!(start_at(AOF_START_NEWEST), StartAt::Newest);
        assert_eq!(start_at(AOF_START_END), StartAt::End);
        assert_eq!(start_at(1), StartAt::Id(1));
        assert_eq!(start_at(u64::MAX - 2), StartAt::Id(u64::MAX - 2));
    }
}
