//! Append/read round trips: empty, tiny, odd, large and maximum-size records, under the
//! default options (16 MiB records, 64 MiB segments) and with small segments that roll;
//! over-size records are rejected with nothing written; batches; read errors; metrics.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aof::segment::format::{framed_len, FOOTER_LEN, HEADER_LEN};
use aof::{Error, Log, Options};
use common::*;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

const MIB: usize = 1 << 20;

#[test]
fn sizes_round_trip_with_default_options() {
    let dir = tempfile::tempdir().unwrap();
    let max = 16 * MIB;
    // Odd and boundary sizes, then enough maximum-size records to roll a 64 MiB segment.
    let mut sizes = vec![
        0,
        1,
        2,
        3,
        7,
        8,
        9,
        15,
        16,
        17,
        31,
        33,
        63,
        65,
        255,
        1000,
        4095,
        4097,
        65_537,
        MIB + 3,
        max - 1,
        max,
    ];
    sizes.extend([max, max, max]);
    let len_of = |id: u64| sizes[id as usize - 1];
    let t0 = now_us();
    {
        let log = Log::open(dir.path(), Options::default()).unwrap();
        assert_eq!(log.last_id(), 0);
        for (i, &len) in sizes.iter().enumerate() {
            let id = log.append(&payload(i as u64 + 1, len)).unwrap();
            assert_eq!(id, i as u64 + 1, "ids are dense from 1");
            let back = log.read(id).unwrap();
            check_payload("read right after append", id, len, &back);
            let (rid, ts, ok) = log
                .read_with(id, |r| {
                    (r.id, r.timestamp_us, r.data == payload(id, len).as_slice())
                })
                .unwrap();
            assert_eq!(rid, id);
            assert!(ok, "read_with data of record {id}");
            assert!(
                ts + 60_000_000 >= t0 && ts <= now_us() + 60_000_000,
                "timestamp_us {ts} of record {id} is not an append time (test began at {t0})"
            );
        }
        let n = sizes.len() as u64;
        // Over-size: rejected, nothing written.
        let e = log.append(&vec![7u8; max + 1]).unwrap_err();
        assert!(
            matches!(e, Error::RecordTooLarge { len, max: m } if len == max as u64 + 1 && m == max as u64),
            "expected RecordTooLarge, got {e:?}"
        );
        assert_eq!(log.last_id(), n);
        assert_eq!(log.metrics().appends, n);
        let m = log.metrics();
        assert!(
            m.segments_sealed >= 1,
            "four 16 MiB records cannot share a 64 MiB segment: {m:?}"
        );
        assert_holds_exactly("default options, open", &log, n, &len_of);
        log.close().unwrap();
    }
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_holds_exactly(
        "default options, reopened",
        &log,
        sizes.len() as u64,
        &len_of,
    );
}

#[test]
fn small_segments_round_trip_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let max = SMALL_MAX_RECORD as usize;
    let len_of = |id: u64| size_for(id, max);
    let n = 400u64;
    {
        let log = Log::open(dir.path(), small_opts()).unwrap();
        for id in 1..=n {
            assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
        }
        let m = log.metrics();
        assert!(m.segments_sealed >= 3, "expected rolls: {m:?}");
        assert_eq!(m.appends, n);
        assert_eq!(
            m.append_bytes,
            (1..=n).map(|i| len_of(i) as u64).sum::<u64>()
        );
        assert_eq!(m.last_id, n);
        assert_eq!(
            m.durable_id, n,
            "FlushPolicy::Sync: all appended ids are durable"
        );
        assert_eq!(
            m.segment_count,
            segment_files(dir.path()).len() as u64,
            "segment_count vs the *.seg files in the directory"
        );
        assert_holds_exactly("small segments, open", &log, n, &len_of);
        let v = log.verify().unwrap();
        assert_eq!(v.records, n, "{v:?}");
        assert_eq!(v.segments, segment_files(dir.path()).len() as u64, "{v:?}");
    }
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_holds_exactly("small segments, reopened", &log, n, &len_of);
    assert_eq!(log.verify().unwrap().records, n);
}

/// Records that fill a segment to the last byte before the footer, and one byte more.
#[test]
fn records_that_exactly_fill_a_segment() {
    let max = SMALL_MAX_RECORD;
    let room = SMALL_SEGMENT - HEADER_LEN - FOOTER_LEN;
    let three = 3 * framed_len(max);
    let exact = room - three - 32; // payload whose framed length fills the segment exactly
    assert_eq!(three + framed_len(exact), room);
    for last in [exact, exact + 1, exact - 8, exact + 8] {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [max, max, max, last, 0, 1, max, max, max, last, 5];
        let len_of = |id: u64| sizes[id as usize - 1] as usize;
        {
            let log = Log::open(dir.path(), small_opts()).unwrap();
            for id in 1..=sizes.len() as u64 {
                assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
            }
            assert!(log.metrics().segments_sealed >= 1);
            assert_holds_exactly(
                &format!("fill with {last}"),
                &log,
                sizes.len() as u64,
                &len_of,
            );
        }
        let log = Log::open(dir.path(), small_opts()).unwrap();
        assert_holds_exactly(
            &format!("fill with {last}, reopened"),
            &log,
            sizes.len() as u64,
            &len_of,
        );
    }
}

#[test]
fn oversize_record_is_rejected_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let max = SMALL_MAX_RECORD as usize;
    let len_of = |id: u64| (id as usize * 37) % 500;
    {
        let log = Log::open(dir.path(), small_opts()).unwrap();
        for id in 1..=5 {
            log.append(&payload(id, len_of(id))).unwrap();
        }
        let before = log.metrics();
        let e = log.append(&vec![1u8; max + 1]).unwrap_err();
        assert!(
            matches!(e, Error::RecordTooLarge { len, max: m } if len == max as u64 + 1 && m == max as u64),
            "expected RecordTooLarge{{len: {}, max: {max}}}, got {e:?}",
            max + 1
        );
        // A batch with one over-size record: none of it is written.
        let batch = vec![vec![2u8; 10], vec![3u8; max + 100], vec![4u8; 10]];
        let e = log.append_batch(&batch).unwrap_err();
        assert!(
            matches!(e, Error::RecordTooLarge { len, .. } if len == max as u64 + 100),
            "expected RecordTooLarge for the batch, got {e:?}"
        );
        assert_eq!(log.last_id(), 5);
        let after = log.metrics();
        assert_eq!(after.appends, before.appends);
        assert_eq!(after.append_bytes, before.append_bytes);
        assert_eq!(after.last_id, 5);
        assert!(matches!(log.read(6), Err(Error::NotFound { .. })));
        // Exactly the maximum is fine, and takes the next id.
        assert_eq!(log.append(&payload(6, max)).unwrap(), 6);
    }
    let len_of = |id: u64| if id == 6 { max } else { len_of(id) };
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_holds_exactly("after rejected records, reopened", &log, 6, &len_of);
}

#[test]
fn batches_get_dense_ids_and_may_span_segments() {
    let dir = tempfile::tempdir().unwrap();
    let max = SMALL_MAX_RECORD as usize;
    // ids 1..=10: a batch of small and empty records; 11: single; 12..=19: a batch of
    // maximum-size records larger than one segment; 20: a batch of one.
    let len_of = |id: u64| match id {
        1..=10 => (id as usize - 1) * 3,
        12..=19 => max,
        _ => 100 + id as usize,
    };
    {
        let log = Log::open(dir.path(), small_opts()).unwrap();
        let empty: Vec<Vec<u8>> = Vec::new();
        assert!(
            matches!(log.append_batch(&empty), Err(Error::InvalidArgument(_))),
            "an empty batch is an invalid argument"
        );
        assert_eq!(log.last_id(), 0);
        let b: Vec<Vec<u8>> = (1..=10).map(|i| payload(i, len_of(i))).collect();
        assert_eq!(log.append_batch(&b).unwrap(), 1);
        assert_eq!(log.last_id(), 10);
        assert_eq!(log.append(&payload(11, len_of(11))).unwrap(), 11);
        let b: Vec<Vec<u8>> = (12..=19).map(|i| payload(i, len_of(i))).collect();
        assert_eq!(log.append_batch(&b).unwrap(), 12);
        assert_eq!(log.append_batch(&[payload(20, len_of(20))]).unwrap(), 20);
        let m = log.metrics();
        assert_eq!(m.appends, 20);
        assert_eq!(m.batches, 3);
        assert!(m.segments_sealed >= 1, "{m:?}");
        assert_holds_exactly("batches, open", &log, 20, &len_of);
    }
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_holds_exactly("batches, reopened", &log, 20, &len_of);
}

#[test]
fn reads_outside_the_log_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert!(matches!(log.read(1), Err(Error::NotFound { id: 1, .. })));
    assert!(matches!(log.read(0), Err(Error::NotFound { id: 0, .. })));
    for id in 1..=3 {
        log.append(&payload(id, 20)).unwrap();
    }
    let e = log.read(4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                id: 4,
                first: 1,
                last: 3
            }
        ),
        "got {e:?}"
    );
    assert!(matches!(log.read(0), Err(Error::NotFound { id: 0, .. })));
    assert!(matches!(log.read(u64::MAX), Err(Error::NotFound { .. })));
    assert!(matches!(
        log.read_with(4, |_| ()),
        Err(Error::NotFound { .. })
    ));
    let before = log.metrics();
    check_payload("read", 2, 20, &log.read(2).unwrap());
    let after = log.metrics();
    assert_eq!(after.reads, before.reads + 1);
    assert_eq!(after.read_bytes, before.read_bytes + 20);
}
