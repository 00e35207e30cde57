use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::segment::format::{framed_len, HEADER_LEN};
use crate::segment::layout::Layout;
use crate::{Log, Manager, ManagerOptions, Options};

fn small() -> Options {
    Options {
        segment_size: 8192,
        max_record_size: Some(1024),
        ..Options::default()
    }
}

fn payload(i: u64) -> Vec<u8> {
    vec![i as u8; (i * 7 % 300) as usize]
}

/// Appends records `from..=to` (payloads by `payload`).
fn append(log: &Log, from: u64, to: u64) {
    for i in from..=to {
        assert_eq!(log.append(&payload(i)).unwrap(), i);
    }
}

/// Every record from `from` to the current end: (id, position, payload).
fn read_all(log: &ReadOnlyLog, from: u64) -> Vec<(u64, u64, Vec<u8>)> {
    let mut c = log.cursor(from).unwrap();
    let mut out = Vec::new();
    while let Some(r) = c.next().unwrap() {
        out.push((r.id, r.position, r.data.to_vec()));
    }
    out
}

/// The bytes of every file in `dir` but libmdbx's lock file (which a reader may touch).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| !n.ends_with("-lck"))
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect()
}

#[test]
fn reads_a_closed_log_with_its_catalogue_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 200);
    log.close().unwrap();
    drop(log);
    let before = snapshot(dir.path());

    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    assert!(matches!(ro.catalog_status(), CatalogStatus::Read { .. }));
    assert!(matches!(ro.marker(), MarkerState::Valid(_)));
    assert_eq!(ro.bounds(), (1, 200));
    assert!(ro.segments().len() >= 4);
    assert!(ro.tail().unwrap().garbage.is_none());
    let records = read_all(&ro, 1);
    assert_eq!(records.len(), 200);
    let mut pos = 0;
    for (i, (id, p, data)) in records.iter().enumerate() {
        assert_eq!(*id, i as u64 + 1);
        assert_eq!(*p, pos);
        assert_eq!(*data, payload(*id));
        pos += data.len() as u64;
    }
    // From the middle of a later segment, positions agree.
    let from = read_all(&ro, 150);
    assert_eq!(from[..], records[149..]);
    assert!(matches!(ro.cursor(202), Err(Error::NotFound { .. })));
    assert_eq!(read_all(&ro, 201), vec![]);
    let v = ro.verify(false, |_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.report.damage);
    assert_eq!(v.report.records, 200);
    drop(ro);
    assert_eq!(snapshot(dir.path()), before);

    // The log opens as it was left: cleanly.
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.last_id(), 200);
}

#[test]
fn follows_a_writer_in_the_same_process_without_disturbing_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 10);
    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    assert_eq!(ro.bounds(), (1, 10));
    assert!(matches!(ro.marker(), MarkerState::Absent));
    // libmdbx refuses a second open of one file in one process: the files alone are read.
    assert!(matches!(ro.catalog_status(), CatalogStatus::Unreadable(_)));
    let mut c = ro.cursor(1).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = c.next().unwrap() {
        seen.push(r.data.to_vec());
    }
    assert_eq!(seen.len(), 10);
    // The writer goes on (across several rolls); the cursor picks it up.
    append(&log, 11, 300);
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.id, seen.len() as u64 + 1);
        seen.push(r.data.to_vec());
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(seen[299], payload(300));
    let v = ro.verify(true, |_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.report.damage);
    assert!(v.tail_in_flight);
    append(&log, 301, 310);
    assert!(c.next().unwrap().is_some());
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.last_id(), 310);
}

#[test]
fn stops_at_a_torn_tail_and_verify_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 0..5u8 {
        log.append(&[i; 100]).unwrap();
    }
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(Layout::new(dir.path()).clean_marker()).unwrap();
    let seg = Layout::new(dir.path()).segment(1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = (HEADER_LEN + 4 * framed_len(100)) as usize;
    bytes[last + 40] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();

    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    assert_eq!(ro.bounds(), (1, 4));
    let tail = ro.tail().unwrap();
    assert_eq!(tail.offset, last as u64);
    assert_eq!(tail.garbage, Some((last as u64, 32 + 100)));
    assert_eq!(read_all(&ro, 1).len(), 4);
    let v = ro.verify(false, |_| {}).unwrap();
    assert_eq!(v.report.damage.len(), 1, "{:?}", v.report.damage);
    assert_eq!(v.report.damage[0].offset, last as u64);
    // With a writer at work the same bytes may be a record in flight: not damage.
    assert!(ro.verify(true, |_| {}).unwrap().is_clean());
    drop(ro);
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn damage_in_a_sealed_segment_is_an_error_and_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 100);
    log.close().unwrap();
    drop(log);
    let seg = Layout::new(dir.path()).segment(1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let second = HEADER_LEN + framed_len(payload(1).len() as u64);
    bytes[second as usize + 33] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();

    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    let mut c = ro.cursor(1).unwrap();
    assert_eq!(c.next().unwrap().unwrap().id, 1);
    assert!(matches!(c.next(), Err(Error::Corruption { offset, .. }) if offset == second));
    let v = ro.verify(false, |_| {}).unwrap();
    assert_eq!(v.report.damage.len(), 1, "{:?}", v.report.damage);
    assert_eq!(v.report.damage[0].offset, second);
    assert_eq!(v.report.damage[0].segment, seg);
}

#[test]
fn reads_compressed_segments_with_and_without_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 200);
    assert!(log.compress_now().unwrap() >= 3);
    log.close().unwrap();
    drop(log);
    for use_catalog in [true, false] {
        let options = ReadOnlyOptions {
            use_catalog,
            archive: None,
        };
        let ro = ReadOnlyLog::open_with(dir.path(), options).unwrap();
        let tiers: Vec<SegmentTier> = ro.segments().iter().map(|s| s.tier).collect();
        assert!(tiers.contains(&SegmentTier::Compressed), "{tiers:?}");
        assert_eq!(*tiers.last().unwrap(), SegmentTier::Plain);
        let records = read_all(&ro, 1);
        assert_eq!(records.len(), 200);
        assert_eq!(records[120].2, payload(121));
        let v = ro.verify(false, |_| {}).unwrap();
        assert!(v.is_clean(), "{:?}", v.report.damage);
        assert_eq!(
            v.checked[SegmentTier::Compressed as usize] + 1,
            v.report.segments
        );
    }
}

#[test]
fn a_segment_removed_while_read_stays_readable_and_later_ones_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 200);
    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    let mut c = ro.cursor(1).unwrap();
    assert_eq!(c.next().unwrap().unwrap().id, 1);
    let second_base = ro.segments()[1].base_id;
    let third_base = ro.segments()[2].base_id;
    assert!(log.truncate_before(third_base).unwrap() >= 2);
    // The first segment is mapped: it reads on; the second was removed before it got
    // there.
    let mut last = 1;
    let err = loop {
        match c.next() {
            Ok(Some(r)) => last = r.id,
            Ok(None) => panic!("the end before the removed segment"),
            Err(e) => break e,
        }
    };
    assert_eq!(last, second_base - 1);
    assert!(
        matches!(err, Error::Truncated { id, first } if id == second_base && first == third_base),
        "{err}"
    );
    // A new cursor of the old picture finds the first segment gone.
    assert!(matches!(ro.cursor(1), Err(Error::Truncated { id: 1, .. })));
    // (The catalogue of a log open in this very process cannot be opened again here.)
    log.close().unwrap();
    let ro = ReadOnlyLog::open(dir.path()).unwrap();
    assert!(matches!(ro.catalog_status(), CatalogStatus::Read { .. }));
    assert_eq!(ro.bounds(), (third_base, 200));
    assert!(matches!(ro.cursor(1), Err(Error::Truncated { .. })));
    // Positions come from the catalogue, not from 0.
    let first = &read_all(&ro, third_base)[0];
    assert_eq!(
        first.1,
        (1..third_base)
            .map(|i| payload(i).len() as u64)
            .sum::<u64>()
    );
}

#[test]
fn a_log_of_a_manager_is_read_with_the_root_catalogue() {
    let root = tempfile::tempdir().unwrap();
    let m = Manager::open(root.path(), ManagerOptions::default()).unwrap();
    let log = m.open_log("orders", small()).unwrap();
    append(&log, 1, 50);
    log.close().unwrap();
    m.close().unwrap();
    drop((log, m));
    let ro = ReadOnlyLog::open(root.path().join("orders")).unwrap();
    match ro.catalog_status() {
        CatalogStatus::Read { name, .. } => assert_eq!(name, "orders"),
        other => panic!("{other:?}"),
    }
    assert_eq!(read_all(&ro, 1).len(), 50);
    let err = ReadOnlyLog::open(root.path()).err().unwrap().to_string();
    assert!(
        err.contains("root of a manager") && err.contains("orders"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        ReadOnlyLog::open(empty.path()),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_log_opening_beside_a_reader_in_this_process_keeps_its_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 50);
    log.close().unwrap();
    drop(log);
    // libmdbx refuses a second environment of one file in one process; the log's open
    // must wait for a reader's snapshot, not take the refusal for damage.
    for round in 0..20 {
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                for _ in 0..5 {
                    let ro = ReadOnlyLog::open(dir.path()).unwrap();
                    assert!(ro.bounds().1 >= 50);
                }
            });
            let log = Log::open(dir.path(), small()).unwrap();
            assert_eq!(log.recovery().catalog_damage, None, "round {round}");
            assert!(!log.recovery().catalog_rebuilt, "round {round}");
            log.close().unwrap();
            reader.join().unwrap();
        });
    }
    assert!(!dir.path().join(".catalog.mdbx.damaged").exists());
}
