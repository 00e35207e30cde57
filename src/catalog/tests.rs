//! Unit tests of the catalogue that need its insides (raw libmdbx access, the file
//! checks). `tests/catalog.rs` has the ones that go through the API only.

use std::fs;
use std::path::Path;

use libmdbx::WriteFlags;

use super::env::{self, SIZE_LOWER};
use super::format::{segment_key, CatalogHeader};
use super::*;

fn new_log() -> NewLog {
    NewLog {
        segment_size: 1 << 20,
        segment_format_version: 1,
    }
}

fn active(base_byte: u64) -> SegmentEntry {
    SegmentEntry::active(1 << 20, 64, base_byte, 1)
}

fn sealed(base: u64, records: u64) -> SegmentEntry {
    SegmentEntry {
        state: SegmentState::Sealed,
        last_id: base + records - 1,
        record_count: records,
        payload_bytes: records * 10,
        data_end: 64 + records * 48,
        sealed_us: 2,
        records_crc: 0xabc,
        ..active(0)
    }
}

/// Writes `value` at `key` of `table` directly, bypassing every check of the catalogue.
fn raw_put(c: &Catalog, table: &str, key: &[u8], value: &[u8]) {
    let db = c.db().unwrap();
    let txn = db.begin_rw_txn().unwrap();
    let t = txn.open_table(Some(table)).unwrap();
    txn.put(&t, key, value, WriteFlags::UPSERT).unwrap();
    txn.commit().unwrap();
}

fn raw_del(c: &Catalog, table: &str, key: &[u8]) {
    let db = c.db().unwrap();
    let txn = db.begin_rw_txn().unwrap();
    let t = txn.open_table(Some(table)).unwrap();
    txn.del(&t, key, None).unwrap();
    txn.commit().unwrap();
}

fn catalog_err(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(e @ Error::Catalog { .. }) => e.to_string(),
        other => panic!("expected Error::Catalog, got {other:?}"),
    }
}

#[test]
fn catalog_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Catalog>();
}

#[test]
fn create_open_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    assert!(c.was_created());
    assert_eq!(c.path(), dir.path().join(FILE_NAME));
    assert_eq!(c.max_size(), DEFAULT_MAX_SIZE);
    assert_eq!(c.file_size().unwrap(), SIZE_LOWER);
    drop(c);
    // No temporary files are left behind; libmdbx's lock file sits next to the data file.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".catalog.mdbx", ".catalog.mdbx-lck"]);
    let c = Catalog::open(dir.path()).unwrap();
    assert!(!c.was_created());
    assert!(c.list_logs().unwrap().is_empty());
}

#[test]
fn a_second_open_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    c.create_log("a", new_log()).unwrap();
    let err = catalog_err(Catalog::open(dir.path()));
    assert!(err.contains("already open in this process"), "{err}");
    // The first handle is unaffected, and once it is closed the file opens again.
    assert!(c.log("a").unwrap().is_some());
    drop(c);
    assert!(Catalog::open(dir.path())
        .unwrap()
        .log("a")
        .unwrap()
        .is_some());
}

#[test]
fn leftovers_of_an_interrupted_creation_are_cleared() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".catalog.mdbx.tmp"), b"half-built").unwrap();
    fs::write(dir.path().join(".catalog.mdbx.tmp-lck"), b"").unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    assert!(c.was_created());
    assert!(!dir.path().join(".catalog.mdbx.tmp").exists());
    assert!(!dir.path().join(".catalog.mdbx.tmp-lck").exists());
}

#[test]
fn missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = Catalog::open(&dir.path().join("nope"));
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = Catalog::open_with(dir.path(), &CatalogOptions { max_size: 1000 });
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
}

#[test]
fn logs_create_update_drop() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let a = c.create_log("a", new_log()).unwrap();
    let b = c.create_log("b", new_log()).unwrap();
    assert_eq!((a.uid, b.uid), (1, 2));
    assert_eq!(a.segment_size, 1 << 20);
    assert_eq!(a.segment_format_version, 1);
    assert_eq!(a.clean_close_id, 0);
    assert_eq!(a.oldest_retained_id, 1);
    assert!(a.created_us > 0);
    assert_eq!(c.log("a").unwrap(), Some(a));
    assert_eq!(c.log("zzz").unwrap(), None);

    let err = catalog_err(c.create_log("a", new_log()));
    assert!(err.contains("already exists"), "{err}");

    c.set_clean_close_id("a", 500).unwrap();
    assert_eq!(c.log("a").unwrap().unwrap().clean_close_id, 500);
    assert_eq!(c.take_clean_close_id("a").unwrap(), 500);
    assert_eq!(c.log("a").unwrap().unwrap().clean_close_id, 0);
    assert_eq!(c.take_clean_close_id("a").unwrap(), 0);
    c.set_oldest_retained_id("a", 77).unwrap();
    assert_eq!(c.log("a").unwrap().unwrap().oldest_retained_id, 77);
    let got = c.update_log("b", |m| {
        m.segment_size = 2 << 20;
        m.uid
    });
    assert_eq!(got.unwrap(), 2);
    assert_eq!(c.log("b").unwrap().unwrap().segment_size, 2 << 20);

    // The uid is the key of the log's segments: it cannot change.
    let r = c.update_log("a", |m| m.uid = 99);
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let err = catalog_err(c.update_log("nope", |_| ()));
    assert!(err.contains("not in the catalogue"), "{err}");
    let err = catalog_err(c.set_clean_close_id("nope", 1));
    assert!(err.contains("\"nope\""), "{err}");

    let names: Vec<String> = c.list_logs().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(c.drop_log("a").unwrap());
    assert!(!c.drop_log("a").unwrap());
    // A uid is never given out again, even after its log is dropped.
    assert_eq!(c.create_log("a", new_log()).unwrap().uid, 3);
}

#[test]
fn names_empty_and_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    // The name of a log opened alone.
    let m = c.create_log("", new_log()).unwrap();
    assert_eq!(c.log("").unwrap(), Some(m));
    let longest = "x".repeat(MAX_NAME_LEN);
    c.create_log(&longest, new_log()).unwrap();
    assert!(c.log(&longest).unwrap().is_some());
    let too_long = "x".repeat(MAX_NAME_LEN + 1);
    let r = c.create_log(&too_long, new_log());
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let r = c.create_log(
        "zero",
        NewLog {
            segment_size: 0,
            ..new_log()
        },
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let names: Vec<String> = c.list_logs().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["".to_string(), longest]);
}

#[test]
fn segments_put_update_remove() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let uid = c.create_log("log", new_log()).unwrap().uid;
    c.put_segment(uid, 1, &active(0)).unwrap();
    assert_eq!(c.segments(uid).unwrap(), [(1, active(0))]);
    let n = c
        .update_segment(uid, 1, |e| {
            *e = sealed(1, 10);
            e.record_count
        })
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(c.segment(uid, 1).unwrap(), Some(sealed(1, 10)));
    c.put_segment(uid, 11, &active(100)).unwrap();
    assert_eq!(
        c.segments(uid).unwrap(),
        [(1, sealed(1, 10)), (11, active(100))]
    );

    // Inconsistent entries are refused and change nothing.
    let r = c.put_segment(uid, 11, &sealed(12, 5));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let r = c.update_segment(uid, 11, |e| e.data_end = e.capacity + 1);
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert_eq!(c.segment(uid, 11).unwrap(), Some(active(100)));
    // Missing entries, never-allocated uids, and zero keys.
    let err = catalog_err(c.update_segment(uid, 999, |_| ()));
    assert!(err.contains("not in the catalogue"), "{err}");
    let r = c.put_segment(uid + 1, 1, &active(0));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let r = c.put_segment(0, 1, &active(0));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    let r = c.put_segment(uid, 0, &active(0));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");

    assert!(c.remove_segment(uid, 1).unwrap());
    assert!(!c.remove_segment(uid, 1).unwrap());
    assert_eq!(c.segments(uid).unwrap(), [(11, active(100))]);
    assert_eq!(c.segment(uid, 1).unwrap(), None);
}

#[test]
fn segment_ranges_do_not_leak_between_logs() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let uids: Vec<u64> = (0..3)
        .map(|i| c.create_log(&format!("l{i}"), new_log()).unwrap().uid)
        .collect();
    // Base ids that sort differently as little-endian bytes: the keys must be big-endian.
    let bases = [1u64, 255, 256, 65_536, u64::MAX];
    for &uid in &uids {
        for &b in &bases {
            c.put_segment(uid, b, &active(uid * 1000 + b % 1000))
                .unwrap();
        }
    }
    for &uid in &uids {
        let got: Vec<u64> = c.segments(uid).unwrap().iter().map(|(b, _)| *b).collect();
        assert_eq!(got, bases);
    }
    assert!(c.segments(99).unwrap().is_empty());
    // Dropping the middle log removes its segments and only those.
    assert!(c.drop_log("l1").unwrap());
    assert!(c.segments(uids[1]).unwrap().is_empty());
    assert_eq!(c.segments(uids[0]).unwrap().len(), bases.len());
    assert_eq!(c.segments(uids[2]).unwrap().len(), bases.len());
}

#[test]
fn a_batch_commits_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let uid = c.create_log("log", new_log()).unwrap().uid;
    c.put_segment(uid, 1, &active(0)).unwrap();
    // Seal N and add N+1 together.
    c.batch(|b| {
        b.update_segment(uid, 1, |e| *e = sealed(1, 10))?;
        b.put_segment(uid, 11, &active(100))?;
        assert_eq!(b.segments(uid)?.len(), 2, "a batch sees its own changes");
        Ok(())
    })
    .unwrap();
    assert_eq!(c.segments(uid).unwrap().len(), 2);
    // A failing batch leaves nothing behind, whatever it did before failing.
    let r: Result<()> = c.batch(|b| {
        b.remove_segment(uid, 1)?;
        b.create_log("other", new_log())?;
        b.update_segment(uid, 12345, |_| ())?;
        Ok(())
    });
    assert!(r.is_err());
    assert_eq!(c.segments(uid).unwrap().len(), 2);
    assert_eq!(c.log("other").unwrap(), None);
    // The uid the failed batch took is free again: nothing of it was committed.
    assert_eq!(c.create_log("other", new_log()).unwrap().uid, uid + 1);
    // A panic inside a batch aborts it too, and the catalogue stays usable.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = c.batch(|b| -> Result<()> {
            b.remove_segment(uid, 1)?;
            panic!("boom");
        });
    }));
    assert!(caught.is_err());
    assert_eq!(c.segments(uid).unwrap().len(), 2);
    c.put_segment(uid, 21, &active(200)).unwrap();
}

#[test]
fn calling_the_catalogue_from_its_closure_fails_instead_of_deadlocking() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let uid = c.create_log("log", new_log()).unwrap().uid;
    c.put_segment(uid, 1, &active(0)).unwrap();
    let inner = c.update_segment(uid, 1, |_| c.put_segment(uid, 2, &active(0)));
    let err = catalog_err(inner.unwrap());
    assert!(err.contains("inside a closure"), "{err}");
    let inner = c.update_log("log", |_| c.log("log"));
    assert!(matches!(inner, Ok(Err(Error::Catalog { .. }))), "{inner:?}");
    let r = c.batch(|_| c.list_logs());
    assert!(matches!(r, Err(Error::Catalog { .. })), "{r:?}");
    // Once out of the closure, everything works again.
    c.put_segment(uid, 2, &active(0)).unwrap();
    assert_eq!(c.segments(uid).unwrap().len(), 2);
}

#[test]
fn a_full_catalogue_says_so_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open_with(
        dir.path(),
        &CatalogOptions {
            max_size: MIN_MAX_SIZE,
        },
    )
    .unwrap();
    let uid = c.create_log("log", new_log()).unwrap().uid;
    let mut stored = 0u64;
    let err = loop {
        let base = stored * 1000 + 1;
        let r = c.batch(|b| {
            for i in 0..100 {
                b.put_segment(uid, base + i * 10, &active(i))?;
            }
            Ok(())
        });
        match r {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 1000, "a 1 MiB catalogue never filled up");
    };
    let text = err.to_string();
    assert!(matches!(err, Error::Catalog { .. }), "{err:?}");
    assert!(text.contains("the catalogue is full"), "{text}");
    assert!(text.contains("1048576 bytes"), "{text}");
    assert!(text.contains(FILE_NAME), "{text}");
    assert_eq!(
        crate::ffi::status::from_error(&err),
        crate::ffi::status::AOF_ERR_CATALOG
    );
    // Everything committed before is there, and removing entries makes room again.
    assert_eq!(c.segments(uid).unwrap().len() as u64, stored * 100);
    assert!(c.drop_log("log").unwrap());
    c.create_log("again", new_log()).unwrap();
}

#[test]
fn newer_entry_versions_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let uid = c.create_log("log", new_log()).unwrap().uid;
    c.put_segment(uid, 1, &active(0)).unwrap();
    // What a future libaof might store: version 3, a longer value, a valid checksum.
    let key = segment_key(uid, 1);
    let mut v2 = vec![0u8; 96];
    v2[0..4].copy_from_slice(&3u32.to_le_bytes());
    let mut d = crc64fast_nvme::Digest::new();
    d.write(&key);
    d.write(&v2[..88]);
    let crc = d.sum64().to_le_bytes();
    v2[88..].copy_from_slice(&crc);
    raw_put(&c, TABLE_SEGMENTS, &key, &v2);
    for err in [
        catalog_err(c.segments(uid)),
        catalog_err(c.segment(uid, 1)),
        catalog_err(c.update_segment(uid, 1, |_| ())),
    ] {
        assert!(err.contains("segment entry version 3"), "{err}");
        assert!(err.contains("newer libaof"), "{err}");
    }
    // Damage in a value is named as such.
    let mut bad = active(0).encode(uid, 1);
    bad[20] ^= 1;
    raw_put(&c, TABLE_SEGMENTS, &key, &bad);
    let err = catalog_err(c.segments(uid));
    assert!(err.contains("damaged") && err.contains("checksum"), "{err}");
    // A value moved under another key is damage too.
    raw_put(
        &c,
        TABLE_LOGS,
        b"alias",
        &c.log("log").unwrap().unwrap().encode("log"),
    );
    let err = catalog_err(c.list_logs());
    assert!(
        err.contains("\"alias\"") && err.contains("damaged"),
        "{err}"
    );
}

#[test]
fn newer_catalogue_version_or_missing_header_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let mut h = CatalogHeader {
        next_uid: 1,
        created_us: 0,
    }
    .encode();
    h[0..4].copy_from_slice(&2u32.to_le_bytes());
    let mut d = crc64fast_nvme::Digest::new();
    d.write(HEADER_KEY);
    d.write(&h[..24]);
    let crc = d.sum64().to_le_bytes();
    h[24..].copy_from_slice(&crc);
    raw_put(&c, TABLE_META, HEADER_KEY, &h);
    drop(c);
    let err = catalog_err(Catalog::open(dir.path()));
    assert!(err.contains("catalogue header version 2"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    raw_del(&c, TABLE_META, HEADER_KEY);
    drop(c);
    let err = catalog_err(Catalog::open(dir.path()));
    assert!(err.contains("header is missing"), "{err}");
}

/// Files libmdbx would silently take for a new database (empty, shorter than its meta
/// pages) or that are not libmdbx files at all are refused before libmdbx sees them, and
/// left as they were.
#[test]
fn short_or_foreign_files_are_refused_and_left_alone() {
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("two pages", vec![0u8; 8192]),
        ("just under the minimum", vec![7u8; SIZE_LOWER as usize - 1]),
        ("foreign", vec![0x5au8; SIZE_LOWER as usize]),
    ];
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        fs::write(&file, &bytes).unwrap();
        let err = catalog_err(Catalog::open(dir.path()));
        assert!(err.contains(FILE_NAME), "{what}: {err}");
        assert!(
            err.contains("truncated") || err.contains("signature"),
            "{what}: {err}"
        );
        assert_eq!(fs::read(&file).unwrap(), bytes, "{what}: file changed");
    }
}

#[test]
fn a_truncated_catalogue_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    fill(&c, 300, 10);
    // Pages in use; the file is larger (it grows in steps), and cutting only free pages
    // off its end is harmless (libmdbx grows it back).
    let used = (c.db().unwrap().info().unwrap().last_pgno() as u64 + 1) * 4096;
    assert!(used > 2 * SIZE_LOWER, "{used}");
    drop(c);
    let file = dir.path().join(FILE_NAME);
    for len in [used / 2, SIZE_LOWER - 1, 3 * 4096 + 100, 100] {
        let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len).unwrap();
        drop(f);
        let r = Catalog::open(dir.path()).and_then(|c| c.list_logs());
        let err = catalog_err(r);
        assert!(err.contains(FILE_NAME), "{len}: {err}");
    }
}

/// `logs` logs of `segments` sealed segments each.
fn fill(c: &Catalog, logs: u64, segments: u64) {
    for l in 0..logs {
        let uid = c.create_log(&format!("log-{l:04}"), new_log()).unwrap().uid;
        c.batch(|b| {
            for s in 0..segments {
                b.put_segment(uid, s * 100 + 1, &sealed(s * 100 + 1, 100))?;
            }
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn the_existing_file_check_reads_the_meta_signature() {
    let dir = tempfile::tempdir().unwrap();
    drop(Catalog::open(dir.path()).unwrap());
    let file = dir.path().join(FILE_NAME);
    let len = fs::metadata(&file).unwrap().len();
    env::check_existing(&file, len).unwrap();
    // One intact meta page is enough (libmdbx picks among three).
    let mut bytes = fs::read(&file).unwrap();
    bytes[20..28].fill(0);
    bytes[4096 + 20..4096 + 28].fill(0);
    fs::write(&file, &bytes).unwrap();
    env::check_existing(&file, len).unwrap();
    bytes[8192 + 20..8192 + 28].fill(0);
    fs::write(&file, &bytes).unwrap();
    assert!(env::check_existing(&file, len).is_err());
    assert!(env::check_existing(Path::new("/nonexistent/catalog.mdbx"), SIZE_LOWER).is_err());
}
