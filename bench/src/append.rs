//! Append workloads of aof and of the raw baselines.
//!
//! Every repetition starts from a fresh log (or file) in its own directory and ends with
//! the data durable: the wall time includes aof's final `flush()`, or the baseline's last
//! `fdatasync`. Payloads are incompressible bytes, one buffer per thread.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use aof::{Log, Options};

use crate::drive::{drive, Plan};
use crate::stats::{Lat, Policy, Rep};
use crate::util::{fdatasync, fill, fresh_dir, preallocated_file, remove_dir, syncfs};

/// aof with default options (64 MiB segments, pre-allocation at 50 %, latency histograms
/// on) and `policy`; `histograms: false` turns the log's HDR histograms off (the
/// `aof-nohist` cells: what recording them costs).
pub fn aof_rep(
    dir: &Path,
    policy: Policy,
    size: usize,
    threads: usize,
    plan: Plan,
    histograms: bool,
) -> Rep {
    let path = dir.join("aof");
    fresh_dir(&path);
    let opts = Options {
        flush: policy.to_aof(),
        histograms,
        ..Options::default()
    };
    let log = Log::open(&path, opts).expect("open aof log");
    syncfs(dir);
    let before = log.metrics();
    let out = drive(
        threads,
        plan,
        |t| {
            let data = fill(t as u64 + 1, size);
            let log = &log;
            move |_i| {
                log.append(&data).expect("aof append");
            }
        },
        || log.flush().expect("aof flush"),
    );
    let after = log.metrics();
    assert_eq!(
        after.appends - before.appends,
        out.ops,
        "every append counted"
    );
    log.close().expect("aof close");
    drop(log);
    remove_dir(&path);
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: Some(after.syncs - before.syncs),
    }
}

/// Bytes to pre-allocate for a baseline file: what the plan will write, or 256 MiB for a
/// timed (warm-up) run, which may grow the file past that.
fn prealloc_bytes(plan: &Plan, threads: usize, size: usize) -> u64 {
    match plan.per_thread {
        Some(n) => n * threads as u64 * size as u64,
        None => 256 << 20,
    }
}

/// `pwrite` of each record's payload at the end of a pre-allocated file (threads reserve
/// their offset with an atomic add, so they never wait for each other in user space),
/// with an `fdatasync` after every `sync_every`-th record (counted over all threads), and
/// always one at the end.
pub fn raw_write_rep(
    dir: &Path,
    size: usize,
    threads: usize,
    sync_every: Option<u64>,
    plan: Plan,
) -> Rep {
    let path = dir.join("raw.dat");
    let f = preallocated_file(&path, prealloc_bytes(&plan, threads, size));
    syncfs(dir);
    let offset = AtomicU64::new(0);
    let count = AtomicU64::new(0);
    let syncs = AtomicU64::new(0);
    let out = drive(
        threads,
        plan,
        |t| {
            let data = fill(t as u64 + 1, size);
            let (f, offset, count, syncs) = (&f, &offset, &count, &syncs);
            move |_i| {
                let at = offset.fetch_add(data.len() as u64, Relaxed);
                f.write_all_at(&data, at).expect("pwrite");
                if let Some(k) = sync_every {
                    if (count.fetch_add(1, Relaxed) + 1) % k == 0 {
                        fdatasync(f);
                        syncs.fetch_add(1, Relaxed);
                    }
                }
            }
        },
        || {
            fdatasync(&f);
            syncs.fetch_add(1, Relaxed);
        },
    );
    drop(f);
    let _ = std::fs::remove_file(&path);
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: Some(syncs.load(Relaxed)),
    }
}

/// Raw sequential bandwidth: the same number of payload bytes written with 1 MiB `pwrite`
/// calls into a pre-allocated file, then one `fdatasync`. One thread. Records are counted
/// as the equivalent number of `size`-byte payloads; latency is per 1 MiB call.
pub fn raw_seq_rep(dir: &Path, size: usize, plan: Plan) -> Rep {
    const CHUNK: usize = 1 << 20;
    let path = dir.join("rawseq.dat");
    let chunk_plan = Plan {
        per_thread: plan
            .per_thread
            .map(|n| (n * size as u64).div_ceil(CHUNK as u64)),
        sample_every: 1,
        ..plan
    };
    let f = preallocated_file(&path, prealloc_bytes(&chunk_plan, 1, CHUNK));
    syncfs(dir);
    let out = drive(
        1,
        chunk_plan,
        |_| {
            let data = fill(3, CHUNK);
            let f = &f;
            move |i: u64| f.write_all_at(&data, i * CHUNK as u64).expect("pwrite")
        },
        || fdatasync(&f),
    );
    drop(f);
    let _ = std::fs::remove_file(&path);
    let bytes = out.ops * CHUNK as u64;
    Rep {
        records: bytes / size as u64,
        bytes,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: Some(1),
    }
}
