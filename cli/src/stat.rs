//! `aof stat`: what a log holds and how, from its catalogue and its files.

use std::collections::BTreeSet;

use aof::{CatalogStatus, LockHolder, MarkerState, ReadOnlyLog, SegmentTier};
use clap::Args;

use crate::{exit, fmt, LogArgs};

#[derive(Args, Debug)]
pub struct StatArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Also list every segment
    #[arg(long, short)]
    pub segments: bool,
}

/// One row of the tier table.
#[derive(Default)]
struct Totals {
    segments: u64,
    records: u64,
    payload: u64,
    /// Bytes the files take on disk (allocated), or the objects in the archive.
    on_disk: u64,
    /// Plain and compressed bytes of the segments that have both figures.
    plain: u64,
    compressed: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.segments += o.segments;
        self.records += o.records;
        self.payload += o.payload;
        self.on_disk += o.on_disk;
        self.plain += o.plain;
        self.compressed += o.compressed;
    }

    fn ratio(&self) -> String {
        if self.compressed == 0 {
            "-".into()
        } else {
            format!("{:.2}x", self.plain as f64 / self.compressed as f64)
        }
    }
}

/// What one segment contributes, and its row in `--segments`.
struct Row {
    class: usize,
    totals: Totals,
    last: Option<u64>,
    first_pos: Option<u64>,
    version: Option<u32>,
}

const CLASSES: [&str; 4] = ["active", "sealed", "compressed", "archived"];

pub fn run(a: &StatArgs) -> u8 {
    let log = match a.log.open() {
        Ok(l) => l,
        Err(status) => return status,
    };
    let n = log.segments().len();
    let bar = crate::progress(n as u64, "stat", false);
    let mut rows = Vec::with_capacity(n);
    let mut failed = false;
    for i in 0..n {
        bar.set_position(i as u64);
        rows.push(row(&log, i, &mut failed));
    }
    bar.finish_and_clear();
    print_header(&log);
    let mut by_class: [Totals; 4] = Default::default();
    let mut all = Totals::default();
    for r in &rows {
        by_class[r.class].add(&r.totals);
        all.add(&r.totals);
    }
    let (first, last) = log.bounds();
    let records = last.saturating_add(1).saturating_sub(first);
    if records == 0 {
        println!("records      none (the next id is {first})");
    } else {
        println!(
            "records      ids {first}..={last}: {records} records, {} of payload ({} bytes)",
            fmt::bytes(all.payload),
            all.payload
        );
    }
    if let (Some(start), true) = (rows.first().and_then(|r| r.first_pos), n > 0) {
        println!(
            "positions    {start}..{} (byte positions of the payloads)",
            start + all.payload
        );
    }
    print_tail(&log);
    let versions: BTreeSet<u32> = rows.iter().filter_map(|r| r.version).collect();
    let versions: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
    let catalog = log
        .catalog()
        .map(|c| format!(", the catalogue says v{}", c.meta.segment_format_version))
        .unwrap_or_default();
    println!(
        "format       segment headers {}{catalog}",
        if versions.is_empty() {
            "-".to_string()
        } else {
            versions.join(", ")
        }
    );
    println!();
    println!(
        "{:<12} {:>9} {:>12} {:>11} {:>11} {:>8}",
        "tier", "segments", "records", "payload", "on disk", "ratio"
    );
    for (name, t) in CLASSES.into_iter().zip(&by_class).chain([("total", &all)]) {
        println!(
            "{:<12} {:>9} {:>12} {:>11} {:>11} {:>8}",
            name,
            fmt::count(t.segments),
            fmt::count(t.records),
            fmt::bytes(t.payload),
            fmt::bytes(t.on_disk),
            t.ratio()
        );
    }
    println!("(on disk: blocks the files take; for archived segments, their objects' size)");
    if a.segments {
        print_segments(&log, &rows);
    }
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn print_header(log: &ReadOnlyLog) {
    println!("log          {}", log.dir().display());
    match log.catalog_status() {
        CatalogStatus::Read { path, name } => {
            let m = &log.catalog().expect("read").meta;
            let name = if name.is_empty() {
                "the log's own".to_string()
            } else {
                format!("the manager's, log {name:?}")
            };
            println!("catalogue    {} ({name}, uid {})", path.display(), m.uid);
            println!(
                "             created {}, segment size {}, oldest retained id {}",
                fmt::when(m.created_us),
                fmt::bytes(m.segment_size),
                m.oldest_retained_id
            );
        }
        CatalogStatus::NoRecord { path, name } => println!(
            "catalogue    {} has no record of log {name:?} (the next open rebuilds it)",
            path.display()
        ),
        CatalogStatus::Missing => println!("catalogue    none (the next open creates it)"),
        CatalogStatus::Unreadable(why) => {
            println!("catalogue    not read ({why}); from the files alone")
        }
        CatalogStatus::Skipped => println!("catalogue    not read (--no-catalog)"),
    }
    match aof::lock_holder(log.dir()) {
        LockHolder::Free => println!("writer       none: nobody has the log open"),
        LockHolder::Process(pid) => {
            println!("writer       process {pid} has the log open (it holds the lock)")
        }
        LockHolder::Unknown(why) => println!("writer       unknown ({why})"),
    }
    let clean_id = log
        .catalog()
        .map(|c| c.meta.clean_close_id)
        .filter(|&id| id > 0)
        .map(|id| format!("; the catalogue's clean-close id is {id}"))
        .unwrap_or_default();
    match log.marker() {
        MarkerState::Valid(m) => println!(
            "clean close  yes: CLEAN marker present (next id {}, active segment {} up to \
             offset {}){clean_id}",
            m.next_id, m.active_base_id, m.write_offset
        ),
        MarkerState::Absent => println!(
            "clean close  no CLEAN marker: the log is open, or was not closed cleanly \
             (the next open scans its tail){clean_id}"
        ),
        MarkerState::Invalid => {
            println!("clean close  a CLEAN file that does not decode (open ignores it)")
        }
    }
}

fn print_tail(log: &ReadOnlyLog) {
    let Some(t) = log.tail() else {
        return;
    };
    let seg = log.segments().last().expect("a tail is in a segment");
    let records = t.next_id - seg.base_id;
    println!(
        "last segment {}: {} records, {} of {} used",
        seg.path.display(),
        fmt::count(records),
        fmt::bytes(t.offset),
        fmt::bytes(seg.file_len)
    );
    if let Some((at, len)) = t.garbage {
        println!(
            "             {len} bytes at offset {at} after the last whole record ({}): a \
             record being written, or a torn tail that an open would cut",
            t.stop
        );
    }
}

/// Counts what segment `i` holds; on a failure to read it, says so and sets `failed`.
fn row(log: &ReadOnlyLog, i: usize, failed: &mut bool) -> Row {
    let s = &log.segments()[i];
    let is_last = i + 1 == log.segments().len();
    let class = match s.tier {
        SegmentTier::Plain if is_last && s.footer.is_none() => 0,
        SegmentTier::Plain => 1,
        SegmentTier::Compressed => 2,
        SegmentTier::Archived => 3,
    };
    let last = log.last_id_of(i);
    let payload = match log.payload_bytes(i) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("aof: segment {}: {e}", s.base_id);
            *failed = true;
            0
        }
    };
    let tier = s.tier_entry.as_ref();
    let totals = Totals {
        segments: 1,
        records: last.map_or(0, |l| (l + 1).saturating_sub(s.base_id)),
        payload,
        on_disk: match s.tier {
            SegmentTier::Archived => tier.map_or(0, |t| t.compressed_len),
            _ => s.allocated,
        },
        plain: tier.map_or(0, |t| t.plain_len),
        compressed: tier.map_or(0, |t| t.compressed_len),
    };
    Row {
        class,
        totals,
        last,
        first_pos: log.first_pos(i).ok(),
        version: s.header.map(|h| h.format_version),
    }
}

fn print_segments(log: &ReadOnlyLog, rows: &[Row]) {
    println!();
    println!(
        "{:>20} {:>20} {:>10} {:<10} {:>10} {:>10} {:>10} {:>14} {:>7} {:>3}  sealed",
        "base id",
        "last id",
        "records",
        "tier",
        "file",
        "on disk",
        "payload",
        "first pos",
        "ratio",
        "fmt"
    );
    for (s, r) in log.segments().iter().zip(rows) {
        let sealed = s.entry.map(|e| e.sealed_us).filter(|&t| t > 0).map_or_else(
            || {
                if r.class == 0 {
                    "active".into()
                } else {
                    "-".into()
                }
            },
            fmt::timestamp,
        );
        println!(
            "{:>20} {:>20} {:>10} {:<10} {:>10} {:>10} {:>10} {:>14} {:>7} {:>3}  {sealed}",
            s.base_id,
            r.last.map_or("?".into(), |l| l.to_string()),
            fmt::count(r.totals.records),
            CLASSES[r.class],
            fmt::bytes(s.file_len),
            fmt::bytes(r.totals.on_disk),
            fmt::bytes(r.totals.payload),
            r.first_pos.map_or("?".into(), |p| p.to_string()),
            r.totals.ratio(),
            r.version.map_or("-".into(), |v| v.to_string()),
        );
        if let Some(p) = &s.problem {
            println!("{:>20} problem: {p}", "");
        }
    }
}
