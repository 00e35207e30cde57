//! Retention: which sealed segments a log removes (by bytes, by count, by age, or up to an
//! id with `truncate_before`), and the order in which they go, so that a crash at any step
//! loses nothing that is kept and leaves nothing half removed (docs/FORMAT.md, "The order
//! of writes", step 3):
//!
//! 1. the catalogue marks the segments Deleting and raises the oldest retained id (one
//!    commit): from here on the records are gone for readers, and an open finishes the rest;
//! 2. the segment set lets go of them: new reads get `Truncated`; readers that hold a pin
//!    keep reading the mapped file until they drop it;
//! 3. the files are unlinked (never truncated: maps of them stay valid) and the directory
//!    synced;
//! 4. the entries are removed from the catalogue.
//!
//! Only whole sealed segments go, oldest first, never the active one.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Retention;
use crate::durability::join_message;
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::Inner;
use crate::metrics::Metrics;
use crate::sync::{lock, TaskSignal};

/// A sealed segment retention may remove.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub base_id: u64,
    pub last_id: u64,
    /// Size of its file.
    pub capacity: u64,
    /// When it was sealed, µs since the epoch.
    pub sealed_us: u64,
}

/// How many of the oldest `candidates` (sealed segments, oldest first) the bounds remove.
/// `total_bytes` and `count` cover every segment of the log, the active one included.
pub(crate) fn over_bounds(
    bounds: &Retention,
    candidates: &[Candidate],
    mut total_bytes: u64,
    mut count: u64,
    now_us: u64,
) -> usize {
    let mut n = 0;
    for c in candidates {
        let too_big = bounds.max_bytes.is_some_and(|max| total_bytes > max);
        let too_many = bounds.max_segments.is_some_and(|max| count > max);
        let too_old = bounds
            .max_age
            .is_some_and(|age| c.sealed_us.saturating_add(age.as_micros() as u64) < now_us);
        if !(too_big || too_many || too_old) {
            break;
        }
        total_bytes -= c.capacity;
        count -= 1;
        n += 1;
    }
    n
}

impl Inner {
    /// Removes the sealed segments `plan` picks: given the candidates (every sealed
    /// segment but the active one, oldest first), the bytes and the count of all segments,
    /// it returns how many of the oldest to remove. Returns that number.
    pub(crate) fn remove_oldest(
        &self,
        plan: impl FnOnce(&[Candidate], u64, u64) -> usize,
    ) -> Result<usize> {
        let _one_at_a_time = lock(&self.retention_lock);
        self.view.check_writable()?;
        let live = self.catalog.live_segments()?;
        let total_bytes = live.iter().map(|(_, e)| e.capacity).sum();
        let count = live.len() as u64;
        // Sealed ones up to the active segment (the catalogue's Active entry): not the
        // writer's lock, which an append waiting for the archive (backpressure) holds.
        let candidates: Vec<Candidate> = live
            .iter()
            .take_while(|(_, e)| e.state == crate::catalog::SegmentState::Sealed)
            .map(|(base, e)| Candidate {
                base_id: *base,
                last_id: e.last_id,
                capacity: e.capacity,
                sealed_us: e.sealed_us,
            })
            .collect();
        let n = plan(&candidates, total_bytes, count).min(candidates.len());
        if n == 0 {
            return Ok(0);
        }
        let doomed = &candidates[..n];
        let bases: Vec<u64> = doomed.iter().map(|c| c.base_id).collect();
        let objects = self.archived_objects(&live, &bases)?;
        let last = doomed[n - 1];
        self.catalog.mark_deleting(&bases, last.last_id + 1)?;
        self.view.segments.remove_through(last.base_id);
        fail::fail_point!("retention::before_unlink", |_| Err(
            crate::log::entries::injected("retention::before_unlink")
        ));
        for &base in &bases {
            self.layout.remove_segment_files(base)?;
        }
        fsio::fsync_dir(self.layout.dir())?;
        self.delete_objects(&objects);
        self.catalog.remove_entries(&bases)?;
        Metrics::add(&self.view.metrics.segments_deleted, n as u64);
        Ok(n)
    }

    /// Applies the log's retention bounds now.
    pub(crate) fn enforce_retention(&self) -> Result<usize> {
        let bounds = self.options.retention;
        if !bounds.is_bounded() {
            return Ok(0);
        }
        let now = fsio::now_us();
        self.remove_oldest(|c, bytes, count| over_bounds(&bounds, c, bytes, count, now))
    }

    /// Removes every sealed segment whose records all precede `id`.
    pub(crate) fn truncate_before(&self, id: u64) -> Result<usize> {
        let last = self.view.last_id();
        if id == 0 || id > last + 1 {
            return Err(Error::InvalidArgument(format!(
                "truncate_before({id}): ids run from 1 to one past the last ({})",
                last + 1
            )));
        }
        self.remove_oldest(|c, _, _| c.iter().take_while(|c| c.last_id < id).count())
    }
}

/// The maintenance task of a log with retention bounds or tier thresholds: wakes after
/// each roll (`signal`) and, with an age bound or threshold, on a timer; removes and moves
/// segments on the blocking pool. A failure that leaves the catalogue behind the files
/// poisons the log (no caller would see it otherwise); a compression that failed before
/// anything was recorded is counted (`tier_failures`) and tried again on the next round.
pub(crate) async fn run_retention(inner: Arc<Inner>, signal: Arc<TaskSignal>) {
    // With an archive, failed uploads are tried again at least every second.
    let archives =
        inner.tiers.archive().is_some() && inner.options.tiering.archive_after_segments.is_some();
    let ages = [
        inner.options.retention.max_age,
        inner.options.tiering.compress_after_age,
        archives.then_some(Duration::from_secs(2)),
    ];
    let period = ages
        .into_iter()
        .flatten()
        .min()
        .map(|age| (age / 2).clamp(Duration::from_millis(10), Duration::from_secs(60)));
    let mut swept = false;
    loop {
        if signal.is_stopped() {
            return;
        }
        fail::fail_point!("background::retention");
        let t = inner.clone();
        let first = std::mem::replace(&mut swept, true);
        let round = move || -> Result<()> {
            t.enforce_retention()?;
            if t.options.tiering.compresses() {
                t.compress_sealed(false, false)?;
                t.archive_sealed(false, false)?;
            }
            if first && archives {
                // Objects a crash left behind; the archive may be down: tried next open.
                if let Err(e) = t.sweep_archive() {
                    t.view.tier_failed(&e);
                }
            }
            Ok(())
        };
        match tokio::task::spawn_blocking(round).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                inner.fail_in_background("retention", &e);
                return;
            }
            Err(join) => {
                inner.fail_in_background("retention", &Error::Internal(join_message(join)));
                return;
            }
        }
        match period {
            Some(p) => {
                let _ = tokio::time::timeout(p, signal.woken()).await;
            }
            None => signal.woken().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: u64, sealed_us: u64) -> Candidate {
        Candidate {
            base_id: base,
            last_id: base + 9,
            capacity: 100,
            sealed_us,
        }
    }

    #[test]
    fn bounds_remove_the_oldest_until_within() {
        let c = [seg(1, 10), seg(11, 20), seg(21, 30)];
        // 4 segments (3 sealed + the active one) of 100 bytes.
        let bytes = Retention {
            max_bytes: Some(250),
            ..Retention::default()
        };
        assert_eq!(over_bounds(&bytes, &c, 400, 4, 0), 2);
        let count = Retention {
            max_segments: Some(3),
            ..Retention::default()
        };
        assert_eq!(over_bounds(&count, &c, 400, 4, 0), 1);
        // Sealed before 25 µs ago at now = 50: the first two.
        let age = Retention {
            max_age: Some(Duration::from_micros(25)),
            ..Retention::default()
        };
        assert_eq!(over_bounds(&age, &c, 400, 4, 50), 2);
        // Never more than the candidates, and nothing when within every bound.
        let tiny = Retention {
            max_segments: Some(1),
            ..Retention::default()
        };
        assert_eq!(over_bounds(&tiny, &c, 400, 4, 0), 3);
        assert_eq!(over_bounds(&Retention::default(), &c, 400, 4, 0), 0);
    }
}
