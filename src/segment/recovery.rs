//! What `open` does to a log directory before the first append: find the segments, trust
//! sealed ones by their footer, and scan the unsealed tail record by record, cutting it at
//! the first record whose framing or checksum is wrong. The bytes after the cut are zeroed
//! on disk, so a later scan can never resurrect an old record behind new ones.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{Location, SegmentEntry, SegmentState as CatalogState};

use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::file::SegmentFile;
use crate::segment::format::{
    decode_record, CleanMarker, RecordChain, RecordError, SegmentFooter, FOOTER_LEN, HEADER_LEN,
};
use crate::segment::layout::{Layout, SegmentFileKind};
use crate::tier::warm;

/// What `open` found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log had been closed cleanly, so no segment was scanned.
    pub clean_shutdown: bool,
    /// Segment files found.
    pub segments: usize,
    /// Records scanned in the unsealed tail.
    pub scanned_records: u64,
    /// A torn or corrupt tail that was cut off, if any.
    pub repaired: Option<TailRepair>,
    /// Sealed segments whose footer was damaged and was rebuilt from their records.
    pub footers_rebuilt: Vec<PathBuf>,
    /// Segment files opened (headers, footers or records read) by open. After a clean
    /// close only the active segment; sealed segments are known from the catalogue.
    pub segments_opened: usize,
    /// The catalogue had no record of the log (an old log, or a lost or damaged
    /// catalogue) and was rebuilt from the segment files.
    pub catalog_rebuilt: bool,
    /// Segment files that had no catalogue entry and were taken into it (a crash between
    /// creating a segment and recording it).
    pub files_without_entries: Vec<u64>,
    /// Catalogue entries whose file is missing at the front of the log: dropped from the
    /// catalogue (their records are gone).
    pub entries_without_files: Vec<u64>,
    /// Removals that a crash interrupted and open finished.
    pub deletions_finished: usize,
    /// The catalogue was damaged (what was found): it was set aside as
    /// `.catalog.mdbx.damaged` and rebuilt.
    pub catalog_damage: Option<String>,
    /// Moves between tiers that a crash interrupted: finished (the catalogue had recorded
    /// the move: the old file was removed) or undone (it had not: the new file was).
    pub tier_moves_finished: Vec<u64>,
    pub tier_moves_undone: Vec<u64>,
    /// Compressed segment files the catalogue had no entry for (it was lost or rebuilt):
    /// turned back into plain segment files.
    pub compressed_restored: Vec<u64>,
}

/// A cut made by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRepair {
    pub segment: PathBuf,
    /// Offset of the first byte that did not form a valid record.
    pub offset: u64,
    /// Length of the range, from `offset` to the last non-zero byte, that was zeroed.
    pub discarded_bytes: u64,
    /// Why the scan stopped there.
    pub reason: String,
}

/// One segment as recovery leaves it.
pub struct RecoveredSegment {
    pub base_id: u64,
    pub path: PathBuf,
    /// Its footer (sealed), or `None` for the unsealed tail.
    pub footer: Option<SegmentFooter>,
    /// The open file, unless it is sealed and known from the catalogue (then it is opened
    /// when first read).
    pub file: Option<Arc<SegmentFile>>,
    /// Where its bytes are (a compressed or archived one is known from the catalogue).
    pub kind: SegmentKind,
}

/// Where a recovered segment's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// A plain segment file (`path`).
    Plain,
    /// A compressed file (`path`, `.seg.zst`).
    Compressed,
    /// An object in the archive; no local file (`path` is empty).
    Archived,
}

/// The state recovery hands to the log.
pub struct Recovered {
    /// Every segment, in id order.
    pub segments: Vec<RecoveredSegment>,
    /// End of the records of the last segment, when it is unsealed and can take appends.
    pub active_write_offset: Option<u64>,
    /// Payload bytes of the records of that unsealed tail (0 without one).
    pub tail_payload: u64,
    /// Id of the next record.
    pub next_id: u64,
    pub report: RecoveryReport,
}

/// Finds the log's segments and repairs the tail. `known`: the catalogue's entries of the
/// log by base id; a sealed one whose file is there and is not the last is trusted without
/// opening its file.
pub fn recover(layout: &Layout, known: &BTreeMap<u64, SegmentEntry>) -> Result<Recovered> {
    let dir = layout.dir();
    let tmp = layout.next_segment_tmp();
    if tmp.exists() {
        fsio::remove_file(&tmp)?;
    }
    let marker_path = layout.clean_marker();
    let marker = match fs::read(&marker_path) {
        Ok(bytes) => Some(CleanMarker::decode(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", &marker_path, e)),
    };

    let mut report = RecoveryReport::default();
    let paths = settle_tiers(layout, known, &mut report)?;
    report.segments = paths.len();

    let mut segments: Vec<RecoveredSegment> = Vec::with_capacity(paths.len());
    let mut next_id = 1;
    let mut active_write_offset = None;
    let mut tail_payload = 0;
    let count = paths.len();
    let next_bases: Vec<u64> = paths.iter().map(|(b, _, _)| *b).collect();
    for (i, (base, path, kind)) in paths.into_iter().enumerate() {
        let is_last = i + 1 == count;
        if !segments.is_empty() && base != next_id {
            return Err(Error::corruption(
                &path,
                0,
                format!("segment starts at id {base} but {next_id} was expected"),
            ));
        }
        let sealed_entry = known.get(&base).filter(|e| {
            e.state == CatalogState::Sealed && (!is_last || kind != SegmentKind::Plain)
        });
        if let Some(e) = sealed_entry {
            let footer = footer_of(base, e);
            next_id = footer.last_id + 1;
            segments.push(RecoveredSegment {
                base_id: base,
                path,
                footer: Some(footer),
                file: None,
                kind,
            });
            continue;
        }
        if kind != SegmentKind::Plain {
            return Err(Error::corruption(
                &path,
                0,
                format!("segment {base} is not in a plain file but the catalogue has no sealed entry for it"),
            ));
        }
        report.segments_opened += 1;
        let seg = match open_segment(&path, base, is_last) {
            Ok(seg) => seg,
            Err(Error::Corruption { .. }) if is_last && is_blank(&path)? => {
                // The last segment's header never became durable, so it holds nothing.
                fsio::remove_file(&path)?;
                fsio::fsync_dir(dir)?;
                report.segments -= 1;
                break;
            }
            Err(e) => return Err(e),
        };
        if let Some(footer) = read_footer(&seg) {
            seg.mark_sealed(footer);
            next_id = footer.last_id + 1;
        } else if !is_last {
            // Every segment before the last was sealed before the next was created, so its
            // footer was damaged later. Rebuild it if its records run up to the next
            // segment; a log with a hole in the middle cannot be opened.
            let next_base = next_bases[i + 1];
            let footer = rebuild_footer(&seg, next_base)?;
            report.footers_rebuilt.push(path.clone());
            next_id = footer.last_id + 1;
        } else {
            let trusted = match marker {
                Some(Some(m)) if m.active_base_id == seg.base_id() => trust_marker(&seg, &m),
                _ => None,
            };
            let (offset, id, payload) = match trusted {
                Some((offset, id)) => {
                    report.clean_shutdown = true;
                    // The entry written at the clean close has the tail's payload bytes;
                    // otherwise count them (the tail only).
                    let payload = match known.get(&base) {
                        Some(e) if e.data_end == offset && e.record_count == id - base => {
                            e.payload_bytes
                        }
                        _ => walk_records(&seg, Some(id)).payload,
                    };
                    (offset, id, payload)
                }
                None => scan_tail(&seg, &mut report)?,
            };
            next_id = id;
            active_write_offset = Some(offset);
            tail_payload = payload;
        }
        segments.push(RecoveredSegment {
            base_id: base,
            path,
            footer: seg.footer().copied(),
            file: Some(Arc::new(seg)),
            kind: SegmentKind::Plain,
        });
    }
    if active_write_offset.is_none() && marker.is_some() {
        // The log was closed cleanly right after its last segment was sealed.
        report.clean_shutdown = matches!(marker, Some(Some(m)) if m.next_id == next_id);
    }
    if marker.is_some() {
        // A stale marker must never vouch for a tail written after this open.
        fsio::remove_file(&marker_path)?;
        fsio::fsync_dir(dir)?;
    }
    Ok(Recovered {
        segments,
        active_write_offset,
        tail_payload,
        next_id,
        report,
    })
}

/// Settles the files of segments caught between tiers, by what the catalogue recorded
/// (docs/FORMAT.md, "The order of writes"), and returns one file per segment, in id order
/// (with its kind; an archived segment has no local file):
///
/// - a compression in progress (`.seg.zst.tmp`) is removed;
/// - a compressed file and a plain one: the catalogue says which is the segment's
///   (`LocalCompressed`: the plain one goes, the move is finished; else the compressed
///   one goes, the move is undone);
/// - a compressed file alone with no catalogue entry (the catalogue was lost or rebuilt) is
///   turned back into a plain file;
/// - a compressed file alone whose entry says otherwise is damage: an error;
/// - an archived segment's local files are left-overs of the move (removed).
fn settle_tiers(
    layout: &Layout,
    known: &BTreeMap<u64, SegmentEntry>,
    report: &mut RecoveryReport,
) -> Result<Vec<(u64, PathBuf, SegmentKind)>> {
    let dir = layout.dir();
    let mut changed = false;
    let mut by_base: BTreeMap<u64, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    for (base, kind, path) in layout.list_all()? {
        match kind {
            SegmentFileKind::CompressedTmp => {
                fsio::remove_file(&path)?;
                changed = true;
            }
            SegmentFileKind::Plain => by_base.entry(base).or_default().0 = Some(path),
            SegmentFileKind::Compressed => by_base.entry(base).or_default().1 = Some(path),
        }
    }
    for (&base, e) in known {
        if e.location == Location::Archived {
            by_base.entry(base).or_default();
        }
    }
    let mut out = Vec::with_capacity(by_base.len());
    for (base, files) in by_base {
        let location = known.get(&base).map(|e| e.location);
        if location == Some(Location::Archived) {
            for path in [files.0, files.1].into_iter().flatten() {
                fsio::remove_file(&path)?;
                report.tier_moves_finished.push(base);
            }
            out.push((base, PathBuf::new(), SegmentKind::Archived));
            continue;
        }
        match (files, location) {
            ((Some(plain), Some(zst)), Some(Location::LocalCompressed)) => {
                fsio::remove_file(&plain)?;
                report.tier_moves_finished.push(base);
                out.push((base, zst, SegmentKind::Compressed));
            }
            ((Some(plain), Some(zst)), _) => {
                fsio::remove_file(&zst)?;
                report.tier_moves_undone.push(base);
                out.push((base, plain, SegmentKind::Plain));
            }
            ((None, Some(zst)), Some(Location::LocalCompressed)) => {
                out.push((base, zst, SegmentKind::Compressed))
            }
            ((None, Some(zst)), None) => {
                let plain = layout.segment(base);
                warm::restore_plain(&zst, &layout.next_segment_tmp(), &plain)?;
                fsio::fsync_dir(dir)?;
                fsio::remove_file(&zst)?;
                report.compressed_restored.push(base);
                out.push((base, plain, SegmentKind::Plain));
            }
            ((None, Some(zst)), Some(other)) => {
                return Err(Error::corruption(
                    &zst,
                    0,
                    format!(
                        "compressed segment file, but the catalogue has segment {base} at \
                         {other:?} and there is no plain file"
                    ),
                ))
            }
            ((Some(plain), None), Some(Location::LocalCompressed)) => {
                return Err(Error::corruption(
                    &plain,
                    0,
                    format!(
                        "the catalogue has segment {base} compressed, but its compressed \
                         file is missing"
                    ),
                ))
            }
            ((Some(plain), None), _) => out.push((base, plain, SegmentKind::Plain)),
            ((None, None), _) => {}
        }
        changed |= !report.tier_moves_finished.is_empty() || !report.tier_moves_undone.is_empty();
    }
    if changed || !report.compressed_restored.is_empty() {
        fsio::fsync_dir(dir)?;
    }
    Ok(out)
}

/// The footer a sealed catalogue entry stands for.
pub fn footer_of(base: u64, e: &SegmentEntry) -> SegmentFooter {
    SegmentFooter {
        record_count: e.record_count,
        first_id: base,
        last_id: e.last_id,
        data_end: e.data_end,
        records_crc: e.records_crc,
    }
}

/// Payload bytes of the records of a sealed segment, counted by walking them.
pub fn payload_bytes(seg: &SegmentFile, footer: &SegmentFooter) -> u64 {
    walk_records(seg, Some(footer.last_id + 1)).payload
}

/// True when the file has only zero bytes in it (or none).
fn is_blank(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    Ok(bytes.iter().all(|&b| b == 0))
}

fn open_segment(path: &Path, base: u64, is_last: bool) -> Result<SegmentFile> {
    SegmentFile::open_checked(path, base, is_last)
}

fn read_footer(seg: &SegmentFile) -> Option<SegmentFooter> {
    let f = SegmentFooter::decode(seg.footer_slot()).ok()?;
    let plausible = f.first_id == seg.base_id()
        && f.record_count == f.last_id + 1 - f.first_id
        && (HEADER_LEN..=seg.capacity() - FOOTER_LEN).contains(&f.data_end);
    plausible.then_some(f)
}

/// Where a walk over a segment's records ended.
struct Walk {
    /// Offset after the last good record.
    end: u64,
    /// Id of the record that would come next.
    next_id: u64,
    /// Footer checksum of the good records.
    chain: RecordChain,
    /// Payload bytes of the good records.
    payload: u64,
    /// Why the walk stopped before `until` (always set for an open-ended walk).
    stop: Option<RecordError>,
}

/// Decodes and checks records from the start of `seg` until id `until` (exclusive) or the
/// first record that does not decode.
fn walk_records(seg: &SegmentFile, until: Option<u64>) -> Walk {
    let area = seg.record_area();
    let mut walk = Walk {
        end: HEADER_LEN,
        next_id: seg.base_id(),
        chain: RecordChain::default(),
        payload: 0,
        stop: None,
    };
    while until.is_none_or(|u| walk.next_id < u) {
        match decode_record(area, walk.end, walk.next_id) {
            Ok(r) => {
                walk.end += r.framed_len;
                walk.next_id += 1;
                walk.chain.push(r.crc);
                walk.payload += r.payload.len() as u64;
            }
            Err(e) => {
                walk.stop = Some(e);
                break;
            }
        }
    }
    walk
}

/// Scans a segment whose footer is damaged; if its records are intact up to
/// `next_base - 1`, seals it with a new footer (synced) and returns it.
fn rebuild_footer(seg: &SegmentFile, next_base: u64) -> Result<SegmentFooter> {
    let walk = walk_records(seg, Some(next_base));
    if let Some(e) = walk.stop {
        let (id, offset) = (walk.next_id, walk.end);
        return Err(Error::corruption(
            seg.path(),
            offset,
            format!(
                "footer damaged and record {id} unreadable ({e}); records \
                 {id}..{next_base} are lost from the middle of the log"
            ),
        ));
    }
    let (offset, chain) = (walk.end, walk.chain);
    let footer = SegmentFooter {
        record_count: next_base - seg.base_id(),
        first_id: seg.base_id(),
        last_id: next_base - 1,
        data_end: offset,
        records_crc: chain.value(),
    };
    seg.seal(footer)?;
    Ok(footer)
}

fn trust_marker(seg: &SegmentFile, m: &CleanMarker) -> Option<(u64, u64)> {
    let in_range = (HEADER_LEN..=seg.capacity() - FOOTER_LEN).contains(&m.write_offset);
    (in_range && m.next_id >= seg.base_id()).then_some((m.write_offset, m.next_id))
}

/// Walks the records of the unsealed last segment; cuts at the first bad one and zeroes
/// whatever follows. Returns the end of the good records, the next id and the payload
/// bytes of the good records.
fn scan_tail(seg: &SegmentFile, report: &mut RecoveryReport) -> Result<(u64, u64, u64)> {
    let walk = walk_records(seg, None);
    let (offset, id) = (walk.end, walk.next_id);
    report.scanned_records += id - seg.base_id();
    let stop = walk
        .stop
        .expect("an open-ended walk stops at a record that does not decode");
    if let Some(last_nonzero) = seg.last_nonzero_from(offset)? {
        let span = last_nonzero + 1 - offset;
        seg.write_zeros(offset, offset + span)?;
        seg.sync()?;
        report.repaired = Some(TailRepair {
            segment: seg.path().to_path_buf(),
            offset,
            discarded_bytes: span,
            reason: stop.to_string(),
        });
    }
    Ok((offset, id, walk.payload))
}
