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

/// Waits (on another thread) for `id` to become durable with no timeout, the way a caller
/// blocked in `sync_until` does, and hands back what the wait returned. The channel bounds
/// the test's wait only so that a regression fails instead of hanging the suite.
fn wait_without_timeout(
    log: &std::sync::Arc<Log>,
    id: u64,
) -> std::sync::mpsc::Receiver<aof::Result<bool>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let log = log.clone();
    std::thread::spawn(move || {
        let _ = tx.send(log.sync_until(id, None));
    });
    rx
}

/// Panics `failpoint` inside one background task and checks that the log is poisoned with
/// a message naming `task`, that a caller already waiting (with no timeout) for durability
/// is woken with that status, and that later writes are refused with it. Appends of
/// `record_len` bytes wake the task.
fn panicking_task_poisons(failpoint: &str, task: &str, opts: Options, record_len: usize) {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(Log::open(dir.path(), opts).unwrap());
    let id = log.append(b"waits for a sync that never comes").unwrap();
    let waiter = wait_without_timeout(&log, id);
    // Let the waiter go to sleep first (if it does not, it finds the poison on entry).
    std::thread::sleep(Duration::from_millis(50));
    fail::cfg(failpoint, "panic(injected)").unwrap();
    // Appends wake the tasks; the pre-allocation needs a segment half full.
    let mut refused = None;
    for i in 0..200u32 {
        match log.append(&vec![i as u8; record_len]) {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        if log.is_poisoned() {
            break;
        }
        if i % 20 == 19 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let woken = waiter
        .recv_timeout(Duration::from_secs(60))
        .expect("the waiter was never woken");
    fail::remove(failpoint);
    let why = match woken {
        Err(Error::Poisoned(why)) => why,
        other => panic!("{failpoint}: the waiter got {other:?}, not Poisoned"),
    };
    assert!(
        why.contains(task) && why.contains("panicked") && why.contains("injected"),
        "{failpoint}: poison message {why:?} does not name {task:?} and the panic"
    );
    assert!(log.is_poisoned());
    if let Some(e) = refused {
        assert!(matches!(e, Error::Poisoned(_)), "{failpoint}: {e:?}");
    }
    assert!(matches!(log.append(b"x"), Err(Error::Poisoned(_))));
    assert!(matches!(log.close(), Err(Error::Poisoned(_))));
    scenario.teardown();
}

/// A policy under which nothing syncs on its own for the length of the test, so that the
/// waiter can only end by being woken.
fn never_syncing() -> FlushPolicy {
    FlushPolicy::Periodic {
        interval: Duration::from_secs(3600),
    }
}

#[test]
fn panic_in_the_flusher_body_poisons_and_wakes_waiters() {
    let opts = Options {
        zero_ahead: 0,
        ..options(never_syncing())
    };
    panicking_task_poisons("background::flusher", "background flusher", opts, 64);
}

#[test]
fn panic_in_a_background_write_out_poisons_and_wakes_waiters() {
    let opts = Options {
        zero_ahead: 0,
        ..options(never_syncing())
    };
    panicking_task_poisons("background::write_out", "background write-out", opts, 64);
}

#[test]
fn panic_in_a_background_sync_poisons_and_wakes_waiters() {
    let opts = Options {
        zero_ahead: 0,
        ..options(FlushPolicy::Batched { records: 1_000_000 })
    };
    // Batched with a huge batch: only the failpoint's sync could make the first id
    // durable; Async would sync on every append.
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(Log::open(dir.path(), opts).unwrap());
    let id = log.append(b"first").unwrap();
    let waiter = wait_without_timeout(&log, id);
    std::thread::sleep(Duration::from_millis(50));
    fail::cfg("background::sync", "panic(injected)").unwrap();
    // Async-style sync request: a batch of one is due at once.
    let log2 = Log::open(
        tempfile::tempdir().unwrap().path().join("other"),
        Options {
            zero_ahead: 0,
            ..options(FlushPolicy::Async)
        },
    );
    // The failpoint is process-wide: a second, Async log hits it on its first sync.
    let log2 = log2.unwrap();
    let id2 = log2.append(b"async").unwrap();
    let waited = log2.sync_until(id2, None);
    fail::remove("background::sync");
    match waited {
        Err(Error::Poisoned(why)) => assert!(
            why.contains("background sync") && why.contains("injected"),
            "{why}"
        ),
        other => panic!("the Async log's waiter got {other:?}"),
    }
    // The first log was not touched: its waiter still waits, then a flush ends it.
    assert!(waiter.try_recv().is_err());
    log.flush().unwrap();
    assert!(matches!(
        waiter.recv_timeout(Duration::from_secs(60)),
        Ok(Ok(true))
    ));
    drop(log2);
    scenario.teardown();
}

#[test]
fn panic_in_the_zeroer_body_poisons_and_wakes_waiters() {
    let opts = Options {
        segment_size: 1 << 20,
        zero_ahead: 64 << 10,
        ..options(never_syncing())
    };
    // Records of 2 KiB move the writer past the zeroed window, which wakes the zeroer.
    panicking_task_poisons("background::zeroer", "zero-ahead", opts, 2048);
}

#[test]
fn panic_in_a_zeroer_step_poisons_and_wakes_waiters() {
    let opts = Options {
        segment_size: 1 << 20,
        zero_ahead: 64 << 10,
        ..options(never_syncing())
    };
    panicking_task_poisons("background::zeroer_step", "zero-ahead", opts, 2048);
}

#[test]
fn panic_in_segment_preallocation_poisons_and_wakes_waiters() {
    let opts = Options {
        preallocate_at_percent: 50,
        zero_ahead: 0,
        ..options(never_syncing())
    };
    panicking_task_poisons("background::prealloc", "segment pre-allocation", opts, 64);
}
