//! The libmdbx environment behind a catalogue: its files, its geometry, how a new one is
//! created, and the checks made before libmdbx is handed an existing file.
//!
//! Facts about libmdbx 0.14 (crate `libmdbx` 0.9.0) this file relies on, measured here:
//! - Each read-write environment starts one thread that begins and commits every write
//!   transaction; it ends when the environment is dropped. One catalogue = one thread,
//!   whatever the number of logs in it.
//! - libmdbx re-creates a database over an existing file that is empty *or shorter than
//!   its three meta pages* (it reads them, gets a short read, and takes the file for a new
//!   one): a truncated catalogue would silently come back empty. `check_existing` refuses
//!   such files before libmdbx sees them.
//! - If the newest meta page is damaged, libmdbx silently opens the previous snapshot:
//!   the last commits are lost without an error. The catalogue header is written in the
//!   first commit of a new file (made under a temporary name), so a fallback past it is
//!   caught (no header); a fallback to a later snapshot is not detectable here.
//! - libmdbx does not check the bytes of values, and without `MDBX_VALIDATION` it trusts
//!   node sizes in pages: a damaged page can make it hand out a value that runs past the
//!   end of the file, and reading it kills the process with SIGBUS (measured: 42 of 192
//!   random 48-byte overwrites of a 1.5 MiB catalogue). With `MDBX_VALIDATION` every such
//!   case became a clean `MDBX_CORRUPTED` or `MDBX_PAGE_NOTFOUND` error (0 of 384), so it
//!   is always on: the catalogue is written a few times per segment, not per record, and
//!   the checks cost nothing that matters there.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use libmdbx::{
    Database, DatabaseOptions, Mode, NoWriteMap, PageSize, ReadWriteOptions, SyncMode, TableFlags,
    WriteFlags,
};

use super::format::{CatalogHeader, HEADER_KEY};
use super::{mdbx_error, TABLES, TABLE_META};
use crate::error::{Error, Result};
use crate::fsio;

/// The catalogue file in its directory; libmdbx keeps its lock file next to it, named
/// with [`LOCK_SUFFIX`] appended. The leading dot keeps it apart from log names in a
/// manager's root (every name a manager uses itself starts with a dot; no log name may).
pub const FILE_NAME: &str = ".catalog.mdbx";
/// A new catalogue is built under this name and linked into place once its first commit
/// (tables and header) is durable.
pub(super) const TMP_NAME: &str = ".catalog.mdbx.tmp";
/// libmdbx's lock file is the data file's name with this appended.
pub(super) const LOCK_SUFFIX: &str = "-lck";

/// Page size of the catalogue file. Fixed rather than taken from the machine, so the file
/// and the largest key (about half a page) are the same everywhere.
pub(super) const PAGE_SIZE: u64 = 4096;
/// The file is never smaller than this (libmdbx's lower geometry bound): a new catalogue
/// is 64 KiB, and an existing file shorter than this is truncated.
pub(super) const SIZE_LOWER: u64 = 64 << 10;
/// The file grows by this much when it is full (rounded by libmdbx to whole pages).
pub(super) const GROWTH_STEP: u64 = 1 << 20;
/// The file shrinks once this much space at its end is free.
pub(super) const SHRINK_THRESHOLD: u64 = 4 << 20;
/// Default size cap: about 25 million segment entries. libmdbx reserves this much address
/// space (not memory, not disk) for its map when the catalogue is opened.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 30;
/// Smallest size cap accepted.
pub const MIN_MAX_SIZE: u64 = 1 << 20;
/// Named tables the environment may hold: the four of version 1 and room for more.
const MAX_TABLES: u64 = 16;
/// Read transactions that may be open at once (each is short, inside one method call).
const MAX_READERS: u32 = 1024;

/// libmdbx's 56-bit file signature (`MDBX_MAGIC`), the upper 56 bits of the
/// `magic_and_version` word of each meta page.
const MDBX_MAGIC: u64 = 0x0059_659D_BDEF_4C11;
/// Offset of `magic_and_version` in a meta page (after the 20-byte page header).
const META_MAGIC_AT: u64 = 20;
/// libmdbx keeps three meta pages, at the start of the file.
const META_PAGES: u64 = 3;

pub(super) fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(LOCK_SUFFIX);
    PathBuf::from(name)
}

fn options(max_size: u64) -> DatabaseOptions {
    // libmdbx takes sizes as isize; every figure here is far below isize::MAX.
    let size = |n: u64| Some(n as isize);
    DatabaseOptions {
        max_tables: Some(MAX_TABLES),
        max_readers: Some(MAX_READERS),
        no_sub_dir: true,
        page_size: Some(PageSize::Set(PAGE_SIZE as usize)),
        mode: Mode::ReadWrite(ReadWriteOptions {
            // Every commit is durable before it returns: data pages synced, then the meta
            // page. The log's crash-safety argument depends on it.
            sync_mode: SyncMode::Durable,
            min_size: size(SIZE_LOWER),
            max_size: size(max_size),
            growth_step: size(GROWTH_STEP),
            shrink_threshold: size(SHRINK_THRESHOLD),
        }),
        ..Default::default()
    }
}

/// Opens the libmdbx environment of the catalogue file `file` and turns on its page
/// validation.
pub(super) fn open(file: &Path, max_size: u64) -> Result<Database<NoWriteMap>> {
    // NoWriteMap: pages are written with pwrite and the map stays read-only, so a stray
    // write elsewhere in the process cannot scribble on the catalogue.
    let db = Database::<NoWriteMap>::open_with_options(file, options(max_size))
        .map_err(|e| mdbx_error(file, max_size, "open", e))?;
    enable_validation(&db).map_err(|e| mdbx_error(file, max_size, "enable validation", e))?;
    Ok(db)
}

/// Turns on `MDBX_VALIDATION` (see the module comment for why).
#[allow(unsafe_code)]
fn enable_validation(db: &Database<NoWriteMap>) -> std::result::Result<(), libmdbx::Error> {
    // SAFETY: `db.ptr()` is the environment `db` owns; it stays open for this call because
    // `db` is borrowed. `mdbx_env_set_flags` with `MDBX_VALIDATION`, one of the flags
    // libmdbx lets a caller change on an open environment, only sets a bit in the
    // environment under its writer lock; no transaction exists yet.
    let rc = unsafe { mdbx_sys::mdbx_env_set_flags(db.ptr().0, mdbx_sys::MDBX_VALIDATION, true) };
    if rc == mdbx_sys::MDBX_SUCCESS {
        Ok(())
    } else {
        Err(libmdbx::Error::from_err_code(rc))
    }
}

/// Refuses an existing catalogue file that libmdbx would take for a new one, or that is
/// not a libmdbx file at all. `len` is its size.
pub(super) fn check_existing(file: &Path, len: u64) -> Result<()> {
    let damaged = |detail: String| Error::Catalog {
        path: file.to_path_buf(),
        detail,
    };
    if len < SIZE_LOWER {
        return Err(damaged(format!(
            "the file is {len} bytes, shorter than the smallest catalogue ({SIZE_LOWER} \
             bytes): it is truncated or not a catalogue"
        )));
    }
    let f = File::open(file).map_err(|e| Error::io("open", file, e))?;
    let mut any = false;
    for page in 0..META_PAGES {
        let mut word = [0u8; 8];
        f.read_exact_at(&mut word, page * PAGE_SIZE + META_MAGIC_AT)
            .map_err(|e| Error::io("read", file, e))?;
        any |= u64::from_le_bytes(word) >> 8 == MDBX_MAGIC;
    }
    if !any {
        return Err(damaged(
            "none of its three meta pages carries the libmdbx signature: it is damaged or \
             not a catalogue"
                .into(),
        ));
    }
    Ok(())
}

/// Creates a new catalogue at `<dir>/FILE_NAME`: builds it under `TMP_NAME` (tables and
/// header in one durable commit), then links it into place (refused if a file of that
/// name appeared meanwhile) and syncs the directory. A crash at any point leaves either
/// no catalogue or a complete one.
pub(super) fn create(dir: &Path, max_size: u64, created_us: u64) -> Result<()> {
    let tmp = dir.join(TMP_NAME);
    let tmp_lock = lock_path(&tmp);
    remove_if_present(&tmp)?;
    remove_if_present(&tmp_lock)?;
    {
        let db = open(&tmp, max_size)?;
        let err = |op, e| mdbx_error(&tmp, max_size, op, e);
        let txn = db.begin_rw_txn().map_err(|e| err("begin write", e))?;
        for name in TABLES {
            txn.create_table(Some(name), TableFlags::default())
                .map_err(|e| err("create table", e))?;
        }
        let meta = txn
            .open_table(Some(TABLE_META))
            .map_err(|e| err("open table", e))?;
        let header = CatalogHeader {
            next_uid: 1,
            created_us,
        };
        txn.put(&meta, HEADER_KEY, header.encode(), WriteFlags::NO_OVERWRITE)
            .map_err(|e| err("write header", e))?;
        txn.commit().map_err(|e| err("commit", e))?;
    }
    let file = dir.join(FILE_NAME);
    std::fs::hard_link(&tmp, &file).map_err(|e| Error::io("link", &file, e))?;
    fsio::remove_file(&tmp)?;
    remove_if_present(&tmp_lock)?;
    fsio::fsync_dir(dir)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}
