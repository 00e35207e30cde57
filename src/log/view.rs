//! What readers share with the writer: the segment set, the watermarks that say which ids
//! are written and durable, whether the log is closed or poisoned, and the counters. Reads
//! by id and cursors go through here and never touch the writer's state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};

use crate::completion::Outcome;
use crate::config::Visibility;
use crate::durability::{GroupCommit, Watermark};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::segment::set::{SegmentReader, SegmentSet};
use crate::sync::Padded;

/// A record borrowed from the log: valid until the next call on the cursor it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub id: u64,
    pub timestamp_us: u64,
    pub data: &'a [u8],
    /// The record's byte position: the payload bytes the log held before it (all the
    /// records before it, those removed since included). Records of 0 bytes share their
    /// position with the record after them.
    pub position: u64,
}

pub(crate) struct View {
    visibility: Visibility,
    /// Every segment of the log.
    pub segments: SegmentSet,
    /// Highest id whose bytes are in the segment file.
    pub written: Watermark,
    /// Durable watermark and group commit.
    pub commit: GroupCommit,
    /// Highest id appended.
    pub last_id: Padded<AtomicU64>,
    closed: AtomicBool,
    poison: OnceLock<String>,
    pub metrics: Metrics,
    /// Why the last move between tiers failed in the background (`tier_failures`).
    last_tier_error: std::sync::Mutex<Option<String>>,
}

impl View {
    /// Counts a move between tiers that failed in the background without changing
    /// anything (it is tried again), and keeps why for `last_tier_error`.
    pub fn tier_failed(&self, err: &Error) {
        Metrics::add(&self.metrics.tier_failures, 1);
        *crate::sync::lock(&self.last_tier_error) = Some(err.to_string());
    }

    /// Why the last background move between tiers failed, if one did.
    pub fn last_tier_error(&self) -> Option<String> {
        crate::sync::lock(&self.last_tier_error).clone()
    }

    pub fn new(visibility: Visibility, segments: SegmentSet, last_id: u64) -> View {
        View {
            visibility,
            segments,
            written: Watermark::new(last_id),
            commit: GroupCommit::new(last_id),
            last_id: Padded(AtomicU64::new(last_id)),
            closed: AtomicBool::new(false),
            poison: OnceLock::new(),
            last_tier_error: std::sync::Mutex::new(None),
            metrics: Metrics::default(),
        }
    }

    pub fn last_id(&self) -> u64 {
        self.last_id.load(SeqCst)
    }

    pub fn durable_id(&self) -> u64 {
        self.commit.durable.get()
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// Marks the log closed; true if it already was.
    pub fn set_closed(&self) -> bool {
        self.closed.swap(true, SeqCst)
    }

    pub fn is_poisoned(&self) -> bool {
        self.poison.get().is_some()
    }

    /// `Poisoned` with the first failure's message, if the log is poisoned.
    pub fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.check_poison()
    }

    /// Marks the log unusable for writes after a failed write or sync and wakes every
    /// waiter so it sees the status. Never retried: after a failed fsync the kernel may have
    /// dropped the dirty pages. The first failure's message is the one kept.
    pub fn poison_with(&self, err: Error) -> Error {
        let _ = self.poison.set(err.to_string());
        self.commit.wake_all();
        self.fail_pending();
        self.written.wake_all();
        err
    }

    /// Completes every registered asynchronous append with the poison, if poisoned. Also
    /// called by an append that registered after checking: the poison may have come
    /// between its check and its registration.
    pub fn fail_pending(&self) {
        if let Some(why) = self.poison.get() {
            let outcome = Outcome::Poisoned(Arc::from(why.as_str()));
            self.commit.pending.fail_all(&outcome);
        }
    }

    /// Wakes every waiter (close, poison) so it re-checks why it waits.
    pub fn wake_all(&self) {
        self.commit.wake_all();
        self.written.wake_all();
    }

    pub fn visible_mark(&self) -> &Watermark {
        match self.visibility {
            Visibility::Written => &self.written,
            Visibility::Durable => &self.commit.durable,
        }
    }

    /// Highest id readers may see. Once poisoned, nothing beyond the durable id: those
    /// records may never reach the disk.
    pub fn visible_id(&self) -> u64 {
        let visible = self.visible_mark().get();
        if self.poison.get().is_some() {
            visible.min(self.commit.durable.get())
        } else {
            visible
        }
    }

    /// Id of the oldest record held.
    pub fn first_id(&self) -> u64 {
        self.segments.first_id()
    }

    /// `last` is the visible id the caller decided on, so the error agrees with the refusal.
    pub fn not_found(&self, id: u64, last: u64) -> Error {
        Error::NotFound {
            id,
            first: self.first_id(),
            last,
        }
    }

    /// The segment that holds `id` (which the caller knows is visible), pinned. An id
    /// below the oldest retained one is `Truncated`, also when retention removes its
    /// segment while this call opens it.
    pub fn pin(&self, id: u64) -> Result<SegmentReader> {
        match self.segments.pin(id) {
            Ok(Some(seg)) => Ok(seg),
            Ok(None) => Err(self.truncated(id)),
            Err(_) if id < self.first_id() => Err(self.truncated(id)),
            Err(e) => Err(e),
        }
    }

    /// `Truncated` for `id`, naming the oldest id available.
    pub fn truncated(&self, id: u64) -> Error {
        Error::Truncated {
            id,
            first: self.first_id(),
        }
    }

    /// Calls `f` with record `id` if it is visible, borrowed from its pinned segment.
    pub fn read_with<R>(&self, id: u64, f: impl FnOnce(Record<'_>) -> R) -> Result<R> {
        self.check_open()?;
        let visible = self.visible_id();
        if id == 0 || id > visible {
            return Err(self.not_found(id, visible));
        }
        if id < self.first_id() {
            return Err(self.truncated(id));
        }
        let seg = self.noted(self.pin(id))?;
        let (offset, position) = self.noted(seg.locate(id))?;
        let rec = self.noted(seg.record_at(offset, id))?;
        self.metrics.add_reads(1, rec.payload.len() as u64);
        Ok(f(Record {
            id,
            timestamp_us: rec.timestamp_us,
            data: rec.payload,
            position,
        }))
    }

    /// `r`, having counted it in `corruption_detected` if it is a `Corruption`.
    pub fn noted<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(Error::Corruption { .. }) = &r {
            Metrics::add(&self.metrics.corruption_detected, 1);
        }
        r
    }

    /// Byte position of visible record `id`.
    pub fn position_of(&self, id: u64) -> Result<u64> {
        self.check_open()?;
        let visible = self.visible_id();
        if id == 0 || id > visible {
            return Err(self.not_found(id, visible));
        }
        Ok(self.pin(id)?.locate(id)?.1)
    }

    /// End of the visible records: the byte position of the record after the last visible
    /// one (`visible`, loaded by the caller).
    pub fn end_position(&self, visible: u64) -> Result<u64> {
        if visible < self.first_id() {
            return Ok(self.segments.first_position());
        }
        let seg = self.pin(visible)?;
        let (offset, position) = seg.locate(visible)?;
        let rec = seg.record_at(offset, visible)?;
        Ok(position + rec.payload.len() as u64)
    }

    /// Byte positions a cursor or stream may start at: from the oldest record held to the
    /// end of the visible records (both included).
    pub fn position_range(&self) -> Result<(u64, u64)> {
        self.check_open()?;
        let visible = self.visible_id();
        Ok((self.segments.first_position(), self.end_position(visible)?))
    }

    /// The id of the first record at or after byte position `pos`: the record whose
    /// payload holds the byte at `pos`, or else the first record starting at or after it.
    /// A record of 0 bytes at `pos` thus comes before the record that starts there. At the
    /// end of the visible records: the id the next visible record will have. A position
    /// past that end: `PositionNotFound`; before the oldest record held:
    /// `PositionTruncated`.
    pub fn id_at_position(&self, pos: u64) -> Result<u64> {
        self.check_open()?;
        let visible = self.visible_id();
        match self.find_position(pos, visible)? {
            Some(id) => Ok(id),
            None => Err(self.position_error(pos, visible)),
        }
    }

    /// As [`View::id_at_position`], with the visible id loaded by the caller, and `None`
    /// for a position past the end of the visible records.
    pub fn find_position(&self, pos: u64, visible: u64) -> Result<Option<u64>> {
        let removed = || pos < self.segments.first_position();
        if removed() {
            return Err(self.position_error(pos, visible));
        }
        let seg = match self.segments.pin_at_position(pos) {
            Ok(Some(seg)) => seg,
            Ok(None) => return Ok(None),
            // Retention removed the segment while this call opened it.
            Err(_) if removed() => return Err(self.position_error(pos, visible)),
            Err(e) => return Err(e),
        };
        if pos < seg.first_pos() {
            // Retention removed the segments before `seg` since the check above.
            return Err(self.position_error(pos, visible));
        }
        if let Some(id) = seg.id_at_or_after(pos, visible)? {
            return Ok(Some(id));
        }
        // Every visible record of that segment ends at or before `pos`: the answer is the
        // first record after them, if `pos` is not past it.
        let next = seg.end_id().unwrap_or(u64::MAX);
        let next = next.min(visible + 1);
        if next > visible && pos > self.end_position(visible)? {
            return Ok(None);
        }
        Ok(Some(next))
    }

    /// The error for a position no record is at or after: `PositionTruncated` below the
    /// oldest record held, else `PositionNotFound` (past the end of the visible records),
    /// with the range of positions that are there.
    pub fn position_error(&self, pos: u64, visible: u64) -> Error {
        let first = self.segments.first_position();
        if pos < first {
            return Error::PositionTruncated {
                position: pos,
                first,
            };
        }
        Error::PositionNotFound {
            position: pos,
            first,
            end: self.end_position(visible).unwrap_or(first),
        }
    }
}
