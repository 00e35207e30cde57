//! The segment catalogue: the durable record of every log and of each log's segments, in
//! one libmdbx environment (`<dir>/.catalog.mdbx`). `docs/FORMAT.md` ("Catalogue (version
//! 1)") has its tables, keys and values byte by byte, and the order in which the log is to
//! write it.
//!
//! One catalogue serves one manager (up to thousands of logs) or one log opened alone; it
//! costs one libmdbx environment and one thread whatever the number of logs.
//!
//! # How it is used
//! - Every method takes `&self`; a [`Catalog`] is `Send + Sync`, to be shared in an `Arc`.
//! - Every write is one method that begins its own write transaction, applies its changes
//!   and commits it durably before it returns (`SyncMode::Durable`). Several changes that
//!   must land together go through [`Catalog::batch`]. No transaction is ever handed out,
//!   so no caller can hold one across other calls: libmdbx admits one write transaction at
//!   a time per environment, and a thread that asked for a second while holding the first
//!   would wait forever. Writers on different threads simply queue.
//! - Closures given to [`Catalog::update_log`], [`Catalog::update_segment`] and
//!   [`Catalog::batch`] run inside the write transaction: keep them short, do not block in
//!   them, and do not call a catalogue from them (that returns an error instead of
//!   deadlocking).
//! - Read transactions live inside one method call, so no reader holds back the reuse of
//!   freed pages (a long-lived reader makes a libmdbx file grow).
//! - A catalogue opened by one process is refused in a forked child (an error, never a
//!   touch of the parent's environment); the child must open the catalogue itself.
//! - A catalogue file may be open once per process (a second open fails): share the
//!   `Catalog`.
//!
//! # Errors
//! Every failure is [`Error::Catalog`] naming the catalogue file (status
//! `AOF_ERR_CATALOG`), except caller mistakes ([`Error::InvalidArgument`]) and file-system
//! errors while creating the file ([`Error::Io`]). A full catalogue says so and gives its
//! size cap; a damaged one says "damaged" and what was found; a value written by a newer
//! libaof is refused, never misread.

mod env;
mod format;
mod readonly;
mod tier;
mod txn;

use std::borrow::Cow;
use std::cell::Cell;
use std::path::{Path, PathBuf};

use libmdbx::{
    Cursor, Database, NoWriteMap, Table, TableFlags, Transaction, TransactionKind, WriteFlags, RW,
};

pub use env::{DEFAULT_MAX_SIZE, FILE_NAME, MIN_MAX_SIZE};
pub use format::{Location, LogMeta, SegmentEntry, SegmentState, MAX_NAME_LEN};
pub use readonly::LogSnapshot;
pub use tier::{FrameEntry, TierEntry, UploadState};
pub use txn::Batch;
use txn::{lookup, Reader};

use format::{
    check_value_crc, parse_segment_key, segment_key, CatalogHeader, DecodeError, HEADER_KEY,
};

use crate::error::{Error, Result};
use crate::fsio;

/// Table holding the catalogue header.
const TABLE_META: &str = "meta";
/// Table of logs by name.
const TABLE_LOGS: &str = "logs";
/// Table of segment entries by (uid, base id).
const TABLE_SEGMENTS: &str = "segments";
/// Segments in a tier (`tier::TierEntry`): created by the first compression, so not in
/// `TABLES`; absent reads as empty.
const TABLE_TIERS: &str = "tiers";
/// Every table of version 1, created with the catalogue.
const TABLES: [&str; 3] = [TABLE_META, TABLE_LOGS, TABLE_SEGMENTS];

/// Options of [`Catalog::open_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogOptions {
    /// Size cap of the catalogue file in bytes (at least [`MIN_MAX_SIZE`]). A write that
    /// would grow the file past it fails with "the catalogue is full". Default:
    /// [`DEFAULT_MAX_SIZE`] (4 GiB, about 25 million segment entries).
    pub max_size: u64,
}

impl CatalogOptions {
    /// The catalogue of one log opened alone: 64 MiB hold about 400,000 segment entries
    /// (25 TiB of default 64 MiB segments), and a smaller map costs less address space
    /// per log.
    pub fn single_log() -> CatalogOptions {
        CatalogOptions { max_size: 64 << 20 }
    }
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

/// What [`Catalog::create_log`] needs to know of a new log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewLog {
    /// Size the log's segment files are created with (not 0).
    pub segment_size: u64,
    /// Format version of its segment files (not 0).
    pub segment_format_version: u32,
}

/// The segment catalogue of one directory. See the module documentation.
pub struct Catalog {
    /// `None` only while dropping in a forked child (the parent's environment is left
    /// untouched there).
    db: Option<Database<NoWriteMap>>,
    path: PathBuf,
    max_size: u64,
    /// The process that opened the environment; no other may use it.
    owner_pid: u32,
    created: bool,
}

thread_local! {
    /// True while this thread is inside a catalogue method (so inside a closure it runs).
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as inside a catalogue method until dropped.
struct CallGuard;

impl Drop for CallGuard {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.set(false));
    }
}

/// Turns a libmdbx error into [`Error::Catalog`] naming the file and, when the catalogue
/// is full, its size cap.
fn mdbx_error(path: &Path, max_size: u64, op: &str, e: libmdbx::Error) -> Error {
    let detail = match e {
        libmdbx::Error::MapFull => format!(
            "{op}: the catalogue is full: it reached its size cap of {max_size} bytes \
             ({} MiB; MDBX_MAP_FULL)",
            max_size >> 20
        ),
        // What libmdbx says when the file is already open in this process.
        libmdbx::Error::Busy => format!("{op}: {e} (is it already open in this process?)"),
        libmdbx::Error::Other(code) if code == libc::EAGAIN => {
            format!("{op}: {e} (is it already open in this process?)")
        }
        libmdbx::Error::Corrupted | libmdbx::Error::PageNotFound | libmdbx::Error::Invalid => {
            format!("{op}: damaged: {e}")
        }
        e => format!("{op}: {e}"),
    };
    Error::Catalog {
        path: path.to_path_buf(),
        detail,
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "log name of {} bytes is longer than {MAX_NAME_LEN}",
            name.len()
        )));
    }
    Ok(())
}

fn check_ids(uid: u64, base: u64) -> Result<()> {
    if uid == 0 || base == 0 {
        return Err(Error::InvalidArgument(format!(
            "segment key uid {uid} base {base}: neither may be 0"
        )));
    }
    Ok(())
}

impl Catalog {
    /// Opens the catalogue in `dir` (which must exist) with default options, creating
    /// `<dir>/.catalog.mdbx` if it is missing.
    pub fn open(dir: &Path) -> Result<Catalog> {
        Catalog::open_with(dir, &CatalogOptions::default())
    }

    /// Opens the catalogue in `dir`, creating it if missing.
    ///
    /// A missing file is created (see [`Catalog::was_created`]); an existing one must be a
    /// complete catalogue: a file that is truncated, not a libmdbx file, without the
    /// catalogue header, or of a newer catalogue version is refused with
    /// [`Error::Catalog`].
    pub fn open_with(dir: &Path, options: &CatalogOptions) -> Result<Catalog> {
        if options.max_size < MIN_MAX_SIZE || options.max_size > isize::MAX as u64 {
            return Err(Error::InvalidArgument(format!(
                "catalogue max_size {} is below {MIN_MAX_SIZE} or too large",
                options.max_size
            )));
        }
        let path = dir.join(FILE_NAME);
        let created = match std::fs::metadata(&path) {
            Ok(m) => {
                env::check_existing(&path, m.len())?;
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !dir.is_dir() {
                    return Err(Error::io("open catalogue directory", dir, e));
                }
                env::create(dir, options.max_size, fsio::now_us())?;
                true
            }
            Err(e) => return Err(Error::io("stat", &path, e)),
        };
        // Not while a read-only reader of this process has an environment open (see
        // `readonly::gate`).
        let db = {
            let _gate = readonly::gate();
            env::open(&path, options.max_size)?
        };
        let catalog = Catalog {
            db: Some(db),
            path,
            max_size: options.max_size,
            owner_pid: std::process::id(),
            created,
        };
        catalog.check_header()?;
        Ok(catalog)
    }

    /// Opens the catalogue in `dir` like [`Catalog::open`]; if it is damaged (refused at
    /// open, or a log's record fails its checks), moves the damaged file aside as
    /// `.catalog.mdbx.damaged` (replacing an older one) and creates a new, empty one. The
    /// segment files are the truth: each log rebuilds its record from them when it opens.
    /// Returns the catalogue and, if one was replaced, what was wrong with it.
    pub fn open_or_replace(
        dir: &Path,
        options: &CatalogOptions,
    ) -> Result<(Catalog, Option<String>)> {
        let opened = Catalog::open_with(dir, options).and_then(|c| c.list_logs().map(|_| c));
        let damage = match opened {
            Ok(c) => return Ok((c, None)),
            Err(e @ Error::Catalog { .. }) => e.to_string(),
            Err(e) => return Err(e),
        };
        Catalog::set_aside(dir)?;
        Ok((Catalog::open_with(dir, options)?, Some(damage)))
    }

    /// Moves a damaged catalogue of `dir` (closed) aside as `.catalog.mdbx.damaged`, so
    /// that the next open creates a new one.
    pub fn set_aside(dir: &Path) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let aside = dir.join(format!("{FILE_NAME}.damaged"));
        fsio::rename(&path, &aside)?;
        let lck = dir.join(format!("{FILE_NAME}{}", env::LOCK_SUFFIX));
        if lck.exists() {
            fsio::remove_file(&lck)?;
        }
        fsio::fsync_dir(dir)
    }

    /// The catalogue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when this open created the catalogue file (it did not exist).
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// The size cap of the file in bytes.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// The current size of the catalogue file in bytes.
    pub fn file_size(&self) -> Result<u64> {
        let _call = self.enter()?;
        let info = self.db()?.info().map_err(|e| self.mdbx("info", e))?;
        Ok(info.geometry().current_size())
    }

    // --- reads ---------------------------------------------------------------------------

    /// The log named `name`, if the catalogue has it.
    pub fn log(&self, name: &str) -> Result<Option<LogMeta>> {
        check_name(name)?;
        self.read(|r| r.log(name))
    }

    /// Every log, in name order (bytewise).
    pub fn list_logs(&self) -> Result<Vec<(String, LogMeta)>> {
        self.read(|r| r.list_logs())
    }

    /// The segment entries of log `uid`, in base id order.
    pub fn segments(&self, uid: u64) -> Result<Vec<(u64, SegmentEntry)>> {
        self.read(|r| r.segments(uid))
    }

    /// The entry of the segment of log `uid` starting at `base`, if any.
    pub fn segment(&self, uid: u64, base: u64) -> Result<Option<SegmentEntry>> {
        check_ids(uid, base)?;
        self.read(|r| r.segment(uid, base))
    }

    /// The tier entry of a segment (compressed or archived), if any.
    pub fn tier(&self, uid: u64, base: u64) -> Result<Option<TierEntry>> {
        check_ids(uid, base)?;
        self.read(|r| r.tier(uid, base))
    }

    // --- writes: each one durable transaction ----------------------------------------------

    /// Creates the log `name`, giving it the next uid. Fails if it exists.
    pub fn create_log(&self, name: &str, new: NewLog) -> Result<LogMeta> {
        self.batch(|b| b.create_log(name, new))
    }

    /// Changes the entry of log `name` with `f` (read, change, write in one transaction)
    /// and returns what `f` returned. Fails if the log does not exist or `f` changed its
    /// uid. Nothing is written if `f` changed nothing.
    pub fn update_log<R>(&self, name: &str, f: impl FnOnce(&mut LogMeta) -> R) -> Result<R> {
        self.batch(|b| b.update_log(name, f))
    }

    /// Records the highest durable id at a clean close of log `name`.
    pub fn set_clean_close_id(&self, name: &str, id: u64) -> Result<()> {
        self.update_log(name, |m| m.clean_close_id = id)
    }

    /// Returns the clean-close id of log `name` and clears it (one transaction): what an
    /// open does, so that a crash before the next clean close leaves 0 (unknown).
    pub fn take_clean_close_id(&self, name: &str) -> Result<u64> {
        self.update_log(name, |m| std::mem::take(&mut m.clean_close_id))
    }

    /// Records the lowest id retention keeps in log `name`.
    pub fn set_oldest_retained_id(&self, name: &str, id: u64) -> Result<()> {
        self.update_log(name, |m| m.oldest_retained_id = id)
    }

    /// Removes log `name` and every segment entry of it in one transaction. Its uid is
    /// never given out again. False if there was no such log.
    pub fn drop_log(&self, name: &str) -> Result<bool> {
        self.batch(|b| b.drop_log(name))
    }

    /// Stores (adds or replaces) the entry of the segment of log `uid` starting at `base`.
    /// Fails if `uid` was never allocated or the entry is inconsistent (see
    /// [`Batch::put_segment`]). The uid of a dropped log is not caught: close a log before
    /// dropping it.
    pub fn put_segment(&self, uid: u64, base: u64, entry: &SegmentEntry) -> Result<()> {
        self.batch(|b| b.put_segment(uid, base, entry))
    }

    /// Changes the entry of a segment with `f` (read, change, write in one transaction).
    /// Fails if there is no such entry.
    pub fn update_segment<R>(
        &self,
        uid: u64,
        base: u64,
        f: impl FnOnce(&mut SegmentEntry) -> R,
    ) -> Result<R> {
        self.batch(|b| b.update_segment(uid, base, f))
    }

    /// Removes the entry of a segment. False if there was none.
    pub fn remove_segment(&self, uid: u64, base: u64) -> Result<bool> {
        self.batch(|b| b.remove_segment(uid, base))
    }

    /// Runs `f` on one write transaction and commits it durably if `f` returns `Ok`; if
    /// `f` fails (or panics), nothing it did is written. For changes that must land
    /// together, e.g. sealing segment N and adding segment N+1.
    pub fn batch<R>(&self, f: impl FnOnce(&mut Batch<'_>) -> Result<R>) -> Result<R> {
        let _call = self.enter()?;
        let db = self.db()?;
        let txn = db.begin_rw_txn().map_err(|e| self.mdbx("begin write", e))?;
        let out = {
            let mut batch = Batch {
                catalog: self,
                txn: &txn,
                meta: self.table(&txn, TABLE_META)?,
                logs: self.table(&txn, TABLE_LOGS)?,
                segments: self.table(&txn, TABLE_SEGMENTS)?,
            };
            f(&mut batch)?
        };
        txn.commit().map_err(|e| self.mdbx("commit", e))?;
        Ok(out)
    }

    // --- internals -----------------------------------------------------------------------

    /// Checks the caller may use the catalogue now: in the process that opened it, and not
    /// from inside a closure a catalogue method is running.
    fn enter(&self) -> Result<CallGuard> {
        let pid = std::process::id();
        if pid != self.owner_pid {
            return Err(self.error(format!(
                "opened by process {} and used in process {pid} (a forked child): the \
                 child must open the catalogue itself",
                self.owner_pid
            )));
        }
        IN_CALL.with(|c| {
            if c.get() {
                Err(self.error(
                    "called from inside a closure run by a catalogue method: return from \
                     the closure first (this would deadlock)"
                        .into(),
                ))
            } else {
                c.set(true);
                Ok(CallGuard)
            }
        })
    }

    fn db(&self) -> Result<&Database<NoWriteMap>> {
        self.db
            .as_ref()
            .ok_or_else(|| Error::Internal("catalogue used while dropped".into()))
    }

    fn error(&self, detail: String) -> Error {
        Error::Catalog {
            path: self.path.clone(),
            detail,
        }
    }

    fn mdbx(&self, op: &str, e: libmdbx::Error) -> Error {
        mdbx_error(&self.path, self.max_size, op, e)
    }

    fn damaged(&self, what: impl std::fmt::Display, e: DecodeError) -> Error {
        self.error(format!("{what}: {e}"))
    }

    fn table<'t, K: TransactionKind>(
        &self,
        txn: &'t Transaction<'_, K, NoWriteMap>,
        name: &str,
    ) -> Result<Table<'t>> {
        txn.open_table(Some(name)).map_err(|e| match e {
            libmdbx::Error::NotFound => self.error(format!("damaged: table `{name}` is missing")),
            e => self.mdbx("open table", e),
        })
    }

    /// Runs `f` on a read transaction that ends before this returns.
    fn read<R>(&self, f: impl FnOnce(&Reader<'_, '_>) -> Result<R>) -> Result<R> {
        let _call = self.enter()?;
        let txn = self
            .db()?
            .begin_ro_txn()
            .map_err(|e| self.mdbx("begin read", e))?;
        let reader = Reader {
            catalog: self,
            txn: &txn,
        };
        f(&reader)
    }

    /// Checks the header and the tables of a just-opened catalogue.
    fn check_header(&self) -> Result<()> {
        self.read(|r| {
            for name in TABLES {
                self.table(r.txn, name)?;
            }
            let meta = self.table(r.txn, TABLE_META)?;
            let bytes = lookup(self, r.txn, &meta, HEADER_KEY)?;
            let Some(bytes) = bytes else {
                return Err(self.error(
                    "damaged: the catalogue header is missing (the file was damaged, or \
                     libmdbx fell back to a snapshot older than the catalogue)"
                        .into(),
                ));
            };
            CatalogHeader::decode(&bytes).map_err(|e| self.damaged("catalogue header", e))?;
            Ok(())
        })
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        if std::process::id() != self.owner_pid {
            // A forked child: the environment, its lock and its thread belong to the
            // parent. Leave them alone (this leaks a little memory in the child).
            std::mem::forget(self.db.take());
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("path", &self.path)
            .field("max_size", &self.max_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
