//! The manager cell: 1,000 new logs opened by name under one manager, the manager closed
//! (which closes them all), then all 1,000 reopened after that clean close. Each
//! repetition runs in two fresh child processes (`__manager new`, `__manager reopen`), so
//! that their resident memory says what the logs cost and nothing else: the private
//! memory (`RssAnon`) and the mapped page cache (`RssFile`, shared and reclaimable) that
//! 1,000 idle logs add, their file descriptors, and the process's peak thread count.
//!
//! The logs have the default options but 1 MiB segments (1,000 × the default 64 MiB
//! would pre-allocate 64 GB), and get one 100-byte record each between open and close.

use std::path::Path;
use std::time::Instant;

use aof::{Manager, ManagerOptions, Options};
use serde_json::{json, Value};

use crate::readers::run_child;
use crate::stats::{Lat, Rep};
use crate::util;

pub const LOGS: usize = 1000;
/// What the `new` and the `reopen` child of one repetition printed.
pub type Results = (Value, Value);
pub const SEGMENT: u64 = 1 << 20;

fn options() -> Options {
    Options {
        segment_size: SEGMENT,
        ..Options::default()
    }
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// `(RssAnon, RssFile)` in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (kib("RssAnon:"), kib("RssFile:"))
}

/// Open files: 1,000 logs hold a few thousand descriptors.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit; the new soft limit is the hard one.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn name(i: usize) -> String {
    format!("topic-{i}")
}

/// Opens `LOGS` logs under `m`; returns the time, what the logs added to the process
/// (private KiB, mapped KiB, descriptors, each per log), and the logs.
fn open_all(m: &Manager) -> (f64, (f64, f64, f64), Vec<aof::Log>) {
    let (fds0, (anon0, file0)) = (count("/proc/self/fd"), rss_kib());
    let t0 = Instant::now();
    let logs: Vec<aof::Log> = (0..LOGS)
        .map(|i| m.open_log(&name(i), options()).expect("open log"))
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let (fds1, (anon1, file1)) = (count("/proc/self/fd"), rss_kib());
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / LOGS as f64;
    let cost = (
        per(anon1, anon0),
        per(file1, file0),
        per(fds1 as u64, fds0 as u64),
    );
    (secs, cost, logs)
}

/// Child process, `mode` `new`: opens `LOGS` new logs under a manager on a fresh `root`,
/// appends a record to each, closes the manager. `reopen`: reopens the manager and every
/// log after that clean close, then closes. Prints `RESULT {json}`: the times, what the
/// logs added to this process (so the reopen measures idle logs in a process that never
/// held others), and the peak thread count.
pub fn child(mode: &str, root: &Path) -> ! {
    raise_nofile();
    let threads_before = count("/proc/self/task");
    let mopts = ManagerOptions::default();
    let t0 = Instant::now();
    let m = Manager::open(root, mopts.clone()).expect("open manager");
    let open_manager_s = t0.elapsed().as_secs_f64();
    let (open_s, (anon_kib, file_kib, fds), logs) = open_all(&m);
    let mut threads_peak = count("/proc/self/task");
    if mode == "new" {
        for log in &logs {
            log.append(&[7u8; 100]).expect("append");
        }
    } else {
        let clean = logs
            .iter()
            .all(|l| l.recovery().clean_shutdown && l.last_id() == 1);
        assert!(clean, "every log reopens clean with its record");
    }
    threads_peak = threads_peak.max(count("/proc/self/task"));
    let t0 = Instant::now();
    m.close().expect("close manager");
    drop(logs);
    drop(m);
    let close_s = t0.elapsed().as_secs_f64();
    println!(
        "RESULT {}",
        json!({
            "logs": LOGS,
            "open_s": open_s + open_manager_s,
            "close_s": close_s,
            "anon_kib": anon_kib, "file_kib": file_kib, "fds": fds,
            "threads_before": threads_before, "threads_peak": threads_peak,
            "workers": mopts.worker_threads, "max_blocking": mopts.max_blocking_threads,
        })
    );
    std::process::exit(0)
}

/// `reps + 1` repetitions (the first a warm-up), each a `new` then a `reopen` child on a
/// fresh root under `dir`. Returns one `Rep` per measured repetition (the clean reopen of
/// every log: records = logs, latency = time per log) and the children's results,
/// `(new, reopen)`.
pub fn reps(dir: &Path, reps: usize) -> Result<(Vec<Rep>, Vec<Results>), String> {
    let mut out = Vec::new();
    let mut results = Vec::new();
    for i in 0..=reps {
        let root = dir.join(format!("manager-{i}"));
        let run = |mode: &str| -> Result<Value, String> {
            util::syncfs(dir);
            let args = [
                "__manager".to_string(),
                mode.to_string(),
                root.display().to_string(),
            ];
            let v = run_child(&args, &[])?.into_iter().next();
            v.ok_or_else(|| format!("no result from the manager child ({mode})"))
        };
        let both = run("new").and_then(|new| Ok((new, run("reopen")?)));
        util::remove_dir(&root);
        let (new, reopen) = both?;
        if i == 0 {
            continue;
        }
        let secs = reopen["open_s"].as_f64().unwrap_or(f64::NAN);
        let per_log = (secs / LOGS as f64 * 1e9) as u64;
        out.push(Rep {
            records: LOGS as u64,
            bytes: 0,
            secs,
            lat: Some(Lat {
                p50: per_log,
                p99: per_log,
                p999: per_log,
                max: per_log,
                samples: 1,
            }),
            syncs: None,
        });
        results.push((new, reopen));
    }
    Ok((out, results))
}

/// The note of the cell: medians over the repetitions.
pub fn note(results: &[Results]) -> String {
    let med = |which: usize, k: &str| {
        let v: Vec<f64> = results
            .iter()
            .map(|r| if which == 0 { &r.0 } else { &r.1 })
            .map(|v| v[k].as_f64().unwrap_or(f64::NAN))
            .collect();
        util::median(&v)
    };
    let (new, reopen) = (0, 1);
    let peak = med(new, "threads_peak").max(med(reopen, "threads_peak"));
    format!(
        "new: open {:.0} ms ({:.0} µs/log), close {:.0} ms; clean reopen: open {:.0} ms \
         ({:.0} µs/log), close {:.0} ms; an idle log: {:.1} KiB private + {:.1} KiB mapped \
         page cache, {:.1} fds (new: {:.1} KiB + {:.1} KiB, {:.1} fds); threads: {:.0} before, \
         peak {:.0} ({:.0} workers + <= {:.0} blocking); {} MiB segments",
        med(new, "open_s") * 1e3,
        med(new, "open_s") * 1e6 / LOGS as f64,
        med(new, "close_s") * 1e3,
        med(reopen, "open_s") * 1e3,
        med(reopen, "open_s") * 1e6 / LOGS as f64,
        med(reopen, "close_s") * 1e3,
        med(reopen, "anon_kib"),
        med(reopen, "file_kib"),
        med(reopen, "fds"),
        med(new, "anon_kib"),
        med(new, "file_kib"),
        med(new, "fds"),
        med(new, "threads_before"),
        peak,
        med(new, "workers"),
        med(new, "max_blocking"),
        SEGMENT >> 20,
    )
}
