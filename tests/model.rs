//! Model test: random sequences of appends, batches, reads, scans and reopens (clean and
//! after a simulated crash) must leave the log equal to a plain `Vec` of payloads.

use aof::{FlushPolicy, Log, Options, StartAt};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append(usize),
    Batch(Vec<usize>),
    Read(u64),
    ScanFrom(u64),
    ReopenClean,
    /// Close, then delete the clean-shutdown marker so the next open scans the tail as it
    /// would after a crash.
    ReopenAfterCrash,
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![0usize..16, 16usize..300, Just(900usize)];
    prop_oneof![
        6 => size.clone().prop_map(Op::Append),
        2 => prop::collection::vec(size, 1..12).prop_map(Op::Batch),
        2 => any::<u64>().prop_map(Op::Read),
        1 => any::<u64>().prop_map(Op::ScanFrom),
        1 => Just(Op::ReopenClean),
        1 => Just(Op::ReopenAfterCrash),
    ]
}

fn payload(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + seed * 7) as u8).collect()
}

fn options() -> Options {
    Options {
        segment_size: 4096,
        max_record_size: Some(1024),
        flush: FlushPolicy::Sync,
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn log_matches_vec(ops in prop::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), options()).unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            match op {
                Op::Append(n) => {
                    let p = payload(n, model.len());
                    let id = log.append(&p).unwrap();
                    model.push(p);
                    prop_assert_eq!(id, model.len() as u64);
                }
                Op::Batch(sizes) => {
                    let ps: Vec<Vec<u8>> = sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| payload(n, model.len() + i))
                        .collect();
                    let first = log.append_batch(&ps).unwrap();
                    prop_assert_eq!(first, model.len() as u64 + 1);
                    model.extend(ps);
                }
                Op::Read(x) => {
                    let id = x % (model.len() as u64 + 2);
                    match log.read(id) {
                        Ok(data) => prop_assert_eq!(&data, &model[id as usize - 1]),
                        Err(aof::Error::NotFound { .. }) => {
                            prop_assert!(id == 0 || id > model.len() as u64)
                        }
                        Err(e) => prop_assert!(false, "read {}: {}", id, e),
                    }
                }
                Op::ScanFrom(x) => {
                    let start = 1 + x % (model.len() as u64 + 1);
                    let mut c = log.cursor(StartAt::Id(start)).unwrap();
                    let mut expect = start;
                    while let Some(r) = c.next().unwrap() {
                        prop_assert_eq!(r.id, expect);
                        prop_assert_eq!(r.data, &model[expect as usize - 1][..]);
                        expect += 1;
                    }
                    prop_assert_eq!(expect, model.len() as u64 + 1);
                }
                Op::ReopenClean | Op::ReopenAfterCrash => {
                    log.close().unwrap();
                    drop(log);
                    if matches!(op, Op::ReopenAfterCrash) {
                        std::fs::remove_file(dir.path().join("CLEAN")).unwrap();
                    }
                    log = Log::open(dir.path(), options()).unwrap();
                    prop_assert_eq!(log.recovery().clean_shutdown, matches!(op, Op::ReopenClean));
                    prop_assert!(log.recovery().repaired.is_none());
                    prop_assert_eq!(log.last_id(), model.len() as u64);
                }
            }
        }
        prop_assert_eq!(log.verify().unwrap().records, model.len() as u64);
    }
}
