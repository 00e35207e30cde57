//! The catalogue behind a log: open after a clean close reads no sealed segment, open after
//! a crash scans only the tail, a lost or damaged catalogue is rebuilt from the files, and
//! a failure at each catalogue step of a roll or a close loses nothing.

mod common;

use std::path::Path;

use aof::{FlushPolicy, Log, Options};
use common::{assert_holds_exactly, copy_dir, payload};

const LEN: usize = 200;

/// Segments of 4 KiB: ~18 records of 200 bytes each.
fn opts() -> Options {
    Options {
        segment_size: 4096,
        flush: FlushPolicy::Batched { records: 64 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        ..Options::default()
    }
}

fn fill(log: &Log, from: u64, to: u64) {
    for id in from..=to {
        assert_eq!(log.append(&payload(id, LEN)).unwrap(), id);
    }
}

fn segment_count(dir: &Path) -> usize {
    common::segment_files(dir).len()
}

#[test]
fn clean_open_of_a_thousand_segments_opens_only_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    let mut n = 0;
    while segment_count(dir.path()) < 1000 {
        fill(&log, n + 1, n + 500);
        n += 500;
    }
    log.close().unwrap();
    drop(log);

    let log = Log::open(dir.path(), opts()).unwrap();
    let r = log.recovery();
    assert!(r.clean_shutdown);
    assert!(!r.catalog_rebuilt);
    assert_eq!(r.segments_opened, 1, "only the active segment is opened");
    assert_eq!(r.scanned_records, 0);
    assert!(log.metrics().segment_count >= 1000);
    // Sealed segments open when first read, and hold their records.
    assert_holds_exactly("after a clean open", &log, n, &|_| LEN);
    log.verify().unwrap();
}

#[test]
fn open_after_a_crash_scans_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    fill(&log, 1, 1000);
    log.flush().unwrap();
    // What a crash now would leave: the files as they are, no clean close.
    copy_dir(dir.path(), image.path());
    drop(log);

    let log = Log::open(image.path(), opts()).unwrap();
    let r = log.recovery().clone();
    assert!(!r.clean_shutdown);
    assert_eq!(r.segments_opened, 1, "{r:?}");
    assert!(r.scanned_records > 0 && r.scanned_records < 20, "{r:?}");
    assert_holds_exactly("after a crash", &log, 1000, &|_| LEN);
}

#[test]
fn a_deleted_catalogue_is_rebuilt_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    fill(&log, 1, 600);
    log.close().unwrap();
    drop(log);
    for name in [".catalog.mdbx", ".catalog.mdbx-lck"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }

    let log = Log::open(dir.path(), opts()).unwrap();
    let r = log.recovery().clone();
    assert!(r.catalog_rebuilt, "{r:?}");
    assert!(
        r.segments_opened > 30,
        "a rebuild opens every segment: {r:?}"
    );
    assert_holds_exactly("after the rebuild", &log, 600, &|_| LEN);
    fill(&log, 601, 700);
    log.close().unwrap();
    drop(log);

    // The rebuilt catalogue serves the next open.
    let log = Log::open(dir.path(), opts()).unwrap();
    assert!(!log.recovery().catalog_rebuilt);
    assert_eq!(log.recovery().segments_opened, 1);
    assert_holds_exactly("after the rebuilt catalogue", &log, 700, &|_| LEN);
}

#[test]
fn a_damaged_catalogue_is_set_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    fill(&log, 1, 300);
    log.close().unwrap();
    drop(log);
    let path = dir.path().join(".catalog.mdbx");
    let mut bytes = std::fs::read(&path).unwrap();
    // Wreck every page but leave the size: libmdbx refuses it, or a checksum does.
    for b in bytes.iter_mut().skip(512) {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let log = Log::open(dir.path(), opts()).unwrap();
    let r = log.recovery().clone();
    assert!(r.catalog_damage.is_some(), "{r:?}");
    assert!(r.catalog_rebuilt, "{r:?}");
    assert!(dir.path().join(".catalog.mdbx.damaged").exists());
    assert_holds_exactly("after the damaged catalogue", &log, 300, &|_| LEN);
}

#[test]
fn old_logs_without_a_catalogue_open_and_get_one() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/clean");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures, dir.path());
    assert!(!dir.path().join(".catalog.mdbx").exists());
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert!(log.recovery().catalog_rebuilt);
    let last = log.last_id();
    assert!(last > 0);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert!(!log.recovery().catalog_rebuilt);
    assert_eq!(log.last_id(), last);
}
