//! 1,000 logs under one manager: the process's thread count stays within the runtime's
//! bound (workers + blocking pool + a small constant) whatever the number of logs (no
//! thread per log), checked at 100 and at 1,000 logs while every log appends (Async logs
//! with zero-ahead, Sync logs batching, all rolling segments, so background tasks and
//! blocking jobs run for each); every log reopens after a clean close with its last id.
//! It prints the file descriptors and resident memory an idle log costs (no threshold:
//! the figures for the docs).
//!
//! The only test in its binary, so that no other test's threads are counted.

use std::path::Path;

use aof::{FlushPolicy, Log, Manager, ManagerOptions, Options};

mod common;
use common::payload;

const LOGS: usize = 1000;
const WORKERS: usize = 2;
const MAX_BLOCKING: usize = 8;
/// Threads a runtime may have beyond its workers and blocking pool, for slack.
const SLACK: usize = 2;
/// Records per log: about 1.5 segments of 64 KiB, so every log rolls once and
/// pre-allocates in the background.
const RECORDS: u64 = 40;
const RECORD_LEN: usize = 2000;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn threads() -> usize {
    count("/proc/self/task")
}

fn fds() -> usize {
    count("/proc/self/fd")
}

/// Resident memory in KiB, `(private, file-backed)`: `RssAnon` (heap and other private
/// pages) and `RssFile` (page-cache pages of the segment maps, shared and reclaimable).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find_map(|l| l.strip_prefix(key)).unwrap();
        line.trim().trim_end_matches("kB").trim().parse().unwrap()
    };
    (kib("RssAnon:"), kib("RssFile:"))
}

/// Raises the soft limit of open files to the hard limit: 1,000 logs hold a few thousand.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit no larger than the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    lim.rlim_cur
}

fn options(i: usize) -> Options {
    let (flush, zero_ahead) = if i.is_multiple_of(2) {
        (FlushPolicy::Async, 16 << 10)
    } else {
        (FlushPolicy::Sync, 0)
    };
    Options {
        segment_size: 64 << 10,
        flush,
        zero_ahead,
        ..Options::default()
    }
}

fn name(i: usize) -> String {
    format!("topic-{}", i)
}

/// Appends `RECORDS` records to log `i`: one by one under Async (the flusher writes them
/// out), in batches of 8 under Sync.
fn append(i: usize, log: &Log) {
    let rec = |n: u64| payload((i as u64) << 32 | n, RECORD_LEN);
    if i.is_multiple_of(2) {
        for n in 1..=RECORDS {
            assert_eq!(log.append(&rec(n)).unwrap(), n);
        }
    } else {
        for first in (1..=RECORDS).step_by(8) {
            let batch: Vec<Vec<u8>> = (first..first + 8).map(rec).collect();
            assert_eq!(log.append_batch(&batch).unwrap(), first);
        }
    }
}

#[test]
fn thousand_logs_with_a_bounded_thread_count() {
    let nofile = raise_nofile();
    let tmp = tempfile::tempdir().unwrap();
    let root: &Path = tmp.path();
    let before = threads();
    let bound = before + WORKERS + MAX_BLOCKING + SLACK;
    let m = Manager::open(
        root,
        ManagerOptions {
            worker_threads: WORKERS,
            max_blocking_threads: MAX_BLOCKING,
            ..ManagerOptions::default()
        },
    )
    .unwrap();

    let mut logs = Vec::with_capacity(LOGS);
    let mut peak = 0;
    let mut peak_at_100 = 0;
    for i in 0..LOGS {
        let log = m.open_log(&name(i), options(i)).unwrap();
        append(i, &log);
        logs.push(log);
        peak = peak.max(threads());
        if i + 1 == 100 {
            peak_at_100 = peak;
            assert!(
                peak <= bound,
                "100 logs: {peak} threads, above {before} + {WORKERS} workers + \
                 {MAX_BLOCKING} blocking + {SLACK}"
            );
        }
    }
    // Every log has its background work in flight or done; wait for all to be durable.
    for log in &logs {
        log.flush().unwrap();
        peak = peak.max(threads());
    }
    assert!(
        peak <= bound,
        "1000 logs: {peak} threads, above {before} + {WORKERS} workers + {MAX_BLOCKING} \
         blocking + {SLACK}: the count must not grow with the number of logs"
    );
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log.last_id(), RECORDS, "log {i}");
        assert!(log.metrics().segments_sealed >= 1, "log {i} rolled");
    }
    let mut listed = m.list_logs().unwrap();
    listed.sort_by_key(|n| n[6..].parse::<usize>().unwrap());
    assert_eq!(listed, (0..LOGS).map(name).collect::<Vec<_>>());
    m.close().unwrap();
    drop(logs);
    drop(m);

    // A clean reopen of every log, idle: what each costs.
    let m = Manager::open(
        root,
        ManagerOptions {
            worker_threads: WORKERS,
            max_blocking_threads: MAX_BLOCKING,
            ..ManagerOptions::default()
        },
    )
    .unwrap();
    let (fds0, rss0) = (fds(), rss());
    let mut logs = Vec::with_capacity(LOGS);
    for i in 0..LOGS {
        let log = m.open_log(&name(i), options(i)).unwrap();
        assert!(log.recovery().clean_shutdown, "log {i}");
        assert_eq!(log.last_id(), RECORDS, "log {i}");
        logs.push(log);
        peak = peak.max(threads());
    }
    let (fds1, rss1) = (fds(), rss());
    for (i, log) in logs.iter().enumerate() {
        let want = payload((i as u64) << 32 | RECORDS, RECORD_LEN);
        assert_eq!(log.read(RECORDS).unwrap(), want, "log {i}");
    }
    assert!(peak <= bound, "reopen: {peak} threads, above {bound}");
    let segments: u64 = logs.iter().map(|l| l.metrics().segment_count).sum();
    let per_log_fds = (fds1 - fds0) as f64 / LOGS as f64;
    // Each log: its LOCK, its segment files, and the zeroer's own descriptor of the active
    // segment (zero-ahead is on for half of them).
    assert!(
        fds1 - fds0 <= LOGS * 2 + segments as usize,
        "{} descriptors for {LOGS} logs of {segments} segments",
        fds1 - fds0
    );
    let per_log = |a: u64, b: u64| a.saturating_sub(b) as f64 / LOGS as f64;
    println!(
        "{LOGS} logs: threads before {before}, peak {peak} (at 100 logs {peak_at_100}; bound \
         {bound}); open files limit {nofile}; idle logs after a clean reopen: {per_log_fds:.2} \
         descriptors per log ({segments} segments in all), resident per log {:.1} KiB \
         private + {:.1} KiB of mapped page cache",
        per_log(rss1.0, rss0.0),
        per_log(rss1.1, rss0.1),
    );
    m.close().unwrap();
}
