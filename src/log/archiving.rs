//! The cold tier of one log: which sealed segments are archived, the order of an upload,
//! backpressure when the archive falls behind, and objects no entry refers to.
//!
//! An upload (docs/FORMAT.md, "The order of writes", step 5), after the segment is
//! compressed (step 4):
//!
//! 1. the catalogue marks the upload Started (one commit): from here an object may exist;
//! 2. the compressed file is put under the segment's key (a conditional create: a retry
//!    finds the object of an earlier try instead of writing another);
//! 3. the object is verified: its size, and its seek table against the local file's;
//! 4. the catalogue marks the upload Verified and the segment Archived (one commit);
//! 5. the segment set reads the archived object from then on; readers holding frames of
//!    the compressed file keep them;
//! 6. the local compressed file is unlinked and the directory synced.
//!
//! A crash before 4 leaves the segment compressed with an upload Started: the next round
//! uploads again (and finds the object). After 4, open removes a local file left over.
//! Nothing local is unlinked before its archived copy is verified.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::{Location, SegmentEntry, SegmentState, UploadState};
use crate::error::{Error, Result};
use crate::fsio;
use crate::log::Inner;
use crate::metrics::Metrics;
use crate::segment::recovery::footer_of;
use crate::sync::lock;
use crate::tier::archive::BreakerState;
use crate::tier::cold::{Archive, Cold};

impl Inner {
    /// The manager's archive if this log archives (its tiering says when).
    fn archive(&self) -> Option<&Arc<Archive>> {
        self.tiers.archive()
    }

    /// Archives the sealed segments the log's threshold calls for (`all`: every one),
    /// compressing them first where needed. Returns how many it archived. An upload that
    /// fails between the Started and the Verified commits (the archive is unreachable, its
    /// breaker open, the object does not verify, the local file cannot be read) changed
    /// nothing that matters: with `strict` its error is returned; else it is counted
    /// (`tier_failures`) and the round stops (the next one tries again). A catalogue
    /// failure, or one of the compression before or the unlink after, is always returned.
    pub(crate) fn archive_sealed(&self, all: bool, strict: bool) -> Result<usize> {
        let Some(archive) = self.archive().cloned() else {
            return if all {
                Err(Error::InvalidArgument(
                    "the log's manager has no archive (ManagerOptions::archive)".into(),
                ))
            } else {
                Ok(0)
            };
        };
        if !all && self.options.tiering.archive_after_segments.is_none() {
            return Ok(0);
        }
        let _one_at_a_time = lock(&self.retention_lock);
        self.view.check_writable()?;
        let after = self.options.tiering.archive_after_segments.unwrap_or(1);
        let live = self.catalog.live_segments()?;
        let count = live.len() as u64;
        let mut done = 0;
        for (i, (base, e)) in live.iter().enumerate() {
            if e.state == SegmentState::Active {
                break;
            }
            let newer = count - i as u64 - 1;
            if e.state != SegmentState::Sealed || e.location == Location::Archived {
                continue;
            }
            if !all && newer < after {
                break;
            }
            match self.archive_one(&archive, *base, e) {
                Ok(()) => done += 1,
                Err(Step::Upload(err)) if !strict => {
                    self.view.tier_failed(&err);
                    break;
                }
                Err(Step::Upload(err) | Step::Other(err)) => return Err(err),
            }
        }
        if done > 0 {
            self.backlog.changed();
        }
        Ok(done)
    }

    fn archive_one(
        &self,
        archive: &Arc<Archive>,
        base: u64,
        e: &SegmentEntry,
    ) -> std::result::Result<(), Step> {
        if e.location == Location::LocalFile {
            self.compress_segment(base, e).map_err(Step::Other)?;
        }
        let tier = self
            .catalog
            .tier(base)
            .and_then(|t| {
                t.ok_or_else(|| {
                    Error::Internal(format!("compressed segment {base} has no tier entry"))
                })
            })
            .map_err(Step::Other)?;
        let key = archive.key(self.catalog.uid(), base);
        let path = self.layout.compressed(base);
        if tier.upload == UploadState::None {
            self.catalog
                .record_upload(base, UploadState::Started)
                .map_err(Step::Other)?;
        }
        let upload = || -> Result<()> {
            fail::fail_point!("tier::before_upload", |_| Err(
                crate::log::entries::injected("tier::before_upload")
            ));
            archive.upload(&key, &path, &tier)?;
            fail::fail_point!("tier::before_archived", |_| Err(
                crate::log::entries::injected("tier::before_archived")
            ));
            Ok(())
        };
        upload().map_err(Step::Upload)?;
        self.after_upload(archive, base, e, key, &tier)
            .map_err(Step::Other)
    }

    /// Steps 4 to 6 of an upload: the Verified commit, the switch, the unlink.
    fn after_upload(
        &self,
        archive: &Arc<Archive>,
        base: u64,
        e: &SegmentEntry,
        key: String,
        tier: &crate::catalog::TierEntry,
    ) -> Result<()> {
        let path = self.layout.compressed(base);
        self.catalog.record_upload(base, UploadState::Verified)?;
        let footer = footer_of(base, e);
        let cold = Cold::new(archive.clone(), key, footer, self.catalog.tier_loader(base));
        self.view.segments.set_archived(base, Arc::new(cold));
        fail::fail_point!("tier::before_unlink_compressed", |_| Err(
            crate::log::entries::injected("tier::before_unlink_compressed")
        ));
        fsio::remove_file(&path)?;
        fsio::fsync_dir(self.layout.dir())?;
        let m = &self.view.metrics;
        Metrics::add(&m.segments_archived, 1);
        Metrics::add(&m.archive_bytes_out, tier.compressed_len);
        Ok(())
    }

    /// The archive keys of those of `bases` (entries in `live`) that may have an object:
    /// archived, or with an upload started.
    pub(crate) fn archived_objects(
        &self,
        live: &[(u64, SegmentEntry)],
        bases: &[u64],
    ) -> Result<Vec<String>> {
        let Some(archive) = self.archive() else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for (base, e) in live.iter().filter(|(b, _)| bases.contains(b)) {
            let uploaded = e.location == Location::Archived
                || self
                    .catalog
                    .tier(*base)?
                    .is_some_and(|t| t.upload != UploadState::None);
            if uploaded {
                keys.push(archive.key(self.catalog.uid(), *base));
            }
        }
        Ok(keys)
    }

    /// Deletes removed segments' objects. A failure (the archive is down) is counted and
    /// leaves the object to the sweep of a later open: the segment is gone either way.
    pub(crate) fn delete_objects(&self, keys: &[String]) {
        let Some(archive) = self.archive() else {
            return;
        };
        for key in keys {
            if let Err(e) = archive.delete(key) {
                self.view.tier_failed(&e);
            }
        }
    }

    /// Deletes the objects of this log that no entry refers to (left by a crash between
    /// an upload and the catalogue, or by a removal whose delete failed). Returns how many.
    pub(crate) fn sweep_archive(&self) -> Result<usize> {
        let Some(archive) = self.archive().cloned() else {
            return Ok(0);
        };
        let _one_at_a_time = lock(&self.retention_lock);
        let live = self.catalog.live_segments()?;
        let mut removed = 0;
        for (key, base) in archive.list_log(self.catalog.uid())? {
            let referred = base.is_some_and(|b| {
                live.binary_search_by_key(&b, |(base, _)| *base)
                    .is_ok_and(|i| {
                        // Referred to once an upload started (the object may be its own).
                        let e = &live[i].1;
                        e.location == Location::Archived
                            || self
                                .catalog
                                .tier(b)
                                .ok()
                                .flatten()
                                .is_some_and(|t| t.upload != UploadState::None)
                    })
            });
            if !referred {
                archive.delete(&key)?;
                removed += 1;
            }
        }
        Metrics::add(&self.view.metrics.archive_orphans_removed, removed as u64);
        Ok(removed)
    }

    /// Backpressure, before a roll seals the active segment: if the log archives and its
    /// sealed segments not archived yet would exceed the archive's bounds, waits for the
    /// archive to catch up (as long as the archive options say), else fails with
    /// `WouldBlock`. Nothing was appended then.
    pub(crate) fn wait_for_archive(&self) -> Result<()> {
        let Some(archive) = self.archive() else {
            return Ok(());
        };
        if self.options.tiering.archive_after_segments.is_none() {
            return Ok(());
        }
        let o = archive.options();
        if o.max_pending_segments.is_none() && o.max_pending_bytes.is_none() {
            return Ok(());
        }
        let deadline = o.backpressure_wait.map(|w| Instant::now() + w);
        let mut seen = self.backlog.generation();
        loop {
            let (segments, bytes) = self.pending()?;
            let capacity = self.options.segment_size;
            let over = o.max_pending_segments.is_some_and(|m| segments + 1 > m)
                || o.max_pending_bytes.is_some_and(|m| bytes + capacity > m);
            if !over {
                return Ok(());
            }
            Metrics::add(&self.view.metrics.backpressure_waits, 1);
            self.retention.wake();
            let left = deadline.map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Err(Error::WouldBlock(format!(
                    "the archive is behind: {segments} sealed segments ({bytes} bytes) wait \
                     to be archived (bounds: {:?} segments, {:?} bytes){}",
                    o.max_pending_segments,
                    o.max_pending_bytes,
                    self.view
                        .last_tier_error()
                        .map_or(String::new(), |e| format!("; last failure: {e}"))
                )));
            }
            self.view.check_writable()?;
            seen = self
                .backlog
                .wait(seen, left.min(Duration::from_millis(100)));
        }
    }

    /// Sealed segments not archived yet, and the bytes of their files.
    fn pending(&self) -> Result<(u64, u64)> {
        let mut n = 0;
        let mut bytes = 0;
        for (base, e) in self.catalog.live_segments()? {
            if e.state == SegmentState::Sealed && e.location != Location::Archived {
                n += 1;
                bytes += match e.location {
                    Location::LocalCompressed => self
                        .catalog
                        .tier(base)?
                        .map_or(e.capacity, |t| t.compressed_len),
                    _ => e.capacity,
                };
            }
        }
        Ok((n, bytes))
    }

    /// Fills in the archive client's counters and this log's backlog.
    pub(crate) fn archive_metrics(&self, m: &mut crate::metrics::MetricsSnapshot) {
        let Some(archive) = self.archive() else {
            return;
        };
        let r = archive.stats();
        m.archive_uploads = r.puts + r.part_uploads;
        m.archive_gets = r.gets + r.ranged_gets;
        m.archive_bytes_in = r.bytes_downloaded;
        m.archive_failures = r.failures;
        m.archive_retries = r.retries;
        m.set_summary("upload_latency_ns", r.upload_latency);
        m.set_summary("download_latency_ns", r.download_latency);
        m.archive_breaker = match r.breaker {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        if self.options.tiering.archive_after_segments.is_some() {
            m.archive_pending = self.pending().map_or(0, |(n, _)| n);
        }
    }
}

/// Where a failed upload stopped: in the upload itself, between the Started and the
/// Verified commits (nothing changed that matters: the segment stays local, its object, if
/// any, is referred to by the Started upload and re-used by the next try), or at any other
/// step (the compression before, a catalogue commit, the switch and unlink after).
enum Step {
    Upload(Error),
    Other(Error),
}

/// Wakes appends waiting for the archive (backpressure) when a round archived something.
#[derive(Default)]
pub(crate) struct Backlog {
    generation: std::sync::Mutex<u64>,
    changed: std::sync::Condvar,
}

impl Backlog {
    fn generation(&self) -> u64 {
        *lock(&self.generation)
    }

    pub(crate) fn changed(&self) {
        *lock(&self.generation) += 1;
        self.changed.notify_all();
    }

    /// Waits until the generation moves past `seen` or `timeout` passes; returns it.
    fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = lock(&self.generation);
        let (g, _) = self
            .changed
            .wait_timeout_while(g, timeout, |g| *g == seen)
            .unwrap_or_else(|p| p.into_inner());
        *g
    }
}
