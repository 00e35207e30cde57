//! The cold tier: compressed segment files uploaded to an archive (S3-compatible object
//! storage, or a directory) and read back transparently by ranged reads of the frames a
//! read needs.
//!
//! One [`Archive`] per manager (one client, one circuit breaker): it names objects, uploads
//! and verifies them, and fetches frames. An upload is verified before the catalogue calls
//! the segment archived: the object's size must be the compressed file's and its last
//! bytes (the seek table, which holds every frame's size and the XXH64 of its content) must
//! equal the local file's. Object keys are fixed by the log's uid and the segment's base id
//! (`<prefix><uid, 16 hex digits>/<base id, 20 digits>.seg.zst`), so a retried upload finds
//! its object (conditional create) instead of writing a second one.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::catalog::TierEntry;
use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::format::{crc64, SegmentFooter};
use crate::segment::set::TierLoader;
use crate::sync::lock;
use crate::tier::archive::{
    ArchiveError, ArchiveStore, FsArchive, PutOutcome, Remote, RemoteConfig, RemoteStats,
};
use crate::tier::warm::{check_plain, decompress_frame, FrameChunk};

/// Where the archive is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A directory (a local disk, an NFS mount): objects are files under it.
    Filesystem(PathBuf),
    /// An S3-compatible object store.
    #[cfg(feature = "s3")]
    S3(crate::tier::archive::S3Config),
}

/// The archive of a manager (part of [`crate::ManagerOptions`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveOptions {
    pub backend: Backend,
    /// Prepended to every object key (e.g. `"prod/orders/"`); several managers may share a
    /// bucket under different prefixes.
    pub prefix: String,
    /// Retries, backoff and circuit breaker of every request.
    pub remote: RemoteConfig,
    /// Bytes (decompressed) of the frames a sequential reader fetches ahead of the one it
    /// reads, in one ranged read; 0: none. Default 32 MiB (128 frames of 256 KiB): with
    /// 16 MiB segments one request per object; the bench in docs/BENCHMARKS.md ("Tiers")
    /// compares windows.
    pub readahead_bytes: u64,
    /// Backpressure: a log may hold at most this many sealed segments not archived yet
    /// (when it archives at all); past it, appends that need a new segment wait for the
    /// archive (see `backpressure_wait`). `None`: no bound.
    pub max_pending_segments: Option<u64>,
    /// The same bound in bytes of segment files (plain or compressed).
    pub max_pending_bytes: Option<u64>,
    /// How long an append waits for the archive to catch up when a bound is reached;
    /// `None`: it fails at once with `WouldBlock`. After the wait it fails the same way.
    pub backpressure_wait: Option<std::time::Duration>,
}

impl ArchiveOptions {
    pub fn new(backend: Backend) -> ArchiveOptions {
        ArchiveOptions {
            backend,
            prefix: String::new(),
            remote: RemoteConfig::default(),
            readahead_bytes: DEFAULT_READAHEAD_BYTES,
            max_pending_segments: None,
            max_pending_bytes: None,
            backpressure_wait: Some(std::time::Duration::from_secs(30)),
        }
    }
}

impl ArchiveOptions {
    /// Checks the options: the prefix makes valid keys (no leading `/`, no empty, `.` or
    /// `..` component, no NUL, keys of at most 1024 bytes), the retry settings
    /// ([`RemoteConfig::validate`]), bounds of at least 1 where set, and the S3 settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidArgument(format!("archive: {what}")));
        // The longest key the prefix will start (every key has this length after it).
        let longest = format!("{}{:016x}/{:020}.seg.zst", self.prefix, u64::MAX, u64::MAX);
        if let Err(why) = crate::tier::archive::validate_key(&longest) {
            return bad(format!("prefix {:?} makes bad keys: {why}", self.prefix));
        }
        if let Err(why) = self.remote.validate() {
            return bad(why);
        }
        if self.max_pending_segments == Some(0) || self.max_pending_bytes == Some(0) {
            return bad("max_pending_segments and max_pending_bytes must be at least 1".into());
        }
        match &self.backend {
            Backend::Filesystem(root) if root.as_os_str().is_empty() => {
                bad("the archive directory is empty".into())
            }
            Backend::Filesystem(_) => Ok(()),
            #[cfg(feature = "s3")]
            Backend::S3(config) => match config.validate() {
                Ok(()) => Ok(()),
                Err(why) => bad(format!("s3: {why}")),
            },
        }
    }
}

/// Default read-ahead window of a sequential reader of an archived segment.
pub const DEFAULT_READAHEAD_BYTES: u64 = 32 << 20;

/// A manager's archive.
pub struct Archive {
    remote: Remote,
    prefix: String,
    readahead: u64,
    handle: tokio::runtime::Handle,
    options: ArchiveOptions,
}

impl Archive {
    /// Connects the backend (`handle`: the manager's runtime, which the S3 client and
    /// read-ahead run on).
    pub fn open(options: &ArchiveOptions, handle: tokio::runtime::Handle) -> Result<Arc<Archive>> {
        let store: Arc<dyn ArchiveStore> = match &options.backend {
            Backend::Filesystem(root) => Arc::new(FsArchive::new(root).map_err(remote_error)?),
            #[cfg(feature = "s3")]
            Backend::S3(config) => Arc::new(
                crate::tier::archive::S3Archive::new(config.clone(), handle.clone())
                    .map_err(remote_error)?,
            ),
        };
        Ok(Arc::new(Archive {
            remote: Remote::new(store, options.remote.clone()),
            prefix: options.prefix.clone(),
            readahead: options.readahead_bytes,
            handle,
            options: options.clone(),
        }))
    }

    /// The key of segment `base` of the log with uid `uid`.
    pub fn key(&self, uid: u64, base: u64) -> String {
        format!("{}{}{base:020}.seg.zst", self.prefix, self.log_prefix(uid))
    }

    /// The keys of the log with uid `uid` start with this (after the prefix).
    fn log_prefix(&self, uid: u64) -> String {
        format!("{uid:016x}/")
    }

    pub fn options(&self) -> &ArchiveOptions {
        &self.options
    }

    pub fn stats(&self) -> RemoteStats {
        self.remote.stats()
    }

    /// Uploads compressed file `path` (recorded as `entry`) as `key`, then verifies the
    /// object; an object already there with other bytes (a file compressed again after the
    /// catalogue was lost, say) is replaced. Returns once the object is verified.
    pub fn upload(&self, key: &str, path: &Path, entry: &TierEntry) -> Result<()> {
        for attempt in 0..2 {
            match self.remote.put_file(key, path).map_err(remote_error)? {
                PutOutcome::Created { .. } => {}
                PutOutcome::AlreadyExists { .. } => {}
            }
            match self.verify(key, path, entry) {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 0 => {
                    // Not our bytes: remove the object and upload again.
                    let _ = e;
                    self.remote.delete(key).map_err(remote_error)?;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// Checks the object `key` against the local compressed file: its size, and its last
    /// bytes (the seek table: every frame's sizes and content checksum).
    fn verify(&self, key: &str, path: &Path, entry: &TierEntry) -> Result<()> {
        let size = self.remote.head(key).map_err(remote_error)?;
        if size != Some(entry.compressed_len) {
            return Err(Error::Remote(format!(
                "archived object {key:?} is {size:?} bytes, the compressed file {}",
                entry.compressed_len
            )));
        }
        let tail = crate::tier::seekable::table_len(entry.frames.len() as u64, true);
        let from = entry.compressed_len - tail;
        let remote_tail = self
            .remote
            .get_range(key, from..entry.compressed_len)
            .map_err(remote_error)?;
        let file = fsio::open_file(path)?;
        let mut local_tail = vec![0u8; tail as usize];
        fsio::read_exact_at(&file, path, &mut local_tail, from)?;
        if remote_tail != local_tail {
            return Err(Error::Remote(format!(
                "archived object {key:?} does not end with the compressed file's seek table"
            )));
        }
        Ok(())
    }

    /// Deletes the object `key` (absent is fine).
    pub fn delete(&self, key: &str) -> Result<()> {
        self.remote.delete(key).map_err(remote_error)
    }

    /// The keys of the objects of log `uid`, with their base ids where the name is one of
    /// ours.
    pub fn list_log(&self, uid: u64) -> Result<Vec<(String, Option<u64>)>> {
        let prefix = format!("{}{}", self.prefix, self.log_prefix(uid));
        let objects = self.remote.list(&prefix).map_err(remote_error)?;
        Ok(objects
            .into_iter()
            .map(|(key, _)| {
                let base = key
                    .strip_prefix(&prefix)
                    .and_then(|n| n.strip_suffix(".seg.zst"))
                    .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse().ok());
                (key, base)
            })
            .collect())
    }

    /// Frames `frames` of the object `key` (recorded as `entry`), with one ranged read.
    fn fetch(&self, key: &str, entry: &TierEntry, frames: Range<usize>) -> Result<Vec<Vec<u8>>> {
        let (c_start, _) = entry.frame_offsets(frames.start);
        let (c_end, _) = entry.frame_offsets(frames.end);
        let bytes = self
            .remote
            .get_range(key, c_start..c_end)
            .map_err(remote_error)?;
        let path = PathBuf::from(key);
        let mut out = Vec::with_capacity(frames.len());
        let mut at = 0usize;
        for i in frames {
            let f = &entry.frames[i];
            let (c_offset, d_offset) = entry.frame_offsets(i);
            let len = f.compressed_size as usize;
            out.push(decompress_frame(
                &path,
                &bytes[at..at + len],
                f,
                c_offset,
                d_offset,
            )?);
            at += len;
        }
        Ok(out)
    }

    /// The whole object, checked against the catalogue's length and CRC.
    fn fetch_all(&self, key: &str, entry: &TierEntry) -> Result<Vec<u8>> {
        let bytes = self.remote.get(key).map_err(remote_error)?;
        if bytes.len() as u64 != entry.compressed_len || crc64(&[&bytes]) != entry.compressed_crc {
            return Err(Error::corruption(
                key,
                0,
                format!(
                    "archived object of {} bytes does not match the catalogue's length {} and \
                     checksum",
                    bytes.len(),
                    entry.compressed_len
                ),
            ));
        }
        Ok(bytes)
    }
}

/// The engine's error for an archive error.
pub fn remote_error(e: ArchiveError) -> Error {
    Error::Remote(e.to_string())
}

/// An archived segment, as the segment set knows it: read by ranged reads of its frames.
pub struct Cold {
    archive: Arc<Archive>,
    key: String,
    footer: SegmentFooter,
    load: TierLoader,
    entry: OnceLock<Arc<TierEntry>>,
    /// The frame pinned last, plus one: a pin of the frame after it is a sequential read,
    /// which reads ahead.
    next_frame: AtomicUsize,
    /// Frames a background read-ahead is fetching: a reader that needs one of them waits
    /// for it (`landed`) instead of downloading it a second time.
    in_flight: Mutex<Option<Range<usize>>>,
    landed: Condvar,
}

impl Cold {
    pub fn new(
        archive: Arc<Archive>,
        key: String,
        footer: SegmentFooter,
        load: TierLoader,
    ) -> Cold {
        Cold {
            archive,
            key,
            footer,
            load,
            entry: OnceLock::new(),
            next_frame: AtomicUsize::new(usize::MAX),
            in_flight: Mutex::new(None),
            landed: Condvar::new(),
        }
    }

    pub fn base_id(&self) -> u64 {
        self.footer.first_id
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The catalogue's tier entry (loaded on first use).
    pub fn entry(&self) -> Result<Arc<TierEntry>> {
        if let Some(e) = self.entry.get() {
            return Ok(e.clone());
        }
        let e = Arc::new((self.load)()?);
        Ok(self.entry.get_or_init(|| e).clone())
    }

    /// Frames `frames` (one ranged read), decompressed.
    pub fn chunks(
        &self,
        entry: &TierEntry,
        frames: Range<usize>,
        segment_first_pos: u64,
    ) -> Result<Vec<(usize, FrameChunk)>> {
        let data = self.archive.fetch(&self.key, entry, frames.clone())?;
        Ok(frames
            .zip(data)
            .map(|(j, d)| (j, self.make_chunk(entry, j, d, segment_first_pos)))
            .collect())
    }

    /// Notes that frame `i` is pinned; true if it follows the frame pinned before, or is
    /// the segment's first (a cursor crossing into the segment): a sequential reader.
    pub fn note_pin(&self, i: usize) -> bool {
        self.next_frame.swap(i + 1, Relaxed) == i || i == 0
    }

    /// Frames a sequential reader at frame `i` fetches ahead: the read-ahead window in
    /// frames of that size (at most 4,096).
    pub fn readahead(&self, entry: &TierEntry, i: usize) -> usize {
        let frame = u64::from(entry.frames[i].decompressed_size).max(1);
        (self.archive.readahead / frame).min(4096) as usize
    }

    /// Waits while a background read-ahead is fetching frame `i` (it lands in the frame
    /// cache).
    pub fn wait_for_read_ahead(&self, i: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut f = lock(&self.in_flight);
        while f.as_ref().is_some_and(|r| r.contains(&i)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            f = self
                .landed
                .wait_timeout(f, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn make_chunk(&self, entry: &TierEntry, i: usize, data: Vec<u8>, first_pos: u64) -> FrameChunk {
        FrameChunk::new(
            Path::new(&self.key),
            &self.footer,
            entry,
            i..i + 1,
            data,
            first_pos,
        )
    }

    /// The whole segment, downloaded (checked against the catalogue) and decompressed.
    pub fn whole(&self, entry: &TierEntry, segment_first_pos: u64) -> Result<FrameChunk> {
        let bytes = self.archive.fetch_all(&self.key, entry)?;
        let path = PathBuf::from(&self.key);
        let mut data = Vec::with_capacity(entry.plain_len as usize);
        for (i, f) in entry.frames.iter().enumerate() {
            let (c, d) = entry.frame_offsets(i);
            let range = c as usize..(c + u64::from(f.compressed_size)) as usize;
            data.extend_from_slice(&decompress_frame(&path, &bytes[range], f, c, d)?);
        }
        check_plain(&path, &data, entry)?;
        let all = 0..entry.frames.len();
        Ok(FrameChunk::new(
            &path,
            &self.footer,
            entry,
            all,
            data,
            segment_first_pos,
        ))
    }

    /// Fetches frames `frames` in the background with one ranged read and hands them to
    /// `store` (the frame cache), unless a read-ahead is already running. Failures are
    /// left to the foreground read of those frames, which reports them.
    pub fn read_ahead(
        self: &Arc<Self>,
        entry: &Arc<TierEntry>,
        frames: Range<usize>,
        first_pos: u64,
        store: impl Fn(usize, FrameChunk) + Send + 'static,
    ) {
        {
            let mut f = lock(&self.in_flight);
            if f.is_some() || frames.is_empty() {
                return;
            }
            *f = Some(frames.clone());
        }
        let (cold, entry) = (self.clone(), entry.clone());
        self.archive.handle.spawn_blocking(move || {
            if let Ok(chunks) = cold.chunks(&entry, frames, first_pos) {
                for (j, chunk) in chunks {
                    store(j, chunk);
                }
            }
            *lock(&cold.in_flight) = None;
            cold.landed.notify_all();
        });
    }
}
