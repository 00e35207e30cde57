//! Helpers shared by the integration tests.
//!
//! Payloads are deterministic and self-describing: `payload(key, len)` is a pure function of
//! its arguments, so a reader checks a record by regenerating it. Payloads of 16 bytes or
//! more also carry their key (bytes 0..8) and a checksum of the rest (bytes 8..16), so a
//! torn or misplaced payload can be diagnosed without a side table. Filler bytes are never
//! zero, so zeroing any payload byte changes the record.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aof::{FlushPolicy, Log, Options, StartAt, Visibility};

/// Small segments, so that tests roll quickly.
pub const SMALL_SEGMENT: u64 = 64 * 1024;
pub const SMALL_MAX_RECORD: u64 = 16 * 1024;

pub fn small_opts() -> Options {
    Options {
        segment_size: SMALL_SEGMENT,
        max_record_size: Some(SMALL_MAX_RECORD),
        ..Options::default()
    }
}

pub fn small_opts_with(flush: FlushPolicy, visibility: Visibility) -> Options {
    Options {
        flush,
        visibility,
        ..small_opts()
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The payload of `len` bytes for `key` (an id, or any caller-chosen key).
pub fn payload(key: u64, len: usize) -> Vec<u8> {
    let mut state = key.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (len as u64);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        for b in splitmix(&mut state).to_le_bytes() {
            if out.len() < len {
                out.push(b | 1);
            }
        }
    }
    if len >= 16 {
        out[0..8].copy_from_slice(&key.to_le_bytes());
        let sum = fnv1a(len as u64, &out[16..]);
        out[8..16].copy_from_slice(&sum.to_le_bytes());
    }
    out
}

/// The key a payload of 16 bytes or more carries, if its embedded checksum matches.
pub fn self_key(data: &[u8]) -> Option<u64> {
    if data.len() < 16 {
        return None;
    }
    let sum = u64::from_le_bytes(data[8..16].try_into().unwrap());
    if fnv1a(data.len() as u64, &data[16..]) != sum {
        return None;
    }
    Some(u64::from_le_bytes(data[0..8].try_into().unwrap()))
}

/// Panics with a useful message unless `data` is exactly `payload(key, expected_len)`.
pub fn check_payload(what: &str, key: u64, expected_len: usize, data: &[u8]) {
    if data.len() != expected_len {
        panic!(
            "{what}: payload of key {key} has {} bytes, expected {expected_len} \
             (embedded key: {:?})",
            data.len(),
            self_key(data)
        );
    }
    if data != payload(key, expected_len).as_slice() {
        let first_bad = data
            .iter()
            .zip(payload(key, expected_len))
            .position(|(a, b)| *a != b)
            .unwrap();
        panic!(
            "{what}: payload of key {key} ({expected_len} bytes) differs from byte {first_bad} \
             on (embedded key: {:?})",
            self_key(data)
        );
    }
}

/// A varied, deterministic payload length for `key`, at most `max`: mostly small (odd
/// sizes included), some medium, now and then exactly `max`.
pub fn size_for(key: u64, max: usize) -> usize {
    let mut s = key ^ 0x5151_5151;
    let r = splitmix(&mut s);
    let len = match r % 100 {
        0..=59 => (r >> 8) as usize % 300,
        60..=89 => (r >> 8) as usize % 4096,
        90..=97 => (r >> 8) as usize % max.max(1),
        _ => max,
    };
    len.min(max)
}

/// Segment files of a log directory, `(base id, path)`, by base id.
pub fn segment_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".seg") {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                out.push((stem.parse().unwrap(), e.path()));
            }
        }
    }
    out.sort();
    out
}

/// The active segment: the one with the highest base id.
pub fn active_segment(dir: &Path) -> (u64, PathBuf) {
    segment_files(dir)
        .pop()
        .expect("the log directory has no segment file")
}

/// Every record a cursor from `Oldest` returns, as `(id, payload)`.
pub fn scan(log: &Log) -> Vec<(u64, Vec<u8>)> {
    scan_from(log, StartAt::Oldest)
}

pub fn scan_from(log: &Log, start: StartAt) -> Vec<(u64, Vec<u8>)> {
    let mut c = log.cursor(start).unwrap();
    let mut out = Vec::new();
    while let Some(r) = c.next().unwrap() {
        out.push((r.id, r.data.to_vec()));
    }
    out
}

/// Checks that the log holds exactly ids 1..=n with `payload(id, len_of(id))`, both by
/// `read` and by a cursor from `Oldest`.
pub fn assert_holds_exactly(what: &str, log: &Log, n: u64, len_of: &dyn Fn(u64) -> usize) {
    assert_eq!(log.last_id(), n, "{what}: last_id");
    for id in 1..=n {
        let data = log
            .read(id)
            .unwrap_or_else(|e| panic!("{what}: read({id}) failed: {e}"));
        check_payload(&format!("{what}: read({id})"), id, len_of(id), &data);
    }
    assert!(
        matches!(log.read(n + 1), Err(aof::Error::NotFound { .. })),
        "{what}: read({}) past the end should be NotFound",
        n + 1
    );
    let rows = scan(log);
    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
    let want: Vec<u64> = (1..=n).collect();
    assert_eq!(ids, want, "{what}: ids a cursor from Oldest returns");
    for (id, data) in &rows {
        check_payload(&format!("{what}: cursor at {id}"), *id, len_of(*id), data);
    }
}

/// Copies the regular files of `src` into `dst` (created if missing).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `f` on a new thread and panics if it does not finish within `limit` (the thread is
/// left behind; the test fails either way).
pub fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {limit:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: the thread panicked (see its message above)")
        }
    }
}

/// A small deterministic generator (xorshift64*) for tests that draw sizes, offsets and
/// kill times from a seed, so a failing run can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
