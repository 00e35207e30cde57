//! A byte stream over the payloads: the payloads of the visible records, concatenated in id
//! order, addressed by byte position (the log's "LSN": the payload bytes appended before a
//! byte). Record boundaries do not show; a read fills the caller's buffer across them.
//!
//! Like a cursor, a stream holds what readers share (not the log), pins the segment it
//! reads, and never looks past the visible watermark: at the end of the visible records a
//! read returns 0 bytes, and a later read returns what was appended meanwhile (so a stream
//! can tail the log). Every record it reads from is checked (checksum) once, when the
//! stream first reaches it.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::view::View;
use crate::segment::format::RECORD_HEADER_LEN;
use crate::segment::set::SegmentReader;

/// A byte stream over the payloads of a log, from a byte position; `Read + Seek`. Opened
/// with [`crate::Log::stream`]. After the log is closed its calls return `Error::Closed`
/// (as an `io::Error` through the traits). `Send`, for one thread at a time.
///
/// `Seek` moves anywhere from the oldest byte held on, past the end included (as in a
/// file: reads there return 0 bytes until the log grows that far). `SeekFrom::End` is
/// relative to the end of the visible records at the time of the call. A seek before the
/// oldest byte held, or to a negative position, fails.
pub struct PayloadStream {
    view: Arc<View>,
    /// Byte position of the next byte a read returns.
    pos: u64,
    /// The record holding `pos` (or, when `pos` is at its end, the next record to read),
    /// once found.
    at: Option<At>,
}

/// A record a stream reads from.
struct At {
    seg: SegmentReader,
    id: u64,
    /// Offset of the record in `seg`, and its byte position.
    offset: u64,
    start: u64,
    /// Once the record was decoded (and its checksum checked): where its payload is in the
    /// segment's bytes, its length, and the framed length of the record.
    payload: Option<(usize, usize, u64)>,
}

impl PayloadStream {
    pub(crate) fn new(view: Arc<View>, pos: u64) -> PayloadStream {
        PayloadStream {
            view,
            pos,
            at: None,
        }
    }

    /// Byte position of the next byte a read returns.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// `Closed` once the log is closed (the handle check of the C calls).
    pub(crate) fn check_open(&self) -> Result<()> {
        self.view.check_open()
    }

    /// Moves to byte position `pos`: any position from the oldest byte held on, past the
    /// end of the visible records included. Below it (records removed by retention):
    /// `PositionTruncated`, the position unchanged. Also `Closed`.
    pub fn seek_to(&mut self, pos: u64) -> Result<()> {
        self.view.check_open()?;
        if pos < self.view.segments.first_position() {
            return Err(self.view.position_error(pos, self.view.visible_id()));
        }
        let keep = self.at.as_ref().is_some_and(|at| match at.payload {
            Some((_, len, _)) => (at.start..at.start + len as u64).contains(&pos),
            None => false,
        });
        if !keep {
            self.at = None;
        }
        self.pos = pos;
        Ok(())
    }

    /// Reads up to `max` bytes from the current position, across record boundaries, and
    /// hands them to `sink` in pieces (borrowed from the segment maps), in order. Returns
    /// the number of bytes read: fewer than `max` only at the end of the visible records
    /// (0 there), or before an error, which the next call then returns (so no byte handed
    /// to `sink` goes unreported). Errors: `Closed`, `Corruption`, `Io`, and
    /// `PositionTruncated` or `Truncated` when retention removed the record at the position
    /// before the stream reached it (a record the stream is in stays readable: it keeps
    /// its segment pinned).
    pub fn read_with(&mut self, max: usize, mut sink: impl FnMut(&[u8])) -> Result<usize> {
        self.view.check_open()?;
        let mut n = 0;
        match self.read_into(max, &mut n, &mut sink) {
            Err(e) if n == 0 => Err(e),
            _ => Ok(n),
        }
    }

    /// The body of `read_with`: counts the bytes handed to `sink` in `n` as it goes.
    fn read_into(&mut self, max: usize, n: &mut usize, sink: &mut impl FnMut(&[u8])) -> Result<()> {
        let visible = self.view.visible_id();
        while *n < max {
            if self.at.is_none() {
                let Some(id) = self.view.find_position(self.pos, visible)? else {
                    break; // past the end of the visible records
                };
                if id > visible {
                    break;
                }
                let seg = self.view.pin(id)?;
                let (offset, start) = seg.locate(id)?;
                self.at = Some(At {
                    seg,
                    id,
                    offset,
                    start,
                    payload: None,
                });
            }
            let at = self.at.as_mut().expect("found above");
            if at.id > visible {
                break;
            }
            if !at.seg.may_contain(at.id) {
                let seg = self.view.pin(at.id)?;
                (at.offset, at.start) = seg.locate(at.id)?;
                at.seg = seg;
            }
            let (from, len, framed) = match at.payload {
                Some(p) => p,
                None => {
                    let rec = at.seg.record_at(at.offset, at.id)?;
                    let from = (at.offset + RECORD_HEADER_LEN) as usize;
                    let p = (from, rec.payload.len(), rec.framed_len);
                    at.payload = Some(p);
                    p
                }
            };
            let skip = self
                .pos
                .checked_sub(at.start)
                .map(|s| s as usize)
                .filter(|&s| s <= len)
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "byte position {} is not in record {} (bytes {}..{})",
                        self.pos,
                        at.id,
                        at.start,
                        at.start + len as u64
                    ))
                })?;
            let take = (len - skip).min(max - *n);
            if take > 0 {
                sink(at.seg.slice((from + skip) as u64, take));
                *n += take;
                self.pos += take as u64;
            }
            if skip + take == len {
                at.id += 1;
                at.offset += framed;
                at.start += len as u64;
                at.payload = None;
            }
        }
        Ok(())
    }
}

/// An engine error as an `io::Error` (kept as its source: `get_ref` and `downcast` give it
/// back).
fn io_error(err: Error) -> io::Error {
    let kind = match err {
        Error::PositionNotFound { .. } | Error::PositionTruncated { .. } => {
            io::ErrorKind::InvalidInput
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, err)
}

impl Read for PayloadStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        self.read_with(buf.len(), |piece| {
            buf[filled..filled + piece.len()].copy_from_slice(piece);
            filled += piece.len();
        })
        .map_err(io_error)
    }
}

impl Seek for PayloadStream {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let target = match from {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                let (_, end) = self.view.position_range().map_err(io_error)?;
                end.checked_add_signed(d)
            }
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "seek to {from:?} from byte position {} is out of range",
                    self.pos
                ),
            )
        })?;
        self.seek_to(target).map_err(io_error)?;
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}
