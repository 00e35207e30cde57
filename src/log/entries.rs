//! The log's record in the catalogue: its `LogMeta` and one `SegmentEntry` per segment,
//! written in the order `docs/FORMAT.md` ("The order of writes") gives, so that the
//! catalogue lags the files by at most one step and never leads them:
//!
//! - a new segment's file is in place (header synced, renamed, directory synced) before its
//!   Active entry is added;
//! - a segment is sealed (footer synced) before its entry says Sealed; a roll records both
//!   in one commit;
//! - at a clean close the active entry gets its final extent and the log its clean-close
//!   id, after the last sync;
//! - at open, the catalogue is brought in line with what recovery found in the files.
//!
//! A failure to write the catalogue poisons the log (the files are ahead of it, which the
//! next open repairs, but the log cannot go on recording new segments).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use crate::catalog::{
    Catalog, CatalogOptions, Location, NewLog, SegmentEntry, SegmentState, TierEntry, UploadState,
};
use crate::config::Options;
use crate::error::{Error, Result};
use crate::fsio;
use crate::segment::file::SegmentFile;
use crate::segment::format::{SegmentFooter, FORMAT_VERSION, HEADER_LEN};
use crate::segment::layout::Layout;
use crate::segment::recovery::{self, Recovered, RecoveryReport};
use crate::segment::set::TierLoader;
use crate::sync::lock;

/// A log's place in a catalogue.
pub(crate) struct CatalogLink {
    /// Let go at close: a log opened alone owns its catalogue, whose file may be opened
    /// once per process, so the next open of the log must find it released.
    catalog: Mutex<Option<Arc<Catalog>>>,
    name: String,
    uid: u64,
}

/// What the catalogue knew of the log at open.
pub(crate) struct Known {
    /// Live entries (Active and Sealed) by base id.
    pub entries: BTreeMap<u64, SegmentEntry>,
    /// The log had no record in the catalogue.
    pub was_missing: bool,
}

/// The state of a segment to record after recovery.
pub(crate) struct Extent {
    pub base_id: u64,
    pub capacity: u64,
    /// `Some` once sealed.
    pub footer: Option<SegmentFooter>,
    /// End of records of an active segment.
    pub data_end: u64,
    pub payload_bytes: u64,
    pub first_byte_pos: u64,
}

impl CatalogLink {
    /// Finds (or creates) the log `name` in `catalog` and finishes the removals a crash
    /// interrupted (entries marked Deleting: their file goes, then the entry).
    pub fn open(
        catalog: Arc<Catalog>,
        name: String,
        options: &Options,
        layout: &Layout,
        report: &mut RecoveryReport,
    ) -> Result<(CatalogLink, Known)> {
        let (meta, was_missing) = match catalog.log(&name)? {
            Some(meta) => (meta, false),
            None => {
                let new = NewLog {
                    segment_size: options.segment_size,
                    segment_format_version: FORMAT_VERSION,
                };
                (catalog.create_log(&name, new)?, true)
            }
        };
        let mut entries = BTreeMap::new();
        let mut deleting = Vec::new();
        for (base, entry) in catalog.segments(meta.uid)? {
            if entry.state == SegmentState::Deleting {
                deleting.push(base);
            } else {
                entries.insert(base, entry);
            }
        }
        let link = CatalogLink {
            uid: meta.uid,
            catalog: Mutex::new(Some(catalog)),
            name,
        };
        for base in deleting {
            link.finish_deletion(layout, base)?;
            report.deletions_finished += 1;
        }
        Ok((
            link,
            Known {
                entries,
                was_missing,
            },
        ))
    }

    /// Unlinks the file of a segment marked Deleting (if it is still there), syncs the
    /// directory, then drops the entry.
    fn finish_deletion(&self, layout: &Layout, base: u64) -> Result<()> {
        if layout.remove_segment_files(base)? {
            fsio::fsync_dir(layout.dir())?;
        }
        self.catalog()?.remove_segment(self.uid, base)?;
        Ok(())
    }

    /// Reads the tier entry of segment `base` when its compressed file is first read. It
    /// holds no reference that would keep the catalogue open after the log closed.
    pub fn tier_loader(&self, base: u64) -> TierLoader {
        let catalog = lock(&self.catalog).as_ref().map(Arc::downgrade);
        let uid = self.uid;
        Arc::new(move || {
            let catalog = catalog
                .as_ref()
                .and_then(Weak::upgrade)
                .ok_or(Error::Closed)?;
            catalog.tier(uid, base)?.ok_or_else(|| Error::Catalog {
                path: catalog.path().to_path_buf(),
                detail: format!("segment {base} is compressed but has no tier entry"),
            })
        })
    }

    /// The catalogue, until the log lets go of it at close.
    fn catalog(&self) -> Result<Arc<Catalog>> {
        lock(&self.catalog).clone().ok_or(Error::Closed)
    }

    /// Lets go of the catalogue (at close).
    pub fn release(&self) {
        drop(lock(&self.catalog).take());
    }

    /// Brings the catalogue in line with the segments recovery found (the files are the
    /// truth for what exists; the catalogue for what a sealed segment holds) and clears the
    /// clean-close id, in one commit, before the first append. Reports files that had no
    /// entry and entries whose file is gone.
    pub fn reconcile(
        &self,
        known: &Known,
        extents: &[Extent],
        report: &mut RecoveryReport,
    ) -> Result<()> {
        fail::fail_point!("catalog::reconcile", |_| Err(injected(
            "catalog::reconcile"
        )));
        report.catalog_rebuilt = known.was_missing && !extents.is_empty();
        let now = fsio::now_us();
        let mut missing = Vec::new();
        for &base in known.entries.keys() {
            if !extents.iter().any(|x| x.base_id == base) {
                missing.push(base);
            }
        }
        self.catalog()?.batch(|b| {
            for x in extents {
                let old = known.entries.get(&x.base_id);
                let mut entry = match old {
                    Some(e) => *e,
                    None => SegmentEntry::active(x.capacity, HEADER_LEN, x.first_byte_pos, now),
                };
                entry.capacity = x.capacity;
                entry.first_byte_pos = x.first_byte_pos;
                entry.payload_bytes = x.payload_bytes;
                match x.footer {
                    Some(f) => {
                        if entry.state != SegmentState::Sealed {
                            entry.sealed_us = now;
                        }
                        entry.state = SegmentState::Sealed;
                        entry.last_id = f.last_id;
                        entry.record_count = f.record_count;
                        entry.data_end = f.data_end;
                        entry.records_crc = f.records_crc;
                    }
                    None => {
                        entry.state = SegmentState::Active;
                        entry.data_end = x.data_end;
                        entry.last_id = 0;
                        entry.records_crc = 0;
                        entry.sealed_us = 0;
                    }
                }
                if old != Some(&entry) {
                    b.put_segment(self.uid, x.base_id, &entry)?;
                }
            }
            for &base in &missing {
                b.remove_segment(self.uid, base)?;
            }
            b.update_log(&self.name, |m| m.clean_close_id = 0)
        })?;
        if !known.was_missing {
            for x in extents {
                if !known.entries.contains_key(&x.base_id) {
                    report.files_without_entries.push(x.base_id);
                }
            }
        }
        report.entries_without_files = missing;
        Ok(())
    }

    /// A roll: segment `sealed` (whose footer is synced) is Sealed, and the next segment
    /// (whose file is in place) is Active, in one commit.
    pub fn roll(
        &self,
        sealed: &SegmentFile,
        footer: &SegmentFooter,
        payload_bytes: u64,
        next: &SegmentFile,
        next_first_byte_pos: u64,
    ) -> Result<()> {
        fail::fail_point!("catalog::roll", |_| Err(injected("catalog::roll")));
        let now = fsio::now_us();
        self.catalog()?.batch(|b| {
            b.update_segment(self.uid, sealed.base_id(), |e| {
                seal_entry(e, footer, payload_bytes, now);
            })?;
            let entry = SegmentEntry::active(next.capacity(), HEADER_LEN, next_first_byte_pos, now);
            b.put_segment(self.uid, next.base_id(), &entry)
        })
    }

    /// At a clean close, after the last sync: the active segment's extent so far and the
    /// highest durable id.
    pub fn close(
        &self,
        active: &SegmentFile,
        data_end: u64,
        record_count: u64,
        payload_bytes: u64,
        durable_id: u64,
    ) -> Result<()> {
        fail::fail_point!("catalog::close", |_| Err(injected("catalog::close")));
        self.catalog()?.batch(|b| {
            b.update_segment(self.uid, active.base_id(), |e| {
                e.data_end = data_end;
                e.record_count = record_count;
                e.payload_bytes = payload_bytes;
            })?;
            b.update_log(&self.name, |m| m.clean_close_id = durable_id)
        })
    }
}

impl CatalogLink {
    /// The log's live segment entries (Active and Sealed), in id order.
    pub fn live_segments(&self) -> Result<Vec<(u64, SegmentEntry)>> {
        let mut all = self.catalog()?.segments(self.uid)?;
        all.retain(|(_, e)| e.state != SegmentState::Deleting);
        Ok(all)
    }

    /// The first step of a removal: the segments are Deleting and the oldest retained id
    /// is raised, in one commit. From then on nothing may read them, and an open finishes
    /// their removal.
    pub fn mark_deleting(&self, bases: &[u64], oldest_retained_id: u64) -> Result<()> {
        fail::fail_point!("catalog::mark_deleting", |_| Err(injected(
            "catalog::mark_deleting"
        )));
        self.catalog()?.batch(|b| {
            for &base in bases {
                b.update_segment(self.uid, base, |e| e.state = SegmentState::Deleting)?;
            }
            b.update_log(&self.name, |m| {
                m.oldest_retained_id = m.oldest_retained_id.max(oldest_retained_id)
            })
        })
    }

    /// The step of a compression that makes it count: segment `base` is LocalCompressed
    /// and its frames are recorded, in one commit, after its compressed file is in place
    /// (synced, renamed, directory synced) and before its plain file goes.
    pub fn record_compressed(&self, base: u64, tier: &TierEntry) -> Result<()> {
        fail::fail_point!("catalog::record_compressed", |_| Err(injected(
            "catalog::record_compressed"
        )));
        self.catalog()?.batch(|b| {
            b.update_segment(self.uid, base, |e| e.location = Location::LocalCompressed)?;
            b.put_tier(self.uid, base, tier)
        })
    }

    /// The log's uid in the catalogue (it names its objects in the archive).
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// The tier entry of segment `base`, if any.
    pub fn tier(&self, base: u64) -> Result<Option<TierEntry>> {
        self.catalog()?.tier(self.uid, base)
    }

    /// Records how far the upload of segment `base` got (one commit); with `Verified`, the
    /// segment is Archived from then on.
    pub fn record_upload(&self, base: u64, upload: UploadState) -> Result<()> {
        fail::fail_point!("catalog::record_upload", |_| Err(injected(
            "catalog::record_upload"
        )));
        self.catalog()?.batch(|b| {
            let mut tier = b.tier(self.uid, base)?.ok_or_else(|| {
                Error::Internal(format!("segment {base} has no tier entry to upload"))
            })?;
            tier.upload = upload;
            b.put_tier(self.uid, base, &tier)?;
            if upload == UploadState::Verified {
                b.update_segment(self.uid, base, |e| e.location = Location::Archived)?;
            }
            Ok(())
        })
    }

    /// The last step of a removal, once the files are unlinked and the directory synced.
    pub fn remove_entries(&self, bases: &[u64]) -> Result<()> {
        fail::fail_point!("catalog::remove_entries", |_| Err(injected(
            "catalog::remove_entries"
        )));
        self.catalog()?.batch(|b| {
            for &base in bases {
                b.remove_segment(self.uid, base)?;
            }
            Ok(())
        })
    }
}

fn seal_entry(e: &mut SegmentEntry, footer: &SegmentFooter, payload_bytes: u64, now: u64) {
    e.state = SegmentState::Sealed;
    e.last_id = footer.last_id;
    e.record_count = footer.record_count;
    e.data_end = footer.data_end;
    e.records_crc = footer.records_crc;
    e.payload_bytes = payload_bytes;
    e.sealed_us = now;
}

/// The catalogue of a log opened alone, in its directory. A damaged one is set aside and
/// replaced (the log's record is then rebuilt from its files), never a refusal to open.
pub(crate) fn open_own_catalog(
    layout: &Layout,
    options: &Options,
    report: &mut RecoveryReport,
) -> Result<(CatalogLink, Known)> {
    let own = CatalogOptions::single_log();
    let (catalog, damage) = Catalog::open_or_replace(layout.dir(), &own)?;
    report.catalog_damage = damage;
    match CatalogLink::open(Arc::new(catalog), String::new(), options, layout, report) {
        Err(e @ Error::Catalog { .. }) => {
            // The log's own record is damaged (the catalogue was dropped with the error).
            Catalog::set_aside(layout.dir())?;
            report.catalog_damage = Some(e.to_string());
            let catalog = Arc::new(Catalog::open_with(layout.dir(), &own)?);
            CatalogLink::open(catalog, String::new(), options, layout, report)
        }
        other => other,
    }
}

/// The error a catalogue failpoint injects (feature `failpoints`).
#[allow(dead_code)]
pub(crate) fn injected(step: &str) -> Error {
    Error::Internal(format!("injected failure at {step}"))
}

/// The extents of the segments recovery found, for [`CatalogLink::reconcile`]: byte
/// positions chained from the first segment's (kept from the catalogue), payload bytes
/// from the catalogue where it knows them, else counted from the records.
pub(crate) fn extents(recovered: &Recovered, known: &Known) -> Result<Vec<Extent>> {
    let mut out: Vec<Extent> = Vec::with_capacity(recovered.segments.len());
    let mut pos = recovered
        .segments
        .first()
        .and_then(|s| known.entries.get(&s.base_id))
        .map_or(0, |e| e.first_byte_pos);
    let last = recovered.segments.len().saturating_sub(1);
    for (i, seg) in recovered.segments.iter().enumerate() {
        let entry = known.entries.get(&seg.base_id);
        let (capacity, payload) = match (&seg.file, &seg.footer) {
            (None, Some(_)) => {
                let e = entry.expect("unopened segments come from the catalogue");
                (e.capacity, e.payload_bytes)
            }
            (Some(file), Some(f)) => {
                let payload = match entry {
                    Some(e) if e.state == SegmentState::Sealed && e.last_id == f.last_id => {
                        e.payload_bytes
                    }
                    _ => recovery::payload_bytes(file, f),
                };
                (file.capacity(), payload)
            }
            (Some(file), None) if i == last => (file.capacity(), recovered.tail_payload),
            _ => {
                return Err(Error::Internal(format!(
                    "segment {} is neither sealed nor the tail",
                    seg.base_id
                )))
            }
        };
        out.push(Extent {
            base_id: seg.base_id,
            capacity,
            footer: seg.footer,
            data_end: recovered.active_write_offset.unwrap_or(HEADER_LEN),
            payload_bytes: payload,
            first_byte_pos: pos,
        });
        pos += payload;
    }
    Ok(out)
}
