//! aof's read-side workloads: hot sequential scan with a cursor, hot random read by id,
//! writer→tailing-reader latency, and open time after a clean close and after a crash
//! (the crash and the timed opens run in child processes: a process that exits without
//! closing is the only honest way to leave a log "crashed").

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Options, StartAt};

use crate::drive::{drive, Plan};
use crate::stats::{Lat, Policy, Rep};
use crate::util::{fill, fresh_dir, new_hist, Rng};

/// A fresh log in `path` holding `records` records of `size` bytes, flushed (Async).
pub fn aof_filled(path: &Path, size: usize, records: u64) -> Log {
    fresh_dir(path);
    let opts = Options {
        flush: FlushPolicy::Async,
        ..Options::default()
    };
    let log = Log::open(path, opts).expect("open aof log");
    let data = fill(11, size);
    let batch: Vec<&[u8]> = vec![&data; 64];
    let mut left = records;
    while left > 0 {
        let n = left.min(64) as usize;
        log.append_batch(&batch[..n]).expect("append");
        left -= n as u64;
    }
    log.flush().expect("flush");
    log
}

/// One pass of a cursor over the whole log, touching the last byte of every payload.
pub fn aof_scan_pass(log: &Log) -> Rep {
    let t0 = Instant::now();
    let mut c = log.cursor(StartAt::Oldest).expect("cursor");
    let (mut n, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    while let Some(r) = c.next().expect("cursor next") {
        n += 1;
        bytes += r.data.len() as u64;
        sum += u64::from(r.data.last().copied().unwrap_or(0));
    }
    black_box(sum);
    Rep {
        records: n,
        bytes,
        secs: t0.elapsed().as_secs_f64(),
        lat: None,
        syncs: None,
    }
}

/// Random reads by id (uniform over the log) with `read_with` (no copy), on `threads`
/// threads.
pub fn aof_read_rep(log: &Log, size: usize, threads: usize, plan: Plan) -> Rep {
    let last = log.last_id();
    let out = drive(
        threads,
        plan,
        |t| {
            let mut rng = Rng::new(t as u64 + 99);
            move |_i| {
                let id = 1 + rng.below(last);
                let b = log
                    .read_with(id, |r| r.data.last().copied().unwrap_or(0))
                    .expect("read");
                black_box(b);
            }
        },
        || {},
    );
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: None,
    }
}

/// Sets the calling thread's timer slack to 1 ns so short sleeps are not stretched by the
/// default 50 µs.
fn tight_timer_slack() {
    // SAFETY: prctl with plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
}

/// How long the cursor of the aof-spin tail cells busy-polls before it sleeps: longer than
/// the 100 µs between records, so the reader is polling when each one lands.
pub const TAIL_SPIN: Duration = Duration::from_millis(1);

/// `1 ms`, `250 µs`.
pub fn spin_label(spin: Duration) -> String {
    let us = spin.as_micros();
    if us.is_multiple_of(1000) {
        format!("{} ms", us / 1000)
    } else {
        format!("{us} µs")
    }
}

/// Writer→tailing-reader latency: one writer appends `count` records at one per
/// `interval` (open loop; a slow append delays the next, it never bursts to catch up),
/// stamping each payload with the time just before `append`; a reader blocked in
/// `Cursor::wait` records, per record, the time it got the record minus the stamp. The
/// reader's cursor busy-polls for `spin` before it sleeps (`Cursor::set_spin`; zero: it
/// sleeps at once).
pub fn aof_tail_rep(
    dir: &Path,
    policy: Policy,
    size: usize,
    count: u64,
    interval: Duration,
    spin: Duration,
) -> Rep {
    let path = dir.join("aof-tail");
    fresh_dir(&path);
    let opts = Options {
        flush: policy.to_aof(),
        ..Options::default()
    };
    let log = Log::open(&path, opts).expect("open aof log");
    crate::util::syncfs(dir);
    let base = Instant::now();
    let mut cursor = log.cursor(StartAt::End).expect("cursor");
    cursor.set_spin(spin).expect("cursor spin");
    let start = Instant::now();
    let hist = thread::scope(|s| {
        let reader = s.spawn(move || {
            tight_timer_slack();
            let mut h = new_hist();
            let mut seen = 0;
            while seen < count {
                while let Some(r) = cursor.next().expect("cursor next") {
                    let now = base.elapsed().as_nanos() as u64;
                    let stamp = u64::from_le_bytes(r.data[..8].try_into().expect("8 bytes"));
                    h.saturating_record(now.saturating_sub(stamp));
                    seen += 1;
                }
                if seen < count {
                    cursor
                        .wait(Some(Duration::from_millis(500)))
                        .expect("cursor wait");
                }
            }
            h
        });
        tight_timer_slack();
        let mut data = fill(5, size.max(8));
        let mut next = Instant::now();
        for _ in 0..count {
            next += interval;
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            } else {
                next = now;
            }
            let stamp = base.elapsed().as_nanos() as u64;
            data[..8].copy_from_slice(&stamp.to_le_bytes());
            log.append(&data).expect("append");
        }
        log.flush().expect("flush");
        reader.join().expect("reader thread")
    });
    let secs = start.elapsed().as_secs_f64();
    log.close().expect("close");
    drop(log);
    let _ = std::fs::remove_dir_all(&path);
    Rep {
        records: count,
        bytes: count * size as u64,
        secs,
        lat: Lat::of(&hist),
        syncs: None,
    }
}

// --- open time ----------------------------------------------------------------------

/// Child process: fills a fresh log with `records` records of `size` bytes, flushes, and
/// then closes it (`clean`) or exits without closing (`crash`: the records are durable,
/// but there is no clean-shutdown marker, so the next open scans the unsealed tail).
pub fn child_fill(dir: &Path, size: usize, records: u64, mode: &str) -> ! {
    let log = aof_filled(dir, size, records);
    if mode == "clean" {
        log.close().expect("close");
        std::process::exit(0);
    }
    // SAFETY: ends the process at once, without running destructors: a crash.
    unsafe { libc::_exit(0) }
}

/// Child process: times `Log::open`, prints it, then closes (`clean`, so the next open is
/// clean too) or exits without closing (`crash`, so the log stays crashed).
pub fn child_open(dir: &Path, mode: &str) -> ! {
    let t0 = Instant::now();
    let log = Log::open(dir, Options::default()).expect("open");
    let ns = t0.elapsed().as_nanos() as u64;
    let m = log.metrics();
    println!(
        "RESULT {}",
        serde_json::json!({
            "open_ns": ns,
            "records": m.last_id,
            "clean": log.recovery().clean_shutdown,
            "scanned": log.recovery().scanned_records,
            "segments": m.segment_count,
        })
    );
    if mode == "clean" {
        log.close().expect("close");
        std::process::exit(0);
    }
    // SAFETY: ends the process at once, without running destructors: a crash.
    unsafe { libc::_exit(0) }
}

/// Runs this binary as a child with `args`; returns the JSON after `RESULT ` on its
/// stdout, or the reason it failed.
pub fn run_child(
    args: &[String],
    envs: &[(&str, String)],
) -> Result<Vec<serde_json::Value>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    parse_results(&out)
}

pub fn parse_results(out: &std::process::Output) -> Result<Vec<serde_json::Value>, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(format!(
            "child exited with {}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).map_err(|e| format!("bad child output {j:?}: {e}")))
        .collect()
}

/// Open time of a log of `records` records after a clean close or a crash: one child
/// fills the log (`__fill`), then `reps + 1` children each time one open (`__open`; the
/// first is a warm-up). `engine` is `aof` or a peer. Returns the repetitions and what the
/// last open reported.
pub fn open_reps(
    engine: &str,
    dir: &Path,
    size: usize,
    records: u64,
    mode: &str,
    reps: usize,
) -> Result<(Vec<Rep>, serde_json::Value), String> {
    let path = dir.join(format!("{engine}-open-{mode}"));
    let p = path.display().to_string();
    // walrus finds its directory in the environment.
    let env = [
        ("WALRUS_DATA_DIR", p.clone()),
        ("WALRUS_QUIET", "1".to_string()),
    ];
    let common = |what: &str| {
        vec![
            what.to_string(),
            engine.to_string(),
            p.clone(),
            size.to_string(),
        ]
    };
    let result = (|| {
        let mut fill = common("__fill");
        fill.extend([records.to_string(), mode.to_string()]);
        run_child(&fill, &env)?;
        let mut out = Vec::new();
        let mut last = serde_json::Value::Null;
        for i in 0..=reps {
            let mut open = common("__open");
            open.push(mode.to_string());
            let r = run_child(&open, &env)?;
            let v = r.into_iter().next().ok_or("no result from open child")?;
            let ns = v["open_ns"].as_u64().unwrap_or(0);
            if i > 0 {
                out.push(open_rep(ns, v["records"].as_u64().unwrap_or(records), size));
            }
            last = v;
        }
        Ok((out, last))
    })();
    let _ = std::fs::remove_dir_all(&path);
    result
}

/// A repetition of an open-time cell: the time is the latency (one sample).
pub fn open_rep(ns: u64, records: u64, size: usize) -> Rep {
    Rep {
        records,
        bytes: records * size as u64,
        secs: ns as f64 / 1e9,
        lat: Some(Lat {
            p50: ns,
            p99: ns,
            p999: ns,
            max: ns,
            samples: 1,
        }),
        syncs: None,
    }
}
