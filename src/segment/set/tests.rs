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

fn tiers() -> Arc<Tiers> {
    Tiers::new(&crate::tier::shared::CacheOptions::default(), None).unwrap()
}

fn open(file: Arc<SegmentFile>, first_pos: u64) -> KnownSegment {
    KnownSegment::Open { file, first_pos }
}

#[test]
fn positions_route_to_the_last_segment_starting_below_them() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    assert!(SegmentSet::new(Vec::new(), tiers())
        .pin_at_position(0)
        .unwrap()
        .is_none());
    let set = SegmentSet::new(
        vec![
            open(segment(&layout, 5, Some(9)), 40),
            open(segment(&layout, 10, Some(19)), 100),
        ],
        tiers(),
    );
    set.push_active(segment(&layout, 20, None), 250);
    assert_eq!(set.first_position(), 40);
    // At or below a segment's first position: the segment before it (a record of
    // 0 bytes at its end may be there), or the first segment.
    let cases = [
        (0, 5),
        (40, 5),
        (41, 5),
        (100, 5),
        (101, 10),
        (250, 10),
        (251, 20),
        (u64::MAX, 20),
    ];
    for (pos, base) in cases {
        let seg = set.pin_at_position(pos).unwrap().unwrap();
        assert_eq!(seg.base_id(), base, "position {pos}");
    }
    assert_eq!(set.pin_at_position(101).unwrap().unwrap().first_pos(), 100);
}

#[test]
fn pins_route_ids_to_their_segment_and_outlive_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let set = SegmentSet::new(
        vec![
            open(segment(&layout, 5, Some(9)), 0),
            open(segment(&layout, 10, Some(19)), 100),
        ],
        tiers(),
    );
    assert_eq!(set.first_id(), 5);
    assert!(set.pin(4).unwrap().is_none(), "below the first segment");
    for (id, base) in [(5, 5), (9, 5), (10, 10), (19, 10), (25, 10)] {
        assert_eq!(set.pin(id).unwrap().unwrap().base_id(), base, "id {id}");
    }
    set.push_active(segment(&layout, 20, None), 250);
    assert_eq!(set.pin(25).unwrap().unwrap().base_id(), 20);
    assert_eq!(set.pin(25).unwrap().unwrap().first_pos(), 250);
    assert!(set.pin(20).unwrap().unwrap().footer().is_none());
    assert!(set.pin(19).unwrap().unwrap().may_contain(19));
    assert!(!set.pin(19).unwrap().unwrap().may_contain(20));
    assert_eq!(set.bases(), [5, 10, 20]);

    // A sealed segment known from the catalogue is opened only when pinned.
    let lazy = SegmentSet::new(
        vec![KnownSegment::Sealed {
            path: layout.segment(5),
            base_id: 5,
            capacity: 8192,
            footer: *set.pin(5).unwrap().unwrap().footer().unwrap(),
            first_pos: 7,
        }],
        tiers(),
    );
    assert_eq!(lazy.first_position(), 7);
    assert_eq!(lazy.files_opened(), 0);
    assert_eq!(lazy.pin(7).unwrap().unwrap().footer().unwrap().last_id, 9);
    assert_eq!(lazy.files_opened(), 1);

    // A pin keeps the segment's bytes readable after the set is gone.
    let pinned = set.pin(12).unwrap().unwrap();
    drop(set);
    assert_eq!(pinned.bytes().len(), 8192);
    assert_eq!(pinned.footer().unwrap().last_id, 19);
}

#[test]
fn states_follow_the_footer() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let active = segment(&layout, 1, None);
    let set = SegmentSet::new(vec![open(active.clone(), 0)], tiers());
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
