//! `FsArchive`: an archive in a local directory. Keys are relative paths under the root.
//!
//! An upload is copied to a temporary name in the object's directory, synced, and then
//! hard-linked to its key: `link` fails if the name exists, so an existing object is never
//! overwritten (the same conditional create S3 does with `If-None-Match: *`), and readers
//! never see a partial object. The directory is synced so the new name survives a crash.
//!
//! A crash during a put leaves its temporary file, named with the process id. The next put
//! or delete of the key removes those of processes that no longer run (puts of the key in
//! progress elsewhere keep theirs): a crashed upload is either tried again (a put) or its
//! segment goes (a delete), and nothing is left behind either way.

use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{range_len, validate_key, ArchiveError, ArchiveStore, PutOutcome, Result};

/// Prefix of temporary upload files; keys may not use it (see `validate_key`), and
/// `list` skips such names (left over by a crash).
pub(crate) const TMP_PREFIX: &str = ".aof-tmp.";

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// An archive rooted at a directory.
#[derive(Debug)]
pub struct FsArchive {
    root: PathBuf,
    /// "fs:<root>", for error messages.
    store: String,
}

impl FsArchive {
    /// Opens (creating it if needed) the archive rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<FsArchive> {
        let root = root.into();
        let store = format!("fs:{}", root.display());
        fs::create_dir_all(&root).map_err(|e| {
            ArchiveError::permanent("open", "", &store, format!("create root: {e}"))
        })?;
        Ok(FsArchive { root, store })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, op: &'static str, key: &str) -> Result<PathBuf> {
        validate_key(key).map_err(|m| ArchiveError::permanent(op, key, &self.store, m))?;
        Ok(self.root.join(key))
    }

    fn io_err(&self, op: &'static str, key: &str, what: &str, e: io::Error) -> ArchiveError {
        match e.kind() {
            io::ErrorKind::NotFound => ArchiveError::not_found(op, key, &self.store),
            // A disk that is busy or a mount that timed out may come back.
            io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                ArchiveError::unavailable(op, key, &self.store, format!("{what}: {e}"))
            }
            _ => ArchiveError::permanent(op, key, &self.store, format!("{what}: {e}")),
        }
    }

    /// Creates the directories between the root and `dir`, syncing the parent of each one
    /// created so the new entries are durable.
    fn make_dirs(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.make_dirs(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => sync_dir(dir.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn put_inner(&self, key: &str, src: &Path, dest: &Path) -> Result<PutOutcome> {
        const OP: &str = "put";
        let dir = dest.parent().unwrap_or(&self.root);
        self.make_dirs(dir).map_err(|e| {
            ArchiveError::permanent(OP, key, &self.store, format!("create directory: {e}"))
        })?;
        let name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        remove_stale_tmps(dir, name);
        if let Ok(meta) = fs::metadata(dest) {
            return Ok(PutOutcome::AlreadyExists { size: meta.len() });
        }
        let tmp = dir.join(format!(
            "{TMP_PREFIX}{name}.{}.{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self.copy_and_link(key, src, &tmp, dest, dir);
        // The temporary name goes whatever happened; the object, if linked, stays.
        let _ = fs::remove_file(&tmp);
        result
    }

    fn copy_and_link(
        &self,
        key: &str,
        src: &Path,
        tmp: &Path,
        dest: &Path,
        dir: &Path,
    ) -> Result<PutOutcome> {
        const OP: &str = "put";
        let mut input = File::open(src).map_err(|e| {
            // A missing source file is the caller's mistake, not a missing object.
            ArchiveError::permanent(
                OP,
                key,
                &self.store,
                format!("open source {}: {e}", src.display()),
            )
        })?;
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| self.io_err(OP, key, "create temporary file", e))?;
        let size = io::copy(&mut input, &mut out).map_err(|e| self.io_err(OP, key, "copy", e))?;
        out.sync_all()
            .map_err(|e| self.io_err(OP, key, "sync", e))?;
        drop(out);
        match fs::hard_link(tmp, dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let size = fs::metadata(dest)
                    .map_err(|e| self.io_err(OP, key, "stat", e))?
                    .len();
                return Ok(PutOutcome::AlreadyExists { size });
            }
            Err(e) => return Err(self.io_err(OP, key, "link", e)),
        }
        // Removing the temporary name before the sync keeps the directory clean on disk.
        let _ = fs::remove_file(tmp);
        sync_dir(dir).map_err(|e| self.io_err(OP, key, "sync directory", e))?;
        Ok(PutOutcome::Created { size, parts: 0 })
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        prefix: &str,
        out: &mut Vec<(String, u64)>,
    ) -> io::Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not a key this archive could have written
            };
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // Only descend where keys with the prefix can be: the prefix continues the
            // directory's path or the directory's path continues the prefix.
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                let dir_key = format!("{key}/");
                if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                    self.walk(&entry.path(), &key, prefix, out)?;
                }
            } else if file_type.is_file() && key.starts_with(prefix) {
                out.push((key, entry.metadata()?.len()));
            }
        }
        Ok(())
    }
}

/// Removes the temporary files that puts of object `name` (in `dir`) by processes no
/// longer running left behind (best effort: one that stays is tried again next time).
fn remove_stale_tmps(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return; // no way to tell a live process from a dead one
    }
    let prefix = format!("{TMP_PREFIX}{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        // `<pid>.<seq>` after the prefix: not the temporary file of a longer name.
        let stale = e.file_name().to_str().is_some_and(|n| {
            n.strip_prefix(&prefix)
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(pid, seq)| {
                    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
                    digits(pid)
                        && digits(seq)
                        && pid != std::process::id().to_string()
                        && !proc.join(pid).exists()
                })
        });
        if stale {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl ArchiveStore for FsArchive {
    fn put_file(&self, key: &str, path: &Path) -> Result<PutOutcome> {
        let dest = self.path_of("put", key)?;
        self.put_inner(key, path, &dest)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        const OP: &str = "get_range";
        let path = self.path_of(OP, key)?;
        let len =
            range_len(&range).map_err(|m| ArchiveError::permanent(OP, key, &self.store, m))?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let file = File::open(&path).map_err(|e| self.io_err(OP, key, "open", e))?;
        let size = file
            .metadata()
            .map_err(|e| self.io_err(OP, key, "stat", e))?
            .len();
        if range.end > size {
            return Err(ArchiveError::permanent(
                OP,
                key,
                &self.store,
                format!(
                    "range {}..{} beyond the object's {size} bytes",
                    range.start, range.end
                ),
            ));
        }
        let len = usize::try_from(len)
            .map_err(|_| ArchiveError::permanent(OP, key, &self.store, "range too large"))?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, range.start)
            .map_err(|e| self.io_err(OP, key, "read", e))?;
        Ok(buf)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path_of("get", key)?;
        fs::read(&path).map_err(|e| self.io_err("get", key, "read", e))
    }

    fn head(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path_of("head", key)?;
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_err("head", key, "stat", e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        const OP: &str = "delete";
        let path = self.path_of(OP, key)?;
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        {
            remove_stale_tmps(dir, name);
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(OP, key, "remove", e)),
        }
        let dir = path.parent().unwrap_or(&self.root);
        sync_dir(dir).map_err(|e| self.io_err(OP, key, "sync directory", e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        self.walk(&self.root, "", prefix, &mut out)
            .map_err(|e| ArchiveError::permanent("list", prefix, &self.store, e.to_string()))?;
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.store.clone()
    }
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
