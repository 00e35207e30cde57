//! A crash during a drop never leaves half a log. A child process (this test binary, re-run)
//! opens the manager and drops a closed log of ~300 segments; the parent kills it with
//! SIGKILL at a random moment: while it starts and finishes earlier drops at open, or at
//! a random point of the drop itself (the delays spread over the drop's measured length).
//! After each kill the log is either whole under its name (every record, verified) or
//! gone; a neighbouring log is untouched; and once a manager has opened the root, the
//! log is absent from `list_logs` and no remains are left. On some iterations the parent
//! leaves the remains for the next child's `Manager::open` to finish, so kills land there
//! too.
//!
//! `AOF_MGR_CRASH_ITERATIONS` sets the number of kills (default 30).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Manager, ManagerOptions, Options};

mod common;
use common::{payload, Rng};

const VICTIM: &str = "victim";
const BYSTANDER: &str = "bystander";
/// Records of the victim: 4 KiB segments hold 16 of them, so about 300 segments.
const RECORDS: u64 = 4800;

fn options() -> Options {
    Options {
        segment_size: 4096,
        flush: FlushPolicy::Async,
        zero_ahead: 0,
        ..Options::default()
    }
}

fn rec(seed: u64, id: u64) -> Vec<u8> {
    payload(seed << 32 | id, 200)
}

/// The child: open the manager, drop the victim, report how long the drop took.
#[test]
#[ignore = "child process of kill_9_during_drop; killed by its parent"]
fn drop_child() {
    let Ok(root) = std::env::var("AOF_MGR_CRASH_ROOT") else {
        return;
    };
    let m = Manager::open(&root, ManagerOptions::default()).unwrap();
    println!("DROPPING");
    let t0 = Instant::now();
    m.drop_log(VICTIM).unwrap();
    println!("DROPPED {}", t0.elapsed().as_micros());
    m.close().unwrap();
}

/// Writes log `name` afresh through a log opened directly (no manager: remains of an
/// interrupted drop stay where they are).
fn fill(root: &Path, name: &str, seed: u64) {
    let log = Log::open(root.join(name), options()).unwrap();
    assert_eq!(log.last_id(), 0);
    for id in 1..=RECORDS {
        assert_eq!(log.append(&rec(seed, id)).unwrap(), id);
    }
    log.close().unwrap();
}

/// The log `name` is whole: every record of `fill`, byte for byte, and `verify` passes.
fn check_whole(root: &Path, name: &str, seed: u64) {
    let log = Log::open(root.join(name), options()).unwrap();
    assert_eq!(log.last_id(), RECORDS, "{name} lost records");
    for id in 1..=RECORDS {
        assert_eq!(log.read(id).unwrap(), rec(seed, id), "{name} record {id}");
    }
    assert_eq!(log.verify().unwrap().records, RECORDS);
    log.close().unwrap();
}

fn remains(root: &Path) -> bool {
    root.join(format!(".dropping.{VICTIM}")).exists()
}

/// Runs the child; kills it `delay` after it says it is dropping (or after `early`
/// without waiting for it). Returns the drop's length in µs if it finished.
fn run_child(root: &Path, delay: Option<Duration>, early: Option<Duration>) -> Option<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "drop_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("AOF_MGR_CRASH_ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.contains("DROPPING") {
                let _ = tx.send(None);
            } else if let Some(at) = line.find("DROPPED ") {
                let _ = tx.send(Some(line[at + 8..].trim().parse::<u64>().unwrap()));
            }
        }
    });
    let mut took = None;
    match (delay, early) {
        (_, Some(early)) => std::thread::sleep(early),
        (Some(delay), None) => {
            let said = rx.recv_timeout(Duration::from_secs(60));
            assert!(matches!(said, Ok(None)), "the child never started the drop");
            std::thread::sleep(delay);
        }
        (None, None) => {
            let said = rx.recv_timeout(Duration::from_secs(60));
            assert!(matches!(said, Ok(None)), "the child never started the drop");
            took = rx.recv_timeout(Duration::from_secs(60)).unwrap();
            assert!(child.wait().unwrap().success());
        }
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    took
}

#[test]
fn kill_9_during_drop() {
    let iterations: u64 = std::env::var("AOF_MGR_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    drop(Manager::open(root, ManagerOptions::default()).unwrap());
    fill(root, BYSTANDER, 1);
    fill(root, VICTIM, 2);

    // One drop to the end: how long it takes here.
    let full = run_child(root, None, None).expect("the drop finished");
    assert!(!root.join(VICTIM).exists() && !remains(root));
    let span = full.max(200) * 3 / 2;

    let mut rng = Rng(0x5eed_d20b);
    let (mut kept, mut mid_drop, mut done, mut left_for_child) = (0, 0, 0, 0);
    for it in 0..iterations {
        if !root.join(VICTIM).exists() {
            fill(root, VICTIM, 2);
        }
        let early = (it % 5 == 4).then(|| Duration::from_micros(rng.below(30_000)));
        let delay = Duration::from_micros(rng.below(span));
        run_child(root, Some(delay), early);

        // Whole under its name, or gone from it; the neighbour untouched.
        let present = root.join(VICTIM).exists();
        if present {
            check_whole(root, VICTIM, 2);
            kept += 1;
        } else if remains(root) {
            mid_drop += 1;
        } else {
            done += 1;
        }
        check_whole(root, BYSTANDER, 1);

        if it % 3 == 2 && remains(root) {
            // Leave them: the next child's Manager::open finishes them (or is killed
            // while it does).
            left_for_child += 1;
            continue;
        }
        let m = Manager::open(root, ManagerOptions::default()).unwrap();
        let listed = m.list_logs().unwrap();
        let mut want = vec![BYSTANDER.to_string()];
        if present {
            want.push(VICTIM.into());
        }
        want.sort();
        assert_eq!(listed, want);
        assert!(!remains(root), "Manager::open left the remains of a drop");
        m.close().unwrap();
    }
    println!(
        "manager crash loop: {iterations} kills (drop takes ~{full} µs here): log kept {kept}, \
         killed mid-drop {mid_drop} (remains left for the next child {left_for_child}), \
         drop completed {done}; half logs 0"
    );
}
