//! `aof_cursor_t`: ordered scans and tailing.

use std::mem::{offset_of, size_of};
use std::time::Duration;

use super::boundary::{self, mut_in, Failure, FfiResult, Out};
use super::log::{aof_log_t, lookup, timeout};
use super::status::{aof_status_t, AOF_END, AOF_OK, AOF_TIMED_OUT};
use crate::cursor::MAX_SPIN;
use crate::{Cursor, Record, StartAt};

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

/// A record returned by `aof_cursor_next_ex`: the fields of `aof_record_t`, in the same
/// order, then the record's byte position. A struct that only grows: later versions append
/// fields, never reorder or remove them, so pass `sizeof(aof_record_ex_t)` as your program
/// was compiled. `data` is borrowed exactly as in `aof_record_t`.
#[repr(C)]
pub struct aof_record_ex_t {
    /// The record's id (ids start at 1 and are dense).
    pub id: u64,
    /// When the record was appended, in microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// The payload (borrowed from the cursor, read-only: writing through it faults).
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
    /// The record's byte position: the payload bytes the log held before it (every record
    /// before it, those removed since included). The next record's position is `position +
    /// len`; a record of 0 bytes shares its position with the record after it.
    pub position: u64,
}

/// Size of the first version of `aof_record_ex_t` (40 bytes on 64-bit targets): the
/// smallest `out_size` `aof_cursor_next_ex` accepts.
pub(crate) const RECORD_EX_V1_SIZE: usize = offset_of!(aof_record_ex_t, position) + 8;

// The struct has no padding (its bytes are copied out whole), and is its first version.
const _: () = assert!(size_of::<aof_record_ex_t>() == 24 + 2 * size_of::<usize>());
const _: () = assert!(size_of::<aof_record_ex_t>() == RECORD_EX_V1_SIZE);

/// What `data` points to for an empty record, so it is never NULL.
static EMPTY: [u8; 1] = [0];

/// A record's payload pointer for C: never NULL.
fn data_ptr(record: &Record<'_>) -> *const u8 {
    if record.data.is_empty() {
        EMPTY.as_ptr()
    } else {
        record.data.as_ptr()
    }
}

fn start_at(start_id: u64) -> StartAt {
    match start_id {
        AOF_START_OLDEST => StartAt::Oldest,
        AOF_START_NEWEST => StartAt::Newest,
        AOF_START_END => StartAt::End,
        id => StartAt::Id(id),
    }
}

/// Opens a cursor on `log`, starting at `start_id`: `AOF_START_OLDEST`, `AOF_START_NEWEST`,
/// `AOF_START_END` or a record id (from the oldest id up to one past the newest). On success
/// `*out_cursor` owns a new cursor, to be freed with `aof_cursor_free` (before or after
/// `aof_close`). An id past that range: `AOF_ERR_NOT_FOUND`; below it (removed by retention or
/// `aof_truncate_before`): `AOF_ERR_TRUNCATED`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_cursor`), `AOF_ERR_INVALID_ARG` (not a
/// log handle), `AOF_ERR_CLOSED`, `AOF_ERR_NOT_FOUND` (an id past one after the newest),
/// `AOF_ERR_TRUNCATED` (an id below the oldest kept), `AOF_ERR_IO`, `AOF_ERR_NO_SPACE` (writing
/// out records appended but still buffered).
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
/// `aof_cursor_wait`). The record's `data` is valid until the next call on this cursor or its
/// free, even if the log is closed in between.
///
/// Statuses: `AOF_OK`, `AOF_END` (no further visible record yet; `*out_record` untouched),
/// `AOF_ERR_NULL_ARG` (`cursor`, `out_record`), `AOF_ERR_CLOSED` (the log was closed),
/// `AOF_ERR_TRUNCATED` (the next record was removed by retention or `aof_truncate_before`
/// before the cursor reached it), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`, `AOF_ERR_WOULD_BLOCK` (no
/// room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived segment could not be fetched).
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
        let c_record = aof_record_t {
            id: record.id,
            timestamp_us: record.timestamp_us,
            data: data_ptr(&record),
            len: record.data.len(),
        };
        // SAFETY: the caller's contract for `out_record`.
        unsafe { out.write(c_record) };
        Ok(AOF_OK)
    })
}

/// Opens a cursor on `log` at byte position `position`: its first record is the first record at
/// or after that position (as `aof_id_at_position` says: the record whose payload holds the
/// byte at `position`, else the first record starting at or after it, so records of 0 bytes at
/// `position` come first). `position` may be anything from the oldest record's position to the
/// end of the visible records (`aof_position_range`); at the end the cursor sees only records
/// appended later. Past that end: `AOF_ERR_NOT_FOUND`; before its start (removed by retention
/// or `aof_truncate_before`): `AOF_ERR_TRUNCATED`. Otherwise as `aof_cursor_open`: on success
/// `*out_cursor` owns a new cursor, freed with `aof_cursor_free`, used by one thread at a time.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_cursor`), `AOF_ERR_INVALID_ARG` (not a
/// log handle), `AOF_ERR_CLOSED`, `AOF_ERR_NOT_FOUND` (past the end of the visible records),
/// `AOF_ERR_TRUNCATED` (before the oldest record held), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`,
/// `AOF_ERR_NO_SPACE` (writing out records appended but still buffered), `AOF_ERR_WOULD_BLOCK`
/// (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived segment could not be
/// fetched).
///
/// # Safety
/// `out_cursor` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_open_at_position(
    log: *mut aof_log_t,
    position: u64,
    out_cursor: *mut *mut aof_cursor_t,
) -> aof_status_t {
    boundary::guard("aof_cursor_open_at_position", || {
        let out = Out::new(out_cursor, "out_cursor")?;
        let cursor = lookup(log)?.cursor(StartAt::Position(position))?;
        let handle = Box::into_raw(Box::new(aof_cursor_t { cursor }));
        // SAFETY: the caller's contract for `out_cursor`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// As `aof_cursor_next`, and also gives the record's byte position: fills `*out` (an
/// `aof_record_ex_t`), a struct that only grows. Pass `out_size = sizeof(aof_record_ex_t)`
/// as your program was compiled: a library newer than the header fills only the fields
/// the program knows; an older one fills those it has and sets the rest of `out_size` to
/// 0. `out_size` below the size of the first version (40 bytes on 64-bit targets):
/// `AOF_ERR_INVALID_ARG`, checked after the cursor (a cursor of a closed log gives
/// `AOF_ERR_CLOSED` first). `AOF_END` leaves `*out` untouched. The record's `data` is
/// borrowed as with `aof_cursor_next`: valid until the next call on this cursor or its
/// free. `aof_cursor_next` and `aof_cursor_next_ex` may be mixed on one cursor.
///
/// Statuses: `AOF_OK`, `AOF_END` (no further visible record yet; `*out` untouched),
/// `AOF_ERR_NULL_ARG` (`cursor`, `out`), `AOF_ERR_INVALID_ARG` (`out_size` below the first
/// version's size; the cursor unmoved), `AOF_ERR_CLOSED` (the log was closed),
/// `AOF_ERR_TRUNCATED` (the next record was removed by retention or `aof_truncate_before`
/// before the cursor reached it), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`, `AOF_ERR_WOULD_BLOCK` (no
/// room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived segment could not be fetched).
///
/// # Safety
/// `cursor` must be NULL or a live cursor not used by another thread during the call;
/// `out` NULL or pointing to `out_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_next_ex(
    cursor: *mut aof_cursor_t,
    out: *mut aof_record_ex_t,
    out_size: usize,
) -> aof_status_t {
    boundary::guard("aof_cursor_next_ex", || {
        // SAFETY: the caller's contract for `cursor`.
        let handle = unsafe { mut_in(cursor, "cursor") }?;
        if out.is_null() {
            return Err(Failure::null_arg("out"));
        }
        handle.cursor.check_open()?;
        if out_size < RECORD_EX_V1_SIZE {
            return Err(Failure::invalid(format!(
                "out_size {out_size} is below {RECORD_EX_V1_SIZE} (pass \
                 sizeof(aof_record_ex_t))"
            )));
        }
        let Some(record) = handle.cursor.next()? else {
            return Ok(AOF_END);
        };
        let c_record = aof_record_ex_t {
            id: record.id,
            timestamp_us: record.timestamp_us,
            data: data_ptr(&record),
            len: record.data.len(),
            position: record.position,
        };
        let n = out_size.min(size_of::<aof_record_ex_t>());
        let dst = out.cast::<u8>();
        // SAFETY: `out` has `out_size` writable bytes per the caller's contract and
        // `n <= out_size`; the source is a local without padding bytes (checked at compile
        // time), so every byte copied is initialized; bytes are copied, so the caller's
        // alignment does not matter.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const c_record).cast::<u8>(), dst, n);
            if out_size > n {
                std::ptr::write_bytes(dst.add(n), 0, out_size - n);
            }
        }
        Ok(AOF_OK)
    })
}

/// Waits until `aof_cursor_next` has a record: `AOF_OK` at once if one is already visible, else
/// when an append (or, with `AOF_VISIBILITY_DURABLE`, a sync) makes one visible;
/// `AOF_TIMED_OUT` after `timeout_ms` milliseconds (0: just check; `UINT32_MAX`: no limit).
/// Invalidates the `data` of the cursor's previous record.
///
/// Statuses: `AOF_OK`, `AOF_TIMED_OUT`, `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED` (also when the log
/// is closed during the wait), `AOF_ERR_POISONED` (no record can become visible any more),
/// `AOF_ERR_MISUSE` (from a libaof runtime thread).
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

/// Makes `aof_cursor_wait` busy-poll for up to `spin_us` microseconds before it sleeps. Trades
/// a core (spinning at 100 % while it polls) for wake-up latency: a record that lands during
/// the spin is seen within a few microseconds instead of after the wake-up of a sleeping thread
/// (tens of microseconds or more). Useful when records arrive more often than the spin, so the
/// reader is usually polling when one lands. 0 (the default) never spins. The spin never
/// outlasts the wait's timeout, and closing the log still ends a spinning wait. `spin_us` above
/// `AOF_CURSOR_MAX_SPIN_US`: `AOF_ERR_INVALID_ARG`, the spin unchanged. Does not invalidate the
/// cursor's last record.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG` (above
/// `AOF_CURSOR_MAX_SPIN_US`; the spin unchanged), `AOF_ERR_CLOSED`.
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
/// `cursor` must be NULL or a cursor from `aof_cursor_open` or
/// `aof_cursor_open_at_position` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_cursor_free(cursor: *mut aof_cursor_t) {
    boundary::guard_value("aof_cursor_free", (), || {
        if !cursor.is_null() {
            // SAFETY: a live cursor from `aof_cursor_open` or `aof_cursor_open_at_position`
            // (Box::into_raw), freed once.
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
