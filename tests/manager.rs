//! The manager of many logs: open, list, drop and close; bad names of every kind; what a
//! drop refuses (open logs, missing logs); one manager per root; logs of one manager see
//! nothing of each other; close closes the logs still open; a drop that a crash
//! interrupted is finished at the next open.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use aof::{Error, FlushPolicy, Log, Manager, ManagerOptions, Options, StartAt};

mod common;
use common::{payload, small_opts};

fn opts() -> Options {
    Options {
        zero_ahead: 0,
        ..small_opts()
    }
}

/// The entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Appends `n` records to `log`, keyed by `seed` so each log's records differ.
fn fill(log: &Log, seed: u64, n: u64) {
    for i in 0..n {
        let id = log.append(&payload(seed * 1_000_000 + i, 100)).unwrap();
        assert_eq!(id, i + 1);
    }
}

/// Checks that `log` holds exactly the `n` records `fill(log, seed, n)` appended.
fn check(log: &Log, seed: u64, n: u64) {
    assert_eq!(log.last_id(), n);
    let mut cursor = log.cursor(StartAt::Oldest).unwrap();
    let mut seen = 0;
    while let Some(r) = cursor.next().unwrap() {
        assert_eq!(r.data, &payload(seed * 1_000_000 + seen, 100)[..]);
        seen += 1;
    }
    assert_eq!(seen, n);
}

#[test]
fn open_list_drop_close_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let m = Manager::open(&root, ManagerOptions::default()).unwrap();
    assert_eq!(m.root(), root);
    assert!(m.list_logs().unwrap().is_empty());
    let names = ["orders-3", "orders-1", "payments"];
    let logs: Vec<Log> = names
        .iter()
        .map(|n| m.open_log(n, opts()).unwrap())
        .collect();
    for (seed, log) in logs.iter().enumerate() {
        fill(log, seed as u64, 50 + seed as u64 * 10);
        assert_eq!(log.path(), root.join(names[seed]));
    }
    // Sorted, open logs included.
    assert_eq!(m.list_logs().unwrap(), ["orders-1", "orders-3", "payments"]);
    // Each log holds its own records and nothing of the others'.
    for (seed, log) in logs.iter().enumerate() {
        check(log, seed as u64, 50 + seed as u64 * 10);
    }

    // An open log cannot be dropped.
    let err = m.drop_log("orders-1").unwrap_err();
    assert!(
        matches!(err, Error::Busy(ref p) if p == &root.join("orders-1")),
        "{err}"
    );
    check(&logs[1], 1, 60);
    logs[1].close().unwrap();
    m.drop_log("orders-1").unwrap();
    assert_eq!(m.list_logs().unwrap(), ["orders-3", "payments"]);
    assert!(!root.join("orders-1").exists());
    assert_eq!(
        entries(&root),
        [
            ".catalog.mdbx",
            ".catalog.mdbx-lck",
            ".manager.lock",
            "orders-3",
            "payments"
        ],
        "no remains of the drop"
    );
    let err = m.drop_log("orders-1").unwrap_err();
    assert!(
        matches!(err, Error::NoSuchLog { ref name, .. } if name == "orders-1"),
        "{err}"
    );
    assert!(err.to_string().contains("no log named \"orders-1\""));
    // The name can be used again: a new, empty log.
    let again = m.open_log("orders-1", opts()).unwrap();
    assert_eq!(again.last_id(), 0);
    fill(&again, 7, 5);
    drop(again);

    for log in &logs {
        log.close().unwrap();
    }
    m.close().unwrap();
    m.close().unwrap(); // a no-op
    drop(m);

    let m = Manager::open(&root, ManagerOptions::default()).unwrap();
    assert_eq!(m.list_logs().unwrap(), ["orders-1", "orders-3", "payments"]);
    for (name, seed, n) in [("orders-3", 0, 50), ("payments", 2, 70), ("orders-1", 7, 5)] {
        let log = m.open_log(name, opts()).unwrap();
        assert!(log.recovery().clean_shutdown, "{name}");
        check(&log, seed, n);
    }
    m.close().unwrap();
}

#[test]
fn bad_names_of_every_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    let long = "x".repeat(201);
    let bad = [
        "",
        ".",
        "..",
        ".hidden",
        ".manager.lock",
        ".catalog.mdbx",
        ".dropping.x",
        "a/b",
        "/abs",
        "../escape",
        "a\0b",
        "tab\there",
        "new\nline",
        long.as_str(),
    ];
    for name in bad {
        let err = m.open_log(name, opts()).err().unwrap();
        assert!(
            matches!(&err, Error::InvalidArgument(msg) if msg.contains("log name")),
            "open_log({name:?}): {err}"
        );
        let err = m.drop_log(name).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "drop_log({name:?}): {err}"
        );
    }
    // Nothing was created anywhere, not even outside the root.
    assert_eq!(
        entries(tmp.path()),
        [".catalog.mdbx", ".catalog.mdbx-lck", ".manager.lock"]
    );
    // The longest name and unusual but valid ones work.
    for name in [
        "x".repeat(200).as_str(),
        "a.b",
        "été-1",
        "with space",
        "a..b",
    ] {
        m.open_log(name, opts()).unwrap().close().unwrap();
    }
    assert_eq!(m.list_logs().unwrap().len(), 5);
    assert!(aof::validate_log_name("ok-name").is_ok());
    assert_eq!(aof::MAX_LOG_NAME_LEN, 200);
}

#[test]
fn one_manager_per_root_and_one_handle_per_log() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    let err = Manager::open(tmp.path(), ManagerOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Busy(_)), "{err}");

    let log = m.open_log("a", opts()).unwrap();
    assert!(matches!(m.open_log("a", opts()), Err(Error::Busy(_))));
    // Nor directly, bypassing the manager.
    assert!(matches!(
        Log::open(tmp.path().join("a"), opts()),
        Err(Error::Busy(_))
    ));
    log.close().unwrap();
    // Once closed, it opens again.
    let log = m.open_log("a", opts()).unwrap();
    drop(log);

    // A log held open outside the manager cannot be dropped either.
    let outside = Log::open(tmp.path().join("b"), opts()).unwrap();
    assert_eq!(m.list_logs().unwrap(), ["a", "b"]);
    assert!(matches!(m.drop_log("b"), Err(Error::Busy(_))));
    outside.close().unwrap();
    m.drop_log("b").unwrap();

    m.close().unwrap();
    let m2 = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    assert_eq!(m2.list_logs().unwrap(), ["a"]);
}

#[test]
fn bad_roots_and_options() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        Manager::open(&file, ManagerOptions::default()),
        Err(Error::Io { .. })
    ));
    // Only the root itself is created, never its parents.
    assert!(matches!(
        Manager::open(tmp.path().join("no/such"), ManagerOptions::default()),
        Err(Error::Io { .. })
    ));
    assert!(!tmp.path().join("no").exists());
    assert!(matches!(
        Manager::open("", ManagerOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    for (w, b) in [(0, 8), (2, 0), (1025, 8), (2, 1025)] {
        let o = ManagerOptions {
            worker_threads: w,
            max_blocking_threads: b,
            ..ManagerOptions::default()
        };
        assert!(matches!(
            Manager::open(tmp.path().join("r"), o),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(!tmp.path().join("r").exists());
    // Options of a log are checked before anything is created.
    let m = Manager::open(tmp.path().join("r"), ManagerOptions::default()).unwrap();
    let bad = Options {
        segment_size: 100,
        ..opts()
    };
    assert!(matches!(
        m.open_log("x", bad),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!tmp.path().join("r/x").exists());
}

#[test]
fn close_closes_the_logs_still_open() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    let policies = [
        FlushPolicy::Sync,
        FlushPolicy::Async,
        FlushPolicy::Batched { records: 1000 },
    ];
    let logs: Vec<Log> = policies
        .iter()
        .enumerate()
        .map(|(i, &flush)| {
            let log = m
                .open_log(&format!("log-{i}"), Options { flush, ..opts() })
                .unwrap();
            fill(&log, i as u64, 30);
            log
        })
        .collect();
    let closed_by_hand = m.open_log("closed", opts()).unwrap();
    closed_by_hand.close().unwrap();
    m.close().unwrap();
    for log in &logs {
        assert!(matches!(log.append(b"late"), Err(Error::Closed)));
        assert!(matches!(log.flush(), Err(Error::Closed)));
        log.close().unwrap(); // already closed: a no-op
    }
    assert!(matches!(m.open_log("new", opts()), Err(Error::Closed)));
    assert!(matches!(m.list_logs(), Err(Error::Closed)));
    assert!(matches!(m.drop_log("log-0"), Err(Error::Closed)));
    assert!(!tmp.path().join("new").exists());
    drop(m);
    drop(logs);

    // Closed cleanly, with everything appended (the background policies too).
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    for i in 0..policies.len() {
        let log = m.open_log(&format!("log-{i}"), opts()).unwrap();
        assert!(log.recovery().clean_shutdown);
        check(&log, i as u64, 30);
    }
    // Dropping a manager closes it (and its logs).
    let kept = m.open_log("closed", opts()).unwrap();
    drop(m);
    assert!(matches!(kept.append(b"x"), Err(Error::Closed)));
    drop(Manager::open(tmp.path(), ManagerOptions::default()).unwrap());
}

#[test]
fn list_shows_log_directories_only_and_drop_removes_strays() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Manager::open(tmp.path(), ManagerOptions::default()).unwrap();
    m.open_log("real", opts()).unwrap().close().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), b"x").unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    std::fs::create_dir(tmp.path().join(".hidden")).unwrap();
    assert_eq!(m.list_logs().unwrap(), ["real"]);
    // A directory that never became a log (no LOCK) can still be dropped by name.
    m.drop_log("empty").unwrap();
    assert!(!tmp.path().join("empty").exists());
    // A file is not a log.
    assert!(matches!(
        m.drop_log("notes.txt"),
        Err(Error::NoSuchLog { .. })
    ));
    assert!(tmp.path().join("notes.txt").exists());
    assert!(tmp.path().join(".hidden").exists());
}

#[test]
fn an_interrupted_drop_is_finished_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let m = Manager::open(root, ManagerOptions::default()).unwrap();
    for name in ["victim", "bystander", "half"] {
        let async_opts = Options {
            flush: FlushPolicy::Async,
            ..opts()
        };
        let log = m.open_log(name, async_opts).unwrap();
        fill(&log, 3, 2000); // several segments
        log.close().unwrap();
    }
    m.close().unwrap();
    drop(m);
    // What a crash leaves: after the rename (nothing removed yet), and halfway through the
    // removal of the files.
    std::fs::rename(root.join("victim"), root.join(".dropping.victim")).unwrap();
    std::fs::rename(root.join("half"), root.join(".dropping.half")).unwrap();
    let mut segs: Vec<_> = std::fs::read_dir(root.join(".dropping.half"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert!(segs.len() > 4);
    for p in &segs[..segs.len() / 2] {
        std::fs::remove_file(p).unwrap();
    }

    let m = Manager::open(root, ManagerOptions::default()).unwrap();
    assert_eq!(m.list_logs().unwrap(), ["bystander"]);
    assert_eq!(
        entries(root),
        [
            ".catalog.mdbx",
            ".catalog.mdbx-lck",
            ".manager.lock",
            "bystander"
        ]
    );
    check(&m.open_log("bystander", opts()).unwrap(), 3, 2000);
    assert!(matches!(m.drop_log("victim"), Err(Error::NoSuchLog { .. })));
    // A name whose remains are still there (a drop that failed after the rename) can be
    // dropped again once recreated.
    m.open_log("again", opts()).unwrap().close().unwrap();
    std::fs::create_dir(root.join(".dropping.again")).unwrap();
    std::fs::write(root.join(".dropping.again/junk"), b"x").unwrap();
    m.drop_log("again").unwrap();
    assert_eq!(
        entries(root),
        [
            ".catalog.mdbx",
            ".catalog.mdbx-lck",
            ".manager.lock",
            "bystander"
        ]
    );
}

#[test]
fn threads_open_and_drop_concurrently() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Arc::new(
        Manager::open(
            tmp.path(),
            ManagerOptions {
                worker_threads: 2,
                max_blocking_threads: 4,
                ..ManagerOptions::default()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..20u64 {
                    let name = format!("t{t}-{i}");
                    let log = m.open_log(&name, opts()).unwrap();
                    fill(&log, t * 100 + i, 5);
                    // Every thread also races for one shared name: exactly one holds it
                    // at a time, the others get Busy.
                    match m.open_log("shared", opts()) {
                        Ok(shared) => shared.append(b"s").map(|_| ()).unwrap(),
                        Err(Error::Busy(_)) => {}
                        Err(e) => panic!("shared: {e}"),
                    }
                    log.close().unwrap();
                    if i % 2 == 0 {
                        m.drop_log(&name).unwrap();
                    }
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let listed = m.list_logs().unwrap();
        assert!(listed.iter().all(|n| n == "shared" || n.starts_with('t')));
    }
    for t in threads {
        t.join().unwrap();
    }
    let listed: BTreeSet<String> = m.list_logs().unwrap().into_iter().collect();
    let mut want: BTreeSet<String> = (0..6)
        .flat_map(|t| (1..20).step_by(2).map(move |i| format!("t{t}-{i}")))
        .collect();
    want.insert("shared".into());
    assert_eq!(listed, want);
    for name in &listed {
        if name != "shared" {
            let (t, i) = name[1..].split_once('-').unwrap();
            let seed = t.parse::<u64>().unwrap() * 100 + i.parse::<u64>().unwrap();
            check(&m.open_log(name, opts()).unwrap(), seed, 5);
        }
    }
    m.close().unwrap();
}
