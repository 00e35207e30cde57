//! Corruption detection: random bit flips and zeroed ranges anywhere in the segment files
//! of a closed log (headers, records, padding, slack, footers, the active tail) are all
//! detected by `verify_dir`, which names a damaged range covering every change; and the
//! log never hands out a damaged record: a read returns the exact bytes or `Corruption`.
//!
//! `AOF_CORRUPTION_TRIALS` sets the number of trials (default 400).

use std::path::Path;

use aof::{verify_dir, Error, Log, Options};

mod common;
use common::{copy_dir, segment_files, Rng};

fn payload(id: u64) -> Vec<u8> {
    let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let len = rng.below(700) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        max_record_size: Some(1024),
        ..Options::default()
    }
}

const RECORDS: u64 = 150;

fn build(dir: &Path) {
    let log = Log::open(dir, options()).unwrap();
    for id in 1..=RECORDS {
        assert_eq!(log.append(&payload(id)).unwrap(), id);
    }
    assert!(log.metrics().segments_sealed >= 3);
    log.close().unwrap();
}

#[test]
fn pristine_log_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let report = verify_dir(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(report.records, RECORDS);
    assert!(report.segments >= 4);
}

#[test]
fn every_flip_and_zeroed_range_is_detected() {
    let trials: u64 = std::env::var("AOF_CORRUPTION_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let pristine = tempfile::tempdir().unwrap();
    build(pristine.path());
    let files: Vec<_> = segment_files(pristine.path())
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let (mut flips, mut zeroings, mut unopenable, mut corrupt_reads) = (0u64, 0u64, 0u64, 0u64);
    let mut trial = 0;
    while trial < trials {
        let work = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), work.path());
        let which = rng.below(files.len() as u64) as usize;
        let path = work.path().join(files[which].file_name().unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        let (lo, hi) = if rng.below(2) == 0 {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            flips += 1;
            (at, at + 1)
        } else {
            let at = rng.below(bytes.len() as u64) as usize;
            let len = 1 + rng.below(2000) as usize;
            let end = (at + len).min(bytes.len());
            if bytes[at..end].iter().all(|&b| b == 0) {
                continue; // nothing changed
            }
            bytes[at..end].fill(0);
            zeroings += 1;
            (at, end)
        };
        trial += 1;
        std::fs::write(&path, &bytes).unwrap();

        let report = verify_dir(work.path()).unwrap();
        let covered = report.damage.iter().any(|d| {
            d.segment.file_name() == path.file_name()
                && (d.offset as usize) < hi
                && lo < (d.offset + d.len.max(1)) as usize
        });
        assert!(
            covered,
            "trial {trial}: change at {}:{lo}..{hi} not reported; damage: {:?}",
            path.display(),
            report.damage
        );

        // The log never hands out a damaged record.
        match Log::open(work.path(), options()) {
            Err(Error::Corruption { .. }) => unopenable += 1,
            Err(e) => panic!("trial {trial}: open failed with {e}"),
            Ok(log) => {
                let mut refused = 0;
                for id in 1..=log.last_id() {
                    match log.read(id) {
                        Ok(data) => assert_eq!(data, payload(id), "trial {trial}: record {id}"),
                        Err(Error::Corruption { .. }) => refused += 1,
                        Err(e) => panic!("trial {trial}: read {id}: {e}"),
                    }
                }
                if refused > 0 {
                    // The online check finds what the reads found.
                    let err = log.verify().unwrap_err();
                    assert!(
                        matches!(err, Error::Corruption { .. }),
                        "trial {trial}: {err}"
                    );
                }
                corrupt_reads += refused;
            }
        }
    }
    println!(
        "corruption: {trials} trials ({flips} bit flips, {zeroings} zeroed ranges), all \
         detected by verify; {unopenable} refused at open, {corrupt_reads} reads refused"
    );
}
