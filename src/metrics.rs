//! Counters of one log, updated with relaxed atomics on the hot path and copied out as a
//! snapshot. Latency histograms (HDR) come in a later issue and slot in beside these.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::sync::Padded;

/// The metrics of a log, declared once: for each, its doc, its name and the version of
/// the C struct `aof_metrics_t` that added it. Fields are only ever appended (the C struct
/// grows by the caller's `sizeof`), so versions never decrease down the list.
///
/// `metrics_list!(then)` calls the macro `then!` with the list, as
/// `$( $(#[doc])* name: version, )*`. Generated from it: [`MetricsSnapshot`],
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
            appends: 1,
            /// Payload bytes appended.
            append_bytes: 1,
            /// `append_batch` calls.
            batches: 1,
            /// `write` system calls that moved buffered records into segment files.
            write_calls: 1,
            /// `fdatasync` calls on segment files (group commit makes this far below
            /// `appends`).
            syncs: 1,
            /// Segment files created.
            segments_created: 1,
            /// Segments sealed with a footer.
            segments_sealed: 1,
            /// Records returned by `read` and by cursors. A cursor adds its records every
            /// 1024, when it reaches the end of the visible records, and when it is dropped.
            reads: 1,
            /// Payload bytes returned by `read` and by cursors.
            read_bytes: 1,
            /// Highest id appended (0: none).
            last_id: 1,
            /// Highest id known durable (0: none).
            durable_id: 1,
            /// Segment files the log holds now.
            segment_count: 1,
            /// Records scanned by recovery at open.
            recovery_scanned_records: 1,
            /// Bytes of a torn or corrupt tail that recovery cut off at open.
            recovery_truncated_bytes: 1,
            /// 1 when the log was opened after a clean close (no scan needed), else 0.
            recovery_clean_shutdown: 1,
            /// Bytes of zeros written ahead of the writer (`Options::zero_ahead`).
            zeroed_bytes: 2,
            /// Segments removed by retention or `truncate_before`.
            segments_deleted: 3,
            /// Oldest id the log still holds (raised by retention; 1 before).
            first_id: 3,
            /// Sealed segments compressed into the warm tier.
            segments_compressed: 4,
            /// Bytes of segment files compressed (their full size).
            compress_bytes_in: 4,
            /// Bytes of the compressed files written for them.
            compress_bytes_out: 4,
            /// Moves between tiers that failed in the background before anything was
            /// recorded (nothing changed; tried again later). `Log::last_tier_error` says
            /// why.
            tier_failures: 4,
            /// Pins of sealed segment files found mapped in the hot cache. The hot and frame
            /// cache counters are those of the caches the log shares (its manager's, or its own
            /// when opened alone).
            hot_hits: 4,
            /// Pins of sealed segment files that had to map them (or wait for another
            /// reader's map: single flight).
            hot_misses: 4,
            /// Maps dropped from the hot cache to make room.
            hot_evictions: 4,
            /// Bytes the hot cache holds now (maps and offset indexes, pinned or not).
            hot_bytes: 4,
            /// Frames of compressed segments found decompressed in the frame cache.
            frame_hits: 4,
            /// Frames that had to be decompressed (or waited for).
            frame_misses: 4,
            /// Frames dropped from the frame cache to make room.
            frame_evictions: 4,
            /// Bytes the frame cache holds now.
            frame_bytes: 4,
            /// Sealed segment files (plain or compressed) this log opened for readers since
            /// it was opened: a map evicted and needed again counts again.
            files_opened: 4,
            /// Segments uploaded to the archive, verified, and recorded as archived.
            segments_archived: 4,
            /// Bytes of the compressed files archived.
            archive_bytes_out: 4,
            /// Objects of this log in the archive that no entry referred to, deleted.
            archive_orphans_removed: 4,
            /// Times an append found the archive behind its bounds (it waited, or failed
            /// with `WouldBlock`).
            backpressure_waits: 4,
            /// Upload requests (single puts and parts). The archive counters from here on are
            /// those of the manager's archive client (all its logs together).
            archive_uploads: 4,
            /// Ranged and whole reads of archived objects.
            archive_gets: 4,
            /// Bytes downloaded from the archive.
            archive_bytes_in: 4,
            /// Archive requests that failed (each try).
            archive_failures: 4,
            /// Archive requests retried after a failure.
            archive_retries: 4,
            /// The archive's circuit breaker: 0 closed, 1 open (requests fail at once), 2
            /// half-open (one probe allowed).
            archive_breaker: 4,
            /// Sealed segments of this log waiting to be archived (0 if it does not archive).
            archive_pending: 4,
            /// Asynchronous appends (`append_async`, `append_notify`) that returned a record id.
            async_appends: 5,
            /// Their completions posted so far (durable, poisoned or closed).
            async_completed: 5,
            /// Asynchronous appends in flight now (appended, completion not posted yet).
            async_in_flight: 5,
            /// Times an asynchronous append found the in-flight bound reached (it waited, or
            /// failed with `WouldBlock`).
            async_full: 5,
        }
    };
}
pub(crate) use metrics_list;

/// Generates [`MetricsSnapshot`] from [`metrics_list!`].
macro_rules! snapshot_struct {
    ($( $(#[$doc:meta])* $name:ident: $version:literal, )*) => {
        /// A point-in-time copy of a log's counters.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct MetricsSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl MetricsSnapshot {
            /// The number of metrics.
            pub const COUNT: usize = [$(stringify!($name)),*].len();

            /// Every metric as `(name, value)`, in the order of the list (and of the C
            /// struct).
            pub fn fields(&self) -> [(&'static str, u64); Self::COUNT] {
                [$((stringify!($name), self.$name)),*]
            }

            /// A snapshot whose metrics are 1, 2, 3, ... in list order.
            #[cfg(test)]
            pub(crate) fn numbered() -> Self {
                let mut n = 0;
                MetricsSnapshot {
                    $($name: {
                        n += 1;
                        n
                    },)*
                }
            }
        }
    };
}
metrics_list!(snapshot_struct);

/// The live counters, each on its own cache lines: appenders, the flusher and readers
/// update different ones at the same time.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub write_calls: Padded<AtomicU64>,
    pub syncs: Padded<AtomicU64>,
    pub segments_created: Padded<AtomicU64>,
    pub segments_sealed: Padded<AtomicU64>,
    reads: [Padded<ReadCounter>; READ_SHARDS],
    pub zeroed_bytes: Padded<AtomicU64>,
    pub segments_deleted: Padded<AtomicU64>,
    pub segments_compressed: AtomicU64,
    pub compress_bytes_in: AtomicU64,
    pub compress_bytes_out: AtomicU64,
    pub tier_failures: AtomicU64,
    pub segments_archived: AtomicU64,
    pub archive_bytes_out: AtomicU64,
    pub archive_orphans_removed: AtomicU64,
    pub backpressure_waits: AtomicU64,
    pub async_appends: Padded<AtomicU64>,
    pub async_full: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// Counts `records` records read, `bytes` payload bytes in all. Readers on different
    /// threads count on different cache lines: a shared counter bounced between readers'
    /// cores cost more than the read itself.
    pub fn add_reads(&self, records: u64, bytes: u64) {
        let shard = &self.reads[read_shard()];
        shard.records.fetch_add(records, Relaxed);
        shard.bytes.fetch_add(bytes, Relaxed);
    }

    /// Copies the counters; the caller fills in the rest (the append counters live under
    /// the log's writer lock).
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            write_calls: self.write_calls.load(Relaxed),
            syncs: self.syncs.load(Relaxed),
            segments_created: self.segments_created.load(Relaxed),
            segments_sealed: self.segments_sealed.load(Relaxed),
            reads: self.reads.iter().map(|s| s.records.load(Relaxed)).sum(),
            read_bytes: self.reads.iter().map(|s| s.bytes.load(Relaxed)).sum(),
            zeroed_bytes: self.zeroed_bytes.load(Relaxed),
            segments_deleted: self.segments_deleted.load(Relaxed),
            segments_compressed: self.segments_compressed.load(Relaxed),
            compress_bytes_in: self.compress_bytes_in.load(Relaxed),
            compress_bytes_out: self.compress_bytes_out.load(Relaxed),
            tier_failures: self.tier_failures.load(Relaxed),
            segments_archived: self.segments_archived.load(Relaxed),
            archive_bytes_out: self.archive_bytes_out.load(Relaxed),
            archive_orphans_removed: self.archive_orphans_removed.load(Relaxed),
            backpressure_waits: self.backpressure_waits.load(Relaxed),
            async_appends: self.async_appends.load(Relaxed),
            async_full: self.async_full.load(Relaxed),
            ..MetricsSnapshot::default()
        }
    }
}

const READ_SHARDS: usize = 8;

#[derive(Debug, Default)]
struct ReadCounter {
    records: AtomicU64,
    bytes: AtomicU64,
}

/// This thread's read-counter shard: threads take shards in turn as they first read.
fn read_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % READ_SHARDS;
    }
    SHARD.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_list_in_order() {
        let names = MetricsSnapshot::default().fields().map(|(name, _)| name);
        assert_eq!(
            names,
            [
                "appends",
                "append_bytes",
                "batches",
                "write_calls",
                "syncs",
                "segments_created",
                "segments_sealed",
                "reads",
                "read_bytes",
                "last_id",
                "durable_id",
                "segment_count",
                "recovery_scanned_records",
                "recovery_truncated_bytes",
                "recovery_clean_shutdown",
                "zeroed_bytes",
                "segments_deleted",
                "first_id",
                "segments_compressed",
                "compress_bytes_in",
                "compress_bytes_out",
                "tier_failures",
                "hot_hits",
                "hot_misses",
                "hot_evictions",
                "hot_bytes",
                "frame_hits",
                "frame_misses",
                "frame_evictions",
                "frame_bytes",
                "files_opened",
                "segments_archived",
                "archive_bytes_out",
                "archive_orphans_removed",
                "backpressure_waits",
                "archive_uploads",
                "archive_gets",
                "archive_bytes_in",
                "archive_failures",
                "archive_retries",
                "archive_breaker",
                "archive_pending",
                "async_appends",
                "async_completed",
                "async_in_flight",
                "async_full",
            ]
        );
        assert_eq!(MetricsSnapshot::COUNT, 46);
        let m = MetricsSnapshot::numbered();
        let values = m.fields().map(|(_, value)| value);
        assert_eq!(values.to_vec(), (1..=46).collect::<Vec<u64>>());
        assert_eq!((m.appends, m.syncs, m.zeroed_bytes), (1, 5, 16));
        let m = MetricsSnapshot {
            reads: 7,
            ..MetricsSnapshot::default()
        };
        assert_eq!(m.fields()[7], ("reads", 7));
    }
}
