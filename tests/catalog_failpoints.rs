//! A failure at each catalogue step (`--features failpoints`): the files are ahead of the
//! catalogue by one step, the log is poisoned (it cannot record its segments), and the
//! next open brings the catalogue in line with nothing lost and nothing orphaned.
#![cfg(feature = "failpoints")]

mod common;

use aof::{Error, FlushPolicy, Log, Options};
use common::{assert_holds_exactly, payload, segment_files};
use fail::FailScenario;

const LEN: usize = 200;

fn opts() -> Options {
    Options {
        segment_size: 4096,
        flush: FlushPolicy::Sync,
        preallocate_at_percent: 0,
        zero_ahead: 0,
        ..Options::default()
    }
}

/// Appends until an append fails; returns the last id appended (all durable: Sync).
fn append_until_refused(log: &Log) -> (u64, Error) {
    let mut id = log.last_id();
    loop {
        match log.append(&payload(id + 1, LEN)) {
            Ok(got) => {
                assert_eq!(got, id + 1);
                id = got;
            }
            Err(e) => return (id, e),
        }
        assert!(id < 10_000, "the failpoint never fired");
    }
}

#[test]
fn a_failed_roll_commit_loses_nothing_and_the_new_segment_is_adopted() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for id in 1..=40 {
        log.append(&payload(id, LEN)).unwrap();
    }
    fail::cfg("catalog::roll", "return").unwrap();
    let (durable, err) = append_until_refused(&log);
    fail::remove("catalog::roll");
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("catalog::roll")),
        "{err:?}"
    );
    assert!(log.is_poisoned());
    // The sealed segment and the new file are both on disk; the catalogue has neither.
    let files = segment_files(dir.path());
    let newest = files.last().unwrap().0;
    assert_eq!(newest, durable + 1, "the new segment's file is in place");
    drop(log);

    let log = Log::open(dir.path(), opts()).unwrap();
    let r = log.recovery().clone();
    assert_eq!(r.files_without_entries, vec![newest], "{r:?}");
    assert!(r.entries_without_files.is_empty());
    assert_holds_exactly("after the failed roll", &log, durable, &|_| LEN);
    for id in durable + 1..=durable + 60 {
        assert_eq!(log.append(&payload(id, LEN)).unwrap(), id);
    }
    log.close().unwrap();
    drop(log);

    // Everything is recorded now: a clean open opens the active segment only.
    let log = Log::open(dir.path(), opts()).unwrap();
    let r = log.recovery();
    assert!(r.files_without_entries.is_empty(), "{r:?}");
    assert_eq!(r.segments_opened, 1);
    assert_holds_exactly("after the next roll", &log, durable + 60, &|_| LEN);
    scenario.teardown();
}

#[test]
fn a_failed_close_commit_leaves_a_log_that_opens_with_everything() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for id in 1..=100 {
        log.append(&payload(id, LEN)).unwrap();
    }
    fail::cfg("catalog::close", "return").unwrap();
    let err = log.close().unwrap_err();
    fail::remove("catalog::close");
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("catalog::close")),
        "{err:?}"
    );
    drop(log);

    let log = Log::open(dir.path(), opts()).unwrap();
    // No clean-close marker was written after the failed commit: the tail is scanned.
    assert!(!log.recovery().clean_shutdown);
    assert_holds_exactly("after the failed close", &log, 100, &|_| LEN);
    scenario.teardown();
}

#[test]
fn a_failed_catalogue_write_at_open_fails_the_open_and_the_next_open_succeeds() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for id in 1..=100 {
        log.append(&payload(id, LEN)).unwrap();
    }
    drop(log);
    fail::cfg("catalog::reconcile", "return").unwrap();
    let err = Log::open(dir.path(), opts())
        .err()
        .expect("the open must fail");
    fail::remove("catalog::reconcile");
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("catalog::reconcile")),
        "{err:?}"
    );
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_holds_exactly("after the failed open", &log, 100, &|_| LEN);
    scenario.teardown();
}

/// A removal (`truncate_before`) that fails at each of its steps: before anything is
/// marked nothing goes; after the mark, the next open finishes the removal; either way
/// every kept record is there and no file or entry is left behind.
#[test]
fn a_removal_failing_at_each_step_is_finished_or_undone_at_open() {
    for (point, finished_at_open) in [
        ("catalog::mark_deleting", false),
        ("retention::before_unlink", true),
        ("catalog::remove_entries", true),
    ] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), opts()).unwrap();
        for id in 1..=200 {
            log.append(&payload(id, LEN)).unwrap();
        }
        let files_before = segment_files(dir.path());
        fail::cfg(point, "return").unwrap();
        let err = log.truncate_before(100).unwrap_err();
        fail::remove(point);
        assert!(
            matches!(&err, Error::Internal(m) if m.contains(point)),
            "{point}: {err:?}"
        );
        drop(log);

        let log = Log::open(dir.path(), opts()).unwrap();
        let r = log.recovery().clone();
        let (first, last) = log.bounds();
        assert_eq!(last, 200, "{point}");
        if finished_at_open {
            assert!(r.deletions_finished > 0, "{point}: {r:?}");
            assert!(first > 1 && first <= 100, "{point}: first {first}");
        } else {
            assert_eq!(r.deletions_finished, 0, "{point}");
            assert_eq!(first, 1, "{point}: nothing was removed");
            assert_eq!(segment_files(dir.path()), files_before, "{point}");
        }
        assert!(r.files_without_entries.is_empty(), "{point}: {r:?}");
        assert!(r.entries_without_files.is_empty(), "{point}: {r:?}");
        // The files left are exactly the kept segments.
        let files = segment_files(dir.path());
        assert_eq!(files.first().unwrap().0, first, "{point}");
        for id in first..=200 {
            assert_eq!(log.read(id).unwrap(), payload(id, LEN), "{point}: {id}");
        }
        if first > 1 {
            assert!(matches!(log.read(first - 1), Err(Error::Truncated { .. })));
        }
        drop(log);
        // And the next open has nothing left to finish.
        let log = Log::open(dir.path(), opts()).unwrap();
        assert_eq!(log.recovery().deletions_finished, 0, "{point}");
        assert_eq!(log.bounds(), (first, 200), "{point}");
        scenario.teardown();
    }
}
