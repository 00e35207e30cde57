//! A compression failing at each of its steps (`--features failpoints`):
//!
//! - `tier::before_record` (the compressed file is in place, the catalogue has not recorded
//!   it): the error comes back, the compressed file is removed, nothing changed and the log
//!   goes on; in the background it is counted (`tier_failures`, `last_tier_error`), the log
//!   is not poisoned, and a later round compresses the segment;
//! - `catalog::record_compressed` (the catalogue commit fails) and `tier::before_unlink`
//!   (after the commit and the switch, before the plain file goes): the error comes back
//!   from `compress_now`, and in the background it poisons the log;
//!
//! and after each, a reopen reads every record back byte-exact by id and by cursor, leaves
//! exactly one file per segment (plain or compressed, never both, nothing in progress) and
//! reports the move it settled (undone before the catalogue commit, finished after it).
#![cfg(feature = "failpoints")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aof::{Error, FlushPolicy, Log, Options, Tiering};
use common::{assert_holds_exactly, payload};
use fail::FailScenario;

const SEGMENT: u64 = 16 * 1024;

fn opts(compress_after_segments: Option<u64>) -> Options {
    Options {
        segment_size: SEGMENT,
        max_record_size: Some(4096),
        flush: FlushPolicy::Sync,
        preallocate_at_percent: 0,
        zero_ahead: 0,
        tiering: Tiering {
            compress_after_segments,
            frame_size: 4096,
            ..Tiering::default()
        },
        ..Options::default()
    }
}

/// Record lengths vary with the id (a few empty, some over a frame's worth of a segment).
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

/// The files of the log's segments, by base id: which of plain, compressed and compression
/// in progress each has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Files {
    plain: bool,
    zst: bool,
    tmp: bool,
}

fn tier_files(dir: &Path) -> BTreeMap<u64, Files> {
    let mut out: BTreeMap<u64, Files> = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.len() < 20 || !name.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
            continue;
        }
        let base: u64 = name[..20].parse().unwrap();
        let f = out.entry(base).or_default();
        match &name[20..] {
            ".seg" => f.plain = true,
            ".seg.zst" => f.zst = true,
            ".seg.zst.tmp" => f.tmp = true,
            other => panic!("unexpected file {name} ({other})"),
        }
    }
    out
}

/// Asserts one file per segment (plain or compressed, never both, none in progress);
/// returns the base ids of the compressed ones.
fn assert_one_file_per_segment(what: &str, dir: &Path) -> Vec<u64> {
    let files = tier_files(dir);
    for (base, f) in &files {
        assert!(
            !f.tmp,
            "{what}: segment {base} has a compression in progress"
        );
        assert!(
            f.plain != f.zst,
            "{what}: segment {base} has {f:?}: exactly one of plain and compressed"
        );
    }
    files
        .into_iter()
        .filter(|(_, f)| f.zst)
        .map(|(b, _)| b)
        .collect()
}

/// The base ids of the segments, oldest first (any file kind).
fn bases(dir: &Path) -> Vec<u64> {
    tier_files(dir).into_keys().collect()
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

#[test]
fn a_failure_before_the_record_changes_nothing_and_the_log_goes_on() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(None)).unwrap();
    append_to(&log, 300);
    log.seal_now().unwrap();
    let before = tier_files(dir.path());
    let sealed = before.len() - 1;
    assert!(sealed >= 3, "{sealed} sealed segments");

    fail::cfg("tier::before_record", "return").unwrap();
    let err = log.compress_now().unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("tier::before_record")),
        "{err:?}"
    );
    // Nothing changed: the plain files stay, no compressed file is left behind.
    assert_eq!(tier_files(dir.path()), before);
    assert!(!log.is_poisoned());
    let m = log.metrics();
    assert_eq!(m.segments_compressed, 0, "{m:?}");
    assert_eq!(m.tier_failures, 0, "compress_now returns the error instead");
    // The log goes on.
    append_to(&log, 400);
    assert_holds_exactly("after the failed compression", &log, 400, &len_of);
    fail::remove("tier::before_record");
    drop(log);

    let log = Log::open(dir.path(), opts(None)).unwrap();
    let r = log.recovery().clone();
    assert!(r.tier_moves_finished.is_empty(), "{r:?}");
    assert!(r.tier_moves_undone.is_empty(), "{r:?}");
    assert!(r.compressed_restored.is_empty(), "{r:?}");
    assert!(assert_one_file_per_segment("after reopen", dir.path()).is_empty());
    assert_holds_exactly("after reopen", &log, 400, &len_of);

    // Without the failpoint the same segments compress.
    let n = log.compress_now().unwrap();
    assert_eq!(n, bases(dir.path()).len() - 1, "every sealed segment");
    assert_holds_exactly("after compressing", &log, 400, &len_of);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts(None)).unwrap();
    assert_eq!(
        assert_one_file_per_segment("after the clean reopen", dir.path()).len(),
        n
    );
    assert_holds_exactly("after the clean reopen", &log, 400, &len_of);
    scenario.teardown();
}

/// `catalog::record_compressed`: the commit fails, so the catalogue never recorded the
/// move and the next open undoes it. `tier::before_unlink`: it committed, so the next open
/// finishes it. Either way `compress_now` returns the error (after the first segment; the
/// rest stay plain), reads go on meanwhile, and the reopened log is whole.
#[test]
fn a_failure_at_or_after_the_record_is_returned_and_settled_at_open() {
    for (point, committed) in [
        ("catalog::record_compressed", false),
        ("tier::before_unlink", true),
    ] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), opts(None)).unwrap();
        append_to(&log, 300);
        log.seal_now().unwrap();
        let first = *bases(dir.path()).first().unwrap();

        fail::cfg(point, "return").unwrap();
        let err = log.compress_now().unwrap_err();
        fail::remove(point);
        assert!(
            matches!(&err, Error::Internal(m) if m.contains(point)),
            "{point}: {err:?}"
        );
        // Both files of the first segment are there until the next open settles them.
        let files = tier_files(dir.path());
        let f = files[&first];
        assert!(f.plain && f.zst && !f.tmp, "{point}: {f:?}");
        assert!(
            files
                .iter()
                .skip(1)
                .all(|(_, f)| f.plain && !f.zst && !f.tmp),
            "{point}: only the first segment was tried: {files:?}"
        );
        // From the caller's thread the error is returned, not a poison.
        assert!(!log.is_poisoned(), "{point}");
        assert_holds_exactly(point, &log, 300, &len_of);
        append_to(&log, 350);
        drop(log);

        let log = Log::open(dir.path(), opts(None)).unwrap();
        let r = log.recovery().clone();
        if committed {
            assert_eq!(r.tier_moves_finished, vec![first], "{point}: {r:?}");
            assert!(r.tier_moves_undone.is_empty(), "{point}: {r:?}");
        } else {
            assert_eq!(r.tier_moves_undone, vec![first], "{point}: {r:?}");
            assert!(r.tier_moves_finished.is_empty(), "{point}: {r:?}");
        }
        assert!(r.compressed_restored.is_empty(), "{point}: {r:?}");
        let zst = assert_one_file_per_segment(point, dir.path());
        assert_eq!(zst, if committed { vec![first] } else { vec![] }, "{point}");
        assert_holds_exactly(&format!("{point}: after reopen"), &log, 350, &len_of);

        // The rest compresses; the next open has nothing left to settle.
        let n = log.compress_now().unwrap();
        assert_eq!(
            n + zst.len(),
            bases(dir.path()).len() - 1,
            "{point}: every sealed segment"
        );
        drop(log);
        let log = Log::open(dir.path(), opts(None)).unwrap();
        let r = log.recovery();
        assert!(r.tier_moves_finished.is_empty(), "{point}: {r:?}");
        assert!(r.tier_moves_undone.is_empty(), "{point}: {r:?}");
        assert_eq!(
            assert_one_file_per_segment(point, dir.path()).len(),
            n + zst.len()
        );
        assert_holds_exactly(&format!("{point}: second reopen"), &log, 350, &len_of);
        scenario.teardown();
    }
}

/// In the background a failure before the record is counted and retried: the log is not
/// poisoned, every failed attempt cleans up after itself, and once the cause is gone a
/// later round (woken by a roll) compresses.
#[test]
fn a_background_failure_before_the_record_is_counted_and_retried() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    fail::cfg("tier::before_record", "return").unwrap();
    let log = Log::open(dir.path(), opts(Some(1))).unwrap();
    append_to(&log, 300);
    wait_for("a counted failure", &log, |l| {
        l.metrics().tier_failures >= 1
    });
    let error = log.last_tier_error().expect("the last error is kept");
    assert!(error.contains("tier::before_record"), "{error}");
    assert!(!log.is_poisoned());
    assert_eq!(log.metrics().segments_compressed, 0);
    append_to(&log, 320);
    assert_holds_exactly("while failing", &log, 320, &len_of);
    // Close joins the task: no attempt is in flight after it, and none left a file.
    log.close().unwrap();
    drop(log);
    assert!(assert_one_file_per_segment("after failed rounds", dir.path()).is_empty());

    // Reopened, still failing: the first round tries each sealed segment once, then the
    // task waits for a roll.
    let log = Log::open(dir.path(), opts(Some(1))).unwrap();
    let sealed = bases(dir.path()).len() as u64 - 1;
    wait_for("the first round's failures", &log, |l| {
        l.metrics().tier_failures >= sealed
    });
    assert_eq!(log.metrics().tier_failures, sealed);
    assert!(!log.is_poisoned());
    assert!(assert_one_file_per_segment("between rounds", dir.path()).is_empty());

    fail::remove("tier::before_record");
    log.seal_now().unwrap(); // a roll wakes the task
    let sealed = sealed + 1;
    wait_for("the retried compression", &log, |l| {
        l.metrics().segments_compressed >= sealed
    });
    assert!(!log.is_poisoned());
    assert_eq!(log.metrics().segments_compressed, sealed);
    assert_eq!(log.metrics().tier_failures, sealed - 1, "no new failure");
    assert_holds_exactly("after the retry", &log, 320, &len_of);
    log.close().unwrap();
    drop(log);

    let log = Log::open(dir.path(), opts(None)).unwrap();
    let r = log.recovery();
    assert!(
        r.tier_moves_finished.is_empty() && r.tier_moves_undone.is_empty(),
        "{r:?}"
    );
    assert_eq!(
        assert_one_file_per_segment("after reopen", dir.path()).len() as u64,
        sealed
    );
    assert_holds_exactly("after reopen", &log, 320, &len_of);
    scenario.teardown();
}

/// In the background a failure at or after the catalogue commit poisons the log (no caller
/// would see it otherwise); what was durable is kept and the next open settles the move.
#[test]
fn a_background_failure_at_or_after_the_record_poisons_and_open_settles_it() {
    for (point, committed) in [
        ("catalog::record_compressed", false),
        ("tier::before_unlink", true),
    ] {
        let scenario = FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        fail::cfg(point, "return").unwrap();
        let log = Log::open(dir.path(), opts(Some(1))).unwrap();
        // Sync: every id an append returned is durable. Appends stop once poisoned.
        let mut durable = 0;
        for id in 1..=2000 {
            match log.append(&payload(id, len_of(id))) {
                Ok(got) => durable = got,
                Err(Error::Poisoned(m)) => {
                    assert!(m.contains(point), "{point}: {m}");
                    break;
                }
                Err(e) => panic!("{point}: append {id}: {e}"),
            }
        }
        wait_for(point, &log, |l| l.is_poisoned());
        fail::remove(point);
        let err = log.append(b"x").unwrap_err();
        assert!(
            matches!(&err, Error::Poisoned(m) if m.contains(point)),
            "{point}: {err:?}"
        );
        assert_eq!(
            log.metrics().tier_failures,
            0,
            "{point}: not a counted failure"
        );
        let first = *bases(dir.path()).first().unwrap();
        drop(log);

        let log = Log::open(dir.path(), opts(None)).unwrap();
        let r = log.recovery().clone();
        if committed {
            assert_eq!(r.tier_moves_finished, vec![first], "{point}: {r:?}");
        } else {
            assert_eq!(r.tier_moves_undone, vec![first], "{point}: {r:?}");
        }
        let zst = assert_one_file_per_segment(point, dir.path());
        assert_eq!(zst, if committed { vec![first] } else { vec![] }, "{point}");
        assert!(
            log.last_id() >= durable,
            "{point}: lost acknowledged records"
        );
        let last = log.last_id();
        assert_holds_exactly(&format!("{point}: after reopen"), &log, last, &len_of);
        scenario.teardown();
    }
}
