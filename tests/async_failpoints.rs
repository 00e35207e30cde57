//! Asynchronous appends under injected faults (`--features failpoints`): a failed
//! `fdatasync`, or a panic in the sync driver, completes every pending append with the
//! poison (exactly once, in id order), later appends fail at once without a completion, an
//! append waiting for room is woken with the poison, and every id completed as durable is
//! there after a reopen.
#![cfg(feature = "failpoints")]

use std::thread;
use std::time::Duration;

use aof::{AsyncLimits, Completion, CompletionQueue, Error, FlushPolicy, Log, Options, Outcome};
use fail::FailScenario;

fn options(flush: FlushPolicy) -> Options {
    Options {
        segment_size: 1 << 20,
        flush,
        ..Options::default()
    }
}

fn payload(id: u64) -> Vec<u8> {
    format!("payload of record {id}").into_bytes()
}

/// Every completion posted so far (waits up to 10 s for at least `n`).
fn drain(queue: &CompletionQueue, n: usize) -> Vec<Completion> {
    let mut out = Vec::new();
    while out.len() < n {
        let got = queue
            .poll(&mut out, 1024, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(got > 0, "no completion for 10 s after {} of {n}", out.len());
    }
    queue
        .poll(&mut out, usize::MAX, Some(Duration::ZERO))
        .unwrap();
    out
}

/// Appends until an append fails; returns the ids of those that succeeded after `first`.
fn append_until_refused(log: &Log, first: u64, most: u64) -> (Vec<u64>, Error) {
    let mut ids = Vec::new();
    for k in first..first + most {
        match log.append_notify(&payload(k), k) {
            Ok(id) => ids.push(id),
            Err(e) => return (ids, e),
        }
        thread::sleep(Duration::from_micros(50));
    }
    panic!("no append failed after {most}");
}

/// Checks the queue's completions: ids 1..=n once each in order; those up to `durable`
/// durable, the rest poisoned with a message that names `cause`.
fn check(completions: &[Completion], n: u64, durable: u64, cause: &str) {
    let ids: Vec<_> = completions
        .iter()
        .map(|c| (c.id, c.outcome.clone()))
        .collect();
    assert_eq!(
        completions.len() as u64,
        n,
        "one completion per successful append: {ids:?}"
    );
    for (i, c) in completions.iter().enumerate() {
        assert_eq!(c.id, i as u64 + 1, "completion {i} out of order");
        assert_eq!(c.tag, c.id);
        if c.id <= durable {
            assert_eq!(c.outcome, Outcome::Durable, "id {}", c.id);
        } else {
            match &c.outcome {
                Outcome::Poisoned(why) => assert!(why.contains(cause), "{why}"),
                other => panic!("id {}: {other:?}", c.id),
            }
        }
    }
}

#[test]
fn a_failed_fdatasync_completes_every_pending_append_poisoned() {
    for flush in [FlushPolicy::Sync, FlushPolicy::Batched { records: 16 }] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(flush)).unwrap();
        let queue = CompletionQueue::new().unwrap();
        log.attach_queue(Some(queue.clone()), 0).unwrap();
        for id in 1..=50 {
            log.append_notify(&payload(id), id).unwrap();
        }
        log.flush().unwrap();
        let durable = log.durable_id();
        assert_eq!(durable, 50);
        fail::cfg("fsio::fdatasync", "return(eio)").unwrap();
        let future = log.append_async(&payload(51));
        let (ids, err) = append_until_refused(&log, 52, 100_000);
        fail::remove("fsio::fdatasync");
        assert!(matches!(err, Error::Poisoned(_)), "{flush:?}: {err}");
        assert!(log.is_poisoned());
        let last = 51 + ids.len() as u64;
        assert_eq!(
            log.last_id(),
            last,
            "{flush:?}: a refused append appended nothing"
        );
        match futures::executor::block_on(future) {
            Err(Error::Poisoned(why)) => assert!(why.contains("fdatasync"), "{why}"),
            other => panic!("{flush:?}: the future got {other:?}"),
        }
        let mut completions = drain(&queue, last as usize - 1);
        // Record 51 went to the future, not to the queue.
        completions.iter_mut().filter(|c| c.id > 51).for_each(|c| {
            c.id -= 1;
            c.tag -= 1;
        });
        check(&completions, last - 1, durable, "fdatasync");
        assert_eq!(log.metrics().async_in_flight, 0);
        assert!(log.close().is_err());
        let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
        assert!(log.last_id() >= durable, "lost ids completed as durable");
        for id in 1..=durable {
            assert_eq!(log.read(id).unwrap(), payload(id));
        }
        drop(log);
        scenario.teardown();
    }
}

#[test]
fn a_panic_in_the_sync_driver_poisons_and_completes_everything() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 0).unwrap();
    fail::cfg("background::async_sync", "panic(driver down)").unwrap();
    let (ids, err) = append_until_refused(&log, 1, 100_000);
    fail::remove("background::async_sync");
    assert!(matches!(err, Error::Poisoned(_)), "{err}");
    let n = ids.len() as u64;
    check(&drain(&queue, n as usize), n, 0, "panicked: driver down");
    scenario.teardown();
}

/// An append waiting for room in the bound asks for a sync; that sync fails, and the
/// poison ends the wait at once (not after the 60 s wait).
#[test]
fn an_append_waiting_for_room_is_woken_by_the_poison() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        async_limits: AsyncLimits {
            max_records: 8,
            max_bytes: 1 << 20,
            wait: Some(Duration::from_secs(60)),
        },
        ..options(FlushPolicy::Periodic {
            interval: Duration::from_secs(3600),
        })
    };
    let log = Log::open(dir.path(), options).unwrap();
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 0).unwrap();
    for id in 1..=8 {
        log.append_notify(&payload(id), id).unwrap();
    }
    fail::cfg("fsio::fdatasync", "return(eio)").unwrap();
    let t0 = std::time::Instant::now();
    let err = log.append_notify(&payload(9), 9).unwrap_err();
    fail::remove("fsio::fdatasync");
    assert!(matches!(err, Error::Poisoned(_)), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "the wait ran out instead"
    );
    assert_eq!(log.last_id(), 8);
    check(&drain(&queue, 8), 8, 0, "fdatasync");
    let m = log.metrics();
    assert_eq!(
        (m.async_appends, m.async_completed, m.async_full),
        (8, 8, 1)
    );
    scenario.teardown();
}
