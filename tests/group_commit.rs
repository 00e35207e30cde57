//! Group commit: 16 threads appending with `FlushPolicy::Sync`. Every id is durable when
//! its `append` returns, syncs are shared (far fewer than appends), and after reopening
//! every id is present, dense, with its own intact payload.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

use aof::{FlushPolicy, Log, Visibility};
use common::*;

const THREADS: u64 = 16;
const PER_THREAD: u64 = 200;

fn key(thread: u64, seq: u64) -> u64 {
    (thread << 32) | seq
}

fn len_of_key(k: u64) -> usize {
    16 + size_for(k, 600)
}

#[test]
fn sync_appends_from_16_threads_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts_with(FlushPolicy::Sync, Visibility::Written);
    let log = Arc::new(Log::open(dir.path(), opts.clone()).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::with_capacity(PER_THREAD as usize);
                for seq in 0..PER_THREAD {
                    let k = key(t, seq);
                    let id = log.append(&payload(k, len_of_key(k))).unwrap();
                    let durable = log.durable_id();
                    assert!(
                        durable >= id,
                        "thread {t}: append returned id {id} but durable_id is {durable}"
                    );
                    if let Some(&(prev, _)) = got.last() {
                        assert!(id > prev, "ids of one thread increase");
                    }
                    got.push((id, k));
                }
                got
            })
        })
        .collect();
    let mut by_id: HashMap<u64, u64> = HashMap::new();
    for h in handles {
        for (id, k) in h.join().unwrap() {
            assert!(by_id.insert(id, k).is_none(), "id {id} returned twice");
        }
    }
    let n = THREADS * PER_THREAD;
    assert_eq!(by_id.len() as u64, n);
    assert!(
        (1..=n).all(|id| by_id.contains_key(&id)),
        "ids are dense 1..={n}"
    );
    let m = log.metrics();
    assert_eq!(m.appends, n);
    assert_eq!(m.durable_id, n);
    assert!(m.syncs >= 1);
    assert!(
        m.syncs < m.appends / 2,
        "group commit: {} syncs for {} appends from {THREADS} threads: {m:?}",
        m.syncs,
        m.appends
    );
    eprintln!(
        "group commit: {} appends, {} syncs, {} write calls",
        m.appends, m.syncs, m.write_calls
    );

    let check = |what: &str, log: &Log| {
        assert_eq!(log.last_id(), n, "{what}");
        let rows = scan(log);
        assert_eq!(rows.len() as u64, n, "{what}: cursor count");
        for (i, (id, data)) in rows.iter().enumerate() {
            assert_eq!(*id, i as u64 + 1, "{what}: cursor order");
            let k = by_id[id];
            assert_eq!(self_key(data), Some(k), "{what}: payload of id {id}");
            check_payload(what, k, len_of_key(k), data);
        }
    };
    check("open", &log);
    drop(log);
    let log = Log::open(dir.path(), opts).unwrap();
    check("reopened", &log);
}
