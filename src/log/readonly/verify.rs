//! Verification of a log opened read-only: every segment in every tier, every damaged
//! range, the same checks as `segment::verify` (headers, every record's checksum, the
//! footers and their record chains, the zero slack), plus what only the catalogue can tell
//! (a sealed entry that disagrees with its footer) and what is missing between segments.

use std::path::PathBuf;

use crate::catalog::SegmentState;
use crate::error::{Error, Result};
use crate::segment::verify::{check_segment, Damage, Extent, VerifyReport};

use super::{MarkerState, ReadOnlyLog, SegmentInfo, SegmentTier};

/// What [`ReadOnlyLog::verify`] checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOnlyVerify {
    /// Segments and records checked, and every damaged range.
    pub report: VerifyReport,
    /// Segments not checked, and why (archived segments without the archive).
    pub unchecked: Vec<(u64, String)>,
    /// Segments checked, by tier: plain, compressed, archived.
    pub checked: [u64; 3],
    /// Whether the last segment was checked only up to its last whole record, because a
    /// writer may be appending to it (bytes after that may be a record being written).
    pub tail_in_flight: bool,
}

impl ReadOnlyVerify {
    pub fn is_clean(&self) -> bool {
        self.report.damage.is_empty()
    }
}

impl ReadOnlyLog {
    /// Checks every segment. `writer_active`: a writer may have the log open (see
    /// [`super::lock_holder`]); then the last segment is checked up to its last whole
    /// record only. Otherwise non-zero bytes after it are a torn tail (damage that a
    /// recovery would cut), as `verify_dir` reports. `each` is called before each segment.
    pub fn verify(
        &self,
        writer_active: bool,
        mut each: impl FnMut(&SegmentInfo),
    ) -> Result<ReadOnlyVerify> {
        let mut out = ReadOnlyVerify::default();
        let mut expected: Option<u64> = None;
        let count = self.segments.len();
        for (i, s) in self.segments.iter().enumerate() {
            each(s);
            let is_last = i + 1 == count;
            let damage = |out: &mut ReadOnlyVerify, offset, len, detail| {
                out.report.damage.push(Damage {
                    segment: s.path.clone(),
                    offset,
                    len,
                    detail,
                })
            };
            if let Some(e) = expected.filter(|&e| e != s.base_id) {
                damage(
                    &mut out,
                    0,
                    0,
                    format!("ids {e}..{} are missing before this segment", s.base_id),
                );
            }
            expected = self.last_id_of(i).map(|l| l + 1);
            if s.tier == SegmentTier::Archived && !self.has_archive() {
                out.unchecked.push((
                    s.base_id,
                    "archived: not checked locally (give the archive to check it)".into(),
                ));
                continue;
            }
            let bytes = match self.load(i) {
                Ok(b) => b,
                Err(Error::Corruption { offset, detail, .. }) => {
                    damage(&mut out, offset, 0, detail);
                    continue;
                }
                Err(Error::Remote(why)) => {
                    out.unchecked
                        .push((s.base_id, format!("archive unavailable: {why}")));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let extent = match (is_last, s.footer, &self.tail) {
                (true, None, Some(t)) if writer_active => {
                    out.tail_in_flight = true;
                    Extent::UpTo(t.next_id - 1)
                }
                (true, None, _) => Extent::Tail,
                _ => Extent::Sealed,
            };
            let path = if s.tier == SegmentTier::Archived {
                PathBuf::from(format!("archived segment {}", s.base_id))
            } else {
                s.path.clone()
            };
            let mut report = VerifyReport::default();
            let (mut next, mut end) =
                check_segment(&path, bytes.bytes(), s.base_id, extent, &mut report);
            if is_last && writer_active && bytes.is_live() && !report.damage.is_empty() {
                // The writer may have been sealing it as it was read (a footer half
                // written to the page cache): look once more before calling it damage.
                std::thread::sleep(std::time::Duration::from_millis(50));
                report = VerifyReport::default();
                (next, end) = check_segment(&path, bytes.bytes(), s.base_id, extent, &mut report);
            }
            out.report.segments += report.segments;
            out.report.records += report.records;
            out.report.bytes += report.bytes;
            out.report.damage.append(&mut report.damage);
            out.checked[s.tier as usize] += 1;
            if expected.is_none() {
                expected = Some(next);
            }
            self.check_entry(s, &bytes, &mut out);
            if is_last {
                self.check_marker(s, next, end, &mut out);
            }
        }
        Ok(out)
    }

    /// A sealed catalogue entry must agree with the segment's footer.
    fn check_entry(&self, s: &SegmentInfo, bytes: &super::SegmentBytes, out: &mut ReadOnlyVerify) {
        let (Some(e), Some(f)) = (&s.entry, bytes.footer(s.base_id)) else {
            return;
        };
        if e.state != SegmentState::Sealed {
            return;
        }
        let same = e.last_id == f.last_id
            && e.record_count == f.record_count
            && e.data_end == f.data_end
            && e.records_crc == f.records_crc;
        if !same {
            out.report.damage.push(Damage {
                segment: s.path.clone(),
                offset: bytes.bytes().len() as u64 - 64,
                len: 64,
                detail: format!(
                    "the catalogue's sealed entry (last id {}, {} records, data end {}) \
                     disagrees with the footer (last id {}, {} records, data end {})",
                    e.last_id, e.record_count, e.data_end, f.last_id, f.record_count, f.data_end
                ),
            });
        }
    }

    /// After a clean close the marker says where the records end: a tail that stops short
    /// of it lost records that a scan alone cannot tell from never written.
    fn check_marker(&self, s: &SegmentInfo, next: u64, end: u64, out: &mut ReadOnlyVerify) {
        let MarkerState::Valid(m) = self.marker else {
            return;
        };
        if m.active_base_id == s.base_id && next < m.next_id {
            out.report.damage.push(Damage {
                segment: s.path.clone(),
                offset: end,
                len: m.write_offset.saturating_sub(end),
                detail: format!(
                    "records {next}..{} are missing: the clean-shutdown marker says the log \
                     ends at id {} (offset {})",
                    m.next_id,
                    m.next_id - 1,
                    m.write_offset
                ),
            });
        }
    }
}
