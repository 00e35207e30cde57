//! Counters of one log, updated with relaxed atomics on the hot path and copied out as a
//! snapshot. Latency histograms (HDR) come in a later issue and slot in beside these.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::sync::Padded;

/// A point-in-time copy of a log's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Records appended (single and batched).
    pub appends: u64,
    /// Payload bytes appended.
    pub append_bytes: u64,
    /// `append_batch` calls.
    pub batches: u64,
    /// `write` system calls that moved buffered records into segment files.
    pub write_calls: u64,
    /// `fdatasync` calls on segment files (group commit makes this far below `appends`).
    pub syncs: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segments sealed with a footer.
    pub segments_sealed: u64,
    /// Records returned by `read` and by cursors. A cursor adds its records every 1024, when
    /// it reaches the end of the visible records, and when it is dropped.
    pub reads: u64,
    /// Payload bytes returned by `read` and by cursors.
    pub read_bytes: u64,
    /// Highest id appended (0: none).
    pub last_id: u64,
    /// Highest id known durable (0: none).
    pub durable_id: u64,
    /// Segment files the log holds now.
    pub segment_count: u64,
    /// Records scanned by recovery at open.
    pub recovery_scanned_records: u64,
    /// Bytes of a torn or corrupt tail that recovery cut off at open.
    pub recovery_truncated_bytes: u64,
    /// 1 when the log was opened after a clean close (no scan needed), else 0.
    pub recovery_clean_shutdown: u64,
    /// Bytes of zeros written ahead of the writer (`Options::zero_ahead`).
    pub zeroed_bytes: u64,
}

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
