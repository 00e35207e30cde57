//! Helpers of the `aof` tool's tests: logs made with the library, the binary run on them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use aof::{Log, Options};

/// The `aof` binary cargo built for these tests.
pub const AOF: &str = env!("CARGO_BIN_EXE_aof");

/// Small segments, so a few hundred records make several of them.
pub fn small() -> Options {
    Options {
        segment_size: 8192,
        max_record_size: Some(1024),
        ..Options::default()
    }
}

/// The payload of record `id`: text for some, binary for others, of varied lengths.
pub fn payload(id: u64) -> Vec<u8> {
    if id.is_multiple_of(3) {
        (0..(id * 7 % 200) as u8)
            .map(|b| b.wrapping_mul(31))
            .collect()
    } else {
        format!("record {id} {}", "x".repeat((id % 50) as usize)).into_bytes()
    }
}

/// Appends records `from..=to` (payloads by `payload`).
pub fn append(log: &Log, from: u64, to: u64) {
    for id in from..=to {
        assert_eq!(log.append(&payload(id)).unwrap(), id);
    }
}

/// A closed log of `n` records in `dir`.
pub fn closed_log(dir: &Path, n: u64) {
    let log = Log::open(dir, small()).unwrap();
    append(&log, 1, n);
    log.close().unwrap();
}

/// Byte position of record `id` (the payloads before it).
pub fn position(id: u64) -> u64 {
    (1..id).map(|i| payload(i).len() as u64).sum()
}

/// Runs `aof args...` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(AOF)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run aof")
}

/// Runs `aof args...` with `input` on its standard input.
pub fn run_with_input(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(AOF)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aof");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status, with the output shown if the test fails on it.
pub fn status(o: &Output) -> i32 {
    let code = o.status.code().unwrap_or(-1);
    eprintln!(
        "aof exited {code}\n--- stdout\n{}--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
    code
}

pub fn dir_str(dir: &Path) -> &str {
    dir.to_str().unwrap()
}
