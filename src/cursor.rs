//! Ordered scans across segments, and tailing.
//!
//! A cursor walks records by offset inside a segment (no index needed for a scan) and
//! looks the next segment up by id when it leaves one. It never reads past the visible
//! watermark, so it only sees fully written records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::flush::WaitEnd;
use crate::log::Inner;
use crate::runtime;
use crate::segment::Segment;

/// A record borrowed from the log: valid until the next call on the cursor it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub id: u64,
    pub timestamp_us: u64,
    pub data: &'a [u8],
}

/// A cursor over a log. It keeps the log's engine alive; after the log is closed its calls
/// return `Error::Closed`. `Send`, for one thread at a time.
pub struct Cursor {
    inner: Arc<Inner>,
    next_id: u64,
    segment: Option<Arc<Segment>>,
    /// Offset of `next_id` in `segment`.
    offset: u64,
}

impl Cursor {
    pub(crate) fn new(inner: Arc<Inner>, next_id: u64) -> Cursor {
        Cursor {
            inner,
            next_id,
            segment: None,
            offset: 0,
        }
    }

    /// The next record, or `None` at the end of the visible records.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        self.inner.check_open()?;
        let id = self.next_id;
        // The watermark first: a segment sealed before `id` became visible is seen as
        // sealed below, so `may_contain` cannot send us into the wrong segment.
        if id > self.inner.visible_id() {
            return Ok(None);
        }
        if !self.segment.as_ref().is_some_and(|s| s.may_contain(id)) {
            let seg = self.inner.segment_for(id)?;
            self.offset = seg.offset_of(id)?;
            self.segment = Some(seg);
        }
        let seg = self.segment.as_deref().expect("set above");
        let rec = seg.record_at(self.offset, id)?;
        self.offset += rec.framed_len;
        self.next_id += 1;
        self.inner.count_read(rec.payload.len());
        Ok(Some(Record {
            id,
            timestamp_us: rec.timestamp_us,
            data: rec.payload,
        }))
    }

    /// Waits until `next` has a record (`Ok(true)`) or the timeout passes (`Ok(false)`).
    /// `None` waits without limit; `Some(Duration::ZERO)` only checks.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.inner.check_open()?;
        if self.inner.visible_id() >= self.next_id {
            return Ok(true);
        }
        // Nothing becomes visible after poison: say so instead of waiting for nothing.
        self.inner.check_writable()?;
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        runtime::ensure_outside()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let inner = &self.inner;
        match inner.visible_mark().wait_for(self.next_id, deadline, || {
            inner.is_closed() || inner.is_poisoned()
        }) {
            Ok(()) => Ok(self.inner.visible_id() >= self.next_id),
            Err(WaitEnd::TimedOut) => Ok(false),
            Err(WaitEnd::Interrupted) => self.inner.check_writable().map(|()| false),
        }
    }

    /// The id `next` returns next.
    pub fn position(&self) -> u64 {
        self.next_id
    }
}
