//! The bytes of one segment as a read-only reader holds them: a plain file mapped
//! read-only, or a compressed or archived segment decompressed whole and checked.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{SegmentEntry, SegmentState, TierEntry};
use crate::error::{Error, Result};

use crate::segment::file::{checked_header, SegmentFile};
use crate::segment::format::{
    decode_record, RecordView, SegmentFooter, SegmentHeader, FOOTER_LEN, HEADER_LEN,
};
use crate::segment::recovery::footer_of;
use crate::tier::cold::{Archive, Cold};
use crate::tier::warm::{self, FrameChunk, WarmFile};

/// Where a segment's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentTier {
    /// A plain segment file, `<base>.seg`.
    Plain,
    /// A compressed file, `<base>.seg.zst` (the warm tier).
    Compressed,
    /// An object in the archive, with no local file (the cold tier).
    Archived,
}

impl std::fmt::Display for SegmentTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SegmentTier::Plain => "plain",
            SegmentTier::Compressed => "compressed",
            SegmentTier::Archived => "archived",
        })
    }
}

/// A segment's bytes, whole (header to footer slot).
#[derive(Clone)]
pub(crate) enum SegmentBytes {
    /// A plain file, mapped read-only: what a writer appends shows through.
    Mapped(Arc<SegmentFile>),
    /// A compressed or archived segment, decompressed, checked against the catalogue.
    Chunk(Arc<FrameChunk>),
    /// A compressed file decompressed without the catalogue, checked against its own
    /// seek table.
    Owned(Arc<Vec<u8>>),
}

impl SegmentBytes {
    pub fn bytes(&self) -> &[u8] {
        match self {
            SegmentBytes::Mapped(f) => f.bytes(),
            SegmentBytes::Chunk(c) => c.bytes(),
            SegmentBytes::Owned(v) => v,
        }
    }

    /// Everything before the footer slot (empty for a segment too short to have one).
    pub fn record_area(&self) -> &[u8] {
        let b = self.bytes();
        &b[..b.len().saturating_sub(FOOTER_LEN as usize)]
    }

    /// The footer, if the slot holds a valid one that fits this segment (`base`).
    pub fn footer(&self, base: u64) -> Option<SegmentFooter> {
        let b = self.bytes();
        let cap = b.len() as u64;
        if cap < HEADER_LEN + FOOTER_LEN {
            return None;
        }
        let f = SegmentFooter::decode(&b[(cap - FOOTER_LEN) as usize..]).ok()?;
        let plausible = f.first_id == base
            && f.record_count == f.last_id.wrapping_add(1).wrapping_sub(f.first_id)
            && (HEADER_LEN..=cap - FOOTER_LEN).contains(&f.data_end);
        plausible.then_some(f)
    }

    /// The record `id` at `offset`, checked.
    pub fn record_at(&self, offset: u64, id: u64) -> std::result::Result<RecordView<'_>, String> {
        decode_record(self.record_area(), offset, id).map_err(|e| e.to_string())
    }

    /// Whether the bytes can still change (a mapped file, which a writer may append to).
    pub fn is_live(&self) -> bool {
        matches!(self, SegmentBytes::Mapped(_))
    }
}

/// Maps the plain segment file `path` read-only, checking its header against `base`.
/// The file is opened read-only: nothing can be written through it. (The map is made by
/// [`SegmentFile::open`], whose safety argument covers readers in another process.)
pub(crate) fn map_plain(path: &Path, base: u64) -> Result<(SegmentFile, SegmentHeader)> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let (_, header) = checked_header(&file, path, base)?;
    Ok((
        SegmentFile::open(path.to_path_buf(), file, &header)?,
        header,
    ))
}

/// The footer a sealed catalogue entry stands for.
pub(crate) fn entry_footer(base: u64, entry: Option<&SegmentEntry>) -> Option<SegmentFooter> {
    entry
        .filter(|e| e.state == SegmentState::Sealed)
        .map(|e| footer_of(base, e))
}

/// Decompresses the compressed file `path` of segment `base`: through the catalogue's
/// tier entry when there is one (frames and seek table checked against it, then the
/// plain bytes against its checksum), else checked against the file's own seek table.
pub(crate) fn load_compressed(
    path: &Path,
    base: u64,
    entry: Option<&SegmentEntry>,
    tier: Option<&TierEntry>,
) -> Result<SegmentBytes> {
    match (entry_footer(base, entry), tier) {
        (Some(footer), Some(tier)) => {
            let warm = WarmFile::open(path, footer, Arc::new(tier.clone()))?;
            let chunk = warm.chunk(0..tier.frames.len(), 0)?;
            Ok(SegmentBytes::Chunk(Arc::new(chunk)))
        }
        _ => Ok(SegmentBytes::Owned(Arc::new(warm::decompress_file(path)?))),
    }
}

/// Downloads and decompresses archived segment `base` of the log `uid` (checked against
/// the catalogue: the object's length and checksum, every frame, the plain bytes).
pub(crate) fn load_archived(
    archive: &Arc<Archive>,
    uid: u64,
    base: u64,
    entry: Option<&SegmentEntry>,
    tier: Option<&TierEntry>,
) -> Result<SegmentBytes> {
    let (Some(footer), Some(tier)) = (entry_footer(base, entry), tier) else {
        return Err(Error::Catalog {
            path: PathBuf::new(),
            detail: format!("archived segment {base} has no sealed entry or no tier entry"),
        });
    };
    let tier = Arc::new(tier.clone());
    let loader_entry = tier.clone();
    let cold = Cold::new(
        archive.clone(),
        archive.key(uid, base),
        footer,
        Arc::new(move || Ok((*loader_entry).clone())),
    );
    Ok(SegmentBytes::Chunk(Arc::new(cold.whole(&tier, 0)?)))
}

/// Payload bytes of records `base..until` (all of them if `until` is `None`, up to the
/// first record that does not decode), and where they end: `(payload, next id, offset)`.
pub(crate) fn walk(bytes: &SegmentBytes, base: u64, until: Option<u64>) -> (u64, u64, u64) {
    let mut payload = 0;
    let mut id = base;
    let mut offset = HEADER_LEN;
    while until.is_none_or(|u| id < u) {
        match bytes.record_at(offset, id) {
            Ok(r) => {
                payload += r.payload.len() as u64;
                offset += r.framed_len;
                id += 1;
            }
            Err(_) => break,
        }
    }
    (payload, id, offset)
}
