//! Ordered scans across segments, and tailing.
//!
//! A cursor walks records by offset inside a segment (no index needed for a scan) and
//! looks the next segment up by id when it leaves one. It never reads past the visible
//! watermark, so it only sees fully written records. It carries each record's byte
//! position as the running sum of payload lengths from the position the segment's index
//! gives where it starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::durability::WaitEnd;
use crate::error::{Error, Result};
pub use crate::log::view::Record;
use crate::log::view::View;
use crate::runtime;
use crate::segment::set::SegmentReader;

/// The longest busy-poll [`Cursor::set_spin`] accepts: one second. Longer spins only burn
/// a core; a wait that long is better spent asleep.
pub const MAX_SPIN: Duration = Duration::from_secs(1);

/// A cursor over a log. It keeps what readers share alive (and pins the segment it is in);
/// after the log is closed its calls return `Error::Closed`. `Send`, for one thread at a
/// time.
pub struct Cursor {
    view: Arc<View>,
    next_id: u64,
    segment: Option<SegmentReader>,
    /// Offset of `next_id` in `segment`, and its byte position.
    offset: u64,
    pos: u64,
    /// How long `wait` busy-polls before it sleeps (`set_spin`).
    spin: Duration,
    /// Records and payload bytes returned but not yet added to the log's read counters:
    /// they are added every `COUNT_EVERY` records, at the end of the visible records and on
    /// drop, rather than with two atomic adds per record (a fifth of a 64 B scan).
    uncounted: (u64, u64),
    /// Set when `wait` slept for a record at the tail: the next record returned is timed
    /// from its append (the writer-to-tailing-reader latency).
    waited: bool,
}

const COUNT_EVERY: u64 = 1024;

impl Cursor {
    pub(crate) fn new(inner: Arc<View>, next_id: u64) -> Cursor {
        Cursor {
            view: inner,
            next_id,
            segment: None,
            offset: 0,
            pos: 0,
            spin: Duration::ZERO,
            uncounted: (0, 0),
            waited: false,
        }
    }

    /// The next record, or `None` at the end of the visible records.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        self.view.check_open()?;
        let id = self.next_id;
        // The watermark first: a segment sealed before `id` became visible is seen as
        // sealed below, so `may_contain` cannot send us into the wrong segment.
        if id > self.view.visible_id() {
            count_reads(&self.view, &mut self.uncounted);
            return Ok(None);
        }
        if !self.segment.as_ref().is_some_and(|s| s.may_contain(id)) {
            let seg = self.view.noted(self.view.pin(id))?;
            (self.offset, self.pos) = self.view.noted(seg.locate(id))?;
            self.segment = Some(seg);
        }
        let seg = self.segment.as_ref().expect("set above");
        let rec = self.view.noted(seg.record_at(self.offset, id))?;
        let position = self.pos;
        self.offset += rec.framed_len;
        self.pos += rec.payload.len() as u64;
        self.next_id += 1;
        self.uncounted.0 += 1;
        self.uncounted.1 += rec.payload.len() as u64;
        if self.uncounted.0 >= COUNT_EVERY {
            count_reads(&self.view, &mut self.uncounted);
        }
        if std::mem::take(&mut self.waited) {
            // Both wall-clock microseconds: the record's timestamp is taken at its append.
            let hist = &self.view.metrics.hist;
            let lag_us = crate::fsio::now_us().saturating_sub(rec.timestamp_us);
            hist.record(&hist.tail_latency, lag_us * 1000);
        }
        Ok(Some(Record {
            id,
            timestamp_us: rec.timestamp_us,
            data: rec.payload,
            position,
        }))
    }

    /// Waits until `next` has a record (`Ok(true)`) or the timeout passes (`Ok(false)`).
    /// `None` waits without limit; `Some(Duration::ZERO)` only checks. With a spin set
    /// ([`Cursor::set_spin`]) it busy-polls for up to that long (never past the timeout)
    /// before it sleeps.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.view.check_open()?;
        if self.view.visible_id() >= self.next_id {
            return Ok(true);
        }
        // Nothing becomes visible after poison: say so instead of waiting for nothing.
        self.view.check_writable()?;
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        runtime::ensure_outside()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let view = &self.view;
        let stop = || view.is_closed() || view.is_poisoned();
        match view
            .visible_mark()
            .wait_spinning(self.next_id, deadline, self.spin, stop)
        {
            Ok(()) => {
                self.waited = true;
                Ok(self.view.visible_id() >= self.next_id)
            }
            Err(WaitEnd::TimedOut) => Ok(false),
            Err(WaitEnd::Interrupted) => self.view.check_writable().map(|()| false),
        }
    }

    /// The id `next` returns next. (An id, not a byte position: records carry theirs in
    /// [`Record::position`].)
    pub fn position(&self) -> u64 {
        self.next_id
    }

    /// `Closed` once the log is closed (the handle check of the C calls).
    pub(crate) fn check_open(&self) -> Result<()> {
        self.view.check_open()
    }

    /// Makes [`Cursor::wait`] busy-poll for up to `spin` before it sleeps. Trades a core
    /// (spinning at 100 % while it polls) for wake-up latency: a record that lands during
    /// the spin is seen within a few microseconds, instead of after the futex wake-up of a
    /// sleeping thread (tens of microseconds or more). Useful when records arrive more
    /// often than the spin, so the reader is usually polling when one lands; otherwise it
    /// only burns CPU before sleeping anyway. Zero (the default) never spins. Close and
    /// poison still end a spinning wait within microseconds.
    ///
    /// At most [`MAX_SPIN`] (one second): longer is `Error::InvalidArgument`, and the
    /// spin is unchanged. `Error::Closed` after the log is closed.
    pub fn set_spin(&mut self, spin: Duration) -> Result<()> {
        self.view.check_open()?;
        if spin > MAX_SPIN {
            return Err(Error::InvalidArgument(format!(
                "cursor spin {spin:?} is above the maximum of {MAX_SPIN:?}"
            )));
        }
        self.spin = spin;
        Ok(())
    }

    /// How long [`Cursor::wait`] busy-polls before it sleeps (see [`Cursor::set_spin`]).
    pub fn spin(&self) -> Duration {
        self.spin
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        count_reads(&self.view, &mut self.uncounted);
    }
}

fn count_reads(view: &View, uncounted: &mut (u64, u64)) {
    let (records, bytes) = std::mem::take(uncounted);
    if records > 0 {
        view.metrics.add_reads(records, bytes);
    }
}
