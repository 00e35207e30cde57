//! The zstd seekable format, v0.1 (facebook/zstd, `contrib/seekable_format`), for sealed
//! segments: independent zstd frames cut on record boundaries, then a seek table in a
//! skippable frame. Reading one record decompresses one frame, and stock `zstd -d` turns the
//! file back into the exact original bytes (it skips the seek table). `docs/FORMAT.md`
//! ("Warm segments") describes the same bytes for humans; keep them in step.
//!
//! All integers are little-endian. Every function here is safe on any input: damaged or
//! hostile bytes give a [`SeekableError`], never a panic, and no allocation is sized by an
//! unchecked field.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::PathBuf;

use xxhash_rust::xxh64::xxh64;
use zstd::zstd_safe;

/// Magic number of the skippable frame that holds the seek table (`0x184D2A50 | 0xE`).
pub const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// Last 4 bytes of a seekable file.
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
/// Length of the seek table footer: frame count, descriptor, magic.
pub const FOOTER_LEN: usize = 9;
/// Length of the skippable frame header: magic, frame size.
pub const SKIPPABLE_HEADER_LEN: usize = 8;
/// Descriptor bit 7: every entry carries a checksum.
pub const CHECKSUM_FLAG: u8 = 0x80;
/// Descriptor bits 2-6 are reserved for breaking changes and must be 0; bits 0-1 are
/// unused (for non-breaking changes) and are ignored.
const RESERVED_BITS: u8 = 0x7C;
/// The reference implementation's limit on the number of frames. A larger count is refused
/// before anything is allocated for it.
pub const MAX_FRAMES: u32 = 0x0800_0000;
/// The largest decompressed (and compressed) size a seek table entry can hold.
pub const MAX_FRAME_LEN: u64 = u32::MAX as u64;

/// What can go wrong writing or reading the seekable format.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SeekableError {
    /// Writing the compressed file failed.
    #[error("writing the compressed file failed: {0}")]
    Io(#[from] io::Error),
    /// The caller's boundaries or frame plan are inconsistent (not a damaged file).
    #[error("invalid frame plan: {0}")]
    InvalidPlan(String),
    /// zstd refused to compress (for example an invalid level).
    #[error("zstd compression failed: {0}")]
    Compress(String),
    /// Fewer tail bytes than the seek table needs.
    #[error("tail of {got} bytes is too short: the seek table needs {needed}")]
    TailTooShort { needed: u64, got: u64 },
    /// A magic number is wrong: not a seekable file, or a damaged one.
    #[error("bad {what} magic {found:#010x}")]
    BadMagic { what: &'static str, found: u32 },
    /// A reserved bit of the seek table descriptor is set (a newer, incompatible format).
    #[error("seek table descriptor {0:#04x} has reserved bits set")]
    ReservedBits(u8),
    /// More frames than the format allows.
    #[error("seek table claims {0} frames (at most {MAX_FRAMES})")]
    TooManyFrames(u32),
    /// Lengths in the seek table, or the file, do not add up.
    #[error("seek table sizes do not add up: {0}")]
    SizeMismatch(String),
    /// A frame is damaged: zstd refused it, or its size or checksum is not the table's.
    #[error("frame at compressed offset {offset} is corrupt: {detail}")]
    CorruptFrame { offset: u64, detail: String },
}

impl SeekableError {
    /// The engine's error for this one: a corruption of `path` (at `offset`, where the
    /// error does not carry its own), or an I/O error of `op`.
    pub fn into_error(
        self,
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: u64,
    ) -> crate::Error {
        match self {
            SeekableError::Io(e) => crate::Error::io(op, path, e),
            SeekableError::InvalidPlan(d) | SeekableError::Compress(d) => {
                crate::Error::Internal(format!("seekable compression: {d}"))
            }
            SeekableError::CorruptFrame { offset, detail } => {
                crate::Error::corruption(path, offset, detail)
            }
            other => crate::Error::corruption(path, offset, other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, SeekableError>;

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The low 32 bits of XXH64 (seed 0) of `data`: the checksum of a seek table entry.
pub fn frame_checksum(data: &[u8]) -> u32 {
    xxh64(data, 0) as u32
}

/// Cuts `0..total_len` into frames of about `target` bytes, cutting only at `boundaries`
/// (non-decreasing offsets where a frame may end; 0 and `total_len` are implied and may
/// also be listed). Each frame is the longest run of pieces that fits in `target` (at
/// least 1 byte; at most [`MAX_FRAME_LEN`]); a piece longer than that gets a frame alone,
/// so a frame never splits a record. The frames cover `0..total_len` contiguously; an
/// empty input has no frames.
///
/// Errors: boundaries out of order or past `total_len`, or a piece longer than
/// [`MAX_FRAME_LEN`] (a seek table entry could not hold it).
pub fn plan_frames(boundaries: &[u64], total_len: u64, target: u64) -> Result<Vec<Range<u64>>> {
    let mut prev = 0;
    for &b in boundaries {
        if b < prev || b > total_len {
            return Err(SeekableError::InvalidPlan(format!(
                "boundary {b} after {prev} (boundaries must be non-decreasing and at most \
                 the length {total_len})"
            )));
        }
        prev = b;
    }
    let target = target.clamp(1, MAX_FRAME_LEN);
    // The places a frame may end, strictly increasing, the last one `total_len`.
    let mut cuts: Vec<u64> = boundaries
        .iter()
        .copied()
        .filter(|&b| b > 0 && b < total_len)
        .collect();
    cuts.dedup();
    if total_len > 0 {
        cuts.push(total_len);
    }
    let mut frames = Vec::new();
    let (mut start, mut i) = (0u64, 0usize);
    while i < cuts.len() {
        let limit = start.saturating_add(target);
        // The first cut always ends the frame (a piece longer than the target stands
        // alone); then take every further cut that keeps the frame within the target.
        while i + 1 < cuts.len() && cuts[i + 1] <= limit {
            i += 1;
        }
        let end = cuts[i];
        if end - start > MAX_FRAME_LEN {
            return Err(SeekableError::InvalidPlan(format!(
                "{start}..{end} has no boundary and is longer than a frame can be \
                 ({MAX_FRAME_LEN} bytes)"
            )));
        }
        frames.push(start..end);
        start = end;
        i += 1;
    }
    Ok(frames)
}

/// One frame of a seekable file, as its seek table entry gives it, with the running sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// Offset of the frame in the compressed file.
    pub c_offset: u64,
    /// Length of the compressed frame (`Compressed_Size`).
    pub c_size: u32,
    /// Offset of the frame's data in the decompressed file.
    pub d_offset: u64,
    /// Length of the frame's data (`Decompressed_Size`).
    pub d_size: u32,
    /// Low 32 bits of XXH64 of the frame's data, when the table has checksums.
    pub checksum: Option<u32>,
}

impl FrameEntry {
    /// Where the frame lies in the compressed file.
    pub fn c_range(&self) -> Range<u64> {
        self.c_offset..self.c_offset + u64::from(self.c_size)
    }

    /// Where the frame's data lies in the decompressed file.
    pub fn d_range(&self) -> Range<u64> {
        self.d_offset..self.d_offset + u64::from(self.d_size)
    }
}

/// The seek table of a seekable file. Built only by [`Compressor`] and the decoders, so
/// the running offsets and the checksum flag are always consistent with the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekTable {
    frames: Vec<FrameEntry>,
    checksums: bool,
}

impl SeekTable {
    /// The frames, in file order.
    pub fn frames(&self) -> &[FrameEntry] {
        &self.frames
    }

    /// True when every entry carries a checksum (descriptor bit 7).
    pub fn has_checksums(&self) -> bool {
        self.checksums
    }

    /// Length of the decompressed file: the sum of `Decompressed_Size`.
    pub fn decompressed_len(&self) -> u64 {
        self.frames.last().map_or(0, |f| f.d_range().end)
    }

    /// Length of the frames: the offset of the seek table in the compressed file.
    pub fn frames_len(&self) -> u64 {
        self.frames.last().map_or(0, |f| f.c_range().end)
    }

    /// Length of the encoded seek table (the whole skippable frame).
    pub fn encoded_len(&self) -> u64 {
        table_len(self.frames.len() as u64, self.checksums)
    }

    /// Length of the whole compressed file: frames and seek table.
    pub fn file_len(&self) -> u64 {
        self.frames_len() + self.encoded_len()
    }

    /// Checks that a file of `file_len` bytes is exactly the frames and this table.
    pub fn check_file_len(&self, file_len: u64) -> Result<()> {
        if file_len != self.file_len() {
            return Err(SeekableError::SizeMismatch(format!(
                "the file is {file_len} bytes but its seek table accounts for {} ({} of \
                 frames, {} of table)",
                self.file_len(),
                self.frames_len(),
                self.encoded_len()
            )));
        }
        Ok(())
    }

    /// The index of the frame whose data holds decompressed offset `offset`, or `None`
    /// past the end. Frames of 0 bytes hold no offset and are never the answer.
    pub fn frame_at(&self, offset: u64) -> Option<usize> {
        let i = self.frames.partition_point(|f| f.d_range().end <= offset);
        (i < self.frames.len()).then_some(i)
    }

    /// The compressed bytes of frame `index` within `file` (the whole compressed file, or
    /// at least its frames), or `None` when `file` is too short or there is no such frame.
    pub fn frame_bytes<'a>(&self, file: &'a [u8], index: usize) -> Option<&'a [u8]> {
        let r = self.frames.get(index)?.c_range();
        let start = usize::try_from(r.start).ok()?;
        let end = usize::try_from(r.end).ok()?;
        file.get(start..end)
    }

    /// The seek table as a skippable frame: the last bytes of a seekable file.
    pub fn encode(&self) -> Vec<u8> {
        let n = self.frames.len();
        let mut out = Vec::with_capacity(usize::try_from(self.encoded_len()).unwrap_or(0));
        out.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        // A table the decoders accept has at most MAX_FRAMES entries, so this fits.
        let frame_size = self.encoded_len() - SKIPPABLE_HEADER_LEN as u64;
        out.extend_from_slice(&(frame_size as u32).to_le_bytes());
        for f in &self.frames {
            out.extend_from_slice(&f.c_size.to_le_bytes());
            out.extend_from_slice(&f.d_size.to_le_bytes());
            if self.checksums {
                out.extend_from_slice(&f.checksum.unwrap_or(0).to_le_bytes());
            }
        }
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.push(if self.checksums { CHECKSUM_FLAG } else { 0 });
        out.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
        out
    }

    /// How many bytes at the end of the file hold the seek table, from the footer: the last
    /// [`FOOTER_LEN`] bytes of `tail` (which may be longer). Checks the seekable magic, the
    /// reserved bits and the frame count.
    pub fn tail_len(tail: &[u8]) -> Result<u64> {
        let (n, checksums) = parse_footer(tail)?;
        Ok(table_len(u64::from(n), checksums))
    }

    /// Decodes the seek table at the end of `tail`, the last bytes of a seekable file (at
    /// least [`SeekTable::tail_len`] of them; the whole file will do).
    pub fn from_tail(tail: &[u8]) -> Result<SeekTable> {
        let needed = SeekTable::tail_len(tail)?;
        let got = tail.len() as u64;
        if got < needed {
            return Err(SeekableError::TailTooShort { needed, got });
        }
        // needed <= got, so it fits a usize.
        SeekTable::decode(&tail[tail.len() - needed as usize..])
    }

    /// Decodes a seek table from exactly its skippable frame (as [`SeekTable::encode`]
    /// writes it).
    pub fn decode(frame: &[u8]) -> Result<SeekTable> {
        let (n, checksums) = parse_footer(frame)?;
        let needed = table_len(u64::from(n), checksums);
        if frame.len() as u64 != needed {
            return Err(SeekableError::SizeMismatch(format!(
                "a seek table of {n} frames is {needed} bytes, not {}",
                frame.len()
            )));
        }
        let magic = le32(frame, 0);
        if magic != SKIPPABLE_MAGIC {
            return Err(SeekableError::BadMagic {
                what: "seek table skippable frame",
                found: magic,
            });
        }
        let frame_size = u64::from(le32(frame, 4));
        if frame_size != needed - SKIPPABLE_HEADER_LEN as u64 {
            return Err(SeekableError::SizeMismatch(format!(
                "Frame_Size is {frame_size} but {n} entries and the footer take {}",
                needed - SKIPPABLE_HEADER_LEN as u64
            )));
        }
        let entry_len = entry_len(checksums);
        let entries = &frame[SKIPPABLE_HEADER_LEN..frame.len() - FOOTER_LEN];
        let mut frames = Vec::with_capacity(n as usize);
        let (mut c_offset, mut d_offset) = (0u64, 0u64);
        // At most MAX_FRAMES entries of u32 sizes: the sums cannot overflow a u64.
        for e in entries.chunks_exact(entry_len) {
            let f = FrameEntry {
                c_offset,
                c_size: le32(e, 0),
                d_offset,
                d_size: le32(e, 4),
                checksum: checksums.then(|| le32(e, 8)),
            };
            c_offset += u64::from(f.c_size);
            d_offset += u64::from(f.d_size);
            frames.push(f);
        }
        Ok(SeekTable { frames, checksums })
    }
}

fn entry_len(checksums: bool) -> usize {
    if checksums {
        12
    } else {
        8
    }
}

/// Length of the seek table (skippable frame) of a file of `frames` frames, with or
/// without checksums: the last bytes a reader needs to find every frame.
pub fn table_len(frames: u64, checksums: bool) -> u64 {
    (SKIPPABLE_HEADER_LEN + FOOTER_LEN) as u64 + frames * entry_len(checksums) as u64
}

/// The frame count and checksum flag from the last [`FOOTER_LEN`] bytes of `tail`.
fn parse_footer(tail: &[u8]) -> Result<(u32, bool)> {
    if tail.len() < FOOTER_LEN {
        return Err(SeekableError::TailTooShort {
            needed: FOOTER_LEN as u64,
            got: tail.len() as u64,
        });
    }
    let footer = &tail[tail.len() - FOOTER_LEN..];
    let magic = le32(footer, 5);
    if magic != SEEKABLE_MAGIC {
        return Err(SeekableError::BadMagic {
            what: "seekable",
            found: magic,
        });
    }
    let descriptor = footer[4];
    if descriptor & RESERVED_BITS != 0 {
        return Err(SeekableError::ReservedBits(descriptor));
    }
    let n = le32(footer, 0);
    if n > MAX_FRAMES {
        return Err(SeekableError::TooManyFrames(n));
    }
    Ok((n, descriptor & CHECKSUM_FLAG != 0))
}

/// Writes seekable files at one compression level, reusing one zstd context.
pub struct Compressor {
    cctx: zstd::bulk::Compressor<'static>,
    buf: Vec<u8>,
}

impl Compressor {
    /// A compressor at zstd `level` (0 is zstd's default; out-of-range levels are clamped
    /// by zstd). Every frame records its content size and zstd's content checksum, so
    /// `zstd -d` checks each frame too.
    pub fn new(level: i32) -> Result<Compressor> {
        let zerr = |e: io::Error| SeekableError::Compress(e.to_string());
        let mut cctx = zstd::bulk::Compressor::new(level).map_err(zerr)?;
        cctx.set_parameter(zstd_safe::CParameter::ContentSizeFlag(true))
            .map_err(zerr)?;
        cctx.set_parameter(zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(zerr)?;
        Ok(Compressor {
            cctx,
            buf: Vec::new(),
        })
    }

    /// Compresses `data` as `frames` (from [`plan_frames`]: contiguous, covering all of
    /// `data`, each at most [`MAX_FRAME_LEN`] bytes) into `out`: the frames, then the seek
    /// table with checksums. Returns the table written and the total length written.
    /// On an error `out` holds a partial file.
    pub fn compress<W: Write>(
        &mut self,
        data: &[u8],
        frames: &[Range<u64>],
        out: &mut W,
    ) -> Result<(SeekTable, u64)> {
        check_plan(data.len() as u64, frames)?;
        let mut entries = Vec::with_capacity(frames.len());
        let (mut c_offset, mut d_offset) = (0u64, 0u64);
        for r in frames {
            // check_plan bounds every range by data.len().
            let piece = &data[r.start as usize..r.end as usize];
            self.buf.clear();
            self.buf.reserve(zstd::compress_bound(piece.len()));
            self.cctx
                .compress_to_buffer(piece, &mut self.buf)
                .map_err(|e| SeekableError::Compress(e.to_string()))?;
            let c_size = u32::try_from(self.buf.len()).map_err(|_| {
                SeekableError::Compress(format!(
                    "frame {}..{} compressed to {} bytes, more than a seek table entry holds",
                    r.start,
                    r.end,
                    self.buf.len()
                ))
            })?;
            out.write_all(&self.buf)?;
            let d_size = piece.len() as u32;
            entries.push(FrameEntry {
                c_offset,
                c_size,
                d_offset,
                d_size,
                checksum: Some(frame_checksum(piece)),
            });
            c_offset += u64::from(c_size);
            d_offset += u64::from(d_size);
        }
        let table = SeekTable {
            frames: entries,
            checksums: true,
        };
        out.write_all(&table.encode())?;
        let len = table.file_len();
        Ok((table, len))
    }
}

/// Checks that `frames` cover `0..len` contiguously with frames a table can describe.
fn check_plan(len: u64, frames: &[Range<u64>]) -> Result<()> {
    if frames.len() as u64 > u64::from(MAX_FRAMES) {
        return Err(SeekableError::InvalidPlan(format!(
            "{} frames (at most {MAX_FRAMES})",
            frames.len()
        )));
    }
    let mut at = 0u64;
    for r in frames {
        if r.start != at || r.end < r.start || r.end - r.start > MAX_FRAME_LEN {
            return Err(SeekableError::InvalidPlan(format!(
                "frame {}..{} does not start at {at} or is longer than {MAX_FRAME_LEN} bytes",
                r.start, r.end
            )));
        }
        at = r.end;
    }
    if at != len {
        return Err(SeekableError::InvalidPlan(format!(
            "the frames cover 0..{at}, the data is {len} bytes"
        )));
    }
    Ok(())
}

/// Decompresses one frame, `compressed` (exactly its `entry.c_size` bytes), checking that
/// it is one whole zstd frame (zstd also checks its own content checksum), that it yields
/// `entry.d_size` bytes, and that their XXH64 matches the entry's checksum.
pub fn decompress_frame(compressed: &[u8], entry: &FrameEntry) -> Result<Vec<u8>> {
    let corrupt = |detail: String| SeekableError::CorruptFrame {
        offset: entry.c_offset,
        detail,
    };
    if compressed.len() as u64 != u64::from(entry.c_size) {
        return Err(corrupt(format!(
            "{} bytes given for a frame of {} bytes",
            compressed.len(),
            entry.c_size
        )));
    }
    let one = zstd_safe::find_frame_compressed_size(compressed).map_err(|code| {
        corrupt(format!(
            "not a zstd frame: {}",
            zstd_safe::get_error_name(code)
        ))
    })?;
    if one != compressed.len() {
        return Err(corrupt(format!(
            "the first zstd frame is {one} of the table's {} bytes",
            compressed.len()
        )));
    }
    let d_size = entry.d_size as usize;
    let data = match zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(size)) if size != u64::from(entry.d_size) => {
            return Err(corrupt(format!(
                "the frame header gives {size} bytes, the table {}",
                entry.d_size
            )));
        }
        Ok(Some(_)) => {
            // The header and the table agree on the size: allocate it once.
            let mut out = Vec::with_capacity(d_size);
            zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(compressed, &mut out))
                .map_err(|e| corrupt(e.to_string()))?;
            out
        }
        // No size in the header (another writer): stream it, stopping one byte past the
        // table's size so a damaged frame cannot make us allocate more.
        Ok(None) => {
            let mut out = Vec::new();
            zstd::stream::read::Decoder::with_buffer(compressed)
                .map(|d| d.single_frame())
                .and_then(|d| d.take(u64::from(entry.d_size) + 1).read_to_end(&mut out))
                .map_err(|e| corrupt(e.to_string()))?;
            out
        }
        Err(e) => return Err(corrupt(format!("bad frame header: {e:?}"))),
    };
    if data.len() != d_size {
        return Err(corrupt(format!(
            "decompressed to {} bytes, the table says {}",
            data.len(),
            entry.d_size
        )));
    }
    if let Some(want) = entry.checksum {
        let got = frame_checksum(&data);
        if got != want {
            return Err(corrupt(format!(
                "XXH64 checksum {got:#010x} of the data, the table has {want:#010x}"
            )));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
