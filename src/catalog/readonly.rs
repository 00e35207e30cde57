//! Opening a catalogue read-only, for readers in another process than the log's writer
//! (`log::readonly`): one snapshot of a log's record, then the environment is closed.
//!
//! What a read-only open does and does not do (libmdbx 0.14, measured and read in its
//! source):
//! - It never creates a file: the permissions given to libmdbx are 0, so neither the data
//!   file nor the lock file (`.catalog.mdbx-lck`) is created when missing. A catalogue
//!   without its lock file (one never opened since it was set aside, or a copied
//!   directory) is not read; the caller falls back on the segment files.
//! - It writes nothing to the data file. Like every libmdbx reader it takes a slot in the
//!   reader table of the lock file while a read transaction runs (one, inside
//!   [`Catalog::read_only_snapshot`]), which keeps the writer from reusing the pages that
//!   transaction sees; libmdbx is built for read-only openers alongside a writer in
//!   another process (and for a read-write opener after a read-only one). In the
//!   writer's own process the two must not overlap: see [`GATE`].
//! - It cannot turn on `MDBX_VALIDATION` (libmdbx refuses to change the flags of a
//!   read-only environment, and its binding has no way to pass the flag at open). So a
//!   damaged catalogue page can kill the reading process (SIGBUS) where the writer's
//!   checked open would report it. [`check_existing`](super::env::check_existing) runs
//!   first, and every value is still checked by its checksum; readers that must survive
//!   any catalogue can skip it and read the files alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use libmdbx::{Database, DatabaseOptions, Mode, NoWriteMap};

use super::env::{self, FILE_NAME};
use super::{mdbx_error, Catalog, LogMeta, SegmentEntry, TierEntry, DEFAULT_MAX_SIZE};
use crate::error::{Error, Result};

/// Held while a read-only environment is open, and by every read-write open while it
/// opens its environment. libmdbx refuses a second environment of one file in one process,
/// and a log's open takes that refusal for damage (it sets the catalogue aside and
/// rebuilds it): so a log opening in the process of a read-only reader waits for the
/// reader's snapshot (milliseconds) instead. A reader finding the log's environment open
/// already gets the refusal itself, and reads the files alone.
static GATE: Mutex<()> = Mutex::new(());

pub(super) fn gate() -> MutexGuard<'static, ()> {
    GATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One log's record in the catalogue, read in one read transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSnapshot {
    pub meta: LogMeta,
    /// Every segment entry of the log, by base id (Deleting ones included).
    pub segments: BTreeMap<u64, SegmentEntry>,
    /// The tier entries of its segments that have one, by base id.
    pub tiers: BTreeMap<u64, TierEntry>,
}

impl Catalog {
    /// The record of log `name` in the catalogue of `dir`, read through a read-only open
    /// (see the module documentation) that is closed before this returns; `None` if the
    /// catalogue has no such log. Fails if the file or its lock file is missing, instead
    /// of creating them.
    pub fn read_only_snapshot(dir: &Path, name: &str) -> Result<Option<LogSnapshot>> {
        let _gate = gate();
        let catalog = Catalog::open_read_only(dir)?;
        catalog.snapshot_log(name)
    }

    /// Opens the catalogue in `dir` read-only. The caller holds the gate for as long as it
    /// keeps it open.
    fn open_read_only(dir: &Path) -> Result<Catalog> {
        let path = dir.join(FILE_NAME);
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        env::check_existing(&path, len)?;
        let lock = env::lock_path(&path);
        if !lock.exists() {
            return Err(Error::Catalog {
                path,
                detail: "its lock file is missing, and a read-only open does not create it".into(),
            });
        }
        let options = DatabaseOptions {
            max_tables: Some(16),
            no_sub_dir: true,
            // No O_CREAT for any file libmdbx opens.
            permissions: Some(0),
            mode: Mode::ReadOnly,
            ..Default::default()
        };
        let db = Database::<NoWriteMap>::open_with_options(&path, options)
            .map_err(|e| mdbx_error(&path, DEFAULT_MAX_SIZE, "open read-only", e))?;
        let catalog = Catalog {
            db: Some(db),
            path,
            max_size: DEFAULT_MAX_SIZE,
            owner_pid: std::process::id(),
            created: false,
        };
        catalog.check_header()?;
        Ok(catalog)
    }

    /// The record of log `name` (its entry, its segments and their tier entries) as one
    /// read transaction sees it; `None` if the catalogue has no such log.
    fn snapshot_log(&self, name: &str) -> Result<Option<LogSnapshot>> {
        super::check_name(name)?;
        self.read(|r| {
            let Some(meta) = r.log(name)? else {
                return Ok(None);
            };
            let mut segments = BTreeMap::new();
            let mut tiers = BTreeMap::new();
            for (base, entry) in r.segments(meta.uid)? {
                segments.insert(base, entry);
                if let Some(tier) = r.tier(meta.uid, base)? {
                    tiers.insert(base, tier);
                }
            }
            Ok(Some(LogSnapshot {
                meta,
                segments,
                tiers,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Location, NewLog, SegmentState};

    fn sealed(base: u64, count: u64) -> SegmentEntry {
        SegmentEntry {
            state: SegmentState::Sealed,
            location: Location::LocalFile,
            capacity: 1 << 20,
            last_id: base + count - 1,
            record_count: count,
            payload_bytes: count * 10,
            data_end: 64 + count * 48,
            first_byte_pos: (base - 1) * 10,
            created_us: 1,
            sealed_us: 2,
            records_crc: 3,
        }
    }

    #[test]
    fn read_only_open_sees_what_was_written_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let uid = {
            let c = Catalog::open(dir.path()).unwrap();
            let meta = c
                .create_log(
                    "",
                    NewLog {
                        segment_size: 1 << 20,
                        segment_format_version: 1,
                    },
                )
                .unwrap();
            c.put_segment(meta.uid, 1, &sealed(1, 5)).unwrap();
            c.put_segment(meta.uid, 6, &sealed(6, 5)).unwrap();
            meta.uid
        };
        let file = dir.path().join(FILE_NAME);
        let before = std::fs::read(&file).unwrap();
        let _gate = gate();
        let c = Catalog::open_read_only(dir.path()).unwrap();
        let snap = c.snapshot_log("").unwrap().unwrap();
        assert_eq!(snap.meta.uid, uid);
        assert_eq!(snap.segments.len(), 2);
        assert_eq!(snap.segments[&6], sealed(6, 5));
        assert!(snap.tiers.is_empty());
        assert_eq!(c.snapshot_log("other").unwrap(), None);
        // Writes are refused, and the file is untouched.
        assert!(c.remove_segment(uid, 1).is_err());
        drop(c);
        assert_eq!(std::fs::read(&file).unwrap(), before);
        drop(_gate);
        // The same through the one call readers make.
        let snap = Catalog::read_only_snapshot(dir.path(), "")
            .unwrap()
            .unwrap();
        assert_eq!(snap.segments.len(), 2);
    }

    #[test]
    fn read_only_open_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Catalog::read_only_snapshot(dir.path(), ""),
            Err(Error::Io { .. })
        ));
        drop(Catalog::open(dir.path()).unwrap());
        let lock = env::lock_path(&dir.path().join(FILE_NAME));
        std::fs::remove_file(&lock).unwrap();
        assert!(matches!(
            Catalog::read_only_snapshot(dir.path(), ""),
            Err(Error::Catalog { .. })
        ));
        assert!(!lock.exists());
    }
}
