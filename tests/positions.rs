//! Byte positions: every record's position is the running sum of the payload lengths
//! before it (records of 0 bytes included), across many segment rolls (4 KiB segments),
//! after a clean reopen, in a crash image, after the catalogue is lost (rebuilt from the
//! files), after retention and `truncate_before` remove the oldest segments (and after the
//! files alone are removed); id → position → id round-trips;
//! cursors opened at any position start at the right record; the byte stream returns
//! exactly the concatenated payloads from any position, with any buffer size, and seeks
//! from the start, the current position and the end.

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use aof::{Error, FlushPolicy, Log, Options, Retention, StartAt, Visibility};
use common::*;

const MAX: usize = 1024;

fn opts() -> Options {
    Options {
        segment_size: 4096,
        max_record_size: Some(MAX as u64),
        flush: FlushPolicy::Async,
        ..Options::default()
    }
}

/// Payload length of record `id`: runs of two empty records, now and then a record of the
/// maximum size, otherwise varied.
fn len_of(id: u64) -> usize {
    match id % 17 {
        0 | 1 => 0,
        9 => MAX,
        _ => size_for(id, 700),
    }
}

/// What the log must hold: every record's payload and position, and all payloads in one.
#[derive(Default)]
struct Model {
    /// `(id, position, len)` of every record held, by id.
    records: Vec<(u64, u64, usize)>,
    /// Every payload held, concatenated; `bytes[0]` is at position `first_pos`.
    bytes: Vec<u8>,
    first_pos: u64,
}

impl Model {
    /// Appends records of 0 bytes until one lands in a new segment: the segment before
    /// then ends with records of 0 bytes and the new one starts with one, all at the same
    /// position.
    fn append_empty_until_roll(&mut self, log: &Log) {
        let segments = segment_files(log.path()).len();
        while segment_files(log.path()).len() == segments {
            let id = self.next_id();
            assert_eq!(log.append(b"").unwrap(), id);
            self.records.push((id, self.end(), 0));
        }
    }

    fn end(&self) -> u64 {
        self.first_pos + self.bytes.len() as u64
    }

    fn next_id(&self) -> u64 {
        self.records.last().map_or(1, |r| r.0 + 1)
    }

    fn append(&mut self, log: &Log, n: u64) {
        for _ in 0..n {
            let id = self.next_id();
            let data = payload(id, len_of(id));
            assert_eq!(log.append(&data).unwrap(), id);
            self.records.push((id, self.end(), data.len()));
            self.bytes.extend_from_slice(&data);
        }
    }

    fn record(&self, id: u64) -> (u64, u64, usize) {
        let first = self.records[0].0;
        self.records[(id - first) as usize]
    }

    /// The rule: the first record whose payload holds the byte at `pos`, or else the first
    /// starting at or after it; past every record, the next id.
    fn at_or_after(&self, pos: u64) -> u64 {
        self.records
            .iter()
            .find(|&&(_, p, len)| p >= pos || p + len as u64 > pos)
            .map_or(self.next_id(), |r| r.0)
    }

    /// Forgets the records before `id` (what removing segments does).
    fn drop_before(&mut self, id: u64) {
        let (_, pos, _) = self.record(id);
        self.bytes.drain(..(pos - self.first_pos) as usize);
        self.records.retain(|r| r.0 >= id);
        self.first_pos = pos;
    }
}

/// Deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Positions to probe: every record's start, last byte and one past it (so every record
/// boundary and every run of empty records), the ends, and random ones.
fn probes(m: &Model, rng: &mut Rng, random: usize) -> Vec<u64> {
    let mut out = vec![m.first_pos, m.end()];
    for &(_, p, len) in &m.records {
        out.extend([p, p + len as u64, (p + len as u64).saturating_sub(1)]);
    }
    out.extend((0..random).map(|_| m.first_pos + rng.below(m.bytes.len() as u64 + 1)));
    out.retain(|&p| p >= m.first_pos && p <= m.end());
    out
}

fn is_position_not_found(r: &aof::Result<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(Error::PositionNotFound { .. }))
}

fn is_position_truncated(r: &aof::Result<impl std::fmt::Debug>, first: u64) -> bool {
    matches!(r, Err(Error::PositionTruncated { first: f, .. }) if *f == first)
}

/// Everything positions promise, checked against the model.
fn check_positions(what: &str, log: &Log, m: &Model, rng: &mut Rng) {
    let last = m.next_id() - 1;
    assert_eq!(log.last_id(), last, "{what}");
    assert_eq!(
        log.position_range().unwrap(),
        m.first_pos..m.end(),
        "{what}"
    );

    // Positions are the running sum of payload lengths, from every way of reading.
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    for &(id, pos, len) in &m.records {
        let r = c.next().unwrap().unwrap();
        assert_eq!(
            (r.id, r.position, r.data.len()),
            (id, pos, len),
            "{what}: cursor"
        );
        let read = log.read_with(id, |r| (r.position, r.data.len())).unwrap();
        assert_eq!(read, (pos, len), "{what}: read_with({id})");
        assert_eq!(
            log.position_of(id).unwrap(),
            pos,
            "{what}: position_of({id})"
        );
    }
    assert!(c.next().unwrap().is_none());

    // id → position → id: exact for the first record at each position (every record but
    // those after records of 0 bytes at the same position, which give the first of them).
    let mut exact = 0;
    for &(id, pos, _) in &m.records {
        let back = log.id_at_position(pos).unwrap();
        assert_eq!(
            back,
            m.at_or_after(pos),
            "{what}: id_at_position({pos}) for id {id}"
        );
        let first_there = m.records.iter().find(|r| r.1 == pos).unwrap().0;
        assert_eq!(back, first_there, "{what}: id {id}");
        exact += u64::from(back == id);
    }
    let first_at_their_position = m
        .records
        .iter()
        .enumerate()
        .filter(|&(i, r)| i == 0 || m.records[i - 1].1 != r.1)
        .count() as u64;
    assert_eq!(exact, first_at_their_position, "{what}");
    assert!(
        exact > m.records.len() as u64 / 2,
        "{what}: most records round-trip"
    );

    // Every probe: the id, and a cursor opened there starts at it and goes on in order.
    for p in probes(m, rng, 200) {
        let want = m.at_or_after(p);
        assert_eq!(
            log.id_at_position(p).unwrap(),
            want,
            "{what}: id_at_position({p})"
        );
        let mut c = log.cursor(StartAt::Position(p)).unwrap();
        assert_eq!(c.position(), want, "{what}: cursor at position {p}");
        for id in want..(want + 3).min(last + 1) {
            let r = c.next().unwrap().unwrap();
            let (_, pos, len) = m.record(id);
            assert_eq!(
                (r.id, r.position, r.data.len()),
                (id, pos, len),
                "{what}: at {p}"
            );
            check_payload(what, id, len, r.data);
        }
    }

    // Outside the range of positions, and ids that are not there.
    assert!(
        is_position_not_found(&log.id_at_position(m.end() + 1)),
        "{what}"
    );
    assert!(
        is_position_not_found(&log.id_at_position(u64::MAX)),
        "{what}"
    );
    assert!(is_position_not_found(
        &log.cursor(StartAt::Position(m.end() + 1)).map(|_| ())
    ));
    assert!(
        is_position_not_found(&log.stream(m.end() + 1).map(|_| ())),
        "{what}"
    );
    if m.first_pos > 0 {
        let f = m.first_pos;
        for below in [0, f / 2, f - 1] {
            assert!(
                is_position_truncated(&log.id_at_position(below), f),
                "{what}"
            );
            assert!(is_position_truncated(&log.stream(below).map(|_| ()), f));
            let c = log.cursor(StartAt::Position(below)).map(|_| ());
            assert!(is_position_truncated(&c, f), "{what}");
        }
        let removed = m.records[0].0 - 1;
        assert!(
            matches!(log.position_of(removed), Err(Error::Truncated { .. })),
            "{what}: position_of({removed})"
        );
    }
    for bad in [0, last + 1] {
        assert!(
            matches!(log.position_of(bad), Err(Error::NotFound { .. })),
            "{what}: position_of({bad})"
        );
    }

    // The stream from random positions with random buffer sizes returns exactly the
    // payloads from there on.
    for k in 0..12 {
        let p = match k {
            0 => m.first_pos,
            1 => m.end(),
            _ => m.first_pos + rng.below(m.bytes.len() as u64 + 1),
        };
        let mut s = log.stream(p).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 3 * MAX];
        loop {
            let size = 1 + rng.below(buf.len() as u64) as usize;
            let n = s.read(&mut buf[..size]).unwrap();
            if n == 0 {
                break;
            }
            assert!(
                n == size || s.position() == m.end(),
                "{what}: short read inside"
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(s.position(), m.end(), "{what}");
        let want = &m.bytes[(p - m.first_pos) as usize..];
        assert!(
            got == want,
            "{what}: stream from {p}: {} bytes, want {}",
            got.len(),
            want.len()
        );
    }
}

fn remove_catalogue(dir: &Path) {
    for name in [".catalog.mdbx", ".catalog.mdbx-lck"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn positions_survive_rolls_reopen_a_crash_and_a_lost_catalogue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut rng = Rng(7);
    let mut m = Model::default();
    let log = Log::open(&dir, opts()).unwrap();
    for _ in 0..3 {
        m.append(&log, 500);
        m.append_empty_until_roll(&log);
    }
    let n = m.next_id() - 1;
    let segments = segment_files(&dir);
    assert!(segments.len() > 100, "{} segments", segments.len());
    check_positions("open", &log, &m, &mut rng);

    // A crash image: the directory copied while the log is open.
    log.flush().unwrap();
    let crash = tmp.path().join("crash");
    copy_dir(&dir, &crash);
    log.close().unwrap();
    drop(log);

    let log = Log::open(&dir, opts()).unwrap();
    assert!(log.recovery().clean_shutdown);
    check_positions("reopened", &log, &m, &mut rng);
    m.append(&log, 300);
    check_positions("appended after reopening", &log, &m, &mut rng);
    log.close().unwrap();
    drop(log);

    let crashed = Model {
        records: m.records[..n as usize].to_vec(),
        bytes: m.bytes[..m.records[n as usize].1 as usize].to_vec(),
        first_pos: 0,
    };
    let log = Log::open(&crash, opts()).unwrap();
    assert!(!log.recovery().clean_shutdown);
    check_positions("crash image", &log, &crashed, &mut rng);
    drop(log);

    // The catalogue lost: rebuilt from the files, with the same positions.
    remove_catalogue(&dir);
    let log = Log::open(&dir, opts()).unwrap();
    assert!(log.recovery().catalog_rebuilt);
    check_positions("catalogue rebuilt", &log, &m, &mut rng);
    m.append(&log, 100);
    check_positions("appended after the rebuild", &log, &m, &mut rng);
}

/// What retention does to the files (the oldest segments go, while the log is closed):
/// the records left keep their positions, which start where the first one left is.
#[test]
fn positions_survive_the_removal_of_the_oldest_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut rng = Rng(11);
    let mut m = Model::default();
    let log = Log::open(&dir, opts()).unwrap();
    m.append(&log, 600);
    log.close().unwrap();
    drop(log);

    let segments = segment_files(&dir);
    let keep_from = segments[segments.len() / 2].0;
    for (base, path) in &segments {
        if *base < keep_from {
            std::fs::remove_file(path).unwrap();
        }
    }
    m.drop_before(keep_from);
    assert!(m.first_pos > 0);
    let log = Log::open(&dir, opts()).unwrap();
    assert_eq!(
        log.recovery().entries_without_files.len(),
        segments.len() / 2
    );
    assert_eq!(log.cursor(StartAt::Oldest).unwrap().position(), keep_from);
    check_positions("oldest segments removed", &log, &m, &mut rng);
    m.append(&log, 200);
    check_positions("appended after the removal", &log, &m, &mut rng);
    // A stream cannot be moved before the oldest byte held.
    let mut s = log.stream(m.end()).unwrap();
    let err = s.seek(SeekFrom::Start(m.first_pos - 1)).unwrap_err();
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(
        matches!(inner, Some(Error::PositionTruncated { .. })),
        "{err:?}"
    );
    assert_eq!(s.position(), m.end(), "a failed seek leaves the position");
    s.seek(SeekFrom::Start(m.first_pos)).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all == m.bytes);
}

/// Retention and `truncate_before` remove the oldest segments while the log is open: the
/// records left keep their positions, also after a reopen and as retention by the options
/// goes on with the log; positions before them are `PositionTruncated`, ids `Truncated`; a
/// stream inside a removed segment reads on to its end.
#[test]
fn positions_survive_retention_and_truncate_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut rng = Rng(13);
    let mut m = Model::default();
    let log = Log::open(&dir, opts()).unwrap();
    m.append(&log, 600);
    log.flush().unwrap();
    let segments = segment_files(&dir);
    // A stream in the first segment, which is about to go, and where that segment ends.
    let first_segment_end = m.record(segments[1].0).1;
    let mut s = log.stream(1).unwrap();
    let mut head = vec![0u8; 10];
    s.read_exact(&mut head).unwrap();

    let cut = m.records[300].0;
    assert!(log.truncate_before(cut).unwrap() > 0);
    let (first, _) = log.bounds();
    assert!(first > segments[1].0 && first <= cut);
    m.drop_before(first);
    check_positions("after truncate_before", &log, &m, &mut rng);

    // The stream reads on to the end of the segment it is in; then its next record is gone.
    let mut rest = Vec::new();
    let err = s.read_to_end(&mut rest).unwrap_err();
    assert_eq!(rest.len() as u64, first_segment_end - 11, "{err:?}");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(matches!(inner, Some(Error::Truncated { .. })), "{err:?}");
    s.seek(SeekFrom::Start(m.first_pos)).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all == m.bytes);

    log.close().unwrap();
    drop(log);
    let options = Options {
        retention: Retention {
            max_segments: Some(6),
            ..Retention::default()
        },
        ..opts()
    };
    let log = Log::open(&dir, options).unwrap();
    // The background task applies the bounds from the start; this waits for it (one
    // removal at a time) and applies them in case it has not run yet.
    log.enforce_retention().unwrap();
    m.drop_before(log.bounds().0);
    check_positions("reopened after truncate_before", &log, &m, &mut rng);
    for round in 0..3 {
        m.append(&log, 200);
        log.flush().unwrap();
        log.enforce_retention().unwrap();
        let (first, _) = log.bounds();
        m.drop_before(first);
        assert!(segment_files(&dir).len() <= 7);
        check_positions(&format!("retention round {round}"), &log, &m, &mut rng);
    }
}

#[test]
fn stream_seeks_from_the_start_the_current_position_and_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(tmp.path(), opts()).unwrap();
    let mut m = Model::default();
    m.append(&log, 400);
    let end = m.end();
    let mut s = log.stream(0).unwrap();
    let mut buf = [0u8; 100];
    let mut read_at = |s: &mut aof::PayloadStream, at: u64| {
        let n = s.read(&mut buf).unwrap();
        let want = &m.bytes[at as usize..(at as usize + 100).min(m.bytes.len())];
        assert_eq!(&buf[..n], want, "read at {at}");
        n as u64
    };

    assert_eq!(s.seek(SeekFrom::Start(1000)).unwrap(), 1000);
    assert_eq!(read_at(&mut s, 1000), 100);
    assert_eq!(s.stream_position().unwrap(), 1100);
    assert_eq!(s.seek(SeekFrom::Current(-150)).unwrap(), 950);
    assert_eq!(read_at(&mut s, 950), 100);
    assert_eq!(s.seek(SeekFrom::Current(2000)).unwrap(), 3050);
    assert_eq!(read_at(&mut s, 3050), 100);
    assert_eq!(s.seek(SeekFrom::End(-40)).unwrap(), end - 40);
    assert_eq!(read_at(&mut s, end - 40), 40);
    assert_eq!(s.read(&mut [0u8; 10]).unwrap(), 0, "at the end");
    assert_eq!(s.seek(SeekFrom::End(0)).unwrap(), end);
    assert_eq!(s.read(&mut [0u8; 10]).unwrap(), 0);
    // Back inside the record just read, and to the start.
    assert_eq!(s.seek(SeekFrom::Current(-1)).unwrap(), end - 1);
    assert_eq!(read_at(&mut s, end - 1), 1);
    assert_eq!(s.seek(SeekFrom::Start(0)).unwrap(), 0);
    assert_eq!(read_at(&mut s, 0), 100);
    // Before the start: refused, the position unchanged.
    let err = s.seek(SeekFrom::Current(-101)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(s.seek(SeekFrom::End(-(end as i64) - 1)).is_err());
    assert_eq!(s.stream_position().unwrap(), 100);

    // Past the end is allowed, as in a file: nothing to read until the log grows there.
    assert_eq!(s.seek(SeekFrom::End(500)).unwrap(), end + 500);
    assert_eq!(s.read(&mut [0u8; 10]).unwrap(), 0);
    while m.end() < end + 600 {
        m.append(&log, 1);
    }
    log.flush().unwrap(); // written out: visible to readers opened before
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest == m.bytes[(end + 500) as usize..]);
    assert_eq!(s.position(), m.end());
}

/// A stream at the end returns 0 bytes, then what is appended later (a tail); a stream,
/// like a cursor, sees only visible records, and ends with `Closed` when the log closes.
#[test]
fn streams_tail_follow_visibility_and_end_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    // `Sync`: every append is written out before it returns, so visible at once to a
    // stream opened earlier.
    let options = Options {
        flush: FlushPolicy::Sync,
        ..opts()
    };
    let log = Log::open(tmp.path(), options).unwrap();
    let mut m = Model::default();
    let mut s = log.stream(0).unwrap();
    let mut buf = vec![0u8; 4 * MAX];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "an empty log");
    assert_eq!(log.position_range().unwrap(), 0..0);
    assert_eq!(
        log.id_at_position(0).unwrap(),
        1,
        "the id the next record gets"
    );
    let mut got = Vec::new();
    for round in 0..20 {
        m.append(&log, 1 + round % 4);
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == m.bytes, "round {round}");
    }
    log.close().unwrap();
    let err = s.read(&mut buf).unwrap_err();
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(matches!(inner, Some(Error::Closed)), "{err:?}");
    assert!(matches!(log.position_of(1), Err(Error::Closed)));
    assert!(matches!(log.id_at_position(0), Err(Error::Closed)));
    assert!(matches!(log.stream(0).map(|_| ()), Err(Error::Closed)));

    // Durable visibility: nothing past the durable id, in positions or in the stream.
    let tmp = tempfile::tempdir().unwrap();
    let options = Options {
        flush: FlushPolicy::Batched { records: 1_000_000 },
        visibility: Visibility::Durable,
        segment_size: SMALL_SEGMENT,
        ..opts()
    };
    let log = Log::open(tmp.path(), options).unwrap();
    let mut m = Model::default();
    m.append(&log, 30);
    assert_eq!(log.position_range().unwrap(), 0..0);
    let mut s = log.stream(0).unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    assert!(is_position_not_found(&log.id_at_position(1)));
    log.flush().unwrap();
    assert_eq!(log.position_range().unwrap(), 0..m.end());
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all == m.bytes);
}
