//! Recovery of an arbitrary byte image: the input becomes the record area (up to the
//! footer slot) of the only segment of a log that was not closed cleanly. Opening it must never panic; when it
//! opens, every record a cursor returns is whole, ids are dense, verification passes, and
//! the log takes the next append, which survives a reopen. The only acceptable failure is
//! a `Corruption` error.
#![no_main]

use std::sync::OnceLock;

use aof::segment::format::{SegmentHeader, FORMAT_VERSION};
use aof::{Error, Log, Options, StartAt};
use libfuzzer_sys::fuzz_target;

const CAPACITY: u64 = 8192;

fn options() -> Options {
    Options {
        segment_size: CAPACITY,
        max_record_size: Some(2048),
        preallocate_at_percent: 0,
        ..Options::default()
    }
}

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        }
    })
    .path()
}

/// Keeps one log open so the shared runtime is not rebuilt for every input.
fn keep_runtime() {
    static KEEPER: OnceLock<Log> = OnceLock::new();
    KEEPER.get_or_init(|| Log::open(scratch().join("keeper"), options()).unwrap());
}

fuzz_target!(|data: &[u8]| {
    keep_runtime();
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        flags: 0,
        base_id: 1,
        capacity: CAPACITY,
        created_us: 0,
    };
    let mut image = header.encode().to_vec();
    image.extend_from_slice(&data[..data.len().min(CAPACITY as usize - 64)]);
    image.resize(CAPACITY as usize, 0);
    std::fs::write(dir.path().join("00000000000000000001.seg"), &image).unwrap();

    let log = match Log::open(dir.path(), options()) {
        Ok(log) => log,
        Err(Error::Corruption { .. }) => return,
        Err(e) => panic!("open failed with a non-corruption error: {e}"),
    };
    let last = log.last_id();
    let mut cursor = log.cursor(StartAt::Oldest).unwrap();
    let mut expected = 1;
    loop {
        match cursor.next() {
            Ok(Some(r)) => {
                assert_eq!(r.id, expected);
                expected += 1;
            }
            Ok(None) => break,
            Err(e) => panic!("cursor failed after recovery: {e}"),
        }
    }
    assert_eq!(expected, last + 1);
    // The footer slot is left zero, so the segment is the unsealed tail: after the cut
    // and the zeroing, everything in it must verify.
    log.verify().unwrap();
    assert_eq!(log.append(b"after recovery").unwrap(), last + 1);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(log.last_id(), last + 1);
    assert_eq!(log.read(last + 1).unwrap(), b"after recovery");
});
