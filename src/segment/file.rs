//! One local segment file: its creation (reserve, header, rename into place), its
//! read-only map and lazily built offset index, and sealing (the footer). The only code that
//! writes a segment file; the segment set hands it out, the writer appends through it.
//!
//! A segment file is pre-allocated to its capacity and keeps that size all its life: the
//! records start after the header, and a sealed segment carries its footer in the last
//! `FOOTER_LEN` bytes. Because the file never shrinks, the map never covers bytes past
//! the end of the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::format::{
    self, decode_record, RecordView, SegmentFooter, SegmentHeader, FOOTER_LEN, FORMAT_VERSION,
    HEADER_LEN, RECORD_HEADER_LEN,
};
use crate::segment::index::{BadLength, OffsetIndex, Slot};

/// The most records a segment of `capacity` bytes can hold (all of them empty).
fn max_records(capacity: u64) -> usize {
    (capacity.saturating_sub(HEADER_LEN + FOOTER_LEN) / RECORD_HEADER_LEN) as usize
}

/// Index of the last non-zero byte of `bytes`. Reads 8 bytes at a time, since recovery and
/// verification run it over whole segments.
pub fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    let tail_len = bytes.len() % 8;
    let (words, tail) = bytes.split_at(bytes.len() - tail_len);
    if let Some(i) = tail.iter().rposition(|&b| b != 0) {
        return Some(words.len() + i);
    }
    let word = words
        .chunks_exact(8)
        .rposition(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")) != 0)?;
    let base = word * 8;
    bytes[base..base + 8]
        .iter()
        .rposition(|&b| b != 0)
        .map(|i| base + i)
}

/// One segment file, open for reading (and, while it is the active one, for writing
/// through `file`).
pub struct SegmentFile {
    base_id: u64,
    path: PathBuf,
    capacity: u64,
    file: File,
    map: Mmap,
    /// Set once, when the footer is written (or found at open).
    footer: OnceLock<SegmentFooter>,
    sealed: AtomicBool,
    /// Where each record starts and its byte position in the segment; built on demand.
    offsets: OffsetIndex,
}

/// The length of an open segment file and its header, checked: a whole header that decodes
/// and names `base`, the segment's first id (as its file name does).
pub(crate) fn checked_header(file: &File, path: &Path, base: u64) -> Result<(u64, SegmentHeader)> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len < HEADER_LEN {
        return Err(Error::corruption(
            path,
            len,
            "file is shorter than a segment header",
        ));
    }
    let mut raw = [0u8; HEADER_LEN as usize];
    fsio::read_exact_at(file, path, &mut raw, 0)?;
    let header = SegmentHeader::decode(&raw)
        .map_err(|e| Error::corruption(path, 0, format!("segment header: {e}")))?;
    if header.base_id != base {
        return Err(Error::corruption(
            path,
            16,
            format!(
                "header says base id {} but the name says {base}",
                header.base_id
            ),
        ));
    }
    Ok((len, header))
}

impl SegmentFile {
    /// Maps an open segment file whose header has been checked.
    pub fn open(path: PathBuf, file: File, header: &SegmentHeader) -> Result<SegmentFile> {
        #[allow(unsafe_code)]
        // SAFETY: segment files are only written by the process holding the directory
        // lock, through its `file`, and never truncated while open (removed files are
        // unlinked, so a map of one stays valid). In that process bytes are read only after
        // they were fully written (readers stop at the visible watermark). A read-only
        // reader in another process (`log::readonly`, mapping a file it opened read-only)
        // hands out only records whose checksum matched, and no writer changes such bytes
        // again: appends land after the last whole record, and recovery and zeroing write
        // only after it. So the map never observes a change to bytes it hands out.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("mmap", &path, e))?;
        if (map.len() as u64) < header.capacity {
            return Err(Error::corruption(
                &path,
                map.len() as u64,
                format!("file is shorter than its capacity {}", header.capacity),
            ));
        }
        Ok(SegmentFile {
            base_id: header.base_id,
            path,
            capacity: header.capacity,
            file,
            map,
            footer: OnceLock::new(),
            sealed: AtomicBool::new(false),
            offsets: OffsetIndex::new(max_records(header.capacity), HEADER_LEN),
        })
    }

    /// Opens an existing sealed segment file, checking its header against the base id its
    /// name gives.
    pub fn open_existing(path: &Path, base: u64) -> Result<SegmentFile> {
        Self::open_checked(path, base, false)
    }

    /// Opens an existing segment file, checking its header against `base`. A file shorter
    /// than its capacity is corrupt, unless it may be a torn tail (`is_tail`): then it is
    /// given its full size back, and the scan of its records cuts it.
    pub fn open_checked(path: &Path, base: u64, is_tail: bool) -> Result<SegmentFile> {
        let file = fsio::open_file(path)?;
        let (len, header) = checked_header(&file, path, base)?;
        if len < header.capacity {
            if !is_tail {
                return Err(Error::corruption(
                    path,
                    len,
                    format!(
                        "sealed segment is shorter than its capacity {}",
                        header.capacity
                    ),
                ));
            }
            // A truncated tail: give the file back its full size; the scan cuts the records.
            fsio::allocate(&file, path, header.capacity)?;
        }
        SegmentFile::open(path.to_path_buf(), file, &header)
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map[..self.capacity as usize]
    }

    /// Offset of the last non-zero byte at or after `from`, looking only where the file
    /// system says data may be (the unwritten rest of a pre-allocated segment is skipped
    /// without reading it).
    pub fn last_nonzero_from(&self, from: u64) -> Result<Option<u64>> {
        let ranges = fsio::data_ranges(&self.file, &self.path, from, self.capacity)?;
        for &(start, end) in ranges.iter().rev() {
            if let Some(i) = last_nonzero(&self.map[start as usize..end as usize]) {
                return Ok(Some(start + i as u64));
            }
        }
        Ok(None)
    }

    /// The bytes records may occupy (everything before the footer slot).
    pub fn record_area(&self) -> &[u8] {
        &self.map[..(self.capacity - FOOTER_LEN) as usize]
    }

    /// The footer slot at the end of the file.
    pub fn footer_slot(&self) -> &[u8] {
        &self.map[(self.capacity - FOOTER_LEN) as usize..self.capacity as usize]
    }

    /// Publishes the footer. Readers that observe `footer()` see it whole.
    pub fn mark_sealed(&self, footer: SegmentFooter) {
        let _ = self.footer.set(footer);
        self.sealed.store(true, Ordering::Release);
    }

    pub fn footer(&self) -> Option<&SegmentFooter> {
        if self.sealed.load(Ordering::Acquire) {
            self.footer.get()
        } else {
            None
        }
    }

    /// Whether `id` lies in this segment, as far as the caller may know: for an unsealed
    /// segment every id from the base on (the caller bounds it by the visible watermark,
    /// which it must load *before* calling this).
    pub fn may_contain(&self, id: u64) -> bool {
        id >= self.base_id && self.footer().is_none_or(|f| id <= f.last_id)
    }

    /// Decodes and checks the record `id` at `offset`.
    pub fn record_at(&self, offset: u64, id: u64) -> Result<RecordView<'_>> {
        decode_record(self.record_area(), offset, id)
            .map_err(|e| Error::corruption(&self.path, offset, format!("record {id}: {e}")))
    }

    /// Offset of record `id`, which the caller knows is in this segment and fully written,
    /// and its byte position in this segment (payload bytes of the records before it here).
    ///
    /// The index is extended by reading only the length field of each record on the way:
    /// the record asked for is then checked in full by [`SegmentFile::record_at`], so a
    /// damaged length leads to a `Corruption` error, never to a wrong record.
    pub fn slot(&self, id: u64) -> Result<Slot> {
        let len_at = self.len_at();
        self.offsets
            .slot((id - self.base_id) as usize, &len_at)
            .map_err(|bad| self.bad_length(bad))
    }

    /// Among the `count` records from the base id (which the caller knows are fully
    /// written), the id of the first one at or after segment position `pos` (the rule of
    /// [`OffsetIndex::at_or_after`]), or `None`.
    pub fn id_at_or_after(&self, pos: u64, count: u64) -> Result<Option<u64>> {
        let len_at = self.len_at();
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let found = self
            .offsets
            .at_or_after(pos, count, &len_at)
            .map_err(|bad| self.bad_length(bad))?;
        Ok(found.map(|i| self.base_id + i as u64))
    }

    /// The index's view of a record: its framed and payload length, read from its length
    /// field, if the framed record lies inside the record area.
    fn len_at(&self) -> impl Fn(u64) -> Option<(u64, u64)> + '_ {
        let area = self.record_area();
        move |off| {
            let len = format::payload_len_at(area, off)?;
            let framed = format::framed_len(len);
            (off + framed <= area.len() as u64).then_some((framed, len))
        }
    }

    fn bad_length(&self, bad: BadLength) -> Error {
        let at = self.base_id + bad.index as u64;
        Error::corruption(
            &self.path,
            bad.offset,
            format!("record {at} has an impossible length"),
        )
    }

    /// The footer's record chain of the records in `HEADER_LEN..data_end`, rebuilt from their
    /// crc fields (for a segment whose chain was not kept while it was written, e.g. one
    /// reopened after a clean close).
    pub fn records_chain(&self, data_end: u64) -> Result<u64> {
        let area = self.record_area();
        let mut chain = format::RecordChain::default();
        let mut off = HEADER_LEN;
        while off < data_end {
            let (crc, len) = format::crc_at(area, off)
                .zip(format::framed_len_at(area, off))
                .ok_or_else(|| Error::corruption(&self.path, off, "record runs past the end"))?;
            chain.push(crc);
            off += len;
        }
        if off != data_end {
            return Err(Error::corruption(
                &self.path,
                off,
                format!("records end at {off}, not at {data_end}"),
            ));
        }
        Ok(chain.value())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn base_id(&self) -> u64 {
        self.base_id
    }

    /// Size of the file: records, slack and the footer slot.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Writes appended records (or zeros past them) at `offset`.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        fsio::write_all_at(&self.file, &self.path, buf, offset)
    }

    /// Writes zeros over `[from, to)`: a torn tail cut by recovery, space zeroed ahead of
    /// the writer.
    pub fn write_zeros(&self, from: u64, to: u64) -> Result<()> {
        fsio::write_zeros(&self.file, &self.path, from, to)
    }

    /// `fdatasync` of the file. The caller decides what a failure poisons.
    pub fn sync(&self) -> Result<()> {
        fsio::fdatasync(&self.file, &self.path)
    }

    /// Writes `footer` into the footer slot and syncs the file; then publishes it. Every
    /// record of the segment is durable once this returns.
    pub fn seal(&self, footer: SegmentFooter) -> Result<()> {
        self.write_at(&footer.encode(), self.capacity - FOOTER_LEN)?;
        self.sync()?;
        self.mark_sealed(footer);
        Ok(())
    }
}

/// Creates a segment file at `path` and reserves its full size on disk; writes zeros over
/// its first `zero` bytes and syncs them (see `log::zero`).
pub fn create_segment_file(path: &Path, size: u64, zero: u64) -> Result<File> {
    let file = fsio::create_file(path)?;
    fsio::allocate(&file, path, size)?;
    if zero > 0 {
        fsio::write_zeros(&file, path, 0, zero)?;
        fsio::fdatasync(&file, path)?;
    }
    Ok(file)
}

/// Writes the header of a new segment into a prepared file at `tmp`, makes it durable and
/// renames it to `path`; the caller then syncs the directory. So a segment file with a
/// valid name always has a valid header.
pub fn prepare_segment(
    file: File,
    tmp: &Path,
    path: PathBuf,
    base_id: u64,
    capacity: u64,
) -> Result<SegmentFile> {
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        flags: 0,
        base_id,
        capacity,
        created_us: fsio::now_us(),
    };
    fsio::write_all_at(&file, tmp, &header.encode(), 0)?;
    fsio::fdatasync(&file, tmp)?;
    fsio::rename(tmp, &path)?;
    SegmentFile::open(path, file, &header)
}

#[cfg(test)]
mod tests {
    use super::last_nonzero;

    #[test]
    fn last_nonzero_finds_every_position() {
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 4096] {
            assert_eq!(last_nonzero(&vec![0u8; len]), None);
            for at in 0..len.min(80) {
                let mut v = vec![0u8; len];
                v[at] = 3;
                assert_eq!(last_nonzero(&v), Some(at), "len {len} at {at}");
                if at > 0 {
                    v[0] = 1;
                    assert_eq!(last_nonzero(&v), Some(at));
                }
            }
        }
    }
}
