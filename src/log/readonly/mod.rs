//! Reading a log without opening it: [`ReadOnlyLog`], for tools (`aof stat`, `dump`,
//! `tail`, `verify`) that must not disturb a writer in another process.
//!
//! # What it does not do
//! - It never takes the directory lock (`<dir>/LOCK`): a writer can open the log while it
//!   reads, and it can read while a writer has the log open. (Whether one does is found
//!   in the kernel's lock table, without taking the lock: [`lock_holder`].)
//! - It never writes: no recovery (a torn tail is left as it is), no catalogue write, no
//!   clean-marker change, no file created or removed. Segment files are opened read-only
//!   and mapped read-only; the catalogue is opened read-only (see
//!   `catalog::Catalog::read_only_snapshot`: it only takes a reader slot in libmdbx's lock
//!   file while it reads) and closed again once the log's record is read.
//!
//! # What it sees
//! - The records a writer has written to the page cache (`pwrite`), synced or not: under
//!   the background flush policies, what the flusher has written out; never what is still
//!   in a writer's buffer. A crash of the machine may take back records it saw that were
//!   not yet durable, as it may for readers inside the writer's process.
//! - Never a record a recovery would cut: the end of the log is the first record of the
//!   last segment that is not whole (a zero header, one being written right now, a length
//!   past the footer slot, a checksum or id mismatch), which is exactly where recovery
//!   cuts. A reader that follows the log ([`ReadOnlyCursor`]) checks that place again on
//!   each call and moves on to new segment files as the writer creates them.
//! - A consistent picture only as of its own reads: the listing of the directory, the
//!   catalogue's snapshot and the scan of the last segment are taken one after the other
//!   while the writer goes on. Segment files are unlinked (retention, tier moves), never
//!   truncated or rewritten, so a file it has mapped stays readable to the end; a segment
//!   removed before it got to it is reported (`Truncated`), and one moved to another tier
//!   meanwhile is read from there.
//! - Byte positions come from the catalogue; without it (missing, unreadable, or skipped)
//!   they start at 0 at the oldest segment file, as after a rebuild of the catalogue.

mod cursor;
mod lock;
mod source;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::catalog::{Catalog, Location, LogSnapshot, SegmentEntry, SegmentState, TierEntry};
use crate::error::{Error, Result};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::segment::format::{CleanMarker, SegmentFooter, SegmentHeader};
use crate::segment::layout::{Layout, SegmentFileKind};
use crate::tier::cold::{Archive, ArchiveOptions};

pub use cursor::ReadOnlyCursor;
pub use lock::{lock_holder, LockHolder};
pub use source::SegmentTier;
pub use verify::ReadOnlyVerify;

use source::SegmentBytes;

/// The name of a manager's lock file in its root (see `manager.rs`).
const MANAGER_LOCK: &str = ".manager.lock";

/// Options of [`ReadOnlyLog::open_with`].
#[derive(Clone, Debug)]
pub struct ReadOnlyOptions {
    /// Read the catalogue (default true). Without it: no archived segments, positions from
    /// 0 at the oldest file, and no libmdbx open at all.
    pub use_catalog: bool,
    /// The archive of the log's manager, to read archived segments (default none: they
    /// are listed from the catalogue but cannot be read).
    pub archive: Option<ArchiveOptions>,
}

impl Default for ReadOnlyOptions {
    fn default() -> Self {
        ReadOnlyOptions {
            use_catalog: true,
            archive: None,
        }
    }
}

/// What became of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogStatus {
    /// Read: the file, and the log's name in it (`""` for a log opened alone).
    Read { path: PathBuf, name: String },
    /// The catalogue has no record of this log (it is rebuilt at the next open).
    NoRecord { path: PathBuf, name: String },
    /// No catalogue file where the log's would be.
    Missing,
    /// It could not be read (the reason); the files were read alone.
    Unreadable(String),
    /// Not read, as asked ([`ReadOnlyOptions::use_catalog`]).
    Skipped,
}

/// The clean-shutdown marker as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerState {
    /// No `CLEAN` file: the log is open, or was not closed cleanly.
    Absent,
    /// A valid marker: the log was closed cleanly and not opened since.
    Valid(CleanMarker),
    /// A `CLEAN` file that does not decode.
    Invalid,
}

/// One segment as listed at open.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    pub base_id: u64,
    pub tier: SegmentTier,
    /// Its local file (empty for an archived segment).
    pub path: PathBuf,
    /// Length of the file, and the bytes the file system allocated for it.
    pub file_len: u64,
    pub allocated: u64,
    /// The header (plain files only; `None` if unreadable: see `problem`).
    pub header: Option<SegmentHeader>,
    /// The footer: read from a plain file, or the catalogue's for the other tiers. `None`
    /// for the active segment (or a damaged footer).
    pub footer: Option<SegmentFooter>,
    /// The catalogue's entries.
    pub entry: Option<SegmentEntry>,
    pub tier_entry: Option<TierEntry>,
    /// What is wrong with it, as far as listing it showed.
    pub problem: Option<String>,
}

/// The end of the records of the last segment when it is not sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailEnd {
    /// Offset just past the last whole record.
    pub offset: u64,
    /// The id the next record will have.
    pub next_id: u64,
    /// Payload bytes of the segment's records.
    pub payload_bytes: u64,
    /// Why the scan stopped there.
    pub stop: String,
    /// Non-zero bytes after the end: `(offset, length)` up to the last of them. What a
    /// recovery would cut if the log were opened now (with a writer at work, possibly a
    /// record being written).
    pub garbage: Option<(u64, u64)>,
}

/// What the reader shares with its cursors.
pub(crate) struct Shared {
    layout: Layout,
    catalog: Option<LogSnapshot>,
    archive: Option<Arc<Archive>>,
    /// Runs the archive's client; kept for as long as the archive.
    _runtime: Option<Arc<Runtime>>,
}

/// A log directory opened read-only. See the module documentation.
pub struct ReadOnlyLog {
    shared: Arc<Shared>,
    catalog_status: CatalogStatus,
    marker: MarkerState,
    segments: Vec<SegmentInfo>,
    tail: Option<TailEnd>,
    /// Byte position of each segment's first record, computed on first use.
    first_pos: Vec<OnceLock<u64>>,
}

impl ReadOnlyLog {
    /// Opens the log in `dir` read-only, with its catalogue if it can be read.
    pub fn open(dir: impl AsRef<Path>) -> Result<ReadOnlyLog> {
        ReadOnlyLog::open_with(dir, ReadOnlyOptions::default())
    }

    /// Opens the log in `dir` read-only.
    pub fn open_with(dir: impl AsRef<Path>, options: ReadOnlyOptions) -> Result<ReadOnlyLog> {
        let dir = dir.as_ref();
        check_log_dir(dir)?;
        let layout = Layout::new(dir);
        // The catalogue first, then the files: a file changes before the catalogue says
        // so, so what the files show is never older than the catalogue's snapshot.
        let (catalog_status, catalog) = if options.use_catalog {
            read_catalog(dir)
        } else {
            (CatalogStatus::Skipped, None)
        };
        let (archive, runtime) = match &options.archive {
            Some(a) => {
                a.validate()?;
                let runtime = Runtime::new(RuntimeOptions::standalone())?;
                let archive = Archive::open(a, runtime.handle().clone())?;
                (Some(archive), Some(runtime))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            layout,
            catalog,
            archive,
            _runtime: runtime,
        });
        let segments = list_segments(&shared)?;
        let marker = match std::fs::read(shared.layout.clean_marker()) {
            Ok(b) => CleanMarker::decode(&b).map_or(MarkerState::Invalid, MarkerState::Valid),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MarkerState::Absent,
            Err(e) => return Err(Error::io("read", shared.layout.clean_marker(), e)),
        };
        let mut log = ReadOnlyLog {
            first_pos: segments.iter().map(|_| OnceLock::new()).collect(),
            shared,
            catalog_status,
            marker,
            segments,
            tail: None,
        };
        log.tail = log.scan_tail()?;
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        self.shared.layout.dir()
    }

    pub fn catalog_status(&self) -> &CatalogStatus {
        &self.catalog_status
    }

    /// The catalogue's record of the log, if it was read.
    pub fn catalog(&self) -> Option<&LogSnapshot> {
        self.shared.catalog.as_ref()
    }

    pub fn marker(&self) -> MarkerState {
        self.marker
    }

    /// Every segment, in id order, as listed at open.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// The end of the records of the last segment, when it is not sealed.
    pub fn tail(&self) -> Option<&TailEnd> {
        self.tail.as_ref()
    }

    /// Whether an archive was given to read archived segments.
    pub fn has_archive(&self) -> bool {
        self.shared.archive.is_some()
    }

    /// The ids held at open: the oldest and the newest whole record (`(first, first - 1)`
    /// when there are none).
    pub fn bounds(&self) -> (u64, u64) {
        let Some(first) = self.segments.first() else {
            return (1, 0);
        };
        let first = first.base_id;
        let last = match (&self.tail, self.segments.last()) {
            (Some(t), _) => t.next_id - 1,
            (None, Some(s)) => s.footer.map_or(s.base_id - 1, |f| f.last_id),
            (None, None) => first - 1,
        };
        (first, last)
    }

    /// The last id of segment `i` (`None` if not known without reading it: a damaged
    /// footer, or a compressed file the catalogue has no entry for).
    pub fn last_id_of(&self, i: usize) -> Option<u64> {
        let s = &self.segments[i];
        if let Some(f) = s.footer {
            return Some(f.last_id);
        }
        if i + 1 == self.segments.len() {
            return self.tail.as_ref().map(|t| t.next_id - 1);
        }
        Some(self.segments[i + 1].base_id - 1)
    }

    /// Payload bytes of segment `i`: from the catalogue when it has them, else counted
    /// (which reads the segment).
    pub fn payload_bytes(&self, i: usize) -> Result<u64> {
        let s = &self.segments[i];
        if i + 1 == self.segments.len() {
            if let Some(t) = &self.tail {
                return Ok(t.payload_bytes);
            }
        }
        if let (Some(e), Some(f)) = (&s.entry, &s.footer) {
            if e.state == SegmentState::Sealed && e.last_id == f.last_id {
                return Ok(e.payload_bytes);
            }
        }
        let bytes = self.load(i)?;
        let until = self.last_id_of(i).map(|l| l + 1);
        Ok(source::walk(&bytes, s.base_id, until).0)
    }

    /// Byte position of the first record of segment `i`: the catalogue's, or the sum of
    /// the payload bytes of the segments before it (0 at the first without a catalogue).
    pub fn first_pos(&self, i: usize) -> Result<u64> {
        if let Some(p) = self.first_pos[i].get() {
            return Ok(*p);
        }
        let s = &self.segments[i];
        let pos = match &s.entry {
            Some(e) if e.state != SegmentState::Deleting => e.first_byte_pos,
            _ if i == 0 => 0,
            _ => self.first_pos(i - 1)? + self.payload_bytes(i - 1)?,
        };
        Ok(*self.first_pos[i].get_or_init(|| pos))
    }

    /// The bytes of segment `i`, whole: its file mapped, or decompressed.
    pub(crate) fn load(&self, i: usize) -> Result<SegmentBytes> {
        let s = &self.segments[i];
        self.shared.load(s.base_id, s.tier, &s.path)
    }

    /// A cursor from record `id` (from the first id up to one past the last): it reads
    /// on past the end of the log as the writer appends (see [`ReadOnlyCursor::next`]).
    pub fn cursor(&self, id: u64) -> Result<ReadOnlyCursor> {
        let (first, last) = self.bounds();
        if id < first && id >= 1 {
            return Err(Error::Truncated { id, first });
        }
        if id == 0 || id > last + 1 {
            return Err(Error::NotFound { id, first, last });
        }
        let Some(i) = self.segments.iter().rposition(|s| s.base_id <= id) else {
            // An empty log: start at its first id, whenever a segment appears.
            return Ok(ReadOnlyCursor::new(self.shared.clone(), id, 0));
        };
        let mut cursor = ReadOnlyCursor::new(self.shared.clone(), id, self.first_pos(i)?);
        cursor.seek_in(&self.segments[i])?;
        Ok(cursor)
    }

    /// Walks the last segment's records, if it is a plain file without a footer.
    fn scan_tail(&self) -> Result<Option<TailEnd>> {
        let Some(i) = self.segments.len().checked_sub(1) else {
            return Ok(None);
        };
        let s = &self.segments[i];
        if s.tier != SegmentTier::Plain || s.footer.is_some() || s.header.is_none() {
            return Ok(None);
        }
        let SegmentBytes::Mapped(file) = self.load(i)? else {
            return Err(Error::Internal("a plain segment is not mapped".into()));
        };
        let bytes = SegmentBytes::Mapped(file.clone());
        let (payload_bytes, next_id, offset) = source::walk(&bytes, s.base_id, None);
        let stop = match bytes.record_at(offset, next_id) {
            Ok(_) => "the next record was completed meanwhile".to_string(),
            Err(e) => e,
        };
        let garbage = file
            .last_nonzero_from(offset)?
            .map(|last| (offset, last + 1 - offset));
        Ok(Some(TailEnd {
            offset,
            next_id,
            payload_bytes,
            stop,
            garbage,
        }))
    }
}

impl Shared {
    /// The catalogue's entries of segment `base`, if any (Deleting ones excluded).
    fn entries(&self, base: u64) -> (Option<&SegmentEntry>, Option<&TierEntry>) {
        let Some(c) = &self.catalog else {
            return (None, None);
        };
        let entry = c
            .segments
            .get(&base)
            .filter(|e| e.state != SegmentState::Deleting);
        (entry, c.tiers.get(&base))
    }

    /// The bytes of segment `base`, whole, from the tier given.
    fn load(&self, base: u64, tier: SegmentTier, path: &Path) -> Result<SegmentBytes> {
        let (entry, tier_entry) = self.entries(base);
        match tier {
            SegmentTier::Plain => Ok(SegmentBytes::Mapped(Arc::new(
                source::map_plain(path, base)?.0,
            ))),
            SegmentTier::Compressed => source::load_compressed(path, base, entry, tier_entry),
            SegmentTier::Archived => {
                let (Some(archive), Some(c)) = (&self.archive, &self.catalog) else {
                    return Err(Error::InvalidArgument(format!(
                        "segment {base} is archived: it can be read only with the \
                         archive of the log's manager"
                    )));
                };
                source::load_archived(archive, c.meta.uid, base, entry, tier_entry)
            }
        }
    }

    /// Where segment `base` is now (probing the directory: plain file, then compressed
    /// file, then the catalogue's archived entry), or `None` if it has none.
    fn locate(&self, base: u64) -> Option<(SegmentTier, PathBuf)> {
        let plain = self.layout.segment(base);
        if plain.exists() {
            return Some((SegmentTier::Plain, plain));
        }
        let zst = self.layout.compressed(base);
        if zst.exists() {
            return Some((SegmentTier::Compressed, zst));
        }
        match self.entries(base).0 {
            Some(e) if e.location == Location::Archived => {
                Some((SegmentTier::Archived, PathBuf::new()))
            }
            _ => None,
        }
    }

    /// The base ids of the segment files in the directory now, in order.
    fn local_bases(&self) -> Result<Vec<u64>> {
        let mut bases: Vec<u64> = self
            .layout
            .list_all()?
            .into_iter()
            .filter(|(_, kind, _)| *kind != SegmentFileKind::CompressedTmp)
            .map(|(base, _, _)| base)
            .collect();
        bases.dedup();
        Ok(bases)
    }
}

/// Refuses what is not a log directory, naming the logs of a manager's root.
fn check_log_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io("open log directory", dir, e))?;
    if !meta.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if dir.join(MANAGER_LOCK).exists() {
        let mut logs: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Error::io("read directory", dir, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("LOCK").exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !n.starts_with('.'))
            .collect();
        logs.sort();
        return Err(Error::InvalidArgument(format!(
            "{} is the root of a manager, not a log; its logs: {}",
            dir.display(),
            if logs.is_empty() {
                "none".to_string()
            } else {
                logs.join(", ")
            }
        )));
    }
    let layout = Layout::new(dir);
    if !layout.lock_file().exists() && layout.list_all()?.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a log directory (no LOCK file, no segment files)",
            dir.display()
        )));
    }
    Ok(())
}

/// Where the log's catalogue is and its name there: the root's of a manager (the log is
/// a subdirectory named after it), or its own.
fn catalog_location(dir: &Path) -> Option<(PathBuf, String)> {
    let abs = std::fs::canonicalize(dir).ok()?;
    if let (Some(root), Some(name)) = (abs.parent(), abs.file_name().and_then(|n| n.to_str())) {
        if root.join(MANAGER_LOCK).exists() && root.join(crate::catalog::FILE_NAME).exists() {
            return Some((root.to_path_buf(), name.to_owned()));
        }
    }
    abs.join(crate::catalog::FILE_NAME)
        .exists()
        .then(|| (abs, String::new()))
}

/// Reads the log's record from its catalogue, read-only; any failure leaves the files.
fn read_catalog(dir: &Path) -> (CatalogStatus, Option<LogSnapshot>) {
    let Some((cat_dir, name)) = catalog_location(dir) else {
        return (CatalogStatus::Missing, None);
    };
    let path = cat_dir.join(crate::catalog::FILE_NAME);
    let snapshot = Catalog::read_only_snapshot(&cat_dir, &name);
    match snapshot {
        Ok(Some(s)) => (CatalogStatus::Read { path, name }, Some(s)),
        Ok(None) => (CatalogStatus::NoRecord { path, name }, None),
        Err(e) => (CatalogStatus::Unreadable(e.to_string()), None),
    }
}

/// The segments of the log: its files (one per segment: the one the catalogue names when
/// a tier move left two) and the archived segments the catalogue lists, in id order.
fn list_segments(shared: &Shared) -> Result<Vec<SegmentInfo>> {
    let mut files: BTreeMap<u64, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    for (base, kind, path) in shared.layout.list_all()? {
        match kind {
            SegmentFileKind::Plain => files.entry(base).or_default().0 = Some(path),
            SegmentFileKind::Compressed => files.entry(base).or_default().1 = Some(path),
            SegmentFileKind::CompressedTmp => {}
        }
    }
    if let Some(c) = &shared.catalog {
        for (base, e) in &c.segments {
            if e.location == Location::Archived && e.state != SegmentState::Deleting {
                files.entry(*base).or_default();
            }
        }
    }
    let mut out = Vec::with_capacity(files.len());
    for (base, (plain, zst)) in files {
        let (entry, tier_entry) = shared.entries(base);
        let deleting = shared
            .catalog
            .as_ref()
            .and_then(|c| c.segments.get(&base))
            .is_some_and(|e| e.state == SegmentState::Deleting);
        if deleting {
            continue; // being removed by retention: nothing may read it
        }
        let archived = entry.is_some_and(|e| e.location == Location::Archived);
        let wants_zst = entry.is_some_and(|e| e.location == Location::LocalCompressed);
        let mut problem = (plain.is_some() && zst.is_some())
            .then(|| "both a plain and a compressed file (a tier move under way)".to_string());
        let (tier, path) = match (plain, zst) {
            _ if archived => (SegmentTier::Archived, PathBuf::new()),
            (Some(_), Some(z)) if wants_zst => (SegmentTier::Compressed, z),
            (Some(p), _) => (SegmentTier::Plain, p),
            (None, Some(z)) => (SegmentTier::Compressed, z),
            (None, None) => continue,
        };
        let mut info = SegmentInfo {
            base_id: base,
            tier,
            file_len: 0,
            allocated: 0,
            header: None,
            footer: source::entry_footer(base, entry),
            entry: entry.copied(),
            tier_entry: tier_entry.cloned(),
            problem: None,
            path,
        };
        if tier != SegmentTier::Archived {
            match std::fs::metadata(&info.path) {
                Ok(m) => (info.file_len, info.allocated) = (m.len(), m.blocks() * 512),
                // Moved or removed since the listing: gone from this picture.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("stat", &info.path, e)),
            }
        }
        if tier == SegmentTier::Plain {
            match source::map_plain(&info.path, base) {
                Ok((file, header)) => {
                    info.header = Some(header);
                    info.footer = SegmentBytes::Mapped(Arc::new(file)).footer(base);
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => problem = Some(e.to_string()),
            }
        }
        info.problem = problem;
        out.push(info);
    }
    Ok(out)
}
