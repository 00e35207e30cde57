//! Asynchronous appends: every one gets exactly one completion, those of one log in id
//! order, durable only once synced; the in-flight bound waits or refuses as configured;
//! close completes everything pending; futures resolve on any executor.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use aof::{
    AsyncLimits, Completion, CompletionQueue, Error, FlushPolicy, Log, Manager, ManagerOptions,
    Options, Outcome,
};
use common::*;

const POLL: Option<Duration> = Some(Duration::from_secs(10));

/// Drains `queue` until `n` completions arrived; fails if it goes quiet for 10 s.
fn drain(queue: &CompletionQueue, n: usize) -> Vec<Completion> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let got = queue.poll(&mut out, 4096, POLL).unwrap();
        assert!(got > 0, "no completion for 10 s after {} of {n}", out.len());
    }
    out
}

fn opts(flush: FlushPolicy) -> Options {
    Options {
        flush,
        segment_size: 4 << 20,
        ..Options::default()
    }
}

/// Checks the completions of one log: each id 1..=n exactly once, in id order, durable,
/// with the tag the append was given (the id times 3 here).
fn check_in_order(completions: &[Completion], n: u64) {
    assert_eq!(completions.len() as u64, n);
    for (i, c) in completions.iter().enumerate() {
        assert_eq!(c.id, i as u64 + 1, "completion {i} out of order");
        assert_eq!(c.tag, c.id * 3);
        assert_eq!(c.outcome, Outcome::Durable);
    }
}

/// A million asynchronous appends from one thread under each policy that syncs on its
/// own: exactly one completion each, in id order, and the durable id covers them.
#[test]
fn a_million_appends_from_one_thread_complete_once_each_in_order() {
    for (flush, n) in [
        (FlushPolicy::Sync, 1_000_000u64),
        (FlushPolicy::Batched { records: 5000 }, 200_000),
        (FlushPolicy::Async, 200_000),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), opts(flush)).unwrap();
        let queue = CompletionQueue::new().unwrap();
        log.attach_queue(Some(queue.clone()), 42).unwrap();
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || drain(&queue, n as usize))
        };
        for i in 1..=n {
            let id = log.append_notify(&payload(i, 64), i * 3).unwrap();
            assert_eq!(id, i);
        }
        if flush != FlushPolicy::Sync {
            // `Batched` leaves a tail short of a batch for the next appends (or a flush).
            log.flush().unwrap();
        }
        let completions = consumer.join().unwrap();
        check_in_order(&completions, n);
        assert!(completions.iter().all(|c| c.source == 42));
        assert!(log.durable_id() >= n);
        let m = log.metrics();
        assert_eq!(
            (m.async_appends, m.async_completed, m.async_in_flight),
            (n, n, 0)
        );
        assert!(
            m.syncs < n / 4,
            "{flush:?}: {} syncs for {n} appends",
            m.syncs
        );
        assert_eq!(queue.len(), 0);
        log.close().unwrap();
        let log = Log::open(dir.path(), opts(flush)).unwrap();
        assert_eq!(log.last_id(), n);
        assert_eq!(log.read(n).unwrap(), payload(n, 64));
    }
}

/// Eight threads append a million records in all to one log: every completion once,
/// still in id order (registration happens under the writer lock).
#[test]
fn a_million_appends_from_eight_threads_complete_once_each_in_order() {
    const THREADS: u64 = 8;
    const EACH: u64 = 125_000;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), opts(FlushPolicy::Sync)).unwrap());
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 1).unwrap();
    let consumer = {
        let queue = queue.clone();
        thread::spawn(move || drain(&queue, (THREADS * EACH) as usize))
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || {
                let mut ids = HashMap::new();
                for i in 0..EACH {
                    let key = t * EACH + i;
                    let id = log.append_notify(&payload(key, 64), key).unwrap();
                    ids.insert(id, key);
                }
                ids
            })
        })
        .collect();
    let mut tag_of = HashMap::new();
    for w in writers {
        tag_of.extend(w.join().unwrap());
    }
    let completions = consumer.join().unwrap();
    assert_eq!(completions.len() as u64, THREADS * EACH);
    for (i, c) in completions.iter().enumerate() {
        assert_eq!(c.id, i as u64 + 1, "completion {i} out of order");
        assert_eq!(
            c.tag, tag_of[&c.id],
            "id {} carries another append's tag",
            c.id
        );
        assert_eq!(c.outcome, Outcome::Durable);
    }
    // Each record holds what its tag says.
    for id in (1..=THREADS * EACH).step_by(9973) {
        assert_eq!(log.read(id).unwrap(), payload(tag_of[&id], 64));
    }
    assert_eq!(log.metrics().async_in_flight, 0);
}

/// Completions of logs sharing a queue carry their log's source and come in id order per
/// log.
#[test]
fn logs_of_one_manager_share_a_queue() {
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::open(dir.path(), ManagerOptions::default()).unwrap();
    let queue = CompletionQueue::new().unwrap();
    let logs: Vec<_> = (0..3)
        .map(|i| {
            let log = manager
                .open_log(&format!("log{i}"), Options::default())
                .unwrap();
            log.attach_queue(Some(queue.clone()), 100 + i).unwrap();
            log
        })
        .collect();
    assert_eq!(queue.attached_logs(), 3);
    for round in 1..=1000u64 {
        for log in &logs {
            log.append_notify(&payload(round, 32), round * 3).unwrap();
        }
    }
    let completions = drain(&queue, 3000);
    for source in 100..103 {
        let of_log: Vec<_> = completions
            .iter()
            .filter(|c| c.source == source)
            .cloned()
            .collect();
        check_in_order(&of_log, 1000);
    }
    drop(logs);
    assert_eq!(queue.attached_logs(), 0, "closing a log detaches it");
}

/// Futures resolve on an executor that is not libaof's (a bare `block_on`), once the
/// record is durable.
#[test]
fn futures_resolve_on_any_executor() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(FlushPolicy::Sync)).unwrap();
    let futures: Vec<_> = (1..=10_000u64)
        .map(|i| log.append_async(&payload(i, 100)))
        .collect();
    assert_eq!(futures[9_999].id(), Some(10_000));
    let ids = futures::executor::block_on(futures::future::join_all(futures));
    for (i, id) in ids.into_iter().enumerate() {
        let id = id.unwrap();
        assert_eq!(id, i as u64 + 1);
        assert!(log.durable_id() >= id);
    }
    // An append that fails resolves to its error.
    let too_large = vec![0u8; 17 << 20];
    let f = log.append_async(&too_large);
    assert_eq!(f.id(), None);
    assert!(matches!(
        futures::executor::block_on(f),
        Err(Error::RecordTooLarge { .. })
    ));
}

/// Under a policy that syncs only on a timer far away, the bound fills up; an append past
/// it asks for a sync and waits for room (`wait`), or fails at once with `WouldBlock`
/// (`wait: None`) having appended nothing.
#[test]
fn a_full_bound_waits_for_room_or_refuses() {
    let slow = FlushPolicy::Periodic {
        interval: Duration::from_secs(3600),
    };
    for wait in [Some(Duration::from_secs(30)), None] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            async_limits: AsyncLimits {
                max_records: 100,
                max_bytes: 1 << 20,
                wait,
            },
            ..opts(slow)
        };
        let log = Log::open(dir.path(), options).unwrap();
        let queue = CompletionQueue::new().unwrap();
        log.attach_queue(Some(queue.clone()), 0).unwrap();
        for i in 1..=100u64 {
            log.append_notify(&payload(i, 64), i * 3).unwrap();
        }
        assert_eq!(log.metrics().async_in_flight, 100);
        assert_eq!(log.durable_id(), 0, "the timer is an hour away");
        match wait {
            Some(_) => {
                // Waits, asks for a sync, and gets room once it completes.
                assert_eq!(log.append_notify(&payload(101, 64), 303).unwrap(), 101);
                assert!(log.durable_id() >= 100);
                check_in_order(&drain(&queue, 100), 100);
            }
            None => {
                let err = log.append_notify(&payload(101, 64), 303).unwrap_err();
                assert!(matches!(err, Error::WouldBlock(_)), "{err}");
                assert_eq!(log.last_id(), 100, "nothing appended");
                assert_eq!(queue.len(), 0);
            }
        }
        assert_eq!(log.metrics().async_full, 1);
        // The bytes bound, too: one large record fills it.
        log.flush().unwrap();
        log.close().unwrap();
    }
}

/// Close with appends pending (no sync on its way): close syncs them and every completion
/// says durable before close returns.
#[test]
fn close_completes_every_pending_append() {
    let dir = tempfile::tempdir().unwrap();
    let slow = FlushPolicy::Periodic {
        interval: Duration::from_secs(3600),
    };
    let log = Log::open(dir.path(), opts(slow)).unwrap();
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 0).unwrap();
    let mut futures = Vec::new();
    for i in 1..=500u64 {
        if i % 2 == 0 {
            futures.push(log.append_async(&payload(i, 64)));
        } else {
            log.append_notify(&payload(i, 64), i).unwrap();
        }
    }
    assert_eq!(queue.len(), 0);
    log.close().unwrap();
    assert_eq!(
        queue.len(),
        250,
        "every queued completion was posted by close"
    );
    let completions = drain(&queue, 250);
    assert!(completions.iter().all(|c| c.outcome == Outcome::Durable));
    for f in futures {
        futures::executor::block_on(f).unwrap();
    }
    assert_eq!(queue.attached_logs(), 0);
    assert!(matches!(log.append_notify(b"x", 0), Err(Error::Closed)));
}

/// A callback queue: the callback runs on the dispatcher thread and sees every completion
/// once, in order.
#[test]
fn a_callback_queue_sees_every_completion_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(FlushPolicy::Sync)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let theirs = seen.clone();
    let main = thread::current().id();
    let queue = CompletionQueue::with_callback(Box::new(move |batch: &[Completion]| {
        assert_ne!(thread::current().id(), main);
        theirs.lock().unwrap().extend_from_slice(batch);
    }))
    .unwrap();
    log.attach_queue(Some(queue.clone()), 9).unwrap();
    for i in 1..=50_000u64 {
        log.append_notify(&payload(i, 64), i * 3).unwrap();
    }
    log.close().unwrap();
    drop(queue); // delivers the rest and joins the dispatcher
    check_in_order(&seen.lock().unwrap(), 50_000);
}

/// Attaching is refused while appends are in flight; appending without a queue is an
/// invalid argument.
#[test]
fn the_queue_changes_only_when_nothing_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let slow = FlushPolicy::Periodic {
        interval: Duration::from_secs(3600),
    };
    let log = Log::open(dir.path(), opts(slow)).unwrap();
    assert!(matches!(
        log.append_notify(b"x", 1),
        Err(Error::InvalidArgument(_))
    ));
    let (a, b) = (
        CompletionQueue::new().unwrap(),
        CompletionQueue::new().unwrap(),
    );
    log.attach_queue(Some(a.clone()), 1).unwrap();
    log.append_notify(b"x", 1).unwrap();
    assert!(matches!(
        log.attach_queue(Some(b.clone()), 2),
        Err(Error::InvalidArgument(_))
    ));
    log.flush().unwrap();
    assert_eq!(drain(&a, 1)[0].source, 1);
    log.attach_queue(Some(b.clone()), 2).unwrap();
    assert_eq!((a.attached_logs(), b.attached_logs()), (0, 1));
}
