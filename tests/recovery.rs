//! Recovery of a torn or corrupt tail.
//!
//! A log is built with small segments (some sealed, an active one with several records),
//! flushed and closed; deleting `CLEAN` then makes the next open scan the tail as after a
//! crash. The image of the directory is kept in memory, and for each case one mutation is
//! applied to the active segment (the `*.seg` with the highest base id) in a fresh copy:
//! - zeroing every byte from offset X to the end (segments are pre-allocated, so a torn
//!   write leaves zeros, not a shorter file), for EVERY X inside the last record and a
//!   sample inside earlier records;
//! - `set_len(X)` for a sample of X;
//! - flipping single bytes: every byte of the last record, a sample of earlier ones, and
//!   garbage in the header slot just after the last record.
//!
//! The expected outcome is computed from the bytes: the intact prefix is the records (from
//! the active segment's base id on) whose framed bytes are unchanged, up to the first one
//! that is not. After open the log must hold exactly ids 1..=k with the exact payloads;
//! `recovery().repaired` must report the cut (segment, offset) exactly when non-zero bytes
//! were discarded; new appends get k + 1 and survive both a crash-style reopen (no discarded
//! record comes back) and a clean reopen.

mod common;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use aof::segment::format::{decode_record, framed_len, RecordError, HEADER_LEN};
use aof::{Error, Log, Options, StartAt};
use common::*;

fn opts() -> Options {
    small_opts()
}

/// A crash image of a log directory.
struct Image {
    files: Vec<(String, Vec<u8>)>,
    /// Payload of id i + 1.
    payloads: Vec<Vec<u8>>,
    active_name: String,
    active_base: u64,
    /// Offsets of the records of the active segment (ids active_base..=n), then the end of
    /// the last one.
    bounds: Vec<u64>,
}

impl Image {
    fn n(&self) -> u64 {
        self.payloads.len() as u64
    }
    fn active(&self) -> &[u8] {
        &self
            .files
            .iter()
            .find(|f| f.0 == self.active_name)
            .unwrap()
            .1
    }
    fn write_to(&self, dir: &Path, active: &[u8]) {
        for (name, bytes) in &self.files {
            let b = if *name == self.active_name {
                active
            } else {
                bytes
            };
            fs::write(dir.join(name), b).unwrap();
        }
    }
}

fn read_image(dir: &Path, payloads: Vec<Vec<u8>>) -> Image {
    let mut files = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            files.push((
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            ));
        }
    }
    let (active_base, active_path) = active_segment(dir);
    let active_name = active_path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let n = payloads.len() as u64;
    assert!(
        active_base <= n,
        "active segment base {active_base} > last id {n}"
    );
    let mut bounds = vec![HEADER_LEN];
    for id in active_base..=n {
        let last = *bounds.last().unwrap();
        bounds.push(last + framed_len(payloads[id as usize - 1].len() as u64));
    }
    let img = Image {
        files,
        payloads,
        active_name,
        active_base,
        bounds,
    };
    // The image must look as the format says: the records of the active segment at the
    // offsets computed from framed_len, then a zero header (pre-allocated space).
    let data = img.active();
    for (i, id) in (active_base..=n).enumerate() {
        let r = decode_record(data, img.bounds[i], id)
            .unwrap_or_else(|e| panic!("image: record {id} at {}: {e}", img.bounds[i]));
        assert_eq!(r.payload, img.payloads[id as usize - 1].as_slice());
    }
    let end = *img.bounds.last().unwrap();
    assert_eq!(
        decode_record(data, end, n + 1),
        Err(RecordError::Empty),
        "image: after the last record of the active segment the space must be zero \
         (pre-allocated); file is {} bytes",
        data.len()
    );
    img
}

/// Builds a log of a few sealed segments and an active one holding at least 8 records, the
/// last of which has 201 bytes, and returns its crash image (clean close, CLEAN deleted).
fn build_image(last_len: usize) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let mut payloads = Vec::new();
    {
        let log = Log::open(dir.path(), opts()).unwrap();
        let mut id = 1u64;
        loop {
            let segs = segment_files(dir.path());
            let (base, _) = *segs.last().unwrap_or(&(1, Default::default()));
            if segs.len() >= 3 && id >= base + 8 {
                break;
            }
            let p = payload(id, 100 + (id as usize * 7919) % 3000);
            assert_eq!(log.append(&p).unwrap(), id);
            payloads.push(p);
            id += 1;
        }
        let p = payload(id, last_len);
        assert_eq!(log.append(&p).unwrap(), id);
        payloads.push(p);
        log.flush().unwrap();
        assert!(log.metrics().segments_sealed >= 2);
        log.close().unwrap();
    }
    let clean = dir.path().join("CLEAN");
    assert!(clean.exists(), "a clean close must leave a CLEAN marker");
    fs::remove_file(&clean).unwrap();
    read_image(dir.path(), payloads)
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Zero every byte from this offset to the end; keep the length.
    ZeroFrom(u64),
    /// Cut the file to this length.
    SetLen(u64),
    /// XOR one byte with 0x5a.
    Flip(u64),
}

fn check_contents(what: &str, log: &Log, expected: &[Vec<u8>]) {
    let n = expected.len() as u64;
    assert_eq!(log.last_id(), n, "{what}: last_id");
    for id in 1..=n {
        let got = log
            .read(id)
            .unwrap_or_else(|e| panic!("{what}: read({id}): {e}"));
        assert!(
            got == expected[id as usize - 1],
            "{what}: read({id}) returned different bytes ({} vs {} expected)",
            got.len(),
            expected[id as usize - 1].len()
        );
    }
    assert!(
        matches!(log.read(n + 1), Err(Error::NotFound { .. })),
        "{what}: read({}) must be NotFound: a record beyond the intact prefix",
        n + 1
    );
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut want = 1u64;
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.id, want, "{what}: cursor order");
        assert!(
            want <= n,
            "{what}: cursor returned id {} beyond the intact prefix {n}",
            r.id
        );
        assert!(
            r.data == expected[want as usize - 1].as_slice(),
            "{what}: cursor payload of {want}"
        );
        want += 1;
    }
    assert_eq!(want, n + 1, "{what}: cursor stopped early");
}

/// Applies `damage`, opens, and checks everything. Returns the intact prefix.
fn run_case(img: &Image, damage: Damage) -> u64 {
    let what = format!("{damage:?}");
    let orig = img.active();
    let mut data = orig.to_vec();
    match damage {
        Damage::ZeroFrom(x) => data[x as usize..].fill(0),
        Damage::SetLen(x) => data.truncate(x as usize),
        Damage::Flip(x) => data[x as usize] ^= 0x5a,
    }
    // Expected outcome. Bytes cut off by set_len count as zeros: the engine may extend a
    // shortened pre-allocated segment again, and a record that lost only zero padding is
    // intact.
    let mut view = data.clone();
    view.resize(view.len().max(orig.len()), 0);
    let n = img.n();
    let mut k = img.active_base - 1;
    let mut cut = None;
    for (i, w) in img.bounds.windows(2).enumerate() {
        let (s, e) = (w[0] as usize, w[1] as usize);
        if view[s..e] == orig[s..e] {
            k = img.active_base + i as u64;
        } else {
            cut = Some(w[0]);
            break;
        }
    }
    let cut = cut.unwrap_or(*img.bounds.last().unwrap());
    let nonzero_after_cut = data[(cut as usize).min(data.len())..]
        .iter()
        .any(|&b| b != 0);
    // Only bytes the scanner must look at: everything of the first damaged record, or the
    // header slot after the last record.
    let expect_repair = if k < n {
        nonzero_after_cut
    } else {
        let c = cut as usize;
        data.len() > c && data[c..(c + 32).min(data.len())].iter().any(|&b| b != 0)
    };

    let dir = tempfile::tempdir().unwrap();
    img.write_to(dir.path(), &data);
    let mut expected: Vec<Vec<u8>> = img.payloads[..k as usize].to_vec();
    {
        let log = Log::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
        let rep = log.recovery().clone();
        let m = log.metrics();
        assert!(!rep.clean_shutdown, "{what}: no CLEAN marker: {rep:?}");
        assert_eq!(m.recovery_clean_shutdown, 0, "{what}");
        assert_eq!(
            rep.scanned_records,
            k + 1 - img.active_base,
            "{what}: records scanned in the active segment: {rep:?}"
        );
        assert_eq!(m.recovery_scanned_records, rep.scanned_records, "{what}");
        match (&rep.repaired, expect_repair) {
            (Some(r), true) => {
                assert_eq!(
                    r.segment.file_name().unwrap().to_str().unwrap(),
                    img.active_name,
                    "{what}: repaired segment: {rep:?}"
                );
                assert_eq!(r.offset, cut, "{what}: repaired offset: {rep:?}");
                assert!(
                    r.discarded_bytes > 0 && r.discarded_bytes <= data.len() as u64 - cut,
                    "{what}: discarded_bytes: {rep:?}"
                );
                assert!(
                    m.recovery_truncated_bytes > 0,
                    "{what}: recovery_truncated_bytes: {m:?}"
                );
            }
            (None, false) => assert_eq!(m.recovery_truncated_bytes, 0, "{what}: {m:?}"),
            (got, want) => panic!(
                "{what}: expected repaired {} at offset {cut} (intact prefix {k}), got {got:?}",
                if want { "Some" } else { "None" }
            ),
        }
        check_contents(&format!("{what}, after repair"), &log, &expected);

        // A new record takes k + 1. Same length as the discarded record k + 1 (if any) so
        // that it lines up with the old framing: stale records after it must stay dead.
        let len = img.payloads.get(k as usize).map_or(77, |p| p.len());
        let p = payload(0xABCD_0000 + k + 1, len);
        assert_eq!(log.append(&p).unwrap(), k + 1, "{what}: id after repair");
        expected.push(p);
        log.flush().unwrap();
        log.close().unwrap();
    }
    // Crash again (no CLEAN): the scan must find exactly 1..=k+1.
    fs::remove_file(dir.path().join("CLEAN")).unwrap();
    {
        let log = Log::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{what}: reopen 2: {e}"));
        assert!(!log.recovery().clean_shutdown);
        check_contents(
            &format!("{what}, crash-reopen after append"),
            &log,
            &expected,
        );
    }
    // Clean reopen.
    let log = Log::open(dir.path(), opts()).unwrap_or_else(|e| panic!("{what}: reopen 3: {e}"));
    let rep = log.recovery();
    assert!(rep.clean_shutdown, "{what}: {rep:?}");
    assert_eq!(rep.scanned_records, 0, "{what}: {rep:?}");
    check_contents(&format!("{what}, clean reopen"), &log, &expected);
    let v = log
        .verify()
        .unwrap_or_else(|e| panic!("{what}: verify: {e}"));
    assert_eq!(v.records, k + 1, "{what}: {v:?}");
    k
}

/// Runs every case, collecting failures so that one run reports all of them.
fn run_all(img: &Image, cases: &[Damage]) {
    let mut failures = Vec::new();
    for &d in cases {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run_case(img, d))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
            if failures.len() >= 20 {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (stopped after 20), first ones:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn zeroed_tail_at_every_offset_of_the_last_record() {
    let img = build_image(201);
    let b = &img.bounds;
    let (s, e) = (b[b.len() - 2], b[b.len() - 1]);
    let cases: Vec<Damage> = (s..e).map(Damage::ZeroFrom).collect();
    run_all(&img, &cases);
}

#[test]
fn flipped_byte_at_every_offset_of_the_last_record_and_after_it() {
    let img = build_image(201);
    let b = &img.bounds;
    let (s, e) = (b[b.len() - 2], b[b.len() - 1]);
    // Also garbage in the header slot after the last record.
    let cases: Vec<Damage> = (s..e + 32).map(Damage::Flip).collect();
    run_all(&img, &cases);
}

#[test]
fn zeroed_tail_and_flips_inside_earlier_records() {
    let img = build_image(201);
    let mut cases = Vec::new();
    for w in img.bounds.windows(2) {
        let (s, e) = (w[0], w[1]);
        for x in [
            s,
            s + 1,
            s + 8,
            s + 12,
            s + 16,
            s + 31,
            s + 32,
            (s + e) / 2,
            e - 1,
        ] {
            cases.push(Damage::ZeroFrom(x));
            cases.push(Damage::Flip(x));
        }
    }
    run_all(&img, &cases);
}

#[test]
fn shortened_active_segment() {
    let img = build_image(201);
    let mut cases = Vec::new();
    for w in img.bounds.windows(2) {
        let (s, e) = (w[0], w[1]);
        for x in [s, s + 1, s + 31, s + 32, s + 33, (s + e) / 2, e - 1] {
            cases.push(Damage::SetLen(x));
        }
    }
    let b = &img.bounds;
    let (s, e) = (b[b.len() - 2], b[b.len() - 1]);
    cases.extend((s..e).step_by(3).map(Damage::SetLen));
    // Cut exactly after the last record, and a little later (only zeros lost).
    cases.extend([
        Damage::SetLen(e),
        Damage::SetLen(e + 5),
        Damage::SetLen(e + 64),
    ]);
    run_all(&img, &cases);
}

#[test]
fn tail_repair_to_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), opts()).unwrap();
        log.append(&payload(1, 50)).unwrap();
        log.close().unwrap();
    }
    fs::remove_file(dir.path().join("CLEAN")).unwrap();
    let img = read_image(dir.path(), vec![payload(1, 50)]);
    assert_eq!(img.active_base, 1);
    let cases = [
        Damage::Flip(HEADER_LEN + 40),
        Damage::ZeroFrom(HEADER_LEN + 3),
        Damage::SetLen(HEADER_LEN + 20),
        Damage::ZeroFrom(HEADER_LEN),
    ];
    run_all(&img, &cases);
    assert_eq!(run_case(&img, Damage::Flip(HEADER_LEN + 1)), 0);
}

#[test]
fn clean_close_needs_no_scan() {
    let dir = tempfile::tempdir().unwrap();
    let n = 200u64;
    let len_of = |id: u64| size_for(id, 4000);
    {
        let log = Log::open(dir.path(), opts()).unwrap();
        assert!(log.recovery().clean_shutdown || log.recovery().segments == 0);
        for id in 1..=n {
            log.append(&payload(id, len_of(id))).unwrap();
        }
        assert!(log.metrics().segments_sealed >= 2);
        log.close().unwrap();
        log.close().unwrap(); // idempotent
    }
    assert!(dir.path().join("CLEAN").exists());
    let log = Log::open(dir.path(), opts()).unwrap();
    let rep = log.recovery().clone();
    assert!(rep.clean_shutdown, "{rep:?}");
    assert_eq!(rep.scanned_records, 0, "{rep:?}");
    assert!(rep.repaired.is_none(), "{rep:?}");
    assert_eq!(rep.segments, segment_files(dir.path()).len(), "{rep:?}");
    let m = log.metrics();
    assert_eq!(m.recovery_clean_shutdown, 1);
    assert_eq!(m.recovery_scanned_records, 0);
    assert_eq!(m.recovery_truncated_bytes, 0);
    assert_holds_exactly("clean reopen", &log, n, &len_of);
    // The marker is consumed: it must not survive while the log is open (a crash now must
    // lead to a scan).
    assert!(
        !dir.path().join("CLEAN").exists(),
        "CLEAN must be removed by open before any write"
    );
    assert_eq!(log.append(&payload(n + 1, 9)).unwrap(), n + 1);
}

/// A copy of the directory taken while the log is open (after `flush`) is a crash image:
/// the stale `LOCK` file must not make it Busy, and every flushed record is there.
#[test]
fn copy_of_an_open_log_recovers_every_flushed_record() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let n = 150u64;
    let len_of = |id: u64| size_for(id, 4000);
    let opts = Options {
        preallocate_at_percent: 0,
        ..opts()
    };
    let log = Log::open(dir.path(), opts.clone()).unwrap();
    for id in 1..=n {
        log.append(&payload(id, len_of(id))).unwrap();
    }
    log.flush().unwrap();
    copy_dir(dir.path(), copy.path());
    log.append(&payload(n + 1, 10)).unwrap();
    let c = Log::open(copy.path(), opts).unwrap();
    let rep = c.recovery().clone();
    assert!(!rep.clean_shutdown, "{rep:?}");
    assert!(rep.repaired.is_none(), "{rep:?}");
    assert!(rep.scanned_records > 0, "{rep:?}");
    assert_holds_exactly("copy of an open log", &c, n, &len_of);
    assert_eq!(c.append(&payload(n + 1, len_of(n + 1))).unwrap(), n + 1);
    drop(c);
    let c = Log::open(copy.path(), small_opts()).unwrap();
    assert_holds_exactly("copy, reopened", &c, n + 1, &len_of);
}

/// Damage inside a sealed segment is not a torn tail: open trusts the footer, but `verify`
/// and `read` of the damaged record must report `Corruption`, never return the bad bytes.
#[test]
fn corruption_in_a_sealed_segment_is_reported() {
    let img = build_image(201);
    let (first_name, first) = img
        .files
        .iter()
        .filter(|f| f.0.ends_with(".seg") && f.0 != img.active_name)
        .min_by_key(|f| f.0.clone())
        .unwrap();
    // Record 2 of the first segment: payload byte 40.
    let off = HEADER_LEN + framed_len(img.payloads[0].len() as u64) + 32 + 40;
    let dir = tempfile::tempdir().unwrap();
    img.write_to(dir.path(), img.active());
    let mut bad = first.clone();
    bad[off as usize] ^= 0x5a;
    fs::write(dir.path().join(first_name), &bad).unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    let v = log.verify();
    assert!(
        matches!(&v, Err(Error::Corruption { path, .. }) if path.file_name().unwrap().to_str() == Some(first_name.as_str())),
        "verify must report Corruption in {first_name}, got {v:?}"
    );
    let r = log.read(2);
    assert!(
        matches!(r, Err(Error::Corruption { .. })),
        "read of a damaged record must fail with Corruption, got {:?}",
        r.map(|d| d.len())
    );
    // Undamaged records still read.
    assert_eq!(log.read(1).unwrap(), img.payloads[0]);
    assert_eq!(
        log.read(img.n()).unwrap(),
        img.payloads[img.n() as usize - 1]
    );
}
