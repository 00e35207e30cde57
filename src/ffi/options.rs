//! `aof_options_t`: a builder for the options of `aof_open`.

use std::time::Duration;

use super::boundary::{self, mut_in, Failure, FfiResult, Out};
use super::status::{aof_status_t, AOF_OK};
use super::tier_options::wait_from_ms;
use crate::completion::pending::{
    DEFAULT_ASYNC_WAIT, DEFAULT_MAX_ASYNC_BYTES, DEFAULT_MAX_ASYNC_RECORDS,
};
use crate::config::{MAX_SEGMENT_SIZE, MAX_ZERO_AHEAD, MIN_SEGMENT_SIZE};
use crate::{AsyncLimits, FlushPolicy, Options, Visibility};

/// Flush policy: every append returns once its record is on stable storage (concurrent
/// appenders share one `fdatasync`: group commit). The default.
pub const AOF_FLUSH_SYNC: i32 = 0;
/// Flush policy: appends return at once; a background worker writes and syncs as fast as it
/// can.
pub const AOF_FLUSH_ASYNC: i32 = 1;
/// Flush policy: sync in the background once `batch_records` records are waiting.
pub const AOF_FLUSH_BATCHED: i32 = 2;
/// Flush policy: sync in the background every `interval_ms` milliseconds.
pub const AOF_FLUSH_PERIODIC: i32 = 3;
/// Flush policy: whichever of `AOF_FLUSH_BATCHED` and `AOF_FLUSH_PERIODIC` comes first.
pub const AOF_FLUSH_BATCHED_OR_PERIODIC: i32 = 4;

/// Visibility: readers see a record once it is written to the file (page cache), possibly
/// before it is durable; a crash may take back a record that was seen. The default.
pub const AOF_VISIBILITY_WRITTEN: i32 = 0;
/// Visibility: readers see a record only once it is durable (synced).
pub const AOF_VISIBILITY_DURABLE: i32 = 1;

/// Options for `aof_open`. Create with `aof_options_new`, free with `aof_options_free`.
/// One thread at a time.
pub struct aof_options_t {
    pub(crate) inner: Options,
}

/// Creates options with the defaults: 64 MiB segments, a maximum record size derived from
/// the segment size (16 MiB with 64 MiB segments; see `aof_options_set_max_record_size`),
/// `AOF_FLUSH_SYNC`, background pre-allocation of the next segment at 50 % and
/// `AOF_VISIBILITY_WRITTEN`. On success `*out_options` owns a new handle; free it with
/// `aof_options_free`.
///
/// # Safety
/// `out_options` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_options_new(out_options: *mut *mut aof_options_t) -> aof_status_t {
    boundary::guard("aof_options_new", || {
        let out = Out::new(out_options, "out_options")?;
        let handle = Box::new(aof_options_t {
            inner: Options::default(),
        });
        // SAFETY: the caller's contract for `out_options`.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(AOF_OK)
    })
}

/// Frees options. NULL is a no-op. The options must not be used afterwards; logs opened
/// with them are not affected (`aof_open` copies them).
///
/// # Safety
/// `options` must be NULL or a handle from `aof_options_new` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_options_free(options: *mut aof_options_t) {
    boundary::guard_value("aof_options_free", (), || {
        if !options.is_null() {
            // SAFETY: a live handle from `aof_options_new` (Box::into_raw), freed once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Runs `f` on the options behind `options`.
///
/// # Safety
/// `options` must be NULL or a live handle not used by another thread during the call.
unsafe fn with_options(
    func: &'static str,
    options: *mut aof_options_t,
    f: impl FnOnce(&mut Options) -> FfiResult<()>,
) -> aof_status_t {
    boundary::guard(func, || {
        // SAFETY: forwarded to our caller.
        let handle = unsafe { mut_in(options, "options") }?;
        f(&mut handle.inner)?;
        Ok(AOF_OK)
    })
}

/// Sets the size of each segment file in bytes: 4096 (4 KiB) up to 4294963200
/// (4 GiB - 4 KiB). Default 64 MiB. Out of range: `AOF_ERR_INVALID_ARG`, options unchanged.
/// A record must fit in one segment with the segment's header and footer and its own
/// header: it may be at most the segment size - 160 bytes (rounded down to a multiple of 8
/// when the segment size is not one). Unless `aof_options_set_max_record_size` was called,
/// the maximum record size follows the segment size: min(16 MiB, segment size - 160), so
/// smaller segments need no other setting. An explicit maximum above the rule makes
/// `aof_open` fail with `AOF_ERR_INVALID_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_segment_size(
    options: *mut aof_options_t,
    bytes: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_segment_size", options, |o| {
            if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&bytes) {
                return Err(Failure::invalid(format!(
                    "segment size {bytes} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}"
                )));
            }
            o.segment_size = bytes;
            Ok(())
        })
    }
}

/// Sets the largest record `aof_append` accepts, in bytes: 1 up to 4294967295 (UINT32_MAX).
/// Out of range: `AOF_ERR_INVALID_ARG`, options unchanged. When it is never called, the
/// maximum is derived from the segment size: min(16 MiB, segment size - 160), 16 MiB with
/// the default 64 MiB segments. A value set here is used as is, and must fit in one segment
/// with the segment's header (64 bytes) and footer (64) and the record's header (32): at
/// most the segment size - 160 (rounded down to a multiple of 8 when the segment size is not
/// one); `aof_open` fails with `AOF_ERR_INVALID_ARG` otherwise, and the last-error message
/// states the rule.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_max_record_size(
    options: *mut aof_options_t,
    bytes: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_max_record_size", options, |o| {
            if bytes == 0 || bytes > u64::from(u32::MAX) {
                return Err(Failure::invalid(format!(
                    "max record size {bytes} is outside 1..={}",
                    u32::MAX
                )));
            }
            o.max_record_size = Some(bytes);
            Ok(())
        })
    }
}

/// Sets the flush policy (`AOF_FLUSH_*`). `batch_records` (at least 1) is used by
/// `AOF_FLUSH_BATCHED` and `AOF_FLUSH_BATCHED_OR_PERIODIC`; `interval_ms` (at least 1) by
/// `AOF_FLUSH_PERIODIC` and `AOF_FLUSH_BATCHED_OR_PERIODIC`; a parameter the policy does not
/// use is ignored. Unknown policy or a used parameter of 0: `AOF_ERR_INVALID_ARG`, options
/// unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_flush_policy(
    options: *mut aof_options_t,
    policy: i32,
    batch_records: u32,
    interval_ms: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_flush_policy", options, |o| {
            let interval = Duration::from_millis(u64::from(interval_ms));
            let flush = match policy {
                AOF_FLUSH_SYNC => FlushPolicy::Sync,
                AOF_FLUSH_ASYNC => FlushPolicy::Async,
                AOF_FLUSH_BATCHED => FlushPolicy::Batched {
                    records: batch_records,
                },
                AOF_FLUSH_PERIODIC => FlushPolicy::Periodic { interval },
                AOF_FLUSH_BATCHED_OR_PERIODIC => FlushPolicy::BatchedOrPeriodic {
                    records: batch_records,
                    interval,
                },
                other => {
                    return Err(Failure::invalid(format!("unknown flush policy {other}")));
                }
            };
            flush.validate()?;
            o.flush = flush;
            Ok(())
        })
    }
}

/// Sets when the next segment file is created in the background: once the active segment
/// is this full, in percent (1..=100). 0 disables background pre-allocation (the next
/// segment is created when the active one fills). Default 50. Above 100:
/// `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_preallocate_threshold(
    options: *mut aof_options_t,
    percent: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_preallocate_threshold", options, |o| {
            let percent = u8::try_from(percent)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| {
                    Failure::invalid(format!("preallocate threshold {percent} is above 100"))
                })?;
            o.preallocate_at_percent = percent;
            Ok(())
        })
    }
}

/// Sets how many bytes of the active segment a background task keeps written with zeros
/// ahead of the writer, so that syncs overwrite written blocks rather than converting
/// pre-allocated ones (cheaper `fdatasync` when syncs are frequent; each segment is then
/// written twice, so the task skips zeroing while more than 256 KiB are appended per sync).
/// Rounded up to 4 KiB pages. 0 turns it off. Default 4 MiB. Above 1 GiB:
/// `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_zero_ahead(
    options: *mut aof_options_t,
    bytes: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_zero_ahead", options, |o| {
            if bytes > MAX_ZERO_AHEAD {
                return Err(Failure::invalid(format!(
                    "zero-ahead {bytes} is above {MAX_ZERO_AHEAD} bytes"
                )));
            }
            o.zero_ahead = bytes;
            Ok(())
        })
    }
}

/// Bounds what the log keeps: at most `max_bytes` bytes of segment files, at most
/// `max_segments` segments (both counting the active one), and no segment sealed longer
/// than `max_age_ms` ago; 0 leaves a bound unset. Whole sealed segments go, oldest first,
/// never the active one, so the log may hold up to one segment more than a bound; removal
/// runs in the background after each roll (and on a timer for the age bound). A read below
/// the oldest id kept then returns `AOF_ERR_TRUNCATED` (see `aof_bounds`). Default: keep
/// everything. `max_bytes` below the segment size (checked at `aof_open`, since the
/// segment size may be set later) is `AOF_ERR_INVALID_ARG` there.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_retention(
    options: *mut aof_options_t,
    max_bytes: u64,
    max_segments: u64,
    max_age_ms: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_retention", options, |o| {
            let nonzero = |n: u64| (n > 0).then_some(n);
            o.retention = crate::Retention {
                max_bytes: nonzero(max_bytes),
                max_segments: nonzero(max_segments),
                max_age: nonzero(max_age_ms).map(Duration::from_millis),
            };
            Ok(())
        })
    }
}

/// The zstd level `aof_options_set_tiering` uses by default (zstd's own default).
pub const AOF_TIER_DEFAULT_COMPRESSION_LEVEL: i32 = 3;
/// The frame size `aof_options_set_tiering` uses by default: 256 KiB of segment bytes.
pub const AOF_TIER_DEFAULT_FRAME_SIZE: u64 = 262_144;
const _: () = assert!(AOF_TIER_DEFAULT_FRAME_SIZE == crate::config::DEFAULT_FRAME_SIZE);

/// Sets when and how sealed segments move to the warm tier: each is compressed into the
/// zstd seekable format, a file `<base id>.seg.zst` next to the plain `<base id>.seg` it
/// replaces. A sealed segment is compressed in the background (on the log's runtime, after
/// each roll and on a timer with an age threshold) once at least `compress_after_segments`
/// segments are newer than it (the active one included), or once it was sealed more than
/// `compress_after_age_ms` milliseconds ago, whichever comes first; 0 leaves a threshold
/// unset, and with both unset (the default) only `aof_compress_now` compresses. The active
/// segment is never compressed (`aof_seal_now` seals it). `compression_level` is a zstd
/// level (its range, negative fast levels up to 22; `AOF_TIER_DEFAULT_COMPRESSION_LEVEL`
/// is 3). `frame_size` is the decompressed size of a frame, 4096 ..= 67108864 (64 MiB;
/// `AOF_TIER_DEFAULT_FRAME_SIZE` is 256 KiB): a read of a record in a compressed segment
/// decompresses its one frame, so smaller frames make reads cheaper and compression worse;
/// frames end on record boundaries, and a record larger than a frame gets one of its own.
///
/// Reads by id, cursors, byte positions and streams see no difference but the cost of
/// decompressing a frame, and a reader already inside a segment's plain file keeps reading
/// it. Stock `zstd -d` turns a `.seg.zst` file back into the exact bytes of the segment
/// file. Values are checked here: a level outside zstd's range or a frame size outside
/// the range is `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_tiering(
    options: *mut aof_options_t,
    compress_after_segments: u64,
    compress_after_age_ms: u64,
    compression_level: i32,
    frame_size: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_tiering", options, |o| {
            let nonzero = |n: u64| (n > 0).then_some(n);
            let tiering = crate::Tiering {
                compress_after_segments: nonzero(compress_after_segments),
                compress_after_age: nonzero(compress_after_age_ms).map(Duration::from_millis),
                compression_level,
                frame_size,
                archive_after_segments: o.tiering.archive_after_segments,
            };
            tiering.validate()?;
            o.tiering = tiering;
            Ok(())
        })
    }
}

/// Sets when sealed segments move to the cold tier, the archive of the log's manager
/// (`aof_manager_options_set_archive_fs`, `aof_manager_options_set_archive_s3`): a sealed
/// segment is archived in the background (after each roll, on the log's runtime) once at
/// least `archive_after_segments` segments are newer than it (the active one included);
/// 0 (the default) turns it off, and then only `aof_archive_now` archives. A segment is
/// compressed first if it is not yet (with the level and frame size of
/// `aof_options_set_tiering`), uploaded, verified, recorded, and only then unlinked
/// locally; see `aof_manager_options_set_archive_s3`. A background upload that fails
/// changes nothing and is tried again later (metric `tier_failures`,
/// `aof_last_tier_error`); with the limits of `aof_manager_options_set_archive_limits`,
/// appends then meet backpressure (`AOF_ERR_WOULD_BLOCK`). Ignored by a log without an
/// archive (opened with `aof_open`, or by a manager without one). Independent of the other
/// settings of `aof_options_set_tiering`, which keeps it. Statuses: `AOF_ERR_NULL_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_archive_after(
    options: *mut aof_options_t,
    archive_after_segments: u64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_archive_after", options, |o| {
            o.tiering.archive_after_segments =
                (archive_after_segments > 0).then_some(archive_after_segments);
            Ok(())
        })
    }
}

/// Turns the log's latency and size distributions on (`on` non-zero, the default) or off
/// (`aof_metrics_t`'s `*_count` ... `*_max` fields then stay 0 and no clock is read for
/// them; counters are kept either way). Statuses: `AOF_ERR_NULL_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_histograms(
    options: *mut aof_options_t,
    on: i32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_histograms", options, |o| {
            o.histograms = on != 0;
            Ok(())
        })
    }
}

/// Sets which records readers (cursors, `aof_read`) see: `AOF_VISIBILITY_WRITTEN` (default)
/// or `AOF_VISIBILITY_DURABLE`. Anything else: `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_visibility(
    options: *mut aof_options_t,
    visibility: i32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_visibility", options, |o| {
            o.visibility = match visibility {
                AOF_VISIBILITY_WRITTEN => Visibility::Written,
                AOF_VISIBILITY_DURABLE => Visibility::Durable,
                other => return Err(Failure::invalid(format!("unknown visibility {other}"))),
            };
            Ok(())
        })
    }
}

/// How many asynchronous appends of a log may be in flight by default (see
/// `aof_options_set_async_limits`).
pub const AOF_ASYNC_DEFAULT_MAX_RECORDS: u64 = 65_536;
/// How many payload bytes of asynchronous appends of a log may be in flight by default:
/// 64 MiB.
pub const AOF_ASYNC_DEFAULT_MAX_BYTES: u64 = 67_108_864;
/// How long an asynchronous append waits for room by default: 30 s.
pub const AOF_ASYNC_DEFAULT_WAIT_MS: i64 = 30_000;
const _: () = assert!(AOF_ASYNC_DEFAULT_MAX_RECORDS == DEFAULT_MAX_ASYNC_RECORDS);
const _: () = assert!(AOF_ASYNC_DEFAULT_MAX_BYTES == DEFAULT_MAX_ASYNC_BYTES);
const _: () = assert!(AOF_ASYNC_DEFAULT_WAIT_MS as u128 == DEFAULT_ASYNC_WAIT.as_millis());

/// Bounds the asynchronous appends of the log in flight (`aof_append_async` returned,
/// completion not posted yet): at most `max_records` of them, and at most `max_bytes` of
/// their payloads (a single record larger than `max_bytes` still goes through when none is
/// in flight); each at least 1. Past a bound an append asks for a sync at once (whatever
/// the flush policy: a completion is what makes room) and waits for room up to `wait_ms`
/// milliseconds, then fails with `AOF_ERR_WOULD_BLOCK`, having appended nothing; negative
/// or 0: it fails at once (and asks for no sync). The bound keeps a caller that appends
/// faster than the disk syncs from growing memory without limit; it counts appends until
/// their completion is posted, so completions posted and not taken yet (by `aof_cq_poll`
/// or the callback) are outside it: drain the queue. Defaults:
/// `AOF_ASYNC_DEFAULT_MAX_RECORDS` (65,536), `AOF_ASYNC_DEFAULT_MAX_BYTES` (64 MiB),
/// `AOF_ASYNC_DEFAULT_WAIT_MS` (30 s). A bound of 0: `AOF_ERR_INVALID_ARG`, options
/// unchanged. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_options_set_async_limits(
    options: *mut aof_options_t,
    max_records: u64,
    max_bytes: u64,
    wait_ms: i64,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        with_options("aof_options_set_async_limits", options, |o| {
            let limits = AsyncLimits {
                max_records,
                max_bytes,
                wait: wait_from_ms(wait_ms),
            };
            limits.validate()?;
            o.async_limits = limits;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::ffi::status::{AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG};

    #[test]
    fn setters_check_ranges_and_leave_options_unchanged_on_error() {
        let mut o: *mut aof_options_t = ptr::null_mut();
        // SAFETY: every call gets the live handle created here, freed at the end.
        unsafe {
            assert_eq!(aof_options_new(&mut o), AOF_OK);
            assert!(!o.is_null());
            assert_eq!((*o).inner, Options::default());

            assert_eq!(aof_options_set_segment_size(o, 4095), AOF_ERR_INVALID_ARG);
            assert_eq!(aof_options_set_segment_size(o, 1 << 16), AOF_OK);
            assert_eq!(
                aof_options_set_segment_size(o, MAX_SEGMENT_SIZE + 1),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner.segment_size, 1 << 16);

            assert_eq!(aof_options_set_max_record_size(o, 0), AOF_ERR_INVALID_ARG);
            assert_eq!(
                aof_options_set_max_record_size(o, 1 << 32),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner.max_record_size, None);
            assert_eq!((*o).inner.record_limit(), (1 << 16) - 160);
            assert_eq!(aof_options_set_max_record_size(o, 1000), AOF_OK);
            assert_eq!((*o).inner.max_record_size, Some(1000));
            assert_eq!((*o).inner.record_limit(), 1000);

            assert_eq!(
                aof_options_set_flush_policy(o, 9, 0, 0),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 0, 5),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_options_set_flush_policy(o, AOF_FLUSH_PERIODIC, 5, 0),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner.flush, FlushPolicy::Sync);
            assert_eq!(
                aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED_OR_PERIODIC, 8, 20),
                AOF_OK
            );
            assert_eq!(
                (*o).inner.flush,
                FlushPolicy::BatchedOrPeriodic {
                    records: 8,
                    interval: Duration::from_millis(20)
                }
            );

            assert_eq!(
                aof_options_set_preallocate_threshold(o, 101),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_options_set_preallocate_threshold(o, 256),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(aof_options_set_preallocate_threshold(o, 0), AOF_OK);

            assert_eq!(
                aof_options_set_zero_ahead(o, MAX_ZERO_AHEAD + 1),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(aof_options_set_zero_ahead(o, 0), AOF_OK);
            assert_eq!((*o).inner.zero_ahead, 0);

            let defaults = crate::Tiering::default();
            assert_eq!(
                (
                    AOF_TIER_DEFAULT_COMPRESSION_LEVEL,
                    AOF_TIER_DEFAULT_FRAME_SIZE
                ),
                (defaults.compression_level, defaults.frame_size)
            );
            assert_eq!(
                aof_options_set_tiering(o, 2, 0, 23, AOF_TIER_DEFAULT_FRAME_SIZE),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_options_set_tiering(o, 2, 0, 3, 4095),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_options_set_tiering(o, 2, 0, 3, (64 << 20) + 1),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner.tiering, defaults);
            assert_eq!(aof_options_set_tiering(o, 2, 1500, -5, 4096), AOF_OK);
            assert_eq!(
                (*o).inner.tiering,
                crate::Tiering {
                    compress_after_segments: Some(2),
                    compress_after_age: Some(Duration::from_millis(1500)),
                    compression_level: -5,
                    frame_size: 4096,
                    archive_after_segments: None,
                }
            );
            assert_eq!(aof_options_set_tiering(o, 0, 0, 19, 64 << 20), AOF_OK);
            assert!(!(*o).inner.tiering.compresses());
            assert_eq!(aof_options_set_archive_after(o, 3), AOF_OK);
            assert_eq!((*o).inner.tiering.archive_after_segments, Some(3));
            // The warm tier's setter keeps it; 0 turns it off.
            assert_eq!(aof_options_set_tiering(o, 0, 0, 19, 64 << 20), AOF_OK);
            assert_eq!((*o).inner.tiering.archive_after_segments, Some(3));
            assert_eq!(aof_options_set_archive_after(o, 0), AOF_OK);
            assert_eq!((*o).inner.tiering.archive_after_segments, None);
            assert_eq!(
                aof_options_set_archive_after(ptr::null_mut(), 1),
                AOF_ERR_NULL_ARG
            );

            assert_eq!(aof_options_set_visibility(o, 2), AOF_ERR_INVALID_ARG);
            assert_eq!(
                aof_options_set_visibility(o, AOF_VISIBILITY_DURABLE),
                AOF_OK
            );
            assert_eq!((*o).inner.visibility, Visibility::Durable);

            assert_eq!(
                aof_options_set_visibility(ptr::null_mut(), 0),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(aof_options_new(ptr::null_mut()), AOF_ERR_NULL_ARG);
            aof_options_free(o);
            aof_options_free(ptr::null_mut());
        }
    }
}
