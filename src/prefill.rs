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
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::flush::TaskSignal;
use crate::fsio;

/// Zeros are written and synced in pieces of at most this size, so a write-out waits for
/// at most one piece when it catches up with the zeroer.
pub const CHUNK: u64 = 1 << 20;

static ZEROS: [u8; CHUNK as usize] = [0; CHUNK as usize];

/// Size of the pages the file system converts extents in; zeroed ranges start on one.
pub const PAGE: u64 = 4096;

/// Rounds `offset` up to a page boundary.
pub fn page_up(offset: u64) -> u64 {
    offset.div_ceil(PAGE) * PAGE
}

/// Writes zeros over `[from, to)` of `file`.
pub fn write_zeros(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK);
        fsio::write_all_at(file, path, &ZEROS[..n as usize], at)?;
        at += n;
    }
    Ok(())
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

/// The work the zeroer drives; implemented by the log.
pub trait ZeroTarget: Send + Sync + 'static {
    /// Zeroes and syncs the next piece of the window through `own`, the zeroer's file
    /// descriptor (opened for the segment it names). Returns false when the window is full.
    fn zero_step(&self, own: &mut Option<OwnFile>) -> Result<bool>;
    /// Records a failure that no caller sees.
    fn background_failed(&self, err: &Error);
}

/// The zeroer's own descriptor of one segment file, keyed by the segment's base id.
pub struct OwnFile {
    pub base_id: u64,
    pub file: File,
}

/// The zeroer of one log: wakes on a poke and zeroes until the window is full. The writes
/// and syncs run on the blocking pool.
pub async fn run_zeroer<T: ZeroTarget>(target: Arc<T>, signal: Arc<TaskSignal>) {
    let mut own: Option<OwnFile> = None;
    loop {
        if signal.is_stopped() {
            return;
        }
        let t = target.clone();
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
                target.background_failed(&e);
                return;
            }
            Err(join) => {
                target.background_failed(&Error::Internal(format!("zeroer task: {join}")));
                return;
            }
        }
        signal.woken().await;
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

    #[test]
    fn write_zeros_covers_the_range_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = fsio::create_file(&path).unwrap();
        let len = 2 * CHUNK + 3 * PAGE;
        fsio::write_all_at(&file, &path, &vec![0xAB; len as usize + 8], 0).unwrap();
        write_zeros(&file, &path, 8, len).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes[..8].iter().all(|&b| b == 0xAB));
        assert!(bytes[8..len as usize].iter().all(|&b| b == 0));
        assert!(bytes[len as usize..].iter().all(|&b| b == 0xAB));
    }
}
