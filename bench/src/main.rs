//! aof-bench: libaof's benchmark harness.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--reps N] [--secs S]
//!     [--filter TERMS] [--json PATH] [--csv PATH] [--dir PATH] [--capi PATH] [--list]
//! ```
//! `make bench` and `make bench-quick` build the C API benchmark and run this.
//!
//! It runs a matrix of cells, each a workload × policy × record size × writer threads ×
//! engine, and prints one table of every cell, a table of aof's ratios to the baselines
//! and peers of the same cell, and the design targets, met or missed.
//!
//! - **append**: 64 B, 1 KiB, 16 KiB, 64 KiB records; Sync, Batched(100),
//!   Batched(1000), Async; 1, 4 and 16 threads. Engines: aof; aof through the C API
//!   (1 thread); raw `pwrite` per record (`raw-write`), raw 1 MiB `pwrite`s of the same
//!   bytes (`raw-seq`), raw `pwrite` + `fdatasync` per record or per N records
//!   (`raw-fsync`, in the Sync and Batched(N) cells); raft-engine, okaywal, walrus-rust at
//!   their equivalent durability (see `peers.rs`).
//! - **append-async**: one thread keeping 1, 16, 256 or 4,096 asynchronous appends in
//!   flight under Sync (`aof-notify-N`: `append_notify` + a completion queue;
//!   `aof-future-256`: `append_async` futures on a minimal executor), 64 B and 1 KiB;
//!   latency per record from the append call until the thread sees its completion. A
//!   filter that names them (`--filter append-async`) also runs the Sync cells they are
//!   compared with (1 and 16 threads, and `raw-fsync`), and the report adds their table
//!   and its design target (`async_append.rs`).
//! - **scan**: hot sequential cursor scan; **read**: hot random read by id.
//! - **tail**: writer→tailing-reader latency; engines aof (the reader sleeps in
//!   `Cursor::wait`) and aof-spin (its cursor busy-polls 1 ms before sleeping).
//! - **open**: open time after a clean close, after a crash, and of an empty log.
//! - **manager**: 1,000 new logs opened by name under one manager, closed with it, and all
//!   reopened after that clean close; what an idle log costs (memory, descriptors) and the
//!   process's peak thread count (`manager.rs`).
//!
//! Each cell: a warm-up run of half the target time that also calibrates the record
//! count, then `--reps` repetitions of about `--secs` each; the table shows the median and
//! the min–max range. Every append repetition starts from a fresh log or file and ends
//! with the data durable (the final flush or fdatasync is inside the timed region).
//!
//! `--filter`: comma-separated terms that must all match a segment of a cell's id
//! (`append/sync/64B/16t/aof`), e.g. `--filter sync`, `--filter append,64B,1t`,
//! `--filter scan`, `--filter append-async` (`async` alone is the Async flush policy). A
//! term with a `/` matches any part of the id. `--list` prints the ids the filter selects
//! without running them.

mod append;
mod async_append;
mod capi;
mod drive;
mod manager;
mod peers;
mod readers;
mod report;
mod stats;
mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::drive::Plan;
use crate::stats::{
    calibrated, guarded, size_label, Budget, Calibration, Cell, Policy, Rep, Status,
};

const SIZES: [usize; 4] = [64, 1024, 16 << 10, 64 << 10];
const THREADS: [usize; 3] = [1, 4, 16];

struct Args {
    quick: bool,
    reps: usize,
    secs: Option<f64>,
    filter: Vec<String>,
    json: Option<PathBuf>,
    csv: Option<PathBuf>,
    dir: Option<PathBuf>,
    capi: Option<PathBuf>,
    list: bool,
    periodic: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: aof-bench [--quick] [--reps N] [--secs S] [--filter TERMS] [--json PATH] \
         [--csv PATH] [--dir PATH] [--capi PATH] [--list] [--periodic]"
    );
    std::process::exit(2)
}

fn parse_args(argv: Vec<String>) -> Args {
    let mut a = Args {
        quick: false,
        reps: 3,
        secs: None,
        filter: Vec::new(),
        json: None,
        csv: None,
        dir: None,
        capi: None,
        list: false,
        periodic: false,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--list" => a.list = true,
            "--periodic" => a.periodic = true,
            "--reps" => {
                a.reps = val()
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "--secs" => {
                a.secs = Some(
                    val()
                        .parse()
                        .ok()
                        .filter(|&s: &f64| s > 0.0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--filter" => {
                a.filter = val()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "--json" => a.json = Some(val().into()),
            "--csv" => a.csv = Some(val().into()),
            "--dir" => a.dir = Some(val().into()),
            "--capi" => a.capi = Some(val().into()),
            "--bench" => {}
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other:?}");
                usage()
            }
        }
    }
    a
}

/// Sizes of the data sets of the read-side and open workloads.
struct Sizes {
    scan_bytes: u64,
    open_bytes: u64,
    tail_count: u64,
}

struct Bench {
    args: Args,
    budget: Budget,
    sizes: Sizes,
    dir: PathBuf,
    capi: Result<PathBuf, String>,
    cells: Vec<Cell>,
    started: Instant,
    /// aof append calibrations of 1-thread cells, reused by the C API cells.
    aof_cal: Vec<(Policy, usize, Calibration)>,
}

impl Bench {
    /// Whether the filter selects `c`: its own id matches, or the filter names the
    /// asynchronous-append cells (`append-async`, `aof-notify-N`, `aof-future-N`) and `c`
    /// is one of the cells a selected one is compared with (`async_append::companion`).
    fn selected(&self, c: &Cell) -> bool {
        self.matches(c)
            || (async_append::companion(c)
                && self.args.filter.iter().any(|t| async_append::names(t))
                && async_append::cells(c.size)
                    .iter()
                    .any(|(a, _, _)| self.matches(a)))
    }

    fn matches(&self, c: &Cell) -> bool {
        let id = c.id();
        let segs: Vec<&str> = id.split('/').collect();
        self.args.filter.iter().all(|term| {
            if term.contains('/') {
                return id.contains(term.as_str());
            }
            segs.iter().enumerate().any(|(i, s)| {
                s.eq_ignore_ascii_case(term)
                    || (i == 1 && *s == "*" && Policy::parse(term).is_some())
            })
        })
    }

    /// Runs one cell if the filter selects it: `f` fills in its repetitions (or a status);
    /// a panic inside becomes `Failed`.
    fn cell(&mut self, mut cell: Cell, f: impl FnOnce(&mut Cell) -> Result<(), String>) {
        if !self.selected(&cell) {
            return;
        }
        if self.args.list {
            println!("{}", cell.id());
            return;
        }
        util::syncfs(&self.dir);
        let t0 = Instant::now();
        if cell.status == Status::Ok {
            match guarded(|| f(&mut cell)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => cell.status = Status::Failed(e),
            }
        }
        let summary = if cell.ok() && cell.workload == "open" {
            format!("open {:.2} ms", cell.lat(|l| l.p50) / 1e6)
        } else if cell.ok() && cell.workload == "manager" {
            cell.note.clone()
        } else if cell.ok() {
            format!(
                "{}/s ±{:.0}%  p99 {} µs",
                report::fmt_rate(cell.rate()),
                cell.spread_pct(),
                report::fmt_us(cell.lat(|l| l.p99))
            )
        } else {
            format!("{:?}", cell.status)
        };
        eprintln!(
            "[{:>6.1}s] {:<44} {}  ({:.1} s)",
            self.started.elapsed().as_secs_f64(),
            cell.id(),
            summary,
            t0.elapsed().as_secs_f64()
        );
        self.cells.push(cell);
    }

    fn na(&mut self, mut cell: Cell, why: &str) {
        cell.status = Status::NotApplicable(why.into());
        self.cell(cell, |_| Ok(()));
    }

    /// A calibrated cell: warm-up, then repetitions of `run`.
    fn calibrated_cell(&mut self, cell: Cell, run: impl FnMut(Plan) -> Rep) -> Option<Calibration> {
        let budget = self.budget;
        let threads = cell.threads;
        let mut cal = None;
        self.cell(cell, |c| {
            let (k, reps) = calibrated(&budget, threads, run);
            c.note = note(&k, threads);
            c.reps = reps;
            cal = Some(k);
            Ok(())
        });
        cal
    }
}

fn note(k: &Calibration, threads: usize) -> String {
    let n = k.plan.per_thread.unwrap_or(0) * threads as u64;
    if k.plan.sample_every > 1 {
        format!("{n} rec/rep, lat 1/{}", k.plan.sample_every)
    } else {
        format!("{n} rec/rep")
    }
}

fn append_matrix(b: &mut Bench) {
    let dir = b.dir.clone();
    let mut policies = Policy::ALL.to_vec();
    if b.args.periodic {
        policies.push(Policy::Periodic(10));
    }
    for &size in &SIZES {
        for &threads in &THREADS {
            // Baselines that serve every policy.
            b.calibrated_cell(
                Cell::new("append", "*", size, threads, "raw-write"),
                |plan| append::raw_write_rep(&dir, size, threads, None, plan),
            );
            if threads == 1 {
                b.calibrated_cell(Cell::new("append", "*", size, 1, "raw-seq"), |plan| {
                    append::raw_seq_rep(&dir, size, plan)
                });
                if let Some(c) = b.cells.last_mut().filter(|c| c.engine == "raw-seq") {
                    c.note = format!(
                        "{}, 1 MiB writes (latency per write)",
                        c.note.split(',').next().unwrap_or("")
                    );
                }
            }
            for &policy in &policies {
                let pid = policy.id();
                let c = |e: &str| Cell::new("append", &pid, size, threads, e);
                let sync_every = match policy {
                    Policy::Sync => Some(1),
                    Policy::Batched(n) => Some(u64::from(n)),
                    Policy::Async | Policy::Periodic(_) => None,
                };
                if let Some(k) = sync_every {
                    b.calibrated_cell(c("raw-fsync"), |plan| {
                        append::raw_write_rep(&dir, size, threads, Some(k), plan)
                    });
                }
                let cal = b.calibrated_cell(c("aof"), |plan| {
                    append::aof_rep(&dir, policy, size, threads, plan, true)
                });
                b.calibrated_cell(c("aof-nohist"), |plan| {
                    append::aof_rep(&dir, policy, size, threads, plan, false)
                });
                if threads == 1 {
                    if let Some(k) = cal {
                        b.aof_cal.push((policy, size, k));
                    }
                    capi_append_cell(b, policy, size);
                }
                if let Policy::Periodic(_) = policy {
                    b.na(c("raft-engine"), "no timer-driven sync");
                } else {
                    b.calibrated_cell(c("raft-engine"), |plan| {
                        peers::raft_append_rep(&dir, policy, size, threads, plan)
                    });
                }
                if let Policy::Async | Policy::Periodic(_) = policy {
                    b.na(
                        c("okaywal"),
                        "commit always waits for fsync (no async mode)",
                    );
                } else {
                    b.calibrated_cell(c("okaywal"), |plan| {
                        peers::okaywal_append_rep(&dir, policy, size, threads, plan)
                    });
                }
                match peers::walrus_mode(policy) {
                    Some(mode) => walrus_append_cell(b, c("walrus"), &mode),
                    None => b.na(
                        c("walrus"),
                        "no count-based fsync (SyncEach, Milliseconds(n) or NoFsync)",
                    ),
                }
                if policy == Policy::Async {
                    walrus_append_cell(b, c("walrus-nofsync"), "nofsync");
                }
            }
        }
        if async_append::SIZES.contains(&size) {
            async_append_cells(b, size);
        }
    }
}

/// One thread with N asynchronous appends in flight under Sync (`async_append.rs`); right
/// after the Sync cells of the same size they are compared with.
fn async_append_cells(b: &mut Bench, size: usize) {
    let dir = b.dir.clone();
    for (cell, depth, futures) in async_append::cells(size) {
        let id = cell.id();
        b.calibrated_cell(cell, |plan| {
            if futures {
                async_append::future_rep(&dir, size, depth, plan)
            } else {
                async_append::notify_rep(&dir, size, depth, plan)
            }
        });
        if let Some(c) = b.cells.last_mut().filter(|c| c.id() == id) {
            let n = c.note.split(',').next().unwrap_or("").to_string();
            c.note = format!("{n}, {depth} in flight, every record timed");
        }
    }
}

fn walrus_append_cell(b: &mut Bench, cell: Cell, mode: &str) {
    let (dir, budget) = (b.dir.clone(), b.budget);
    let spec = json!({
        "kind": "append", "mode": mode, "size": cell.size, "threads": cell.threads,
        "budget": budget.to_json(),
    });
    let threads = cell.threads;
    let mode = mode.to_string();
    b.cell(cell, |c| {
        let (reps, v) = peers::walrus_run(&dir, spec)?;
        let n = v["per_thread"].as_u64().unwrap_or(0) * threads as u64;
        let every = v["sample_every"].as_u64().unwrap_or(1);
        c.note = match mode.as_str() {
            "sync-each" => "SyncEach".into(),
            "nofsync" => "NoFsync: never durable".into(),
            ms => format!("Milliseconds({})", ms.trim_start_matches("ms")),
        };
        c.note += &if every > 1 {
            format!(", {n} rec/rep, lat 1/{every}")
        } else {
            format!(", {n} rec/rep")
        };
        c.reps = reps;
        Ok(())
    });
}

/// aof through the C API, one thread, same record count as the Rust cell when it ran.
fn capi_append_cell(b: &mut Bench, policy: Policy, size: usize) {
    let cell = Cell::new("append", &policy.id(), size, 1, "aof-c");
    let bin = match &b.capi {
        Ok(p) => p.clone(),
        Err(why) => {
            let mut cell = cell;
            cell.status = Status::NotBuilt(why.clone());
            return b.cell(cell, |_| Ok(()));
        }
    };
    let cal = b
        .aof_cal
        .iter()
        .find(|(p, s, _)| *p == policy && *s == size)
        .map(|(_, _, k)| k.plan);
    let budget = b.budget;
    let (count, every) = match cal {
        Some(p) => (p.per_thread.unwrap_or(1000), p.sample_every),
        None => {
            // No Rust cell to copy: a conservative guess of the rate.
            let rate = match (policy, size) {
                (Policy::Sync, _) => 3_000.0,
                (_, s) if s <= 1024 => 300_000.0,
                (_, s) if s <= 16 << 10 => 50_000.0,
                _ => 15_000.0,
            };
            (
                ((rate * budget.secs) as u64).max(budget.min_records),
                if rate > 200e3 { 8 } else { 1 },
            )
        }
    };
    let dir = b.dir.clone();
    b.cell(cell, |c| {
        capi::append(&bin, &dir, policy, size, (count / 2).max(1), every)?;
        for _ in 0..budget.reps {
            c.reps
                .push(capi::append(&bin, &dir, policy, size, count, every)?);
        }
        c.note = if every > 1 {
            format!("{count} rec/rep, lat 1/{every}")
        } else {
            format!("{count} rec/rep")
        };
        Ok(())
    });
}

fn read_matrix(b: &mut Bench) {
    let dir = b.dir.clone();
    let reps = b.budget.reps;
    let budget = b.budget;
    for &size in &SIZES {
        let records = (b.sizes.scan_bytes / size as u64).max(1000);
        let dataset = format!("{records} rec");
        let any = |b: &Bench, w: &'static str, e: &str| {
            [1, 4]
                .iter()
                .any(|&t| b.selected(&Cell::new(w, "-", size, t, e)))
        };
        // aof
        if (any(b, "scan", "aof") || any(b, "read", "aof")) && !b.args.list {
            let path = dir.join("aof-read");
            match guarded(|| readers::aof_filled(&path, size, records)) {
                Ok(log) => {
                    b.cell(Cell::new("scan", "-", size, 1, "aof"), |c| {
                        readers::aof_scan_pass(&log);
                        c.reps = (0..reps).map(|_| readers::aof_scan_pass(&log)).collect();
                        c.note = dataset.clone();
                        Ok(())
                    });
                    for t in [1, 4] {
                        b.calibrated_cell(Cell::new("read", "-", size, t, "aof"), |plan| {
                            readers::aof_read_rep(&log, size, t, plan)
                        });
                    }
                    let _ = log.close();
                }
                Err(e) => eprintln!("aof fill for reads failed: {e}"),
            }
            util::remove_dir(&path);
        } else if b.args.list {
            b.cell(Cell::new("scan", "-", size, 1, "aof"), |_| Ok(()));
            for t in [1, 4] {
                b.cell(Cell::new("read", "-", size, t, "aof"), |_| Ok(()));
            }
        }
        // aof through the C API
        let c_scan = Cell::new("scan", "-", size, 1, "aof-c");
        let c_read = Cell::new("read", "-", size, 1, "aof-c");
        if b.selected(&c_scan) || b.selected(&c_read) {
            let reads = b
                .cells
                .iter()
                .find(|c| c.id() == Cell::new("read", "-", size, 1, "aof").id() && c.ok())
                .map_or((budget.secs * 1e6) as u64, |c| c.reps[0].records);
            match (b.capi.clone(), b.args.list) {
                (Ok(bin), false) => match capi::readers(&bin, &dir, size, records, reps, reads) {
                    Ok((s, r)) => {
                        let mut cs = c_scan;
                        cs.note = dataset.clone();
                        b.cell(cs, |c| {
                            c.reps = s;
                            Ok(())
                        });
                        let mut cr = c_read;
                        cr.note = format!("{reads} reads/rep, aof_read copies");
                        b.cell(cr, |c| {
                            c.reps = r;
                            Ok(())
                        });
                    }
                    Err(e) => {
                        for c in [c_scan, c_read] {
                            let e = e.clone();
                            b.cell(c, |_| Err(e));
                        }
                    }
                },
                (Err(why), _) => {
                    for mut c in [c_scan, c_read] {
                        c.status = Status::NotBuilt(why.clone());
                        b.cell(c, |_| Ok(()));
                    }
                }
                (_, true) => {
                    b.cell(c_scan, |_| Ok(()));
                    b.cell(c_read, |_| Ok(()));
                }
            }
        }
        // raft-engine
        if (any(b, "scan", "raft-engine") || any(b, "read", "raft-engine")) && !b.args.list {
            let path = dir.join("raft-read");
            match guarded(|| peers::raft_filled(&path, size, records)) {
                Ok(engine) => {
                    b.cell(Cell::new("scan", "-", size, 1, "raft-engine"), |c| {
                        peers::raft_scan_pass(&engine, records);
                        c.reps = (0..reps)
                            .map(|_| peers::raft_scan_pass(&engine, records))
                            .collect();
                        c.note = dataset.clone() + ", fetch_entries_to (copies)";
                        Ok(())
                    });
                    for t in [1, 4] {
                        b.calibrated_cell(Cell::new("read", "-", size, t, "raft-engine"), |plan| {
                            peers::raft_read_rep(&engine, records, size, t, plan)
                        });
                    }
                }
                Err(e) => eprintln!("raft-engine fill failed: {e}"),
            }
            util::remove_dir(&path);
        }
        // okaywal: random reads by position only.
        b.na(
            Cell::new("scan", "-", size, 1, "okaywal"),
            "reads only by position (or by replay at recovery)",
        );
        if any(b, "read", "okaywal") && !b.args.list {
            let path = dir.join("okaywal-read");
            match guarded(|| peers::okaywal_filled(&path, size, records)) {
                Ok((wal, pos)) => {
                    for t in [1, 4] {
                        b.calibrated_cell(Cell::new("read", "-", size, t, "okaywal"), |plan| {
                            peers::okaywal_read_rep(&wal, &pos, size, t, plan)
                        });
                    }
                    let _ = wal.shutdown();
                }
                Err(e) => eprintln!("okaywal fill failed: {e}"),
            }
            util::remove_dir(&path);
        }
        // walrus: a consuming scan per topic; no read by id.
        // walrus reads ~20k records/s: a smaller data set keeps the cell short.
        let walrus_records = records.min(((budget.secs * 100_000.0) as u64).max(1000));
        let spec = json!({
            "kind": "scan", "mode": "nofsync", "size": size, "threads": 1,
            "records": walrus_records, "budget": budget.to_json(),
        });
        b.cell(Cell::new("scan", "-", size, 1, "walrus"), |c| {
            let (r, _) = peers::walrus_run(&dir, spec)?;
            c.reps = r;
            c.note = format!("{walrus_records} rec, read_next (copies)");
            Ok(())
        });
        for t in [1, 4] {
            b.na(
                Cell::new("read", "-", size, t, "walrus"),
                "no read by id or position",
            );
        }
    }
}

fn tail_matrix(b: &mut Bench) {
    let dir = b.dir.clone();
    let (reps, count) = (b.budget.reps, b.sizes.tail_count);
    let interval = Duration::from_micros(100);
    for policy in [Policy::Sync, Policy::Batched(100), Policy::Async] {
        for size in [64, 1024] {
            for (engine, spin) in [("aof", Duration::ZERO), ("aof-spin", readers::TAIL_SPIN)] {
                b.cell(Cell::new("tail", &policy.id(), size, 1, engine), |c| {
                    let rep = |n| readers::aof_tail_rep(&dir, policy, size, n, interval, spin);
                    rep(count / 4);
                    c.reps = (0..reps).map(|_| rep(count)).collect();
                    c.note = format!("{count} rec/rep, 1 per {} µs", interval.as_micros());
                    if !spin.is_zero() {
                        c.note += &format!(", busy-poll {}", readers::spin_label(spin));
                    }
                    Ok(())
                });
            }
        }
    }
    for e in ["raft-engine", "okaywal", "walrus"] {
        b.na(
            Cell::new("tail", "async", 64, 1, e),
            "no tailing reader (no wait/notify on append)",
        );
    }
}

fn open_matrix(b: &mut Bench) {
    let dir = b.dir.clone();
    let reps = b.budget.reps;
    let size = 1024;
    let records = b.sizes.open_bytes / size as u64;
    for (mode, n) in [("clean", records), ("crash", records), ("empty", 0)] {
        for engine in ["aof", "raft-engine", "okaywal", "walrus"] {
            if mode == "empty" && engine != "aof" {
                continue;
            }
            b.cell(Cell::new("open", mode, size, 1, engine), |c| {
                let child_mode = if mode == "empty" { "clean" } else { mode };
                let (r, last) = readers::open_reps(engine, &dir, size, n, child_mode, reps)?;
                c.reps = r;
                c.note = match engine {
                    "aof" => format!(
                        "{} segments, scanned {} records at open",
                        last["segments"], last["scanned"]
                    ),
                    "raft-engine" => "replays every file into its memtables".into(),
                    "okaywal" => "replays every entry (recovery)".into(),
                    _ => "scans every block; no clean-shutdown state".into(),
                };
                Ok(())
            });
        }
    }
}

fn manager_cell(b: &mut Bench) {
    let dir = b.dir.clone();
    let reps = b.budget.reps;
    let cell = Cell::new(
        "manager",
        &format!("{}logs", manager::LOGS),
        manager::SEGMENT as usize,
        1,
        "aof",
    );
    b.cell(cell, |c| {
        let (r, results) = manager::reps(&dir, reps)?;
        c.reps = r;
        c.note = manager::note(&results);
        Ok(())
    });
}

fn machine_json(m: &util::Machine) -> serde_json::Value {
    json!({
        "cpus": m.cpus, "cpu_model": m.cpu_model, "mem_gib": m.mem_gib, "kernel": m.kernel,
        "fs": m.fs, "device": m.device, "clock_read_ns": m.clock_ns,
        "fdatasync_append_4k_us": { "p50": m.fsync_append_us.0, "p99": m.fsync_append_us.1 },
        "fdatasync_overwrite_4k_us": { "p50": m.fsync_overwrite_us.0, "p99": m.fsync_overwrite_us.1 },
    })
}

fn find_capi(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let p = explicit.map_or_else(|| PathBuf::from("build/capi_bench"), Path::to_path_buf);
    if p.is_file() {
        Ok(p.canonicalize().unwrap_or(p))
    } else {
        Err(format!("{} missing (make bench builds it)", p.display()))
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Child processes.
    match argv.first().map(String::as_str) {
        Some("__walrus") => {
            let spec = serde_json::from_str(argv.get(1).map_or("{}", |s| s)).expect("spec");
            peers::walrus_child(&spec)
        }
        Some("__fill") => {
            let (engine, dir) = (argv[1].as_str(), Path::new(&argv[2]));
            let size = argv[3].parse().expect("size");
            let records = argv[4].parse().expect("records");
            match engine {
                "aof" => readers::child_fill(dir, size, records, &argv[5]),
                _ => peers::fill_child(engine, dir, size, records, &argv[5]),
            }
        }
        Some("__manager") => manager::child(&argv[1], Path::new(&argv[2])),
        Some("__open") => {
            let (engine, dir) = (argv[1].as_str(), Path::new(&argv[2]));
            match engine {
                "aof" => readers::child_open(dir, &argv[4]),
                _ => peers::open_child(engine, dir, &argv[4]),
            }
        }
        _ => {}
    }

    let args = parse_args(argv);
    let secs = args.secs.unwrap_or(if args.quick { 0.1 } else { 1.0 });
    let budget = Budget {
        secs,
        reps: args.reps,
        min_records: if args.quick { 50 } else { 200 },
    };
    let sizes = if args.quick {
        Sizes {
            scan_bytes: 64 << 20,
            open_bytes: 128 << 20,
            tail_count: 2_000,
        }
    } else {
        Sizes {
            scan_bytes: 512 << 20,
            open_bytes: 1 << 30,
            tail_count: 20_000,
        }
    };
    let base = args.dir.clone().unwrap_or_else(|| PathBuf::from("target"));
    std::fs::create_dir_all(&base).expect("create --dir");
    let dir = base.join(format!("aof-bench-{}", std::process::id()));
    util::fresh_dir(&dir);
    let capi = find_capi(args.capi.as_deref());
    let mut b = Bench {
        budget,
        sizes,
        dir: dir.clone(),
        capi,
        cells: Vec::new(),
        started: Instant::now(),
        aof_cal: Vec::new(),
        args,
    };

    let machine = if b.args.list {
        None
    } else {
        let m = util::machine(&dir, if b.args.quick { 200 } else { 1000 });
        println!(
            "aof-bench{}: {} cpus ({}), {:.0} GiB, Linux {}",
            if b.args.quick { " --quick" } else { "" },
            m.cpus,
            m.cpu_model,
            m.mem_gib,
            m.kernel
        );
        println!("dir {} on {} ({})", dir.display(), m.fs, m.device);
        println!(
            "fdatasync after a 4 KiB append: p50 {:.0} µs, p99 {:.0} µs; after overwriting a written 4 KiB block: p50 {:.0} µs, p99 {:.0} µs; clock read {:.0} ns",
            m.fsync_append_us.0, m.fsync_append_us.1, m.fsync_overwrite_us.0, m.fsync_overwrite_us.1, m.clock_ns
        );
        println!(
            "{} reps per cell after a warm-up, ~{} s each; C API benchmark: {}",
            budget.reps,
            budget.secs,
            match &b.capi {
                Ok(p) => p.display().to_string(),
                Err(e) => format!("not built ({e})"),
            }
        );
        println!("load average at start: {}", util::loadavg());
        let _ = std::io::stdout().flush();
        Some(m)
    };

    append_matrix(&mut b);
    read_matrix(&mut b);
    tail_matrix(&mut b);
    open_matrix(&mut b);
    manager_cell(&mut b);
    util::remove_dir(&dir);
    if b.args.list {
        return;
    }

    let rows = report::ratio_rows(&b.cells);
    let ts = report::targets(&b.cells);
    println!();
    println!(
        "== cells: median of {} reps (min–max); latency per call, µs; payload MiB/s",
        budget.reps
    );
    print!("{}", report::cells_table(&b.cells));
    println!();
    println!(
        "== aof ÷ others, same cell (records/s; raw-seq: MiB/s; C API/Rust: C rate ÷ Rust rate)"
    );
    print!("{}", report::ratio_table(&rows));
    println!();
    if let Some(section) = report::async_section(&b.cells, budget.reps) {
        print!("{section}");
        println!();
    }
    println!("== design targets, from this run");
    print!("{}", report::targets_table(&ts));
    println!();
    println!(
        "total {:.0} s; load average at the end: {} (2 cores: a load above 2 means other work shared the CPUs)",
        b.started.elapsed().as_secs_f64(),
        util::loadavg()
    );

    let config = json!({
        "quick": b.args.quick, "budget": budget.to_json(), "filter": b.args.filter,
        "scan_bytes": b.sizes.scan_bytes, "open_bytes": b.sizes.open_bytes,
        "tail_count": b.sizes.tail_count, "peers": {
            "raft-engine": "0.4.2", "okaywal": "0.3.1", "walrus-rust": "0.2.0"
        },
    });
    let m = machine.as_ref().map(machine_json).unwrap_or_default();
    if let Some(p) = &b.args.json {
        let v = report::to_json(m, config, &b.cells, &rows, &ts);
        std::fs::write(p, serde_json::to_string_pretty(&v).expect("json")).expect("write --json");
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &b.args.csv {
        std::fs::write(p, report::to_csv(&b.cells, &rows)).expect("write --csv");
        eprintln!("wrote {}", p.display());
    }
    let _ = size_label;
}
