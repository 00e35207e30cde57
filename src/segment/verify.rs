//! Verification: walk every segment and check every byte that carries meaning (headers,
//! record checksums, footers, the zero slack after the records), reporting every damaged
//! range with its segment and offset instead of stopping at the first. After a damaged
//! record the walk resynchronises on the next record that checks out, so one flipped bit
//! costs one range, not the rest of the log.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::format::{
    decode_record, CleanMarker, RecordChain, RecordError, SegmentFooter, SegmentHeader, FOOTER_LEN,
    HEADER_LEN, RECORD_ALIGN, RECORD_HEADER_LEN,
};
use crate::segment::layout::{Layout, SegmentFileKind};

/// One damaged byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub segment: PathBuf,
    pub offset: u64,
    pub len: u64,
    pub detail: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes {}..{}: {}",
            self.segment.display(),
            self.offset,
            self.offset + self.len,
            self.detail
        )
    }
}

/// What a verification walked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u64,
    /// Records whose checksum matched.
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// Every damaged range, in log order.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// `Ok(self)` when nothing is damaged, else a `Corruption` error naming the first
    /// range and how many more there are.
    pub fn into_result(self) -> Result<VerifyReport> {
        match self.damage.first() {
            None => Ok(self),
            Some(d) => Err(Error::Corruption {
                path: d.segment.clone(),
                offset: d.offset,
                detail: format!(
                    "{} ({} damaged range(s) in all: {})",
                    d.detail,
                    self.damage.len(),
                    self.damage
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
        }
    }
}

/// How far the records of a segment go.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Extent {
    /// Not the last segment: it must be sealed.
    Sealed,
    /// The last segment of a closed log: records run until an all-zero header, and any
    /// non-zero byte after them is a torn tail (which `open` would cut).
    Tail,
    /// The active segment of an open log: check records up to this id only; bytes after
    /// them may be in flight.
    UpTo(u64),
}

/// Checks one segment's bytes; returns the id that the next segment must start with and
/// the offset where its records end.
pub(crate) fn check_segment(
    path: &Path,
    bytes: &[u8],
    name_base: u64,
    extent: Extent,
    report: &mut VerifyReport,
) -> (u64, u64) {
    let damage = |report: &mut VerifyReport, offset: u64, len: u64, detail: String| {
        report.damage.push(Damage {
            segment: path.to_path_buf(),
            offset,
            len,
            detail,
        })
    };
    let mut capacity = bytes.len() as u64;
    match SegmentHeader::decode(bytes) {
        Ok(h) if h.base_id != name_base => damage(
            report,
            16,
            8,
            format!(
                "header base id {} differs from the file name's {name_base}",
                h.base_id
            ),
        ),
        Ok(h) if h.capacity != capacity => damage(
            report,
            24,
            8,
            format!(
                "header capacity {} but the file has {capacity} bytes",
                h.capacity
            ),
        ),
        Ok(_) => {}
        Err(e) => damage(report, 0, HEADER_LEN, format!("segment header: {e}")),
    }
    report.segments += 1;
    if capacity < HEADER_LEN + FOOTER_LEN {
        damage(report, 0, capacity, "file too short for a segment".into());
        return (name_base, HEADER_LEN);
    }
    capacity = capacity.min(bytes.len() as u64);
    let footer_at = capacity - FOOTER_LEN;
    let slot = &bytes[footer_at as usize..capacity as usize];
    let footer = SegmentFooter::decode(slot).ok().filter(|f| {
        f.first_id == name_base
            && f.record_count == f.last_id + 1 - f.first_id
            && (HEADER_LEN..=footer_at).contains(&f.data_end)
    });
    let slot_blank = slot.iter().all(|&b| b == 0);
    if footer.is_none() && (matches!(extent, Extent::Sealed) || !slot_blank) {
        damage(
            report,
            footer_at,
            FOOTER_LEN,
            "segment footer is missing or damaged".into(),
        );
    }
    let area = &bytes[..footer_at as usize];
    let end_id = match (footer, extent) {
        (Some(f), _) => Some(f.last_id),
        (None, Extent::UpTo(last)) => Some(last),
        (None, _) => None,
    };
    let damage_before = report.damage.len();
    let mut offset = HEADER_LEN;
    let mut id = name_base;
    let mut chain = RecordChain::default();
    loop {
        if end_id.is_some_and(|e| id > e) {
            break;
        }
        match decode_record(area, offset, id) {
            Ok(r) => {
                chain.push(r.crc);
                report.records += 1;
                report.bytes += r.payload.len() as u64;
                offset += r.framed_len;
                id += 1;
            }
            Err(RecordError::Empty) if end_id.is_none() => break,
            Err(err) => match resync(area, offset + RECORD_ALIGN, id, end_id) {
                Some((next_offset, next_id)) => {
                    let detail = format!("records {id}..={} unreadable: {err}", next_id - 1);
                    damage(report, offset, next_offset - offset, detail);
                    offset = next_offset;
                    id = next_id;
                }
                None => {
                    let stop = footer.map_or_else(
                        || last_nonzero(area, offset).map_or(offset, |e| e + 1),
                        |f| f.data_end.max(offset),
                    );
                    let detail = format!("records from {id} on unreadable: {err}");
                    damage(report, offset, (stop - offset).max(1), detail);
                    offset = stop;
                    if let Some(e) = end_id {
                        id = e + 1;
                    }
                    break;
                }
            },
        }
    }
    let records_intact = report.damage.len() == damage_before;
    if let Some(f) = footer {
        if records_intact {
            if offset != f.data_end {
                damage(
                    report,
                    offset,
                    f.data_end.abs_diff(offset),
                    format!("records end at {offset} but the footer says {}", f.data_end),
                );
            } else if chain.value() != f.records_crc {
                let len = f.data_end - HEADER_LEN;
                damage(
                    report,
                    HEADER_LEN,
                    len,
                    "segment checksum (record chain) mismatch".into(),
                );
            }
        }
        offset = offset.max(f.data_end);
    }
    if !matches!(extent, Extent::UpTo(_)) {
        if let Some(last) = last_nonzero(area, offset) {
            let what = if footer.is_some() {
                "unexpected bytes between the last record and the footer"
            } else {
                "torn tail after the last record (open cuts it)"
            };
            damage(report, offset, last + 1 - offset, what.into());
        }
    }
    (footer.map_or(id, |f| f.last_id + 1), offset)
}

/// Offset of the last non-zero byte at or after `from`.
fn last_nonzero(area: &[u8], from: u64) -> Option<u64> {
    crate::segment::last_nonzero(&area[from as usize..]).map(|p| from + p as u64)
}

/// The first offset at or after `from` (on the record alignment) holding a valid record
/// with an id after `damaged_id`.
fn resync(area: &[u8], from: u64, damaged_id: u64, end_id: Option<u64>) -> Option<(u64, u64)> {
    let max_id = end_id.unwrap_or(damaged_id + area.len() as u64 / RECORD_HEADER_LEN);
    let mut at = from;
    while at + RECORD_HEADER_LEN <= area.len() as u64 {
        let raw = &area[at as usize + 16..at as usize + 24];
        let id = u64::from_le_bytes(raw.try_into().expect("8 bytes"));
        if id > damaged_id && id <= max_id && decode_record(area, at, id).is_ok() {
            return Some((at, id));
        }
        at += RECORD_ALIGN;
    }
    None
}

/// Verifies a closed log directory without changing it: every segment, every record,
/// the footers and the zero slack. Takes the directory lock, so it fails with `Busy` while
/// the log is open.
pub fn verify_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    let layout = Layout::new(dir.as_ref());
    let _lock = fsio::lock_exclusive(&layout.lock_file(), layout.dir())?;
    // One file per segment: a plain one where there are both (a move a crash interrupted;
    // open settles it), a compressed one decompressed in memory. Archived segments have no
    // local file: they precede the local ones, so they are not a gap.
    let mut segments: Vec<(u64, std::path::PathBuf, bool)> = Vec::new();
    for (base, kind, path) in layout.list_all()? {
        let compressed = match kind {
            SegmentFileKind::Plain => false,
            SegmentFileKind::Compressed => true,
            SegmentFileKind::CompressedTmp => continue,
        };
        match segments.last_mut() {
            Some(last) if last.0 == base => {}
            _ => segments.push((base, path, compressed)),
        }
    }
    let marker = std::fs::read(layout.clean_marker())
        .ok()
        .and_then(|b| CleanMarker::decode(&b));
    let mut report = VerifyReport::default();
    let mut expected: Option<u64> = None;
    let count = segments.len();
    for (i, (base, path, compressed)) in segments.into_iter().enumerate() {
        if let Some(e) = expected.filter(|&e| e != base) {
            report.damage.push(Damage {
                segment: path.clone(),
                offset: 0,
                len: 0,
                detail: format!("ids {e}..{base} are missing before this segment"),
            });
        }
        let bytes = if compressed {
            match crate::tier::warm::decompress_file(&path) {
                Ok(bytes) => bytes,
                Err(Error::Corruption { offset, detail, .. }) => {
                    report.damage.push(Damage {
                        segment: path.clone(),
                        offset,
                        len: 0,
                        detail,
                    });
                    expected = None;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?
        };
        let extent = if i + 1 == count {
            Extent::Tail
        } else {
            Extent::Sealed
        };
        let (next, end) = check_segment(&path, &bytes, base, extent, &mut report);
        expected = Some(next);
        // After a clean close the marker says where the records end: a tail that stops
        // short of it lost records that a scan alone cannot tell from never written.
        if let Some(m) = marker.filter(|m| i + 1 == count && m.active_base_id == base) {
            if next < m.next_id {
                report.damage.push(Damage {
                    segment: path.clone(),
                    offset: end,
                    len: m.write_offset.saturating_sub(end),
                    detail: format!(
                        "records {next}..{} are missing: the clean-shutdown marker says the \
                         log ends at id {} (offset {})",
                        m.next_id,
                        m.next_id - 1,
                        m.write_offset
                    ),
                });
            }
        }
    }
    Ok(report)
}
