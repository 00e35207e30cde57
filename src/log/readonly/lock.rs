//! Who holds a log's directory lock, found without taking it.
//!
//! A writer holds an exclusive `flock` on `<dir>/LOCK` while the log is open. Trying the
//! lock to find out (`LOCK_EX | LOCK_NB`, then letting go) would take it for an instant,
//! and a writer opening at that instant would fail with `Busy`: a reader must not. So the
//! kernel's table of locks (`/proc/locks`, Linux) is read instead, and the lock file is
//! matched by its inode number.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::segment::layout::Layout;

/// Whether a process holds a log's directory lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockHolder {
    /// Nobody: the log is closed (or was left by a crash).
    Free,
    /// A process holds it: the log is open for writing (the pid as the kernel reports it;
    /// from another pid namespace it may be 0).
    Process(u32),
    /// It could not be told (no `/proc/locks`, no lock file): assume a writer may be at work.
    Unknown(String),
}

impl LockHolder {
    /// Whether a writer may have the log open (held, or unknown).
    pub fn may_be_held(&self) -> bool {
        !matches!(self, LockHolder::Free)
    }
}

/// Who holds the directory lock of the log in `dir`, without taking it (see the module
/// documentation).
pub fn lock_holder(dir: &Path) -> LockHolder {
    let lock = Layout::new(dir).lock_file();
    let inode = match std::fs::metadata(&lock) {
        Ok(m) => m.ino(),
        // No lock file: no handle has ever opened the log here, so none holds it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockHolder::Free,
        Err(e) => return LockHolder::Unknown(format!("stat {}: {e}", lock.display())),
    };
    match std::fs::read_to_string("/proc/locks") {
        Ok(table) => holder_in(&table, inode),
        Err(e) => LockHolder::Unknown(format!("read /proc/locks: {e}")),
    }
}

/// The holder of a `flock` on the file with inode `inode` in a `/proc/locks` table.
///
/// Lines look like `1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`; a process waiting
/// for a lock has `->` after the number, and is not a holder. The device is not compared:
/// some file systems (btrfs subvolumes, overlays) report another device in `stat` than in
/// this table.
fn holder_in(table: &str, inode: u64) -> LockHolder {
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            continue;
        }
        let (Some(pid), Some(file)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let ino = file.rsplit(':').next().and_then(|i| i.parse::<u64>().ok());
        if ino == Some(inode) {
            return LockHolder::Process(pid.parse().unwrap_or(0));
        }
    }
    LockHolder::Free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_table() {
        let table = "1: POSIX  ADVISORY  WRITE 99 fd:01:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 4321 fd:01:5678 0 EOF\n";
        assert_eq!(holder_in(table, 5678), LockHolder::Process(1234));
        assert_eq!(holder_in(table, 77), LockHolder::Free);
        assert_eq!(holder_in("", 1), LockHolder::Free);
    }

    #[test]
    fn sees_a_log_open_in_this_process() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lock_holder(dir.path()), LockHolder::Free);
        let log = crate::Log::open(dir.path(), crate::Options::default()).unwrap();
        let held = lock_holder(dir.path());
        if !matches!(held, LockHolder::Unknown(_)) {
            assert_eq!(held, LockHolder::Process(std::process::id()));
        }
        log.close().unwrap();
        drop(log);
        assert!(!matches!(lock_holder(dir.path()), LockHolder::Process(_)));
    }
}
