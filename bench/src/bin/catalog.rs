//! The catalogue's costs, each next to a baseline measured in the same run:
//!
//! - open of a log after a clean close and after a crash (a copy of its directory taken
//!   while it was open), for 10, 100 and 1,000 segments, and the same with 10x the data
//!   per segment: a clean open must not grow with the data;
//! - one roll's catalogue commit (seal the old entry, add the new one) against a plain
//!   4 KiB write + `fdatasync` on the same disk;
//! - append throughput with a retention bound removing segments in the background against
//!   no bound, alternated.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml --bin catalog [-- --quick]`

use std::path::Path;
use std::time::{Duration, Instant};

use aof::{FlushPolicy, Log, Options, Retention};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

fn opts(segment_size: u64) -> Options {
    Options {
        segment_size,
        flush: FlushPolicy::Batched { records: 1000 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        ..Options::default()
    }
}

/// Fills a log in `dir` until it has `segments` segments of `segment_size`.
fn build(dir: &Path, segments: usize, segment_size: u64) -> Log {
    let log = Log::open(dir, opts(segment_size)).unwrap();
    let rec = vec![0x5au8; 1000];
    while log.metrics().segment_count < segments as u64 {
        let batch: Vec<&[u8]> = (0..64).map(|_| &rec[..]).collect();
        log.append_batch(&batch).unwrap();
    }
    log
}

fn time_open(dir: &Path, segment_size: u64, reps: usize) -> (f64, usize, u64) {
    let mut ms = Vec::new();
    let mut opened = 0;
    let mut scanned = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let log = Log::open(dir, opts(segment_size)).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        opened = log.recovery().segments_opened;
        scanned = log.recovery().scanned_records;
        log.close().unwrap();
    }
    (median(ms), opened, scanned)
}

fn open_matrix(root: &Path, quick: bool) {
    println!("== open after a clean close and after a crash (median ms of the reps)");
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>8} {:>12} {:>8} {:>9}",
        "segments", "seg size", "data MiB", "clean ms", "opened", "crash ms", "opened", "scanned"
    );
    let counts: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    for &segments in counts {
        for segment_size in [64u64 << 10, 640 << 10] {
            let dir = root.join(format!("open-{segments}-{segment_size}"));
            let image = root.join(format!("image-{segments}-{segment_size}"));
            let log = build(&dir, segments, segment_size);
            log.flush().unwrap();
            copy_dir(&dir, &image);
            log.close().unwrap();
            drop(log);
            let (clean, clean_opened, _) = time_open(&dir, segment_size, 5);
            // A crash image opens once as a crash (then it is clean): copy it per rep.
            let mut crash = Vec::new();
            let (mut opened, mut scanned) = (0, 0);
            for rep in 0..5 {
                let copy = root.join(format!("crash-{segments}-{segment_size}-{rep}"));
                copy_dir(&image, &copy);
                let t = Instant::now();
                let log = Log::open(&copy, opts(segment_size)).unwrap();
                crash.push(t.elapsed().as_secs_f64() * 1e3);
                opened = log.recovery().segments_opened;
                scanned = log.recovery().scanned_records;
                drop(log);
                std::fs::remove_dir_all(&copy).unwrap();
            }
            println!(
                "{:>8} {:>9}K {:>10.1} {:>12.2} {:>8} {:>12.2} {:>8} {:>9}",
                segments,
                segment_size >> 10,
                (segments as u64 * segment_size) as f64 / (1 << 20) as f64,
                clean,
                clean_opened,
                median(crash),
                opened,
                scanned
            );
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::remove_dir_all(&image).unwrap();
        }
    }
}

/// Time per roll of a log whose segments hold one record each, against a raw 4 KiB
/// write + fdatasync: a roll is a seal (footer + fdatasync), a new file (header +
/// fdatasync + rename + directory fsync) and one catalogue commit.
fn roll_cost(root: &Path, quick: bool) {
    let rolls = if quick { 200 } else { 1000 };
    let dir = root.join("rolls");
    let o = Options {
        segment_size: 4096,
        flush: FlushPolicy::Sync,
        preallocate_at_percent: 0,
        zero_ahead: 0,
        ..Options::default()
    };
    let log = Log::open(&dir, o).unwrap();
    let rec = vec![1u8; 3900]; // one per segment: every append rolls
    log.append(&rec).unwrap();
    let t = Instant::now();
    for _ in 0..rolls {
        log.append(&rec).unwrap();
    }
    let per_roll = t.elapsed().as_secs_f64() * 1e6 / rolls as f64;
    drop(log);

    // The same disk: a raw 4 KiB write + fdatasync, and a directory fsync.
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(root.join("raw")).unwrap();
    let t = Instant::now();
    for i in 0..rolls {
        f.write_all_at(&[7u8; 4096], (i as u64) * 4096).unwrap();
        f.sync_data().unwrap();
    }
    let raw = t.elapsed().as_secs_f64() * 1e6 / rolls as f64;
    let d = std::fs::File::open(root).unwrap();
    let t = Instant::now();
    for _ in 0..rolls {
        d.sync_all().unwrap();
    }
    let dir_sync = t.elapsed().as_secs_f64() * 1e6 / rolls as f64;
    println!(
        "== a roll (seal, new segment file, one catalogue commit) and the syncs it is made of"
    );
    println!("append that rolls, Sync policy: {per_roll:.0} µs per roll ({rolls} rolls)");
    println!("raw 4 KiB write + fdatasync:    {raw:.0} µs");
    println!("directory fsync:                {dir_sync:.0} µs");
    println!(
        "a roll does 4 syncs of files and directories plus the commit: {per_roll:.0} µs vs \
         4 x {raw:.0} µs = {:.0} µs of plain syncs",
        4.0 * raw
    );
}

/// Appends of 1 KiB (Batched) for `secs` seconds with or without a bound of 4 segments.
fn retention_throughput(root: &Path, quick: bool) {
    let secs = if quick { 1.0 } else { 3.0 };
    println!("== append throughput, 1 KiB records, Batched(1000), 1 MiB segments (alternated)");
    let rec = vec![3u8; 1024];
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 0..3 {
        for bounded in [false, true] {
            let dir = root.join(format!("ret-{round}-{bounded}"));
            let o = Options {
                segment_size: 1 << 20,
                flush: FlushPolicy::Batched { records: 1000 },
                retention: Retention {
                    max_segments: bounded.then_some(4),
                    ..Retention::default()
                },
                ..Options::default()
            };
            let log = Log::open(&dir, o).unwrap();
            let t = Instant::now();
            let mut n = 0u64;
            while t.elapsed() < Duration::from_secs_f64(secs) {
                for _ in 0..256 {
                    log.append(&rec).unwrap();
                }
                n += 256;
            }
            let rate = n as f64 / t.elapsed().as_secs_f64();
            let m = log.metrics();
            log.close().unwrap();
            drop(log);
            std::fs::remove_dir_all(&dir).unwrap();
            if bounded {
                with.push(rate);
                println!(
                    "  round {round} bounded:   {rate:>10.0} rec/s ({} segments removed)",
                    m.segments_deleted
                );
            } else {
                without.push(rate);
                println!("  round {round} unbounded: {rate:>10.0} rec/s");
            }
        }
    }
    let (w, wo) = (median(with), median(without));
    println!(
        "median: with retention {w:.0} rec/s, without {wo:.0} rec/s ({:.2}x)",
        w / wo
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let base =
        std::env::var("AOF_BENCH_DIR").unwrap_or_else(|_| "bench/target/catalog-bench".into());
    let root = Path::new(&base).join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    open_matrix(&root, quick);
    roll_cost(&root, quick);
    retention_throughput(&root, quick);
    std::fs::remove_dir_all(&root).unwrap();
}
