//! Concurrency: 8 threads appending records of varying sizes (single appends and batches) to
//! one `Arc<Log>` with small segments, so that rolls happen under contention, while a
//! tailing cursor and a random reader run. Afterwards and after reopening: ids are dense
//! 1..=N, every payload is the one appended with the id it was returned with, and cursor
//! order is id order.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use aof::{Error, FlushPolicy, Log, StartAt, Visibility};
use common::*;

const THREADS: u64 = 8;
const MAX: usize = SMALL_MAX_RECORD as usize;

fn len_of_key(k: u64) -> usize {
    16 + size_for(k, MAX - 16)
}

/// Checks one record read back: its embedded key, its bytes, and (when known) that the key
/// is the one appended with this id.
fn check_record(what: &str, id: u64, data: &[u8], by_id: Option<&HashMap<u64, u64>>) {
    let k = self_key(data).unwrap_or_else(|| {
        panic!(
            "{what}: record {id} ({} bytes) is not a payload this test wrote",
            data.len()
        )
    });
    check_payload(what, k, len_of_key(k), data);
    if let Some(map) = by_id {
        assert_eq!(
            map.get(&id),
            Some(&k),
            "{what}: record {id} holds key {k:#x}"
        );
    }
}

fn run(policy: FlushPolicy, ops_per_thread: u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts_with(policy, Visibility::Written);
    let log = Arc::new(Log::open(dir.path(), opts.clone()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(THREADS as usize));

    // A tailing reader: sees dense ids in order, each payload intact.
    let tail = {
        let mut c = log.cursor(StartAt::Oldest).unwrap();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut expect = 1u64;
            loop {
                while let Some(r) = c.next().unwrap() {
                    assert_eq!(r.id, expect, "tailing cursor order");
                    check_record("tailing cursor", r.id, r.data, None);
                    expect += 1;
                }
                if done.load(Ordering::Acquire) {
                    // The writers are finished: drain what is left.
                    while let Some(r) = c.next().unwrap() {
                        assert_eq!(r.id, expect);
                        check_record("tailing cursor", r.id, r.data, None);
                        expect += 1;
                    }
                    return expect - 1;
                }
                c.wait(Some(Duration::from_millis(50))).unwrap();
            }
        })
    };
    // A random reader of visible ids.
    let reader = {
        let log = Arc::clone(&log);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut x = 12345u64;
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                let last = log.last_id();
                if last == 0 {
                    thread::yield_now();
                    continue;
                }
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = 1 + (x >> 33) % last;
                // last_id counts appends still in flight (or, under the background
                // policies, buffered): such an id may not be visible yet.
                match log.read(id) {
                    Ok(data) => {
                        check_record("random read", id, &data, None);
                        reads += 1;
                    }
                    // (Whether the bounds in the error agree is checked by
                    // not_found_bounds_agree_with_the_refusal.)
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => panic!("read({id}): {e}"),
                }
            }
            reads
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut got: Vec<(u64, u64)> = Vec::new();
                let mut seq = 0u64;
                for op in 0..ops_per_thread {
                    if op % 4 == 3 {
                        let m = 1 + (op / 4) % 6;
                        let keys: Vec<u64> = (0..m).map(|i| (t << 40) | (seq + i)).collect();
                        seq += m;
                        let batch: Vec<Vec<u8>> =
                            keys.iter().map(|&k| payload(k, len_of_key(k))).collect();
                        let first = log.append_batch(&batch).unwrap();
                        for (i, k) in keys.into_iter().enumerate() {
                            got.push((first + i as u64, k));
                        }
                    } else {
                        let k = (t << 40) | seq;
                        seq += 1;
                        got.push((log.append(&payload(k, len_of_key(k))).unwrap(), k));
                    }
                }
                got
            })
        })
        .collect();
    let mut by_id: HashMap<u64, u64> = HashMap::new();
    for w in writers {
        let got = w.join().unwrap();
        for pair in got.windows(2) {
            assert!(
                pair[1].0 > pair[0].0,
                "{policy:?}: one thread's ids increase"
            );
        }
        for (id, k) in got {
            assert!(
                by_id.insert(id, k).is_none(),
                "{policy:?}: id {id} returned twice"
            );
        }
    }
    // Everything appended becomes visible (and durable) before the reader drains.
    log.flush().unwrap();
    done.store(true, Ordering::Release);
    let n = by_id.len() as u64;
    assert!(
        (1..=n).all(|id| by_id.contains_key(&id)),
        "{policy:?}: ids dense 1..={n}"
    );
    assert_eq!(
        tail.join().unwrap(),
        n,
        "{policy:?}: tailing cursor saw every record"
    );
    let reads = reader.join().unwrap();
    let m = log.metrics();
    assert_eq!(m.last_id, n);
    assert_eq!(m.appends, n);
    assert!(
        m.segments_sealed >= 3,
        "{policy:?}: rolls under contention: {m:?}"
    );
    eprintln!("{policy:?}: {n} records, {reads} random reads, {m:?}");

    let check = |what: &str, log: &Log| {
        assert_eq!(log.last_id(), n, "{what}");
        for id in 1..=n {
            check_record(what, id, &log.read(id).unwrap(), Some(&by_id));
        }
        let mut c = log.cursor(StartAt::Oldest).unwrap();
        let mut expect = 1;
        while let Some(r) = c.next().unwrap() {
            assert_eq!(r.id, expect, "{what}: cursor order");
            check_record(what, r.id, r.data, Some(&by_id));
            expect += 1;
        }
        assert_eq!(expect, n + 1, "{what}: cursor count");
    };
    check(&format!("{policy:?}, open"), &log);
    log.flush().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts).unwrap();
    check(&format!("{policy:?}, reopened"), &log);
    assert_eq!(log.verify().unwrap().records, n);
}

#[test]
fn eight_writers_sync() {
    run(FlushPolicy::Sync, 150);
}

#[test]
fn eight_writers_async() {
    run(FlushPolicy::Async, 400);
}

#[test]
fn eight_writers_batched_or_periodic() {
    run(
        FlushPolicy::BatchedOrPeriodic {
            records: 64,
            interval: Duration::from_millis(5),
        },
        400,
    );
}

/// A `NotFound` error names the visible range; it must not claim that the id it refuses is
/// inside that range. Reads chase the tail of a log a writer keeps appending to.
#[test]
fn not_found_bounds_agree_with_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts_with(FlushPolicy::Async, Visibility::Written);
    let log = Arc::new(Log::open(dir.path(), opts).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let log = Arc::clone(&log);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut n = 0u64;
            while !done.load(Ordering::Acquire) && n < 200_000 {
                log.append(&payload(n, 24)).unwrap();
                n += 1;
            }
        })
    };
    let mut next = 1u64;
    let mut bad = Vec::new();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(2) && bad.len() < 5 {
        match log.read(next) {
            Ok(_) => next += 1,
            Err(Error::NotFound { id, first, last }) => {
                if (first..=last).contains(&id) {
                    bad.push(format!(
                        "NotFound {{ id: {id}, first: {first}, last: {last} }}"
                    ));
                }
            }
            Err(e) => panic!("read({next}): {e}"),
        }
    }
    done.store(true, Ordering::Release);
    writer.join().unwrap();
    assert!(
        bad.is_empty(),
        "read refused ids inside the range its error reports: {bad:?}"
    );
}
