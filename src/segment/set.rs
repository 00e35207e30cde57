//! The segment set of one log: the only owner of its segments, of each one's state and of
//! where its bytes live. Readers ask it for a pinned [`SegmentReader`] by id and never see a
//! file; the writer adds the next segment and marks the last one sealed.
//!
//! A pin keeps the segment's bytes (today: its file and map) alive until released, whatever
//! happens to the set meanwhile. Retention and the tiers change a segment's state and
//! location here; they wait for pins, not the other way round.
//!
//! Each segment also knows its first byte position: the payload bytes the log held before
//! its first record (kept in the catalogue, `SegmentEntry::first_byte_pos`). With the
//! segment's index (positions within it) that gives every record's byte position, and a
//! binary search on first positions finds the segment of a position.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};

use crate::catalog::TierEntry;
use crate::error::{Error, Result};
use crate::segment::file::SegmentFile;
use crate::segment::format::SegmentFooter;
pub use crate::segment::reader::SegmentReader;
use crate::segment::reader::Source;
use crate::tier::cache::Pinned;
use crate::tier::cold::Cold;
use crate::tier::shared::{Key, Tiers, WHOLE_FILE};
use crate::tier::warm::WarmFile;

/// Where a segment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentState {
    /// The segment appends go to: no footer yet.
    Active,
    /// Full and sealed with a footer; never written again.
    Sealed,
}

/// Where a segment's bytes live.
#[derive(Clone)]
enum Location {
    /// The active segment's file, mapped for as long as it is the active one.
    Active(Arc<SegmentFile>),
    /// A sealed segment file: mapped through the hot cache when a reader pins it (opening
    /// a log touches no sealed segment).
    Sealed(Arc<SealedFile>),
    /// A compressed file (the warm tier): a pin holds the decompressed frame it reads,
    /// from the frame cache.
    Compressed(Arc<Warm>),
    /// An object in the archive (the cold tier): a pin holds the frame it reads,
    /// downloaded into the frame cache.
    Archived(Arc<Cold>),
}

/// A sealed segment file as the set knows it without opening it.
pub struct SealedFile {
    path: PathBuf,
    base_id: u64,
    capacity: u64,
    footer: SegmentFooter,
}

impl SealedFile {
    /// Bytes it takes in the hot cache: the map and its offset index when complete.
    fn cache_size(&self) -> u64 {
        self.capacity + 8 * self.footer.record_count
    }

    fn open(&self, ctx: &Ctx) -> Result<SegmentFile> {
        ctx.opened.fetch_add(1, Relaxed);
        let file = SegmentFile::open_existing(&self.path, self.base_id)?;
        if file.capacity() < self.footer.data_end {
            return Err(Error::corruption(
                &self.path,
                file.capacity(),
                format!(
                    "file is shorter than the end of its records {} in the catalogue",
                    self.footer.data_end
                ),
            ));
        }
        file.mark_sealed(self.footer);
        Ok(file)
    }
}

/// Reads the catalogue's tier entry of a compressed segment (when it is first read).
pub type TierLoader = Arc<dyn Fn() -> Result<TierEntry> + Send + Sync>;

/// A compressed segment, opened on first use.
pub struct Warm {
    path: PathBuf,
    footer: SegmentFooter,
    load: TierLoader,
    file: OnceLock<Arc<WarmFile>>,
}

impl Warm {
    pub fn new(path: PathBuf, footer: SegmentFooter, load: TierLoader) -> Warm {
        Warm {
            path,
            footer,
            load,
            file: OnceLock::new(),
        }
    }

    /// An opened compressed file (right after compression: nothing to load).
    pub fn opened(file: WarmFile, footer: SegmentFooter) -> Warm {
        let entry = file.entry().clone();
        let warm = Warm::new(
            file.path().to_path_buf(),
            footer,
            Arc::new(move || Ok((*entry).clone())),
        );
        let _ = warm.file.set(Arc::new(file));
        warm
    }

    fn get(&self, ctx: &Ctx) -> Result<Arc<WarmFile>> {
        if let Some(file) = self.file.get() {
            return Ok(file.clone());
        }
        let entry = (self.load)()?;
        ctx.opened.fetch_add(1, Relaxed);
        let file = WarmFile::open(&self.path, self.footer, Arc::new(entry))?;
        Ok(self.file.get_or_init(|| Arc::new(file)).clone())
    }

    fn base_id(&self) -> u64 {
        self.footer.first_id
    }
}

/// A segment as the set is given it at open, with its first byte position.
pub enum KnownSegment {
    /// Opened (recovery looked into it, or it is the active one).
    Open {
        file: Arc<SegmentFile>,
        first_pos: u64,
    },
    /// Sealed, known from the catalogue: opened when first pinned.
    Sealed {
        path: PathBuf,
        base_id: u64,
        capacity: u64,
        footer: SegmentFooter,
        first_pos: u64,
    },
    /// Compressed (the warm tier), known from the catalogue.
    Compressed { warm: Arc<Warm>, first_pos: u64 },
    /// Archived (the cold tier), known from the catalogue.
    Archived { cold: Arc<Cold>, first_pos: u64 },
}

#[derive(Clone)]
struct Entry {
    base_id: u64,
    /// Byte position of its first record (payload bytes the log held before it).
    first_pos: u64,
    state: SegmentState,
    location: Location,
}

impl Entry {
    /// An entry for an open file: the active segment, or a sealed one, which from now on
    /// is mapped through the hot cache (this map is dropped with the last pin of it).
    fn new(file: Arc<SegmentFile>, first_pos: u64) -> Entry {
        let (state, location) = match file.footer() {
            Some(footer) => (
                SegmentState::Sealed,
                Location::Sealed(Arc::new(SealedFile {
                    path: file.path().to_path_buf(),
                    base_id: file.base_id(),
                    capacity: file.capacity(),
                    footer: *footer,
                })),
            ),
            None => (SegmentState::Active, Location::Active(file.clone())),
        };
        Entry {
            base_id: file.base_id(),
            first_pos,
            state,
            location,
        }
    }

    fn known(segment: KnownSegment) -> Entry {
        match segment {
            KnownSegment::Open { file, first_pos } => Entry::new(file, first_pos),
            KnownSegment::Sealed {
                path,
                base_id,
                capacity,
                footer,
                first_pos,
            } => Entry {
                base_id,
                first_pos,
                state: SegmentState::Sealed,
                location: Location::Sealed(Arc::new(SealedFile {
                    path,
                    base_id,
                    capacity,
                    footer,
                })),
            },
            KnownSegment::Compressed { warm, first_pos } => Entry {
                base_id: warm.base_id(),
                first_pos,
                state: SegmentState::Sealed,
                location: Location::Compressed(warm),
            },
            KnownSegment::Archived { cold, first_pos } => Entry {
                base_id: cold.base_id(),
                first_pos,
                state: SegmentState::Sealed,
                location: Location::Archived(cold),
            },
        }
    }

    /// The bytes of the segment that hold record `id` (of a compressed segment: its
    /// frame; of a file: all of it), pinned. Opens and maps outside the set's lock (the
    /// caller cloned the entry).
    fn pin(&self, ctx: &Ctx, id: u64) -> Result<SegmentReader> {
        self.pin_with(ctx, |entry| entry.frame_of_id(id))
    }

    /// As [`Entry::pin`], for the record at or after byte position `pos` (the frame of a
    /// compressed segment: the last whose first record starts below `pos`, else the first).
    fn pin_at_position(&self, ctx: &Ctx, pos: u64) -> Result<SegmentReader> {
        let rel = pos.saturating_sub(self.first_pos);
        self.pin_with(ctx, |entry| {
            entry
                .frames
                .partition_point(|f| f.first_pos < rel)
                .saturating_sub(1)
        })
    }

    /// Frame `frame(tier entry)` of a compressed segment, or the whole file of another.
    fn pin_with(
        &self,
        ctx: &Ctx,
        frame: impl FnOnce(&TierEntry) -> usize,
    ) -> Result<SegmentReader> {
        let source = match &self.location {
            Location::Active(file) => Source::File(file.clone()),
            Location::Sealed(sealed) => Source::Mapped(ctx.map(sealed)?),
            Location::Compressed(warm) => {
                let file = warm.get(ctx)?;
                let i = frame(file.entry());
                let key = ctx.key(self.base_id, i as u32);
                let size = frame_size(file.entry(), i);
                let first_pos = self.first_pos;
                Source::Chunk(
                    ctx.tiers
                        .frame(key, size, || file.chunk(i..i + 1, first_pos))?,
                )
            }
            Location::Archived(cold) => {
                let entry = cold.entry()?;
                let i = frame(&entry);
                let first_pos = self.first_pos;
                let (log, base) = (ctx.log, self.base_id);
                let key = move |j: usize| Key {
                    log,
                    base,
                    frame: j as u32,
                };
                let missing = |j: usize| !ctx.tiers.has_frame(&key(j));
                let n = entry.frames.len();
                // A sequential reader fetches the frames ahead with the one it needs (one
                // ranged read), and the next window in the background before it gets there.
                let sequential = cold.note_pin(i);
                let ahead = if sequential {
                    cold.readahead(&entry, i)
                } else {
                    0
                };
                cold.wait_for_read_ahead(i);
                let batch = (i + 1..(i + 1 + ahead).min(n))
                    .take_while(|&j| missing(j))
                    .count();
                let mut extra = Vec::new();
                let chunk = ctx.tiers.frame(key(i), frame_size(&entry, i), || {
                    let mut chunks = cold.chunks(&entry, i..i + 1 + batch, first_pos)?;
                    extra = chunks.split_off(1);
                    Ok(chunks.pop().expect("frame i").1)
                })?;
                for (j, c) in extra {
                    let _ = ctx.tiers.frame(key(j), frame_size(&entry, j), || Ok(c));
                }
                if ahead > 0 {
                    // The first frame not cached within a window of 2 × `ahead`: fetch its
                    // window once fewer than `ahead` cached frames are left before it.
                    let end = (i + 1 + 2 * ahead).min(n);
                    if let Some(from) = (i + 1..end).find(|&j| missing(j)) {
                        if from <= i + ahead {
                            let to = (from..(from + ahead).min(n))
                                .take_while(|&j| missing(j))
                                .last()
                                .map_or(from, |j| j + 1);
                            let (tiers, sizes) = (ctx.tiers.clone(), entry.clone());
                            cold.read_ahead(&entry, from..to, first_pos, move |j, c| {
                                let _ = tiers.frame(key(j), frame_size(&sizes, j), || Ok(c));
                            });
                        }
                    }
                }
                Source::Chunk(chunk)
            }
        };
        Ok(SegmentReader::new(source, self.first_pos))
    }

    /// All of the segment, pinned (a compressed one decompressed whole, outside the frame
    /// cache: for verification, one segment at a time).
    fn pin_whole(&self, ctx: &Ctx) -> Result<SegmentReader> {
        let source = match &self.location {
            Location::Compressed(warm) => {
                let file = warm.get(ctx)?;
                let all = 0..file.entry().frames.len();
                Source::Whole(Arc::new(file.chunk(all, self.first_pos)?))
            }
            Location::Archived(cold) => {
                let entry = cold.entry()?;
                Source::Whole(Arc::new(cold.whole(&entry, self.first_pos)?))
            }
            _ => return self.pin_with(ctx, |_| 0),
        };
        Ok(SegmentReader::new(source, self.first_pos))
    }
}

/// Bytes a decompressed frame takes in the frame cache: its data and its index.
fn frame_size(entry: &TierEntry, i: usize) -> u64 {
    let f = &entry.frames[i];
    u64::from(f.decompressed_size) + 8 * u64::from(f.records)
}

/// What the set's pins need besides the entries: the shared caches and this log's key
/// space in them.
struct Ctx {
    tiers: Arc<Tiers>,
    log: u64,
    /// Segment files (plain or compressed) opened so far.
    opened: AtomicUsize,
}

impl Ctx {
    fn key(&self, base: u64, frame: u32) -> Key {
        Key {
            log: self.log,
            base,
            frame,
        }
    }

    fn map(&self, sealed: &SealedFile) -> Result<Pinned<SegmentFile>> {
        let key = self.key(sealed.base_id, WHOLE_FILE);
        self.tiers
            .map(key, sealed.cache_size(), || sealed.open(self))
    }
}

/// Every segment of a log, in id order.
pub struct SegmentSet {
    entries: RwLock<Vec<Entry>>,
    ctx: Ctx,
}

impl SegmentSet {
    /// The segments recovery found, in id order (so also in order of first position); only
    /// the last may be unsealed.
    pub fn new(segments: Vec<KnownSegment>, tiers: Arc<Tiers>) -> SegmentSet {
        SegmentSet {
            entries: RwLock::new(segments.into_iter().map(Entry::known).collect()),
            ctx: Ctx {
                log: tiers.log_key(),
                tiers,
                opened: AtomicUsize::new(0),
            },
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Id of the oldest record held (1 for an empty log).
    pub fn first_id(&self) -> u64 {
        self.read().first().map_or(1, |e| e.base_id)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// The segment that holds `id`, pinned; `None` if `id` is below the first segment. The
    /// caller bounds `id` from above by the visible watermark. Fails only when a segment
    /// not opened yet cannot be opened.
    pub fn pin(&self, id: u64) -> Result<Option<SegmentReader>> {
        let entry = {
            let entries = self.read();
            let i = entries.partition_point(|e| e.base_id <= id);
            match i.checked_sub(1) {
                Some(i) => entries[i].clone(),
                None => return Ok(None),
            }
        };
        entry.pin(&self.ctx, id).map(Some)
    }

    /// Byte position of the oldest record held (of the first segment's first record; 0 for
    /// a log that never held a byte).
    pub fn first_position(&self) -> u64 {
        self.read().first().map_or(0, |e| e.first_pos)
    }

    /// The segment where the record at or after byte position `pos` is, or the one just
    /// before it, pinned: the last segment whose first position is below `pos`, else the
    /// first segment (when `pos` is at or below its first position). The record is in it
    /// unless every record of it ends at or before `pos`; then it is the first record of the
    /// next segment (or the next one appended). Segments of 0 bytes share their first
    /// position with the next segment, so the search goes by "below": a record of 0 bytes
    /// at the end of one segment comes before the first record of the next. `None` for an
    /// empty set.
    pub fn pin_at_position(&self, pos: u64) -> Result<Option<SegmentReader>> {
        let entry = {
            let entries = self.read();
            let i = entries.partition_point(|e| e.first_pos < pos);
            match entries.get(i.saturating_sub(1)) {
                Some(e) => e.clone(),
                None => return Ok(None),
            }
        };
        entry.pin_at_position(&self.ctx, pos).map(Some)
    }

    /// Segment `base_id`, pinned whole; `None` if the set does not have it.
    pub fn pin_segment(&self, base_id: u64) -> Result<Option<SegmentReader>> {
        let entry = self.read().iter().find(|e| e.base_id == base_id).cloned();
        entry.map(|e| e.pin_whole(&self.ctx)).transpose()
    }

    /// The base ids of every segment, in order.
    pub fn bases(&self) -> Vec<u64> {
        self.read().iter().map(|e| e.base_id).collect()
    }

    /// Drops what the caches hold of a segment that left the set.
    fn forget(&self, e: &Entry) {
        let frames = match &e.location {
            Location::Compressed(warm) => {
                warm.file.get().map_or(0, |f| f.entry().frames.len() as u32)
            }
            _ => 0,
        };
        self.ctx.tiers.forget(self.ctx.log, e.base_id, frames);
    }

    /// Fills in the counters of the caches and of the files this set opened.
    pub fn cache_metrics(&self, m: &mut crate::metrics::MetricsSnapshot) {
        let hot = self.ctx.tiers.hot_stats();
        let frames = self.ctx.tiers.frame_stats();
        (m.hot_hits, m.hot_misses, m.hot_evictions, m.hot_bytes) =
            (hot.hits, hot.misses, hot.evictions, hot.bytes);
        (
            m.frame_hits,
            m.frame_misses,
            m.frame_evictions,
            m.frame_bytes,
        ) = (frames.hits, frames.misses, frames.evictions, frames.bytes);
        m.files_opened = self.files_opened() as u64;
    }

    /// Sealed segment files (plain or compressed) opened by pins so far: a file evicted
    /// from the hot cache and pinned again counts again.
    pub fn files_opened(&self) -> usize {
        self.ctx.opened.load(Relaxed)
    }

    /// Adds the next active segment (the writer's roll, after the previous one is sealed),
    /// whose first record will be at byte position `first_pos`.
    pub fn push_active(&self, file: Arc<SegmentFile>, first_pos: u64) {
        let mut entries = self.write();
        debug_assert!(entries.iter().all(|e| e.state == SegmentState::Sealed));
        debug_assert!(entries.last().is_none_or(|e| e.first_pos <= first_pos));
        entries.push(Entry::new(file, first_pos));
    }

    /// Removes the segments whose base id is at most `base` (retention: a sealed prefix,
    /// never the active one). Readers that hold pins on them keep reading: a pin holds the
    /// file's map, which outlives the unlinking of the file. Returns how many went.
    pub fn remove_through(&self, base: u64) -> usize {
        let mut entries = self.write();
        let n = entries.partition_point(|e| e.base_id <= base);
        let n = n.min(entries.len().saturating_sub(1));
        debug_assert!(entries[..n].iter().all(|e| e.state == SegmentState::Sealed));
        for e in entries.drain(..n) {
            self.forget(&e);
        }
        n
    }

    /// Moves sealed segment `base_id` to the warm tier: new pins read `warm`; pins taken
    /// before keep reading the plain file they hold. False if the set no longer has it.
    pub fn set_compressed(&self, base_id: u64, warm: Arc<Warm>) -> bool {
        let mut entries = self.write();
        match entries.iter_mut().find(|e| e.base_id == base_id) {
            Some(e) if e.state == SegmentState::Sealed => {
                let old = std::mem::replace(&mut e.location, Location::Compressed(warm));
                if let Location::Sealed(_) = old {
                    self.ctx.tiers.forget(self.ctx.log, base_id, 0);
                }
                true
            }
            _ => false,
        }
    }

    /// Moves compressed segment `base_id` to the cold tier: new pins read `cold` (its
    /// frames already in the frame cache stay: same bytes). False if the set no longer
    /// has it.
    pub fn set_archived(&self, base_id: u64, cold: Arc<Cold>) -> bool {
        let mut entries = self.write();
        match entries.iter_mut().find(|e| e.base_id == base_id) {
            Some(e) if e.state == SegmentState::Sealed => {
                e.location = Location::Archived(cold);
                true
            }
            _ => false,
        }
    }

    /// Records that segment `base_id` was sealed (its footer is published by the file):
    /// from now on it is mapped through the hot cache (the writer's map goes when it
    /// moves on to the next segment).
    pub fn mark_sealed(&self, base_id: u64) {
        if let Some(e) = self.write().iter_mut().find(|e| e.base_id == base_id) {
            if let Location::Active(file) = &e.location {
                *e = Entry::new(file.clone(), e.first_pos);
            }
        }
    }
}

#[cfg(test)]
mod tests;
