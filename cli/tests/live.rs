//! The read-only commands beside a writer: `aof tail` follows it, and `stat`, `dump` and
//! `verify` run while it appends without disturbing it. The writer is this test process
//! (a `Log` open here); the tool is another process.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines the child prints, collected by a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next `n` lines, waiting at most 60 s in all (a bound on a hang, not a speed test).
fn take(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(e) => panic!("after {} of {n} lines: {e}; got {out:?}", out.len()),
        }
    }
    out
}

fn id_of(json_line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    v["id"].as_u64().unwrap()
}

#[test]
fn tail_prints_records_appended_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 5);
    let mut child = Killed(
        Command::new(AOF)
            .args(["tail", "--json", "--interval", "20", "--from", "2"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(&mut child.0);
    let first: Vec<u64> = take(&rx, 4).iter().map(|l| id_of(l)).collect();
    assert_eq!(first, vec![2, 3, 4, 5]);
    // Appended now, across several new segments.
    append(&log, 6, 200);
    let next: Vec<u64> = take(&rx, 195).iter().map(|l| id_of(l)).collect();
    assert_eq!(next, (6..=200).collect::<Vec<_>>());
    assert!(log.metrics().segment_count >= 3);
    // The tool is still following; and it never stopped the writer.
    append(&log, 201, 201);
    assert_eq!(id_of(&take(&rx, 1)[0]), 201);
    log.close().unwrap();
}

#[test]
fn tail_starts_with_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 30);
    let mut child = Killed(
        Command::new(AOF)
            .args(["tail", "-n", "3", "--json"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(&mut child.0);
    let ids: Vec<u64> = take(&rx, 3).iter().map(|l| id_of(l)).collect();
    assert_eq!(ids, vec![28, 29, 30]);
    // Then a writer opens the log (the tool does not hold its lock) and appends.
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 31, 32);
    let ids: Vec<u64> = take(&rx, 2).iter().map(|l| id_of(l)).collect();
    assert_eq!(ids, vec![31, 32]);
    log.close().unwrap();
}

#[test]
fn stat_dump_and_verify_beside_a_busy_writer() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 100);
    let d = dir_str(dir.path()).to_owned();
    // An idle writer: verify checks its active segment up to the last whole record.
    let out = run(&["verify", &d]);
    assert_eq!(status(&out), 0);
    assert!(
        stdout(&out).contains("a writer has the log open"),
        "{}",
        stdout(&out)
    );
    let stop = AtomicBool::new(false);
    let appended = AtomicU64::new(100);
    std::thread::scope(|s| {
        // The writer keeps appending while the tool runs; every append must succeed.
        let writer = s.spawn(|| {
            let mut id = 101;
            while !stop.load(Ordering::Relaxed) || id < 400 {
                assert_eq!(log.append(&payload(id)).unwrap(), id);
                appended.store(id, Ordering::Relaxed);
                id += 1;
                if id.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        // Stops the writer however this thread leaves the scope (a failed assertion too).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for round in 0..3 {
            let out = run(&["stat", &d]);
            assert_eq!(status(&out), 0, "round {round}");
            let text = stdout(&out);
            let me = std::process::id();
            assert!(
                text.contains(&format!("writer       process {me} has the log open")),
                "{text}"
            );
            assert!(text.contains("no CLEAN marker"), "{text}");
            // The catalogue the writer has open read-write is read beside it.
            assert!(
                text.contains(".catalog.mdbx (the log's own, uid 1)"),
                "{text}"
            );

            let out = run(&["dump", "--json", &d]);
            assert_eq!(status(&out), 0, "round {round}");
            let text = stdout(&out);
            let mut n = 0;
            for (i, line) in text.lines().enumerate() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["id"].as_u64().unwrap(), i as u64 + 1);
                n += 1;
            }
            assert!(n >= 100, "round {round}: {n} records");

            let out = run(&["verify", &d]);
            assert_eq!(status(&out), 0, "round {round}");
            let text = stdout(&out);
            // (The last segment was checked up to its last whole record only, unless the
            // listing caught it sealed, before the writer started the next one.)
            assert!(text.contains("no damage"), "{text}");
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    });
    let last = appended.load(Ordering::Relaxed);
    assert_eq!(log.last_id(), last);
    assert!(!log.is_poisoned());
    log.close().unwrap();
    drop(log);
    // Everything is there after a reopen, which finds a clean close.
    let log = aof::Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.last_id(), last);
    let mut c = log.cursor(aof::StartAt::Oldest).unwrap();
    let mut id = 0;
    while let Some(r) = c.next().unwrap() {
        id += 1;
        assert_eq!(r.id, id);
        assert_eq!(r.data, payload(id));
    }
    assert_eq!(id, last);
}

#[test]
fn bench_quick_prints_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "bench",
        "--quick",
        "--seconds",
        "0.05",
        "--dir",
        dir_str(dir.path()),
    ]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    for case in [
        "raw write+fdatasync",
        "append Sync",
        "append Batched(1000)",
        "read (cursor scan)",
    ] {
        assert!(text.contains(case), "{case} in {text}");
    }
    assert!(text.contains("1.00 KiB") && text.contains("64 B"), "{text}");
    // Its logs are removed afterwards.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
