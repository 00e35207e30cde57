//! The segment catalogue through its API: durability across reopen, 1,000 logs of 10
//! segments, the thread count, concurrent writers, damaged files and the fork guard.
//! Tests that must not share the process (thread counts, damage that could kill the
//! process, fork) re-run this binary as a child with one test selected (see
//! `tests/two_process.rs` for the pattern).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use aof::catalog::{Catalog, LogMeta, NewLog, SegmentEntry, SegmentState, FILE_NAME};
use aof::Error;

fn new_log(segment_size: u64) -> NewLog {
    NewLog {
        segment_size,
        segment_format_version: 1,
    }
}

/// The entry segment `s` of log number `l` has in `populate`.
fn entry(l: u64, s: u64) -> SegmentEntry {
    let base = s * 1000 + 1;
    SegmentEntry {
        state: SegmentState::Sealed,
        last_id: base + 999,
        record_count: 1000,
        payload_bytes: l * 1_000_000 + s,
        data_end: 64 + 1000 * 40,
        sealed_us: 2_000_000 + s,
        records_crc: l.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ s,
        ..SegmentEntry::active(1 << 20, 64, s * 1_000_000, 1_000_000 + s)
    }
}

fn name(l: u64) -> String {
    format!("tenant-{:02}/log-{l:05}", l % 7)
}

/// `logs` logs of `segments` sealed segments each; returns their uids by log number.
fn populate(c: &Catalog, logs: u64, segments: u64) -> Vec<u64> {
    (0..logs)
        .map(|l| {
            let uid = c.create_log(&name(l), new_log(1 << 20)).unwrap().uid;
            c.batch(|b| {
                for s in 0..segments {
                    b.put_segment(uid, s * 1000 + 1, &entry(l, s))?;
                }
                Ok(())
            })
            .unwrap();
            uid
        })
        .collect()
}

/// Checks everything `populate` wrote is there, unchanged; `Err` says what is not.
/// Checks everything `populate` wrote is there, unchanged, except that the last log has
/// `last_segments` segments; `Err` says what is not.
fn check_populated(
    c: &Catalog,
    logs: u64,
    segments: u64,
    last_segments: u64,
) -> aof::Result<Result<(), String>> {
    let listed = c.list_logs()?;
    let mut want: Vec<String> = (0..logs).map(name).collect();
    want.sort();
    let got: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    if got != want {
        return Ok(Err(format!("{} logs listed, {logs} expected", got.len())));
    }
    let by_name: BTreeMap<&str, &LogMeta> = listed.iter().map(|(n, m)| (n.as_str(), m)).collect();
    for l in 0..logs {
        let meta = by_name[name(l).as_str()];
        if c.log(&name(l))?.as_ref() != Some(meta) {
            return Ok(Err(format!(
                "log {} differs between list and lookup",
                name(l)
            )));
        }
        let segs = c.segments(meta.uid)?;
        let n = if l == logs - 1 {
            last_segments
        } else {
            segments
        };
        let want: Vec<(u64, SegmentEntry)> = (0..n).map(|s| (s * 1000 + 1, entry(l, s))).collect();
        if segs != want {
            let got: Vec<u64> = segs.iter().map(|(b, _)| *b).collect();
            return Ok(Err(format!(
                "segments of {} differ: bases {got:?}",
                name(l)
            )));
        }
        if c.segment(meta.uid, 1)? != want.first().map(|(_, e)| *e) {
            return Ok(Err(format!("segment lookup of {} differs", name(l))));
        }
    }
    Ok(Ok(()))
}

/// Runs test `test` of this binary in a child process with `vars` set; returns its
/// stdout after `RESULT ` (or, if there is none, the end of its stderr) and how it ended.
fn run_child(test: &str, vars: &[(&str, &Path)]) -> (String, std::process::ExitStatus) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .find("RESULT ")
        .map(|at| stdout[at + 7..].lines().next().unwrap().trim().to_string())
        .unwrap_or_else(|| {
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            format!("no result; stderr ends: {:?}", tail)
        });
    (result, out.status)
}

#[test]
fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b);
    {
        let c = Catalog::open(dir.path()).unwrap();
        a = c.create_log("a", new_log(4096)).unwrap();
        b = c.create_log("b", new_log(8192)).unwrap();
        c.put_segment(a.uid, 1, &SegmentEntry::active(4096, 64, 0, 5))
            .unwrap();
        c.put_segment(a.uid, 50, &SegmentEntry::active(4096, 64, 0, 6))
            .unwrap();
        c.update_segment(a.uid, 1, |e| {
            e.state = SegmentState::Sealed;
            e.record_count = 49;
            e.last_id = 49;
            e.records_crc = 1234;
        })
        .unwrap();
        c.put_segment(b.uid, 1, &SegmentEntry::active(8192, 64, 0, 7))
            .unwrap();
        c.set_clean_close_id("a", 49).unwrap();
        c.set_oldest_retained_id("b", 1).unwrap();
        assert!(c.remove_segment(b.uid, 1).unwrap());
        c.create_log("gone", new_log(4096)).unwrap();
        assert!(c.drop_log("gone").unwrap());
    }
    let c = Catalog::open(dir.path()).unwrap();
    assert!(!c.was_created());
    let logs = c.list_logs().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].0, "a");
    assert_eq!(
        logs[0].1,
        LogMeta {
            clean_close_id: 49,
            ..a
        }
    );
    assert_eq!(logs[1], ("b".to_string(), b));
    let segs = c.segments(a.uid).unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].0, 1);
    assert_eq!(segs[0].1.state, SegmentState::Sealed);
    assert_eq!((segs[0].1.last_id, segs[0].1.records_crc), (49, 1234));
    assert_eq!(segs[1], (50, SegmentEntry::active(4096, 64, 0, 6)));
    assert!(c.segments(b.uid).unwrap().is_empty());
    assert_eq!(c.log("gone").unwrap(), None);
    // The open protocol: read the clean-close id and clear it, durably.
    assert_eq!(c.take_clean_close_id("a").unwrap(), 49);
    drop(c);
    let c = Catalog::open(dir.path()).unwrap();
    assert_eq!(c.log("a").unwrap().unwrap().clean_close_id, 0);
    // The uid counter survived too: "gone" had uid 3.
    assert_eq!(c.create_log("c", new_log(4096)).unwrap().uid, 4);
}

#[test]
fn a_thousand_logs_of_ten_segments() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(dir.path()).unwrap();
    let start = Instant::now();
    let uids = populate(&c, 1000, 10);
    let took = start.elapsed();
    eprintln!(
        "1000 logs x 10 segments: {took:?} for 2000 durable commits, file {} KiB",
        c.file_size().unwrap() >> 10
    );
    assert_eq!(uids, (1..=1000).collect::<Vec<u64>>());
    check_populated(&c, 1000, 10, 10).unwrap().unwrap();
    // Range queries: each log's segments and nothing else, in base order.
    for (l, &uid) in uids.iter().enumerate().step_by(97) {
        let segs = c.segments(uid).unwrap();
        let bases: Vec<u64> = segs.iter().map(|(b, _)| *b).collect();
        assert_eq!(bases, (0..10).map(|s| s * 1000 + 1).collect::<Vec<u64>>());
        assert!(segs
            .iter()
            .all(|(b, e)| *e == entry(l as u64, (b - 1) / 1000)));
    }
    assert!(c.segments(1001).unwrap().is_empty());
    // Dropping half the logs leaves exactly the other half.
    for l in (0..1000).step_by(2) {
        assert!(c.drop_log(&name(l)).unwrap());
    }
    let left = c.list_logs().unwrap();
    assert_eq!(left.len(), 500);
    assert!(left.iter().all(|(_, m)| m.uid % 2 == 0));
    for &uid in uids.iter().step_by(2) {
        assert!(c.segments(uid).unwrap().is_empty());
    }
    drop(c);
    // A closed, then reopened, environment sees all of it.
    let c = Catalog::open(dir.path()).unwrap();
    let again = c.list_logs().unwrap();
    assert_eq!(again, left);
    for (_, m) in &again {
        assert_eq!(c.segments(m.uid).unwrap().len(), 10);
    }
}

fn threads_of_this_process() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
#[ignore = "child process of the thread count does not grow with the number of logs"]
fn thread_count_child() {
    let Some(dir) = std::env::var_os("AOF_CATALOG_DIR") else {
        return;
    };
    let c = Catalog::open(Path::new(&dir)).unwrap();
    let before = threads_of_this_process();
    populate(&c, 1000, 10);
    for l in (0..1000).step_by(10) {
        c.log(&name(l)).unwrap().unwrap();
    }
    let after = threads_of_this_process();
    drop(c);
    println!("RESULT {before} {after}");
}

#[test]
fn thread_count_does_not_grow_with_the_number_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    // Created here, so the child's open starts no short-lived environment of its own.
    drop(Catalog::open(dir.path()).unwrap());
    let (result, status) = run_child("thread_count_child", &[("AOF_CATALOG_DIR", dir.path())]);
    assert!(status.success(), "{status:?} {result}");
    let counts: Vec<usize> = result.split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts[0], counts[1], "threads before and after 1,000 logs");
    // The test thread, the main thread (and no more than that), plus the catalogue's one
    // writer thread.
    assert!(counts[0] <= 3, "{counts:?}");
}

/// Fails the test instead of hanging if `f` does not finish in time.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("catalogue calls did not finish: deadlock?")
}

#[test]
fn concurrent_writers_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let c = Arc::new(Catalog::open(dir.path()).unwrap());
    let uid = c.create_log("shared", new_log(4096)).unwrap().uid;
    c.put_segment(uid, 1, &SegmentEntry::active(4096, 64, 0, 0))
        .unwrap();

    // One writer sits inside its write transaction while another thread writes: the
    // second waits, then goes through.
    let c2 = Arc::clone(&c);
    let took = within(Duration::from_secs(60), move || {
        let inside = Arc::new(Barrier::new(2));
        let inside2 = Arc::clone(&inside);
        let c3 = Arc::clone(&c2);
        let slow = thread::spawn(move || {
            c3.update_segment(uid, 1, |e| {
                inside2.wait();
                thread::sleep(Duration::from_millis(300));
                e.data_end = 128;
            })
            .unwrap();
        });
        inside.wait();
        let start = Instant::now();
        c2.put_segment(uid, 100, &SegmentEntry::active(4096, 64, 0, 0))
            .unwrap();
        let took = start.elapsed();
        slow.join().unwrap();
        took
    });
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert_eq!(c.segment(uid, 1).unwrap().unwrap().data_end, 128);
    assert!(c.segment(uid, 100).unwrap().is_some());

    // Many threads writing and reading at once: every write lands, nothing deadlocks.
    let c2 = Arc::clone(&c);
    within(Duration::from_secs(120), move || {
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let c = Arc::clone(&c2);
                thread::spawn(move || {
                    let uid = c.create_log(&format!("w{t}"), new_log(4096)).unwrap().uid;
                    for s in 0..50u64 {
                        c.put_segment(uid, s * 10 + 1, &SegmentEntry::active(4096, 64, s, t))
                            .unwrap();
                        if s % 5 == 0 {
                            c.update_segment(uid, 1, |e| e.data_end = 64 + s).unwrap();
                            assert!(c.list_logs().unwrap().len() >= 2);
                            assert_eq!(c.segments(uid).unwrap().len() as u64, s + 1);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert_eq!(c.list_logs().unwrap().len(), 9);
    for t in 0..8 {
        let uid = c.log(&format!("w{t}")).unwrap().unwrap().uid;
        assert_eq!(c.segments(uid).unwrap().len(), 50);
    }
}

/// Child: opens a (maybe damaged) catalogue, reads all of it, writes to it, and says
/// what happened: `OK` (all there and correct), `ERR <error>`, `ROLLBACK` (read without
/// error, all correct as of the commit before the last), or `WRONG <what>` (read without
/// error but not what was written).
#[test]
#[ignore = "child process of damaged_catalogues_give_errors_not_crashes"]
fn damaged_child() {
    let Some(dir) = std::env::var_os("AOF_CATALOG_DIR") else {
        return;
    };
    let run = || -> aof::Result<String> {
        let c = Catalog::open(Path::new(&dir))?;
        if let Err(what) = check_populated(&c, 200, 10, 10)? {
            if check_populated(&c, 200, 10, 0)?.is_ok() {
                return Ok("ROLLBACK".into());
            }
            return Ok(format!("WRONG {what}"));
        }
        let uid = c.create_log("new", new_log(4096))?.uid;
        c.put_segment(uid, 1, &SegmentEntry::active(4096, 64, 0, 0))?;
        Ok("OK".into())
    };
    match run() {
        Ok(s) => println!("RESULT {s}"),
        Err(e @ Error::Catalog { .. }) => println!("RESULT ERR {e}"),
        Err(e) => println!("RESULT OTHER {e}"),
    }
}

/// Overwrites or truncates a populated catalogue file in many places; each damaged copy
/// is opened and read in a child process. Every child must end normally (no signal, no
/// abort) with an answer: a clean `Error::Catalog`, or all data correct. One exception,
/// by libmdbx's design: damage to the newest of its three meta pages (the first 12 KiB)
/// makes it open the previous snapshot, which it cannot tell from a commit torn by a
/// crash; the catalogue then silently lacks its last commit (`ROLLBACK`).
#[test]
fn damaged_catalogues_give_errors_not_crashes() {
    let pristine = tempfile::tempdir().unwrap();
    let c = Catalog::open(pristine.path()).unwrap();
    populate(&c, 200, 10);
    drop(c);
    let file = pristine.path().join(FILE_NAME);
    let bytes = fs::read(&file).unwrap();

    // Overwrites of 64 bytes (xorshift noise) spread over the first 512 KiB (the pages in
    // use are in the first few hundred KiB), single bit flips anywhere there, and
    // truncations. AOF_CATALOG_DAMAGE_CASES
    // and AOF_CATALOG_DAMAGE_SEED run more, or other, cases.
    let env_u64 = |k: &str, default: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cases = env_u64("AOF_CATALOG_DAMAGE_CASES", 48);
    let mut seed = env_u64("AOF_CATALOG_DAMAGE_SEED", 0x2545_f491_4f6c_dd1d) | 1;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // libmdbx's meta pages: 3 pages of 4 KiB.
    const META_END: usize = 3 * 4096;
    let mut damages: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for i in 0..cases {
        let at = (i * (512 << 10) / cases + noise() % 4096) as usize % (512 << 10);
        let mut b = bytes.clone();
        for x in &mut b[at..at + 64] {
            *x = noise() as u8;
        }
        damages.push((format!("64 noise bytes at {at}"), b, at < META_END));
        let at = (noise() % (512 << 10)) as usize;
        let bit = noise() % 8;
        let mut b = bytes.clone();
        b[at] ^= 1 << bit;
        damages.push((format!("bit {bit} of byte {at} flipped"), b, at < META_END));
    }
    for len in [bytes.len() / 8, 40_000, 8192, 0] {
        damages.push((format!("truncated to {len}"), bytes[..len].to_vec(), false));
    }

    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for (what, b, in_meta) in &damages {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b).unwrap();
        let (result, status) = run_child("damaged_child", &[("AOF_CATALOG_DIR", dir.path())]);
        assert!(
            status.success(),
            "{what}: the child died ({status:?}), result {result:?}"
        );
        let kind = result.split(' ').next().unwrap_or("");
        match kind {
            "OK" | "ERR" => {}
            "ROLLBACK" if *in_meta => {}
            _ => panic!("{what}: {result:?}"),
        }
        if kind == "ERR" {
            assert!(result.contains(FILE_NAME), "{what}: {result}");
        }
        eprintln!("{what}: {result}");
        *tally
            .entry(match kind {
                "OK" => "OK",
                "ERR" => "ERR",
                _ => "ROLLBACK",
            })
            .or_default() += 1;
    }
    eprintln!("{tally:?}");
    // Truncations and most overwrites of pages in use must have been noticed.
    assert!(tally.get("ERR").copied().unwrap_or(0) >= 4, "{tally:?}");
}

#[test]
#[ignore = "child process of a_forked_child_is_refused"]
fn fork_child() {
    let Some(dir) = std::env::var_os("AOF_CATALOG_DIR") else {
        return;
    };
    let c = Catalog::open(Path::new(&dir)).unwrap();
    c.create_log("parent", new_log(4096)).unwrap();
    // SAFETY: fork in a process whose only other thread is libmdbx's writer thread, idle
    // between transactions; the child only calls the catalogue (which checks the pid
    // before anything else), drops it and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let read = c.log("parent");
        let write = c.create_log("child", new_log(4096));
        let ok = matches!(&read, Err(Error::Catalog { detail, .. }) if detail.contains("forked child"))
            && matches!(&write, Err(Error::Catalog { detail, .. }) if detail.contains("forked child"));
        // Dropping it in the child must not touch the parent's environment.
        drop(c);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // The parent's catalogue is unharmed and usable.
    let parent_ok = c.log("parent").unwrap().is_some()
        && c.create_log("after", new_log(4096)).is_ok()
        && c.log("child").unwrap().is_none();
    println!("RESULT {child_ok} {parent_ok}");
}

#[test]
fn a_forked_child_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (result, status) = run_child("fork_child", &[("AOF_CATALOG_DIR", dir.path())]);
    assert!(status.success(), "{status:?}");
    assert_eq!(result, "true true");
    let c = Catalog::open(dir.path()).unwrap();
    let names: Vec<String> = c.list_logs().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["after", "parent"]);
}

#[test]
fn errors_name_the_file_and_map_to_their_status() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(FILE_NAME), vec![1u8; 100_000]).unwrap();
    let err = Catalog::open(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("catalogue "), "{text}");
    assert!(text.contains(&dir.path().join(FILE_NAME).display().to_string()));
    assert!(matches!(err, Error::Catalog { .. }));
}
