//! Kill -9 while segments move to the warm tier. A child process (this test binary, re-run)
//! appends into a log with small segments whose maintenance task compresses every sealed
//! segment as soon as a newer one exists (`compress_after_segments: Some(1)`), on some
//! iterations with a second thread calling `compress_now` in a loop as well, and on some
//! logs with retention removing the oldest segments meanwhile. It reports every id
//! acknowledged as durable through a pipe; the parent kills it with SIGKILL at a random
//! moment (sometimes while it recovers at open), then, before reopening, notes what a
//! compression left half done (a `.seg.zst.tmp`, or a segment with both its plain and its
//! compressed file), reopens the log and checks that:
//!
//! - every acknowledged record is there, byte for byte, by cursor and by id, ids dense;
//! - exactly one file per segment is left (plain or compressed), none in progress;
//! - the recovery report names every move it settled (finished or undone), and only those;
//! - the log takes new appends.
//!
//! The kills that landed in the middle of a move are counted, and the test fails unless
//! some did: it proves nothing otherwise.
//!
//! `AOF_TIER_CRASH_ITERATIONS` sets the number of kills (default 120).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Options, StartAt, Tiering};

mod common;
use common::Rng;

/// Iterations that share one log directory before it starts afresh (bounds the log's size,
/// and so the time a full check takes).
const ITERATIONS_PER_LOG: u64 = 10;

/// What the child does, from the iteration: bit 0 the flush policy (Sync, Batched), bit 1 a
/// thread calling `compress_now` in a loop, bit 2 retention bounds.
fn mode(it: u64) -> u64 {
    (it % 4) | (((it / ITERATIONS_PER_LOG) % 2) << 2)
}

fn options(flush: FlushPolicy, compress_after_segments: Option<u64>) -> Options {
    Options {
        segment_size: 32 * 1024,
        max_record_size: Some(16 * 1024),
        flush,
        tiering: Tiering {
            compress_after_segments,
            frame_size: 4096,
            ..Tiering::default()
        },
        ..Options::default()
    }
}

/// The payload of record `id`: its length and bytes follow from the id; words, so that it
/// compresses; from 16 bytes on it starts with the id and a CRC of the rest.
fn payload(id: u64) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "append ",
        "only ",
        "segment ",
        "sealed ",
        "frame ",
        "zstd ",
        "catalogue ",
        "tier ",
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
/// `FAIL <error>` if `compress_now` fails.
#[test]
#[ignore = "child process of tier_crash; it runs until killed"]
fn tier_crash_child() {
    let Ok(dir) = std::env::var("AOF_TIER_CHILD_DIR") else {
        return;
    };
    let mode: u64 = std::env::var("AOF_TIER_CHILD_MODE")
        .unwrap()
        .parse()
        .unwrap();
    let flush = if mode & 1 == 0 {
        FlushPolicy::Sync
    } else {
        FlushPolicy::Batched { records: 32 }
    };
    let mut opts = options(flush, Some(1));
    if mode & 4 != 0 {
        opts.retention.max_segments = Some(6);
    }
    let log = Arc::new(Log::open(&dir, opts).unwrap());
    println!("READY {}", log.last_id());
    if mode & 2 != 0 {
        let log = log.clone();
        std::thread::spawn(move || loop {
            match log.compress_now() {
                Ok(0) => std::thread::sleep(Duration::from_micros(200)),
                Ok(_) => {}
                Err(e) => {
                    println!("FAIL compress_now: {e}");
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
            println!("FAIL poisoned");
        }
    }
}

/// Which files each segment has, by base id: (plain, compressed, compression in progress).
fn tier_files(dir: &Path) -> BTreeMap<u64, (bool, bool, bool)> {
    let mut out: BTreeMap<u64, (bool, bool, bool)> = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.len() < 20 || !name.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
            continue;
        }
        let f = out.entry(name[..20].parse().unwrap()).or_default();
        match &name[20..] {
            ".seg" => f.0 = true,
            ".seg.zst" => f.1 = true,
            ".seg.zst.tmp" => f.2 = true,
            _ => panic!("unexpected file {name}"),
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    records_checked: u64,
    /// Kills after which a compression was found half done (any of the three below).
    mid_move: u64,
    /// ... with a `.seg.zst.tmp` left (open removed it).
    tmp_left: u64,
    /// ... with a move the catalogue had recorded (open removed the plain file).
    finished: u64,
    /// ... with both files and a move not recorded (open removed the compressed file).
    undone: u64,
    /// Compressed segments seen after the reopens (summed).
    compressed_seen: u64,
}

/// Reopens after a kill and checks everything; adds what it saw to `t`.
fn check_log(dir: &Path, acked: u64, t: &mut Tally) {
    let before = tier_files(dir);
    let both: Vec<u64> = before
        .iter()
        .filter(|(_, f)| f.0 && f.1)
        .map(|(b, _)| *b)
        .collect();
    let tmp = before.values().filter(|f| f.2).count();

    let log = Log::open(dir, options(FlushPolicy::Sync, None)).unwrap();
    let r = log.recovery().clone();
    // Every segment caught with both files was settled one way or the other, and nothing
    // else was.
    let mut settled: Vec<u64> = r
        .tier_moves_finished
        .iter()
        .chain(&r.tier_moves_undone)
        .copied()
        .collect();
    settled.sort();
    assert_eq!(settled, both, "moves settled at open: {r:?}");
    assert!(r.compressed_restored.is_empty(), "{r:?}");
    if tmp > 0 || !both.is_empty() {
        t.mid_move += 1;
    }
    t.tmp_left += u64::from(tmp > 0);
    t.finished += u64::from(!r.tier_moves_finished.is_empty());
    t.undone += u64::from(!r.tier_moves_undone.is_empty());

    let after = tier_files(dir);
    for (base, f) in &after {
        assert!(
            !f.2,
            "segment {base}: a compression in progress is left after open"
        );
        assert!(f.0 != f.1, "segment {base}: {f:?}: not exactly one file");
    }
    t.compressed_seen += after.values().filter(|f| f.1).count() as u64;

    let last = log.last_id();
    assert!(
        last >= acked,
        "lost acknowledged records: last id {last} < acknowledged {acked}"
    );
    // Retention may have removed the oldest segments: check from the oldest kept id.
    let first = log.bounds().0;
    let mut cursor = log.cursor(StartAt::Oldest).unwrap();
    let mut expected = first;
    while let Some(r) = cursor.next().unwrap() {
        assert_eq!(r.id, expected, "ids must be dense");
        assert!(
            r.data == payload(r.id),
            "record {} is not byte-exact (cursor)",
            r.id
        );
        expected += 1;
    }
    assert_eq!(expected, last + 1, "cursor stopped before the last id");
    for id in first..=last {
        assert!(
            log.read(id).unwrap() == payload(id),
            "record {id} is not byte-exact (read)"
        );
    }
    t.records_checked += last + 1 - first;
    assert_eq!(log.append(&payload(last + 1)).unwrap(), last + 1);
    log.close().unwrap();
}

#[test]
fn kill_9_during_compression_loses_nothing_and_orphans_nothing() {
    let iterations: u64 = std::env::var("AOF_TIER_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let exe = std::env::current_exe().unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x7e1e_c0de_5eed_0001);
    let mut t = Tally::default();
    let (mut kills, mut during_open) = (0u64, 0u64);
    let mut dir = root.path().join("log-0");
    for it in 0..iterations {
        if it % ITERATIONS_PER_LOG == 0 {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            dir = root.path().join(format!("log-{it}"));
        }
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "tier_crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("AOF_TIER_CHILD_DIR", &dir)
            .env("AOF_TIER_CHILD_MODE", mode(it).to_string())
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
                    // libtest may print its own "test tier_crash_child ... " before ours.
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
            // Kill it early, likely while it is still recovering the log at open.
            std::thread::sleep(Duration::from_micros(rng.below(4_000)));
            during_open += u64::from(!ready.load(Ordering::SeqCst));
        } else {
            let wait_ready = Instant::now() + Duration::from_secs(20);
            while !ready.load(Ordering::SeqCst) && Instant::now() < wait_ready {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(ready.load(Ordering::SeqCst), "child never opened the log");
            std::thread::sleep(Duration::from_micros(rng.below(120_000)));
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
        if !dir.exists() {
            continue;
        }
        check_log(&dir, acked.load(Ordering::SeqCst), &mut t);
    }
    println!(
        "tier crash: iterations {iterations}, kills {kills} ({during_open} during open), \
         kills mid-move {} (tmp left {}, moves finished at open {}, undone {}), \
         compressed segments seen {}, records verified {}, losses 0",
        t.mid_move, t.tmp_left, t.finished, t.undone, t.compressed_seen, t.records_checked
    );
    assert!(
        t.compressed_seen > 0,
        "no segment was ever compressed: the test proves nothing"
    );
    assert!(
        t.mid_move > 0,
        "no kill landed in the middle of a compression: the test proves nothing"
    );
}
