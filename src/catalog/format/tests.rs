use super::*;

const NAME: &str = "orders";
const UID: u64 = 7;
const BASE: u64 = 1001;

fn meta() -> LogMeta {
    LogMeta {
        uid: UID,
        segment_format_version: 1,
        segment_size: 64 << 20,
        clean_close_id: 0x0102_0304_0506_0708,
        oldest_retained_id: 1,
        created_us: 1_700_000_000_000_000,
    }
}

fn sealed() -> SegmentEntry {
    SegmentEntry {
        state: SegmentState::Sealed,
        location: Location::LocalFile,
        capacity: 64 << 20,
        last_id: 1100,
        record_count: 100,
        payload_bytes: 12_345,
        data_end: 16_064,
        first_byte_pos: 99_000,
        created_us: 1_700_000_000_000_000,
        sealed_us: 1_700_000_000_500_000,
        records_crc: 0xae8b_1486_0a79_9888,
    }
}

fn key() -> [u8; SEGMENT_KEY_LEN] {
    segment_key(UID, BASE)
}

#[test]
fn crc_test_vector() {
    assert_eq!(crc64(&[b"123456789"]), 0xae8b14860a799888);
    assert_eq!(crc64(&[b"1234", b"56789"]), 0xae8b14860a799888);
}

/// The exact bytes of a LogMeta stored under "orders": a change here is a format
/// change.
#[test]
fn log_meta_golden_bytes() {
    #[rustfmt::skip]
    let golden: [u8; LOG_META_LEN] = [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // version 1, flags 0
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // uid 7
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // segment format 1, reserved
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, // segment_size 64 MiB
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // clean_close_id
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // oldest_retained_id 1
        0x00, 0x40, 0x1e, 0x18, 0x24, 0x0a, 0x06, 0x00, // created_us
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // crc (checked below)
    ];
    let b = meta().encode(NAME);
    assert_eq!(b[..56], golden[..56]);
    let crc = crc64(&[NAME.as_bytes(), &golden[..56]]);
    assert_eq!(b[56..], crc.to_le_bytes());
    assert_eq!(
        u64::from_le_bytes(b[56..].try_into().unwrap()),
        GOLDEN_META_CRC
    );
    assert_eq!(LogMeta::decode(NAME.as_bytes(), &b), Ok(meta()));
}

const GOLDEN_META_CRC: u64 = 0x9c84_fc6b_3407_2c48;

/// The exact bytes of a SegmentEntry stored under (7, 1001): a change here is a
/// format change.
#[test]
fn segment_entry_golden_bytes() {
    #[rustfmt::skip]
    let golden: [u8; SEGMENT_ENTRY_LEN] = [
        0x01, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00, // version 1, Sealed, LocalFile
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, // capacity 64 MiB
        0x4c, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // last_id 1100
        0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // record_count 100
        0x39, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // payload_bytes 12345
        0xc0, 0x3e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // data_end 16064
        0xb8, 0x82, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // first_byte_pos 99000
        0x00, 0x40, 0x1e, 0x18, 0x24, 0x0a, 0x06, 0x00, // created_us
        0x20, 0xe1, 0x25, 0x18, 0x24, 0x0a, 0x06, 0x00, // sealed_us
        0x88, 0x98, 0x79, 0x0a, 0x86, 0x14, 0x8b, 0xae, // records_crc
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // crc (checked below)
    ];
    #[rustfmt::skip]
    let golden_key: [u8; SEGMENT_KEY_LEN] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // uid 7, big-endian
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe9, // base 1001, big-endian
    ];
    assert_eq!(key(), golden_key);
    let b = sealed().encode(UID, BASE);
    assert_eq!(b[..80], golden[..80]);
    let crc = crc64(&[&golden_key, &golden[..80]]);
    assert_eq!(b[80..], crc.to_le_bytes());
    assert_eq!(
        u64::from_le_bytes(b[80..].try_into().unwrap()),
        GOLDEN_ENTRY_CRC
    );
    assert_eq!(SegmentEntry::decode(&golden_key, &b), Ok(sealed()));
}

const GOLDEN_ENTRY_CRC: u64 = 0x2d87_0423_bb6c_d8fb;

#[test]
fn header_round_trip() {
    let h = CatalogHeader {
        next_uid: 42,
        created_us: 5,
    };
    let b = h.encode();
    assert_eq!(b[0..4], 1u32.to_le_bytes());
    assert_eq!(b[8..16], 42u64.to_le_bytes());
    assert_eq!(CatalogHeader::decode(&b), Ok(h));
}

#[test]
fn entries_round_trip_in_every_state() {
    for state in [
        SegmentState::Active,
        SegmentState::Sealed,
        SegmentState::Deleting,
    ] {
        let e = SegmentEntry { state, ..sealed() };
        assert_eq!(SegmentEntry::decode(&key(), &e.encode(UID, BASE)), Ok(e));
    }
    let a = SegmentEntry::active(4096, 64, 10, 11);
    assert_eq!(SegmentEntry::decode(&key(), &a.encode(UID, BASE)), Ok(a));
    // The empty name of a log opened alone.
    assert_eq!(LogMeta::decode(b"", &meta().encode("")), Ok(meta()));
}

/// Re-seals `b` after an edit, as a newer (or buggy) writer would have.
fn reseal<const N: usize>(key: &[u8], b: [u8; N]) -> [u8; N] {
    seal(key, b)
}

/// Version 1 for a plain file (what builds without tiers read), version 2 for a tier,
/// which a version-1 value may not claim.
#[test]
fn tier_locations_are_written_as_version_2() {
    for (location, version) in [
        (Location::LocalFile, 1u32),
        (Location::LocalCompressed, 2),
        (Location::Archived, 2),
    ] {
        let e = SegmentEntry {
            location,
            ..sealed()
        };
        let b = e.encode(UID, BASE);
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), version);
        assert_eq!(b[5], location.code());
        assert_eq!(SegmentEntry::decode(&key(), &b), Ok(e));
        let mut v1 = b;
        v1[0..4].copy_from_slice(&1u32.to_le_bytes());
        let v1 = reseal(&key(), v1);
        assert_eq!(
            SegmentEntry::decode(&key(), &v1).is_err(),
            location != Location::LocalFile
        );
    }
}

#[test]
fn newer_versions_are_refused_not_misread() {
    let mut b = sealed().encode(UID, BASE);
    b[0..4].copy_from_slice(&3u32.to_le_bytes());
    let b = reseal(&key(), b);
    assert_eq!(
        SegmentEntry::decode(&key(), &b),
        Err(DecodeError::Newer {
            what: "segment entry",
            version: 3,
            known: 2
        })
    );
    // A newer version that appended fields: refused by its version, not its length.
    let mut longer = [0u8; SEGMENT_ENTRY_LEN + 8];
    longer[..SEGMENT_ENTRY_LEN - 8].copy_from_slice(&b[..SEGMENT_ENTRY_LEN - 8]);
    let longer = reseal(&key(), longer);
    assert!(matches!(
        SegmentEntry::decode(&key(), &longer),
        Err(DecodeError::Newer { version: 3, .. })
    ));
    let mut m = meta().encode(NAME);
    m[0..4].copy_from_slice(&9u32.to_le_bytes());
    let m = reseal(NAME.as_bytes(), m);
    let err = LogMeta::decode(NAME.as_bytes(), &m).unwrap_err();
    assert!(matches!(err, DecodeError::Newer { version: 9, .. }));
    assert!(err.to_string().contains("newer libaof"), "{err}");
    let mut h = CatalogHeader {
        next_uid: 1,
        created_us: 0,
    }
    .encode();
    h[0..4].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(
        CatalogHeader::decode(&reseal(HEADER_KEY, h)),
        Err(DecodeError::Newer { version: 3, .. })
    ));
}

#[test]
fn damage_is_detected() {
    let good = sealed().encode(UID, BASE);
    for at in 0..SEGMENT_ENTRY_LEN {
        let mut b = good;
        b[at] ^= 0x10;
        assert!(
            matches!(
                SegmentEntry::decode(&key(), &b),
                Err(DecodeError::Damaged(_))
            ),
            "flip at {at}"
        );
    }
    // A damaged key, or the value under another key.
    for at in 0..SEGMENT_KEY_LEN {
        let mut k = key();
        k[at] ^= 0x01;
        assert!(
            matches!(
                SegmentEntry::decode(&k, &good),
                Err(DecodeError::Damaged(_))
            ),
            "key flip at {at}"
        );
    }
    let m = meta().encode(NAME);
    assert!(matches!(
        LogMeta::decode(b"orderz", &m),
        Err(DecodeError::Damaged(_))
    ));
    assert!(matches!(
        SegmentEntry::decode(&key(), &good[..40]),
        Err(DecodeError::Damaged(_))
    ));
    assert!(matches!(
        SegmentEntry::decode(&key(), &[]),
        Err(DecodeError::Damaged(_))
    ));
    // Unknown state, flags or a zero uid behind a valid checksum are damage too.
    let mut b = good;
    b[4] = 9;
    assert!(matches!(
        SegmentEntry::decode(&key(), &reseal(&key(), b)),
        Err(DecodeError::Damaged(d)) if d.contains("state 9")
    ));
    let mut m = meta().encode(NAME);
    m[4] = 1;
    assert!(matches!(
        LogMeta::decode(NAME.as_bytes(), &reseal(NAME.as_bytes(), m)),
        Err(DecodeError::Damaged(d)) if d.contains("flags")
    ));
    let mut m = meta().encode(NAME);
    m[8..16].fill(0);
    assert!(matches!(
        LogMeta::decode(NAME.as_bytes(), &reseal(NAME.as_bytes(), m)),
        Err(DecodeError::Damaged(_))
    ));
}

#[test]
fn segment_keys_sort_by_uid_then_base() {
    let keys = [
        (1, 1),
        (1, 2),
        (1, 256),
        (2, 1),
        (256, 1),
        (u64::MAX, u64::MAX),
    ];
    for w in keys.windows(2) {
        assert!(
            segment_key(w[0].0, w[0].1) < segment_key(w[1].0, w[1].1),
            "{w:?}"
        );
    }
    assert_eq!(parse_segment_key(&segment_key(3, 99)), Ok((3, 99)));
    assert!(parse_segment_key(&[0; 15]).is_err());
}

#[test]
fn sealed_entries_must_be_consistent() {
    assert_eq!(sealed().check(1001), Ok(()));
    assert!(sealed().check(1000).is_err());
    let empty = SegmentEntry {
        last_id: 0,
        record_count: 0,
        ..sealed()
    };
    assert_eq!(empty.check(1), Ok(()));
    let overfull = SegmentEntry {
        data_end: sealed().capacity + 1,
        ..sealed()
    };
    assert!(overfull.check(1001).is_err());
    // Active entries need no last id.
    assert_eq!(SegmentEntry::active(4096, 64, 0, 0).check(5), Ok(()));
}
