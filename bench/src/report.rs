//! The tables: every cell; aof's ratios to the baselines and peers of the same cell; the
//! design targets, met or missed. Also JSON and CSV.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::async_append::{self, TARGET_DEPTH, TARGET_THREADS};
use crate::readers::{spin_label, TAIL_SPIN};
use crate::stats::{size_label, Cell, Status};

pub fn fmt_rate(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 10e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 10e3 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Microseconds from ns, 3 significant digits.
pub fn fmt_us(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".into();
    }
    let us = ns / 1e3;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(x) if x.is_finite() => {
            if x >= 10.0 {
                format!("{x:.0}x")
            } else if x >= 0.1 {
                format!("{x:.2}x")
            } else {
                format!("{x:.1e}x")
            }
        }
        _ => "-".into(),
    }
}

fn status_text(c: &Cell) -> Option<String> {
    match &c.status {
        Status::Ok if c.reps.is_empty() => Some("no data".into()),
        Status::Ok => None,
        Status::NotApplicable(r) => Some(format!("n/a: {r}")),
        Status::NotBuilt(r) => Some(format!("not built: {r}")),
        Status::Failed(r) => Some(format!("FAILED: {r}")),
    }
}

fn cell_row(c: &Cell) -> String {
    let head = format!(
        "{:<12} {:<13} {:>6} {:>4}  {:<16}",
        c.workload,
        c.policy,
        size_label(c.size),
        c.threads,
        c.engine
    );
    if let Some(s) = status_text(c) {
        return format!("{head} {s}");
    }
    if c.workload == "manager" {
        return format!(
            "{head} {:>10} logs, clean reopen {:.0} ms ({:.0}–{:.0} ms)  {}",
            c.reps[0].records,
            crate::util::median(&c.reps.iter().map(|r| r.secs * 1e3).collect::<Vec<_>>()),
            c.reps
                .iter()
                .map(|r| r.secs * 1e3)
                .fold(f64::INFINITY, f64::min),
            c.reps.iter().map(|r| r.secs * 1e3).fold(0.0, f64::max),
            c.note
        );
    }
    if c.workload == "open" {
        return format!(
            "{head} {:>10} records, open {:>9} ms ({:.2}–{:.2} ms){}",
            c.reps[0].records,
            format!("{:.2}", c.lat(|l| l.p50) / 1e6),
            c.reps
                .iter()
                .map(|r| r.secs * 1e3)
                .fold(f64::INFINITY, f64::min),
            c.reps.iter().map(|r| r.secs * 1e3).fold(0.0, f64::max),
            if c.note.is_empty() {
                String::new()
            } else {
                format!("  {}", c.note)
            }
        );
    }
    let rate = format!(
        "{} ({}–{})",
        fmt_rate(c.rate()),
        fmt_rate(c.rate_min()),
        fmt_rate(c.rate_max())
    );
    format!(
        "{head} {:>24} {:>9.1} {:>9} {:>9} {:>9} {:>9}  {}",
        rate,
        c.mib_s(),
        fmt_us(c.lat(|l| l.p50)),
        fmt_us(c.lat(|l| l.p99)),
        fmt_us(c.lat(|l| l.p999)),
        c.syncs_per_record()
            .map_or("-".into(), |s| format!("{s:.4}")),
        c.note
    )
}

pub fn cells_table(cells: &[Cell]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<13} {:>6} {:>4}  {:<16} {:>24} {:>9} {:>9} {:>9} {:>9} {:>9}  note",
        "work",
        "policy",
        "size",
        "thr",
        "engine",
        "records/s (min–max)",
        "MiB/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "syncs/rec"
    );
    // Execution order interleaves engines per data set; print each workload × size
    // (× threads for appends) together.
    let rank = |w: &str| {
        [
            "append",
            "append-async",
            "scan",
            "read",
            "tail",
            "open",
            "manager",
        ]
        .iter()
        .position(|x| *x == w)
    };
    let mut sorted: Vec<&Cell> = cells.iter().collect();
    sorted.sort_by_key(|c| {
        (
            rank(c.workload),
            if matches!(c.workload, "open" | "manager") {
                0
            } else {
                c.size
            },
            if c.workload == "append" { c.threads } else { 0 },
        )
    });
    let mut last_group = String::new();
    for c in sorted {
        let group = if c.workload == "append" {
            format!("{}/{}/{}", c.workload, c.size, c.threads)
        } else {
            format!("{}/{}", c.workload, c.size)
        };
        if !last_group.is_empty() && group != last_group {
            out.push('\n');
        }
        last_group = group;
        let _ = writeln!(out, "{}", cell_row(c));
    }
    out
}

fn find<'a>(
    cells: &'a [Cell],
    workload: &str,
    policy: &str,
    size: usize,
    threads: usize,
    engine: &str,
) -> Option<&'a Cell> {
    cells.iter().find(|c| {
        c.workload == workload
            && c.policy == policy
            && c.size == size
            && c.threads == threads
            && c.engine == engine
            && c.ok()
    })
}

/// A ratio of two cells' median rates, with the worst and best case over their
/// repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Ratio {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
}

fn ratio(a: &Cell, b: &Cell) -> Ratio {
    Ratio {
        median: a.rate() / b.rate(),
        lo: a.rate_min() / b.rate_max(),
        hi: a.rate_max() / b.rate_min(),
    }
}

fn ratio_mib(a: &Cell, b: &Cell) -> Ratio {
    let r = a.mib_s() / b.mib_s();
    let spread = |c: &Cell| (c.rate_min() / c.rate(), c.rate_max() / c.rate());
    let (alo, ahi) = spread(a);
    let (blo, bhi) = spread(b);
    Ratio {
        median: r,
        lo: r * alo / bhi,
        hi: r * ahi / blo,
    }
}

/// The comparisons of one aof cell.
pub struct RatioRow {
    pub id: String,
    pub cols: Vec<(&'static str, Option<Ratio>)>,
}

pub const RATIO_COLS: [&str; 9] = [
    "raw-write",
    "raw-seq MiB/s",
    "raw-fsync",
    "raft-engine",
    "okaywal",
    "walrus",
    "walrus-nofsync",
    "C API/Rust",
    "hist on/off",
];

pub fn ratio_rows(cells: &[Cell]) -> Vec<RatioRow> {
    let mut rows = Vec::new();
    for a in cells.iter().filter(|c| c.engine == "aof" && c.ok()) {
        let (w, p, s, t) = (a.workload, a.policy.as_str(), a.size, a.threads);
        let peer = |e: &str| find(cells, w, p, s, t, e).map(|b| ratio(a, b));
        let cols = if w == "append" {
            vec![
                (
                    "raw-write",
                    find(cells, w, "*", s, t, "raw-write").map(|b| ratio(a, b)),
                ),
                (
                    "raw-seq MiB/s",
                    find(cells, w, "*", s, 1, "raw-seq").map(|b| ratio_mib(a, b)),
                ),
                ("raw-fsync", peer("raw-fsync")),
                ("raft-engine", peer("raft-engine")),
                ("okaywal", peer("okaywal")),
                ("walrus", peer("walrus")),
                ("walrus-nofsync", peer("walrus-nofsync")),
                (
                    "C API/Rust",
                    find(cells, w, p, s, t, "aof-c").map(|c| ratio(c, a)),
                ),
                ("hist on/off", peer("aof-nohist")),
            ]
        } else if w == "scan" || w == "read" {
            vec![
                ("raft-engine", peer("raft-engine")),
                ("okaywal", peer("okaywal")),
                ("walrus", peer("walrus")),
                (
                    "C API/Rust",
                    find(cells, w, p, s, t, "aof-c").map(|c| ratio(c, a)),
                ),
            ]
        } else {
            continue;
        };
        if cols.iter().any(|(_, r)| r.is_some()) {
            rows.push(RatioRow { id: a.id(), cols });
        }
    }
    rows
}

pub fn ratio_table(rows: &[RatioRow]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<34}", "aof cell: aof rate ÷ other rate");
    for c in RATIO_COLS {
        let _ = write!(out, " {c:>14}");
    }
    out.push('\n');
    for r in rows {
        let _ = write!(out, "{:<34}", r.id.trim_end_matches("/aof"));
        for c in RATIO_COLS {
            let v = r.cols.iter().find(|(n, _)| *n == c).and_then(|(_, v)| *v);
            let _ = write!(out, " {:>14}", fmt_ratio(v.map(|x| x.median)));
        }
        out.push('\n');
    }
    out
}

/// One of the design targets, checked against this run.
pub struct Target {
    pub name: String,
    pub measured: String,
    pub met: Option<bool>,
    /// Whether the verdict holds over the whole min–max spread of the repetitions.
    pub robust: bool,
}

fn check_ratio(
    name: &str,
    cells: &[Cell],
    a: Option<&Cell>,
    b: Option<&Cell>,
    want: f64,
    mib: bool,
) -> Target {
    match (a, b) {
        (Some(a), Some(b)) => {
            let r = if mib { ratio_mib(a, b) } else { ratio(a, b) };
            let met = r.median >= want;
            let _ = cells;
            Target {
                name: name.into(),
                measured: format!(
                    "{:.2}x (reps {:.2}–{:.2}x): {} vs {}",
                    r.median,
                    r.lo,
                    r.hi,
                    if mib {
                        format!("{:.0} MiB/s", a.mib_s())
                    } else {
                        format!("{}/s", fmt_rate(a.rate()))
                    },
                    if mib {
                        format!("{:.0} MiB/s", b.mib_s())
                    } else {
                        format!("{}/s", fmt_rate(b.rate()))
                    }
                ),
                met: Some(met),
                robust: if met { r.lo >= want } else { r.hi < want },
            }
        }
        _ => Target {
            name: name.into(),
            measured: "not measured in this run".into(),
            met: None,
            robust: false,
        },
    }
}

pub fn targets(cells: &[Cell]) -> Vec<Target> {
    let f = |w, p, s, t, e| find(cells, w, p, s, t, e);
    let k = 1024;
    let mut v = vec![
        check_ratio(
            "async 64B 1t >= 5x raw per-record write()",
            cells,
            f("append", "async", 64, 1, "aof"),
            f("append", "*", 64, 1, "raw-write"),
            5.0,
            false,
        ),
        check_ratio(
            "async 64B 1t >= 10x walrus-rust (Milliseconds(1))",
            cells,
            f("append", "async", 64, 1, "aof"),
            f("append", "async", 64, 1, "walrus"),
            10.0,
            false,
        ),
        check_ratio(
            "async 1KiB 1t >= 60% of raw sequential-write bandwidth",
            cells,
            f("append", "async", k, 1, "aof"),
            f("append", "*", k, 1, "raw-seq"),
            0.6,
            true,
        ),
        check_ratio(
            "async 1KiB 1t >= 3x raw per-record write()",
            cells,
            f("append", "async", k, 1, "aof"),
            f("append", "*", k, 1, "raw-write"),
            3.0,
            false,
        ),
        check_ratio(
            "Sync 64B 16t >= 2x raft-engine",
            cells,
            f("append", "sync", 64, 16, "aof"),
            f("append", "sync", 64, 16, "raft-engine"),
            2.0,
            false,
        ),
        check_ratio(
            "Sync 64B 16t >= 2x okaywal",
            cells,
            f("append", "sync", 64, 16, "aof"),
            f("append", "sync", 64, 16, "okaywal"),
            2.0,
            false,
        ),
        check_ratio(
            "Sync 16KiB 16t >= 2x okaywal",
            cells,
            f("append", "sync", 16 * k, 16, "aof"),
            f("append", "sync", 16 * k, 16, "okaywal"),
            2.0,
            false,
        ),
        check_ratio(
            "Sync 64B 1t >= raw write+fdatasync rate",
            cells,
            f("append", "sync", 64, 1, "aof"),
            f("append", "sync", 64, 1, "raw-fsync"),
            1.0,
            false,
        ),
    ];
    // Issue 11: one thread with >= 256 asynchronous appends in flight at least matches 16
    // threads appending with Sync, at every depth from 256 up and both sizes.
    v.extend(async_targets(cells));
    // p99 of Sync 64B 1t within 1.2x of raw write+fdatasync's p99.
    v.push(
        match (
            f("append", "sync", 64, 1, "aof"),
            f("append", "sync", 64, 1, "raw-fsync"),
        ) {
            (Some(a), Some(b)) => {
                let (pa, pb) = (a.lat(|l| l.p99), b.lat(|l| l.p99));
                let reps_a: Vec<f64> = a
                    .reps
                    .iter()
                    .filter_map(|r| r.lat.map(|l| l.p99 as f64))
                    .collect();
                let reps_b: Vec<f64> = b
                    .reps
                    .iter()
                    .filter_map(|r| r.lat.map(|l| l.p99 as f64))
                    .collect();
                let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
                let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
                let met = pa <= 1.2 * pb;
                Target {
                    name: "Sync 64B 1t p99 <= 1.2x raw write+fdatasync p99".into(),
                    measured: format!(
                        "{:.2}x: {} µs vs {} µs (reps: aof {}–{} µs, raw {}–{} µs)",
                        pa / pb,
                        fmt_us(pa),
                        fmt_us(pb),
                        fmt_us(min(&reps_a)),
                        fmt_us(max(&reps_a)),
                        fmt_us(min(&reps_b)),
                        fmt_us(max(&reps_b))
                    ),
                    met: Some(met),
                    robust: if met {
                        max(&reps_a) <= 1.2 * min(&reps_b)
                    } else {
                        min(&reps_a) > 1.2 * max(&reps_b)
                    },
                }
            }
            _ => Target {
                name: "Sync 64B 1t p99 <= 1.2x raw write+fdatasync p99".into(),
                measured: "not measured in this run".into(),
                met: None,
                robust: false,
            },
        },
    );
    // Tail latency, every measured policy and size, of the sleeping reader (aof) and the
    // busy-polling one (aof-spin); the target is about the best case.
    for c in cells.iter().filter(|c| {
        c.workload == "tail" && matches!(c.engine.as_str(), "aof" | "aof-spin") && c.ok()
    }) {
        let p99 = c.lat(|l| l.p99);
        let v99: Vec<f64> = c
            .reps
            .iter()
            .filter_map(|r| r.lat.map(|l| l.p99 as f64))
            .collect();
        let lo = v99.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v99.iter().copied().fold(0.0, f64::max);
        let met = p99 <= 20_000.0;
        v.push(Target {
            name: format!(
                "writer→tailing-reader p99 <= 20 µs ({} {}{})",
                c.policy,
                size_label(c.size),
                if c.engine == "aof-spin" {
                    format!(", busy-poll {}", spin_label(TAIL_SPIN))
                } else {
                    String::new()
                }
            ),
            measured: format!(
                "p99 {} µs (reps {}–{}), p50 {} µs, p99.9 {} µs",
                fmt_us(p99),
                fmt_us(lo),
                fmt_us(hi),
                fmt_us(c.lat(|l| l.p50)),
                fmt_us(c.lat(|l| l.p999))
            ),
            met: Some(met),
            robust: if met { hi <= 20_000.0 } else { lo > 20_000.0 },
        });
    }
    for c in cells
        .iter()
        .filter(|c| c.workload == "scan" && c.engine == "aof" && c.ok())
    {
        let gib = c.mib_s() / 1024.0;
        let spread = |x: f64| x / c.rate() * gib;
        let met = gib >= 3.0;
        v.push(Target {
            name: format!("hot sequential scan >= 3 GiB/s ({})", size_label(c.size)),
            measured: format!(
                "{gib:.2} GiB/s (reps {:.2}–{:.2}), {}/s records",
                spread(c.rate_min()),
                spread(c.rate_max()),
                fmt_rate(c.rate())
            ),
            met: Some(met),
            robust: if met {
                spread(c.rate_min()) >= 3.0
            } else {
                spread(c.rate_max()) < 3.0
            },
        });
    }
    for c in cells
        .iter()
        .filter(|c| c.workload == "read" && c.engine == "aof" && c.ok())
    {
        let met = c.rate() >= 3e6;
        v.push(Target {
            name: format!(
                "hot random read by id >= 3M/s ({}, {} thread{})",
                size_label(c.size),
                c.threads,
                if c.threads == 1 { "" } else { "s" }
            ),
            measured: format!(
                "{}/s (reps {}–{}), p50 {} µs, p99 {} µs",
                fmt_rate(c.rate()),
                fmt_rate(c.rate_min()),
                fmt_rate(c.rate_max()),
                fmt_us(c.lat(|l| l.p50)),
                fmt_us(c.lat(|l| l.p99))
            ),
            met: Some(met),
            robust: if met {
                c.rate_min() >= 3e6
            } else {
                c.rate_max() < 3e6
            },
        });
    }
    v
}

pub fn targets_table(ts: &[Target]) -> String {
    let mut out = String::new();
    for t in ts {
        let verdict = match (t.met, t.robust) {
            (None, _) => "-",
            (Some(true), true) => "MET",
            (Some(true), false) => "MET (within noise)",
            (Some(false), true) => "MISSED",
            (Some(false), false) => "MISSED (within noise)",
        };
        let _ = writeln!(out, "{:<22} {:<58} {}", verdict, t.name, t.measured);
    }
    out
}

pub fn to_json(
    machine: Value,
    config: Value,
    cells: &[Cell],
    rows: &[RatioRow],
    ts: &[Target],
) -> Value {
    json!({
        "machine": machine,
        "config": config,
        "cells": cells.iter().map(Cell::to_json).collect::<Vec<_>>(),
        "ratios": rows.iter().map(|r| json!({
            "id": r.id,
            "vs": r.cols.iter().filter_map(|(n, v)| v.map(|v| (n.to_string(), json!({
                "median": v.median, "lo": v.lo, "hi": v.hi
            })))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "targets": ts.iter().map(|t| json!({
            "target": t.name, "measured": t.measured, "met": t.met, "robust": t.robust
        })).collect::<Vec<_>>(),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn to_csv(cells: &[Cell], rows: &[RatioRow]) -> String {
    let mut out = String::from(
        "id,workload,policy,size,threads,engine,status,records_per_s,records_per_s_min,records_per_s_max,mib_per_s,p50_us,p99_us,p999_us,syncs_per_record,note",
    );
    for c in RATIO_COLS {
        out.push_str(&format!(",x_{}", c.replace([' ', '/'], "_")));
    }
    out.push('\n');
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            String::new()
        }
    };
    for c in cells {
        let j = c.to_json();
        let ok = c.ok();
        let fields = [
            c.id(),
            c.workload.to_string(),
            c.policy.clone(),
            c.size.to_string(),
            c.threads.to_string(),
            c.engine.clone(),
            j["status"].as_str().unwrap_or("").to_string(),
            if ok { num(c.rate()) } else { String::new() },
            if ok { num(c.rate_min()) } else { String::new() },
            if ok { num(c.rate_max()) } else { String::new() },
            if ok { num(c.mib_s()) } else { String::new() },
            num(c.lat(|l| l.p50) / 1e3),
            num(c.lat(|l| l.p99) / 1e3),
            num(c.lat(|l| l.p999) / 1e3),
            c.syncs_per_record()
                .map_or(String::new(), |s| format!("{s:.5}")),
            c.note.clone(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        let row = rows.iter().find(|r| r.id == c.id());
        for col in RATIO_COLS {
            let v = row
                .and_then(|r| r.cols.iter().find(|(n, _)| *n == col))
                .and_then(|(_, v)| *v);
            out.push(',');
            if let Some(v) = v {
                out.push_str(&format!("{:.3}", v.median));
            }
        }
        out.push('\n');
    }
    out
}

/// The asynchronous-append targets: for each size and each depth of at least
/// `TARGET_DEPTH`, one thread's `append_notify` rate ÷ that of `TARGET_THREADS` threads
/// appending with Sync.
fn async_targets(cells: &[Cell]) -> Vec<Target> {
    let mut v = Vec::new();
    for &size in &async_append::SIZES {
        for &depth in async_append::DEPTHS.iter().filter(|&&d| d >= TARGET_DEPTH) {
            let a = find(
                cells,
                async_append::WORKLOAD,
                "sync",
                size,
                1,
                &async_append::notify_engine(depth),
            );
            let b = find(cells, "append", "sync", size, TARGET_THREADS, "aof");
            if a.is_none() && b.is_none() {
                continue;
            }
            v.push(check_ratio(
                &format!(
                    "async {} 1t {depth} in flight >= Sync {TARGET_THREADS}t",
                    size_label(size)
                ),
                cells,
                a,
                b,
                1.0,
                false,
            ));
        }
    }
    v
}

/// The asynchronous-append section: per record size, the raw baseline, Sync
/// with 1 and 16 threads and one thread with N asynchronous appends in flight, side by
/// side, then the target's verdict. `None` if no asynchronous-append cell ran.
pub fn async_section(cells: &[Cell], reps: usize) -> Option<String> {
    if !cells
        .iter()
        .any(|c| c.workload == async_append::WORKLOAD && c.ok())
    {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== asynchronous appends under Sync: durable records/s, median of {reps} reps \
         (min–max); latency per record from the append call until the caller sees it durable, \
         µs (median over reps)"
    );
    let _ = writeln!(
        out,
        "{:<6} {:<44} {:>22} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11}",
        "size",
        "how",
        "records/s (min–max)",
        "p50",
        "p99",
        "p99.9",
        "max",
        "rec/sync",
        "÷ Sync 16t"
    );
    for &size in &async_append::SIZES {
        let sync16 = find(cells, "append", "sync", size, TARGET_THREADS, "aof");
        let mut rows: Vec<(String, Option<&Cell>)> = vec![
            (
                "raw pwrite+fdatasync, 1 thread".into(),
                find(cells, "append", "sync", size, 1, "raw-fsync"),
            ),
            (
                "aof Sync append, 1 thread".into(),
                find(cells, "append", "sync", size, 1, "aof"),
            ),
            (format!("aof Sync append, {TARGET_THREADS} threads"), sync16),
        ];
        for (cell, depth, futures) in async_append::cells(size) {
            let how = if futures {
                format!("aof append_async (futures), {depth} in flight")
            } else {
                format!("aof append_notify, 1 thread, {depth} in flight")
            };
            rows.push((
                how,
                find(cells, cell.workload, "sync", size, 1, &cell.engine),
            ));
        }
        for (how, c) in rows {
            let Some(c) = c else {
                let _ = writeln!(out, "{:<6} {:<44} not measured", size_label(size), how);
                continue;
            };
            let rate = format!(
                "{} ({}–{})",
                fmt_rate(c.rate()),
                fmt_rate(c.rate_min()),
                fmt_rate(c.rate_max())
            );
            let per_sync = c
                .syncs_per_record()
                .filter(|&s| s > 0.0)
                .map_or("-".into(), |s| format!("{:.1}", 1.0 / s));
            let vs = sync16.map_or("-".into(), |b| format!("{:.2}x", ratio(c, b).median));
            let _ = writeln!(
                out,
                "{:<6} {:<44} {:>22} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11}",
                size_label(size),
                how,
                rate,
                fmt_us(c.lat(|l| l.p50)),
                fmt_us(c.lat(|l| l.p99)),
                fmt_us(c.lat(|l| l.p999)),
                fmt_us(c.lat(|l| l.max)),
                per_sync,
                vs
            );
        }
        out.push('\n');
    }
    let ts = async_targets(cells);
    let verdict = if ts.is_empty() || ts.iter().any(|t| t.met.is_none()) {
        "NOT MEASURED"
    } else if ts.iter().all(|t| t.met == Some(true)) {
        if ts.iter().all(|t| t.robust) {
            "MET"
        } else {
            "MET (within noise)"
        }
    } else if ts.iter().any(|t| t.met == Some(false) && t.robust) {
        "MISSED"
    } else {
        "MISSED (within noise)"
    };
    let _ = writeln!(
        out,
        "target: one thread with >= {TARGET_DEPTH} in flight at least matches \
         {TARGET_THREADS} Sync threads: {verdict}"
    );
    for t in &ts {
        let _ = writeln!(
            out,
            "  {:<40} {:<22} {}",
            t.name,
            match (t.met, t.robust) {
                (None, _) => "-",
                (Some(true), true) => "met",
                (Some(true), false) => "met (within noise)",
                (Some(false), true) => "missed",
                (Some(false), false) => "missed (within noise)",
            },
            t.measured
        );
    }
    Some(out)
}
