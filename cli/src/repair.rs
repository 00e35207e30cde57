//! `aof repair`: cut a torn or damaged tail, on purpose and after asking.
//!
//! The cut itself is the one `Log::open` makes (recovery): the first record of the last
//! segment that is not whole, and every non-zero byte after it. This command shows that
//! cut first (read-only), asks, checks the log did not change meanwhile, then opens the
//! log for writing (which takes the directory lock: a writer holding it is refused) and
//! closes it cleanly.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use aof::{LockHolder, MarkerState, ReadOnlyLog, SegmentTier};
use clap::Args;

use crate::{exit, fmt, LogArgs};

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Do not ask: cut what a recovery cuts
    #[arg(long, short)]
    pub yes: bool,
}

/// What opening the log would change.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// The torn tail: segment, offset, the first id lost, bytes cut, why.
    cut: Option<(PathBuf, u64, u64, u64, String)>,
    /// Sealed segments whose footer is damaged: recovery rebuilds it from the records.
    footers: Vec<u64>,
}

impl Plan {
    fn of(log: &ReadOnlyLog) -> Plan {
        let segments = log.segments();
        let last = segments.last();
        // After a clean close recovery trusts the marker and scans nothing.
        let trusted = matches!(
            (log.marker(), last),
            (MarkerState::Valid(m), Some(s)) if m.active_base_id == s.base_id
        );
        let cut = match (log.tail(), last) {
            (Some(t), Some(s)) if !trusted => t
                .garbage
                .map(|(at, len)| (s.path.clone(), at, t.next_id, len, t.stop.clone())),
            _ => None,
        };
        let footers = segments
            .iter()
            .take(segments.len().saturating_sub(1))
            .filter(|s| s.tier == SegmentTier::Plain && s.header.is_some() && s.footer.is_none())
            .map(|s| s.base_id)
            .collect();
        Plan { cut, footers }
    }

    fn is_empty(&self) -> bool {
        self.cut.is_none() && self.footers.is_empty()
    }

    fn print(&self) {
        if let Some((path, at, id, len, why)) = &self.cut {
            println!(
                "cut: {} from offset {at}: {len} bytes ({}), from record {id} on ({why})",
                path.display(),
                fmt::bytes(*len)
            );
            println!("     records before {id} stay; the bytes cut are overwritten with zeros");
        }
        for base in &self.footers {
            println!("rebuild: the damaged footer of segment {base}, from its records");
        }
    }
}

pub fn run(a: &RepairArgs) -> u8 {
    if let LockHolder::Process(pid) = aof::lock_holder(&a.log.dir) {
        eprintln!(
            "aof: process {pid} has {} open for writing: close it first (repair needs the \
             log to itself)",
            a.log.dir.display()
        );
        return exit::BUSY;
    }
    let log = match a.log.open() {
        Ok(l) => l,
        Err(status) => return status,
    };
    let plan = Plan::of(&log);
    if plan.is_empty() {
        println!("nothing to repair: no torn tail to cut");
        return exit::OK;
    }
    plan.print();
    let segment_size = segment_size(&log);
    drop(log);
    if !a.yes && !confirm() {
        println!("nothing changed");
        return exit::FAILED;
    }
    // The log must still be as shown.
    match a.log.open() {
        Ok(again) if Plan::of(&again) == plan => {}
        Ok(_) => {
            eprintln!("aof: the log changed since it was shown: nothing changed; run repair again");
            return exit::FAILED;
        }
        Err(status) => return status,
    }
    open_and_close(a, segment_size)
}

/// Asks on the terminal; anything but yes is no.
fn confirm() -> bool {
    eprint!("cut it? [y/N] ");
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// The size of the log's segments, so that opening it changes nothing else (an empty
/// active segment of another size than configured would be replaced).
fn segment_size(log: &ReadOnlyLog) -> Option<u64> {
    log.segments()
        .last()
        .and_then(|s| s.header)
        .map(|h| h.capacity)
        .or_else(|| log.catalog().map(|c| c.meta.segment_size))
}

/// The manager root and the log's name there, if the log belongs to a manager.
fn manager_of(dir: &Path) -> Option<(PathBuf, String)> {
    let abs = std::fs::canonicalize(dir).ok()?;
    let root = abs.parent()?;
    let name = abs.file_name()?.to_str()?.to_owned();
    root.join(".manager.lock")
        .exists()
        .then(|| (root.to_path_buf(), name))
}

/// Opens the log for writing (recovery cuts the tail), reports what it did, closes it.
fn open_and_close(a: &RepairArgs, segment_size: Option<u64>) -> u8 {
    let mut options = aof::Options::default();
    if let Some(size) = segment_size {
        options.segment_size = size;
    }
    let opened = match manager_of(&a.log.dir) {
        Some((root, name)) => {
            let m = aof::ManagerOptions {
                archive: a.log.archive(),
                ..Default::default()
            };
            aof::Manager::open(&root, m)
                .and_then(|m| m.open_log(&name, options).map(|log| (log, Some(m))))
        }
        None => aof::Log::open(&a.log.dir, options).map(|log| (log, None)),
    };
    let (log, manager) = match opened {
        Ok(x) => x,
        Err(aof::Error::Busy(path)) => {
            eprintln!(
                "aof: {} is locked: a writer has the log open (close it first); nothing changed",
                path.display()
            );
            return exit::BUSY;
        }
        Err(e) => {
            eprintln!("aof: cannot open {} for writing: {e}", a.log.dir.display());
            return exit::CANNOT_OPEN;
        }
    };
    let report = log.recovery().clone();
    match &report.repaired {
        Some(r) => println!(
            "cut {} bytes of {} at offset {} ({}); the log now ends at id {}",
            r.discarded_bytes,
            r.segment.display(),
            r.offset,
            r.reason,
            log.last_id()
        ),
        None => println!("nothing was cut; the log ends at id {}", log.last_id()),
    }
    for path in &report.footers_rebuilt {
        println!("rebuilt the footer of {}", path.display());
    }
    let closed = log
        .close()
        .and_then(|()| manager.map_or(Ok(()), |m| m.close()));
    match closed {
        Ok(()) => {
            println!("the log was closed cleanly");
            exit::OK
        }
        Err(e) => {
            eprintln!("aof: close: {e}");
            exit::FAILED
        }
    }
}
