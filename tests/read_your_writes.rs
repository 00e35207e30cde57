//! Read-your-writes: an id a caller was given is readable by that process at once, by
//! `read` and by a cursor opened afterwards, under every flush policy, even while the
//! record still sits in the appender's buffer. `Durable` visibility still hides records that
//! are not durable.

use std::sync::Arc;
use std::time::Duration;

use aof::{Error, FlushPolicy, Log, Options, StartAt, Visibility};

fn policies() -> Vec<FlushPolicy> {
    let long = Duration::from_secs(3600);
    vec![
        FlushPolicy::Sync,
        FlushPolicy::Async,
        FlushPolicy::Periodic { interval: long },
        FlushPolicy::Batched { records: 1_000_000 },
        FlushPolicy::BatchedOrPeriodic {
            records: 1_000_000,
            interval: long,
        },
    ]
}

fn payload(thread: usize, i: u64) -> Vec<u8> {
    format!("thread {thread} record {i}").into_bytes()
}

#[test]
fn every_id_is_readable_at_once_under_every_policy() {
    const THREADS: usize = 4;
    const PER_THREAD: u64 = 2_000;
    for policy in policies() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            flush: policy,
            // Small segments: the records roll across several.
            segment_size: 256 << 10,
            ..Options::default()
        };
        let log = Arc::new(Log::open(dir.path(), opts).unwrap());
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        let data = payload(t, i);
                        let id = log.append(&data).unwrap();
                        assert_eq!(log.read(id).unwrap(), data, "{policy:?}: read({id})");
                        if i % 10 == 0 {
                            let mut c = log.cursor(StartAt::Id(id)).unwrap();
                            let r = c.next().unwrap().unwrap_or_else(|| {
                                panic!("{policy:?}: a cursor at {id} saw nothing")
                            });
                            assert_eq!((r.id, r.data), (id, &data[..]), "{policy:?}");
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let total = THREADS as u64 * PER_THREAD;
        assert_eq!(log.last_id(), total);
        // A cursor from the oldest sees every record, durable or not.
        let mut c = log.cursor(StartAt::Oldest).unwrap();
        let mut n = 0;
        while c.next().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, total, "{policy:?}");
        log.close().unwrap();
    }
}

#[test]
fn durable_visibility_still_hides_records_that_are_not_durable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        flush: FlushPolicy::Periodic {
            interval: Duration::from_secs(3600),
        },
        visibility: Visibility::Durable,
        ..Options::default()
    };
    let log = Log::open(dir.path(), opts).unwrap();
    let id = log.append(b"not yet durable").unwrap();
    assert!(matches!(log.read(id), Err(Error::NotFound { .. })));
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    assert!(c.next().unwrap().is_none());
    log.flush().unwrap();
    assert_eq!(log.read(id).unwrap(), b"not yet durable");
    assert_eq!(c.next().unwrap().unwrap().id, id);
}

#[test]
fn not_found_on_an_empty_log_says_it_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let err = log.read(1).unwrap_err();
    assert!(matches!(err, Error::NotFound { id: 1, .. }));
    let text = err.to_string();
    assert!(text.contains("no visible records"), "{text}");
    assert!(!text.contains("1..=0"), "{text}");
    log.append(b"one").unwrap();
    let text = log.read(2).unwrap_err().to_string();
    assert!(text.contains("visible ids are 1..=1"), "{text}");
}
