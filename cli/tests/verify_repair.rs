//! `aof verify` and `aof repair` against good and damaged logs.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The plain segment files of a log, in id order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Offset of the `n`-th record (from 0) of a segment whose records have these payloads.
fn record_offset(payloads: impl Iterator<Item = Vec<u8>>, n: usize) -> u64 {
    64 + payloads
        .take(n)
        .map(|p| 32 + (p.len() as u64).div_ceil(8) * 8)
        .sum::<u64>()
}

#[test]
fn verify_passes_a_good_log_and_names_a_damaged_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 300);
    assert!(log.compress_now().unwrap() >= 1);
    append(&log, 301, 500);
    log.close().unwrap();
    drop(log);
    let d = dir_str(dir.path());

    let out = run(&["verify", d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("500 records"), "{text}");
    assert!(text.contains("no damage"), "{text}");
    assert!(!text.contains(" 0 compressed"), "{text}");

    // Flip one payload byte of the third record of the oldest plain (sealed) segment.
    let files = segment_files(dir.path());
    assert!(files.len() >= 2, "{files:?}");
    let seg = &files[0];
    let base: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let at = record_offset((base..).map(payload), 2);
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[at as usize + 32] ^= 0x40;
    std::fs::write(seg, &bytes).unwrap();

    let out = run(&["verify", d]);
    assert_eq!(status(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("1 damaged range(s)"), "{text}");
    let range = format!("{} bytes {at}..", seg.display());
    assert!(text.contains(&range), "{range} in {text}");
    let ids = format!("records {}..={} unreadable", base + 2, base + 2);
    assert!(text.contains(&ids), "{ids} in {text}");
}

#[test]
fn verify_checks_compressed_files_and_reports_their_damage() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 200);
    assert!(log.compress_now().unwrap() >= 1);
    log.close().unwrap();
    drop(log);
    let zst = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(".seg.zst"))
        .unwrap();
    let mut bytes = std::fs::read(&zst).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&zst, &bytes).unwrap();
    let out = run(&["verify", dir_str(dir.path())]);
    assert_eq!(status(&out), 1);
    assert!(
        stdout(&out).contains(zst.to_str().unwrap()),
        "{}",
        stdout(&out)
    );
}

/// A closed log of `n` records whose last record is torn (a byte of it flipped) and whose
/// clean marker is gone, as a crash mid-write leaves it. Returns the torn record's offset.
fn torn_log(dir: &Path, n: u64) -> (PathBuf, u64) {
    closed_log(dir, n);
    std::fs::remove_file(dir.join("CLEAN")).unwrap();
    let seg = segment_files(dir).pop().unwrap();
    let base: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let at = record_offset((base..).map(payload), (n - base) as usize);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at as usize + 33] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    (seg, at)
}

#[test]
fn repair_cuts_a_torn_tail_after_asking() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, at) = torn_log(dir.path(), 100);
    let d = dir_str(dir.path());
    let torn_len = 32 + payload(100).len() as u64;

    // verify reports the torn tail of a closed log.
    let out = run(&["verify", d]);
    assert_eq!(status(&out), 1);
    assert!(
        stdout(&out).contains("records from 100 on unreadable"),
        "{}",
        stdout(&out)
    );

    // Declined: nothing changes.
    let before = std::fs::read(&seg).unwrap();
    let out = run_with_input(&["repair", d], "n\n");
    assert_eq!(status(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("from offset {at}: {torn_len} bytes")),
        "{text}"
    );
    assert!(text.contains("from record 100 on"), "{text}");
    assert!(text.contains("nothing changed"), "{text}");
    assert!(stderr(&out).contains("[y/N]"));
    assert_eq!(std::fs::read(&seg).unwrap(), before);

    // Accepted.
    let out = run_with_input(&["repair", d], "y\n");
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains(&format!("cut {torn_len} bytes")), "{text}");
    assert!(text.contains("ends at id 99"), "{text}");

    // The log opens cleanly, without anything left to cut.
    let log = aof::Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.recovery().repaired, None);
    assert_eq!(log.last_id(), 99);
    assert_eq!(log.read(99).unwrap(), payload(99));
    assert_eq!(log.append(b"after").unwrap(), 100);
    log.close().unwrap();
    drop(log);
    let out = run(&["verify", d]);
    assert_eq!(status(&out), 0);
    let out = run(&["repair", "--yes", d]);
    assert_eq!(status(&out), 0);
    assert!(
        stdout(&out).contains("nothing to repair"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn repair_yes_does_not_ask_and_a_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    torn_log(dir.path(), 60);
    let d = dir_str(dir.path());
    let out = run(&["repair", "--yes", d]);
    assert_eq!(status(&out), 0);
    assert!(!stderr(&out).contains("[y/N]"));
    let log = aof::Log::open(dir.path(), small()).unwrap();
    assert_eq!(log.last_id(), 59);

    // A writer holds the log: refused, whatever is asked.
    let out = run(&["repair", "--yes", d]);
    assert_eq!(status(&out), 4);
    assert!(
        stderr(&out).contains("open for writing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(log.append(b"still mine").unwrap(), 60);
    log.close().unwrap();
}
