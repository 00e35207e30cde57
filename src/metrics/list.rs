//! The list of a log's metrics, from which the snapshot, the C struct's checks and the
//! Prometheus names are generated.

/// The metrics of a log, declared once: for each, its doc, its name and the version of
/// the C struct `aof_metrics_t` that added it. Fields are only ever appended (the C struct
/// grows by the caller's `sizeof`), so versions never decrease down the list.
///
/// `metrics_list!(then)` calls the macro `then!` with the list, as
/// `$( $(#[doc])* name: version kind, )*` (kind: `counter`, `gauge` or `summary`, see
/// [`MetricKind`]). Generated from it: [`MetricsSnapshot`],
/// [`MetricsSnapshot::fields`] and [`MetricsSnapshot::COUNT`] here; in `ffi::metrics`, the
/// conversion to `aof_metrics_t` and compile-time checks that the C struct (which cbindgen
/// must see written out) has exactly these fields, at offsets 0, 8, 16, ... in this order.
/// A new metric is added here, at the end, with the next version of the C struct, and to
/// `aof_metrics_t` (the build fails until both agree); [`Metrics::snapshot`] or
/// `Log::metrics` fills it in.
macro_rules! metrics_list {
    ($then:ident) => {
        $then! {
            /// Records appended (single and batched).
            appends: 1 counter,
            /// Payload bytes appended.
            append_bytes: 1 counter,
            /// `append_batch` calls.
            batches: 1 counter,
            /// `write` system calls that moved buffered records into segment files.
            write_calls: 1 counter,
            /// `fdatasync` calls on segment files (group commit makes this far below
            /// `appends`).
            syncs: 1 counter,
            /// Segment files created.
            segments_created: 1 counter,
            /// Segments sealed with a footer.
            segments_sealed: 1 counter,
            /// Records returned by `read` and by cursors. A cursor adds its records every
            /// 1024, when it reaches the end of the visible records, and when it is dropped.
            reads: 1 counter,
            /// Payload bytes returned by `read` and by cursors.
            read_bytes: 1 counter,
            /// Highest id appended (0: none).
            last_id: 1 gauge,
            /// Highest id known durable (0: none).
            durable_id: 1 gauge,
            /// Segment files the log holds now.
            segment_count: 1 gauge,
            /// Records scanned by recovery at open.
            recovery_scanned_records: 1 gauge,
            /// Bytes of a torn or corrupt tail that recovery cut off at open.
            recovery_truncated_bytes: 1 gauge,
            /// 1 when the log was opened after a clean close (no scan needed), else 0.
            recovery_clean_shutdown: 1 gauge,
            /// Bytes of zeros written ahead of the writer (`Options::zero_ahead`).
            zeroed_bytes: 2 counter,
            /// Segments removed by retention or `truncate_before`.
            segments_deleted: 3 counter,
            /// Oldest id the log still holds (raised by retention; 1 before).
            first_id: 3 gauge,
            /// Sealed segments compressed into the warm tier.
            segments_compressed: 4 counter,
            /// Bytes of segment files compressed (their full size).
            compress_bytes_in: 4 counter,
            /// Bytes of the compressed files written for them.
            compress_bytes_out: 4 counter,
            /// Moves between tiers that failed in the background before anything was
            /// recorded (nothing changed; tried again later). `Log::last_tier_error` says
            /// why.
            tier_failures: 4 counter,
            /// Pins of sealed segment files found mapped in the hot cache. The hot and frame
            /// cache counters are those of the caches the log shares (its manager's, or its own
            /// when opened alone).
            hot_hits: 4 counter,
            /// Pins of sealed segment files that had to map them (or wait for another
            /// reader's map: single flight).
            hot_misses: 4 counter,
            /// Maps dropped from the hot cache to make room.
            hot_evictions: 4 counter,
            /// Bytes the hot cache holds now (maps and offset indexes, pinned or not).
            hot_bytes: 4 gauge,
            /// Frames of compressed segments found decompressed in the frame cache.
            frame_hits: 4 counter,
            /// Frames that had to be decompressed (or waited for).
            frame_misses: 4 counter,
            /// Frames dropped from the frame cache to make room.
            frame_evictions: 4 counter,
            /// Bytes the frame cache holds now.
            frame_bytes: 4 gauge,
            /// Sealed segment files (plain or compressed) this log opened for readers since
            /// it was opened: a map evicted and needed again counts again.
            files_opened: 4 counter,
            /// Segments uploaded to the archive, verified, and recorded as archived.
            segments_archived: 4 counter,
            /// Bytes of the compressed files archived.
            archive_bytes_out: 4 counter,
            /// Objects of this log in the archive that no entry referred to, deleted.
            archive_orphans_removed: 4 counter,
            /// Times an append found the archive behind its bounds (it waited, or failed
            /// with `WouldBlock`).
            backpressure_waits: 4 counter,
            /// Upload requests (single puts and parts). The archive counters from here on are
            /// those of the manager's archive client (all its logs together).
            archive_uploads: 4 counter,
            /// Ranged and whole reads of archived objects.
            archive_gets: 4 counter,
            /// Bytes downloaded from the archive.
            archive_bytes_in: 4 counter,
            /// Archive requests that failed (each try).
            archive_failures: 4 counter,
            /// Archive requests retried after a failure.
            archive_retries: 4 counter,
            /// The archive's circuit breaker: 0 closed, 1 open (requests fail at once), 2
            /// half-open (one probe allowed).
            archive_breaker: 4 gauge,
            /// Sealed segments of this log waiting to be archived (0 if it does not archive).
            archive_pending: 4 gauge,
            /// Asynchronous appends (`append_async`, `append_notify`) that returned a record id.
            async_appends: 5 counter,
            /// Their completions posted so far (durable, poisoned or closed).
            async_completed: 5 counter,
            /// Asynchronous appends in flight now (appended, completion not posted yet).
            async_in_flight: 5 gauge,
            /// Times an asynchronous append found the in-flight bound reached (it waited, or
            /// failed with `WouldBlock`).
            async_full: 5 counter,
            /// Syncs made by `flush`, `close` and a seal (the caller asked for durability).
            flushes_forced: 6 counter,
            /// Background syncs started by the timer of `Periodic` or `BatchedOrPeriodic`.
            flushes_periodic: 6 counter,
            /// Background syncs started because records were waiting (`Batched`, `Async`, or an
            /// asynchronous append waiting for room).
            flushes_batched: 6 counter,
            /// Group-commit rounds led for `Sync` appends (blocking, or asynchronous through the
            /// sync driver).
            flushes_sync: 6 counter,
            /// Syncs that failed (each poisons the log).
            flushes_failed: 6 counter,
            /// Records made durable by syncs (the durable id's advance).
            records_flushed: 6 counter,
            /// Payload bytes made durable by syncs.
            bytes_flushed: 6 counter,
            /// Records appended and not durable yet.
            pending_records: 6 gauge,
            /// Payload bytes appended and not durable yet.
            pending_bytes: 6 gauge,
            /// Damaged bytes found: each read that failed with `Corruption`, and each damaged
            /// range a verification reported.
            corruption_detected: 6 counter,
            /// Latency of an append call, in nanoseconds: from the call to its return (under `Sync`,
            /// durable). Every append under `Sync`; otherwise (appends that only buffer, and
            /// asynchronous ones) every 8th of each thread, so that timing costs no throughput.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            append_latency_ns_count: 6 summary,
            /// Its sum of the values.
            append_latency_ns_sum: 6 summary,
            /// Its least value.
            append_latency_ns_min: 6 summary,
            /// Its median.
            append_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            append_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            append_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            append_latency_ns_p999: 6 summary,
            /// Its greatest value.
            append_latency_ns_max: 6 summary,
            /// Duration of each `fdatasync` of a segment file (and of a seal's), in nanoseconds.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            sync_latency_ns_count: 6 summary,
            /// Its sum of the values.
            sync_latency_ns_sum: 6 summary,
            /// Its least value.
            sync_latency_ns_min: 6 summary,
            /// Its median.
            sync_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            sync_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            sync_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            sync_latency_ns_p999: 6 summary,
            /// Its greatest value.
            sync_latency_ns_max: 6 summary,
            /// Records made durable by each sync.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            sync_records_count: 6 summary,
            /// Its sum of the values.
            sync_records_sum: 6 summary,
            /// Its least value.
            sync_records_min: 6 summary,
            /// Its median.
            sync_records_p50: 6 summary,
            /// Its 90th percentile.
            sync_records_p90: 6 summary,
            /// Its 99th percentile.
            sync_records_p99: 6 summary,
            /// Its 99.9th percentile.
            sync_records_p999: 6 summary,
            /// Its greatest value.
            sync_records_max: 6 summary,
            /// Payload bytes made durable by each sync.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            sync_bytes_count: 6 summary,
            /// Its sum of the values.
            sync_bytes_sum: 6 summary,
            /// Its least value.
            sync_bytes_min: 6 summary,
            /// Its median.
            sync_bytes_p50: 6 summary,
            /// Its 90th percentile.
            sync_bytes_p90: 6 summary,
            /// Its 99th percentile.
            sync_bytes_p99: 6 summary,
            /// Its 99.9th percentile.
            sync_bytes_p999: 6 summary,
            /// Its greatest value.
            sync_bytes_max: 6 summary,
            /// Latency of `read` (by id), in nanoseconds.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            read_latency_ns_count: 6 summary,
            /// Its sum of the values.
            read_latency_ns_sum: 6 summary,
            /// Its least value.
            read_latency_ns_min: 6 summary,
            /// Its median.
            read_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            read_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            read_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            read_latency_ns_p999: 6 summary,
            /// Its greatest value.
            read_latency_ns_max: 6 summary,
            /// Writer to tailing reader, in nanoseconds: from a record's append (its timestamp) to a
            /// cursor that waited at the tail returning it (microsecond resolution: record
            /// timestamps are in microseconds).
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            tail_latency_ns_count: 6 summary,
            /// Its sum of the values.
            tail_latency_ns_sum: 6 summary,
            /// Its least value.
            tail_latency_ns_min: 6 summary,
            /// Its median.
            tail_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            tail_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            tail_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            tail_latency_ns_p999: 6 summary,
            /// Its greatest value.
            tail_latency_ns_max: 6 summary,
            /// Asynchronous append to its completion being posted, in nanoseconds.
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            completion_latency_ns_count: 6 summary,
            /// Its sum of the values.
            completion_latency_ns_sum: 6 summary,
            /// Its least value.
            completion_latency_ns_min: 6 summary,
            /// Its median.
            completion_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            completion_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            completion_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            completion_latency_ns_p999: 6 summary,
            /// Its greatest value.
            completion_latency_ns_max: 6 summary,
            /// Archive uploads (each object, all its parts), in nanoseconds (the manager's
            /// archive client).
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            upload_latency_ns_count: 6 summary,
            /// Its sum of the values.
            upload_latency_ns_sum: 6 summary,
            /// Its least value.
            upload_latency_ns_min: 6 summary,
            /// Its median.
            upload_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            upload_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            upload_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            upload_latency_ns_p999: 6 summary,
            /// Its greatest value.
            upload_latency_ns_max: 6 summary,
            /// Archive read requests, in nanoseconds (the manager's archive client).
            /// Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max).
            download_latency_ns_count: 6 summary,
            /// Its sum of the values.
            download_latency_ns_sum: 6 summary,
            /// Its least value.
            download_latency_ns_min: 6 summary,
            /// Its median.
            download_latency_ns_p50: 6 summary,
            /// Its 90th percentile.
            download_latency_ns_p90: 6 summary,
            /// Its 99th percentile.
            download_latency_ns_p99: 6 summary,
            /// Its 99.9th percentile.
            download_latency_ns_p999: 6 summary,
            /// Its greatest value.
            download_latency_ns_max: 6 summary,
        }
    };
}
pub(crate) use metrics_list;
