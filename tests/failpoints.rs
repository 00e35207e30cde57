//! Fault injection in every file-system step (`--features failpoints`): each failure comes
//! back as a clear error, a failed sync poisons the log, nothing that was never durable is
//! read afterwards, and a reopen recovers a consistent prefix.
#![cfg(feature = "failpoints")]

use std::time::Duration;

use aof::{Error, FlushPolicy, Log, Options};
use fail::FailScenario;

fn options(flush: FlushPolicy) -> Options {
    Options {
        segment_size: 8192,
        max_record_size: Some(2048),
        flush,
        preallocate_at_percent: 0,
        ..Options::default()
    }
}

fn payload(id: u64) -> Vec<u8> {
    format!("payload of record {id}").into_bytes()
}

fn append_n(log: &Log, n: u64) {
    for _ in 0..n {
        let id = log.last_id() + 1;
        assert_eq!(log.append(&payload(id)).unwrap(), id);
    }
}

fn reopen_and_check_prefix(dir: &std::path::Path, at_least: u64, at_most: u64) -> Log {
    let log = Log::open(dir, options(FlushPolicy::Sync)).unwrap();
    let last = log.last_id();
    assert!(
        (at_least..=at_most).contains(&last),
        "last id {last} not in {at_least}..={at_most}"
    );
    for id in 1..=last {
        assert_eq!(log.read(id).unwrap(), payload(id), "record {id}");
    }
    assert_eq!(log.append(&payload(last + 1)).unwrap(), last + 1);
    log.verify().unwrap();
    log
}

#[test]
fn failed_fdatasync_poisons_and_hides_undurable_records() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
    append_n(&log, 3);
    fail::cfg("fsio::fdatasync", "return(eio)").unwrap();
    let err = log.append(&payload(4)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    fail::remove("fsio::fdatasync");
    assert!(log.is_poisoned());
    assert_eq!(log.durable_id(), 3);
    assert!(matches!(log.append(b"x"), Err(Error::Poisoned(_))));
    assert!(matches!(log.flush(), Err(Error::Poisoned(_))));
    // Record 4 reached the page cache but never the disk: it must not be readable.
    assert!(matches!(log.read(4), Err(Error::NotFound { .. })));
    assert_eq!(log.read(3).unwrap(), payload(3));
    let mut cursor = log.cursor(aof::StartAt::Oldest).unwrap();
    let mut seen = 0;
    while cursor.next().unwrap().is_some() {
        seen += 1;
    }
    assert_eq!(seen, 3);
    assert!(matches!(
        cursor.wait(Some(Duration::from_millis(10))),
        Err(Error::Poisoned(_))
    ));
    assert!(matches!(log.close(), Err(Error::Poisoned(_))));
    drop(log);
    assert!(
        !dir.path().join("CLEAN").exists(),
        "a poisoned log must not claim a clean close"
    );
    reopen_and_check_prefix(dir.path(), 3, 4);
    scenario.teardown();
}

#[test]
fn failed_or_short_write_poisons_and_recovery_cuts_it() {
    for action in ["return(eio)", "return(short)"] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
        append_n(&log, 3);
        fail::cfg("fsio::write", action).unwrap();
        let err = log.append(&payload(4)).unwrap_err();
        fail::remove("fsio::write");
        assert!(
            matches!(err, Error::Io { op: "write", .. }),
            "{action}: {err}"
        );
        assert!(matches!(log.append(b"x"), Err(Error::Poisoned(_))));
        drop(log);
        let log = reopen_and_check_prefix(dir.path(), 3, 3);
        if action == "return(short)" {
            let repair = log.recovery().repaired.clone().expect("half record is cut");
            assert!(repair.discarded_bytes > 0);
        }
        scenario.teardown();
    }
}

#[test]
fn no_space_for_next_segment_is_reported_and_retried() {
    for point in ["fsio::fallocate", "fsio::create", "fsio::rename"] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
        let big = vec![7u8; 2000];
        let mut failed = None;
        fail::cfg(point, "return(enospc)").unwrap();
        for _ in 0..10 {
            match log.append(&big) {
                Ok(_) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        fail::remove(point);
        let err = failed.expect("a roll must have failed");
        assert!(err.is_no_space(), "{point}: {err}");
        assert!(
            !log.is_poisoned(),
            "{point}: nothing was lost, so no poison"
        );
        let last = log.last_id();
        let id = log.append(&big).unwrap();
        assert_eq!(id, last + 1);
        assert_eq!(log.read(id).unwrap(), big);
        log.close().unwrap();
        drop(log);
        let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
        assert_eq!(log.last_id(), id);
        assert_eq!(log.verify().unwrap().records, id);
        scenario.teardown();
    }
}

#[test]
fn failed_directory_fsync_on_roll_poisons() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
    fail::cfg("fsio::fsync_dir", "return(eio)").unwrap();
    let big = vec![1u8; 2000];
    let err = (0..10)
        .find_map(|_| log.append(&big).err())
        .expect("roll fails");
    fail::remove("fsio::fsync_dir");
    assert!(
        matches!(
            err,
            Error::Io {
                op: "fsync directory",
                ..
            }
        ),
        "{err}"
    );
    assert!(log.is_poisoned());
    let durable = log.durable_id();
    drop(log);
    reopen_and_check_prefix_big(dir.path(), durable);
    scenario.teardown();
}

fn reopen_and_check_prefix_big(dir: &std::path::Path, durable: u64) {
    let log = Log::open(dir, options(FlushPolicy::Sync)).unwrap();
    assert!(log.last_id() >= durable);
    assert_eq!(log.verify().unwrap().records, log.last_id());
}

#[test]
fn background_sync_failure_poisons_async_log() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(FlushPolicy::Async)).unwrap();
    fail::cfg("fsio::fdatasync", "return(eio)").unwrap();
    let id = log.append(b"doomed").unwrap();
    let waited = log.sync_until(id, Some(Duration::from_secs(5)));
    fail::remove("fsio::fdatasync");
    assert!(matches!(waited, Err(Error::Poisoned(_))), "{waited:?}");
    assert!(matches!(log.append(b"x"), Err(Error::Poisoned(_))));
    scenario.teardown();
}

#[test]
fn failed_create_at_open_is_an_io_error() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    fail::cfg("fsio::create", "return(eio)").unwrap();
    let res = Log::open(dir.path(), options(FlushPolicy::Sync));
    fail::remove("fsio::create");
    assert!(matches!(res, Err(Error::Io { op: "create", .. })));
    let log = Log::open(dir.path(), options(FlushPolicy::Sync)).unwrap();
    assert_eq!(log.append(b"ok").unwrap(), 1);
    scenario.teardown();
}

/// The statuses reach C callers: the same calls through the exported C functions.
#[test]
fn c_api_reports_injected_faults() {
    use aof::ffi::log::{aof_append, aof_close, aof_open, aof_read};
    use aof::ffi::options::{
        aof_options_free, aof_options_new, aof_options_set_max_record_size,
        aof_options_set_preallocate_threshold, aof_options_set_segment_size,
    };
    use aof::ffi::status::{
        AOF_ERR_IO, AOF_ERR_NOT_FOUND, AOF_ERR_NO_SPACE, AOF_ERR_POISONED, AOF_OK,
    };
    use std::ffi::CString;
    use std::ptr;

    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    // SAFETY: every pointer passed below is valid for the call; the handles are used only
    // between their open and close.
    unsafe {
        let mut opts = ptr::null_mut();
        assert_eq!(aof_options_new(&mut opts), AOF_OK);
        assert_eq!(aof_options_set_segment_size(opts, 8192), AOF_OK);
        assert_eq!(aof_options_set_max_record_size(opts, 4000), AOF_OK);
        assert_eq!(aof_options_set_preallocate_threshold(opts, 0), AOF_OK);
        let mut log = ptr::null_mut();
        assert_eq!(aof_open(path.as_ptr(), opts, &mut log), AOF_OK);
        aof_options_free(opts);
        let mut id = 0u64;
        let data = [5u8; 3000];

        // No space for the next segment: reported, retryable.
        fail::cfg("fsio::fallocate", "return(enospc)").unwrap();
        let mut status = AOF_OK;
        for _ in 0..5 {
            status = aof_append(log, data.as_ptr(), data.len(), &mut id);
            if status != AOF_OK {
                break;
            }
        }
        fail::remove("fsio::fallocate");
        assert_eq!(status, AOF_ERR_NO_SPACE);
        assert_eq!(aof_append(log, data.as_ptr(), data.len(), &mut id), AOF_OK);
        let good = id;

        // A failed fdatasync: I/O error, then poisoned; the undurable record is hidden.
        fail::cfg("fsio::fdatasync", "return(eio)").unwrap();
        assert_eq!(
            aof_append(log, data.as_ptr(), data.len(), &mut id),
            AOF_ERR_IO
        );
        fail::remove("fsio::fdatasync");
        assert_eq!(
            aof_append(log, data.as_ptr(), data.len(), &mut id),
            AOF_ERR_POISONED
        );
        let mut buf = vec![0u8; 4096];
        let (mut len, mut ts) = (0usize, 0u64);
        assert_eq!(
            aof_read(log, good, buf.as_mut_ptr(), buf.len(), &mut len, &mut ts),
            AOF_OK
        );
        assert_eq!(&buf[..len], &data[..]);
        assert_eq!(
            aof_read(
                log,
                good + 1,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                &mut ts
            ),
            AOF_ERR_NOT_FOUND
        );
        assert_eq!(aof_close(log), AOF_ERR_POISONED);
    }
    scenario.teardown();
}
