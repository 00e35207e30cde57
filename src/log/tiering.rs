//! The tiers of one log's sealed segments: which are compressed (the warm tier), and the
//! order of a move, so that a crash at any step loses nothing and leaves one file per
//! segment after the next open (docs/FORMAT.md, "The order of writes", step 4):
//!
//! 1. the compressed file is written under a temporary name, synced, read back frame by
//!    frame against the plain file, renamed, and the directory synced;
//! 2. the catalogue records the segment as LocalCompressed with its frames (one commit):
//!    from here the compressed file is the segment's (open removes a plain file left over);
//!    before it, open removes the compressed file;
//! 3. the segment set hands out pins of the compressed file; readers that hold a pin of the
//!    plain file keep reading its map;
//! 4. the plain file is unlinked and the directory synced.
//!
//! Moves and retention run one at a time (`retention_lock`): retention never unlinks a file
//! a move is reading.

use std::sync::Arc;

use crate::catalog::{Location, SegmentEntry, SegmentState};
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::Inner;
use crate::metrics::Metrics;
use crate::segment::recovery::footer_of;
use crate::segment::set::Warm;
use crate::sync::lock;
use crate::tier::warm::{self, WarmFile};

impl Inner {
    /// Compresses the sealed segments in plain files that the log's thresholds call for
    /// (`all`: every one). Returns how many it compressed. A compression that fails before
    /// the catalogue recorded it changed nothing: with `strict` its error is returned; else
    /// it is counted (`tier_failures`) and the next segment is tried. A failure after that
    /// is always returned.
    pub(crate) fn compress_sealed(&self, all: bool, strict: bool) -> Result<usize> {
        let _one_at_a_time = lock(&self.retention_lock);
        self.view.check_writable()?;
        let tiering = self.options.tiering;
        let live = self.catalog.live_segments()?;
        let count = live.len() as u64;
        let now = fsio::now_us();
        let mut done = 0;
        // Up to the active segment (the catalogue's Active entry; see `remove_oldest`).
        for (i, (base, e)) in live.iter().enumerate() {
            if e.state == SegmentState::Active {
                break;
            }
            if e.state != SegmentState::Sealed || e.location != Location::LocalFile {
                continue;
            }
            let newer = count - i as u64 - 1;
            let due = all
                || tiering.compress_after_segments.is_some_and(|n| newer >= n)
                || tiering
                    .compress_after_age
                    .is_some_and(|age| e.sealed_us.saturating_add(age.as_micros() as u64) < now);
            if !due {
                continue;
            }
            match self.compress_one(*base, e) {
                Ok(()) => done += 1,
                Err(Move::Before(err)) if !strict => {
                    self.view.tier_failed(&err);
                }
                Err(Move::Before(err) | Move::After(err)) => return Err(err),
            }
        }
        Ok(done)
    }

    /// Compresses sealed segment `base` (in a plain file) now.
    pub(crate) fn compress_segment(&self, base: u64, e: &SegmentEntry) -> Result<()> {
        self.compress_one(base, e)
            .map_err(|(Move::Before(e) | Move::After(e))| e)
    }

    fn compress_one(&self, base: u64, e: &SegmentEntry) -> std::result::Result<(), Move> {
        let layout = &self.layout;
        let seg = self
            .view
            .segments
            .pin_segment(base)
            .and_then(|s| {
                s.ok_or_else(|| {
                    Error::Internal(format!(
                        "segment {base} is in the catalogue but not in the set"
                    ))
                })
            })
            .map_err(Move::Before)?;
        let footer = footer_of(base, e);
        let (tmp, dest) = (layout.compressed_tmp(base), layout.compressed(base));
        let tiering = &self.options.tiering;
        let tier = match warm::compress_segment(
            &seg,
            &footer,
            tiering.compression_level,
            tiering.frame_size,
            &tmp,
            &dest,
        ) {
            Ok(tier) => tier,
            Err(e) => {
                // Nothing recorded yet: the plain file stays the segment's.
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&dest);
                return Err(Move::Before(e));
            }
        };
        let before = || -> Result<()> {
            fsio::fsync_dir(layout.dir())?;
            fail::fail_point!("tier::before_record", |_| Err(
                crate::log::entries::injected("tier::before_record")
            ));
            Ok(())
        };
        if let Err(e) = before() {
            let _ = std::fs::remove_file(&dest);
            return Err(Move::Before(e));
        }
        let (plain_len, compressed_len) = (tier.plain_len, tier.compressed_len);
        let after = || -> Result<()> {
            self.catalog.record_compressed(base, &tier)?;
            let file = WarmFile::open(&dest, footer, Arc::new(tier.clone()))?;
            self.view
                .segments
                .set_compressed(base, Arc::new(Warm::opened(file, footer)));
            fail::fail_point!("tier::before_unlink", |_| Err(
                crate::log::entries::injected("tier::before_unlink")
            ));
            fsio::remove_file(&layout.segment(base))?;
            fsio::fsync_dir(layout.dir())
        };
        after().map_err(Move::After)?;
        drop(seg);
        let m = &self.view.metrics;
        Metrics::add(&m.segments_compressed, 1);
        Metrics::add(&m.compress_bytes_in, plain_len);
        Metrics::add(&m.compress_bytes_out, compressed_len);
        Ok(())
    }
}

/// How far a failed move got: `Before` the catalogue recorded it (nothing changed: the
/// segment stays where it was), or `After` (the catalogue and the files disagree until the
/// next open settles them).
enum Move {
    Before(Error),
    After(Error),
}
