//! `aof_log_t`: open, append, flush, read, verify, seal and compress, close.
//!
//! A log handle is a token, not a pointer: a number the library looks up in a
//! process-wide registry on every call and never dereferences. That is what lets a call on
//! a closed handle return `AOF_ERR_CLOSED` instead of touching freed memory. See
//! `registry` for how tokens are made so that stray values (small integers, pointers,
//! garbage) do not reach a live log.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::boundary::{
    self, array_in, bytes_in, nonnull_unless_empty, opt_out, write_opt, Failure, FfiResult, Out,
};
use super::registry::Registry;
use super::status::{aof_status_t, AOF_ERR_BUFFER_TOO_SMALL, AOF_OK, AOF_TIMED_OUT};
use crate::{Log, Options};

/// An open log. An opaque token, not a pointer: libaof never dereferences it, and looks it
/// up on every call. A closed handle is detected (`AOF_ERR_CLOSED`) and handles are never
/// reused within a process. A value `aof_open` (or `aof_manager_open_log`) did not return
/// is rejected with
/// `AOF_ERR_INVALID_ARG`, deterministically for small integers (below 2^32) and for any
/// 8-byte-aligned address (a pointer to memory, such as an options or cursor handle passed
/// by mistake), and for any other value (garbage, an uninitialised variable) except with
/// negligible probability: handles are scrambled with a key drawn at random by each
/// process. May be used from many threads at once.
pub struct aof_log_t {
    _opaque: [u8; 0],
}

/// Open logs by token.
static LOGS: Registry<Log> = Registry::new("log", "aof_open or aof_manager_open_log", 0);

/// A new handle for `log`.
pub(crate) fn register(log: Log) -> *mut aof_log_t {
    std::ptr::without_provenance_mut(LOGS.insert(log))
}

/// The log behind a handle.
pub(crate) fn lookup(handle: *const aof_log_t) -> FfiResult<Arc<Log>> {
    if handle.is_null() {
        return Err(Failure::null_arg("log"));
    }
    LOGS.get(handle.addr())
}

/// Milliseconds from C to a timeout: `UINT32_MAX` waits without limit.
pub(crate) fn timeout(ms: u32) -> Option<Duration> {
    (ms != u32::MAX).then(|| Duration::from_millis(u64::from(ms)))
}

/// Opens the log in directory `path`, creating that directory if it is missing, but never
/// its parents: if the parent of `path` does not exist, the call fails with `AOF_ERR_IO`
/// and creates nothing (a typo in a parent is an error, not a new tree). `options` may be
/// NULL for the defaults; they are copied, so the caller may free them right after. On
/// success `*out_log` receives a new handle, to be closed with `aof_close`; on failure it
/// is left untouched. Statuses: `AOF_ERR_INVALID_ARG` (inconsistent options, empty path),
/// `AOF_ERR_BUSY` (the directory is open elsewhere, in this process or another),
/// `AOF_ERR_IO` (also: a missing parent directory, or `path` is a file),
/// `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION` (damage recovery cannot repair).
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `options` NULL or a live options handle;
/// `out_log` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_open(
    path: *const c_char,
    options: *const super::options::aof_options_t,
    out_log: *mut *mut aof_log_t,
) -> aof_status_t {
    boundary::guard("aof_open", || {
        if path.is_null() {
            return Err(Failure::null_arg("path"));
        }
        let out = Out::new(out_log, "out_log")?;
        // SAFETY: non-NULL and NUL-terminated per the caller's contract.
        let path = unsafe { CStr::from_ptr(path) };
        if path.is_empty() {
            return Err(Failure::invalid("`path` is empty"));
        }
        let path = Path::new(OsStr::from_bytes(path.to_bytes()));
        // SAFETY: NULL or a live options handle per the caller's contract.
        let options: Options = match unsafe { options.as_ref() } {
            Some(o) => o.inner.clone(),
            None => Options::default(),
        };
        let log = Log::open(path, options)?;
        let handle = register(log);
        // SAFETY: the caller's contract for `out_log`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Closes the log: writes and syncs everything appended, seals it with a clean-shutdown
/// marker and releases the directory. NULL is a no-op returning `AOF_OK`. The handle is
/// invalid afterwards whatever the status: the status only reports whether the final
/// write and sync succeeded (`AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_POISONED`). Calls
/// made with the handle later, including a second `aof_close`, return `AOF_ERR_CLOSED`;
/// calls running concurrently in other threads finish or fail with `AOF_ERR_CLOSED`.
/// Cursors of the log stay valid to free, and return `AOF_ERR_CLOSED`; the `data` of the
/// last record each cursor returned stays readable until that cursor's next call or free.
/// The completion of every `aof_append_async` of the log is in its completion queue before
/// this returns (`AOF_OK` once the final sync succeeded), and the queue is detached.
#[no_mangle]
pub extern "C" fn aof_close(log: *mut aof_log_t) -> aof_status_t {
    boundary::guard("aof_close", || {
        if log.is_null() {
            return Ok(AOF_OK);
        }
        LOGS.remove(log.addr())?.close()?;
        Ok(AOF_OK)
    })
}

/// Appends one record of `len` bytes and stores its id in `*out_id` (if not NULL). Ids
/// start at 1 and are dense. `data` may be NULL only if `len` is 0 (an empty record).
/// When the call returns depends on the flush policy: with `AOF_FLUSH_SYNC` the record is
/// durable; otherwise it is durable after a later sync (`aof_flush`, `aof_sync_until`).
/// Statuses: `AOF_ERR_NULL_ARG` (NULL `data` with `len > 0`), `AOF_ERR_TOO_LARGE` (nothing
/// written), `AOF_ERR_CLOSED`, `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`.
///
/// # Safety
/// `data` must be NULL or point to `len` readable bytes; `out_id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_append(
    log: *mut aof_log_t,
    data: *const u8,
    len: usize,
    out_id: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_append", || {
        nonnull_unless_empty(data, len, "data")?;
        let out = opt_out(out_id);
        let log = lookup(log)?;
        // SAFETY: the caller's contract for `data`.
        let payload = unsafe { bytes_in(data, len, "data") }?;
        let id = log.append(payload)?;
        // SAFETY: the caller's contract for `out_id`.
        unsafe { write_opt(out, id) };
        Ok(AOF_OK)
    })
}

/// Appends `count` records as one batch: record `i` is `lens[i]` bytes at `datas[i]` (NULL
/// allowed where `lens[i]` is 0). They get consecutive ids, no other append interleaves,
/// and the first id is stored in `*out_first_id` (if not NULL). A batch is written with one
/// write but is not atomic across a crash: a prefix of it may survive one. `count == 0`:
/// `AOF_ERR_INVALID_ARG` (the arrays may then be NULL). If any record is too large,
/// `AOF_ERR_TOO_LARGE` and nothing is written. Other statuses as for `aof_append`.
///
/// # Safety
/// `datas` and `lens` must be NULL or point to `count` elements each, and every non-NULL
/// `datas[i]` to `lens[i]` readable bytes; `out_first_id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_append_batch(
    log: *mut aof_log_t,
    datas: *const *const u8,
    lens: *const usize,
    count: usize,
    out_first_id: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_append_batch", || {
        // NULLs first: the arrays, then each record's data...
        nonnull_unless_empty(datas, count, "datas")?;
        nonnull_unless_empty(lens, count, "lens")?;
        // SAFETY: the caller's contract for `datas` and `lens`. Only a `count` too large
        // for any array fails here; it is reported after the handle.
        let arrays = unsafe {
            (
                array_in(datas, count, "datas"),
                array_in(lens, count, "lens"),
            )
        };
        if let (Ok(ptrs), Ok(lens)) = &arrays {
            for (i, (&p, &len)) in ptrs.iter().zip(lens.iter()).enumerate() {
                nonnull_unless_empty(p, len, format_args!("datas[{i}]"))?;
            }
        }
        let out = opt_out(out_first_id);
        // ...then the handle, then the values.
        let log = lookup(log)?;
        let (ptrs, lens) = (arrays.0?, arrays.1?);
        if count == 0 {
            return Err(Failure::invalid(
                "`count` is 0: a batch needs at least one record",
            ));
        }
        let payloads = ptrs
            .iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (&p, &len))| {
                // SAFETY: the caller's contract for each `datas[i]`.
                unsafe { bytes_in(p, len, format_args!("datas[{i}]")) }
            })
            .collect::<FfiResult<Vec<&[u8]>>>()?;
        let first = log.append_batch(&payloads)?;
        // SAFETY: the caller's contract for `out_first_id`.
        unsafe { write_opt(out, first) };
        Ok(AOF_OK)
    })
}

/// Writes and `fdatasync`s every record appended so far (by any thread) and returns when
/// they are durable. Statuses: `AOF_ERR_CLOSED`, `AOF_ERR_POISONED`, `AOF_ERR_IO`,
/// `AOF_ERR_NO_SPACE`; `AOF_ERR_MISUSE` if called from a libaof runtime thread.
#[no_mangle]
pub extern "C" fn aof_flush(log: *mut aof_log_t) -> aof_status_t {
    boundary::guard("aof_flush", || {
        lookup(log)?.flush()?;
        Ok(AOF_OK)
    })
}

/// Waits, without forcing a sync, until record `id` is durable (synced by the flush
/// policy, another thread's `aof_flush` or a `AOF_FLUSH_SYNC` append). Returns `AOF_OK`
/// once it is, or `AOF_TIMED_OUT` after `timeout_ms` milliseconds (0: just check;
/// `UINT32_MAX`: no limit). `id` above the last appended id: `AOF_ERR_INVALID_ARG`.
/// Also `AOF_ERR_CLOSED` (including when the log is closed during the wait),
/// `AOF_ERR_POISONED`, `AOF_ERR_MISUSE`.
#[no_mangle]
pub extern "C" fn aof_sync_until(log: *mut aof_log_t, id: u64, timeout_ms: u32) -> aof_status_t {
    boundary::guard("aof_sync_until", || {
        let durable = lookup(log)?.sync_until(id, timeout(timeout_ms))?;
        Ok(if durable { AOF_OK } else { AOF_TIMED_OUT })
    })
}

/// Removes every sealed segment whose records all precede `id`, as a database does after
/// a checkpoint. Whole segments only, never the active one: records a little before `id`
/// may stay (`aof_bounds` says what is left). Cursors inside a removed segment keep reading
/// it; reads below the new first id return `AOF_ERR_TRUNCATED`. `id` from 1 to one past the
/// last id, else `AOF_ERR_INVALID_ARG`. Crash-safe: a crash during the removal leaves
/// every kept record and the next open finishes it.
#[no_mangle]
pub extern "C" fn aof_truncate_before(log: *mut aof_log_t, id: u64) -> aof_status_t {
    boundary::guard("aof_truncate_before", || {
        lookup(log)?.truncate_before(id)?;
        Ok(AOF_OK)
    })
}

/// Stores the range of ids a read may ask for now: `*out_first`, the oldest id kept
/// (raised by retention and `aof_truncate_before`), and `*out_last`, the newest visible id
/// (`*out_last == *out_first - 1` when there is none).
///
/// # Safety
/// `out_first` and `out_last` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_bounds(
    log: *const aof_log_t,
    out_first: *mut u64,
    out_last: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_bounds", || {
        let first_out = Out::new(out_first, "out_first")?;
        let last_out = Out::new(out_last, "out_last")?;
        let (first, last) = lookup(log)?.bounds();
        // SAFETY: the caller's contract for both out-params.
        unsafe {
            first_out.write(first);
            last_out.write(last);
        }
        Ok(AOF_OK)
    })
}

/// Seals the active segment now if it holds a record: writes its footer and syncs it (its
/// records are then durable) and starts the next segment. The sealed segment then counts
/// for retention and the warm tier like any other (`aof_options_set_tiering`,
/// `aof_compress_now`, which never touch the active segment). `*out_sealed` (may be NULL)
/// gets 1 if a segment was sealed, 0 if the active one held no record (nothing changed).
/// Blocks on the seal's write and sync: from one of libaof's runtime threads it returns
/// `AOF_ERR_MISUSE`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
/// (not a log handle), `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`,
/// `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `out_sealed` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_seal_now(log: *mut aof_log_t, out_sealed: *mut i32) -> aof_status_t {
    boundary::guard("aof_seal_now", || {
        let out = opt_out(out_sealed);
        let sealed = lookup(log)?.seal_now()?;
        // SAFETY: the caller's contract for `out_sealed`.
        unsafe { write_opt(out, i32::from(sealed)) };
        Ok(AOF_OK)
    })
}

/// Compresses every sealed segment still in a plain file now, whatever the thresholds of
/// `aof_options_set_tiering` say (its level and frame size apply), and stores how many it
/// compressed in `*out_count` (may be NULL; 0 when there was none). Never the active
/// segment: call `aof_seal_now` first to include its records. Each segment goes to
/// `<base id>.seg.zst` (zstd seekable format; stock `zstd -d` restores the exact segment
/// file), is recorded in the catalogue, and only then is its plain `.seg` file removed;
/// a crash in between leaves one of the two, which the next open settles. Appends, reads
/// and cursors go on meanwhile: a reader already inside a plain file keeps reading it, and
/// every read finds each record in one file or the other, byte-exact. The metrics
/// `segments_compressed`, `compress_bytes_in` and `compress_bytes_out` count the work.
/// Blocks until done (file I/O on the calling thread): from one of libaof's runtime
/// threads it returns `AOF_ERR_MISUSE`. A failure stops at the segment that failed; the
/// segments compressed before it stay compressed. Statuses: `AOF_ERR_NULL_ARG`,
/// `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_POISONED`,
/// `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION` (a segment's bytes fail their
/// checksums while being compressed), `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_compress_now(
    log: *mut aof_log_t,
    out_count: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_compress_now", || {
        let out = opt_out(out_count);
        let count = lookup(log)?.compress_now()?;
        // SAFETY: the caller's contract for `out_count`.
        unsafe { write_opt(out, count as u64) };
        Ok(AOF_OK)
    })
}

/// Archives every sealed segment of the log not archived yet now, whatever
/// `aof_options_set_archive_after` says, through the archive of the log's manager, and
/// stores how many it archived in `*out_count` (may be NULL; 0 when there was none).
/// Never the active segment: call `aof_seal_now` first to include its records. Each
/// segment is compressed first if it is not yet (`aof_options_set_tiering`: its level and
/// frame size), uploaded as `<prefix><log uid, 16 hex digits>/<base id, 20
/// digits>.seg.zst`, verified (the object's size and seek table must be the local file's),
/// recorded in the catalogue, and only then unlinked locally: nothing is unlinked before
/// its archived copy is verified, and a crash in between leaves the local file, which
/// stays authoritative (an object left behind is removed by `aof_sweep_archive`). An object
/// is a standard zstd seekable file: stock `zstd -d` restores the exact segment file.
/// Appends, reads and cursors go on meanwhile; records of archived segments are read
/// back transparently, frame by frame. The metrics `segments_archived`,
/// `archive_bytes_out` and `archive_uploads` count the work. Blocks until done (uploads on
/// the calling thread): from one of libaof's runtime threads it returns `AOF_ERR_MISUSE`.
/// A failure stops at the segment that failed; the segments archived before it stay
/// archived. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a
/// log handle; the log has no archive: opened with `aof_open`, or by a manager without
/// one), `AOF_ERR_REMOTE` (the archive cannot be reached after the retries, its circuit
/// breaker is open, or it refused the upload; the segment stays local and is whole),
/// `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION`,
/// `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_archive_now(log: *mut aof_log_t, out_count: *mut u64) -> aof_status_t {
    boundary::guard("aof_archive_now", || {
        let out = opt_out(out_count);
        let count = lookup(log)?.archive_now()?;
        // SAFETY: the caller's contract for `out_count`.
        unsafe { write_opt(out, count as u64) };
        Ok(AOF_OK)
    })
}

/// Deletes the objects of this log in the archive that no segment of the log refers to
/// (left by a crash between an upload and the catalogue, or by a removal whose delete
/// failed), and stores how many in `*out_count` (may be NULL). Only keys under the log's
/// own `<prefix><log uid>/`; never an object a segment refers to. A log without an archive
/// has none: 0. Counted in the metric `archive_orphans_removed`. Blocks on the archive's
/// list and delete requests: from one of libaof's runtime threads it returns
/// `AOF_ERR_MISUSE`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
/// (not a log handle), `AOF_ERR_REMOTE`, `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_sweep_archive(
    log: *mut aof_log_t,
    out_count: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_sweep_archive", || {
        let out = opt_out(out_count);
        let count = lookup(log)?.sweep_archive()?;
        // SAFETY: the caller's contract for `out_count`.
        unsafe { write_opt(out, count as u64) };
        Ok(AOF_OK)
    })
}

/// Copies the message of the last move between tiers that failed in the background (the
/// compression the thresholds of `aof_options_set_tiering` start) into `buf`,
/// NUL-terminated: `""` if none has failed since the log was opened. Such a failure
/// changes nothing (the segment stays in its plain file and is tried again later) and is
/// counted in the metric `tier_failures`; the message stays until a later failure replaces
/// it. Failures of `aof_compress_now` are returned by it instead. `*out_len` receives the
/// bytes written, NUL included (1 for `""`). If they do not fit in `buf_len` bytes,
/// returns `AOF_ERR_BUFFER_TOO_SMALL` with the size needed in `*out_len` (the one
/// out-param written on failure; `buf` is untouched): call with `buf_len = 0` (and `buf`
/// NULL) to size a buffer. The copy is the caller's; nothing to free. Statuses:
/// `AOF_ERR_NULL_ARG` (`log`, `out_len`, or `buf` with `buf_len > 0`), `AOF_ERR_CLOSED`,
/// `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_last_tier_error(
    log: *const aof_log_t,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_last_tier_error", || {
        if log.is_null() {
            return Err(Failure::null_arg("log"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let message = lookup(log)?.last_tier_error().unwrap_or_default();
        // A C string: an interior NUL (not expected) would cut the message short.
        let mut bytes = message.replace('\0', "\\0").into_bytes();
        bytes.push(0);
        // SAFETY: the caller's contracts for `buf` (NULL only with `buf_len` 0, checked
        // above) and `out_len`.
        unsafe {
            boundary::copy_out(&bytes, buf, buf_len, out_len, |needed| {
                format!("the message needs {needed} bytes; the buffer holds {buf_len}")
            })
        }
    })
}

/// Stores the highest durable id in `*out_id` (0: none yet).
///
/// # Safety
/// `out_id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_durable_id(log: *const aof_log_t, out_id: *mut u64) -> aof_status_t {
    boundary::guard("aof_durable_id", || {
        let out = Out::new(out_id, "out_id")?;
        let id = lookup(log)?.durable_id();
        // SAFETY: the caller's contract for `out_id`.
        unsafe { out.write(id) };
        Ok(AOF_OK)
    })
}

/// Stores the highest appended id in `*out_id` (0: the log is empty). With
/// `AOF_VISIBILITY_DURABLE` this may be above what readers can see yet.
///
/// # Safety
/// `out_id` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_last_id(log: *const aof_log_t, out_id: *mut u64) -> aof_status_t {
    boundary::guard("aof_last_id", || {
        let out = Out::new(out_id, "out_id")?;
        let id = lookup(log)?.last_id();
        // SAFETY: the caller's contract for `out_id`.
        unsafe { out.write(id) };
        Ok(AOF_OK)
    })
}

/// Copies record `id` into `buf` (`buf_len` bytes), stores its length in `*out_len` and,
/// if `out_timestamp_us` is not NULL, its append time (microseconds since the Unix epoch).
/// `buf` may be NULL only if `buf_len` is 0. If the record is longer than `buf_len`, returns
/// `AOF_ERR_BUFFER_TOO_SMALL` and stores the needed size in `*out_len` (the one out-param
/// written on failure; `buf` and `*out_timestamp_us` are untouched), so a caller can size a
/// buffer with `buf_len = 0` first. A record that does not exist or is not visible yet:
/// `AOF_ERR_NOT_FOUND`. Also `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`, `AOF_ERR_CLOSED`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable;
/// `out_timestamp_us` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_read(
    log: *const aof_log_t,
    id: u64,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
    out_timestamp_us: *mut u64,
) -> aof_status_t {
    boundary::guard("aof_read", || {
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let out_ts = opt_out(out_timestamp_us);
        let log = lookup(log)?;
        let copied = log.read_with(id, |record| {
            let n = record.data.len();
            if n > buf_len {
                return Err(n);
            }
            if n > 0 {
                // SAFETY: `buf` is non-NULL (checked above: `n > 0` implies `buf_len > 0`)
                // with `buf_len >= n` writable bytes per the caller's contract; the record
                // lives in libaof's memory, so the ranges do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(record.data.as_ptr(), buf, n) };
            }
            Ok((n, record.timestamp_us))
        })?;
        match copied {
            Ok((n, timestamp_us)) => {
                // SAFETY: the caller's contract for `out_len` and `out_timestamp_us`.
                unsafe {
                    out_len.write(n);
                    write_opt(out_ts, timestamp_us);
                }
                Ok(AOF_OK)
            }
            Err(needed) => {
                // SAFETY: the caller's contract for `out_len`.
                unsafe { out_len.write(needed) };
                Err(Failure::new(
                    AOF_ERR_BUFFER_TOO_SMALL,
                    format!("record {id} is {needed} bytes; the buffer holds {buf_len}"),
                ))
            }
        }
    })
}

/// Reads every record written to the segment files and checks its checksum and framing
/// (and every sealed segment's footer). On success stores the number of records checked in
/// `*out_records` (if not NULL). Under a background flush policy, records still waiting in
/// the write buffer are not checked: call `aof_flush` first to include them. Damage:
/// `AOF_ERR_CORRUPTION` (the last-error message names the file and offset). Also
/// `AOF_ERR_IO`, `AOF_ERR_CLOSED`.
///
/// # Safety
/// `out_records` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_verify(log: *const aof_log_t, out_records: *mut u64) -> aof_status_t {
    boundary::guard("aof_verify", || {
        let out = opt_out(out_records);
        let report = lookup(log)?.verify()?;
        // SAFETY: the caller's contract for `out_records`.
        unsafe { write_opt(out, report.records) };
        Ok(AOF_OK)
    })
}

#[cfg(test)]
mod tests;
