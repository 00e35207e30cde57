//! The hot and frame caches of a manager: a log many times larger than their budgets reads
//! back entirely with a bounded footprint (bytes held never above the budget; maps evicted
//! and opened again, counted); pinned segments are never evicted, and with no room a read
//! fails with `WouldBlock` when the manager says not to wait.

mod common;

use std::time::Duration;

use aof::tier::shared::CacheOptions;
use aof::{Error, FlushPolicy, Manager, ManagerOptions, Options, StartAt};
use common::payload;

const SEGMENT: u64 = 64 * 1024;
const LEN: usize = 300;

fn options() -> Options {
    Options {
        segment_size: SEGMENT,
        flush: FlushPolicy::Batched { records: 256 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        ..Options::default()
    }
}

fn manager(dir: &std::path::Path, hot_segments: u64, wait: Option<Duration>) -> Manager {
    let cache = CacheOptions {
        // A segment costs its size and 8 bytes per record (its index).
        hot_bytes: hot_segments * (SEGMENT + 8 * SEGMENT / LEN as u64),
        frame_bytes: 256 * 1024,
        wait,
    };
    Manager::open(
        dir,
        ManagerOptions {
            cache,
            ..ManagerOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn a_log_far_larger_than_the_hot_budget_reads_back_with_a_bounded_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), 3, Some(Duration::from_secs(30)));
    let log = m.open_log("big", options()).unwrap();
    let n = 8000u64;
    for id in 1..=n {
        assert_eq!(log.append(&payload(id, LEN)).unwrap(), id);
    }
    log.seal_now().unwrap();
    let segments = log.metrics().segment_count;
    assert!(segments >= 30, "{segments} segments");
    let budget = 3 * (SEGMENT + 8 * SEGMENT / LEN as u64);

    // A full scan by cursor, then random reads: every map goes through the cache.
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut next = 1;
    while let Some(r) = c.next().unwrap() {
        assert_eq!((r.id, r.data), (next, &payload(next, LEN)[..]));
        next += 1;
        assert!(log.metrics().hot_bytes <= budget);
    }
    assert_eq!(next, n + 1);
    drop(c);
    // The scan opened each sealed segment once (a cursor pins one segment at a time) and
    // evicted all but the last three.
    let m0 = log.metrics();
    assert_eq!(m0.files_opened, segments - 1, "{m0:?}");
    assert!(m0.hot_evictions >= segments - 1 - 3, "{m0:?}");
    // Random reads over the whole log miss (3 of the segments fit); reads within two
    // segments hit after their first map.
    let mut rng = common::Rng(7);
    for _ in 0..2000 {
        let id = 1 + rng.below(n);
        assert_eq!(log.read(id).unwrap(), payload(id, LEN));
    }
    let m1 = log.metrics();
    assert!(m1.hot_bytes <= budget, "{m1:?}");
    assert!(m1.files_opened > m0.files_opened, "{m1:?}");
    for _ in 0..2000 {
        let id = 1 + rng.below(300);
        assert_eq!(log.read(id).unwrap(), payload(id, LEN));
    }
    let m2 = log.metrics();
    assert!(m2.files_opened - m1.files_opened <= 2, "{m2:?}");
    assert!(m2.hot_hits - m1.hot_hits >= 1998, "{m2:?}");

    // The same through the warm tier: frames in their own budget.
    assert_eq!(log.compress_now().unwrap() as u64, segments - 1);
    for _ in 0..2000 {
        let id = 1 + rng.below(n);
        assert_eq!(log.read(id).unwrap(), payload(id, LEN));
    }
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut next = 1;
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.id, next);
        next += 1;
    }
    let m3 = log.metrics();
    assert!(m3.frame_bytes <= 256 * 1024, "{m3:?}");
    assert!(m3.frame_evictions > 0 && m3.frame_misses > 0, "{m3:?}");
    log.close().unwrap();
    m.close().unwrap();
}

#[test]
fn pinned_segments_are_never_evicted_and_no_room_is_would_block() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), 2, None);
    let log = m.open_log("pins", options()).unwrap();
    for id in 1..=1500u64 {
        log.append(&payload(id, LEN)).unwrap();
    }
    log.seal_now().unwrap();
    assert!(log.metrics().segment_count >= 6);
    // Two cursors pin two sealed segments: the budget is full of pinned maps.
    let mut a = log.cursor(StartAt::Id(1)).unwrap();
    assert_eq!(a.next().unwrap().unwrap().id, 1);
    let far = 1400u64;
    let mut b = log.cursor(StartAt::Id(far)).unwrap();
    assert_eq!(b.next().unwrap().unwrap().id, far);
    let mid = 700u64;
    match log.read(mid) {
        Err(Error::WouldBlock(msg)) => assert!(msg.contains("hot cache"), "{msg}"),
        other => panic!("read with every map pinned: {other:?}"),
    }
    // The pinned segments are still there, and read on.
    assert_eq!(a.next().unwrap().unwrap().id, 2);
    assert_eq!(b.next().unwrap().unwrap().id, far + 1);
    drop(a);
    // One pin released: the read finds room (the unpinned map is evicted).
    assert_eq!(log.read(mid).unwrap(), payload(mid, LEN));
    drop(b);
    log.close().unwrap();
    m.close().unwrap();
}
