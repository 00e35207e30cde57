//! An upload to the archive failing at each of its steps (`--features failpoints`), with a
//! directory archive:
//!
//! - `catalog::record_upload` at the Started commit: nothing recorded, no object;
//! - `tier::before_upload` (Started, before the put): no object yet;
//! - `tier::before_archived` (the object is put and verified, not recorded): the object
//!   is referred to by the Started upload, and the next round re-uses it;
//! - `catalog::record_upload` at the Verified commit: the same;
//! - `tier::before_unlink_compressed` (recorded and switched, before the unlink): the
//!   compressed file is left, and open removes it.
//!
//! `archive_now` returns each error; the log is not poisoned and goes on. After a manager
//! reopen every record reads back byte-exact, each segment is in exactly one place (a local
//! file, or an object with no local file), `sweep_archive` finds no object the catalogue
//! does not refer to, and a later `archive_now` archives the rest (re-using an object that
//! was put). In the background a failure of the upload itself is counted
//! (`tier_failures`), does not poison, and is retried.
#![cfg(feature = "failpoints")]

#[path = "support/archive_state.rs"]
mod archive_state;
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use aof::tier::archive::RemoteConfig;
use aof::tier::cold::{ArchiveOptions, Backend};
use aof::{Error, FlushPolicy, Log, Manager, ManagerOptions, Options, Tiering};
use archive_state::{check_places, objects};
use common::{assert_holds_exactly, payload};
use fail::FailScenario;

const SEGMENT: u64 = 16 * 1024;
const NAME: &str = "events";

fn opts(archive_after_segments: Option<u64>) -> Options {
    Options {
        segment_size: SEGMENT,
        max_record_size: Some(4096),
        flush: FlushPolicy::Sync,
        preallocate_at_percent: 0,
        zero_ahead: 0,
        tiering: Tiering {
            archive_after_segments,
            frame_size: 4096,
            ..Tiering::default()
        },
        ..Options::default()
    }
}

fn manager(root: &Path, archive: &Path) -> Manager {
    let mut a = ArchiveOptions::new(Backend::Filesystem(archive.to_path_buf()));
    a.remote = RemoteConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        breaker_threshold: 100,
        breaker_probe_interval: Duration::from_millis(100),
    };
    Manager::open(
        root,
        ManagerOptions {
            archive: Some(a),
            ..ManagerOptions::default()
        },
    )
    .unwrap()
}

fn len_of(id: u64) -> usize {
    match id % 53 {
        0 => 0,
        1 => 3000,
        _ => 40 + (id as usize * 37) % 700,
    }
}

fn append_to(log: &Log, last: u64) {
    for id in log.last_id() + 1..=last {
        assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
    }
}

fn wait_for(what: &str, log: &Log, mut done: impl FnMut(&Log) -> bool) {
    // A guard against hanging only: the test asserts what happened, not how fast.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(log) {
        assert!(
            Instant::now() < deadline,
            "{what}: never happened ({:?})",
            log.metrics()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How far the failed attempt at the first sealed segment got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Left {
    /// Compressed, upload not started, no object.
    NotStarted,
    /// Upload Started, no object.
    StartedNoObject,
    /// Upload Started, the object put (and verified, not recorded).
    StartedWithObject,
    /// Archived, its compressed file still local until the next open.
    ArchivedWithLocal,
}

#[test]
fn a_failed_upload_is_returned_and_settled_with_nothing_lost_or_orphaned() {
    let cases = [
        ("catalog::record_upload", "return", Left::NotStarted),
        ("tier::before_upload", "return", Left::StartedNoObject),
        ("tier::before_archived", "return", Left::StartedWithObject),
        // The second commit of the upload (Verified) fails.
        (
            "catalog::record_upload",
            "1*off->return",
            Left::StartedWithObject,
        ),
        (
            "tier::before_unlink_compressed",
            "return",
            Left::ArchivedWithLocal,
        ),
    ];
    for (point, action, left) in cases {
        let what = format!("{point} ({action})");
        let scenario = FailScenario::setup();
        let root = tempfile::tempdir().unwrap();
        let archive = tempfile::tempdir().unwrap();
        let m = manager(root.path(), archive.path());
        let log = m.open_log(NAME, opts(None)).unwrap();
        append_to(&log, 300);
        log.seal_now().unwrap();

        fail::cfg(point, action).unwrap();
        let err = log.archive_now().unwrap_err();
        fail::remove(point);
        assert!(
            matches!(&err, Error::Internal(msg) if msg.contains(point)),
            "{what}: {err:?}"
        );
        // From the caller's thread the error is returned: not counted, not a poison.
        assert!(!log.is_poisoned(), "{what}");
        let mt = log.metrics();
        assert_eq!(mt.tier_failures, 0, "{what}: {mt:?}");
        let archived_now = u64::from(left == Left::ArchivedWithLocal);
        assert_eq!(mt.segments_archived, 0, "{what}: {mt:?}");
        // Reads go on (the archived one from its object), and so do appends.
        assert_holds_exactly(&what, &log, 300, &len_of);
        append_to(&log, 350);
        log.close().unwrap();
        m.close().unwrap();

        // Before the reopen: only the first sealed segment was tried, and it got as far as
        // the failpoint; the others are plain files.
        let p = check_places(&what, root.path(), NAME, archive.path(), false);
        let first = *p
            .plain
            .iter()
            .chain(&p.compressed)
            .chain(&p.archived)
            .min()
            .unwrap();
        let expect = |v: &[u64], yes: bool| assert_eq!(v, if yes { vec![first] } else { vec![] });
        expect(
            &p.compressed,
            matches!(
                left,
                Left::NotStarted | Left::StartedNoObject | Left::StartedWithObject
            ),
        );
        expect(&p.archived, left == Left::ArchivedWithLocal);
        expect(&p.archived_with_local, left == Left::ArchivedWithLocal);
        expect(
            &p.started,
            matches!(left, Left::StartedNoObject | Left::StartedWithObject),
        );
        expect(&p.started_with_object, left == Left::StartedWithObject);
        assert!(p.archive_tmp.is_empty(), "{what}");
        let put = objects(archive.path(), p.uid).by_base;
        assert_eq!(
            put.len() as u64,
            u64::from(left == Left::StartedWithObject) + archived_now,
            "{what}: {put:?}"
        );

        // Reopen: the move is settled, every record is there, nothing is orphaned.
        let m = manager(root.path(), archive.path());
        let log = m.open_log(NAME, opts(None)).unwrap();
        let r = log.recovery().clone();
        let finished = if left == Left::ArchivedWithLocal {
            vec![first]
        } else {
            vec![]
        };
        assert_eq!(r.tier_moves_finished, finished, "{what}: {r:?}");
        assert!(r.tier_moves_undone.is_empty(), "{what}: {r:?}");
        assert_holds_exactly(&format!("{what}: after reopen"), &log, 350, &len_of);
        // The object of a Started upload is referred to: the sweep leaves it.
        assert_eq!(log.sweep_archive().unwrap(), 0, "{what}");
        assert_eq!(objects(archive.path(), p.uid).by_base, put, "{what}");
        log.close().unwrap();
        m.close().unwrap();
        let after = check_places(
            &format!("{what}: after reopen"),
            root.path(),
            NAME,
            archive.path(),
            true,
        );
        assert_eq!(after.archived, p.archived, "{what}");
        assert_eq!(after.started_with_object, p.started_with_object, "{what}");

        // A later archive_now archives every other sealed segment, re-using the object put
        // by the failed attempt (same inode: not written again).
        let m = manager(root.path(), archive.path());
        let log = m.open_log(NAME, opts(None)).unwrap();
        let sealed = (after.plain.len() + after.compressed.len() + after.archived.len()) as u64 - 1;
        let n = log.archive_now().unwrap() as u64;
        assert_eq!(n + archived_now, sealed, "{what}: every sealed segment");
        assert_eq!(log.sweep_archive().unwrap(), 0, "{what}");
        assert_holds_exactly(&format!("{what}: archived"), &log, 350, &len_of);
        log.close().unwrap();
        m.close().unwrap();
        let done = check_places(
            &format!("{what}: archived"),
            root.path(),
            NAME,
            archive.path(),
            true,
        );
        assert_eq!(done.archived.len() as u64, sealed, "{what}: {done:?}");
        assert!(
            done.started.is_empty() && done.compressed.is_empty(),
            "{what}: {done:?}"
        );
        assert_eq!(
            done.plain.len(),
            1,
            "{what}: only the active segment: {done:?}"
        );
        let now = objects(archive.path(), p.uid);
        assert_eq!(now.by_base.len() as u64, sealed, "{what}");
        assert!(now.tmp.is_empty(), "{what}: {:?}", now.tmp);
        for (base, ino) in &put {
            assert_eq!(
                now.by_base.get(base),
                Some(ino),
                "{what}: object {base} re-used"
            );
        }
        scenario.teardown();
    }
}

/// A segment removed while its upload is Started (the object put, not recorded) takes its
/// object with it: retention deletes what the catalogue refers to.
#[test]
fn a_segment_removed_mid_upload_takes_its_object_with_it() {
    let scenario = FailScenario::setup();
    let root = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let m = manager(root.path(), archive.path());
    let log = m.open_log(NAME, opts(None)).unwrap();
    append_to(&log, 300);
    log.seal_now().unwrap();
    fail::cfg("tier::before_archived", "return").unwrap();
    log.archive_now().unwrap_err();
    fail::remove("tier::before_archived");
    log.close().unwrap();
    m.close().unwrap();
    let p = check_places("before", root.path(), NAME, archive.path(), false);
    assert_eq!(p.started_with_object.len(), 1, "{p:?}");
    let first = p.started_with_object[0];

    let m = manager(root.path(), archive.path());
    let log = m.open_log(NAME, opts(None)).unwrap();
    let second = p.plain.iter().copied().find(|&b| b > first).unwrap();
    assert_eq!(log.truncate_before(second).unwrap(), 1);
    assert!(objects(archive.path(), p.uid).by_base.is_empty());
    assert_eq!(log.sweep_archive().unwrap(), 0);
    log.close().unwrap();
    m.close().unwrap();
    let after = check_places("after", root.path(), NAME, archive.path(), true);
    assert!(
        after.started.is_empty() && after.archived.is_empty(),
        "{after:?}"
    );
    scenario.teardown();
}

/// In the background a failure of the upload itself (between the Started and the Verified
/// commits) is counted and retried: the log is not poisoned, and once the cause is gone a
/// later round archives every sealed segment.
#[test]
fn a_background_upload_failure_is_counted_and_retried() {
    for point in ["tier::before_upload", "tier::before_archived"] {
        let scenario = FailScenario::setup();
        let root = tempfile::tempdir().unwrap();
        let archive = tempfile::tempdir().unwrap();
        fail::cfg(point, "return").unwrap();
        let m = manager(root.path(), archive.path());
        let log = m.open_log(NAME, opts(Some(1))).unwrap();
        append_to(&log, 300);
        wait_for(point, &log, |l| l.metrics().tier_failures >= 2);
        let error = log.last_tier_error().expect("the last error is kept");
        assert!(error.contains(point), "{point}: {error}");
        assert!(!log.is_poisoned(), "{point}");
        assert_eq!(log.metrics().segments_archived, 0, "{point}");
        append_to(&log, 320);
        assert_holds_exactly(point, &log, 320, &len_of);

        fail::remove(point);
        log.seal_now().unwrap(); // a roll wakes the task
        let sealed = log.metrics().segment_count - 1;
        wait_for(point, &log, |l| l.metrics().segments_archived >= sealed);
        assert!(!log.is_poisoned(), "{point}");
        assert_eq!(log.metrics().archive_pending, 0, "{point}");
        assert_holds_exactly(&format!("{point}: archived"), &log, 320, &len_of);
        log.close().unwrap();
        m.close().unwrap();
        let p = check_places(point, root.path(), NAME, archive.path(), true);
        assert_eq!(p.archived.len() as u64, sealed, "{point}: {p:?}");
        assert!(p.started.is_empty(), "{point}: {p:?}");
        // Every upload went through the Started commit once; nothing is left to sweep.
        let m = manager(root.path(), archive.path());
        let log = m.open_log(NAME, opts(None)).unwrap();
        assert_eq!(log.sweep_archive().unwrap(), 0, "{point}");
        assert_holds_exactly(&format!("{point}: reopened"), &log, 320, &len_of);
        log.close().unwrap();
        m.close().unwrap();
        scenario.teardown();
    }
}
