//! What each metric means, checked against what the test did: counters equal to the
//! operations made, distributions whose counts match and whose percentiles lie within the
//! durations measured around the calls; histograms off, reset, the Prometheus text.

mod common;

use std::time::{Duration, Instant};

use aof::{
    CompletionQueue, FlushPolicy, Log, Manager, ManagerOptions, MetricsSnapshot, Options, StartAt,
};
use common::payload;

const HOUR: Duration = Duration::from_secs(3600);

fn never_syncing() -> Options {
    Options {
        flush: FlushPolicy::Periodic { interval: HOUR },
        segment_size: 4 << 20,
        ..Options::default()
    }
}

/// The `q` quantile of `values` (sorted in place), as HDR reports it: the smallest value
/// with at least `q` of the values at or below it.
fn quantile(values: &mut [u64], q: f64) -> u64 {
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Within the histogram's precision (2 significant digits) of `bound` or below it.
fn at_most(got: u64, bound: u64) -> bool {
    got <= bound + bound / 100 + 1
}

/// Each distribution's name and count.
fn distribution_counts(m: &MetricsSnapshot) -> Vec<(&'static str, u64)> {
    let fields = m.fields();
    MetricsSnapshot::distributions()
        .map(|(name, first)| (name, fields[first].1))
        .collect()
}

#[test]
fn a_thousand_appends_and_one_forced_flush_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), never_syncing()).unwrap();
    let mut outer = Vec::new();
    for i in 1..=1000u64 {
        let t0 = Instant::now();
        log.append(&payload(i, 100)).unwrap();
        outer.push(t0.elapsed().as_nanos() as u64);
    }
    let t0 = Instant::now();
    log.flush().unwrap();
    let flush_ns = t0.elapsed().as_nanos() as u64;
    let m = log.metrics();
    assert_eq!((m.appends, m.append_bytes, m.batches), (1000, 100_000, 0));
    assert_eq!(
        (
            m.flushes_forced,
            m.flushes_batched,
            m.flushes_periodic,
            m.flushes_sync
        ),
        (1, 0, 0, 0)
    );
    assert_eq!((m.syncs, m.flushes_failed), (1, 0));
    assert_eq!((m.records_flushed, m.bytes_flushed), (1000, 100_000));
    assert_eq!((m.pending_records, m.pending_bytes), (0, 0));
    assert_eq!((m.durable_id, m.last_id), (1000, 1000));
    // One sync, of 1,000 records and 100,000 bytes.
    assert_eq!((m.sync_records_count, m.sync_records_min), (1, 1000));
    assert_eq!((m.sync_records_sum, m.sync_records_max), (1000, 1000));
    assert_eq!((m.sync_bytes_sum, m.sync_bytes_max), (100_000, 100_000));
    assert_eq!(m.sync_latency_ns_count, 1);
    assert!(m.sync_latency_ns_max > 0 && at_most(m.sync_latency_ns_max, flush_ns));
    // Appends that only buffer: every 8th of this thread timed, each within the time
    // measured around its call, so every percentile of theirs is within the outer maximum.
    assert_eq!(m.append_latency_ns_count, 1000 / 8);
    assert!(at_most(
        m.append_latency_ns_max,
        *outer.iter().max().unwrap()
    ));
    assert!(at_most(m.append_latency_ns_sum, outer.iter().sum()));
    assert!(m.append_latency_ns_min <= m.append_latency_ns_p50);
    assert!(m.append_latency_ns_p50 <= m.append_latency_ns_p90);
    assert!(m.append_latency_ns_p90 <= m.append_latency_ns_p99);
    assert!(m.append_latency_ns_p99 <= m.append_latency_ns_p999);
    assert!(m.append_latency_ns_p999 <= m.append_latency_ns_max);
    // Pending before the flush: appended, not durable.
    log.append(&payload(1001, 7)).unwrap();
    let m = log.metrics();
    assert_eq!((m.pending_records, m.pending_bytes), (1, 7));
}

#[test]
fn each_trigger_is_counted_as_such() {
    // Sync: one group-commit round per append from a single thread.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let mut outer = Vec::new();
    for i in 1..=50 {
        let t0 = Instant::now();
        log.append(&payload(i, 10)).unwrap();
        outer.push(t0.elapsed().as_nanos() as u64);
    }
    let m = log.metrics();
    assert_eq!((m.flushes_sync, m.flushes_forced, m.syncs), (50, 0, 50));
    assert_eq!((m.sync_records_count, m.sync_records_max), (50, 1));
    // Under Sync every append is timed, each within the time measured around its call:
    // so is every percentile of theirs within the same percentile of ours.
    assert_eq!(m.append_latency_ns_count, 50);
    assert!(at_most(m.append_latency_ns_p50, quantile(&mut outer, 0.5)));
    assert!(at_most(m.append_latency_ns_p90, quantile(&mut outer, 0.9)));
    assert!(at_most(m.append_latency_ns_max, quantile(&mut outer, 1.0)));
    // Each append's sync is within its append.
    assert!(at_most(m.sync_latency_ns_p50, m.append_latency_ns_p50));
    drop(log);

    // Batched: one background sync per 100 records.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        flush: FlushPolicy::Batched { records: 100 },
        ..Options::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    for i in 1..=100 {
        log.append(&payload(i, 10)).unwrap();
    }
    assert!(log.sync_until(100, Some(Duration::from_secs(10))).unwrap());
    let m = log.metrics();
    assert_eq!(
        (m.flushes_batched, m.flushes_periodic, m.flushes_sync),
        (1, 0, 0)
    );
    drop(log);

    // Periodic: the timer syncs what waits.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        flush: FlushPolicy::Periodic {
            interval: Duration::from_millis(10),
        },
        ..Options::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    log.append(&payload(1, 10)).unwrap();
    assert!(log.sync_until(1, Some(Duration::from_secs(10))).unwrap());
    let m = log.metrics();
    assert!(m.flushes_periodic >= 1, "{m:?}");
    assert_eq!((m.flushes_batched, m.flushes_forced), (0, 0));
}

#[test]
fn reads_tails_and_completions_are_timed_and_reset_forgets_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(Log::open(dir.path(), Options::default()).unwrap());
    for i in 1..=20 {
        log.append(&payload(i, 10)).unwrap();
    }
    let mut outer = Vec::new();
    for id in 1..=20 {
        let t0 = Instant::now();
        log.read(id).unwrap();
        outer.push(t0.elapsed().as_nanos() as u64);
    }
    // A cursor waits at the tail; a writer thread appends after a pause.
    let mut cursor = log.cursor(StartAt::End).unwrap();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            log.append(&payload(21, 10)).unwrap();
        })
    };
    let t0 = Instant::now();
    assert!(cursor.wait(Some(Duration::from_secs(10))).unwrap());
    assert_eq!(cursor.next().unwrap().unwrap().id, 21);
    let tail_bound = t0.elapsed().as_nanos() as u64;
    writer.join().unwrap();
    // Asynchronous appends: one completion each.
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 0).unwrap();
    for i in 22..=31 {
        log.append_notify(&payload(i, 10), i).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        queue
            .poll(&mut got, 10, Some(Duration::from_secs(10)))
            .unwrap();
    }
    let m = log.metrics();
    assert_eq!(m.read_latency_ns_count, 20);
    assert!(at_most(m.read_latency_ns_max, *outer.iter().max().unwrap()));
    assert!(at_most(m.read_latency_ns_p50, quantile(&mut outer, 0.5)));
    assert_eq!(m.tail_latency_ns_count, 1);
    // Microsecond timestamps: within a microsecond of the bound.
    assert!(at_most(m.tail_latency_ns_max, tail_bound + 1000));
    assert_eq!(m.completion_latency_ns_count, 10);
    assert_eq!(m.async_appends, 10);

    log.reset_histograms();
    let m = log.metrics();
    let counts = distribution_counts(&m);
    assert!(counts.iter().all(|(_, v)| *v == 0), "{counts:?}");
    assert_eq!(m.appends, 31, "counters are not reset");
}

#[test]
fn histograms_off_record_nothing_but_counters_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        histograms: false,
        ..never_syncing()
    };
    let log = Log::open(dir.path(), options).unwrap();
    for i in 1..=100 {
        log.append(&payload(i, 10)).unwrap();
    }
    log.flush().unwrap();
    log.read(1).unwrap();
    let m = log.metrics();
    assert_eq!(
        (m.appends, m.flushes_forced, m.records_flushed),
        (100, 1, 100)
    );
    for (name, value) in distribution_counts(&m) {
        assert_eq!(value, 0, "{name}");
    }
}

#[test]
fn the_prometheus_text_names_every_log_of_a_manager() {
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::open(dir.path(), ManagerOptions::default()).unwrap();
    let a = manager.open_log("orders", Options::default()).unwrap();
    let b = manager.open_log("payments", Options::default()).unwrap();
    a.append(b"x").unwrap();
    b.append(b"y").unwrap();
    b.append(b"z").unwrap();
    let text = manager.prometheus().unwrap();
    assert!(
        text.contains("aof_appends_total{log=\"orders\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("aof_appends_total{log=\"payments\"} 2\n"));
    assert_eq!(text.matches("# TYPE aof_appends_total counter").count(), 1);
    assert!(text.contains("aof_append_latency_seconds_count{log=\"payments\"} 2\n"));
    assert!(a
        .prometheus()
        .contains("aof_appends_total{log=\"orders\"} 1\n"));
    assert_eq!(manager.metrics().unwrap().len(), 2);
    drop(b);
    let text = manager.prometheus().unwrap();
    assert!(!text.contains("payments"), "a closed log is not exported");
    // Every metric of the snapshot is in the text.
    for (i, name) in MetricsSnapshot::NAMES.iter().enumerate() {
        if MetricsSnapshot::KINDS[i] != aof::metrics::MetricKind::Summary {
            assert!(text.contains(&format!("aof_{name}")), "{name} missing");
        }
    }
}

#[test]
fn a_damaged_read_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for i in 1..=10 {
        log.append(&payload(i, 100)).unwrap();
    }
    log.close().unwrap();
    // Flip a byte inside the fifth record's payload in the segment file.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let needle = payload(5, 100);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == &needle[..])
        .unwrap();
    bytes[at + 50] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert!(log.read(5).is_err());
    assert!(log.read(4).is_ok());
    assert_eq!(log.metrics().corruption_detected, 1);
}
