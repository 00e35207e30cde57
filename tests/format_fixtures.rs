//! Logs written by earlier builds must keep opening. `tests/fixtures/v1/` holds logs made by
//! format version 1; regenerate them only when adding a new version, with
//! `cargo test --test format_fixtures -- --ignored regenerate`.

use std::path::{Path, PathBuf};

use aof::{Log, Options, StartAt};

const RECORDS: u64 = 120;

fn payload(id: u64) -> Vec<u8> {
    format!("record-{id}|")
        .repeat((id % 13) as usize)
        .into_bytes()
}

fn options() -> Options {
    Options {
        segment_size: 4096,
        max_record_size: Some(1024),
        ..Options::default()
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

/// Copies a fixture into a temporary directory so tests never modify it.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn check_records(log: &Log, last: u64) {
    let mut cursor = log.cursor(StartAt::Oldest).unwrap();
    let mut expected = 1;
    while let Some(r) = cursor.next().unwrap() {
        assert_eq!(r.id, expected);
        assert_eq!(r.data, &payload(r.id)[..], "payload of record {}", r.id);
        expected += 1;
    }
    assert_eq!(expected - 1, last);
}

#[test]
fn v1_clean_log_opens_without_scan() {
    let dir = copy_of("clean");
    let log = Log::open(dir.path(), options()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.recovery().scanned_records, 0);
    assert!(log.recovery().segments >= 3);
    assert_eq!(log.last_id(), RECORDS);
    check_records(&log, RECORDS);
    assert_eq!(log.verify().unwrap().records, RECORDS);
    assert_eq!(log.append(b"after").unwrap(), RECORDS + 1);
}

#[test]
fn v1_torn_log_is_repaired() {
    let dir = copy_of("torn");
    let log = Log::open(dir.path(), options()).unwrap();
    assert!(!log.recovery().clean_shutdown);
    let repair = log.recovery().repaired.clone().expect("torn tail reported");
    assert!(repair.discarded_bytes > 0);
    assert_eq!(log.last_id(), RECORDS - 1);
    check_records(&log, RECORDS - 1);
    assert_eq!(log.append(b"after").unwrap(), RECORDS);
}

/// Byte positions need no format change: in a v1 log (opened with no catalogue, which is
/// then built from the files) every record's position is the running sum of the payload
/// lengths before it, and the byte stream returns the payloads concatenated.
#[test]
fn v1_logs_have_byte_positions() {
    use std::io::Read;
    for (name, last) in [("clean", RECORDS), ("torn", RECORDS - 1)] {
        let dir = copy_of(name);
        let log = Log::open(dir.path(), options()).unwrap();
        assert!(log.recovery().catalog_rebuilt, "{name}");
        let mut all = Vec::new();
        for id in 1..=last {
            assert_eq!(
                log.position_of(id).unwrap(),
                all.len() as u64,
                "{name}: {id}"
            );
            all.extend_from_slice(&payload(id));
        }
        assert_eq!(log.position_range().unwrap(), 0..all.len() as u64, "{name}");
        let mut streamed = Vec::new();
        log.stream(0).unwrap().read_to_end(&mut streamed).unwrap();
        assert!(streamed == all, "{name}");
        // Record 13 is empty (`payload` repeats its text id % 13 times): it comes before
        // record 14, which starts at the same position.
        let pos = log.position_of(13).unwrap();
        assert_eq!(log.position_of(14).unwrap(), pos);
        assert_eq!(log.id_at_position(pos).unwrap(), 13, "{name}");
    }
}

#[test]
#[ignore = "writes the fixtures; run only when adding a format version"]
fn regenerate() {
    for name in ["clean", "torn"] {
        let dir = fixture(name);
        let _ = std::fs::remove_dir_all(&dir);
        let log = Log::open(&dir, options()).unwrap();
        for id in 1..=RECORDS {
            assert_eq!(log.append(&payload(id)).unwrap(), id);
        }
        log.close().unwrap();
        drop(log);
        std::fs::remove_file(dir.join("LOCK")).unwrap();
        let _ = std::fs::remove_file(dir.join("next.seg.tmp"));
        if name == "torn" {
            // As if power failed while the last record was half written.
            std::fs::remove_file(dir.join("CLEAN")).unwrap();
            let mut segs: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect();
            segs.sort();
            let last = segs.last().unwrap();
            let mut bytes = std::fs::read(last).unwrap();
            let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
            let len = payload(RECORDS).len();
            let start = end - len; // payload of the last record starts here
            bytes[start + len / 2..end].fill(0);
            std::fs::write(last, bytes).unwrap();
        }
    }
}
