//! Append benchmark for libaof, with naive baselines measured in the same run and the same
//! directory.
//!
//! ```text
//! cargo bench --bench aof_bench -- [--records N] [--quick] [--dir PATH]
//! ```
//!
//! For each record size (64 B, 1 KiB, 16 KiB), each flush policy (Sync, Async, Batched(100),
//! Batched(1000), Periodic(10 ms)) and 1 and 16 threads, it appends records to a fresh log
//! and prints records/s, MiB/s (payload), latency of each append call (p50/p99/p99.9, HDR
//! histogram, µs) and fdatasync calls per record. The wall time includes a final `flush()`,
//! so every row measures records made durable.
//!
//! Baselines write the same framed bytes (`encode_record`, one `write()` per record) to a
//! plain file: `write()` per record (plus one `fdatasync` at the end), and `write()` +
//! `fdatasync()` per record. With 16 threads they share one file behind a mutex.
//!
//! `--records N` is the count for 64 B records under the background policies; 1 KiB runs
//! use N/4 and 16 KiB runs N/64 (the same bytes), and every run that syncs each record
//! (Sync, write+fdatasync) uses N/50. Default N = 1000000 (about a minute on 2 cores),
//! `--quick` N = 200000 (about 15 s). About 6 GB are written with the default N.
//! The default directory is a temporary one under `./target/` (the same disk as the build).
//! Nothing here asserts on speed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aof::segment::format::{encode_record, framed_len};
use aof::{FlushPolicy, Log, Options};
use hdrhistogram::Histogram;

const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
const THREADS: [usize; 2] = [1, 16];

struct Args {
    records: u64,
    dir: Option<PathBuf>,
    quick: bool,
}

fn usage() -> ! {
    eprintln!("usage: cargo bench --bench aof_bench -- [--records N] [--quick] [--dir PATH]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut records = None;
    let mut dir = None;
    let mut quick = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--records" => {
                records = Some(
                    it.next()
                        .and_then(|v| v.replace('_', "").parse().ok())
                        .filter(|&n: &u64| n > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--dir" => dir = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            "--quick" => quick = true,
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other:?}");
                usage()
            }
        }
    }
    let records = records.unwrap_or(if quick { 200_000 } else { 1_000_000 });
    Args {
        records,
        dir,
        quick,
    }
}

#[derive(Clone, Copy)]
enum Case {
    Engine(FlushPolicy),
    /// `write()` per record, one fdatasync at the end.
    Write,
    /// `write()` + `fdatasync()` per record.
    WriteSync,
}

impl Case {
    fn name(&self) -> String {
        match self {
            Case::Engine(FlushPolicy::Sync) => "aof Sync".into(),
            Case::Engine(FlushPolicy::Async) => "aof Async".into(),
            Case::Engine(FlushPolicy::Batched { records }) => format!("aof Batched({records})"),
            Case::Engine(FlushPolicy::Periodic { interval }) => {
                format!("aof Periodic({} ms)", interval.as_millis())
            }
            Case::Engine(p) => format!("aof {p:?}"),
            Case::Write => "base write()".into(),
            Case::WriteSync => "base write()+fdatasync".into(),
        }
    }
    fn syncs_each_record(&self) -> bool {
        matches!(self, Case::Engine(FlushPolicy::Sync) | Case::WriteSync)
    }
}

struct Row {
    name: String,
    size: usize,
    threads: usize,
    records: u64,
    secs: f64,
    hist: Histogram<u64>,
    syncs: u64,
}

fn new_hist() -> Histogram<u64> {
    // 1 ns .. 10 min, 3 significant digits (a fixed range: saturating_record does not
    // resize an auto-resizing histogram).
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("histogram")
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn fill(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs `per_thread` operations on each of `threads` threads after a common start; returns
/// the merged latency histogram (ns) and the wall time from the start until all are done.
fn timed_threads(
    threads: usize,
    per_thread: u64,
    op: Arc<dyn Fn(usize) -> Box<dyn FnMut() + Send> + Send + Sync>,
) -> (Histogram<u64>, Instant) {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            let op = Arc::clone(&op);
            thread::spawn(move || {
                let mut f = op(t);
                let mut h = new_hist();
                barrier.wait();
                for _ in 0..per_thread {
                    let t0 = Instant::now();
                    f();
                    h.saturating_record(t0.elapsed().as_nanos() as u64);
                }
                h
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut hist = new_hist();
    for h in handles {
        hist.add(h.join().expect("bench thread"))
            .expect("merge histograms");
    }
    (hist, start)
}

fn run_engine(dir: &Path, policy: FlushPolicy, size: usize, threads: usize, records: u64) -> Row {
    let path = dir.join("log");
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    let opts = Options {
        flush: policy,
        ..Options::default()
    };
    let log = Arc::new(Log::open(&path, opts).expect("open log"));
    let per_thread = records / threads as u64;
    let before = log.metrics();
    let op: Arc<dyn Fn(usize) -> Box<dyn FnMut() + Send> + Send + Sync> = {
        let log = Arc::clone(&log);
        Arc::new(move |t| {
            let log = Arc::clone(&log);
            let data = fill(t as u64 + 1, size);
            Box::new(move || {
                log.append(&data).expect("append");
            })
        })
    };
    let (hist, start) = timed_threads(threads, per_thread, op);
    log.flush().expect("flush");
    let secs = start.elapsed().as_secs_f64();
    let after = log.metrics();
    let n = per_thread * threads as u64;
    assert_eq!(after.last_id, n, "every append took an id");
    log.close().expect("close");
    drop(log);
    let _ = std::fs::remove_dir_all(&path);
    Row {
        name: Case::Engine(policy).name(),
        size,
        threads,
        records: n,
        secs,
        hist,
        syncs: after.syncs - before.syncs,
    }
}

struct Naive {
    file: File,
    next_id: u64,
    buf: Vec<u8>,
}

fn run_baseline(dir: &Path, sync: bool, size: usize, threads: usize, records: u64) -> Row {
    let path = dir.join("baseline.dat");
    let _ = std::fs::remove_file(&path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    let shared = Arc::new(Mutex::new(Naive {
        file,
        next_id: 1,
        buf: Vec::with_capacity(framed_len(size as u64) as usize),
    }));
    let per_thread = records / threads as u64;
    let op: Arc<dyn Fn(usize) -> Box<dyn FnMut() + Send> + Send + Sync> = {
        let shared = Arc::clone(&shared);
        Arc::new(move |t| {
            let shared = Arc::clone(&shared);
            let data = fill(t as u64 + 1, size);
            Box::new(move || {
                let mut g = shared.lock().unwrap();
                let g = &mut *g;
                g.buf.clear();
                encode_record(&mut g.buf, g.next_id, now_us(), &data);
                g.next_id += 1;
                g.file.write_all(&g.buf).expect("write");
                if sync {
                    g.file.sync_data().expect("fdatasync");
                }
            })
        })
    };
    let (hist, start) = timed_threads(threads, per_thread, op);
    let n = per_thread * threads as u64;
    let mut syncs = if sync { n } else { 0 };
    if !sync {
        shared.lock().unwrap().file.sync_data().expect("fdatasync");
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(shared);
    let _ = std::fs::remove_file(&path);
    Row {
        name: if sync { Case::WriteSync } else { Case::Write }.name(),
        size,
        threads,
        records: n,
        secs,
        hist,
        syncs,
    }
}

fn run(dir: &Path, case: Case, size: usize, threads: usize, records: u64) -> Row {
    match case {
        Case::Engine(p) => run_engine(dir, p, size, threads, records),
        Case::Write => run_baseline(dir, false, size, threads, records),
        Case::WriteSync => run_baseline(dir, true, size, threads, records),
    }
}

/// p50 and p99 of fdatasync after a 4 KiB append, in µs.
fn probe_fdatasync(dir: &Path, n: usize) -> (f64, f64) {
    let path = dir.join("probe.dat");
    let mut f = File::create(&path).unwrap();
    let block = fill(7, 4096);
    let mut h = new_hist();
    for _ in 0..n {
        f.write_all(&block).unwrap();
        let t0 = Instant::now();
        f.sync_data().unwrap();
        h.saturating_record(t0.elapsed().as_nanos() as u64);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    (
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
    )
}

fn us(h: &Histogram<u64>, q: f64) -> String {
    let v = h.value_at_quantile(q) as f64 / 1e3;
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn print_header() {
    println!(
        "{:<24} {:>6} {:>4} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "case",
        "size",
        "thr",
        "records",
        "records/s",
        "MiB/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "syncs/rec"
    );
}

fn print_row(r: &Row) {
    let rate = r.records as f64 / r.secs;
    let mib = rate * r.size as f64 / (1 << 20) as f64;
    println!(
        "{:<24} {:>6} {:>4} {:>9} {:>11.0} {:>9.1} {:>9} {:>9} {:>9} {:>9.4}",
        r.name,
        r.size,
        r.threads,
        r.records,
        rate,
        mib,
        us(&r.hist, 0.5),
        us(&r.hist, 0.99),
        us(&r.hist, 0.999),
        r.syncs as f64 / r.records as f64
    );
}

fn main() {
    let args = parse_args();
    let base = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).expect("create --dir");
            d.clone()
        }
        None => {
            std::fs::create_dir_all("target").expect("create ./target");
            PathBuf::from("target")
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix("aof-bench-")
        .tempdir_in(&base)
        .expect("temporary directory");
    let dir = tmp.path();
    let started = Instant::now();

    // Warm up: the page cache, the allocator, the runtime, the disk.
    let _ = run_engine(dir, FlushPolicy::Async, 1024, 1, args.records.min(20_000));
    let _ = run_baseline(dir, true, 64, 1, 50);
    let (sync_p50, sync_p99) = probe_fdatasync(dir, if args.quick { 100 } else { 300 });

    let policies = [
        FlushPolicy::Sync,
        FlushPolicy::Async,
        FlushPolicy::Batched { records: 100 },
        FlushPolicy::Batched { records: 1000 },
        FlushPolicy::Periodic {
            interval: Duration::from_millis(10),
        },
    ];
    let mut cases = vec![Case::Write, Case::WriteSync];
    cases.extend(policies.into_iter().map(Case::Engine));

    println!(
        "aof_bench: {} cpus, {}; dir {}; N = {}{}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH,
        dir.display(),
        args.records,
        if args.quick { " (--quick)" } else { "" }
    );
    println!(
        "fdatasync after a 4 KiB append (measured now): p50 {sync_p50:.0} µs, p99 {sync_p99:.0} µs"
    );
    println!(
        "latency = one append call; records/s and MiB/s (payload) include a final flush; \
         aof uses default options (64 MiB segments)"
    );
    println!();
    print_header();
    for &size in &SIZES {
        for &threads in &THREADS {
            for &case in &cases {
                let mut n = match size {
                    64 => args.records,
                    1024 => args.records / 4,
                    _ => args.records / 64,
                };
                if case.syncs_each_record() {
                    n = args.records / 50;
                }
                let n = (n / threads as u64).max(1) * threads as u64;
                let row = run(dir, case, size, threads, n);
                print_row(&row);
            }
            println!();
        }
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
