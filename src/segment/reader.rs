//! A pinned segment, for reading: what the segment set hands every reader. It reads a
//! segment file (the active one, or a sealed one mapped in the hot cache) or decompressed
//! frames of a compressed or archived segment the same way; the pin keeps those bytes alive.

use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::segment::file::SegmentFile;
use crate::segment::format::{RecordView, SegmentFooter};
use crate::tier::cache::Pinned;
use crate::tier::warm::FrameChunk;

/// A pinned segment, for reading: its bytes stay valid while the pin lives. Cheap to
/// clone; cursors keep one while they walk its records. Of a compressed segment, a pin
/// holds the decompressed frame(s) it was pinned for: [`SegmentReader::may_contain`] says
/// which records those are.
#[derive(Clone)]
pub struct SegmentReader {
    source: Source,
    first_pos: u64,
}

#[derive(Clone)]
pub(crate) enum Source {
    /// The active segment.
    File(Arc<SegmentFile>),
    /// A sealed segment, mapped in the hot cache.
    Mapped(Pinned<SegmentFile>),
    /// A frame of a compressed segment, in the frame cache.
    Chunk(Pinned<FrameChunk>),
    /// A whole compressed segment, decompressed.
    Whole(Arc<FrameChunk>),
}

/// What a pin reads from.
enum Bytes<'a> {
    File(&'a SegmentFile),
    Chunk(&'a FrameChunk),
}

impl Source {
    fn bytes(&self) -> Bytes<'_> {
        match self {
            Source::File(f) => Bytes::File(f),
            Source::Mapped(f) => Bytes::File(f),
            Source::Chunk(c) => Bytes::Chunk(c),
            Source::Whole(c) => Bytes::Chunk(c),
        }
    }
}

impl SegmentReader {
    pub(crate) fn new(source: Source, first_pos: u64) -> SegmentReader {
        SegmentReader { source, first_pos }
    }

    pub fn base_id(&self) -> u64 {
        match self.source.bytes() {
            Bytes::File(f) => f.base_id(),
            Bytes::Chunk(c) => c.base_id(),
        }
    }

    /// Byte position of the segment's first record.
    pub fn first_pos(&self) -> u64 {
        self.first_pos
    }

    /// Offset and byte position (in the log) of record `id`, which the caller knows is
    /// here and fully written.
    pub fn locate(&self, id: u64) -> Result<(u64, u64)> {
        match self.source.bytes() {
            Bytes::File(f) => {
                let slot = f.slot(id)?;
                Ok((slot.offset, self.first_pos + slot.pos))
            }
            Bytes::Chunk(c) => c.locate(id),
        }
    }

    /// The id of the first record here at or after byte position `pos` (in the log)
    /// among those up to `visible`, which the caller loaded *before* pinning (as for
    /// [`SegmentReader::may_contain`]); `None` if every one of them ends at or before `pos`
    /// and none starts at it. The rule for records of 0 bytes is
    /// [`crate::segment::index::OffsetIndex::at_or_after`]'s.
    pub fn id_at_or_after(&self, pos: u64, visible: u64) -> Result<Option<u64>> {
        match self.source.bytes() {
            Bytes::File(f) => {
                let base = f.base_id();
                let last = f.footer().map_or(visible, |f| f.last_id.min(visible));
                if last < base {
                    return Ok(None);
                }
                let pos = pos.saturating_sub(self.first_pos);
                f.id_at_or_after(pos, last - base + 1)
            }
            // A compressed segment is sealed and all of it visible.
            Bytes::Chunk(c) => c.id_at_or_after(pos),
        }
    }

    /// The id after the last record held here (`None` for the active segment, whose end
    /// moves).
    pub fn end_id(&self) -> Option<u64> {
        match self.source.bytes() {
            Bytes::File(f) => f.footer().map(|f| f.last_id + 1),
            Bytes::Chunk(c) => Some(c.end_id()),
        }
    }

    pub fn path(&self) -> &Path {
        match self.source.bytes() {
            Bytes::File(f) => f.path(),
            Bytes::Chunk(c) => c.path(),
        }
    }

    pub fn footer(&self) -> Option<&SegmentFooter> {
        match self.source.bytes() {
            Bytes::File(f) => f.footer(),
            Bytes::Chunk(c) => Some(c.footer()),
        }
    }

    /// Whether `id` lies in this pin, as far as the caller may know: for an unsealed
    /// segment every id from the base on (the caller bounds it by the visible watermark,
    /// which it must load *before* calling this).
    pub fn may_contain(&self, id: u64) -> bool {
        match self.source.bytes() {
            Bytes::File(f) => f.may_contain(id),
            Bytes::Chunk(c) => c.may_contain(id),
        }
    }

    /// Decodes and checks the record `id` at `offset`.
    pub fn record_at(&self, offset: u64, id: u64) -> Result<RecordView<'_>> {
        match self.source.bytes() {
            Bytes::File(f) => f.record_at(offset, id),
            Bytes::Chunk(c) => c.record_at(offset, id),
        }
    }

    /// Bytes `from..from + len` of the segment, within a record this pin holds.
    pub fn slice(&self, from: u64, len: usize) -> &[u8] {
        match self.source.bytes() {
            Bytes::File(f) => &f.bytes()[from as usize..from as usize + len],
            Bytes::Chunk(c) => c.slice(from, len),
        }
    }

    /// The whole segment, as stored uncompressed (for verification and compression): only
    /// for a pin of all of it ([`SegmentSet::pin_all`]).
    pub fn bytes(&self) -> &[u8] {
        match self.source.bytes() {
            Bytes::File(f) => f.bytes(),
            Bytes::Chunk(c) => c.bytes(),
        }
    }
}
