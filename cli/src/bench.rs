//! `aof bench`: a small benchmark matrix of the library on this machine's disk.
//!
//! Appends of 64 B and 1 KiB records under `Sync` (1 and 16 threads) and `Batched(1000)`
//! (1 and 16 threads), next to a raw baseline measured in the same run: one `pwrite` and
//! one `fdatasync` per record on a pre-written file, which is what a `Sync` append of one
//! thread cannot beat. Then reads: a cursor scan of the log the batched case wrote. The
//! full harness with peer engines is bench/ (`make bench`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Options, StartAt};
use clap::Args;

use crate::{exit, fmt};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Short runs (about 5 s in all instead of about 30 s)
    #[arg(long)]
    pub quick: bool,
    /// Seconds per case (default 2; 0.3 with --quick)
    #[arg(long, value_name = "SECONDS")]
    pub seconds: Option<f64>,
    /// Directory for the logs (default: a new directory under the temporary directory;
    /// removed afterwards). Benchmark the disk you care about
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The most operations a case records latencies for (bounds its memory).
const MAX_OPS: usize = 4_000_000;

/// One line of the table.
struct Outcome {
    case: String,
    size: usize,
    threads: usize,
    ops: u64,
    elapsed: Duration,
    /// Latencies in nanoseconds, sorted (empty for reads).
    latencies: Vec<u64>,
}

pub fn run(a: &BenchArgs) -> u8 {
    let secs = a.seconds.unwrap_or(if a.quick { 0.3 } else { 2.0 });
    if !(secs > 0.0 && secs <= 3600.0) {
        eprintln!("aof: --seconds must be in (0, 3600]");
        return exit::USAGE;
    }
    let per_case = Duration::from_secs_f64(secs);
    let parent = a.dir.clone().unwrap_or_else(std::env::temp_dir);
    let root = parent.join(format!("aof-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!("aof: create {}: {e}", root.display());
        return exit::FAILED;
    }
    println!(
        "aof bench: {} per case, logs in {}",
        fmt::duration(per_case),
        root.display()
    );
    let result = matrix(&root, per_case);
    let _ = std::fs::remove_dir_all(&root);
    match result {
        Ok(rows) => {
            print_table(&rows);
            exit::OK
        }
        Err(e) => {
            eprintln!("aof: bench: {e}");
            exit::FAILED
        }
    }
}

fn matrix(root: &Path, per_case: Duration) -> Result<Vec<Outcome>, String> {
    let mut rows = Vec::new();
    let batched = FlushPolicy::Batched { records: 1000 };
    for size in [64usize, 1024] {
        rows.push(raw_baseline(
            &root.join(format!("raw-{size}")),
            size,
            per_case,
        )?);
        for (name, policy, threads) in [
            ("Sync", FlushPolicy::Sync, 1),
            ("Sync", FlushPolicy::Sync, 16),
            ("Batched(1000)", batched, 16),
            ("Batched(1000)", batched, 1),
        ] {
            let dir = root.join(format!("{name}-{size}-{threads}"));
            rows.push(appends(&dir, name, policy, size, threads, per_case)?);
            if threads == 1 && policy == batched {
                rows.push(scan(&dir, size)?);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        eprintln!("aof bench: {size} B done");
    }
    Ok(rows)
}

/// One `pwrite` and one `fdatasync` per record, on a file written with zeros first.
fn raw_baseline(path: &Path, size: usize, per_case: Duration) -> Result<Outcome, String> {
    const FILE_LEN: u64 = 64 << 20;
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    let zeros = vec![0u8; 1 << 20];
    for i in 0..FILE_LEN >> 20 {
        file.write_all_at(&zeros, i << 20).map_err(err)?;
    }
    file.sync_all().map_err(err)?;
    // Framed like a record of the log: a 32-byte header, the payload, padding to 8.
    let record = vec![0x5au8; 32 + size.div_ceil(8) * 8];
    let mut latencies = Vec::new();
    let mut offset = 0u64;
    let start = Instant::now();
    while start.elapsed() < per_case && latencies.len() < MAX_OPS {
        let t = Instant::now();
        file.write_all_at(&record, offset).map_err(err)?;
        file.sync_data().map_err(err)?;
        latencies.push(t.elapsed().as_nanos() as u64);
        offset = (offset + record.len() as u64) % (FILE_LEN - record.len() as u64);
    }
    let elapsed = start.elapsed();
    drop(file);
    let _ = std::fs::remove_file(path);
    latencies.sort_unstable();
    Ok(Outcome {
        case: "raw write+fdatasync".into(),
        size,
        threads: 1,
        ops: latencies.len() as u64,
        elapsed,
        latencies,
    })
}

/// Appends from `threads` threads for `per_case`, each append timed.
fn appends(
    dir: &Path,
    name: &str,
    flush: FlushPolicy,
    size: usize,
    threads: usize,
    per_case: Duration,
) -> Result<Outcome, String> {
    let options = Options {
        flush,
        ..Options::default()
    };
    let log = Log::open(dir, options).map_err(|e| e.to_string())?;
    let payload = vec![0xa5u8; size];
    let start = Instant::now();
    let per_thread = MAX_OPS / threads;
    let results: Vec<Result<Vec<u64>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::new();
                    while start.elapsed() < per_case && lat.len() < per_thread {
                        let t = Instant::now();
                        log.append(&payload).map_err(|e| e.to_string())?;
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    // Everything appended is made durable before the clock stops.
    log.flush().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    log.close().map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    for r in results {
        latencies.extend(r?);
    }
    latencies.sort_unstable();
    Ok(Outcome {
        case: format!("append {name}"),
        size,
        threads,
        ops: latencies.len() as u64,
        elapsed,
        latencies,
    })
}

/// A cursor scan of the log in `dir`, from the oldest record to the newest.
fn scan(dir: &Path, size: usize) -> Result<Outcome, String> {
    let log = Log::open(dir, Options::default()).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut cursor = log.cursor(StartAt::Oldest).map_err(|e| e.to_string())?;
    let mut ops = 0u64;
    let mut sum = 0u64;
    while let Some(r) = cursor.next().map_err(|e| e.to_string())? {
        sum = sum.wrapping_add(u64::from(r.data.first().copied().unwrap_or(0)));
        ops += 1;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    drop(cursor);
    log.close().map_err(|e| e.to_string())?;
    Ok(Outcome {
        case: "read (cursor scan)".into(),
        size,
        threads: 1,
        ops,
        elapsed,
        latencies: Vec::new(),
    })
}

fn percentile(sorted: &[u64], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    fmt::duration(Duration::from_nanos(sorted[i]))
}

fn print_table(rows: &[Outcome]) {
    println!();
    println!(
        "{:<22} {:>9} {:>7} {:>11} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "case", "size", "threads", "ops", "ops/s", "MB/s", "p50", "p99", "p99.9", "max"
    );
    for r in rows {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        let rate = r.ops as f64 / secs;
        println!(
            "{:<22} {:>9} {:>7} {:>11} {:>12} {:>10.1} {:>10} {:>10} {:>10} {:>10}",
            r.case,
            fmt::bytes(r.size as u64),
            r.threads,
            fmt::count(r.ops),
            fmt::count(rate as u64),
            rate * r.size as f64 / 1e6,
            percentile(&r.latencies, 0.5),
            percentile(&r.latencies, 0.99),
            percentile(&r.latencies, 0.999),
            percentile(&r.latencies, 1.0),
        );
    }
    println!();
    println!(
        "Latency: each append call (Batched returns before the sync). Throughput counts the \
         final flush."
    );
}
