//! Fault injection in every step of a drop (`--features failpoints`): a failure before the
//! rename leaves the log whole under its name; a failure (or a crash: the process stops at
//! the failpoint, which is what the disk then shows) at any step after it leaves the log
//! gone under its name, and the remains are removed by the next `Manager::open` or the
//! next drop of the name. A failure while `Manager::open` finishes a drop fails the open,
//! and the next open finishes it.
#![cfg(feature = "failpoints")]

use std::path::Path;

use aof::{Error, FlushPolicy, Manager, ManagerOptions, Options};
use fail::FailScenario;

const RECORDS: u64 = 300;

fn options() -> Options {
    Options {
        segment_size: 4096,
        flush: FlushPolicy::Async,
        zero_ahead: 0,
        ..Options::default()
    }
}

fn rec(id: u64) -> Vec<u8> {
    format!("record {id} {}", "x".repeat(150)).into_bytes()
}

/// A manager on `root` with two closed logs of ~20 segments each.
fn setup(root: &Path) -> Manager {
    let m = Manager::open(root, ManagerOptions::default()).unwrap();
    for name in ["victim", "bystander"] {
        let log = m.open_log(name, options()).unwrap();
        for id in 1..=RECORDS {
            assert_eq!(log.append(&rec(id)).unwrap(), id);
        }
        log.close().unwrap();
    }
    m
}

fn check_whole(m: &Manager, name: &str) {
    let log = m.open_log(name, options()).unwrap();
    assert_eq!(log.last_id(), RECORDS, "{name}");
    for id in 1..=RECORDS {
        assert_eq!(log.read(id).unwrap(), rec(id), "{name} record {id}");
    }
    log.verify().unwrap();
    log.close().unwrap();
}

fn entries(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_rename_leaves_the_log_whole() {
    let scenario = FailScenario::setup();
    let tmp = tempfile::tempdir().unwrap();
    let m = setup(tmp.path());
    fail::cfg("fsio::rename", "return(eio)").unwrap();
    let err = m.drop_log("victim").unwrap_err();
    fail::remove("fsio::rename");
    assert!(matches!(err, Error::Io { op: "rename", .. }), "{err}");
    assert_eq!(m.list_logs().unwrap(), ["bystander", "victim"]);
    check_whole(&m, "victim");
    // Nothing to finish at the next open either.
    m.close().unwrap();
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    check_whole(&m, "victim");
    m.drop_log("victim").unwrap();
    assert_eq!(m.list_logs().unwrap(), ["bystander"]);
    scenario.teardown();
}

#[test]
fn every_step_after_the_rename_leaves_the_log_gone() {
    // The fsync of the root after the rename; the first removal of a file; a stop between
    // the rename and the removals.
    let steps = [
        ("fsio::fsync_dir", "1*return(eio)"),
        ("manager::drop::renamed", "return"),
        ("manager::drop::removing", "return"),
    ];
    for (point, action) in steps {
        let scenario = FailScenario::setup();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let m = setup(root);
        fail::cfg(point, action).unwrap();
        let err = m.drop_log("victim").unwrap_err();
        fail::remove(point);
        assert!(
            matches!(err, Error::Io { .. } | Error::Internal(_)),
            "{point}: {err}"
        );
        // Gone under its name at once, the remains under the reserved name.
        assert_eq!(m.list_logs().unwrap(), ["bystander"], "{point}");
        assert!(!root.join("victim").exists(), "{point}");
        assert!(root.join(".dropping.victim").exists(), "{point}");
        assert!(matches!(m.drop_log("victim"), Err(Error::NoSuchLog { .. })));
        // As after a crash: the next manager finishes the drop.
        m.close().unwrap();
        drop(m);
        let m = Manager::open(root, ManagerOptions::default()).unwrap();
        assert_eq!(
            entries(root),
            [
                ".catalog.mdbx",
                ".catalog.mdbx-lck",
                ".manager.lock",
                "bystander"
            ],
            "{point}"
        );
        assert_eq!(m.list_logs().unwrap(), ["bystander"]);
        check_whole(&m, "bystander");
        m.close().unwrap();
        scenario.teardown();
    }
}

#[test]
fn a_new_log_of_a_dropped_name_is_dropped_despite_remains() {
    let scenario = FailScenario::setup();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let m = setup(root);
    fail::cfg("manager::drop::removing", "return").unwrap();
    assert!(m.drop_log("victim").is_err());
    fail::remove("manager::drop::removing");
    // The name is free at once: a new log, then dropped too (the remains go first).
    let log = m.open_log("victim", options()).unwrap();
    assert_eq!(log.last_id(), 0);
    log.append(b"new").unwrap();
    log.close().unwrap();
    m.drop_log("victim").unwrap();
    assert_eq!(
        entries(root),
        [
            ".catalog.mdbx",
            ".catalog.mdbx-lck",
            ".manager.lock",
            "bystander"
        ]
    );
    scenario.teardown();
}

#[test]
fn a_failure_while_open_finishes_a_drop_fails_the_open_and_the_next_open_finishes() {
    let scenario = FailScenario::setup();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let m = setup(root);
    fail::cfg("manager::drop::renamed", "return").unwrap();
    assert!(m.drop_log("victim").is_err());
    fail::remove("manager::drop::renamed");
    m.close().unwrap();
    drop(m);
    for point in ["manager::drop::removing", "fsio::fsync_dir"] {
        fail::cfg(point, "return").unwrap();
        let err = Manager::open(root, ManagerOptions::default())
            .err()
            .unwrap();
        fail::remove(point);
        assert!(
            matches!(err, Error::Io { .. } | Error::Internal(_)),
            "{point}: {err}"
        );
        assert!(!root.join("victim").exists());
    }
    // The failed opens released the root.
    let m = Manager::open(root, ManagerOptions::default()).unwrap();
    assert_eq!(
        entries(root),
        [
            ".catalog.mdbx",
            ".catalog.mdbx-lck",
            ".manager.lock",
            "bystander"
        ]
    );
    check_whole(&m, "bystander");
    scenario.teardown();
}
