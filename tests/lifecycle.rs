//! Open, lock and close: open creates the log directory but never a missing parent; a
//! second open of a locked directory is `Busy`; after close it
//! works; a closed log (and a cursor opened before the close) returns `Closed`; bad options
//! are `InvalidArgument` from open.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use aof::ffi::log::aof_open;
use aof::ffi::status::AOF_ERR_IO;
use aof::{Cursor, Error, FlushPolicy, Log, Options, StartAt};
use common::*;

#[test]
fn log_and_cursor_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Log>();
    send::<Cursor>();
    send_sync::<Error>();
}

/// `open` creates the log directory itself, never a missing parent: through the Rust API
/// (`Error::Io`) and the C API (`AOF_ERR_IO`), and nothing is left behind.
#[test]
fn open_creates_the_log_directory_but_never_its_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let nested = tmp.path().join("missing-parent").join("log");
    let e = Log::open(&nested, small_opts())
        .err()
        .expect("open under a missing parent must fail");
    match &e {
        Error::Io { source, path, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{e}");
            assert_eq!(path, &nested);
        }
        other => panic!("expected Io, got {other:?}"),
    }

    let c_path = CString::new(nested.into_os_string().into_vec()).unwrap();
    let mut handle = std::ptr::null_mut();
    // SAFETY: a C string, NULL options, a writable out-param.
    let status = unsafe { aof_open(c_path.as_ptr(), std::ptr::null(), &mut handle) };
    assert_eq!(status, AOF_ERR_IO);
    assert!(handle.is_null());
    assert!(entries().is_empty(), "created {:?}", entries());

    // The directory itself is created.
    let log = Log::open(tmp.path().join("log"), small_opts()).unwrap();
    assert!(tmp.path().join("log").is_dir());
    assert_eq!(log.append(b"x").unwrap(), 1);
    log.close().unwrap();
    assert_eq!(entries(), ["log"]);
}

#[test]
fn second_open_is_busy_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let a = Log::open(dir.path(), small_opts()).unwrap();
    a.append(&payload(1, 10)).unwrap();
    let e = Log::open(dir.path(), small_opts())
        .err()
        .expect("second open must fail");
    assert!(matches!(e, Error::Busy(_)), "expected Busy, got {e:?}");
    assert!(!a.is_poisoned());
    a.close().unwrap();
    // Closed but not dropped: the lock is released.
    let b = Log::open(dir.path(), small_opts()).unwrap();
    assert_eq!(b.last_id(), 1);
    assert!(matches!(
        Log::open(dir.path(), small_opts()),
        Err(Error::Busy(_))
    ));
    // Dropping the closed handle must not disturb the new one.
    drop(a);
    assert!(matches!(
        Log::open(dir.path(), small_opts()),
        Err(Error::Busy(_))
    ));
    assert_eq!(b.append(&payload(2, 10)).unwrap(), 2);
    drop(b);
    let c = Log::open(dir.path(), small_opts()).unwrap();
    assert!(c.recovery().clean_shutdown);
    assert_holds_exactly("after busy", &c, 2, &|_| 10);
}

#[test]
fn drop_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let a = Log::open(dir.path(), small_opts()).unwrap();
    a.append(&payload(1, 10)).unwrap();
    let mut cur = a.cursor(StartAt::Oldest).unwrap();
    drop(a);
    // Drop closes, even while a cursor keeps the engine alive.
    let b = Log::open(dir.path(), small_opts()).unwrap();
    assert!(b.recovery().clean_shutdown, "drop closes cleanly");
    assert!(matches!(cur.next(), Err(Error::Closed)));
    assert_eq!(b.last_id(), 1);
}

#[test]
fn closed_log_returns_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    for id in 1..=3 {
        log.append(&payload(id, 10)).unwrap();
    }
    let mut before = log.cursor(StartAt::Oldest).unwrap();
    assert_eq!(before.next().unwrap().unwrap().id, 1);
    log.close().unwrap();
    log.close().unwrap(); // idempotent
    assert!(matches!(log.append(b"x"), Err(Error::Closed)));
    assert!(matches!(log.append_batch(&[b"x"]), Err(Error::Closed)));
    assert!(matches!(log.read(1), Err(Error::Closed)));
    assert!(matches!(log.read_with(1, |_| ()), Err(Error::Closed)));
    assert!(matches!(log.cursor(StartAt::Oldest), Err(Error::Closed)));
    assert!(matches!(log.cursor(StartAt::End), Err(Error::Closed)));
    let r = before.next();
    assert!(
        matches!(r, Err(Error::Closed)),
        "a cursor opened before close: next() must be Closed, got {:?}",
        r.map(|o| o.map(|r| r.id))
    );
    assert!(matches!(
        before.wait(Some(Duration::from_millis(10))),
        Err(Error::Closed)
    ));
    // Counters stay readable.
    assert_eq!(log.last_id(), 3);
    assert_eq!(log.metrics().appends, 3);
}

#[test]
fn close_wakes_a_waiting_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let mut c = log.cursor(StartAt::End).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(c.wait(None).map_err(|e| e.to_string()));
    });
    std::thread::sleep(Duration::from_millis(50));
    log.close().unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("cursor.wait(None) was not woken by close within 5 s");
    assert_eq!(r, Err(Error::Closed.to_string()));
}

#[test]
fn bad_options_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        Options {
            segment_size: 0,
            ..small_opts()
        },
        Options {
            segment_size: 100,
            ..small_opts()
        },
        Options {
            segment_size: 4095,
            ..small_opts()
        },
        Options {
            segment_size: u64::MAX,
            ..small_opts()
        },
        Options {
            segment_size: 1 << 40,
            ..small_opts()
        },
        Options {
            max_record_size: Some(SMALL_SEGMENT),
            ..small_opts()
        },
        Options {
            max_record_size: Some(u64::MAX),
            ..small_opts()
        },
        Options {
            segment_size: 1 << 20,
            max_record_size: Some(1 << 20),
            ..Options::default()
        },
        Options {
            preallocate_at_percent: 101,
            ..small_opts()
        },
        Options {
            flush: FlushPolicy::Batched { records: 0 },
            ..small_opts()
        },
        Options {
            flush: FlushPolicy::Periodic {
                interval: Duration::ZERO,
            },
            ..small_opts()
        },
        Options {
            flush: FlushPolicy::BatchedOrPeriodic {
                records: 0,
                interval: Duration::from_millis(5),
            },
            ..small_opts()
        },
        Options {
            flush: FlushPolicy::BatchedOrPeriodic {
                records: 5,
                interval: Duration::ZERO,
            },
            ..small_opts()
        },
    ];
    for o in bad {
        let r = Log::open(dir.path(), o.clone());
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "{o:?} must be InvalidArgument, got {:?}",
            r.err()
        );
    }
    // A failed open leaves nothing locked.
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_eq!(log.last_id(), 0);
    // Boundaries that are valid.
    drop(log);
    for o in [
        Options {
            segment_size: 4096,
            max_record_size: Some(4096 - 160),
            ..small_opts()
        },
        Options {
            segment_size: 4096,
            max_record_size: None,
            ..small_opts()
        },
        Options {
            preallocate_at_percent: 0,
            ..small_opts()
        },
        Options {
            preallocate_at_percent: 100,
            ..small_opts()
        },
    ] {
        let d = tempfile::tempdir().unwrap();
        let log = Log::open(d.path(), o.clone()).unwrap_or_else(|e| panic!("{o:?}: {e}"));
        assert_eq!(
            log.append(&vec![9u8; o.record_limit() as usize]).unwrap(),
            1
        );
        assert_eq!(log.append(b"").unwrap(), 2);
    }
}

/// With no maximum record size set, a small segment opens, and the limit derived from it
/// (segment size - 160) is exact: a record of the limit is accepted and fills a segment,
/// one byte more is `RecordTooLarge` and writes nothing. An explicit maximum that does not
/// fit is still an error, and the message states the rule.
#[test]
fn small_segments_derive_the_record_limit() {
    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        segment_size: MIB,
        ..Options::default()
    };
    assert_eq!(o.max_record_size, None);
    let limit = o.record_limit();
    assert_eq!(limit, MIB - 160);
    let log = Log::open(dir.path(), o.clone()).unwrap();
    assert_eq!(log.append(&payload(1, limit as usize)).unwrap(), 1);
    let e = log
        .append(&payload(2, limit as usize + 1))
        .expect_err("one byte over the limit");
    assert!(
        matches!(e, Error::RecordTooLarge { len, max } if len == limit + 1 && max == limit),
        "{e:?}"
    );
    let e = log
        .append_batch(&[payload(2, 10), payload(3, limit as usize + 1)])
        .expect_err("a batch with one record over the limit");
    assert!(matches!(e, Error::RecordTooLarge { .. }), "{e:?}");
    assert_eq!(log.last_id(), 1);
    // The record of the limit filled its segment: the next one rolls.
    assert_eq!(log.append(&payload(2, limit as usize)).unwrap(), 2);
    assert_eq!(log.append(b"small").unwrap(), 3);
    assert!(log.metrics().segments_sealed >= 2);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), o).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.verify().unwrap().records, 3);
    assert_eq!(log.read(2).unwrap(), payload(2, limit as usize));
    drop(log);

    // An odd segment size: records are 8-byte aligned, so the limit rounds down.
    let odd = tempfile::tempdir().unwrap();
    let o = Options {
        segment_size: 4100,
        ..Options::default()
    };
    assert_eq!(o.record_limit(), 4096 - 160);
    let log = Log::open(odd.path(), o.clone()).unwrap();
    for id in 1..=3 {
        assert_eq!(log.append(&payload(id, 4096 - 160)).unwrap(), id);
    }
    assert!(matches!(
        log.append(&payload(4, 4096 - 159)),
        Err(Error::RecordTooLarge { .. })
    ));
    log.close().unwrap();
    drop(log);
    let log = Log::open(odd.path(), o).unwrap();
    assert_eq!(log.verify().unwrap().records, 3);
    drop(log);

    // Set explicitly: checked against the same rule, which the error names.
    for (segment_size, max) in [(MIB, MIB - 159), (MIB, MIB), (MIB, 16 << 20), (4100, 3940)] {
        let o = Options {
            segment_size,
            max_record_size: Some(max),
            ..Options::default()
        };
        match Log::open(dir.path(), o) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains("at most segment_size - 160"), "{m}");
                assert!(m.contains(&format!("max_record_size {max} ")), "{m}");
            }
            other => panic!("{segment_size}/{max}: {:?}", other.map(|_| ())),
        }
    }
    let o = Options {
        segment_size: MIB,
        max_record_size: Some(MIB - 160),
        ..Options::default()
    };
    Log::open(dir.path(), o).unwrap();
}
