//! What the logs of one manager share for their tiers: the hot cache (maps of sealed
//! segment files, with their offset indexes) and the frame cache (decompressed frames of
//! compressed and archived segments), each under a byte budget, and how a read that finds
//! no room behaves. A log opened alone has its own.
//!
//! The hot budget counts the full size of every mapped sealed segment file plus 8 bytes
//! per record of it (its offset index, built on first touch and dropped with the map). The
//! active segment of each log is mapped outside it (one per open log, always needed by the
//! writer). The frame budget counts each decompressed frame plus 8 bytes per record in it.
//! Entries pinned by a reader (a cursor holds one: its current segment or frame) are never
//! evicted; the others go least recently used first.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::segment::file::SegmentFile;
use crate::tier::cache::{Admission, BudgetCache, CacheError, CacheStats, Pinned};
use crate::tier::cold::Archive;
use crate::tier::warm::FrameChunk;

/// Default budget of the hot cache: 1 GiB of mapped sealed segments.
pub const DEFAULT_HOT_BYTES: u64 = 1 << 30;
/// Default budget of the frame cache: 256 MiB of decompressed frames.
pub const DEFAULT_FRAME_BYTES: u64 = 256 << 20;
/// Default wait of a read for room in a cache.
pub const DEFAULT_CACHE_WAIT: Duration = Duration::from_secs(10);

/// The caches' settings (part of [`crate::ManagerOptions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Budget of the hot cache in bytes (at least 64 KiB).
    pub hot_bytes: u64,
    /// Budget of the frame cache in bytes (at least 64 KiB).
    pub frame_bytes: u64,
    /// How long a read waits for room when every entry is pinned; `None`: it fails at
    /// once with `WouldBlock`.
    pub wait: Option<Duration>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            hot_bytes: DEFAULT_HOT_BYTES,
            frame_bytes: DEFAULT_FRAME_BYTES,
            wait: Some(DEFAULT_CACHE_WAIT),
        }
    }
}

impl CacheOptions {
    pub fn validate(&self) -> Result<()> {
        for (what, n) in [
            ("hot_bytes", self.hot_bytes),
            ("frame_bytes", self.frame_bytes),
        ] {
            if n < 64 * 1024 {
                return Err(Error::InvalidArgument(format!(
                    "cache {what} {n} is below 64 KiB"
                )));
            }
        }
        Ok(())
    }
}

/// A segment (`frame == WHOLE_FILE`) or a frame of one, of one open log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub log: u64,
    pub base: u64,
    pub frame: u32,
}

/// `Key::frame` of a whole segment file.
pub const WHOLE_FILE: u32 = u32::MAX;

/// The caches one manager's logs share.
pub struct Tiers {
    maps: BudgetCache<Key, SegmentFile, Error>,
    frames: BudgetCache<Key, FrameChunk, Error>,
    admission: Admission,
    next_log: AtomicU64,
    archive: Option<Arc<Archive>>,
}

impl Tiers {
    pub fn new(options: &CacheOptions, archive: Option<Arc<Archive>>) -> Result<Arc<Tiers>> {
        options.validate()?;
        Ok(Arc::new(Tiers {
            maps: BudgetCache::new(options.hot_bytes),
            frames: BudgetCache::new(options.frame_bytes),
            admission: options.wait.map_or(Admission::NoWait, Admission::Wait),
            next_log: AtomicU64::new(1),
            archive,
        }))
    }

    /// The manager's archive, if it has one.
    pub fn archive(&self) -> Option<&Arc<Archive>> {
        self.archive.as_ref()
    }

    /// Whether frame `key` is cached or being loaded.
    pub fn has_frame(&self, key: &Key) -> bool {
        self.frames.contains(key)
    }

    /// A key space for one open log (its entries never mix with another's).
    pub fn log_key(&self) -> u64 {
        self.next_log.fetch_add(1, Relaxed)
    }

    /// The map of a sealed segment file, from the hot cache or opened by `open` (`size`:
    /// its file and its index).
    pub fn map(
        &self,
        key: Key,
        size: u64,
        open: impl FnOnce() -> Result<SegmentFile>,
    ) -> Result<Pinned<SegmentFile>> {
        self.maps
            .get_or_load(&key, size, self.admission, open)
            .map_err(|e| cache_error("hot", e))
    }

    /// A decompressed frame, from the frame cache or made by `load`.
    pub fn frame(
        &self,
        key: Key,
        size: u64,
        load: impl FnOnce() -> Result<FrameChunk>,
    ) -> Result<Pinned<FrameChunk>> {
        self.frames
            .get_or_load(&key, size, self.admission, load)
            .map_err(|e| cache_error("frame", e))
    }

    /// Drops the cached map and frames of a segment (it was removed or moved); pinned ones
    /// stay with their readers.
    pub fn forget(&self, log: u64, base: u64, frames: u32) {
        self.maps.remove(&Key {
            log,
            base,
            frame: WHOLE_FILE,
        });
        for frame in 0..frames {
            self.frames.remove(&Key { log, base, frame });
        }
    }

    pub fn hot_stats(&self) -> CacheStats {
        self.maps.stats()
    }

    pub fn frame_stats(&self) -> CacheStats {
        self.frames.stats()
    }
}

fn cache_error(cache: &str, e: CacheError<Error>) -> Error {
    match e {
        CacheError::Load(e) => Error::from_shared(e),
        CacheError::LoadPanicked => {
            Error::Internal(format!("loading an entry of the {cache} cache panicked"))
        }
        e @ (CacheError::TooLarge { .. } | CacheError::WouldBlock { .. }) => {
            Error::WouldBlock(format!("{cache} cache: {e}"))
        }
    }
}
