//! Kill -9 while segments are uploaded to the cold tier. A child process (this test binary,
//! re-run) opens a manager with a directory archive and a log with small segments whose
//! maintenance task compresses and uploads every sealed segment as soon as a newer one
//! exists (`archive_after_segments: Some(1)`), on some iterations with a second thread
//! calling `archive_now` in a loop as well. It appends and reports every id acknowledged as
//! durable through a pipe; the parent kills it with SIGKILL at a random moment (sometimes
//! while it opens), then, before reopening, reads the catalogue, the log directory and the
//! archive and checks that nothing was unlinked before its upload was verified and that no
//! object exists that the catalogue does not refer to; it notes what an upload left half
//! done (an upload Started, with or without its object; an archived segment whose local
//! file is still there; a temporary file of an interrupted put). Then it reopens the
//! manager and the log and checks that:
//!
//! - every acknowledged record is there, byte for byte, by cursor and by id, ids dense;
//! - `sweep_archive` removes nothing (no object is orphaned), and every third time a
//!   further `archive_now` archives every sealed segment left;
//! - after the open each segment is in exactly one place: a plain or compressed local file,
//!   or an object with no local file; the objects are exactly the archived segments plus
//!   the started uploads whose object was put; no temporary file is left locally;
//! - the log takes new appends.
//!
//! The kills that landed in the middle of an upload are counted, and the test fails unless
//! some did: it proves nothing otherwise.
//!
//! `AOF_ARCHIVE_CRASH_ITERATIONS` sets the number of kills (default 100).

#[path = "support/archive_state.rs"]
mod archive_state;
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aof::tier::archive::RemoteConfig;
use aof::tier::cold::{ArchiveOptions, Backend};
use aof::{FlushPolicy, Log, Manager, ManagerOptions, Options, StartAt, Tiering};
use archive_state::{check_places, objects, try_catalogue, Places};
use common::Rng;

const NAME: &str = "events";

/// Iterations that share one manager root and archive before they start afresh (bounds the
/// log's size, and so the time a full check takes).
const ITERATIONS_PER_LOG: u64 = 10;

/// What the child does, from the iteration: bit 0 the flush policy (Sync, Batched), bit 1 a
/// thread calling `archive_now` in a loop.
fn mode(it: u64) -> u64 {
    (it % 4) ^ ((it / ITERATIONS_PER_LOG) % 2)
}

fn options(flush: FlushPolicy, archive_after_segments: Option<u64>) -> Options {
    Options {
        segment_size: 32 * 1024,
        max_record_size: Some(16 * 1024),
        flush,
        tiering: Tiering {
            archive_after_segments,
            frame_size: 4096,
            ..Tiering::default()
        },
        ..Options::default()
    }
}

fn manager(root: &Path, archive: &Path) -> Manager {
    let mut a = ArchiveOptions::new(Backend::Filesystem(archive.to_path_buf()));
    a.remote = RemoteConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        breaker_threshold: 100,
        breaker_probe_interval: Duration::from_millis(100),
    };
    Manager::open(
        root,
        ManagerOptions {
            archive: Some(a),
            ..ManagerOptions::default()
        },
    )
    .unwrap()
}

/// The payload of record `id`: its length and bytes follow from the id; words, so that it
/// compresses; from 16 bytes on it starts with the id and a CRC of the rest.
fn payload(id: u64) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "append ",
        "only ",
        "segment ",
        "archive ",
        "object ",
        "upload ",
        "catalogue ",
        "verified ",
    ];
    let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = match rng.below(100) {
        0..=9 => rng.below(16),
        10..=89 => 16 + rng.below(400),
        90..=98 => 16 + rng.below(4096),
        _ => 16 + rng.below(12 << 10),
    } as usize;
    let mut p = Vec::with_capacity(len);
    while p.len() < len {
        p.extend_from_slice(WORDS[rng.below(8) as usize].as_bytes());
        if rng.below(4) == 0 {
            p.extend_from_slice(id.to_string().as_bytes());
        }
    }
    p.truncate(len);
    if len >= 16 {
        let mut d = crc64fast_nvme::Digest::new();
        d.write(&p[16..]);
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..16].copy_from_slice(&d.sum64().to_le_bytes());
    }
    p
}

/// The child: append until killed, printing `ACK <id>` for every id known durable and
/// `FAIL <error>` if `archive_now` fails or the log is poisoned.
#[test]
#[ignore = "child process of archive_crash; it runs until killed"]
fn archive_crash_child() {
    let Ok(root) = std::env::var("AOF_ARCHIVE_CHILD_ROOT") else {
        return;
    };
    let archive = std::env::var("AOF_ARCHIVE_CHILD_ARCHIVE").unwrap();
    let mode: u64 = std::env::var("AOF_ARCHIVE_CHILD_MODE")
        .unwrap()
        .parse()
        .unwrap();
    let flush = if mode & 1 == 0 {
        FlushPolicy::Sync
    } else {
        FlushPolicy::Batched { records: 32 }
    };
    let m = manager(Path::new(&root), Path::new(&archive));
    let log = Arc::new(m.open_log(NAME, options(flush, Some(1))).unwrap());
    println!("READY {}", log.last_id());
    if mode & 2 != 0 {
        let log = log.clone();
        std::thread::spawn(move || loop {
            match log.archive_now() {
                Ok(0) => std::thread::sleep(Duration::from_micros(200)),
                Ok(_) => {}
                Err(e) => {
                    println!("FAIL archive_now: {e}");
                    return;
                }
            }
        });
    }
    let mut acked = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let next = log.last_id() + 1;
        let last = log.append(&payload(next)).unwrap();
        let durable = if flush == FlushPolicy::Sync {
            last
        } else {
            log.durable_id()
        };
        if durable > acked {
            acked = durable;
            println!("ACK {acked}");
        }
        if log.is_poisoned() {
            println!("FAIL poisoned: {:?}", log.last_tier_error());
        }
    }
}

#[derive(Default)]
struct Tally {
    records_checked: u64,
    /// Kills after which an upload was found half done (any of the four below).
    mid_upload: u64,
    /// ... with an upload Started and no object yet.
    started_no_object: u64,
    /// ... with an upload Started and its object put (not recorded as verified).
    started_with_object: u64,
    /// ... with an archived segment whose compressed file was not unlinked yet.
    archived_with_local: u64,
    /// ... with a (new) temporary file of an interrupted put in the archive.
    archive_tmp: u64,
    tmp_seen: std::collections::HashSet<(std::path::PathBuf, String)>,
    /// Kills that found a compression half done.
    mid_compression: u64,
    /// Archived segments seen after the reopens (summed).
    archived_seen: u64,
    /// Sealed segments archived by the parent's `archive_now` after a reopen.
    archived_by_parent: u64,
}

/// Reopens after a kill and checks everything; adds what it saw to `t`.
fn check(it: u64, root: &Path, archive: &Path, acked: u64, t: &mut Tally) {
    let what = format!("iteration {it}");
    if try_catalogue(root, NAME).is_some() {
        // Before the open: nothing unlinked before it was archived, no orphan object.
        let pre = check_places(
            &format!("{what}: before reopen"),
            root,
            NAME,
            archive,
            false,
        );
        let no_object = pre.started.len() - pre.started_with_object.len();
        let new_tmp = pre
            .archive_tmp
            .iter()
            .filter(|n| t.tmp_seen.insert((root.to_path_buf(), n.to_string())))
            .count();
        let mid = no_object > 0
            || !pre.started_with_object.is_empty()
            || !pre.archived_with_local.is_empty()
            || new_tmp > 0;
        t.mid_upload += u64::from(mid);
        t.started_no_object += u64::from(no_object > 0);
        t.started_with_object += u64::from(!pre.started_with_object.is_empty());
        t.archived_with_local += u64::from(!pre.archived_with_local.is_empty());
        t.archive_tmp += u64::from(new_tmp > 0);
        t.mid_compression += u64::from(!pre.moves_in_progress.is_empty());
    }

    let m = manager(root, archive);
    let log = m.open_log(NAME, options(FlushPolicy::Sync, None)).unwrap();
    let last = log.last_id();
    assert!(
        last >= acked,
        "{what}: lost acknowledged records: last id {last} < acknowledged {acked}"
    );
    check_records(&what, &log, t);
    assert_eq!(log.sweep_archive().unwrap(), 0, "{what}: orphaned objects");
    assert_eq!(log.append(&payload(last + 1)).unwrap(), last + 1);
    if it.is_multiple_of(3) {
        t.archived_by_parent += log.archive_now().unwrap() as u64;
    }
    log.close().unwrap();
    m.close().unwrap();

    let post: Places = check_places(&format!("{what}: after reopen"), root, NAME, archive, true);
    let objs = objects(archive, post.uid);
    assert_eq!(
        objs.by_base.len(),
        post.archived.len() + post.started_with_object.len(),
        "{what}: objects {:?} vs {post:?}",
        objs.by_base.keys()
    );
    if it.is_multiple_of(3) {
        // archive_now archived every sealed segment (the last one is the active segment).
        assert_eq!(
            post.plain.len() + post.compressed.len(),
            1,
            "{what}: {post:?}"
        );
        assert!(post.started.is_empty(), "{what}: {post:?}");
        assert!(objs.tmp.is_empty(), "{what}: {:?}", objs.tmp);
    }
    t.archived_seen += post.archived.len() as u64;
}

fn check_records(what: &str, log: &Log, t: &mut Tally) {
    let (first, last) = log.bounds();
    let mut cursor = log.cursor(StartAt::Oldest).unwrap();
    let mut expected = first;
    while let Some(r) = cursor.next().unwrap() {
        assert_eq!(r.id, expected, "{what}: ids must be dense");
        assert!(
            r.data == payload(r.id),
            "{what}: record {} is not byte-exact (cursor)",
            r.id
        );
        expected += 1;
    }
    assert_eq!(
        expected,
        last + 1,
        "{what}: cursor stopped before the last id"
    );
    for id in first..=last {
        assert!(
            log.read(id).unwrap() == payload(id),
            "{what}: record {id} is not byte-exact (read)"
        );
    }
    t.records_checked += last + 1 - first;
}

/// The temporary upload files in the archive (a new one: a put is copying).
fn tmp_names(archive: &Path) -> std::collections::HashSet<String> {
    let Ok(dirs) = std::fs::read_dir(archive) else {
        return Default::default();
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_dir(d.path()).ok())
        .flat_map(|files| files.flatten())
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".aof-tmp."))
        .collect()
}

#[test]
fn kill_9_during_upload_loses_nothing_and_orphans_nothing() {
    let iterations: u64 = std::env::var("AOF_ARCHIVE_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let exe = std::env::current_exe().unwrap();
    let top = tempfile::tempdir().unwrap();
    let mut rng = Rng(0xa7c1_17e5_5eed_0002);
    let mut t = Tally::default();
    let (mut kills, mut during_open, mut targeted) = (0u64, 0u64, 0u64);
    let (mut root, mut archive) = (top.path().join("root-0"), top.path().join("archive-0"));
    for it in 0..iterations {
        if it % ITERATIONS_PER_LOG == 0 {
            for d in [&root, &archive] {
                if d.exists() {
                    std::fs::remove_dir_all(d).unwrap();
                }
            }
            root = top.path().join(format!("root-{it}"));
            archive = top.path().join(format!("archive-{it}"));
        }
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "archive_crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("AOF_ARCHIVE_CHILD_ROOT", &root)
            .env("AOF_ARCHIVE_CHILD_ARCHIVE", &archive)
            .env("AOF_ARCHIVE_CHILD_MODE", mode(it).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acked = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let out = child.stdout.take().unwrap();
            let (acked, ready, failures) = (acked.clone(), ready.clone(), failures.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    // libtest may print its own "test archive_crash_child ... " before ours.
                    if let Some(at) = line.find("ACK ") {
                        let n = line[at + 4..].trim().parse().unwrap();
                        acked.fetch_max(n, Ordering::SeqCst);
                    } else if line.contains("READY ") {
                        ready.store(true, Ordering::SeqCst);
                    } else if let Some(at) = line.find("FAIL ") {
                        failures.lock().unwrap().push(line[at..].to_string());
                    }
                }
            })
        };
        if rng.below(10) == 0 {
            // Kill it early, likely while it is still opening the manager and the log.
            std::thread::sleep(Duration::from_micros(rng.below(6_000)));
            during_open += u64::from(!ready.load(Ordering::SeqCst));
        } else {
            let wait_ready = Instant::now() + Duration::from_secs(20);
            while !ready.load(Ordering::SeqCst) && Instant::now() < wait_ready {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(ready.load(Ordering::SeqCst), "child never opened the log");
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            if rng.below(2) == 0 {
                // Aim at an upload: wait (a while at most) until a put is under way, then
                // kill it during the put or soon after (the verify, the commits, the
                // unlink).
                targeted += 1;
                let until = Instant::now() + Duration::from_millis(300);
                let before = tmp_names(&archive);
                while tmp_names(&archive).is_subset(&before) && Instant::now() < until {
                    std::hint::spin_loop();
                }
                std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        reader.join().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "iteration {it}: the child ended before it was killed ({status})"
        );
        let failures = failures.lock().unwrap();
        assert!(failures.is_empty(), "iteration {it}: {failures:?}");
        kills += 1;
        check(it, &root, &archive, acked.load(Ordering::SeqCst), &mut t);
    }
    println!(
        "archive crash: iterations {iterations}, kills {kills} ({during_open} during open, \
         {targeted} aimed at a put), kills mid-upload {} (upload started without object {}, with object {}, archived \
         with the local file left {}, put interrupted {}), kills mid-compression {}, \
         archived segments seen {}, archived by the parent {}, records verified {}, losses 0, \
         orphans 0",
        t.mid_upload,
        t.started_no_object,
        t.started_with_object,
        t.archived_with_local,
        t.archive_tmp,
        t.mid_compression,
        t.archived_seen,
        t.archived_by_parent,
        t.records_checked
    );
    assert!(
        t.archived_seen > 0,
        "no segment was ever archived: the test proves nothing"
    );
    assert!(
        t.mid_upload > 0,
        "no kill landed in the middle of an upload: the test proves nothing"
    );
}
