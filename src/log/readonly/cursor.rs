//! A cursor over a log opened read-only: records in id order across segments and tiers,
//! and past the end of the log as a writer in another process appends.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::view::Record;
use crate::segment::format::{HEADER_LEN, RECORD_HEADER_LEN};

use super::source::{SegmentBytes, SegmentTier};
use super::{SegmentInfo, Shared};

/// The segment a cursor is in.
struct Current {
    base: u64,
    path: PathBuf,
    bytes: SegmentBytes,
    /// Its last id, once known (a footer, the catalogue); unknown while it is active.
    last: Option<u64>,
}

/// What the next call found, without borrowing the segment.
enum Step {
    /// A whole record at the cursor's offset.
    Ready {
        timestamp_us: u64,
        len: u64,
        framed_len: u64,
    },
    /// Nothing more for now.
    End,
    /// Moved to another segment: look again.
    Moved,
}

/// A cursor of a [`super::ReadOnlyLog`]. It holds the bytes of the segment it is in (a
/// read-only map, or the segment decompressed), so it reads on if that segment is
/// removed meanwhile.
pub struct ReadOnlyCursor {
    shared: Arc<Shared>,
    next_id: u64,
    /// Byte position of the next record.
    pos: u64,
    current: Option<Current>,
    /// Offset of the next record in `current`.
    offset: u64,
}

impl ReadOnlyCursor {
    pub(super) fn new(shared: Arc<Shared>, next_id: u64, pos: u64) -> ReadOnlyCursor {
        ReadOnlyCursor {
            shared,
            next_id,
            pos,
            current: None,
            offset: HEADER_LEN,
        }
    }

    /// The id [`ReadOnlyCursor::next`] returns next.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Enters segment `info`, whose first record is at byte position `self.pos`, and walks
    /// to `self.next_id`, adding up positions.
    pub(super) fn seek_in(&mut self, info: &SegmentInfo) -> Result<()> {
        let target = self.next_id;
        self.next_id = info.base_id;
        if !self.enter_at(info.base_id, Some((info.tier, info.path.clone())))? {
            return Err(self.shared.truncated(info.base_id));
        }
        while self.next_id < target {
            match self.step()? {
                Step::Ready {
                    len, framed_len, ..
                } => self.advance(len, framed_len),
                Step::Moved => {}
                Step::End => {
                    return Err(Error::Internal(format!(
                        "record {} was there at open and is gone",
                        self.next_id
                    )))
                }
            }
        }
        Ok(())
    }

    /// The next record, or `None` at the end of the log for now. Called again after
    /// `None`, it looks again: a record the writer has written since (or a new segment
    /// it started) is returned then. So following the log is calling this in a loop,
    /// sleeping a little after each `None`.
    ///
    /// A record of a sealed segment that does not decode is `Corruption`; so is a hole
    /// between segments. A segment removed (retention) before the cursor got to it is
    /// `Truncated`, naming the oldest id left.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        let (timestamp_us, len, framed_len) = loop {
            match self.step()? {
                Step::Ready {
                    timestamp_us,
                    len,
                    framed_len,
                } => break (timestamp_us, len, framed_len),
                Step::End => return Ok(None),
                Step::Moved => {}
            }
        };
        let (id, position) = (self.next_id, self.pos);
        let cur = self.current.as_ref().expect("a record was found in it");
        let at = (self.offset + RECORD_HEADER_LEN) as usize;
        let data = &cur.bytes.record_area()[at..at + len as usize];
        // Disjoint fields: the payload borrows `current`'s bytes, the counters move on.
        self.offset += framed_len;
        self.next_id += 1;
        self.pos += len;
        Ok(Some(Record {
            id,
            timestamp_us,
            data,
            position,
        }))
    }

    fn advance(&mut self, len: u64, framed_len: u64) {
        self.offset += framed_len;
        self.next_id += 1;
        self.pos += len;
    }

    /// Finds the next record or why there is none, moving between segments as needed.
    fn step(&mut self) -> Result<Step> {
        let id = self.next_id;
        let Some(cur) = self.current.as_mut() else {
            return Ok(if self.enter_at(id, None)? {
                Step::Moved
            } else {
                Step::End
            });
        };
        if cur.last.is_some_and(|last| id > last) {
            return Ok(if self.enter_at(id, None)? {
                Step::Moved
            } else {
                Step::End
            });
        }
        let why = match cur.bytes.record_at(self.offset, id) {
            Ok(r) => {
                return Ok(Step::Ready {
                    timestamp_us: r.timestamp_us,
                    len: r.payload.len() as u64,
                    framed_len: r.framed_len,
                })
            }
            Err(why) => why,
        };
        if cur.last.is_none() && cur.bytes.is_live() {
            // The active segment: sealed since?
            if let Some(f) = cur.bytes.footer(cur.base) {
                cur.last = Some(f.last_id);
                return Ok(Step::Moved);
            }
        }
        let (base, offset, path) = (cur.base, self.offset, cur.path.clone());
        if cur.last.is_some() {
            return Err(Error::corruption(
                &path,
                offset,
                format!("record {id}: {why}"),
            ));
        }
        // No footer: the end of the log, unless a segment follows (a footer damaged
        // after it was sealed: its records must run up to the next one).
        match self.shared.local_bases()?.into_iter().find(|&b| b > base) {
            None => Ok(Step::End),
            Some(next) if next == id => {
                self.current.as_mut().expect("in a segment").last = Some(id - 1);
                Ok(Step::Moved)
            }
            Some(next) => Err(Error::corruption(
                &path,
                offset,
                format!(
                    "record {id}: {why}; records {id}..{next} are missing before the next \
                     segment"
                ),
            )),
        }
    }

    /// Enters the segment that starts at `base` (which must be `next_id`), found where
    /// `at` says or else looked up. False if there is none yet; `Truncated` if it is gone
    /// while later ones exist.
    fn enter_at(&mut self, base: u64, at: Option<(SegmentTier, PathBuf)>) -> Result<bool> {
        let mut at = at.or_else(|| self.shared.locate(base));
        // A file may move (compressed, archived) or go between looking and opening.
        for _ in 0..3 {
            let Some((tier, path)) = at.take() else {
                break;
            };
            match self.shared.load(base, tier, &path) {
                Ok(bytes) => {
                    let (entry, _) = self.shared.entries(base);
                    let last = bytes
                        .footer(base)
                        .or_else(|| super::source::entry_footer(base, entry))
                        .map(|f| f.last_id);
                    let last = if bytes.is_live() {
                        last
                    } else {
                        // A decompressed segment is sealed: it must have a footer.
                        Some(last.ok_or_else(|| {
                            Error::corruption(&path, 0, "compressed segment without a footer")
                        })?)
                    };
                    self.current = Some(Current {
                        base,
                        path,
                        bytes,
                        last,
                    });
                    self.offset = HEADER_LEN;
                    return Ok(true);
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    at = self.shared.locate(base);
                }
                Err(e) => return Err(e),
            }
        }
        // None here: the end of the log, unless later segments exist (this one was removed).
        match self.shared.local_bases()?.into_iter().find(|&b| b > base) {
            Some(_) => Err(self.shared.truncated(base)),
            None => Ok(false),
        }
    }
}

impl Shared {
    /// `Truncated` for `id`, naming the oldest local segment's first id.
    pub(super) fn truncated(&self, id: u64) -> Error {
        let first = self
            .local_bases()
            .ok()
            .and_then(|b| b.into_iter().find(|&b| b > id))
            .unwrap_or(id + 1);
        Error::Truncated { id, first }
    }
}
