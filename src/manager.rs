//! The manager of many logs: one root directory, one log per subdirectory, opened by name
//! (one per topic or partition, e.g. `orders-3`), all on one shared runtime.
//!
//! ```text
//! <root>/.manager.lock      flock'ed by the open manager (a second manager: Busy)
//! <root>/<name>/            one log directory (layout in segment::layout)
//! <root>/.dropping.<name>/  a log being dropped: no longer a log, removed at the next open
//! ```
//!
//! Ownership: the [`Manager`] owns what its logs share: the runtime (a fixed number of
//! async workers plus a bounded blocking pool, whatever the number of logs) and the root's
//! lock. Each [`Log`] it opens holds a clone of the runtime's `Arc`, so the runtime lives
//! until the manager and every log it opened are closed; the manager keeps only a
//! [`LogRef`] (a weak reference) to each, so that closing the manager can close them.
//!
//! A drop is made durable in an order that a crash at any point resolves (docs/FORMAT.md,
//! "The manager's root directory"): the log's directory is renamed to a reserved name and
//! the root synced (from then on the log is gone under its name), and only then are its
//! files removed; [`Manager::open`] finishes any drop it finds half done. So a crash never
//! leaves a half-deleted log under its name.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::catalog::{Catalog, CatalogOptions};
use crate::config::Options;
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::{create_log_dir, Log, LogRef};
use crate::metrics::MetricsSnapshot;
use crate::runtime::{self, Runtime, RuntimeOptions};
use crate::segment::layout::Layout;
use crate::sync::lock;
use crate::tier::cold::{Archive, ArchiveOptions};
use crate::tier::shared::{CacheOptions, Tiers};

/// The longest log name, in bytes. With the `.dropping.` prefix a log's directory name
/// stays within the 255 bytes of a file name on every common Linux file system.
pub const MAX_LOG_NAME_LEN: usize = 200;

/// The manager's lock file. Every name the manager itself uses starts with a dot, and no
/// log name may, so a log can never collide with one.
const MANAGER_LOCK: &str = ".manager.lock";
/// A log being dropped is renamed `<DROPPING><name>` before its files are removed.
const DROPPING: &str = ".dropping.";

/// Options of a [`Manager`]: the sizes of the runtime its logs share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerOptions {
    /// Async worker threads (timers, wake-ups of background tasks; 1..=1024). Default 2.
    pub worker_threads: usize,
    /// Upper bound of the blocking pool that runs background file I/O (write-outs, syncs,
    /// zeroing, segment pre-allocation) for every log of the manager; started on demand,
    /// retired after 10 s idle (1..=1024). Default 32.
    pub max_blocking_threads: usize,
    /// The caches every log of the manager shares: the hot cache of mapped sealed
    /// segments and the frame cache of decompressed frames, their budgets, and whether a
    /// read waits for room.
    pub cache: CacheOptions,
    /// Where sealed segments are archived (the cold tier), if anywhere: one client for
    /// every log of the manager. Each log says when its segments go there
    /// ([`crate::Tiering::archive_after_segments`]).
    pub archive: Option<ArchiveOptions>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        let r = RuntimeOptions::default();
        ManagerOptions {
            worker_threads: r.worker_threads,
            max_blocking_threads: r.max_blocking_threads,
            cache: CacheOptions::default(),
            archive: None,
        }
    }
}

impl ManagerOptions {
    fn runtime(&self) -> RuntimeOptions {
        RuntimeOptions {
            worker_threads: self.worker_threads,
            max_blocking_threads: self.max_blocking_threads,
        }
    }

    /// Checks both thread counts (1..=1024), the cache budgets and the archive's options.
    pub fn validate(&self) -> Result<()> {
        self.runtime().validate()?;
        self.cache.validate()?;
        match &self.archive {
            Some(archive) => archive.validate(),
            None => Ok(()),
        }
    }
}

/// Checks a log name: 1 to [`MAX_LOG_NAME_LEN`] bytes of UTF-8, no `/`, no NUL, no
/// control character, and no leading `.` (so neither `.` nor `..`: dot-names are the
/// manager's own). Fails with `InvalidArgument` saying which rule the name breaks.
pub fn validate_log_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_LOG_NAME_LEN {
        "is longer than 200 bytes"
    } else if name.starts_with('.') {
        "starts with '.' (reserved for the manager's own files; this includes . and ..)"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    let shown: String = name.chars().take(64).collect();
    Err(Error::InvalidArgument(format!("log name {shown:?} {why}")))
}

/// What the lock of a manager guards.
struct State {
    closed: bool,
    runtime: Option<Arc<Runtime>>,
    /// The catalogue of every log under the root (`<root>/.catalog.mdbx`): one libmdbx
    /// environment, whatever the number of logs. Let go at close, with the runtime.
    catalog: Option<Arc<Catalog>>,
    /// The caches of the tiers, shared by every log.
    tiers: Arc<Tiers>,
    lock_file: Option<File>,
    /// Names with an open or a drop in progress; `close` waits until it is empty.
    claimed: HashSet<String>,
    /// The logs this manager opened that may still be open. Entries of closed logs are
    /// pruned once the map has doubled since the last pruning.
    logs: HashMap<String, LogRef>,
    prune_at: usize,
}

/// Many logs under one root directory, sharing one runtime. `Send + Sync`: share it
/// between threads by reference or in an `Arc`. Dropping it closes it (errors are lost
/// then: call [`Manager::close`] to see them).
pub struct Manager {
    root: PathBuf,
    /// What was wrong with a damaged catalogue that open set aside and replaced.
    catalog_damage: Option<String>,
    state: Mutex<State>,
    /// Signalled whenever a name is released.
    released: Condvar,
}

impl Manager {
    /// Opens the manager of directory `root`, creating the directory (not its parents) if
    /// it is missing; finishes the drops a crash interrupted; starts the runtime. Fails
    /// with `Busy` if another manager (in this process or another) has `root` open.
    pub fn open(root: impl AsRef<Path>, options: ManagerOptions) -> Result<Manager> {
        options.validate()?;
        runtime::ensure_outside()?;
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(Error::InvalidArgument("the root path is empty".into()));
        }
        create_log_dir(root)?;
        let lock_file = fsio::lock_exclusive(&root.join(MANAGER_LOCK), root)?;
        // A damaged catalogue is set aside and replaced: each log rebuilds its record
        // from its files when it is opened.
        let (catalog, catalog_damage) = Catalog::open_or_replace(root, &CatalogOptions::default())?;
        let catalog = Arc::new(catalog);
        finish_drops(root, &catalog)?;
        let runtime = Runtime::new(options.runtime())?;
        let archive = match &options.archive {
            Some(a) => Some(Archive::open(a, runtime.handle().clone())?),
            None => None,
        };
        let tiers = Tiers::new(&options.cache, archive)?;
        Ok(Manager {
            root: root.to_path_buf(),
            catalog_damage,
            state: Mutex::new(State {
                closed: false,
                runtime: Some(runtime),
                catalog: Some(catalog),
                tiers,
                lock_file: Some(lock_file),
                claimed: HashSet::new(),
                logs: HashMap::new(),
                prune_at: 64,
            }),
            released: Condvar::new(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// If the catalogue was damaged when the manager opened: what was found. It was set
    /// aside (`<root>/.catalog.mdbx.damaged`) and replaced; each log rebuilds its record
    /// from its files when it is opened ([`crate::RecoveryReport::catalog_rebuilt`]).
    pub fn catalog_damage(&self) -> Option<&str> {
        self.catalog_damage.as_deref()
    }

    /// Opens (creating if needed) the log `name`, in `<root>/<name>`, on the manager's
    /// runtime; see [`Log::open`] for what opening does. Bad names: `InvalidArgument` (see
    /// [`validate_log_name`]). The log is already open (here or in another process), or
    /// being opened or dropped by another thread: `Busy`. Closed manager: `Closed`.
    ///
    /// The log stays open until [`Log::close`], its drop, or [`Manager::close`].
    pub fn open_log(&self, name: &str, options: Options) -> Result<Log> {
        self.check_open()?;
        validate_log_name(name)?;
        options.validate()?;
        runtime::ensure_outside()?;
        let dir = self.root.join(name);
        let (claim, runtime) = self.claim(name, &dir)?;
        let catalog = Some((self.catalog()?, name.to_string()));
        let tiers = lock(&self.state).tiers.clone();
        let log = Log::open_on(&dir, options, runtime, tiers, catalog)?;
        let mut st = claim.state();
        if st.closed {
            // The manager closed while the log opened: it must not outlive the manager.
            drop(st);
            let _ = log.close();
            return Err(Error::Closed);
        }
        st.logs.insert(name.to_owned(), log.downgrade());
        if st.logs.len() >= st.prune_at {
            st.logs.retain(|_, r| r.is_open());
            st.prune_at = (2 * st.logs.len()).max(64);
        }
        Ok(log)
    }

    /// The metrics of every log this manager has open, by name (sorted). The archive
    /// counters in each are the manager's (shared by all its logs).
    pub fn metrics(&self) -> Result<Vec<(String, MetricsSnapshot)>> {
        self.check_open()?;
        let refs: Vec<_> = lock(&self.state)
            .logs
            .values()
            .map(LogRef::clone_ref)
            .collect();
        let mut all: Vec<_> = refs.iter().filter_map(LogRef::metrics).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// [`Manager::metrics`] in the Prometheus text exposition format: each metric family
    /// once, one sample per open log with its name as the `log` label.
    pub fn prometheus(&self) -> Result<String> {
        let all = self.metrics()?;
        let logs: Vec<(&str, MetricsSnapshot)> =
            all.iter().map(|(n, m)| (n.as_str(), *m)).collect();
        Ok(crate::metrics::prometheus::render(&logs))
    }

    /// The names of the logs under the root, sorted: its subdirectories with a valid log
    /// name and a `LOCK` file (every log directory has one from its first open on), open
    /// or not. Closed manager: `Closed`.
    pub fn list_logs(&self) -> Result<Vec<String>> {
        self.check_open()?;
        let root = &self.root;
        let mut names = Vec::new();
        for entry in fs::read_dir(root).map_err(|e| Error::io("read directory", root, e))? {
            let entry = entry.map_err(|e| Error::io("read directory", root, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_log_name(&name).is_err() {
                continue;
            }
            let is_dir = entry
                .file_type()
                .map_err(|e| Error::io("stat", entry.path(), e))?
                .is_dir();
            if is_dir && Layout::new(entry.path()).lock_file().exists() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Drops the log `name` durably: once this returns, the log is gone, and a crash at
    /// any point during the call leaves either the whole log under its name or nothing
    /// under its name (the next [`Manager::open`] removes what is left). The log must be
    /// closed: open (here or in another process), or being opened or dropped by another
    /// thread: `Busy`. No such log: `NoSuchLog`. Bad name: `InvalidArgument`.
    ///
    /// Steps: lock the log's `LOCK`; rename `<root>/<name>` to `<root>/.dropping.<name>`;
    /// fsync the root; remove the files and the directory; fsync the root. If a step
    /// after the rename fails, the log is already gone under its name and the error is
    /// returned; what is left is removed by the next drop of that name or the next
    /// `Manager::open`.
    pub fn drop_log(&self, name: &str) -> Result<()> {
        self.check_open()?;
        validate_log_name(name)?;
        runtime::ensure_outside()?;
        let dir = self.root.join(name);
        let (_claim, _) = self.claim(name, &dir)?;
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(self.no_such_log(name)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.no_such_log(name)),
            Err(e) => return Err(Error::io("stat", &dir, e)),
        }
        // Held until the files are gone, so that no one opens the log meanwhile: Busy if
        // a handle has it open.
        let log_lock = fsio::lock_exclusive(&Layout::new(&dir).lock_file(), &dir)?;
        let doomed = self.root.join(format!("{DROPPING}{name}"));
        if fs::symlink_metadata(&doomed).is_ok() {
            // Left by an earlier drop of this name whose removal failed.
            remove_tree(&doomed)?;
        }
        fsio::rename(&dir, &doomed)?;
        fsio::fsync_dir(&self.root)?;
        fail::fail_point!("manager::drop::renamed", |_| Err(Error::Internal(
            "failpoint manager::drop::renamed".into()
        )));
        // Gone under its name on disk: now from the catalogue (the log and its entries in
        // one commit); then the files.
        self.catalog()?.drop_log(name)?;
        remove_tree(&doomed)?;
        drop(log_lock);
        fsio::fsync_dir(&self.root)
    }

    /// Closes every log this manager opened that is still open (each as [`Log::close`]:
    /// written, synced, marked clean), then releases the root. Their handles stay valid
    /// objects whose calls return `Closed`. Waits for opens and drops in progress on
    /// other threads to end first. Returns the first error of a log's close (every log is
    /// closed anyway). Later calls on the manager return `Closed`; calling `close` again
    /// is a no-op. The runtime stops once the last log the manager opened is closed and
    /// dropped, which after this call is at once (closed logs release it).
    pub fn close(&self) -> Result<()> {
        runtime::ensure_outside()?;
        let (logs, runtime, catalog, lock_file) = {
            let mut st = lock(&self.state);
            if st.closed {
                return Ok(());
            }
            st.closed = true;
            while !st.claimed.is_empty() {
                st = self
                    .released
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            (
                std::mem::take(&mut st.logs),
                st.runtime.take(),
                st.catalog.take(),
                st.lock_file.take(),
            )
        };
        let mut logs: Vec<(String, LogRef)> = logs.into_iter().collect();
        logs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut result = Ok(());
        for (_, log) in &logs {
            result = result.and(log.close());
        }
        drop(runtime);
        drop(catalog);
        drop(lock_file);
        result
    }

    /// Reserves `name` for an open or a drop by this thread, and hands out the runtime.
    fn claim(&self, name: &str, dir: &Path) -> Result<(Claim<'_>, Arc<Runtime>)> {
        let mut st = lock(&self.state);
        st.check_open()?;
        let runtime = st.runtime.clone().ok_or(Error::Closed)?;
        if !st.claimed.insert(name.to_owned()) {
            // Another thread is opening or dropping it: as if it had the lock already.
            return Err(Error::Busy(dir.to_path_buf()));
        }
        let claim = Claim {
            manager: self,
            name: name.to_owned(),
        };
        Ok((claim, runtime))
    }

    /// The catalogue, while the manager is open.
    fn catalog(&self) -> Result<Arc<Catalog>> {
        lock(&self.state).catalog.clone().ok_or(Error::Closed)
    }

    fn check_open(&self) -> Result<()> {
        lock(&self.state).check_open()
    }

    fn no_such_log(&self, name: &str) -> Error {
        Error::NoSuchLog {
            root: self.root.clone(),
            name: name.to_owned(),
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl State {
    fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }
}

/// A name reserved by one thread; released (and `close` woken) when dropped.
struct Claim<'a> {
    manager: &'a Manager,
    name: String,
}

impl Claim<'_> {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.manager.state)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.state().claimed.remove(&self.name);
        self.manager.released.notify_all();
    }
}

/// Removes every `.dropping.*` entry of `root` (drops a crash interrupted) and its log's
/// record in the catalogue, unless a log of that name was created again since, then syncs
/// the root.
fn finish_drops(root: &Path, catalog: &Catalog) -> Result<()> {
    let mut found = false;
    for entry in fs::read_dir(root).map_err(|e| Error::io("read directory", root, e))? {
        let entry = entry.map_err(|e| Error::io("read directory", root, e))?;
        let file_name = entry.file_name();
        let Some(name) = file_name
            .as_encoded_bytes()
            .strip_prefix(DROPPING.as_bytes())
        else {
            continue;
        };
        if let Ok(name) = std::str::from_utf8(name) {
            if !root.join(name).exists() {
                catalog.drop_log(name)?;
            }
        }
        remove_tree(&entry.path())?;
        found = true;
    }
    if found {
        fsio::fsync_dir(root)?;
    }
    Ok(())
}

/// Removes `path` and, if it is a directory, everything in it (symbolic links are
/// removed, never followed).
fn remove_tree(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
    if !meta.is_dir() {
        return fsio::remove_file(path);
    }
    let mut removed = 0u64;
    for entry in fs::read_dir(path).map_err(|e| Error::io("read directory", path, e))? {
        let entry = entry.map_err(|e| Error::io("read directory", path, e))?;
        remove_tree(&entry.path())?;
        removed += 1;
        if removed == 1 {
            fail::fail_point!("manager::drop::removing", |_| Err(Error::Internal(
                "failpoint manager::drop::removing".into()
            )));
        }
    }
    fsio::remove_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["orders-3", "a", "A_b.c", "ordres été", &"x".repeat(200)] {
            validate_log_name(ok).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            (".", "starts with '.'"),
            ("..", "starts with '.'"),
            (".hidden", "starts with '.'"),
            (".dropping.x", "starts with '.'"),
            (".manager.lock", "starts with '.'"),
            ("a/b", "'/'"),
            ("/abs", "'/'"),
            ("a\0b", "NUL"),
            ("a\nb", "control"),
            (&"x".repeat(201), "longer than 200"),
        ] {
            let err = validate_log_name(bad).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidArgument(m) if m.contains(why)),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn options_are_range_checked() {
        ManagerOptions::default().validate().unwrap();
        for (w, b) in [(0, 1), (1, 0), (1025, 1), (1, 1025)] {
            let o = ManagerOptions {
                worker_threads: w,
                max_blocking_threads: b,
                ..ManagerOptions::default()
            };
            assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        }
    }
}
