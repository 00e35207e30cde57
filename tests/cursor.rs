//! Cursors: ordered scans across at least three segment rolls from every kind of start
//! (`Oldest`, `Newest`, `End`, `Id` in the middle and at segment boundaries), the same after
//! reopening (sealed segments), and tailing: a cursor woken by an append on another thread,
//! with and without a busy-poll spin (`set_spin`).

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use aof::cursor::MAX_SPIN;
use aof::{Error, Log, StartAt};
use common::*;

const MAX: usize = SMALL_MAX_RECORD as usize;

fn len_of(id: u64) -> usize {
    size_for(id, MAX)
}

/// Reads every record from `start`, checking payloads, positions and dense order.
fn ids_from(log: &Log, start: StartAt) -> Vec<u64> {
    let mut c = log.cursor(start).unwrap();
    let mut ids = Vec::new();
    loop {
        let pos = c.position();
        let Some(r) = c.next().unwrap() else { break };
        assert_eq!(
            r.id, pos,
            "{start:?}: position() before next() must be the id returned"
        );
        check_payload(&format!("cursor {start:?}"), r.id, len_of(r.id), r.data);
        let id = r.id;
        assert_eq!(c.position(), id + 1, "{start:?}: position() after next()");
        ids.push(id);
    }
    // At the end, next() keeps returning None.
    assert!(c.next().unwrap().is_none());
    ids
}

fn check_all_starts(what: &str, log: &Log, dir: &std::path::Path, n: u64) {
    let all: Vec<u64> = (1..=n).collect();
    assert_eq!(ids_from(log, StartAt::Oldest), all, "{what}: Oldest");
    assert_eq!(ids_from(log, StartAt::Newest), vec![n], "{what}: Newest");
    assert_eq!(
        ids_from(log, StartAt::End),
        Vec::<u64>::new(),
        "{what}: End"
    );
    assert_eq!(
        log.cursor(StartAt::End).unwrap().position(),
        n + 1,
        "{what}"
    );
    assert_eq!(log.cursor(StartAt::Newest).unwrap().position(), n, "{what}");
    assert_eq!(log.cursor(StartAt::Oldest).unwrap().position(), 1, "{what}");
    let mut starts = vec![1, 2, n / 2, n - 1, n, n + 1];
    for (base, _) in segment_files(dir) {
        starts.extend([base - 1, base, base + 1]);
    }
    for k in starts.into_iter().filter(|&k| (1..=n + 1).contains(&k)) {
        let want: Vec<u64> = (k..=n).collect();
        assert_eq!(ids_from(log, StartAt::Id(k)), want, "{what}: Id({k})");
    }
    for bad in [0, n + 2, u64::MAX] {
        let r = log.cursor(StartAt::Id(bad));
        assert!(
            matches!(
                r,
                Err(Error::InvalidArgument(_)) | Err(Error::NotFound { .. })
            ),
            "{what}: cursor(Id({bad})) with last_id {n} must fail, got {:?}",
            r.map(|c| c.position())
        );
    }
}

#[test]
fn scans_across_rolls_from_every_start_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300u64;
    {
        let log = Log::open(dir.path(), small_opts()).unwrap();
        for id in 1..=n {
            assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
        }
        let m = log.metrics();
        assert!(m.segments_sealed >= 3, "need at least three rolls: {m:?}");
        assert!(segment_files(dir.path()).len() >= 4);
        check_all_starts("open", &log, dir.path(), n);

        // Cursors opened before an append see it: End, Newest (after its record) and
        // Id(n + 1).
        let mut end = log.cursor(StartAt::End).unwrap();
        let mut newest = log.cursor(StartAt::Newest).unwrap();
        assert_eq!(newest.next().unwrap().unwrap().id, n);
        let mut next = log.cursor(StartAt::Id(n + 1)).unwrap();
        assert!(end.next().unwrap().is_none());
        assert!(newest.next().unwrap().is_none());
        assert!(next.next().unwrap().is_none());
        assert_eq!(log.append(&payload(n + 1, len_of(n + 1))).unwrap(), n + 1);
        for (name, c) in [
            ("End", &mut end),
            ("Newest", &mut newest),
            ("Id", &mut next),
        ] {
            let r = c
                .next()
                .unwrap()
                .unwrap_or_else(|| panic!("{name} cursor missed n+1"));
            assert_eq!(r.id, n + 1, "{name}");
            check_payload(name, r.id, len_of(r.id), r.data);
            assert!(c.next().unwrap().is_none());
        }
    }
    let log = Log::open(dir.path(), small_opts()).unwrap();
    check_all_starts("reopened", &log, dir.path(), n + 1);
}

#[test]
fn cursors_on_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let mut cs: Vec<(StartAt, aof::Cursor)> = [
        StartAt::Oldest,
        StartAt::Newest,
        StartAt::End,
        StartAt::Id(1),
    ]
    .into_iter()
    .map(|s| (s, log.cursor(s).unwrap()))
    .collect();
    for (s, c) in cs.iter_mut() {
        assert_eq!(c.position(), 1, "{s:?} on an empty log");
        assert!(c.next().unwrap().is_none(), "{s:?} on an empty log");
    }
    assert!(matches!(
        log.cursor(StartAt::Id(2)),
        Err(Error::InvalidArgument(_)) | Err(Error::NotFound { .. })
    ));
    log.append(&payload(1, 40)).unwrap();
    for (s, c) in cs.iter_mut() {
        let r = c
            .next()
            .unwrap()
            .unwrap_or_else(|| panic!("{s:?} missed record 1"));
        assert_eq!(r.id, 1, "{s:?}");
        check_payload("empty-log cursor", 1, 40, r.data);
    }
}

#[test]
fn idle_wait_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    log.append(&payload(1, 10)).unwrap();
    let mut c = log.cursor(StartAt::End).unwrap();
    assert!(!c.wait(Some(Duration::from_millis(10))).unwrap());
    assert!(c.next().unwrap().is_none());
    // A record already there: wait returns true without an append.
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    assert!(c.wait(Some(Duration::from_millis(10))).unwrap());
    assert_eq!(c.next().unwrap().unwrap().id, 1);
    assert!(!c.wait(Some(Duration::from_millis(10))).unwrap());
}

#[test]
fn tailing_cursor_is_woken_by_an_append_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), small_opts()).unwrap());
    let mut c = log.cursor(StartAt::End).unwrap();
    // Rounds with maximum-size records, so the tail rolls to new segments while tailed.
    for round in 1..=15u64 {
        let len = if round % 5 == 0 { 40 } else { MAX };
        assert!(
            !c.wait(Some(Duration::from_millis(10))).unwrap(),
            "round {round}: nothing appended yet"
        );
        let writer = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                log.append(&payload(round, len)).unwrap()
            })
        };
        // Bounded: wait(Some(5 s)) itself, and `within` in case wait ignores its timeout.
        let (woken, c2) = within("cursor.wait(5 s)", Duration::from_secs(20), move || {
            let w = c.wait(Some(Duration::from_secs(5)));
            (w, c)
        });
        c = c2;
        assert!(
            woken.unwrap(),
            "round {round}: wait was not woken by the append"
        );
        let id = writer.join().unwrap();
        assert_eq!(id, round);
        let r = c.next().unwrap().expect("wait said a record is ready");
        assert_eq!(r.id, round);
        check_payload("tailed", round, len, r.data);
        assert!(c.next().unwrap().is_none());
    }
    assert!(log.metrics().segments_sealed >= 3);
}

#[test]
fn a_cursor_moves_to_a_reader_thread_and_tails_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), small_opts()).unwrap());
    let n = 500u64;
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let reader = thread::spawn(move || {
        let mut expect = 1u64;
        while expect <= n {
            if !c.wait(Some(Duration::from_secs(5))).unwrap() {
                panic!("reader starved at id {expect}: wait(5 s) returned false");
            }
            while let Some(r) = c.next().unwrap() {
                assert_eq!(r.id, expect, "tailing cursor order");
                check_payload("tailing reader", r.id, len_of(r.id), r.data);
                expect += 1;
            }
        }
        expect - 1
    });
    for id in 1..=n {
        assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
    }
    assert_eq!(reader.join().unwrap(), n);
}

#[test]
fn set_spin_range_and_closed_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let mut c = log.cursor(StartAt::End).unwrap();
    assert_eq!(c.spin(), Duration::ZERO, "no spin by default");
    c.set_spin(MAX_SPIN).unwrap();
    assert_eq!(c.spin(), MAX_SPIN);
    assert!(matches!(
        c.set_spin(MAX_SPIN + Duration::from_nanos(1)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(c.spin(), MAX_SPIN, "a rejected spin leaves the old one");
    c.set_spin(Duration::ZERO).unwrap();
    assert_eq!(c.spin(), Duration::ZERO);
    log.close().unwrap();
    assert!(matches!(
        c.set_spin(Duration::from_micros(10)),
        Err(Error::Closed)
    ));
}

/// A reader that spins longer than the gaps between appends (so records land while it
/// polls) and one that spins shorter (so it also sleeps and is woken) both get every
/// record, in order, across segment rolls.
#[test]
fn spinning_cursor_tails_a_writer() {
    for (spin, gap) in [
        (Duration::from_millis(200), Duration::from_millis(2)),
        (Duration::from_micros(50), Duration::from_millis(2)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), small_opts()).unwrap());
        let n = 60u64;
        let mut c = log.cursor(StartAt::End).unwrap();
        c.set_spin(spin).unwrap();
        let reader = thread::spawn(move || {
            let mut expect = 1u64;
            while expect <= n {
                if !c.wait(Some(Duration::from_secs(5))).unwrap() {
                    panic!("spin {spin:?}: reader starved at id {expect}");
                }
                while let Some(r) = c.next().unwrap() {
                    assert_eq!(r.id, expect, "spin {spin:?}: order");
                    check_payload("spinning reader", r.id, len_of(r.id), r.data);
                    expect += 1;
                }
            }
            expect - 1
        });
        for id in 1..=n {
            if id % 10 == 0 {
                thread::sleep(gap);
            }
            assert_eq!(log.append(&payload(id, len_of(id))).unwrap(), id);
        }
        assert_eq!(reader.join().unwrap(), n, "spin {spin:?}");
        assert!(log.metrics().segments_sealed >= 1);
    }
}

/// The timeout bounds the spin: a cursor spinning up to a second returns `false` once its
/// 30 ms timeout has passed; one whose spin is shorter than the timeout sleeps out the rest.
#[test]
fn spinning_wait_honours_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    log.append(&payload(1, 10)).unwrap();
    let mut c = log.cursor(StartAt::End).unwrap();
    for spin in [MAX_SPIN, Duration::from_millis(5)] {
        c.set_spin(spin).unwrap();
        let timeout = Duration::from_millis(30);
        let t0 = Instant::now();
        assert!(
            !c.wait(Some(timeout)).unwrap(),
            "spin {spin:?}: nothing appended"
        );
        let took = t0.elapsed();
        assert!(took >= timeout, "spin {spin:?}: returned after {took:?}");
        assert!(
            took < Duration::from_millis(600),
            "spin {spin:?}: the timeout did not bound the wait ({took:?})"
        );
        assert!(c.next().unwrap().is_none());
    }
    // Zero still only checks, without spinning.
    let t0 = Instant::now();
    assert!(!c.wait(Some(Duration::ZERO)).unwrap());
    assert!(t0.elapsed() < Duration::from_millis(100));
}

/// Closing the log ends a wait that is still in its spin: within far less than the spin.
#[test]
fn close_interrupts_a_spinning_wait() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let mut c = log.cursor(StartAt::End).unwrap();
    c.set_spin(MAX_SPIN).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(c.wait(None).map_err(|e| e.to_string()));
    });
    thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    log.close().unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a spinning cursor.wait(None) was not ended by close within 5 s");
    assert_eq!(r, Err(Error::Closed.to_string()));
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "close ended the 1 s spin only after {took:?}"
    );
}

/// A cursor adds what it returned to the log's read counters in batches: every 1024
/// records, at the end of the visible records, and when dropped mid-scan; nothing is lost
/// or counted twice.
#[test]
fn cursor_reads_are_counted_in_batches_and_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let payload = [7u8; 10];
    for _ in 0..3000 {
        log.append(&payload).unwrap();
    }
    let base = log.metrics().reads;
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    for _ in 0..1500 {
        c.next().unwrap().unwrap();
    }
    // One batch of 1024 is in; the other 476 are held until the end or the drop.
    assert_eq!(log.metrics().reads - base, 1024);
    drop(c);
    let m = log.metrics();
    assert_eq!(m.reads - base, 1500);
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    while c.next().unwrap().is_some() {}
    assert_eq!(
        log.metrics().reads - base,
        1500 + 3000,
        "counted at the end"
    );
    assert_eq!(log.metrics().read_bytes - m.read_bytes, 3000 * 10);
    drop(c);
    assert_eq!(
        log.metrics().reads - base,
        1500 + 3000,
        "not counted twice on drop"
    );
}
