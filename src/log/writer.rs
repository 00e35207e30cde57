//! The write path: appends encode records into the writer's buffer, write-outs hand the
//! buffer to the active segment file with one `write`, group commit makes them durable with
//! one `fdatasync` for every waiting writer, and a full segment is sealed and replaced by
//! the next one (pre-allocated in the background).
//!
//! Record checksums are filled in by whoever writes the buffer out, just before the
//! `write`: for small records the checksum is most of an append's cost, and under `Async`
//! the flusher computes it on another core. Readers never look past the written watermark,
//! so they only ever see fully written records.

use std::fs::File;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::config::{FlushPolicy, Visibility};
use crate::durability::FlushTarget;
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::zero::{self, ZeroWindow};
use crate::log::Inner;
use crate::metrics::{Histograms, Metrics, Trigger};
use crate::segment::file::{create_segment_file, prepare_segment, SegmentFile};
use crate::segment::format::{
    encode_record_unsummed, framed_len, sum_records, RecordChain, SegmentFooter, FOOTER_LEN,
    HEADER_LEN,
};
use crate::sync::lock;

/// Buffered bytes beyond which an appender writes the buffer out itself.
const WRITE_OUT_BYTES: usize = 1 << 20;
/// A buffer grown past this by a huge batch is given back after it is written.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

/// What a write-out returns: the active segment, the id up to which every record is in the
/// files, and the payload bytes appended (since open) up to that id.
pub(crate) type WrittenOut = (Arc<SegmentFile>, u64, u64);

/// State owned by whoever holds the writer lock.
pub(crate) struct Writer {
    pub next_id: u64,
    /// The segment appends go to; the only one the writer knows.
    pub active: Arc<SegmentFile>,
    /// End of the bytes handed to the active segment file (a write-out may still be
    /// copying the last of them).
    pub write_offset: u64,
    /// Encoded records not yet handed to the file; they belong at `write_offset`.
    pub buf: Vec<u8>,
    /// The next segment file, being pre-allocated in the background, and how much of its
    /// start is zero-filled already.
    pub prealloc: Option<mpsc::Receiver<Result<(File, u64)>>>,
    /// How far the active segment is zeroed ahead of the records (see `zero`).
    pub zero: ZeroWindow,
    /// Byte position of the active segment's first record (payload bytes the log held
    /// before it), and payload bytes appended to it so far.
    pub active_first_pos: u64,
    pub active_payload: u64,
    /// Append counters: kept here, under the lock every append holds anyway, rather than
    /// as atomics that would cost each append two more locked instructions.
    pub appends: u64,
    pub append_bytes: u64,
    pub batches: u64,
}

impl Writer {
    pub fn new(
        active: Arc<SegmentFile>,
        write_offset: u64,
        next_id: u64,
        zero: ZeroWindow,
    ) -> Writer {
        Writer {
            next_id,
            active,
            write_offset,
            // Grown on first use: an idle log costs no buffer.
            buf: Vec::new(),
            prealloc: None,
            zero,
            active_first_pos: 0,
            active_payload: 0,
            appends: 0,
            append_bytes: 0,
            batches: 0,
        }
    }

    pub fn end_offset(&self) -> u64 {
        self.write_offset + self.buf.len() as u64
    }
}

impl Inner {
    pub(crate) fn append_records<P: AsRef<[u8]>>(
        &self,
        payloads: &[P],
        batch: bool,
    ) -> Result<u64> {
        let waits = self.options.flush == FlushPolicy::Sync;
        let started = self.view.metrics.hist.start_append(waits);
        let (last, write) = self.append_records_then(payloads, batch, |_| {})?;
        let first = last + 1 - payloads.len() as u64;
        match self.options.flush {
            FlushPolicy::Sync => self.make_durable(last, Trigger::Sync)?,
            _ => self.poke_flusher(last, write),
        }
        Histograms::finish(&self.view.metrics.hist.append_latency, started);
        Ok(first)
    }

    /// Under the background policies: tells the flusher a sync is due if the policy's
    /// count of waiting records is reached, and to write out if `write` (see
    /// `append_records_then`). One wake-up at most.
    pub(crate) fn poke_flusher(&self, last: u64, write: bool) {
        let pending = last.saturating_sub(self.view.durable_id());
        let sync = (self.options.flush.batch_records()).is_some_and(|n| pending >= n);
        self.signal.poke(sync, write);
    }

    /// Appends the records and calls `appended(last id)` under the writer lock, before any
    /// write-out or sync can cover them. Returns the last id, and whether the flusher should
    /// be told to write out (the records were the first in an empty buffer and the appender
    /// did not write them out itself); starts no sync and wakes nobody.
    pub(crate) fn append_records_then<P: AsRef<[u8]>>(
        &self,
        payloads: &[P],
        batch: bool,
        appended: impl FnOnce(u64),
    ) -> Result<(u64, bool)> {
        // The handle before the values, as at the C boundary.
        self.view.check_open()?;
        let max = self.options.record_limit();
        for p in payloads {
            let len = p.as_ref().len() as u64;
            if len > max {
                return Err(Error::RecordTooLarge { len, max });
            }
        }
        let timestamp = fsio::now_us();
        let view = &self.view;
        let (last, was_empty, full) = {
            let mut w = lock(&self.writer);
            view.check_writable()?;
            let was_empty = w.buf.is_empty();
            for p in payloads {
                self.append_locked(&mut w, p.as_ref(), timestamp)?;
            }
            let last = w.next_id - 1;
            view.last_id.store(last, SeqCst);
            w.batches += u64::from(batch);
            appended(last);
            (last, was_empty, w.buf.len() >= WRITE_OUT_BYTES)
        };
        // A reader waiting at the tail sees the record soonest if the appender writes it
        // out itself: one wake-up (of the reader) instead of two (flusher, then reader).
        let tail_waiting =
            self.options.visibility == Visibility::Written && view.written.has_waiters();
        let wrote_out = full || tail_waiting;
        if wrote_out {
            // A failure poisons the log, which completes what `appended` registered.
            self.write_out()?;
        }
        let write = self.options.flush != FlushPolicy::Sync && was_empty && !wrote_out;
        Ok((last, write))
    }

    fn append_locked(&self, w: &mut Writer, payload: &[u8], timestamp: u64) -> Result<()> {
        let framed = framed_len(payload.len() as u64);
        let full = w.end_offset() + framed > w.active.capacity() - FOOTER_LEN;
        if full || w.active.footer().is_some() {
            self.roll(w)?;
        }
        encode_record_unsummed(&mut w.buf, w.next_id, timestamp, payload);
        w.next_id += 1;
        // Per record, so a roll in the middle of a batch counts the records before it.
        w.appends += 1;
        w.append_bytes += payload.len() as u64;
        w.active_payload += payload.len() as u64;
        let end = w.end_offset();
        if w.zero.wants_more(end, self.options.zero_ahead) {
            self.zeroer.wake();
        }
        let pct = u64::from(self.options.preallocate_at_percent);
        if pct > 0 && w.prealloc.is_none() && w.end_offset() * 100 >= w.active.capacity() * pct {
            self.start_preallocation(w);
        }
        Ok(())
    }

    /// Hands the buffered records to the active segment file with one `write`, outside the
    /// writer lock. Returns the segment, the id up to which every record is now in the
    /// files (write-outs are serialised, so no earlier one is still in flight) and the
    /// payload bytes appended up to it.
    pub(crate) fn write_out(&self) -> Result<WrittenOut> {
        let mut spare = lock(&self.io);
        let (seg, offset, last, bytes) = {
            let mut w = lock(&self.writer);
            let last = w.next_id - 1;
            if w.buf.is_empty() {
                return Ok((w.active.clone(), last, w.append_bytes));
            }
            std::mem::swap(&mut w.buf, &mut *spare);
            let offset = w.write_offset;
            w.write_offset += spare.len() as u64;
            self.in_flight.begin();
            (w.active.clone(), offset, last, w.append_bytes)
        };
        // The zeroer may be writing just past the bytes assigned before this swap.
        let end = offset + spare.len() as u64;
        if end > self.zero_fence.load(SeqCst) {
            self.in_flight
                .wait_while(|_| end > self.zero_fence.load(SeqCst));
        }
        self.sum_records(&mut spare);
        let result = seg.write_at(&spare, offset);
        spare.clear();
        if spare.capacity() > KEEP_BUFFER_BYTES {
            spare.shrink_to(64 << 10);
        }
        self.in_flight.end();
        result.map_err(|e| self.view.poison_with(e))?;
        Metrics::add(&self.view.metrics.write_calls, 1);
        self.view.written.advance(last);
        Ok((seg, last, bytes))
    }

    /// Under the writer lock: waits for write-outs in flight, then writes the buffer
    /// itself. Afterwards every appended record is in the active segment file.
    pub(crate) fn write_out_locked(&self, w: &mut Writer) -> Result<()> {
        self.in_flight.wait_while(|n| n > 0);
        self.view.check_poison()?;
        if w.buf.is_empty() {
            return Ok(());
        }
        let seg = w.active.clone();
        self.sum_records(&mut w.buf);
        seg.write_at(&w.buf, w.write_offset)
            .map_err(|e| self.view.poison_with(e))?;
        w.write_offset += w.buf.len() as u64;
        w.buf.clear();
        Metrics::add(&self.view.metrics.write_calls, 1);
        self.view.written.advance(w.next_id - 1);
        Ok(())
    }

    /// Fills in the checksums of a buffer about to be written out and extends the footer's
    /// chain with them. Callers write out in buffer order (see `write_out`).
    fn sum_records(&self, buf: &mut [u8]) {
        match lock(&self.chain).as_mut() {
            Some(chain) => sum_records(buf, |crc| chain.push(crc)),
            None => sum_records(buf, |_| {}),
        }
    }

    /// One round of group commit: write out, then one `fdatasync`, both outside the writer
    /// lock so appenders keep going meanwhile. Returns the id made durable.
    fn sync_once(&self, trigger: Trigger) -> Result<u64> {
        self.linger();
        let (seg, target, bytes) = self.write_out()?;
        let before = self.view.durable_id();
        if target <= before {
            return Ok(target);
        }
        let metrics = &self.view.metrics;
        metrics.count_flush(trigger);
        let started = Instant::now();
        self.sync_segment(&seg)?;
        self.last_sync_ns
            .store(started.elapsed().as_nanos() as u64, SeqCst);
        self.synced(target - before, bytes);
        // Records appended since this round began: those it covered, and those that came
        // during its sync; all of them will want the next round.
        self.round_demand
            .store(self.view.last_id() - before, SeqCst);
        Ok(target)
    }

    /// `fdatasync` of a segment file; a failure poisons the log. Serialised with the
    /// poison check (see `sync_lock`), counted and timed.
    pub(crate) fn sync_segment(&self, seg: &SegmentFile) -> Result<()> {
        let _serial = lock(&self.sync_lock);
        self.view.check_poison()?;
        self.timed_sync(|| seg.sync())
    }

    /// Runs one sync of the log (`fdatasync`, or a seal's), under `sync_lock`: counts it,
    /// times it, and poisons the log if it fails.
    fn timed_sync(&self, sync: impl FnOnce() -> Result<()>) -> Result<()> {
        let metrics = &self.view.metrics;
        let started = metrics.hist.start();
        if let Err(e) = sync() {
            Metrics::add(&metrics.flushes_failed, 1);
            return Err(self.view.poison_with(e));
        }
        Histograms::finish(&metrics.hist.sync_latency, started);
        Metrics::add(&metrics.syncs, 1);
        Ok(())
    }

    /// After a sync that made `records` more records durable, the first `bytes` payload
    /// bytes appended since open being durable: the flushed totals and per-sync sizes.
    pub(crate) fn synced(&self, records: u64, bytes: u64) {
        let before = self.durable_bytes.fetch_max(bytes, SeqCst);
        let hist = &self.view.metrics.hist;
        hist.record(&hist.sync_records, records);
        hist.record(&hist.sync_bytes, bytes.saturating_sub(before));
    }

    /// Before a `Sync` group-commit round, when several writers wanted the last one: give
    /// the writers the last round just woke a moment to append again, so that one
    /// `fdatasync` covers them all. Without it the writers split into two cohorts that
    /// take turns, each round carrying half of them (measured: 16 writers, ~8 records per
    /// round; with it ~16, and 1.3x the throughput).
    ///
    /// Stops once as many records are waiting as the last round's demand, once none arrived
    /// for `QUIET`, or after as long as the last `fdatasync` took: a lone writer never
    /// waits, and a round never waits longer than the sync it shares.
    fn linger(&self) {
        // Waking a writer and having it append takes ~3–4 µs of a core here; 40 µs of
        // silence means the others are not coming.
        const QUIET: Duration = Duration::from_micros(40);
        const MAX: Duration = Duration::from_micros(500);
        let demand = self.round_demand.load(SeqCst);
        if self.options.flush != FlushPolicy::Sync || demand < 2 {
            return;
        }
        let cap = Duration::from_nanos(self.last_sync_ns.load(SeqCst)).min(MAX);
        let durable = self.view.durable_id();
        let start = Instant::now();
        let mut seen = self.view.last_id();
        let mut quiet_since = start;
        loop {
            if seen.saturating_sub(durable) >= demand {
                return;
            }
            std::thread::yield_now();
            let now = Instant::now();
            let last = self.view.last_id();
            if last != seen {
                seen = last;
                quiet_since = now;
            } else if now - quiet_since >= QUIET || now - start >= cap {
                return;
            }
        }
    }

    pub(crate) fn make_durable(&self, target: u64, trigger: Trigger) -> Result<()> {
        self.view.commit.make_durable(
            target,
            || self.view.check_writable(),
            || self.sync_once(trigger),
        )
    }

    /// Seals the active segment and starts the next one. Runs under the writer lock: the
    /// appenders behind it wait for two syncs, once per segment.
    ///
    /// Failing to create the next segment (no space, say) loses nothing: the error goes to
    /// the appender and the next append tries again. A failed sync poisons the log.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        self.wait_for_archive()?;
        self.write_out_locked(w)?;
        let sealed = match w.active.footer() {
            Some(footer) => *footer,
            None => self.seal(w)?,
        };
        let tmp = self.layout.next_segment_tmp();
        let prepared = match w.prealloc.take().map(|rx| rx.recv()) {
            Some(Ok(Ok(prepared))) => Some(prepared),
            // The pre-allocation failed: tried again below, and its error, if it persists,
            // goes to the appender.
            Some(Ok(Err(_))) | None => None,
            // Its task panicked and poisoned the log.
            Some(Err(_)) => {
                self.view.check_writable()?;
                None
            }
        };
        let (file, zeroed) = match prepared {
            Some(prepared) => prepared,
            None => (create_segment_file(&tmp, self.options.segment_size, 0)?, 0),
        };
        let path = self.layout.segment(w.next_id);
        let seg = prepare_segment(file, &tmp, path, w.next_id, self.options.segment_size)?;
        fsio::fsync_dir(self.layout.dir()).map_err(|e| self.view.poison_with(e))?;
        Metrics::add(&self.view.metrics.segments_created, 1);
        // Both files are durable: now the catalogue says so (one commit).
        let next_pos = w.active_first_pos + w.active_payload;
        self.catalog
            .roll(&w.active, &sealed, w.active_payload, &seg, next_pos)
            .map_err(|e| self.view.poison_with(e))?;
        w.active_first_pos = next_pos;
        w.active_payload = 0;
        if self.options.retention.is_bounded() || self.options.tiering.compresses() {
            self.retention.wake();
        }
        let seg = Arc::new(seg);
        self.view.segments.push_active(seg.clone(), next_pos);
        w.active = seg;
        w.write_offset = HEADER_LEN;
        *lock(&self.chain) = Some(RecordChain::default());
        w.zero.restart(&self.options, zeroed.max(zero::PAGE));
        Ok(())
    }

    /// Seals the active segment now if it holds a record, and starts the next one. True if
    /// it did.
    pub(crate) fn seal_active(&self) -> Result<bool> {
        self.view.check_open()?;
        let mut w = lock(&self.writer);
        self.view.check_writable()?;
        if w.next_id == w.active.base_id() {
            return Ok(false);
        }
        self.roll(&mut w)?;
        Ok(true)
    }

    /// Writes the footer of the active segment and syncs it; every record in it is then
    /// durable. Returns the footer.
    pub(crate) fn seal(&self, w: &mut Writer) -> Result<SegmentFooter> {
        let seg = &w.active;
        let data_end = w.write_offset;
        let records_crc = match lock(&self.chain).take() {
            Some(chain) => chain.value(),
            None => seg.records_chain(data_end)?,
        };
        let footer = SegmentFooter {
            record_count: w.next_id - seg.base_id(),
            first_id: seg.base_id(),
            last_id: w.next_id - 1,
            data_end,
            records_crc,
        };
        {
            // The seal's sync is one of the log's syncs: serialised with the poison check.
            let _serial = lock(&self.sync_lock);
            self.view.check_poison()?;
            self.view.metrics.count_flush(Trigger::Forced);
            self.timed_sync(|| seg.seal(footer))?;
        }
        Metrics::add(&self.view.metrics.segments_sealed, 1);
        self.view.segments.mark_sealed(seg.base_id());
        let records = footer.last_id.saturating_sub(self.view.durable_id());
        self.synced(records, w.append_bytes);
        self.view.commit.advance(footer.last_id);
        Ok(footer)
    }

    fn start_preallocation(&self, w: &mut Writer) {
        let (tx, rx) = mpsc::channel();
        let tmp = self.layout.next_segment_tmp();
        let size = self.options.segment_size;
        let zero = match self.options.zero_ahead {
            n if n > 0 && w.zero.pays() => zero::page_up(n).min(size - FOOTER_LEN),
            _ => 0,
        };
        let inner = self.weak_self.clone();
        self.runtime.spawn_blocking(move || {
            let job = std::panic::catch_unwind(|| {
                fail::fail_point!("background::prealloc");
                create_segment_file(&tmp, size, zero).map(|f| (f, zero))
            });
            match job {
                Ok(result) => {
                    let _ = tx.send(result);
                }
                // Dropping `tx` tells the roll; the log is poisoned first, so the roll
                // reports why.
                Err(payload) => {
                    if let Some(inner) = inner.upgrade() {
                        let msg = crate::durability::panic_message(payload.as_ref());
                        inner.fail_in_background(
                            "segment pre-allocation",
                            &Error::Internal(format!("panicked: {msg}")),
                        );
                    }
                }
            }
        });
        w.prealloc = Some(rx);
    }
}

impl FlushTarget for Inner {
    fn write_out(&self) -> Result<()> {
        if self.view.is_closed() {
            return Ok(());
        }
        fail::fail_point!("background::write_out");
        Inner::write_out(self).map(|_| ())
    }

    fn sync_all(&self, trigger: Trigger) -> Result<()> {
        fail::fail_point!("background::sync");
        self.make_durable(self.view.last_id(), trigger)
    }

    fn has_unsynced(&self) -> bool {
        self.view.last_id() > self.view.durable_id()
    }

    fn background_failed(&self, task: &str, err: &Error) {
        self.fail_in_background(task, err);
    }
}
