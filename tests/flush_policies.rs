//! Flush policies: the background policies make records durable on their own (a timer or
//! worker, not only the next append), `flush` makes everything durable, `sync_until` on a
//! future id is an invalid argument, and `Visibility::Durable` hides records until durable.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use aof::{Error, FlushPolicy, Log, StartAt, Visibility};
use common::*;

const FIVE_S: Option<Duration> = Some(Duration::from_secs(5));

fn policies() -> Vec<FlushPolicy> {
    vec![
        FlushPolicy::Sync,
        FlushPolicy::Async,
        FlushPolicy::Batched { records: 10 },
        FlushPolicy::Batched { records: 1000 },
        FlushPolicy::Periodic {
            interval: Duration::from_millis(50),
        },
        FlushPolicy::BatchedOrPeriodic {
            records: 1000,
            interval: Duration::from_millis(50),
        },
    ]
}

/// Appends `count` records and, without calling flush, waits passively for durability.
fn becomes_durable_on_its_own(policy: FlushPolicy, count: u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap();
    let mut last = 0;
    for id in 1..=count {
        last = log.append(&payload(id, 100)).unwrap();
    }
    assert_eq!(last, count);
    let ok = log.sync_until(last, FIVE_S).unwrap();
    assert!(
        ok,
        "{policy:?}: {count} records not durable 5 s after the last append without a flush \
         (durable_id {}, metrics {:?})",
        log.durable_id(),
        log.metrics()
    );
    assert!(log.durable_id() >= last, "{policy:?}");
    assert!(log.metrics().syncs >= 1, "{policy:?}");
    // Already durable: returns true at once.
    assert!(
        log.sync_until(last, Some(Duration::ZERO)).unwrap(),
        "{policy:?}"
    );
    assert!(log.sync_until(1, None).unwrap(), "{policy:?}");
}

#[test]
fn async_becomes_durable_without_flush() {
    becomes_durable_on_its_own(FlushPolicy::Async, 1);
    becomes_durable_on_its_own(FlushPolicy::Async, 37);
}

#[test]
fn periodic_timer_syncs_without_further_appends() {
    becomes_durable_on_its_own(
        FlushPolicy::Periodic {
            interval: Duration::from_millis(50),
        },
        3,
    );
}

#[test]
fn batched_or_periodic_timer_syncs_a_partial_batch() {
    becomes_durable_on_its_own(
        FlushPolicy::BatchedOrPeriodic {
            records: 1000,
            interval: Duration::from_millis(50),
        },
        3,
    );
}

#[test]
fn batched_syncs_a_full_batch_in_the_background() {
    // The N-th append completes a batch: its sync must happen without a further append.
    becomes_durable_on_its_own(FlushPolicy::Batched { records: 10 }, 10);
    becomes_durable_on_its_own(FlushPolicy::Batched { records: 7 }, 21);
    becomes_durable_on_its_own(
        FlushPolicy::BatchedOrPeriodic {
            records: 5,
            interval: Duration::from_secs(3600),
        },
        5,
    );
}

#[test]
fn batched_with_a_partial_batch_makes_full_batches_durable() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Batched { records: 10 };
    let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap();
    for id in 1..=13 {
        log.append(&payload(id, 30)).unwrap();
    }
    assert!(log.sync_until(10, FIVE_S).unwrap(), "first batch of 10");
    log.flush().unwrap();
    assert_eq!(log.durable_id(), 13);
}

#[test]
fn flush_makes_everything_durable_under_every_policy() {
    for policy in policies() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap();
        assert_eq!(log.durable_id(), 0);
        log.flush().unwrap(); // nothing to flush
        for id in 1..=57 {
            log.append(&payload(id, size_for(id, 2000))).unwrap();
        }
        log.append_batch(&[payload(58, 5), payload(59, 0)]).unwrap();
        log.flush().unwrap();
        assert_eq!(log.last_id(), 59, "{policy:?}");
        assert_eq!(log.durable_id(), 59, "{policy:?}: flush");
        assert_eq!(log.metrics().durable_id, 59, "{policy:?}");
        assert!(log.sync_until(59, Some(Duration::ZERO)).unwrap());
        for bad in [60, 1000, u64::MAX] {
            let r = log.sync_until(bad, Some(Duration::from_millis(10)));
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "{policy:?}: sync_until({bad}) past last_id 59 must be InvalidArgument, got {r:?}"
            );
        }
        drop(log);
        let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap();
        assert_eq!(log.last_id(), 59, "{policy:?}: reopened");
        assert_eq!(log.durable_id(), 59, "{policy:?}: reopened");
    }
}

#[test]
fn sync_until_on_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert!(matches!(
        log.sync_until(1, Some(Duration::from_millis(10))),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn sync_until_waits_for_a_background_sync() {
    // A waiter blocked in sync_until is woken by the timer's sync.
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Periodic {
        interval: Duration::from_millis(200),
    };
    let log =
        Arc::new(Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap());
    let id = log.append(&payload(1, 64)).unwrap();
    let waiter = {
        let log = Arc::clone(&log);
        thread::spawn(move || log.sync_until(id, FIVE_S).unwrap())
    };
    assert!(waiter.join().unwrap(), "sync_until(5 s) timed out");
    assert!(log.durable_id() >= id);
}

#[test]
fn durable_visibility_hides_records_until_durable() {
    let dir = tempfile::tempdir().unwrap();
    // A long interval: the timer will not fire during the test.
    let policy = FlushPolicy::Periodic {
        interval: Duration::from_secs(30),
    };
    let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Durable)).unwrap();
    let mut oldest = log.cursor(StartAt::Oldest).unwrap();
    // Let the flusher start first (see periodic_sync_waits_for_the_first_interval).
    thread::sleep(Duration::from_millis(200));
    let id = log.append(&payload(1, 80)).unwrap();
    assert_eq!(id, 1);
    assert_eq!(log.last_id(), 1);
    assert_eq!(log.durable_id(), 0, "the 30 s timer has not fired");
    assert!(
        oldest.next().unwrap().is_none(),
        "Visibility::Durable: a record that is not durable is not visible"
    );
    assert!(log
        .cursor(StartAt::Oldest)
        .unwrap()
        .next()
        .unwrap()
        .is_none());
    assert!(
        matches!(log.read(1), Err(Error::NotFound { .. })),
        "read of a record that is not yet visible"
    );
    assert!(!oldest.wait(Some(Duration::from_millis(10))).unwrap());
    log.flush().unwrap();
    assert_eq!(log.durable_id(), 1);
    let r = oldest.next().unwrap().expect("visible after flush");
    assert_eq!(r.id, 1);
    check_payload("durable visibility", 1, 80, r.data);
    check_payload("read", 1, 80, &log.read(1).unwrap());
}

#[test]
fn durable_visibility_tailing_cursor_wakes_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Periodic {
        interval: Duration::from_millis(100),
    };
    let log =
        Arc::new(Log::open(dir.path(), small_opts_with(policy, Visibility::Durable)).unwrap());
    let mut c = log.cursor(StartAt::End).unwrap();
    let writer = {
        let log = Arc::clone(&log);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            log.append(&payload(1, 33)).unwrap()
        })
    };
    assert!(
        c.wait(FIVE_S).unwrap(),
        "not woken when the record became durable"
    );
    let id = writer.join().unwrap();
    let r = c.next().unwrap().unwrap();
    assert_eq!(r.id, id);
    assert!(
        log.durable_id() >= id,
        "a record seen under Durable visibility is durable"
    );
}

#[test]
fn durable_visibility_with_sync_policy_sees_records_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        small_opts_with(FlushPolicy::Sync, Visibility::Durable),
    )
    .unwrap();
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    for id in 1..=20 {
        assert_eq!(log.append(&payload(id, 10)).unwrap(), id);
        let r = c
            .next()
            .unwrap()
            .expect("Sync + Durable: visible when append returns");
        assert_eq!(r.id, id);
    }
}

/// `Periodic { interval }` syncs on a timer: the first background sync is due one interval
/// after open, not at once. (A `tokio::time::interval` ticks immediately on its first
/// `tick()`, which syncs a record appended right after open at once.)
#[test]
fn periodic_sync_waits_for_the_first_interval() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Periodic {
        interval: Duration::from_secs(30),
    };
    let log = Log::open(dir.path(), small_opts_with(policy, Visibility::Written)).unwrap();
    log.append(&payload(1, 80)).unwrap();
    thread::sleep(Duration::from_millis(300));
    let m = log.metrics();
    assert_eq!(
        (m.durable_id, m.syncs),
        (0, 0),
        "Periodic(30 s): synced within 300 ms of open without flush: {m:?}"
    );
    log.flush().unwrap();
    assert_eq!(log.durable_id(), 1);
}
