//! The segment set of one log: the only owner of its segments, of each one's state and of
//! where its bytes live. Readers ask it for a pinned [`SegmentReader`] by id and never see a
//! file; the writer adds the next segment and marks the last one sealed.
//!
//! A pin keeps the segment's bytes (today: its file and map) alive until released, whatever
//! happens to the set meanwhile. Retention and the tiers change a segment's state and
//! location here; they wait for pins, not the other way round.

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::segment::file::SegmentFile;
use crate::segment::format::{RecordView, SegmentFooter};

/// Where a segment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentState {
    /// The segment appends go to: no footer yet.
    Active,
    /// Full and sealed with a footer; never written again.
    Sealed,
}

/// Where a segment's bytes live.
#[derive(Clone)]
enum Location {
    /// A segment file in the log directory, mapped.
    Local(Arc<SegmentFile>),
}

#[derive(Clone)]
struct Entry {
    base_id: u64,
    state: SegmentState,
    location: Location,
}

impl Entry {
    fn new(file: Arc<SegmentFile>) -> Entry {
        let state = match file.footer() {
            Some(_) => SegmentState::Sealed,
            None => SegmentState::Active,
        };
        Entry {
            base_id: file.base_id(),
            state,
            location: Location::Local(file),
        }
    }

    fn pin(&self) -> SegmentReader {
        match &self.location {
            Location::Local(file) => SegmentReader { file: file.clone() },
        }
    }
}

/// Every segment of a log, in id order.
pub struct SegmentSet {
    entries: RwLock<Vec<Entry>>,
}

impl SegmentSet {
    /// The segments recovery found, in id order; only the last may be unsealed.
    pub fn new(files: Vec<Arc<SegmentFile>>) -> SegmentSet {
        SegmentSet {
            entries: RwLock::new(files.into_iter().map(Entry::new).collect()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Id of the oldest record held (1 for an empty log).
    pub fn first_id(&self) -> u64 {
        self.read().first().map_or(1, |e| e.base_id)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// The segment that holds `id`, pinned; `None` if `id` is below the first segment. The
    /// caller bounds `id` from above by the visible watermark.
    pub fn pin(&self, id: u64) -> Option<SegmentReader> {
        let entries = self.read();
        let i = entries.partition_point(|e| e.base_id <= id);
        i.checked_sub(1).map(|i| entries[i].pin())
    }

    /// Every segment, pinned, in id order.
    pub fn pin_all(&self) -> Vec<SegmentReader> {
        self.read().iter().map(Entry::pin).collect()
    }

    /// Adds the next active segment (the writer's roll, after the previous one is sealed).
    pub fn push_active(&self, file: Arc<SegmentFile>) {
        let mut entries = self.write();
        debug_assert!(entries.iter().all(|e| e.state == SegmentState::Sealed));
        entries.push(Entry::new(file));
    }

    /// Records that segment `base_id` was sealed (its footer is published by the file).
    pub fn mark_sealed(&self, base_id: u64) {
        if let Some(e) = self.write().iter_mut().find(|e| e.base_id == base_id) {
            e.state = SegmentState::Sealed;
        }
    }
}

/// A pinned segment, for reading: its bytes stay valid while the pin lives. Cheap to
/// clone; cursors keep one while they walk its records.
#[derive(Clone)]
pub struct SegmentReader {
    file: Arc<SegmentFile>,
}

impl SegmentReader {
    pub fn base_id(&self) -> u64 {
        self.file.base_id()
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn footer(&self) -> Option<&SegmentFooter> {
        self.file.footer()
    }

    /// Whether `id` lies in this segment, as far as the caller may know: for an unsealed
    /// segment every id from the base on (the caller bounds it by the visible watermark,
    /// which it must load *before* calling this).
    pub fn may_contain(&self, id: u64) -> bool {
        self.file.may_contain(id)
    }

    /// Offset of record `id`, which the caller knows is here and fully written.
    pub fn offset_of(&self, id: u64) -> Result<u64> {
        self.file.offset_of(id)
    }

    /// Decodes and checks the record `id` at `offset`.
    pub fn record_at(&self, offset: u64, id: u64) -> Result<RecordView<'_>> {
        self.file.record_at(offset, id)
    }

    /// The whole segment, as stored (for verification).
    pub fn bytes(&self) -> &[u8] {
        self.file.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::file::{create_segment_file, prepare_segment};
    use crate::segment::format::{SegmentFooter, HEADER_LEN};
    use crate::segment::layout::Layout;

    fn segment(layout: &Layout, base_id: u64, sealed_to: Option<u64>) -> Arc<SegmentFile> {
        let tmp = layout.next_segment_tmp();
        let file = create_segment_file(&tmp, 8192, 0).unwrap();
        let seg = prepare_segment(file, &tmp, layout.segment(base_id), base_id, 8192).unwrap();
        if let Some(last_id) = sealed_to {
            seg.seal(SegmentFooter {
                record_count: last_id + 1 - base_id,
                first_id: base_id,
                last_id,
                data_end: HEADER_LEN,
                records_crc: 0,
            })
            .unwrap();
        }
        Arc::new(seg)
    }

    #[test]
    fn pins_route_ids_to_their_segment_and_outlive_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let set = SegmentSet::new(vec![
            segment(&layout, 5, Some(9)),
            segment(&layout, 10, Some(19)),
        ]);
        assert_eq!(set.first_id(), 5);
        assert!(set.pin(4).is_none(), "below the first segment");
        for (id, base) in [(5, 5), (9, 5), (10, 10), (19, 10), (25, 10)] {
            assert_eq!(set.pin(id).unwrap().base_id(), base, "id {id}");
        }
        set.push_active(segment(&layout, 20, None));
        assert_eq!(set.pin(25).unwrap().base_id(), 20);
        assert!(set.pin(20).unwrap().footer().is_none());
        assert!(set.pin(19).unwrap().may_contain(19));
        assert!(!set.pin(19).unwrap().may_contain(20));
        let bases: Vec<u64> = set.pin_all().iter().map(SegmentReader::base_id).collect();
        assert_eq!(bases, [5, 10, 20]);

        // A pin keeps the segment's bytes readable after the set is gone.
        let pinned = set.pin(12).unwrap();
        drop(set);
        assert_eq!(pinned.bytes().len(), 8192);
        assert_eq!(pinned.footer().unwrap().last_id, 19);
    }

    #[test]
    fn states_follow_the_footer() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let active = segment(&layout, 1, None);
        let set = SegmentSet::new(vec![active.clone()]);
        assert_eq!(set.read()[0].state, SegmentState::Active);
        active
            .seal(SegmentFooter {
                record_count: 0,
                first_id: 1,
                last_id: 0,
                data_end: HEADER_LEN,
                records_crc: 0,
            })
            .unwrap();
        set.mark_sealed(1);
        assert_eq!(set.read()[0].state, SegmentState::Sealed);
    }
}
