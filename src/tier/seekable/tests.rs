// Frame plans are lists of ranges; a plan of one frame is one range, not a mistake.
#![allow(clippy::single_range_in_vec_init)]

use std::io::Write as _;
use std::process::Command;

use proptest::prelude::*;

use super::*;
use crate::segment::format::{
    encode_record, SegmentFooter, SegmentHeader, FOOTER_LEN as SEG_FOOTER_LEN, FORMAT_VERSION,
    HEADER_LEN,
};

/// xorshift64*: deterministic test data without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn json_like(rng: &mut Rng, id: u64) -> Vec<u8> {
    const NAMES: [&str; 5] = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let tags: Vec<String> = (0..rng.below(4))
        .map(|_| format!("\"{}\"", NAMES[rng.below(5) as usize]))
        .collect();
    format!(
        "{{\"id\":{id},\"user\":\"{}\",\"amount\":{}.{:02},\"ok\":{},\"tags\":[{}]}}",
        NAMES[rng.below(5) as usize],
        rng.below(100_000),
        rng.below(100),
        rng.below(2) == 1,
        tags.join(",")
    )
    .into_bytes()
}

/// A sealed segment as the log writes it: header, records, zeros, footer in the last 64
/// bytes. Returns its bytes and the boundaries the caller of `plan_frames` passes: the start
/// of every record, the end of the data and the start of the footer.
fn segment(payloads: &[Vec<u8>], capacity: u64) -> (Vec<u8>, Vec<u64>) {
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        flags: 0,
        base_id: 1,
        capacity,
        created_us: 1_700_000_000_000_000,
    };
    let mut data = header.encode().to_vec();
    let mut boundaries = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        boundaries.push(data.len() as u64);
        encode_record(&mut data, 1 + i as u64, 1_700_000_000_000_000 + i as u64, p);
    }
    let data_end = data.len() as u64;
    let footer_at = capacity - SEG_FOOTER_LEN;
    assert!(data_end <= footer_at, "test segment overflows its capacity");
    boundaries.push(data_end);
    boundaries.push(footer_at);
    data.resize(footer_at as usize, 0);
    let n = payloads.len() as u64;
    let footer = SegmentFooter {
        record_count: n,
        first_id: 1,
        last_id: n,
        data_end,
        records_crc: 0,
    };
    data.extend_from_slice(&footer.encode());
    (data, boundaries)
}

fn random_segment(seed: u64, records: usize, max_len: u64, json: bool) -> (Vec<u8>, Vec<u64>) {
    let mut rng = Rng(seed);
    let payloads: Vec<Vec<u8>> = (0..records as u64)
        .map(|id| {
            if json {
                json_like(&mut rng, id)
            } else {
                let n = rng.below(max_len + 1) as usize;
                rng.bytes(n)
            }
        })
        .collect();
    let used: u64 = payloads.iter().map(|p| 40 + p.len() as u64).sum();
    segment(
        &payloads,
        (HEADER_LEN + used + SEG_FOOTER_LEN + 4096).next_multiple_of(4096),
    )
}

fn compress(data: &[u8], boundaries: &[u64], target: u64, level: i32) -> (Vec<u8>, SeekTable) {
    let frames = plan_frames(boundaries, data.len() as u64, target).unwrap();
    let mut out = Vec::new();
    let (table, len) = Compressor::new(level)
        .unwrap()
        .compress(data, &frames, &mut out)
        .unwrap();
    assert_eq!(len, out.len() as u64);
    (out, table)
}

/// Every property a reader relies on: the table read back from the file is the one
/// written, every frame decompresses alone to its slice, frames end on boundaries, and the
/// lookup finds each frame.
fn check_file(data: &[u8], boundaries: &[u64], file: &[u8], table: &SeekTable) {
    let read = SeekTable::from_tail(file).unwrap();
    assert_eq!(&read, table);
    read.check_file_len(file.len() as u64).unwrap();
    assert_eq!(read.decompressed_len(), data.len() as u64);
    assert!(read.has_checksums());
    for (i, f) in read.frames().iter().enumerate() {
        let end = f.d_range().end;
        assert!(
            end == data.len() as u64 || boundaries.contains(&end),
            "cut at {end}"
        );
        let got = decompress_frame(read.frame_bytes(file, i).unwrap(), f).unwrap();
        assert_eq!(got, &data[f.d_range().start as usize..end as usize]);
        assert_eq!(read.frame_at(f.d_offset), Some(i));
        assert_eq!(read.frame_at(end - 1), Some(i));
    }
    assert_eq!(read.frame_at(data.len() as u64), None);
}

#[test]
fn plan_frames_cuts_on_boundaries_near_the_target() {
    let f = |b: &[u64], total, target| plan_frames(b, total, target).unwrap();
    // Greedy up to the target; the 70-byte piece is longer than the target and stands alone.
    assert_eq!(
        f(&[0, 10, 20, 30, 100], 120, 25),
        vec![0..20, 20..30, 30..100, 100..120]
    );
    // The zeros after the data and the footer: one frame when they fit the target, else the
    // footer is a frame of its own (reading it does not inflate the zeros).
    assert_eq!(f(&[64, 100, 200, 960], 1024, 4096), vec![0..1024]);
    assert_eq!(
        f(&[64, 100, 200, 960], 1024, 128),
        vec![0..100, 100..200, 200..960, 960..1024]
    );
    // A full segment: the end of the data is the footer's start (a repeated boundary).
    assert_eq!(
        f(&[64, 960, 960], 1024, 512),
        vec![0..64, 64..960, 960..1024]
    );
    assert_eq!(f(&[], 0, 10), Vec::<Range<u64>>::new());
    assert_eq!(f(&[0, 0], 0, 10), Vec::<Range<u64>>::new());
    assert_eq!(f(&[], 5, 1), vec![0..5]);
    // A target of 0 is taken as 1: every piece alone.
    assert_eq!(f(&[2, 3], 5, 0), vec![0..2, 2..3, 3..5]);
    // Ranges only: no memory is needed to plan a 6 GiB input.
    assert_eq!(
        f(&[3 << 30], 6 << 30, 1 << 20),
        vec![0..3 << 30, 3 << 30..6 << 30]
    );
}

#[test]
fn plan_frames_rejects_bad_boundaries() {
    for (b, total) in [(&[10, 5][..], 20), (&[5, 30][..], 20), (&[], 5 << 30)] {
        let err = plan_frames(b, total, 100).unwrap_err();
        assert!(matches!(err, SeekableError::InvalidPlan(_)), "{err}");
    }
}

#[test]
fn round_trip_random_and_json_segments() {
    let cases = [
        (
            random_segment(1, 300, 2000, false),
            [1u64, 700, 4096, 64 << 10, 1 << 30],
        ),
        (
            random_segment(2, 2000, 0, true),
            [1, 100, 4096, 16 << 10, 1 << 30],
        ),
        (segment(&[], 8192), [1, 64, 4096, 8192, 1 << 20]),
    ];
    for ((data, boundaries), targets) in &cases {
        for &target in targets {
            for level in [1, 3] {
                let (file, table) = compress(data, boundaries, target, level);
                check_file(data, boundaries, &file, &table);
                if target >= 1 << 20 {
                    assert_eq!(table.frames().len(), 1);
                }
            }
        }
    }
}

#[test]
fn frames_carry_content_size_and_checksum() {
    let (data, boundaries) = random_segment(3, 100, 500, true);
    let (file, table) = compress(&data, &boundaries, 2048, 3);
    assert!(table.frames().len() > 1);
    for (i, f) in table.frames().iter().enumerate() {
        let frame = table.frame_bytes(&file, i).unwrap();
        assert_eq!(&frame[..4], &0xFD2F_B528u32.to_le_bytes());
        // Frame_Header_Descriptor: bit 2 Content_Checksum_flag, bit 3 reserved, no dictionary.
        let fhd = frame[4];
        assert_eq!(fhd & 0x0F, 0x04, "descriptor {fhd:#04x}");
        assert_eq!(
            zstd_safe::get_frame_content_size(frame).unwrap(),
            Some(u64::from(f.d_size))
        );
    }
}

fn zstd_cli(args: &[&str], file: &std::path::Path) -> std::process::Output {
    let out = Command::new("zstd")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("the zstd command-line tool is needed by this test (apt install zstd): {e}")
        });
    assert!(
        out.status.success(),
        "zstd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn zstd_cli_restores_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        random_segment(4, 500, 3000, false),
        random_segment(5, 3000, 0, true),
        segment(&[], 4096),
    ];
    for (n, (data, boundaries)) in cases.iter().enumerate() {
        let (file, _) = compress(data, boundaries, 8192, 3);
        let path = dir.path().join(format!("segment-{n}.zst"));
        std::fs::write(&path, &file).unwrap();
        let out = zstd_cli(&["-d", "-c"], &path);
        assert!(out.stdout == *data, "zstd -d differs for case {n}");
        zstd_cli(&["-t", "-q"], &path);
        zstd_cli(&["-l"], &path);
    }
}

#[test]
fn zeekstd_reads_our_file() {
    use std::io::Read as _;
    let (data, boundaries) = random_segment(6, 1000, 0, true);
    let (file, table) = compress(&data, &boundaries, 4096, 3);
    let theirs = zeekstd::SeekTable::from_seekable(&mut zeekstd::BytesWrapper::new(&file)).unwrap();
    assert_eq!(theirs.num_frames() as usize, table.frames().len());
    assert_eq!(theirs.size_decomp(), data.len() as u64);
    for (i, f) in table.frames().iter().enumerate() {
        assert_eq!(theirs.frame_start_comp(i as u32).unwrap(), f.c_offset);
        assert_eq!(theirs.frame_start_decomp(i as u32).unwrap(), f.d_offset);
    }
    let mut rng = Rng(7);
    for _ in 0..5 {
        let i = rng.below(table.frames().len() as u64) as u32;
        let mut dec = zeekstd::DecodeOptions::new(zeekstd::BytesWrapper::new(&file))
            .lower_frame(i)
            .upper_frame(i)
            .into_decoder()
            .unwrap();
        let mut got = Vec::new();
        dec.read_to_end(&mut got).unwrap();
        let r = table.frames()[i as usize].d_range();
        assert_eq!(got, &data[r.start as usize..r.end as usize]);
    }
}

#[test]
fn a_flipped_byte_in_a_frame_is_an_error() {
    let (data, boundaries) = random_segment(8, 20, 300, false);
    let (file, table) = compress(&data, &boundaries, 1024, 3);
    // Every byte of a frame, two different bit flips each: never wrong data. A few flips
    // land in bits the decoder does not use (the padding of an entropy-coded stream) and
    // still give the original bytes, which both checksums then confirm.
    let (i, f) = (1, table.frames()[1]);
    let frame = table.frame_bytes(&file, i).unwrap();
    let want = &data[f.d_range().start as usize..f.d_range().end as usize];
    let mut seen = 0;
    for at in 0..frame.len() {
        for bit in [0x01, 0x80] {
            let mut bad = frame.to_vec();
            bad[at] ^= bit;
            match decompress_frame(&bad, &f) {
                Ok(got) => assert!(got == want, "flip {bit:#04x} at {at} gave other data"),
                Err(SeekableError::CorruptFrame { offset, .. }) if offset == f.c_offset => {
                    seen += 1
                }
                Err(e) => panic!("flip {bit:#04x} at {at}: {e}"),
            }
        }
    }
    assert!(seen >= frame.len() * 2 * 9 / 10, "only {seen} flips seen");
    // The table's own checksum and sizes are checked too.
    for wrong in [
        FrameEntry {
            checksum: f.checksum.map(|c| c ^ 1),
            ..f
        },
        FrameEntry {
            d_size: f.d_size + 1,
            ..f
        },
        FrameEntry {
            c_size: f.c_size - 1,
            ..f
        },
    ] {
        assert!(decompress_frame(frame, &wrong).is_err());
    }
    // Two frames given as one.
    let two = &file[f.c_offset as usize..table.frames()[2].c_range().end as usize];
    let both = FrameEntry {
        c_size: two.len() as u32,
        ..f
    };
    assert!(decompress_frame(two, &both).is_err());
}

#[test]
fn damaged_tails_are_errors() {
    let (data, boundaries) = random_segment(9, 10, 100, false);
    let (file, table) = compress(&data, &boundaries, 256, 3);
    let n = file.len();
    let need = SeekTable::tail_len(&file[n - FOOTER_LEN..]).unwrap();
    assert_eq!(need, table.encoded_len());
    assert_eq!(
        SeekTable::from_tail(&file[n - need as usize..]).unwrap(),
        table
    );
    let short = SeekTable::from_tail(&file[n - need as usize + 1..]).unwrap_err();
    assert!(
        matches!(short, SeekableError::TailTooShort { .. }),
        "{short}"
    );
    assert!(matches!(
        SeekTable::from_tail(&file[n - 8..]),
        Err(SeekableError::TailTooShort { .. })
    ));
    // Cut off at the end: the footer is not where it should be.
    let cut = SeekTable::from_tail(&file[..n - 1]).unwrap_err();
    assert!(matches!(cut, SeekableError::BadMagic { .. }), "{cut}");
    assert!(table.check_file_len(n as u64 - 1).is_err());

    let damaged = |at: usize, f: fn(&mut u8)| {
        let mut bad = file.clone();
        f(&mut bad[at]);
        SeekTable::from_tail(&bad)
    };
    let table_at = n - need as usize;
    let err = damaged(n - 1, |b| *b ^= 0x10).unwrap_err();
    assert!(
        matches!(
            err,
            SeekableError::BadMagic {
                what: "seekable",
                ..
            }
        ),
        "{err}"
    );
    let err = damaged(n - 5, |b| *b |= 0x04).unwrap_err();
    assert!(matches!(err, SeekableError::ReservedBits(0x84)), "{err}");
    let err = damaged(table_at, |b| *b ^= 1).unwrap_err();
    assert!(matches!(err, SeekableError::BadMagic { .. }), "{err}");
    let err = damaged(table_at + 4, |b| *b ^= 1).unwrap_err();
    assert!(matches!(err, SeekableError::SizeMismatch(_)), "{err}");
    // A frame count that does not match the table's length: from the end of the file
    // the table then seems to start elsewhere; on its own it is the wrong length. And more
    // frames than the format allows.
    let err = damaged(n - 9, |b| *b += 1).unwrap_err();
    assert!(matches!(err, SeekableError::BadMagic { .. }), "{err}");
    let mut bad = file[table_at..].to_vec();
    bad[need as usize - 9] += 1;
    let err = SeekTable::decode(&bad).unwrap_err();
    assert!(matches!(err, SeekableError::SizeMismatch(_)), "{err}");
    let err = damaged(n - 6, |b| *b = 0x80).unwrap_err();
    assert!(matches!(err, SeekableError::TooManyFrames(_)), "{err}");
    // The unused bits 0-1 are ignored, as the format asks.
    assert_eq!(damaged(n - 5, |b| *b |= 0x03).unwrap(), table);
    // A damaged size shows when the table is checked against the file.
    let bigger = damaged(table_at + 8, |b| *b ^= 1).unwrap();
    assert!(bigger.check_file_len(n as u64).is_err());
}

#[test]
fn tables_without_checksums_decode() {
    let mut t = Vec::new();
    t.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
    t.extend_from_slice(&(2 * 8 + 9u32).to_le_bytes());
    for (c, d) in [(10u32, 100u32), (0, 0)] {
        t.extend_from_slice(&c.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t.extend_from_slice(&2u32.to_le_bytes());
    t.push(0);
    t.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
    let table = SeekTable::decode(&t).unwrap();
    assert!(!table.has_checksums());
    assert_eq!(table.frames()[1].c_offset, 10);
    assert_eq!(table.frames()[1].d_offset, 100);
    assert_eq!(table.frame_at(99), Some(0));
    assert_eq!(table.frame_at(100), None);
    assert_eq!(table.encode(), t);
}

#[test]
fn frames_without_a_content_size_are_checked_against_the_table() {
    // Another writer's frame: zstd's streaming encoder, given the data in pieces, does not
    // record the size.
    let data = json_like(&mut Rng(11), 1).repeat(50);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    for piece in data.chunks(100) {
        enc.write_all(piece).unwrap();
    }
    let frame = enc.finish().unwrap();
    assert_eq!(zstd_safe::get_frame_content_size(&frame).unwrap(), None);
    let entry = FrameEntry {
        c_offset: 0,
        c_size: frame.len() as u32,
        d_offset: 0,
        d_size: data.len() as u32,
        checksum: Some(frame_checksum(&data)),
    };
    assert_eq!(decompress_frame(&frame, &entry).unwrap(), data);
    for d_size in [entry.d_size - 1, entry.d_size + 1, 0] {
        let err = decompress_frame(&frame, &FrameEntry { d_size, ..entry }).unwrap_err();
        assert!(matches!(err, SeekableError::CorruptFrame { .. }), "{err}");
    }
}

#[test]
fn compress_rejects_a_plan_that_does_not_cover_the_data() {
    let data = [7u8; 100];
    for frames in [
        &[0..50][..],
        &[0..50, 60..100],
        &[0..101],
        &[10..100],
        &[0..60, 50..100],
    ] {
        let err = Compressor::new(3)
            .unwrap()
            .compress(&data, frames, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, SeekableError::InvalidPlan(_)), "{err}");
    }
}

#[test]
fn errors_map_to_the_engine_errors() {
    let e = SeekableError::CorruptFrame {
        offset: 42,
        detail: "x".into(),
    };
    assert!(matches!(
        e.into_error("read", "/s", 0),
        crate::Error::Corruption { offset: 42, .. }
    ));
    let e = SeekableError::Io(io::Error::other("disk"));
    assert!(matches!(
        e.into_error("write", "/s", 0),
        crate::Error::Io { op: "write", .. }
    ));
}

proptest! {
    #[test]
    fn plan_frames_properties(
        mut cuts in proptest::collection::vec(0u64..10_000, 0..50),
        total in 0u64..10_000,
        target in 0u64..3_000,
    ) {
        cuts.retain(|&c| c <= total);
        cuts.sort_unstable();
        let frames = plan_frames(&cuts, total, target).unwrap();
        let mut at = 0;
        for f in &frames {
            prop_assert_eq!(f.start, at);
            prop_assert!(f.end > f.start);
            prop_assert!(f.end == total || cuts.contains(&f.end));
            // Longer than the target only when there was no boundary to cut at inside.
            if f.end - f.start > target.max(1) {
                prop_assert!(!cuts.iter().any(|&c| c > f.start && c < f.end));
            }
            at = f.end;
        }
        prop_assert_eq!(at, total);
    }

    #[test]
    fn decoding_arbitrary_tails_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SeekTable::tail_len(&tail);
        let _ = SeekTable::from_tail(&tail);
        let _ = SeekTable::decode(&tail);
    }

    #[test]
    fn decoding_damaged_tables_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let (data, boundaries) = random_segment(10, 8, 100, false);
        let (mut file, _) = compress(&data, &boundaries, 128, 1);
        let n = file.len();
        for (at, b) in edits {
            // Mostly the table, sometimes the frames.
            let at = n - 1 - at % n.min(80);
            file[at] = b;
        }
        if let Ok(t) = SeekTable::from_tail(&file) {
            for (i, f) in t.frames().iter().enumerate() {
                if let Some(bytes) = t.frame_bytes(&file, i) {
                    let _ = decompress_frame(bytes, f);
                }
            }
        }
    }

    #[test]
    fn decompressing_arbitrary_frames_never_panics(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..300),
        magic in any::<bool>(),
        d_size in 0u32..100_000,
        checksum in any::<Option<u32>>(),
    ) {
        if magic && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&0xFD2F_B528u32.to_le_bytes());
        }
        let entry = FrameEntry {
            c_offset: 0,
            c_size: bytes.len() as u32,
            d_offset: 0,
            d_size,
            checksum,
        };
        let _ = decompress_frame(&bytes, &entry);
    }
}
