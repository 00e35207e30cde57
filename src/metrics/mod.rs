//! The metrics of one log: counters updated with relaxed atomics on the hot path, and
//! distributions (HDR histograms, `histogram`) recorded into stripes; both copied out as
//! one flat snapshot, which `prometheus` renders as text.

mod histogram;
mod list;
pub mod prometheus;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use crate::sync::Padded;
pub(crate) use histogram::Recorder;
pub use histogram::Summary;
pub(crate) use list::metrics_list;

/// What a metric is, for exporters: a count that only rises (until the log reopens), a
/// value that goes up and down, or one part of a distribution's summary (its fields are
/// consecutive: `<name>_count`, `_sum`, `_min`, `_p50`, `_p90`, `_p99`, `_p999`, `_max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Summary,
}

macro_rules! metric_kind {
    (counter) => {
        MetricKind::Counter
    };
    (gauge) => {
        MetricKind::Gauge
    };
    (summary) => {
        MetricKind::Summary
    };
}

/// Generates [`MetricsSnapshot`] from [`metrics_list!`].
macro_rules! snapshot_struct {
    ($( $(#[doc = $doc:literal])* $name:ident: $version:literal $kind:ident, )*) => {
        /// A point-in-time copy of a log's metrics: counters, gauges and the summaries of
        /// its distributions (see [`MetricKind`]).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct MetricsSnapshot {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        impl MetricsSnapshot {
            /// The number of metrics.
            pub const COUNT: usize = [$(stringify!($name)),*].len();

            /// Every metric's name, in list order (the order of the C struct).
            pub const NAMES: [&'static str; Self::COUNT] = [$(stringify!($name)),*];

            /// Every metric's kind, in list order.
            pub const KINDS: [MetricKind; Self::COUNT] = [$(metric_kind!($kind)),*];

            /// Every metric's description (its doc comment), in list order.
            pub const HELP: [&'static str; Self::COUNT] = [$(concat!($($doc, "\n"),*)),*];

            /// Every metric as `(name, value)`, in the order of the list (and of the C
            /// struct).
            pub fn fields(&self) -> [(&'static str, u64); Self::COUNT] {
                [$((stringify!($name), self.$name)),*]
            }

            fn values_mut(&mut self) -> [&mut u64; Self::COUNT] {
                [$(&mut self.$name),*]
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
    /// Syncs by what started them (see [`Trigger`]), and those that failed.
    flushes: [AtomicU64; 4],
    pub flushes_failed: AtomicU64,
    pub corruption_detected: AtomicU64,
    pub hist: Histograms,
}

/// One append in this many has its latency recorded when it does not wait for a sync (see
/// [`Histograms::start_append`]).
pub const APPEND_SAMPLE: u32 = 8;

/// What started a sync (for the `flushes_*` counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// `flush`, `close`, a seal.
    Forced = 0,
    /// The timer of a periodic policy.
    Periodic = 1,
    /// Records waiting (`Batched`, `Async`, an asynchronous append waiting for room).
    Batched = 2,
    /// A `Sync` append (blocking, or asynchronous through the sync driver).
    Sync = 3,
}

/// The distributions of a log. Off (`Options::histograms` false), nothing is recorded and
/// no clock is read for them.
#[derive(Debug, Default)]
pub(crate) struct Histograms {
    on: AtomicBool,
    pub append_latency: Recorder,
    pub sync_latency: Recorder,
    pub sync_records: Recorder,
    pub sync_bytes: Recorder,
    pub read_latency: Recorder,
    pub tail_latency: Recorder,
}

impl Histograms {
    pub fn set_on(&self, on: bool) {
        self.on.store(on, Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// The start of a timed operation: `None` (no clock read) while histograms are off.
    pub fn start(&self) -> Option<Instant> {
        self.is_on().then(Instant::now)
    }

    /// The start of an append's timing: every append under `Sync` (microseconds each, so
    /// two clock reads are noise), every [`APPEND_SAMPLE`]th of each thread otherwise (an
    /// append that only buffers takes ~200 ns here, and reading the clock twice ~50 ns).
    pub fn start_append(&self, every: bool) -> Option<Instant> {
        if !self.is_on() {
            return None;
        }
        if every {
            return Some(Instant::now());
        }
        thread_local! {
            static APPENDS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        let n = APPENDS.with(|c| {
            let n = c.get();
            c.set(n.wrapping_add(1));
            n
        });
        n.is_multiple_of(APPEND_SAMPLE).then(Instant::now)
    }

    /// Records the time since `start` in `recorder`, if it was started.
    pub fn finish(recorder: &Recorder, start: Option<Instant>) {
        if let Some(start) = start {
            recorder.record(start.elapsed().as_nanos() as u64);
        }
    }

    /// Records `value` in `recorder` if histograms are on.
    pub fn record(&self, recorder: &Recorder, value: u64) {
        if self.is_on() {
            recorder.record(value);
        }
    }

    fn reset(&self) {
        for r in [
            &self.append_latency,
            &self.sync_latency,
            &self.sync_records,
            &self.sync_bytes,
            &self.read_latency,
            &self.tail_latency,
        ] {
            r.reset();
        }
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// Counts one sync started by `trigger`.
    pub fn count_flush(&self, trigger: Trigger) {
        self.flushes[trigger as usize].fetch_add(1, Relaxed);
    }

    /// Counts `records` records read, `bytes` payload bytes in all. Readers on different
    /// threads count on different cache lines: a shared counter bounced between readers'
    /// cores cost more than the read itself.
    pub fn add_reads(&self, records: u64, bytes: u64) {
        let shard = &self.reads[thread_shard() % READ_SHARDS];
        shard.records.fetch_add(records, Relaxed);
        shard.bytes.fetch_add(bytes, Relaxed);
    }

    /// Forgets the distributions (the counters keep counting: exporters take differences).
    pub fn reset_histograms(&self) {
        self.hist.reset();
    }

    /// Copies the counters and distributions; the caller fills in the rest (the append
    /// counters live under the log's writer lock).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let flushes = |t: Trigger| self.flushes[t as usize].load(Relaxed);
        let mut m = MetricsSnapshot {
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
            flushes_forced: flushes(Trigger::Forced),
            flushes_periodic: flushes(Trigger::Periodic),
            flushes_batched: flushes(Trigger::Batched),
            flushes_sync: flushes(Trigger::Sync),
            flushes_failed: self.flushes_failed.load(Relaxed),
            corruption_detected: self.corruption_detected.load(Relaxed),
            ..MetricsSnapshot::default()
        };
        let h = &self.hist;
        m.set_summary("append_latency_ns", h.append_latency.summary());
        m.set_summary("sync_latency_ns", h.sync_latency.summary());
        m.set_summary("sync_records", h.sync_records.summary());
        m.set_summary("sync_bytes", h.sync_bytes.summary());
        m.set_summary("read_latency_ns", h.read_latency.summary());
        m.set_summary("tail_latency_ns", h.tail_latency.summary());
        m
    }
}

impl MetricsSnapshot {
    /// Fills in the eight fields of distribution `name` (`<name>_count` to `<name>_max`).
    pub(crate) fn set_summary(&mut self, name: &str, s: Summary) {
        let first = Self::NAMES
            .iter()
            .position(|n| n.strip_suffix("_count") == Some(name))
            .unwrap_or_else(|| panic!("no distribution {name} in metrics_list!"));
        let values = [s.count, s.sum, s.min, s.p50, s.p90, s.p99, s.p999, s.max];
        for (field, v) in self.values_mut()[first..first + 8].iter_mut().zip(values) {
            **field = v;
        }
    }

    /// The distributions, as `(name, first field index)`: each is eight fields from there.
    pub fn distributions() -> impl Iterator<Item = (&'static str, usize)> {
        Self::NAMES.iter().enumerate().filter_map(|(i, n)| {
            let name = n.strip_suffix("_count")?;
            (Self::KINDS[i] == MetricKind::Summary).then_some((name, i))
        })
    }
}

const READ_SHARDS: usize = 8;

#[derive(Debug, Default)]
struct ReadCounter {
    records: AtomicU64,
    bytes: AtomicU64,
}

/// This thread's shard of striped counters and recorders: threads take shards in turn as
/// they first ask, so a few threads land on different ones.
pub(crate) fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed);
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
            names[..46],
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
        assert_eq!(names[46], "flushes_forced");
        assert_eq!(names[56], "append_latency_ns_count");
        assert_eq!(names[127], "download_latency_ns_max");
        let distributions: Vec<_> = MetricsSnapshot::distributions().collect();
        assert_eq!(distributions.len(), 9);
        assert_eq!(distributions[0], ("append_latency_ns", 56));
        assert_eq!(MetricsSnapshot::COUNT, 128);
        let m = MetricsSnapshot::numbered();
        let values = m.fields().map(|(_, value)| value);
        assert_eq!(values.to_vec(), (1..=128).collect::<Vec<u64>>());
        assert_eq!((m.appends, m.syncs, m.zeroed_bytes), (1, 5, 16));
        let m = MetricsSnapshot {
            reads: 7,
            ..MetricsSnapshot::default()
        };
        assert_eq!(m.fields()[7], ("reads", 7));
    }
}
