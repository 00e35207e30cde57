//! `aof_metrics_t`: a snapshot of a log's counters, in a struct that only ever grows.

use std::mem::{offset_of, size_of};

use std::ffi::c_char;

use super::boundary::{self, Failure, FfiResult, Out};
use super::log::{aof_log_t, lookup};
use super::status::{aof_status_t, AOF_OK};
use crate::MetricsSnapshot;

// Written out for cbindgen, which cannot expand macros; its fields must be those of
// `metrics_list!` (src/metrics.rs), in order, which the checks below enforce at compile
// time. To add a metric: append it to the list and here, with the next struct version.
/// Metrics of one log since it was opened (`recovery_*`: what `aof_open` found): counters,
/// gauges, and from the sixth version the summaries of its distributions (HDR histograms,
/// within 1 %: `<name>_count`, `_sum`, `_min`, `_p50`, `_p90`, `_p99`, `_p999`, `_max`; 0
/// while empty, or with histograms off). Fields are only ever appended in later versions,
/// never reordered or removed; pass `sizeof(aof_metrics_t)` to `aof_metrics`. A binding can
/// list the fields at run time: `aof_metrics_field_count`, `aof_metrics_field_name`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct aof_metrics_t {
    /// Records appended (single and batched).
    pub appends: u64,
    /// Payload bytes appended.
    pub append_bytes: u64,
    /// `aof_append_batch` calls.
    pub batches: u64,
    /// `write` system calls that moved buffered records into segment files.
    pub write_calls: u64,
    /// `fdatasync` calls on segment files (group commit keeps this below `appends`).
    pub syncs: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segments sealed with a footer.
    pub segments_sealed: u64,
    /// Records returned by `aof_read` and by cursors. A cursor adds its records every 1024,
    /// when it reaches the end of the visible records, and when it is freed.
    pub reads: u64,
    /// Payload bytes returned by `aof_read` and by cursors.
    pub read_bytes: u64,
    /// Highest id appended (0: none).
    pub last_id: u64,
    /// Highest id known durable (0: none).
    pub durable_id: u64,
    /// Segment files the log holds now.
    pub segment_count: u64,
    /// Records scanned by recovery when the log was opened.
    pub recovery_scanned_records: u64,
    /// Bytes of a torn or corrupt tail that recovery cut off when the log was opened.
    pub recovery_truncated_bytes: u64,
    /// 1 when the log was opened after a clean close (no scan needed), else 0.
    pub recovery_clean_shutdown: u64,
    /// Bytes of zeros written ahead of the writer (`aof_options_set_zero_ahead`). Since
    /// 0.1 (second version of this struct, 128 bytes).
    pub zeroed_bytes: u64,
    /// Segments removed by retention or `aof_truncate_before`. Since the third version of
    /// this struct (144 bytes).
    pub segments_deleted: u64,
    /// Oldest id the log still holds (raised by retention; 1 before). Third version.
    pub first_id: u64,
    /// Sealed segments compressed into the warm tier. Since the fourth version of this
    /// struct (336 bytes).
    pub segments_compressed: u64,
    /// Bytes of segment files compressed (their full size). Fourth version.
    pub compress_bytes_in: u64,
    /// Bytes of the compressed files written for them. Fourth version.
    pub compress_bytes_out: u64,
    /// Moves between tiers that failed in the background before anything was recorded
    /// (nothing changed; tried again later). Fourth version.
    pub tier_failures: u64,
    /// Pins of sealed segment files found mapped in the hot cache. The hot and frame
    /// cache counters are those of the caches the log shares: its manager's (all its logs
    /// together), or its own when opened alone. Fourth version.
    pub hot_hits: u64,
    /// Pins of sealed segment files that had to map them. Fourth version.
    pub hot_misses: u64,
    /// Maps dropped from the hot cache to make room. Fourth version.
    pub hot_evictions: u64,
    /// Bytes the hot cache holds now (maps and offset indexes). Fourth version.
    pub hot_bytes: u64,
    /// Frames of compressed segments found in the frame cache. Fourth version.
    pub frame_hits: u64,
    /// Frames that had to be decompressed. Fourth version.
    pub frame_misses: u64,
    /// Frames dropped from the frame cache to make room. Fourth version.
    pub frame_evictions: u64,
    /// Bytes the frame cache holds now. Fourth version.
    pub frame_bytes: u64,
    /// Sealed segment files (plain or compressed) this log opened for readers since it
    /// was opened: a map evicted and needed again counts again. Fourth version.
    pub files_opened: u64,
    /// Segments uploaded to the archive, verified and recorded as archived. Fourth
    /// version.
    pub segments_archived: u64,
    /// Bytes of the compressed files archived. Fourth version.
    pub archive_bytes_out: u64,
    /// Objects of this log in the archive that no entry referred to, deleted.
    /// Fourth version.
    pub archive_orphans_removed: u64,
    /// Times an append found the archive behind its bounds (it waited, or failed with
    /// `AOF_ERR_WOULD_BLOCK`). Fourth version.
    pub backpressure_waits: u64,
    /// Upload requests (single puts and parts). The archive counters from here on are
    /// those of the manager's archive client (all its logs together). Fourth version.
    pub archive_uploads: u64,
    /// Ranged and whole reads of archived objects. Fourth version.
    pub archive_gets: u64,
    /// Bytes downloaded from the archive. Fourth version.
    pub archive_bytes_in: u64,
    /// Archive requests that failed (each try). Fourth version.
    pub archive_failures: u64,
    /// Archive requests retried after a failure. Fourth version.
    pub archive_retries: u64,
    /// The archive's circuit breaker: 0 closed, 1 open (requests fail at once), 2
    /// half-open (one probe allowed). Fourth version.
    pub archive_breaker: u64,
    /// Sealed segments of this log waiting to be archived (0 if it does not archive).
    /// Fourth version.
    pub archive_pending: u64,
    /// Asynchronous appends (`aof_append_async`) that returned a record id. Since the fifth
    /// version of this struct (0.1, 368 bytes).
    pub async_appends: u64,
    /// Their completions posted so far (durable, poisoned or closed). Fifth version.
    pub async_completed: u64,
    /// Asynchronous appends in flight now (appended, completion not posted yet). Fifth
    /// version.
    pub async_in_flight: u64,
    /// Times an asynchronous append found the in-flight bound reached (it waited, or
    /// returned `AOF_ERR_WOULD_BLOCK`). Fifth version.
    pub async_full: u64,
    /// Syncs made by `flush`, `close` and a seal (the caller asked for durability). Since the
    /// sixth version of this struct (0.1, 1024 bytes).
    pub flushes_forced: u64,
    /// Background syncs started by the timer of `Periodic` or `BatchedOrPeriodic`. Sixth
    /// version.
    pub flushes_periodic: u64,
    /// Background syncs started because records were waiting (`Batched`, `Async`, or an
    /// asynchronous append waiting for room). Sixth version.
    pub flushes_batched: u64,
    /// Group-commit rounds led for `Sync` appends (blocking, or asynchronous through the sync
    /// driver). Sixth version.
    pub flushes_sync: u64,
    /// Syncs that failed (each poisons the log). Sixth version.
    pub flushes_failed: u64,
    /// Records made durable by syncs (the durable id's advance). Sixth version.
    pub records_flushed: u64,
    /// Payload bytes made durable by syncs. Sixth version.
    pub bytes_flushed: u64,
    /// Records appended and not durable yet. Sixth version.
    pub pending_records: u64,
    /// Payload bytes appended and not durable yet. Sixth version.
    pub pending_bytes: u64,
    /// Damaged bytes found: each read that failed with `AOF_ERR_CORRUPTION`, and each
    /// damaged range a verification reported. Sixth version.
    pub corruption_detected: u64,
    /// Latency of an append call, in nanoseconds: from the call to its return (under
    /// `AOF_FLUSH_SYNC`, durable). Every append under `AOF_FLUSH_SYNC`; otherwise (appends
    /// that only buffer, and asynchronous ones) every 8th of each thread, so that timing
    /// costs no throughput. Its values recorded (each distribution: count, sum, min, p50,
    /// p90, p99, p999, max). Sixth version.
    pub append_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub append_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub append_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub append_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub append_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub append_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub append_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub append_latency_ns_max: u64,
    /// Duration of each `fdatasync` of a segment file (and of a seal's), in nanoseconds. Its
    /// values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth
    /// version.
    pub sync_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub sync_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub sync_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub sync_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub sync_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub sync_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub sync_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub sync_latency_ns_max: u64,
    /// Records made durable by each sync. Its values recorded (each distribution: count, sum,
    /// min, p50, p90, p99, p999, max). Sixth version.
    pub sync_records_count: u64,
    /// Its sum of the values. Sixth version.
    pub sync_records_sum: u64,
    /// Its least value. Sixth version.
    pub sync_records_min: u64,
    /// Its median. Sixth version.
    pub sync_records_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub sync_records_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub sync_records_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub sync_records_p999: u64,
    /// Its greatest value. Sixth version.
    pub sync_records_max: u64,
    /// Payload bytes made durable by each sync. Its values recorded (each distribution: count,
    /// sum, min, p50, p90, p99, p999, max). Sixth version.
    pub sync_bytes_count: u64,
    /// Its sum of the values. Sixth version.
    pub sync_bytes_sum: u64,
    /// Its least value. Sixth version.
    pub sync_bytes_min: u64,
    /// Its median. Sixth version.
    pub sync_bytes_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub sync_bytes_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub sync_bytes_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub sync_bytes_p999: u64,
    /// Its greatest value. Sixth version.
    pub sync_bytes_max: u64,
    /// Latency of `read` (by id), in nanoseconds. Its values recorded (each distribution:
    /// count, sum, min, p50, p90, p99, p999, max). Sixth version.
    pub read_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub read_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub read_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub read_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub read_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub read_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub read_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub read_latency_ns_max: u64,
    /// Writer to tailing reader, in nanoseconds: from a record's append (its timestamp) to a
    /// cursor that waited at the tail returning it (microsecond resolution: record
    /// timestamps are in microseconds). Its values recorded (each distribution: count, sum,
    /// min, p50, p90, p99, p999, max). Sixth version.
    pub tail_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub tail_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub tail_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub tail_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub tail_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub tail_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub tail_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub tail_latency_ns_max: u64,
    /// Asynchronous append to its completion being posted, in nanoseconds. Its values recorded
    /// (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth version.
    pub completion_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub completion_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub completion_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub completion_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub completion_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub completion_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub completion_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub completion_latency_ns_max: u64,
    /// Archive uploads (each object, all its parts), in nanoseconds (the manager's archive
    /// client). Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999,
    /// max). Sixth version.
    pub upload_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub upload_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub upload_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub upload_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub upload_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub upload_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub upload_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub upload_latency_ns_max: u64,
    /// Archive read requests, in nanoseconds (the manager's archive client). Its values
    /// recorded (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth version.
    pub download_latency_ns_count: u64,
    /// Its sum of the values. Sixth version.
    pub download_latency_ns_sum: u64,
    /// Its least value. Sixth version.
    pub download_latency_ns_min: u64,
    /// Its median. Sixth version.
    pub download_latency_ns_p50: u64,
    /// Its 90th percentile. Sixth version.
    pub download_latency_ns_p90: u64,
    /// Its 99th percentile. Sixth version.
    pub download_latency_ns_p99: u64,
    /// Its 99.9th percentile. Sixth version.
    pub download_latency_ns_p999: u64,
    /// Its greatest value. Sixth version.
    pub download_latency_ns_max: u64,
}

// Generated from `metrics_list!`: the conversion from the snapshot and the layout checks.
macro_rules! c_struct_from_list {
    ($( $(#[doc = $doc:literal])* $name:ident: $version:literal $kind:ident, )*) => {
        /// A struct literal naming every listed field: it compiles only if `aof_metrics_t`
        /// has exactly the listed fields, each a `u64`.
        impl From<MetricsSnapshot> for aof_metrics_t {
            fn from(m: MetricsSnapshot) -> Self {
                aof_metrics_t {
                    $($name: m.$name,)*
                }
            }
        }

        /// Each listed field's offset in `aof_metrics_t` and the struct version that added
        /// it, in list order.
        const LAYOUT: [(usize, u32); MetricsSnapshot::COUNT] =
            [$((offset_of!(aof_metrics_t, $name), $version),)*];
    };
}
crate::metrics::metrics_list!(c_struct_from_list);

// The C struct is the list, in order, 8 bytes per field, and nothing more; versions start
// at 1 and never decrease (fields are only appended).
const _: () = {
    let mut i = 0;
    while i < LAYOUT.len() {
        assert!(
            LAYOUT[i].0 == 8 * i,
            "aof_metrics_t: fields must lie at 0, 8, 16, ... in the order of metrics_list!"
        );
        assert!(
            LAYOUT[i].1 >= if i == 0 { 1 } else { LAYOUT[i - 1].1 },
            "metrics_list!: versions start at 1 and never decrease"
        );
        i += 1;
    }
    assert!(
        size_of::<aof_metrics_t>() == 8 * LAYOUT.len(),
        "aof_metrics_t: bytes beyond the fields of metrics_list!"
    );
};

/// Size of the first version of `aof_metrics_t`: the smallest `out_size` accepted.
pub(crate) const METRICS_V1_SIZE: usize = size_of_version(1);

/// Size of version `version` of `aof_metrics_t`: 8 bytes per field it had.
const fn size_of_version(version: u32) -> usize {
    let mut n = 0;
    while n < LAYOUT.len() && LAYOUT[n].1 <= version {
        n += 1;
    }
    8 * n
}

/// Copies a snapshot of the log's counters into `*out`. Pass `out_size = sizeof(aof_metrics_t)`
/// as your program was compiled: a library newer than the header fills only the fields the
/// program knows; an older one fills those it has and sets the rest of `out_size` to 0.
/// `out_size` below the first version's size (120 bytes) or not a multiple of 8:
/// `AOF_ERR_INVALID_ARG`.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out`), `AOF_ERR_INVALID_ARG` (`out_size`
/// below 120 or not a multiple of 8; not a log handle), `AOF_ERR_CLOSED`.
///
/// # Safety
/// `out` must be NULL or point to `out_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn aof_metrics(
    log: *const aof_log_t,
    out: *mut aof_metrics_t,
    out_size: usize,
) -> aof_status_t {
    boundary::guard("aof_metrics", || {
        // NULLs, then the handle, then the size.
        if out.is_null() {
            return Err(Failure::null_arg("out"));
        }
        let log = lookup(log)?;
        if out_size < METRICS_V1_SIZE || !out_size.is_multiple_of(8) {
            return Err(Failure::invalid(format!(
                "out_size {out_size} must be a multiple of 8 and at least {METRICS_V1_SIZE} \
                 (pass sizeof(aof_metrics_t))"
            )));
        }
        let snapshot = aof_metrics_t::from(log.metrics());
        let n = out_size.min(size_of::<aof_metrics_t>());
        let dst = out.cast::<u8>();
        // SAFETY: `out` has `out_size` writable bytes per the caller's contract and
        // `n <= out_size`; the source is a local, so the ranges do not overlap. Bytes are
        // copied, so the caller's alignment does not matter.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const snapshot).cast::<u8>(), dst, n);
            if out_size > n {
                std::ptr::write_bytes(dst.add(n), 0, out_size - n);
            }
        }
        Ok(AOF_OK)
    })
}

/// Renders the log's metrics in the Prometheus text exposition format (version 0.0.4) into
/// `buf`, NUL-terminated, for a host program to serve on its own `/metrics` endpoint. Every
/// sample has a `log` label: the log's name under a manager, else its directory. Counters
/// are `aof_<field>_total`, gauges `aof_<field>`; each distribution is a summary
/// (`quantile` 0 = min, 0.5, 0.9, 0.99, 0.999, 1 = max, plus `_sum` and `_count`), in
/// seconds for the `*_ns` ones. `*out_len` receives the bytes needed, NUL included, whether
/// or not they fit; `AOF_ERR_BUFFER_TOO_SMALL` if they do not (call again with a larger
/// buffer; a few more bytes may be needed by then as values grow). `buf` may be NULL with
/// `buf_len` 0 to ask for the size.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`log`, `out_len`, `buf` with `buf_len` > 0),
/// `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_CLOSED`, `AOF_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_metrics_prometheus(
    log: *const aof_log_t,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_metrics_prometheus", || {
        if log.is_null() {
            return Err(Failure::null_arg("log"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let text = lookup(log)?.prometheus();
        // SAFETY: the caller's contracts for `buf` (NULL only with `buf_len` 0, checked
        // above) and `out_len`.
        unsafe { copy_text_out(text, buf, buf_len, out_len) }
    })
}

/// `text` as a C string into the caller's buffer (see `aof_metrics_prometheus`).
///
/// # Safety
/// As for [`boundary::copy_out`].
pub(crate) unsafe fn copy_text_out(
    text: String,
    buf: *mut c_char,
    buf_len: usize,
    out_len: Out<usize>,
) -> FfiResult {
    let mut bytes = text.into_bytes();
    bytes.push(0);
    // SAFETY: the caller's contract.
    unsafe {
        boundary::copy_out(&bytes, buf, buf_len, out_len, |needed| {
            format!("the text needs {needed} bytes; the buffer holds {buf_len}")
        })
    }
}

/// Forgets the log's distributions (every `*_count` ... `*_max` field except the archive's,
/// which belong to its manager), so that the next snapshot reports the interval since
/// this call. Counters are never reset: take differences between snapshots.
///
/// Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG` (not a log handle),
/// `AOF_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn aof_metrics_reset(log: *mut aof_log_t) -> aof_status_t {
    boundary::guard("aof_metrics_reset", || {
        lookup(log)?.reset_histograms();
        Ok(AOF_OK)
    })
}

/// The number of `uint64_t` fields of `aof_metrics_t` this library fills (its size is 8
/// times that): a binding may size its buffer from it and name the fields with
/// `aof_metrics_field_name`, without a copy of the struct.
#[no_mangle]
pub extern "C" fn aof_metrics_field_count() -> usize {
    boundary::guard_value("aof_metrics_field_count", 0, || MetricsSnapshot::COUNT)
}

/// The name of field `index` of `aof_metrics_t` (its C identifier, e.g. `"appends"`), a
/// static NUL-terminated string; NULL if `index` is not below `aof_metrics_field_count()`.
#[no_mangle]
pub extern "C" fn aof_metrics_field_name(index: usize) -> *const c_char {
    boundary::guard_value("aof_metrics_field_name", std::ptr::null(), || {
        FIELD_NAMES
            .get(index)
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// The field names as C strings, made once.
static FIELD_NAMES: std::sync::LazyLock<Vec<std::ffi::CString>> = std::sync::LazyLock::new(|| {
    MetricsSnapshot::NAMES
        .iter()
        .map(|n| std::ffi::CString::new(*n).expect("field names have no NUL"))
        .collect()
});

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;
    use crate::ffi::status::{AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG};

    #[test]
    fn v1_layout() {
        assert_eq!(METRICS_V1_SIZE, 15 * 8);
        assert_eq!(
            METRICS_V1_SIZE,
            offset_of!(aof_metrics_t, recovery_clean_shutdown) + 8
        );
        assert_eq!(size_of_version(2), 16 * 8);
        assert_eq!(size_of_version(3), 18 * 8);
        assert_eq!(size_of_version(4), 42 * 8);
        assert_eq!(size_of_version(5), 46 * 8);
        assert_eq!(size_of_version(6), 128 * 8);
        assert_eq!(size_of_version(6), size_of::<aof_metrics_t>());
        assert_eq!(size_of::<aof_metrics_t>() % 8, 0);
        assert!(size_of::<aof_metrics_t>() >= METRICS_V1_SIZE);
    }

    #[test]
    fn the_c_struct_holds_the_list_in_order() {
        let c = aof_metrics_t::from(MetricsSnapshot::numbered());
        // SAFETY: `aof_metrics_t` is `repr(C)`, all `u64`, `8 * COUNT` bytes (checked at
        // compile time), so it is readable as that many `u64`s.
        let words: [u64; MetricsSnapshot::COUNT] = unsafe { std::mem::transmute(c) };
        let expected = MetricsSnapshot::numbered().fields().map(|(_, v)| v);
        assert_eq!(words, expected);
        assert_eq!(
            (c.appends, c.recovery_clean_shutdown, c.zeroed_bytes),
            (1, 15, 16)
        );
    }

    #[test]
    fn nulls_then_the_handle_then_the_size() {
        use crate::ffi::log::{aof_close, aof_open};
        use crate::ffi::status::AOF_ERR_CLOSED;

        let dir = tempfile::tempdir().unwrap();
        let path =
            std::ffi::CString::new(dir.path().join("log").into_os_string().into_vec()).unwrap();
        let mut log = std::ptr::null_mut();
        // SAFETY: a C string, NULL options, a writable out-param.
        let status = unsafe { aof_open(path.as_ptr(), std::ptr::null(), &mut log) };
        assert_eq!(status, AOF_OK);
        let mut m = aof_metrics_t {
            appends: 77,
            ..aof_metrics_t::default()
        };
        // SAFETY: `m` is writable for its size, which every call passes or undercuts; the
        // failing calls write nothing.
        unsafe {
            // A live handle: a bad size is the error.
            assert_eq!(aof_metrics(log, &mut m, 119), AOF_ERR_INVALID_ARG);
            assert_eq!(aof_metrics(log, &mut m, 124), AOF_ERR_INVALID_ARG);
            assert_eq!(aof_metrics(log, &mut m, 0), AOF_ERR_INVALID_ARG);
            assert_eq!(m.appends, 77);
            assert_eq!(aof_metrics(log, &mut m, size_of::<aof_metrics_t>()), AOF_OK);
            assert_eq!(m.appends, 0);
            assert_eq!(aof_close(log), AOF_OK);
            m.appends = 77;
            // A closed handle comes before the size...
            assert_eq!(aof_metrics(log, &mut m, 119), AOF_ERR_CLOSED);
            assert_eq!(aof_metrics(log, &mut m, 0), AOF_ERR_CLOSED);
            assert_eq!(
                aof_metrics(log, &mut m, size_of::<aof_metrics_t>()),
                AOF_ERR_CLOSED
            );
            // ...and a NULL `out` or handle before both.
            assert_eq!(
                aof_metrics(log, std::ptr::null_mut(), 119),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                aof_metrics(std::ptr::null(), std::ptr::null_mut(), 119),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(aof_metrics(std::ptr::null(), &mut m, 119), AOF_ERR_NULL_ARG);
            // A value that was never a handle is not a closed one.
            let bogus = std::ptr::without_provenance::<aof_log_t>(usize::MAX - 7);
            assert_eq!(aof_metrics(bogus, &mut m, 119), AOF_ERR_INVALID_ARG);
            assert_eq!(
                aof_metrics(bogus, std::ptr::null_mut(), 119),
                AOF_ERR_NULL_ARG
            );
        }
        assert_eq!(m.appends, 77);
    }
}
