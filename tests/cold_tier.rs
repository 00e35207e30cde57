//! The cold tier against a real S3-compatible server (s3s-fs on 127.0.0.1, started by the
//! test) and against a directory archive: a log written to many times its hot budget and
//! its local footprint reads back entirely, by cursor and by random ids, byte-exact, from
//! all three tiers (counted); one record from an archived segment costs one ranged read of
//! one frame; 16 concurrent readers of one frame cause one download; the server killed
//! while archiving: appends hit backpressure, resume after the restart, nothing lost and
//! no local file unlinked before its upload was verified; a damaged object is caught on
//! read; retention deletes archived objects; objects no entry refers to are swept.

#![cfg(feature = "s3")]

mod common;
#[path = "support/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use aof::tier::archive::RemoteConfig;
use aof::tier::cold::{ArchiveOptions, Backend};
use aof::tier::shared::CacheOptions;
use aof::{Error, FlushPolicy, Log, Manager, ManagerOptions, Options, StartAt, Tiering};
use s3_server::S3Server;

const SEGMENT: u64 = 64 * 1024;
const FRAME: u64 = 8 * 1024;

fn event(id: u64) -> Vec<u8> {
    format!(
        "{{\"id\":{id},\"ts\":{},\"user\":\"u{}\",\"action\":\"{}\",\"amount\":{},\"pad\":\"{}\"}}",
        1_700_000_000_000u64 + id * 13,
        id % 211,
        ["view", "click", "buy", "return"][(id % 4) as usize],
        (id * 7919) % 10_000,
        "x".repeat((id % 50) as usize)
    )
    .into_bytes()
}

fn log_options(archive_after: Option<u64>) -> Options {
    Options {
        segment_size: SEGMENT,
        flush: FlushPolicy::Batched { records: 128 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        tiering: Tiering {
            frame_size: FRAME,
            archive_after_segments: archive_after,
            ..Tiering::default()
        },
        ..Options::default()
    }
}

fn fast_remote() -> RemoteConfig {
    RemoteConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        breaker_threshold: 4,
        breaker_probe_interval: Duration::from_millis(200),
    }
}

fn manager(root: &Path, backend: Backend, tweak: impl FnOnce(&mut ArchiveOptions)) -> Manager {
    let mut archive = ArchiveOptions::new(backend);
    archive.prefix = "logs/".into();
    archive.remote = fast_remote();
    tweak(&mut archive);
    Manager::open(
        root,
        ManagerOptions {
            cache: CacheOptions {
                hot_bytes: 2 * (SEGMENT + 8 * 1024),
                frame_bytes: 128 * 1024,
                wait: Some(Duration::from_secs(30)),
            },
            archive: Some(archive),
            ..ManagerOptions::default()
        },
    )
    .unwrap()
}

fn fill(log: &Log, n: u64) {
    for _ in 0..n {
        let id = log.last_id() + 1;
        assert_eq!(log.append(&event(id)).unwrap(), id);
    }
}

fn check_all(log: &Log) {
    let (first, last) = log.bounds();
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut next = first;
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.id, next);
        assert!(r.data == &event(next)[..], "cursor at {next}");
        next += 1;
    }
    assert_eq!(next, last + 1);
    let mut rng = common::Rng(11);
    for _ in 0..500 {
        let id = first + rng.below(last - first + 1);
        assert_eq!(log.read(id).unwrap(), event(id), "read({id})");
    }
}

/// Objects under an archive prefix directory (one directory per log uid).
fn objects_under(prefix_dir: &Path) -> usize {
    std::fs::read_dir(prefix_dir)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count()
}

/// The directory of the only log's objects in a directory archive (prefix "logs/").
fn log_object_dir(archive_root: &Path) -> std::path::PathBuf {
    std::fs::read_dir(archive_root.join("logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn local_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn reads_come_back_from_all_three_tiers_of_an_s3_archive() {
    let server = S3Server::start("aof");
    let root = tempfile::tempdir().unwrap();
    let m = manager(root.path(), Backend::S3(server.s3_config("")), |_| {});
    let log = m.open_log("events", log_options(None)).unwrap();
    fill(&log, 6000);
    log.seal_now().unwrap();
    let segments = log.metrics().segment_count;
    assert!(segments >= 12, "{segments}");
    let archived = log.archive_now().unwrap() as u64;
    assert_eq!(archived, segments - 1);
    // Only the active segment is left locally; every other one is an object.
    assert_eq!(
        local_files(&root.path().join("events")).len(),
        1,
        "{:?}",
        local_files(&root.path().join("events"))
    );
    let objects = objects_under(&server.bucket_dir().join("logs"));
    assert_eq!(objects as u64, archived);
    // A few more records (plain, hot), one more segment compressed (warm).
    fill(&log, 1000);
    log.seal_now().unwrap();
    assert!(log.compress_now().unwrap() >= 1);
    check_all(&log);
    let mt = log.metrics();
    assert!(mt.archive_gets > 0, "cold: {mt:?}");
    assert!(mt.frame_misses > mt.archive_gets / 2, "{mt:?}");
    assert!(mt.hot_hits + mt.hot_misses > 0, "hot: {mt:?}");
    assert_eq!(mt.segments_archived, archived);

    // One record from an archived segment, not cached: one ranged read of one frame.
    let before = log.metrics();
    let id = 3000;
    log.close().unwrap();
    let log = m.open_log("events", log_options(None)).unwrap();
    let base = log.metrics();
    assert_eq!(log.read(id).unwrap(), event(id));
    let after = log.metrics();
    assert_eq!(
        after.archive_gets - base.archive_gets,
        1,
        "{before:?}\n{after:?}"
    );
    let frame_bytes = after.archive_bytes_in - base.archive_bytes_in;
    assert!(
        frame_bytes < FRAME,
        "one compressed frame: {frame_bytes} bytes"
    );
    // The same record again: from the frame cache, no request.
    assert_eq!(log.read(id).unwrap(), event(id));
    assert_eq!(log.metrics().archive_gets, after.archive_gets);

    // 16 concurrent readers of a record of another frame: one download.
    let log = Arc::new(log);
    let barrier = Arc::new(Barrier::new(16));
    let before = log.metrics().archive_gets;
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (log, barrier) = (log.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                assert_eq!(log.read(900).unwrap(), event(900));
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(log.metrics().archive_gets - before, 1);

    // Retention deletes archived objects.
    let removed = log.truncate_before(2000).unwrap();
    assert!(removed >= 2);
    let objects_now = objects_under(&server.bucket_dir().join("logs"));
    assert_eq!(objects_now as u64, archived - removed as u64);
    check_all(&log);
    Arc::try_unwrap(log).ok().unwrap().close().unwrap();
    m.close().unwrap();
}

#[test]
fn a_damaged_archived_object_is_caught_on_read() {
    let archive_dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let backend = Backend::Filesystem(archive_dir.path().to_path_buf());
    let m = manager(root.path(), backend, |_| {});
    let log = m.open_log("d", log_options(None)).unwrap();
    fill(&log, 2000);
    log.seal_now().unwrap();
    log.archive_now().unwrap();
    log.close().unwrap();
    // Flip a byte in the middle of the first object.
    let dir = log_object_dir(archive_dir.path());
    let mut objects: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    objects.sort();
    let victim = &objects[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(victim, &bytes).unwrap();

    let log = m.open_log("d", log_options(None)).unwrap();
    let (first, last) = log.bounds();
    let mut caught = 0;
    for id in first..=last {
        match log.read(id) {
            Ok(data) => assert_eq!(data, event(id), "read({id}) returned other bytes"),
            Err(Error::Corruption { .. }) => caught += 1,
            Err(e) => panic!("read({id}): {e}"),
        }
    }
    assert!(caught > 0, "the damaged object went unnoticed");
    let report = log.verify_all().unwrap();
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    log.close().unwrap();
    m.close().unwrap();
}

#[test]
fn an_outage_while_archiving_applies_backpressure_and_loses_nothing() {
    let mut server = S3Server::start("aof");
    let root = tempfile::tempdir().unwrap();
    let m = manager(root.path(), Backend::S3(server.s3_config("")), |a| {
        a.max_pending_segments = Some(4);
        a.backpressure_wait = None;
    });
    let log = m.open_log("o", log_options(Some(1))).unwrap();
    fill(&log, 1500);
    // The archive keeps up while the server runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while log.metrics().archive_pending > 1 {
        assert!(std::time::Instant::now() < deadline, "{:?}", log.metrics());
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill();
    // Appends go on until 4 sealed segments wait for the archive, then fail at once.
    let mut blocked = None;
    for _ in 0..20_000 {
        let id = log.last_id() + 1;
        match log.append(&event(id)) {
            Ok(got) => assert_eq!(got, id),
            Err(Error::WouldBlock(msg)) => {
                blocked = Some(msg);
                break;
            }
            Err(e) => panic!("append during the outage: {e}"),
        }
    }
    let msg = blocked.expect("appends never hit backpressure");
    eprintln!("backpressure: {msg}");
    assert!(msg.contains("archive is behind"), "{msg}");
    let mt = log.metrics();
    assert!(mt.archive_pending >= 4, "{mt:?}");
    assert!(mt.backpressure_waits >= 1, "{mt:?}");
    assert!(!log.is_poisoned());
    // Nothing was unlinked before its upload was verified: every segment not archived is
    // still a local file.
    let local = local_files(&root.path().join("o")).len() as u64;
    assert!(local >= mt.archive_pending, "{local} files, {mt:?}");

    server.restart();
    // The breaker probes, uploads resume, backpressure lifts.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut appended = 0;
    while appended < 3000 {
        let id = log.last_id() + 1;
        match log.append(&event(id)) {
            Ok(_) => appended += 1,
            Err(Error::WouldBlock(_)) => {
                assert!(std::time::Instant::now() < deadline, "{:?}", log.metrics());
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("append after the restart: {e}"),
        }
    }
    log.flush().unwrap();
    check_all(&log);
    assert_eq!(log.metrics().archive_breaker, 0);
    log.close().unwrap();
    m.close().unwrap();
}

#[test]
fn objects_no_entry_refers_to_are_swept() {
    let archive_dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let backend = Backend::Filesystem(archive_dir.path().to_path_buf());
    let m = manager(root.path(), backend, |_| {});
    let log = m.open_log("s", log_options(None)).unwrap();
    fill(&log, 1000);
    log.seal_now().unwrap();
    let n = log.archive_now().unwrap();
    assert!(n >= 2);
    // An object left by a crash between an upload and the catalogue: a segment that no
    // longer exists, and a name that is not ours.
    let dir = log_object_dir(archive_dir.path());
    std::fs::write(dir.join("99999999999999999999.seg.zst"), b"stray").unwrap();
    std::fs::write(dir.join("junk"), b"stray").unwrap();
    assert_eq!(log.sweep_archive().unwrap(), 2);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), n);
    check_all(&log);
    log.close().unwrap();
    m.close().unwrap();
}
