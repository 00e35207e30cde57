//! The warm tier: a sealed segment compressed into the zstd seekable format
//! (`tier::seekable`), frames cut on record boundaries, so a read of one record
//! decompresses one frame.
//!
//! The catalogue's `TierEntry` lists the frames with the first record id and byte position
//! of each, so finding a record's frame needs neither the file's seek table nor any
//! decompression; the seek table is in the file for other readers (`zstd -d`, seekable
//! decoders) and is checked against the catalogue when the file is first opened.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{FrameEntry, TierEntry, UploadState};
use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::format::{
    crc64, decode_record, RecordView, SegmentFooter, FOOTER_LEN, HEADER_LEN,
};
use crate::segment::index::{OffsetIndex, Slot};

use crate::segment::set::SegmentReader;
use crate::tier::seekable::{self, Compressor, SeekTable};

/// A `Write` that keeps the CRC-64/NVME of what went through it.
struct Crc<W> {
    inner: W,
    digest: crc64fast_nvme::Digest,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.write(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Compresses sealed segment `seg` (a plain file, `footer` its footer) into `dest` by way
/// of `tmp` (zstd `level`, frames of about `frame_size` bytes): written, synced, checked by decompressing every frame back and comparing it
/// with the segment, then renamed to `dest`; the caller syncs the directory. Returns what
/// the catalogue records of it (upload not started).
pub fn compress_segment(
    seg: &SegmentReader,
    footer: &SegmentFooter,
    level: i32,
    frame_size: u64,
    tmp: &Path,
    dest: &Path,
) -> Result<TierEntry> {
    let bytes = seg.bytes();
    let base = seg.base_id();
    // Where a frame may end: before every record, after the last one, before the footer.
    let mut slots = Vec::with_capacity(footer.record_count as usize);
    for id in base..=footer.last_id {
        let (offset, pos) = seg.locate(id)?;
        slots.push(Slot {
            offset,
            pos: pos - seg.first_pos(),
        });
    }
    let payload_end = match slots.last() {
        Some(s) => s.pos + seg.record_at(s.offset, footer.last_id)?.payload.len() as u64,
        None => 0,
    };
    let total = bytes.len() as u64;
    let mut cuts: Vec<u64> = slots.iter().map(|s| s.offset).collect();
    cuts.push(footer.data_end);
    cuts.push(total - FOOTER_LEN);
    let plan = seekable::plan_frames(&cuts, total, frame_size)
        .map_err(|e| e.into_error("plan frames", seg.path(), 0))?;

    let file = fsio::create_file(tmp)?;
    let mut out = Crc {
        inner: BufWriter::with_capacity(1 << 20, &file),
        digest: crc64fast_nvme::Digest::new(),
    };
    let mut compressor = Compressor::new(level).map_err(|e| e.into_error("compress", tmp, 0))?;
    let (table, compressed_len) = compressor
        .compress(bytes, &plan, &mut out)
        .map_err(|e| e.into_error("write", tmp, 0))?;
    out.flush().map_err(|e| Error::io("write", tmp, e))?;
    let compressed_crc = out.digest.sum64();
    drop(out);
    fsio::fdatasync(&file, tmp)?;

    let frames = frame_entries(&table, &plan, &slots, base, payload_end);
    let entry = TierEntry {
        level,
        compressed_len,
        compressed_crc,
        plain_len: total,
        plain_crc: crc64(&[bytes]),
        compressed_us: fsio::now_us(),
        upload: UploadState::None,
        frames,
    };
    // Read back what is on disk, not what was meant to be written.
    let written = WarmFile::open(tmp, *footer, Arc::new(entry.clone()))?;
    for (i, range) in plan.iter().enumerate() {
        let frame = written.decompress(i)?;
        if frame[..] != bytes[range.start as usize..range.end as usize] {
            return Err(Error::corruption(
                tmp,
                range.start,
                "a frame decompressed to other bytes than the segment's",
            ));
        }
    }
    fsio::rename(tmp, dest)?;
    Ok(entry)
}

/// The catalogue's frames: the seek table's sizes and checksums, with the first record of
/// each frame (`slots`: offset and segment position of every record, in id order).
fn frame_entries(
    table: &SeekTable,
    plan: &[Range<u64>],
    slots: &[Slot],
    base: u64,
    payload_end: u64,
) -> Vec<FrameEntry> {
    let mut next = 0usize;
    table
        .frames()
        .iter()
        .zip(plan)
        .map(|(f, range)| {
            let first = next;
            while next < slots.len() && slots[next].offset < range.end {
                next += 1;
            }
            FrameEntry {
                compressed_size: f.c_size,
                decompressed_size: f.d_size,
                first_id: base + first as u64,
                records: (next - first) as u32,
                checksum: f.checksum.unwrap_or(0),
                first_pos: slots.get(first).map_or(payload_end, |s| s.pos),
            }
        })
        .collect()
}

/// A compressed segment file, opened: reads and decompresses single frames.
pub struct WarmFile {
    path: PathBuf,
    file: File,
    footer: SegmentFooter,
    entry: Arc<TierEntry>,
}

impl WarmFile {
    /// Opens the compressed file of segment `base`, checking its length and its seek table
    /// against the catalogue's entry.
    pub fn open(path: &Path, footer: SegmentFooter, entry: Arc<TierEntry>) -> Result<WarmFile> {
        let file = fsio::open_file(path)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len != entry.compressed_len {
            return Err(Error::corruption(
                path,
                len,
                format!(
                    "compressed file is {len} bytes, the catalogue says {}",
                    entry.compressed_len
                ),
            ));
        }
        let warm = WarmFile {
            path: path.to_path_buf(),
            file,
            footer,
            entry,
        };
        if warm.entry.record_count() != footer.record_count {
            return Err(Error::corruption(
                path,
                0,
                format!(
                    "the catalogue lists {} records in frames of a segment of {}",
                    warm.entry.record_count(),
                    footer.record_count
                ),
            ));
        }
        warm.check_seek_table()?;
        Ok(warm)
    }

    fn check_seek_table(&self) -> Result<()> {
        let frames = &self.entry.frames;
        // This build writes tables with checksums.
        let table_len = seekable::table_len(frames.len() as u64, true);
        let at = self
            .entry
            .compressed_len
            .checked_sub(table_len)
            .ok_or_else(|| {
                Error::corruption(&self.path, 0, "compressed file shorter than its seek table")
            })?;
        let mut tail = vec![0u8; table_len as usize];
        fsio::read_exact_at(&self.file, &self.path, &mut tail, at)?;
        let table =
            SeekTable::from_tail(&tail).map_err(|e| e.into_error("read", &self.path, at))?;
        let same = table.frames().len() == frames.len()
            && table.frames().iter().zip(frames.iter()).all(|(t, c)| {
                t.c_size == c.compressed_size
                    && t.d_size == c.decompressed_size
                    && t.checksum == Some(c.checksum)
            });
        if !same {
            return Err(Error::corruption(
                &self.path,
                at,
                "seek table does not match the catalogue's frames",
            ));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entry(&self) -> &Arc<TierEntry> {
        &self.entry
    }

    /// The decompressed bytes of frame `i`, checked (zstd's frame checksum, the size and
    /// the XXH64 of the catalogue's entry).
    pub fn decompress(&self, i: usize) -> Result<Vec<u8>> {
        let f = &self.entry.frames[i];
        let (c_offset, d_offset) = self.entry.frame_offsets(i);
        let mut buf = vec![0u8; f.compressed_size as usize];
        fsio::read_exact_at(&self.file, &self.path, &mut buf, c_offset)?;
        decompress_frame(&self.path, &buf, f, c_offset, d_offset)
    }

    /// Frames `frames`, decompressed, as one chunk; `segment_first_pos` is the byte
    /// position of the segment's first record in the log.
    pub fn chunk(&self, frames: Range<usize>, segment_first_pos: u64) -> Result<FrameChunk> {
        let mut data = Vec::new();
        for i in frames.clone() {
            data.extend_from_slice(&self.decompress(i)?);
        }
        if frames.len() == self.entry.frames.len() {
            check_plain(&self.path, &data, &self.entry)?;
        }
        Ok(FrameChunk::new(
            &self.path,
            &self.footer,
            &self.entry,
            frames,
            data,
            segment_first_pos,
        ))
    }
}

/// Decompresses one frame (`compressed`, read from `path` at `c_offset`) and checks it.
pub fn decompress_frame(
    path: &Path,
    compressed: &[u8],
    f: &FrameEntry,
    c_offset: u64,
    d_offset: u64,
) -> Result<Vec<u8>> {
    let entry = seekable::FrameEntry {
        c_offset,
        c_size: f.compressed_size,
        d_offset,
        d_size: f.decompressed_size,
        checksum: Some(f.checksum),
    };
    seekable::decompress_frame(compressed, &entry).map_err(|e| e.into_error("read", path, c_offset))
}

/// Decompressed frames of a segment, readable like the segment itself: offsets are the
/// segment's, ids and positions those of the records that start in it.
pub struct FrameChunk {
    path: PathBuf,
    base_id: u64,
    /// Offset of `data` in the segment.
    d_offset: u64,
    data: Vec<u8>,
    first_id: u64,
    records: u64,
    /// Byte position (in the log) of its first record.
    first_pos: u64,
    /// The segment's footer, as the catalogue gives it.
    footer: SegmentFooter,
    /// Offsets (in `data`) and positions (from `first_pos`) of its records.
    index: OffsetIndex,
}

impl FrameChunk {
    /// Frames `frames` of a segment (`footer`, `entry` its tier entry), decompressed into
    /// `data`, read from `path`; `segment_first_pos` is the byte position of the segment's
    /// first record in the log.
    pub fn new(
        path: &Path,
        footer: &SegmentFooter,
        entry: &TierEntry,
        frames: Range<usize>,
        data: Vec<u8>,
        segment_first_pos: u64,
    ) -> FrameChunk {
        let (_, d_offset) = entry.frame_offsets(frames.start);
        let first = &entry.frames[frames.start];
        let records: u64 = entry.frames[frames]
            .iter()
            .map(|f| u64::from(f.records))
            .sum();
        // Records start after the segment header in the first frame, at the frame's start
        // in the others (frames are cut on record boundaries).
        let first_record = d_offset.max(HEADER_LEN) - d_offset;
        FrameChunk {
            index: OffsetIndex::new(records as usize, first_record),
            path: path.to_path_buf(),
            base_id: footer.first_id,
            d_offset,
            data,
            first_id: first.first_id,
            records,
            first_pos: segment_first_pos + first.first_pos,
            footer: *footer,
        }
    }

    pub fn base_id(&self) -> u64 {
        self.base_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn footer(&self) -> &SegmentFooter {
        &self.footer
    }

    /// The decompressed bytes (the whole segment for a chunk of every frame).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Bytes `from..from + len` of the segment, which the caller knows are in this chunk.
    pub fn slice(&self, from: u64, len: usize) -> &[u8] {
        let at = (from - self.d_offset) as usize;
        &self.data[at..at + len]
    }

    /// Id after the last record that starts here.
    pub fn end_id(&self) -> u64 {
        self.first_id + self.records
    }

    pub fn may_contain(&self, id: u64) -> bool {
        (self.first_id..self.end_id()).contains(&id)
    }

    /// Offset (in the segment) and byte position (in the log) of record `id`, held here.
    pub fn locate(&self, id: u64) -> Result<(u64, u64)> {
        let len_at = self.len_at();
        let slot = self
            .index
            .slot((id - self.first_id) as usize, &len_at)
            .map_err(|bad| self.bad_length(bad.offset, bad.index))?;
        Ok((self.d_offset + slot.offset, self.first_pos + slot.pos))
    }

    /// Decodes and checks record `id` at segment offset `offset`.
    pub fn record_at(&self, offset: u64, id: u64) -> Result<RecordView<'_>> {
        let at = offset.checked_sub(self.d_offset).ok_or_else(|| {
            Error::Internal(format!("record {id} at {offset} is before this frame"))
        })?;
        decode_record(&self.data, at, id).map_err(|e| {
            Error::corruption(
                &self.path,
                offset,
                format!("record {id} (decompressed): {e}"),
            )
        })
    }

    /// The first record here at or after byte position `pos` (in the log), by the rule of
    /// [`OffsetIndex::at_or_after`].
    pub fn id_at_or_after(&self, pos: u64) -> Result<Option<u64>> {
        let len_at = self.len_at();
        let rel = pos.saturating_sub(self.first_pos);
        let found = self
            .index
            .at_or_after(rel, self.records as usize, &len_at)
            .map_err(|bad| self.bad_length(bad.offset, bad.index))?;
        Ok(found.map(|i| self.first_id + i as u64))
    }

    fn len_at(&self) -> impl Fn(u64) -> Option<(u64, u64)> + '_ {
        let data = &self.data;
        move |off| {
            let len = crate::segment::format::payload_len_at(data, off)?;
            let framed = crate::segment::format::framed_len(len);
            (off + framed <= data.len() as u64).then_some((framed, len))
        }
    }

    fn bad_length(&self, offset: u64, index: usize) -> Error {
        Error::corruption(
            &self.path,
            self.d_offset + offset,
            format!(
                "record {} has an impossible length (decompressed)",
                self.first_id + index as u64
            ),
        )
    }
}

/// The plain bytes of a compressed segment file, without the catalogue: every frame
/// decompressed and checked against the file's own seek table.
pub fn decompress_file(compressed: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(compressed).map_err(|e| Error::io("read", compressed, e))?;
    let table = SeekTable::from_tail(&bytes).map_err(|e| e.into_error("read", compressed, 0))?;
    table
        .check_file_len(bytes.len() as u64)
        .map_err(|e| e.into_error("read", compressed, 0))?;
    let mut out = Vec::with_capacity(table.decompressed_len() as usize);
    for f in table.frames() {
        let range = f.c_offset as usize..(f.c_offset + u64::from(f.c_size)) as usize;
        let data = seekable::decompress_frame(&bytes[range], f)
            .map_err(|e| e.into_error("read", compressed, f.c_offset))?;
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Turns a compressed segment file back into a plain one without the catalogue (which has
/// no entry for it: lost or rebuilt): decompressed and checked ([`decompress_file`]),
/// written to `tmp`, synced and renamed to `dest`; the caller syncs the directory and then
/// removes the compressed file.
pub fn restore_plain(compressed: &Path, tmp: &Path, dest: &Path) -> Result<()> {
    let data = decompress_file(compressed)?;
    let file = fsio::create_file(tmp)?;
    fsio::write_all_at(&file, tmp, &data, 0)?;
    fsio::fdatasync(&file, tmp)?;
    fsio::rename(tmp, dest)
}

/// Checks a whole decompressed segment against the catalogue's CRC of the plain file.
pub fn check_plain(path: &Path, data: &[u8], entry: &TierEntry) -> Result<()> {
    if data.len() as u64 != entry.plain_len || crc64(&[data]) != entry.plain_crc {
        return Err(Error::corruption(
            path,
            0,
            format!(
                "the decompressed segment ({} bytes) does not match the catalogue's length {} \
                 and checksum of the plain file",
                data.len(),
                entry.plain_len
            ),
        ));
    }
    Ok(())
}
