//! Byte positions: lookups between record ids and byte positions, and `aof_stream_t`, the
//! payloads of a log read as one byte stream.
//!
//! A record's byte position is the number of payload bytes the log held before it: the
//! position of the first byte of its payload in the concatenation of every payload, in id
//! order (what PostgreSQL calls an LSN). Positions are derived from the records, never
//! stored per record; see docs/FORMAT.md ("Byte positions").

use super::boundary::{self, mut_in, nonnull_unless_empty, Failure, Out};
use super::log::{aof_log_t, lookup};
use super::status::{aof_status_t, AOF_END, AOF_OK};
use crate::PayloadStream;

/// A byte stream over the payloads of a log: the payloads of its visible records,
/// concatenated in id order, read from a byte position across record boundaries. Opened
/// with `aof_stream_open`, freed with `aof_stream_free` (before or after its log is
/// closed; once the log is closed its calls return `AOF_ERR_CLOSED`). One thread at a
/// time; it may be moved between threads. It keeps the segment it reads from mapped.
pub struct aof_stream_t {
    stream: PayloadStream,
}

/// Stores the byte position of record `id` in `*out_position`: the payload bytes the log held
/// before it (removed records included). Any id `aof_read` can read; as with it, an id not
/// appended or not visible yet gives `AOF_ERR_NOT_FOUND`, a removed one `AOF_ERR_TRUNCATED`.
/// The log handle may be shared by threads, as for every log call.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_position`), `AOF_ERR_INVALID_ARG` (not a
/// log handle), `AOF_ERR_CLOSED`, `AOF_ERR_NOT_FOUND` (id 0, not appended, or not visible yet),
/// `AOF_ERR_TRUNCATED` (removed by retention or `aof_truncate_before`), `AOF_ERR_CORRUPTION`,
/// `AOF_ERR_IO`, `AOF_ERR_NO_SPACE` (writing out records appended but still buffered),
/// `AOF_ERR_WOULD_BLOCK` (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived
/// segment could not be fetched).
///
/// # Safety
/// `out_position` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_position_of(
    log: *const aof_log_t,
    id: u64,
    out_position: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_position_of", || {
        let out = Out::new(out_position, "out_position")?;
        let position = lookup(log)?.position_of(id)?;
        // SAFETY: the caller's contract for `out_position`.
        unsafe { out.write(position) };
        Ok(AOF_OK)
    })
}

/// Stores in `*out_id` the id of the first record at or after byte position `position`: the
/// record whose payload holds the byte at `position`; else the first record starting at or
/// after it. So records of 0 bytes at `position` come before the record that starts there (they
/// share its position), and `aof_id_at_position(aof_position_of(id))` is `id` unless `id`
/// follows records of 0 bytes at the same position. At the end of the visible records: the id
/// the next record will get. O(log n). A position past the end of `aof_position_range`:
/// `AOF_ERR_NOT_FOUND`; before its start (removed by retention or `aof_truncate_before`):
/// `AOF_ERR_TRUNCATED`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_id`), `AOF_ERR_INVALID_ARG` (not a log
/// handle), `AOF_ERR_CLOSED`, `AOF_ERR_NOT_FOUND` (past the end of the visible records),
/// `AOF_ERR_TRUNCATED` (before the oldest record held), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`,
/// `AOF_ERR_NO_SPACE` (writing out records appended but still buffered), `AOF_ERR_WOULD_BLOCK`
/// (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived segment could not be
/// fetched).
///
/// # Safety
/// `out_id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_id_at_position(
    log: *const aof_log_t,
    position: u64,
    out_id: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_id_at_position", || {
        let out = Out::new(out_id, "out_id")?;
        let id = lookup(log)?.id_at_position(position)?;
        // SAFETY: the caller's contract for `out_id`.
        unsafe { out.write(id) };
        Ok(AOF_OK)
    })
}

/// Stores the byte positions the log holds: `*out_first`, the position of the oldest record
/// held (0 until retention or `aof_truncate_before` removes records; the position of the first
/// id `aof_bounds` gives), and `*out_end`, the end of the visible records (the payload bytes
/// appended so far, once visible). Cursors and streams open at any position from `*out_first`
/// to `*out_end`, both included.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_first`, `out_end`),
/// `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_CLOSED`, `AOF_ERR_CORRUPTION`,
/// `AOF_ERR_IO`, `AOF_ERR_NO_SPACE` (writing out records appended but still buffered),
/// `AOF_ERR_WOULD_BLOCK` (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived
/// segment could not be fetched).
///
/// # Safety
/// `out_first` and `out_end` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_position_range(
    log: *const aof_log_t,
    out_first: *mut u64,
    out_end: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_position_range", || {
        let first = Out::new(out_first, "out_first")?;
        let end = Out::new(out_end, "out_end")?;
        let range = lookup(log)?.position_range()?;
        // SAFETY: the caller's contract for `out_first` and `out_end`.
        unsafe {
            first.write(range.start);
            end.write(range.end);
        }
        Ok(AOF_OK)
    })
}

/// Opens a byte stream over the payloads of `log`, at byte position `position` (from the oldest
/// record's position to the end of the visible records, as `aof_position_range` gives; past the
/// end: `AOF_ERR_NOT_FOUND`, before the start: `AOF_ERR_TRUNCATED`). It sees every record
/// appended before it was opened, and later ones as they become visible. On success
/// `*out_stream` owns a new stream, to be freed with `aof_stream_free` (before or after
/// `aof_close`); one thread at a time.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_stream`), `AOF_ERR_INVALID_ARG` (not a
/// log handle), `AOF_ERR_CLOSED`, `AOF_ERR_NOT_FOUND` (past the end of the visible records),
/// `AOF_ERR_TRUNCATED` (before the oldest record held), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`,
/// `AOF_ERR_NO_SPACE` (writing out records appended but still buffered), `AOF_ERR_WOULD_BLOCK`
/// (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived segment could not be
/// fetched).
///
/// # Safety
/// `out_stream` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_stream_open(
    log: *mut aof_log_t,
    position: u64,
    out_stream: *mut *mut aof_stream_t,
) -> aof_status_t {
    boundary::guard("aof_stream_open", || {
        let out = Out::new(out_stream, "out_stream")?;
        let stream = lookup(log)?.stream(position)?;
        let handle = Box::into_raw(Box::new(aof_stream_t { stream }));
        // SAFETY: the caller's contract for `out_stream`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Copies up to `cap` bytes of payload from the stream's position into `buf`, across record
/// boundaries, stores how many in `*out_len` and moves the position past them: `AOF_OK` with
/// `*out_len` between 1 and `cap` (below `cap` only when the visible records end first).
/// `AOF_END` when no byte is visible at the position yet (the end of the visible records, or
/// past it after `aof_stream_seek`): `*out_len` untouched; a later read returns what is
/// appended meanwhile. `cap` of 0: `AOF_ERR_INVALID_ARG` (after the stream's log is checked;
/// `buf` may then be NULL). Records removed by retention or `aof_truncate_before` before the
/// stream reached them: `AOF_ERR_TRUNCATED` (the record the stream is in stays readable to its
/// end: the stream keeps its segment mapped); the bytes read before an error are returned
/// first, the error by the next call.
///
/// Statuses: `AOF_OK`, `AOF_END` (no byte visible at the position yet; `*out_len` untouched),
/// `AOF_ERR_NULL_ARG` (`stream`, `out_len`, or `buf` with `cap > 0`), `AOF_ERR_INVALID_ARG`
/// (`cap` of 0), `AOF_ERR_CLOSED`, `AOF_ERR_TRUNCATED` (records removed by retention or
/// `aof_truncate_before` before the stream reached them), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`,
/// `AOF_ERR_WOULD_BLOCK` (no room in a cache of the tiers), `AOF_ERR_REMOTE` (an archived
/// segment could not be fetched).
///
/// # Safety
/// `stream` must be NULL or a live stream not used by another thread during the call; `buf`
/// NULL or pointing to `cap` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_stream_read(
    stream: *mut aof_stream_t,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_stream_read", || {
        // SAFETY: the caller's contract for `stream`.
        let handle = unsafe { mut_in(stream, "stream") }?;
        nonnull_unless_empty(buf, cap, "buf")?;
        let out = Out::new(out_len, "out_len")?;
        handle.stream.check_open()?;
        if cap == 0 || cap > isize::MAX as usize {
            return Err(Failure::invalid(format!(
                "`cap` {cap} must be between 1 and PTRDIFF_MAX"
            )));
        }
        let mut filled = 0usize;
        let n = handle.stream.read_with(cap, |piece| {
            // SAFETY: `buf` is non-NULL (`cap > 0`) with `cap` writable bytes per the
            // caller's contract; `read_with` hands over at most `cap` bytes in all, so
            // `filled + piece.len() <= cap`; the pieces live in libaof's maps, so the
            // ranges do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(piece.as_ptr(), buf.add(filled), piece.len());
            }
            filled += piece.len();
        })?;
        if n == 0 {
            return Ok(AOF_END);
        }
        // SAFETY: the caller's contract for `out_len`.
        unsafe { out.write(n) };
        Ok(AOF_OK)
    })
}

/// Moves the stream to byte position `position`: anywhere from the oldest record's position on,
/// past the end of the visible records included (reads there return `AOF_END` until the log
/// grows that far, as with a file). Below the oldest record held: `AOF_ERR_TRUNCATED` (the
/// position is unchanged).
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_TRUNCATED` (below the
/// oldest record held; the position unchanged).
///
/// # Safety
/// `stream` must be NULL or a live stream not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn aof_stream_seek(stream: *mut aof_stream_t, position: u64) -> aof_status_t {
    boundary::guard("aof_stream_seek", || {
        // SAFETY: the caller's contract for `stream`.
        let handle = unsafe { mut_in(stream, "stream") }?;
        handle.stream.seek_to(position)?;
        Ok(AOF_OK)
    })
}

/// Stores the stream's position (of the next byte `aof_stream_read` returns) in
/// `*out_position`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`stream`, `out_position`), `AOF_ERR_CLOSED`.
///
/// # Safety
/// `stream` must be NULL or a live stream not used by another thread during the call;
/// `out_position` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_stream_position(
    stream: *const aof_stream_t,
    out_position: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_stream_position", || {
        // SAFETY: the caller's contract for `stream`.
        let handle = unsafe { stream.as_ref() }.ok_or_else(|| Failure::null_arg("stream"))?;
        let out = Out::new(out_position, "out_position")?;
        handle.stream.check_open()?;
        // SAFETY: the caller's contract for `out_position`.
        unsafe { out.write(handle.stream.position()) };
        Ok(AOF_OK)
    })
}

/// Frees a stream. NULL is a no-op. Fine before or after its log is closed. The stream
/// must not be used afterwards.
///
/// # Safety
/// `stream` must be NULL or a stream from `aof_stream_open` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_stream_free(stream: *mut aof_stream_t) {
    boundary::guard_value("aof_stream_free", (), || {
        if !stream.is_null() {
            // SAFETY: a live stream from `aof_stream_open` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(stream) });
        }
    })
}
