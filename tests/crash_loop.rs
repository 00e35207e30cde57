//! Crash loop with real processes. A child process (this test binary, re-run) appends
//! self-describing records and reports every id acknowledged as durable through a pipe;
//! the parent kills it with SIGKILL at a random moment (sometimes in the middle of its
//! recovery at open), reopens the log and checks that every acknowledged record is there
//! byte for byte, ids are dense, nothing corrupt is returned, and the log takes new
//! appends. Each iteration uses one of the flush policies in turn, or asynchronous appends
//! (up to 256 in flight from one thread, each acknowledged only once its completion said
//! durable: `append_notify` and a completion queue). Every other log
//! directory is bounded by retention (4 segments), so kills also land while segments are
//! removed and while the catalogue records rolls and removals: the records from the oldest
//! kept id on must then be whole.
//!
//! `AOF_CRASH_ITERATIONS` sets the number of kills (default 200); a long run:
//! `AOF_CRASH_ITERATIONS=5000 cargo test --release --test crash_loop -- --nocapture`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aof::{CompletionQueue, FlushPolicy, Log, Options, Outcome as CompletionOutcome, StartAt};

mod common;
use common::Rng;

/// The four flush policies, then asynchronous appends (under `Sync`).
const POLICIES: usize = 5;
const ASYNC_MODE: usize = 4;
/// Iterations that share one log directory before it starts afresh (bounds disk use).
const ITERATIONS_PER_LOG: u64 = 25;

fn policy(n: usize) -> FlushPolicy {
    match n % POLICIES {
        0 => FlushPolicy::Sync,
        1 => FlushPolicy::Batched { records: 32 },
        2 => FlushPolicy::Async,
        3 => FlushPolicy::BatchedOrPeriodic {
            records: 64,
            interval: Duration::from_millis(2),
        },
        _ => FlushPolicy::Sync,
    }
}

fn options(flush: FlushPolicy) -> Options {
    Options {
        segment_size: 1 << 20,
        max_record_size: Some(320 << 10),
        flush,
        ..Options::default()
    }
}

/// The payload of record `id`: its length and bytes follow from the id, and from 16 bytes
/// on it starts with the id and a CRC of the rest, so it describes itself.
fn payload(id: u64) -> Vec<u8> {
    let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = match rng.below(100) {
        0..=14 => rng.below(16),
        15..=84 => 16 + rng.below(256),
        85..=98 => 16 + rng.below(8 << 10),
        _ => 16 + rng.below(300 << 10),
    } as usize;
    let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if len >= 16 {
        let mut d = crc64fast_nvme::Digest::new();
        d.write(&p[16..]);
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..16].copy_from_slice(&d.sum64().to_le_bytes());
    }
    p
}

/// The child: append until killed, printing `ACK <id>` for every id known durable.
#[test]
#[ignore = "child process of crash_loop; it runs until killed"]
fn crash_child() {
    let Ok(dir) = std::env::var("AOF_CRASH_CHILD_DIR") else {
        return;
    };
    let n: usize = std::env::var("AOF_CRASH_CHILD_POLICY")
        .unwrap()
        .parse()
        .unwrap();
    let flush = policy(n);
    let mut opts = options(flush);
    if std::env::var_os("AOF_CRASH_CHILD_RETAIN").is_some() {
        opts.retention.max_segments = Some(4);
    }
    let log = Log::open(&dir, opts).unwrap();
    println!("READY {}", log.last_id());
    if n % POLICIES == ASYNC_MODE {
        return append_async_until_killed(&log);
    }
    let mut rng = Rng(std::process::id() as u64 | 1);
    let mut acked = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let next = log.last_id() + 1;
        let last = if rng.below(10) == 0 {
            let k = 2 + rng.below(7);
            let batch: Vec<Vec<u8>> = (next..next + k).map(payload).collect();
            log.append_batch(&batch).unwrap() + k - 1
        } else {
            log.append(&payload(next)).unwrap()
        };
        let durable = if flush == FlushPolicy::Sync {
            last
        } else {
            log.durable_id()
        };
        if durable > acked {
            acked = durable;
            println!("ACK {acked}");
        }
    }
}

/// The child in asynchronous mode: one thread keeps up to 256 appends in flight and a
/// second prints `ACK <id>` for each completion, which must say durable and come in id
/// order.
fn append_async_until_killed(log: &Log) {
    let queue = CompletionQueue::new().unwrap();
    log.attach_queue(Some(queue.clone()), 0).unwrap();
    let first = log.last_id() + 1;
    let done = Arc::new(AtomicU64::new(first - 1));
    let acker = {
        let (queue, done) = (queue.clone(), done.clone());
        std::thread::spawn(move || {
            let mut batch = Vec::new();
            let mut expected = first;
            loop {
                batch.clear();
                queue.poll(&mut batch, 1024, None).unwrap();
                for c in &batch {
                    assert_eq!(c.id, expected, "completions out of id order");
                    assert_eq!(c.outcome, CompletionOutcome::Durable);
                    expected += 1;
                }
                if let Some(c) = batch.last() {
                    done.store(c.id, Ordering::SeqCst);
                    println!("ACK {}", c.id);
                }
            }
        })
    };
    let mut rng = Rng(std::process::id() as u64 | 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut in_flight_max = 1 + rng.below(256);
    while Instant::now() < deadline {
        if log.last_id() - done.load(Ordering::SeqCst) >= in_flight_max {
            std::thread::yield_now();
            continue;
        }
        let next = log.last_id() + 1;
        assert_eq!(log.append_notify(&payload(next), next).unwrap(), next);
        if rng.below(1000) == 0 {
            in_flight_max = 1 + rng.below(256);
        }
    }
    drop(acker);
}

struct Outcome {
    acked: u64,
    records_checked: u64,
}

/// Reopens after a kill and checks every record from `from` on; returns what it saw.
fn check_log(dir: &Path, acked: u64, from: u64) -> Outcome {
    let log = Log::open(dir, options(FlushPolicy::Sync)).unwrap();
    let last = log.last_id();
    assert!(
        last >= acked,
        "lost acknowledged records: last id {last} < acknowledged {acked}"
    );
    // Retention may have removed the oldest segments: check from the oldest kept id.
    let from = from.max(log.bounds().0);
    let mut cursor = log.cursor(StartAt::Id(from.min(last + 1).max(1))).unwrap();
    let mut expected = from.min(last + 1).max(1);
    let mut checked = 0;
    while let Some(r) = cursor.next().unwrap() {
        assert_eq!(r.id, expected, "ids must be dense");
        assert_eq!(
            r.data,
            &payload(r.id)[..],
            "record {} is not byte-exact",
            r.id
        );
        expected += 1;
        checked += 1;
    }
    assert_eq!(expected, last + 1, "cursor stopped before the last id");
    // The log takes new appends after recovery, with the next id.
    assert_eq!(log.append(&payload(last + 1)).unwrap(), last + 1);
    log.close().unwrap();
    Outcome {
        acked,
        records_checked: checked,
    }
}

#[test]
fn crash_loop_kill_9() {
    let iterations: u64 = std::env::var("AOF_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let exe = std::env::current_exe().unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x0bad_cafe_f00d_1234);
    let (mut kills, mut verified, mut during_open, mut max_acked_total) = (0u64, 0u64, 0u64, 0u64);
    // Kills of children in asynchronous mode, and the new ids they acknowledged.
    let (mut async_kills, mut async_acked) = (0u64, 0u64);
    let mut dir = root.path().join("log-0");
    let mut checked_upto = 0;
    for it in 0..iterations {
        if it % ITERATIONS_PER_LOG == 0 {
            dir = root.path().join(format!("log-{it}"));
            checked_upto = 0;
        }
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("AOF_CRASH_CHILD_DIR", &dir)
            .env(
                "AOF_CRASH_CHILD_POLICY",
                (it as usize % POLICIES).to_string(),
            )
            .envs(((it / ITERATIONS_PER_LOG) % 2 == 1).then_some(("AOF_CRASH_CHILD_RETAIN", "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acked = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let opened_at = Arc::new(AtomicU64::new(u64::MAX));
        let reader = {
            let out = child.stdout.take().unwrap();
            let (acked, ready, opened_at) = (acked.clone(), ready.clone(), opened_at.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    // libtest may print its own "test crash_child ... " before ours.
                    if let Some(at) = line.find("ACK ") {
                        let n = line[at + 4..].trim().parse().unwrap();
                        acked.fetch_max(n, Ordering::SeqCst);
                    } else if let Some(at) = line.find("READY ") {
                        let n = line[at + 6..].trim().parse().unwrap();
                        opened_at.store(n, Ordering::SeqCst);
                        ready.store(true, Ordering::SeqCst);
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
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        kills += 1;
        if !dir.exists() {
            continue;
        }
        let acked = acked.load(Ordering::SeqCst);
        let out = check_log(&dir, acked, checked_upto.max(1));
        if it as usize % POLICIES == ASYNC_MODE {
            async_kills += 1;
            async_acked += acked.saturating_sub(opened_at.load(Ordering::SeqCst));
        }
        verified += out.records_checked;
        max_acked_total += out.acked;
        checked_upto = checked_upto.max(out.acked.saturating_sub(64));
    }
    println!(
        "crash loop: iterations {iterations}, kills {kills} ({during_open} during open), \
         records verified {verified}, acknowledged ids summed {max_acked_total}, losses 0; \
         asynchronous appends: {async_kills} kills, {async_acked} ids acknowledged durable by \
         their completion"
    );
}
