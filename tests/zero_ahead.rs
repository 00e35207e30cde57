//! Zero-ahead (`Options::zero_ahead`): a background task writes zeros just past the
//! writer's end while appenders keep writing records. These tests run it with a window of
//! one page, so that the zeroer and the write-outs meet all the time, and check that no
//! record is ever overwritten; and that the space ahead of the writer is really written
//! (not just reserved), which is what makes the syncs cheaper.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Options, Visibility};
use common::*;

const THREADS: u64 = 6;
const PER_THREAD: u64 = 400;

fn len_of_key(k: u64) -> usize {
    16 + size_for(k, 3000)
}

/// Appends from several threads into a log whose zeroer works one page ahead, then checks
/// every record by id, by cursor, and again after reopening.
fn appends_survive_the_zeroer(flush: FlushPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        segment_size: 256 * 1024,
        zero_ahead: 4096,
        ..small_opts_with(flush, Visibility::Written)
    };
    let log = Arc::new(Log::open(dir.path(), opts.clone()).unwrap());
    let start = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut ids = Vec::new();
                for i in 0..PER_THREAD {
                    let key = (t << 32) | i;
                    ids.push((log.append(&payload(key, len_of_key(key))).unwrap(), key));
                }
                ids
            })
        })
        .collect();
    let by_id: HashMap<u64, u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let n = THREADS * PER_THREAD;
    assert_eq!(by_id.len() as u64, n);
    if flush == FlushPolicy::Sync {
        // Dense syncs (a few KiB per sync): zeroing pays and must have run.
        let zeroed = log.metrics().zeroed_bytes;
        assert!(zeroed > 0, "{flush:?}: the zeroer wrote nothing");
    }

    let check = |what: &str, log: &Log| {
        assert_eq!(log.last_id(), n, "{what}: last_id");
        for id in 1..=n {
            let key = by_id[&id];
            check_payload(
                &format!("{what}: read({id})"),
                key,
                len_of_key(key),
                &log.read(id).unwrap(),
            );
        }
        let rows = scan(log);
        assert_eq!(rows.len() as u64, n, "{what}: records a cursor returns");
        for (id, data) in rows {
            let key = by_id[&id];
            check_payload(
                &format!("{what}: cursor at {id}"),
                key,
                len_of_key(key),
                &data,
            );
        }
    };
    check(&format!("{flush:?}, open"), &log);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts).unwrap();
    check(&format!("{flush:?}, reopened"), &log);
    log.verify_all().unwrap().into_result().unwrap();
}

#[test]
fn sync_appends_survive_the_zeroer() {
    appends_survive_the_zeroer(FlushPolicy::Sync);
}

/// Under `Batched` the zeroer runs only while syncs stay dense (see `prefill::Payoff`); the
/// records must survive either way.
#[test]
fn batched_appends_survive_the_zeroer() {
    appends_survive_the_zeroer(FlushPolicy::Batched { records: 4 });
}

/// First offset at or after `from` that is a hole (unwritten, or pre-allocated but never
/// written, on file systems that tell the two apart), or the file's size.
fn next_hole(file: &File, from: u64) -> u64 {
    // SAFETY: plain lseek on an fd the File owns.
    let off = unsafe { libc::lseek(file.as_raw_fd(), from as libc::off_t, libc::SEEK_HOLE) };
    assert!(
        off >= 0,
        "lseek(SEEK_HOLE): {}",
        std::io::Error::last_os_error()
    );
    off as u64
}

/// Whether this file system reports `fallocate`d, never written space as a hole (ext4 and
/// XFS do); elsewhere the checks below cannot see the difference and are skipped.
fn tells_reserved_from_written(dir: &Path) -> bool {
    let path = dir.join("probe");
    let file = File::create(&path).unwrap();
    // SAFETY: plain fallocate on an fd the File owns.
    let ret = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, 1 << 20) };
    let tells = ret == 0 && next_hole(&file, 0) == 0;
    std::fs::remove_file(&path).unwrap();
    tells
}

/// Appends a little under `Sync` and waits (bounded) for the zeroer; returns the log, the
/// active segment file and the offset just past the records.
fn settle(dir: &Path, zero_ahead: u64) -> (Log, File, u64) {
    let opts = Options {
        segment_size: 8 << 20,
        zero_ahead,
        flush: FlushPolicy::Sync,
        ..small_opts()
    };
    let log = Log::open(dir, opts).unwrap();
    for i in 0..20 {
        log.append(&payload(i, 100)).unwrap();
    }
    let end = 64 + 20 * (32 + 104);
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.metrics().zeroed_bytes < zero_ahead && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let file = File::open(active_segment(dir).1).unwrap();
    (log, file, end)
}

#[test]
fn space_ahead_of_the_writer_is_written() {
    let dir = tempfile::tempdir().unwrap();
    if !tells_reserved_from_written(dir.path()) {
        eprintln!("skipped: this file system reports reserved space as data");
        return;
    }
    let window = 256 * 1024;
    let (log, file, end) = settle(dir.path(), window);
    assert!(log.metrics().zeroed_bytes >= window, "{:?}", log.metrics());
    let hole = next_hole(&file, 0);
    assert!(
        hole >= end + window,
        "first unwritten byte at {hole}, records end at {end}: the window is not written"
    );
    log.close().unwrap();
}

#[test]
fn zero_ahead_off_leaves_the_space_reserved_only() {
    let dir = tempfile::tempdir().unwrap();
    if !tells_reserved_from_written(dir.path()) {
        eprintln!("skipped: this file system reports reserved space as data");
        return;
    }
    let (log, file, end) = settle(dir.path(), 0);
    assert_eq!(log.metrics().zeroed_bytes, 0);
    let hole = next_hole(&file, 0);
    assert!(
        hole < end + 4096,
        "first unwritten byte at {hole}, records end at {end}: something wrote ahead"
    );
    log.close().unwrap();
}
