//! Zero-filling segment space ahead of the writer.
//!
//! Segment files are reserved with `fallocate`, which leaves unwritten extents: the first
//! `fdatasync` after records land in one must also commit the extent's conversion to the
//! file system's journal. An `fdatasync` after overwriting blocks that already hold data
//! only writes the data; on this project's ext4 machines that is ~90 µs against ~160 µs
//! (the bench prints both in its header). So a background task keeps the next
//! `Options::zero_ahead` bytes of the active segment written with zeros and synced, and the
//! appenders' syncs find written blocks. Recovery is unchanged: zeros end the records.
//!
//! Two rules keep the zeroer off the records:
//! - it zeroes only offsets no record has been given yet (at or past the writer's end, read
//!   under the writer lock), and while it writes, the log's `zero_fence` holds the start of
//!   its range: a write-out that reaches past the fence waits until the zeros are in;
//! - it counts as a write-out in flight, so a roll, seal or close (which wait for none in
//!   flight under the writer lock) never overlaps it.
//!
//! It syncs through its own file descriptor: a writeback error is reported once per open
//! file description, so a failure it sees is still reported to the appenders' `fdatasync`
//! on the log's descriptor. It poisons the log as well, as any failed sync does.

use std::fs::File;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use crate::config::{FlushPolicy, Options};
use crate::durability::join_message;
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::Inner;
use crate::metrics::Metrics;
use crate::segment::format::{FOOTER_LEN, RECORD_HEADER_LEN};
use crate::sync::{lock, TaskSignal};

/// Zeros are written and synced in pieces of at most this size, so a write-out waits for
/// at most one piece when it catches up with the zeroer.
pub const CHUNK: u64 = fsio::ZERO_CHUNK;

/// Size of the pages the file system converts extents in; zeroed ranges start on one.
pub const PAGE: u64 = 4096;

/// Rounds `offset` up to a page boundary.
pub fn page_up(offset: u64) -> u64 {
    offset.div_ceil(PAGE) * PAGE
}

/// Zeroing writes every segment twice; it pays only while syncs are frequent compared with
/// the bytes appended. Measured with the bench (Sync, 3 × 1 s): 16 writers of 64 B–1 KiB
/// records (1–15 KiB per sync) gained 20–45 %; one writer of 16 KiB records 55 % and of
/// 64 KiB records 0.56× → 1.1× okaywal (which zero-fills too); 16 writers of 16 KiB
/// records (~230 KiB per sync) neither gained nor lost; 16 writers of 64 KiB records
/// (~1 MiB per sync) lost ~30 % to the doubled writes. So the zeroer keeps going only
/// while at most this many bytes are appended per sync.
pub const MAX_BYTES_PER_SYNC: u64 = 256 << 10;

/// Bytes appended (or syncs done) between two decisions.
const DECIDE_BYTES: u64 = 1 << 20;
const DECIDE_SYNCS: u64 = 64;

/// Decides, from the bytes appended and the syncs done so far, whether zeroing pays.
#[derive(Debug)]
pub struct Payoff {
    bytes: u64,
    syncs: u64,
    pays: bool,
}

impl Payoff {
    /// `pays`: the guess before anything was measured.
    pub fn new(pays: bool) -> Self {
        Payoff {
            bytes: 0,
            syncs: 0,
            pays,
        }
    }

    pub fn pays(&self) -> bool {
        self.pays
    }

    /// Takes the running totals; decides again once enough happened since the last time.
    pub fn update(&mut self, bytes: u64, syncs: u64) -> bool {
        let (db, ds) = (bytes - self.bytes, syncs - self.syncs);
        if db >= DECIDE_BYTES || ds >= DECIDE_SYNCS {
            self.pays = ds > 0 && db / ds <= MAX_BYTES_PER_SYNC;
            self.bytes = bytes;
            self.syncs = syncs;
        }
        self.pays
    }
}

/// How far the active segment is zeroed ahead of the writer, and whether zeroing pays.
/// Lives in the writer's state, under the writer lock.
#[derive(Debug)]
pub struct ZeroWindow {
    /// The active segment is written with zeros up to here; `u64::MAX` when there is
    /// nothing (more) to zero in it (zeroing off, or the segment done).
    end: u64,
    /// The zeroer was asked to extend `end` and has not finished yet.
    requested: bool,
    /// Whether zeroing pays for the workload seen lately.
    payoff: Payoff,
}

impl ZeroWindow {
    /// The window of a segment zeroed up to `zeroed`.
    pub fn new(options: &Options, zeroed: u64) -> ZeroWindow {
        ZeroWindow {
            end: Self::start(options, zeroed),
            requested: false,
            payoff: Payoff::new(options.flush == FlushPolicy::Sync),
        }
    }

    fn start(options: &Options, zeroed: u64) -> u64 {
        if options.zero_ahead == 0 {
            u64::MAX
        } else {
            zeroed
        }
    }

    /// A new active segment, zeroed up to `zeroed` by its pre-allocation.
    pub fn restart(&mut self, options: &Options, zeroed: u64) {
        self.end = Self::start(options, zeroed);
    }

    /// After an append ending at `end_offset`: whether to wake the zeroer (once per
    /// request). `end` is u64::MAX when zeroing is off or done, so this is one compare.
    pub fn wants_more(&mut self, end_offset: u64, zero_ahead: u64) -> bool {
        if end_offset + zero_ahead / 2 > self.end && !self.requested {
            self.requested = true;
            return true;
        }
        false
    }

    pub fn pays(&self) -> bool {
        self.payoff.pays()
    }

    /// The next range to zero in a segment whose records end at `end_offset` and may reach
    /// `limit`, or `None` when the window is full, the segment is done, or zeroing does
    /// not pay now (then the part of the window it would have covered is skipped, and
    /// decided again once the writer is halfway through it). `framed` and `syncs` are the
    /// log's running totals of bytes appended and syncs.
    fn next_range(
        &mut self,
        end_offset: u64,
        limit: u64,
        zero_ahead: u64,
        framed: u64,
        syncs: u64,
    ) -> Option<(u64, u64)> {
        let from = self.end.max(page_up(end_offset));
        let wanted = end_offset + page_up(zero_ahead);
        if from >= limit {
            self.end = u64::MAX;
            return None;
        }
        if from >= wanted {
            return None;
        }
        if !self.payoff.update(framed, syncs) {
            self.end = wanted;
            return None;
        }
        let piece = CHUNK.min(page_up(zero_ahead));
        Some((from, (from + piece).min(limit)))
    }

    /// Zeroed up to `to` (`None`: given up on this segment).
    fn zeroed(&mut self, to: Option<u64>) {
        if self.end != u64::MAX {
            self.end = to.map_or(u64::MAX, |to| self.end.max(to));
        }
    }
}

/// The zeroer's own descriptor of one segment file, keyed by the segment's base id.
struct OwnFile {
    base_id: u64,
    file: File,
}

/// The zeroer of one log: wakes on a poke and zeroes until the window is full. The writes
/// and syncs run on the blocking pool.
pub async fn run_zeroer(inner: Arc<Inner>, signal: Arc<TaskSignal>) {
    let mut own: Option<OwnFile> = None;
    loop {
        if signal.is_stopped() {
            return;
        }
        fail::fail_point!("background::zeroer");
        let t = inner.clone();
        let s = signal.clone();
        let step = tokio::task::spawn_blocking(move || {
            let mut own = own;
            let mut result = Ok(());
            while !s.is_stopped() {
                match t.zero_step(&mut own) {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            (own, result)
        });
        match step.await {
            Ok((kept, Ok(()))) => own = kept,
            Ok((_, Err(e))) => {
                inner.fail_in_background("zero-ahead", &e);
                return;
            }
            Err(join) => {
                inner.fail_in_background("zero-ahead", &Error::Internal(join_message(join)));
                return;
            }
        }
        signal.woken().await;
    }
}

impl Inner {
    /// After a zero step on segment `base_id`: zeroed up to `to` (`None`: given up on it).
    fn zeroed(&self, base_id: u64, to: Option<u64>) {
        let mut w = lock(&self.writer);
        if w.active.base_id() == base_id {
            w.zero.zeroed(to);
        }
    }

    /// Zeroes and syncs the next piece of the window through `own`, the zeroer's file
    /// descriptor (opened for the segment it names). Returns false when the window is full.
    fn zero_step(&self, own: &mut Option<OwnFile>) -> Result<bool> {
        fail::fail_point!("background::zeroer_step");
        let (seg, from, to) = {
            let mut w = lock(&self.writer);
            let view = &self.view;
            let segment_done = w.active.footer().is_some();
            let next = if view.is_closed() || view.is_poisoned() || segment_done {
                None
            } else {
                let (end, limit) = (w.end_offset(), w.active.capacity() - FOOTER_LEN);
                let framed = w.append_bytes + w.appends * RECORD_HEADER_LEN;
                let syncs = Metrics::get(&view.metrics.syncs);
                w.zero
                    .next_range(end, limit, self.options.zero_ahead, framed, syncs)
            };
            let Some((from, to)) = next else {
                w.zero.requested = false;
                return Ok(false);
            };
            // Under the writer lock, before any record is given an offset past `from`.
            self.zero_fence.store(from, SeqCst);
            self.in_flight.begin();
            (w.active.clone(), from, to)
        };
        if own.as_ref().map(|o| o.base_id) != Some(seg.base_id()) {
            *own = fsio::open_file(seg.path()).ok().map(|file| OwnFile {
                base_id: seg.base_id(),
                file,
            });
        }
        let result = own
            .as_ref()
            .map(|o| fsio::write_zeros(&o.file, seg.path(), from, to));
        self.zero_fence.store(u64::MAX, SeqCst);
        self.in_flight.end();
        match (result, own.as_ref()) {
            (Some(written), Some(o)) => {
                written
                    .and_then(|()| fsio::fdatasync(&o.file, seg.path()))
                    .map_err(|e| self.view.poison_with(e))?;
                Metrics::add(&self.view.metrics.zeroed_bytes, to - from);
                self.zeroed(seg.base_id(), Some(to));
                Ok(true)
            }
            // Without a descriptor of its own (out of descriptors, say) the zeroer gives up
            // on this segment: zeroing only makes syncs cheaper, not worth failing over.
            _ => {
                self.zeroed(seg.base_id(), None);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_up_rounds_to_pages() {
        assert_eq!(page_up(0), 0);
        assert_eq!(page_up(1), PAGE);
        assert_eq!(page_up(PAGE), PAGE);
        assert_eq!(page_up(PAGE + 1), 2 * PAGE);
    }

    #[test]
    fn payoff_follows_bytes_per_sync() {
        let mut p = Payoff::new(true);
        // Too little happened to decide: the guess stands.
        assert!(p.update(1000, 3));
        // 1 MiB over 100 syncs: ~10 KiB per sync.
        assert!(p.update(1000 + (1 << 20), 103));
        // 64 more syncs with 64 KiB + 1 each: no longer.
        assert!(!p.update(1000 + (1 << 20) + 64 * (MAX_BYTES_PER_SYNC + 1), 167));
        // Bytes without any sync (an async log between syncs): no.
        let mut p = Payoff::new(true);
        assert!(!p.update(DECIDE_BYTES, 0));
        // And back once syncs are dense again.
        assert!(p.update(DECIDE_BYTES + 64 * 1024, 64));
    }
}
