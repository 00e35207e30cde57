//! Retention and truncation: each bound removes exactly the oldest whole sealed segments it
//! should (never the active one), reads below the oldest kept id get `Truncated` naming it,
//! a cursor inside a removed segment keeps reading it, removal runs in the background and
//! while appenders and readers run, and the bounds survive a reopen.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aof::{Error, FlushPolicy, Log, Options, Retention, StartAt};
use common::{payload, segment_files};

const LEN: usize = 200;
const SEGMENT: u64 = 4096;

fn opts(retention: Retention) -> Options {
    Options {
        segment_size: SEGMENT,
        flush: FlushPolicy::Batched { records: 64 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        retention,
        ..Options::default()
    }
}

fn fill(log: &Log, n: u64) {
    for _ in 0..n {
        let id = log.last_id() + 1;
        assert_eq!(log.append(&payload(id, LEN)).unwrap(), id);
    }
}

/// Checks that every id from the first kept one to the last reads back, by `read` and by
/// a cursor from `Oldest`, and that the ids below are `Truncated` naming the first.
fn check_kept(log: &Log) {
    let (first, last) = log.bounds();
    assert_eq!(last, log.last_id());
    for id in first..=last {
        assert_eq!(log.read(id).unwrap(), payload(id, LEN), "read({id})");
    }
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut expect = first;
    while let Some(r) = c.next().unwrap() {
        assert_eq!((r.id, r.data), (expect, &payload(expect, LEN)[..]));
        expect += 1;
    }
    assert_eq!(expect, last + 1);
    if first > 1 {
        for id in [1, first - 1] {
            match log.read(id) {
                Err(Error::Truncated { id: got, first: f }) => assert_eq!((got, f), (id, first)),
                other => panic!("read({id}) below the first kept id {first}: {other:?}"),
            }
            assert!(matches!(
                log.cursor(StartAt::Id(id)),
                Err(Error::Truncated { .. })
            ));
        }
        let msg = log.read(1).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("oldest available id is {first}")),
            "{msg}"
        );
    }
}

#[test]
fn max_segments_keeps_that_many() {
    let log = Log::open(
        tempfile::tempdir().unwrap().keep(),
        opts(Retention::default()),
    )
    .unwrap();
    fill(&log, 400); // ~22 segments of ~18 records
    let before = log.metrics().segment_count;
    assert!(before > 10);
    drop(log);
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        opts(Retention {
            max_segments: Some(5),
            ..Retention::default()
        }),
    )
    .unwrap();
    fill(&log, 400);
    let removed = log.enforce_retention().unwrap();
    let m = log.metrics();
    assert_eq!(m.segment_count, 5, "after removing {removed}");
    assert_eq!(segment_files(dir.path()).len(), 5);
    assert_eq!(
        m.segments_deleted as usize,
        removed + (m.segments_deleted as usize - removed)
    );
    assert_eq!(m.first_id, log.bounds().0);
    check_kept(&log);
    // The active segment is never removed, whatever the bound.
    assert_eq!(log.truncate_before(log.last_id() + 1).unwrap(), 4);
    assert_eq!(log.metrics().segment_count, 1);
    check_kept(&log);
}

#[test]
fn max_bytes_counts_segment_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        opts(Retention {
            max_bytes: Some(3 * SEGMENT),
            ..Retention::default()
        }),
    )
    .unwrap();
    fill(&log, 300);
    log.enforce_retention().unwrap();
    assert_eq!(log.metrics().segment_count, 3);
    check_kept(&log);
}

#[test]
fn max_age_removes_segments_sealed_longer_ago() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        opts(Retention {
            max_age: Some(Duration::from_millis(200)),
            ..Retention::default()
        }),
    )
    .unwrap();
    fill(&log, 100);
    let old_segments = log.metrics().segment_count - 1;
    assert!(old_segments >= 4);
    // Nothing is old enough yet.
    assert_eq!(log.enforce_retention().unwrap(), 0);
    assert_eq!(log.metrics().segments_deleted, 0);
    std::thread::sleep(Duration::from_millis(300));
    let sealed_before = log.metrics().segments_sealed;
    // Seals one or two more, young ones.
    fill(&log, 20);
    // The background task (on its timer) or this call removes the old ones, only them.
    log.enforce_retention().unwrap();
    let m = log.metrics();
    assert_eq!(m.segments_deleted, old_segments);
    let young = m.segments_sealed - sealed_before;
    assert!(young >= 1);
    assert_eq!(
        m.segment_count,
        young + 1,
        "the young sealed ones and the active one"
    );
    check_kept(&log);
}

#[test]
fn background_retention_follows_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        opts(Retention {
            max_segments: Some(3),
            ..Retention::default()
        }),
    )
    .unwrap();
    fill(&log, 500);
    // The task runs after each roll; give it a moment to catch up with the last one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.metrics().segment_count > 3 {
        assert!(Instant::now() < deadline, "retention never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(log.metrics().segments_deleted > 20);
    check_kept(&log);
}

#[test]
fn a_cursor_keeps_reading_a_segment_removed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Retention::default())).unwrap();
    fill(&log, 200);
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    assert_eq!(c.next().unwrap().unwrap().id, 1);
    let files = segment_files(dir.path());
    let second = files[1].0;
    // Everything before the second segment goes: the cursor is inside the first.
    assert_eq!(log.truncate_before(second).unwrap(), 1);
    assert!(!files[0].1.exists(), "the file is unlinked");
    assert!(matches!(log.read(1), Err(Error::Truncated { .. })));
    // The cursor reads on through its pinned (unlinked) segment, then into the next.
    for id in 2..=200 {
        let r = c.next().unwrap().unwrap();
        assert_eq!((r.id, r.data), (id, &payload(id, LEN)[..]));
    }
    // A cursor that has not reached a segment yet cannot read it once it is gone.
    let mut late = log.cursor(StartAt::Id(second)).unwrap();
    let third = files[2].0;
    assert_eq!(log.truncate_before(third).unwrap(), 1);
    assert!(matches!(late.next(), Err(Error::Truncated { .. })));
}

#[test]
fn truncate_before_under_concurrent_appends_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), opts(Retention::default())).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let appenders: Vec<_> = (0..2)
        .map(|_| {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = log.append(&[7u8; LEN]).unwrap();
                    assert_eq!(log.read(id).unwrap(), [7u8; LEN]);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let reader = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut truncated = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let (first, last) = log.bounds();
                let mut c = match log.cursor(StartAt::Id(first)) {
                    Ok(c) => c,
                    Err(Error::Truncated { .. }) => {
                        truncated += 1;
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                };
                let mut expect = first;
                loop {
                    match c.next() {
                        Ok(Some(r)) => {
                            assert_eq!(r.id, expect);
                            assert_eq!(r.data, [7u8; LEN]);
                            expect += 1;
                        }
                        // Not overtaken: it read every id visible when it opened.
                        Ok(None) => {
                            assert!(expect > last, "stopped at {expect}, before {last}");
                            break;
                        }
                        // Overtaken by a truncation: the segment after ours went.
                        Err(Error::Truncated { .. }) => {
                            truncated += 1;
                            break;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            truncated
        })
    };
    let mut removed = 0;
    for _ in 0..200 {
        let (_, last) = log.bounds();
        removed += log.truncate_before(last.saturating_sub(50).max(1)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::SeqCst);
    let appended: u64 = appenders.into_iter().map(|a| a.join().unwrap()).sum();
    reader.join().unwrap();
    assert!(removed > 0);
    let (first, last) = log.bounds();
    assert_eq!(last, appended);
    for id in first..=last {
        assert_eq!(log.read(id).unwrap(), [7u8; LEN]);
    }
}

#[test]
fn truncation_survives_a_reopen_and_bad_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Retention::default())).unwrap();
    fill(&log, 300);
    assert!(matches!(
        log.truncate_before(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        log.truncate_before(302),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(log.truncate_before(1).unwrap(), 0);
    log.truncate_before(150).unwrap();
    let (first, _) = log.bounds();
    assert!(first > 1 && first <= 150);
    log.close().unwrap();
    assert!(matches!(log.truncate_before(200), Err(Error::Closed)));
    drop(log);
    let log = Log::open(dir.path(), opts(Retention::default())).unwrap();
    assert_eq!(log.bounds(), (first, 300));
    assert_eq!(log.recovery().segments_opened, 1);
    check_kept(&log);
    // An empty log's bounds.
    let empty = Log::open(
        tempfile::tempdir().unwrap().path(),
        opts(Retention::default()),
    )
    .unwrap();
    assert_eq!(empty.bounds(), (1, 0));
}
