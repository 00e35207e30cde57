//! Bytes of table `tiers`: what the catalogue knows of a segment that left its plain file
//! (compressed, being archived, archived). `docs/FORMAT.md` ("Table `tiers`") describes the
//! same bytes; keep them in step.
//!
//! The table is created by the first compression, so a catalogue written by a build
//! without tiers opens unchanged; a missing table reads as empty. Its key is the segment's
//! key (log uid ++ base id, big-endian), so an entry here always has one in `segments`.

use super::format::{check_value_crc, DecodeError};
use crate::segment::format::{crc64, u32_at, u64_at};

/// Version of the `TierEntry` values written by this build.
pub(super) const TIER_ENTRY_VERSION: u32 = 1;
/// Bytes before the frames.
const FIXED_LEN: usize = 56;
/// Bytes per frame.
const FRAME_LEN: usize = 32;
/// Most frames an entry may list: a 4 GiB segment cut in 64 KiB frames.
pub const MAX_FRAMES: usize = 1 << 16;

/// How far the upload of a segment's compressed file to the archive went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    /// Not started: no object may exist (an object left by a crash before the upload was
    /// recorded as started cannot exist either: it is recorded first).
    None,
    /// Started: an object may exist, complete or not; it is not trusted until verified.
    /// Open resumes the upload (an idempotent re-put) or, if the segment went, deletes it.
    Started,
    /// The object was read back and matched `compressed_len` and `compressed_crc`.
    Verified,
}

impl UploadState {
    fn code(self) -> u8 {
        match self {
            UploadState::None => 0,
            UploadState::Started => 1,
            UploadState::Verified => 2,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(UploadState::None),
            1 => Some(UploadState::Started),
            2 => Some(UploadState::Verified),
            _ => None,
        }
    }
}

/// One zstd frame of a compressed segment, in file order. Frames are cut on record
/// boundaries, so each holds whole records: reading one record decompresses one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameEntry {
    pub compressed_size: u32,
    pub decompressed_size: u32,
    /// Id of its first record (for a frame with no record: the id after the records
    /// before it).
    pub first_id: u64,
    /// Records that start in it.
    pub records: u32,
    /// Low 32 bits of XXH64 of its decompressed bytes (the seek table's checksum).
    pub checksum: u32,
    /// Byte position of its first record within the segment (payload bytes of the
    /// segment's records before it).
    pub first_pos: u64,
}

/// What the catalogue knows of a segment in a tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierEntry {
    /// zstd level it was compressed at.
    pub level: i32,
    /// Length of the compressed file (frames and seek table).
    pub compressed_len: u64,
    /// CRC-64/NVME of the whole compressed file.
    pub compressed_crc: u64,
    /// Length of the segment as a plain file (= the sum of the frames' decompressed sizes).
    pub plain_len: u64,
    /// CRC-64/NVME of the plain segment file's bytes.
    pub plain_crc: u64,
    /// When it was compressed, µs since the Unix epoch.
    pub compressed_us: u64,
    pub upload: UploadState,
    pub frames: Vec<FrameEntry>,
}

// Format: TierEntry (table `tiers`, key = segment key, 56 + 32 × frames + 8 bytes)
//   0..4   version          u32, TIER_ENTRY_VERSION
//   4..5   upload           u8, 0 None, 1 Started, 2 Verified
//   5..8   reserved         zero
//   8..12  level            i32, zstd level
//  12..16  frame_count      u32, 1..=65536
//  16..24  compressed_len   u64
//  24..32  compressed_crc   u64
//  32..40  plain_len        u64
//  40..48  plain_crc        u64
//  48..56  compressed_us    u64
//  56..    frames, 32 bytes each:
//          0..4 compressed_size u32, 4..8 decompressed_size u32, 8..16 first_id u64,
//          16..20 records u32, 20..24 checksum u32 (low 32 bits of XXH64, seed 0, of the
//          frame's decompressed bytes, as in the file's seek table), 24..32 first_pos u64
//  last 8  crc              u64, CRC-64/NVME of the 16-byte key, then every byte before it
impl TierEntry {
    /// The value stored under `key` (the segment's key).
    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(FIXED_LEN + FRAME_LEN * self.frames.len() + 8);
        b.extend_from_slice(&TIER_ENTRY_VERSION.to_le_bytes());
        b.extend_from_slice(&[self.upload.code(), 0, 0, 0]);
        b.extend_from_slice(&self.level.to_le_bytes());
        b.extend_from_slice(&(self.frames.len() as u32).to_le_bytes());
        for v in [
            self.compressed_len,
            self.compressed_crc,
            self.plain_len,
            self.plain_crc,
            self.compressed_us,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for f in &self.frames {
            b.extend_from_slice(&f.compressed_size.to_le_bytes());
            b.extend_from_slice(&f.decompressed_size.to_le_bytes());
            b.extend_from_slice(&f.first_id.to_le_bytes());
            b.extend_from_slice(&f.records.to_le_bytes());
            b.extend_from_slice(&f.checksum.to_le_bytes());
            b.extend_from_slice(&f.first_pos.to_le_bytes());
        }
        let crc = crc64(&[key, &b]);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes the value stored under `key`.
    pub fn decode(key: &[u8], b: &[u8]) -> Result<Self, DecodeError> {
        let damaged = |d: String| DecodeError::Damaged(format!("tier entry {d}"));
        check_value_crc(key, b).map_err(|_| damaged("checksum mismatch".into()))?;
        let version = u32_at(b, 0);
        if version > TIER_ENTRY_VERSION {
            return Err(DecodeError::Newer {
                what: "tier entry",
                version,
                known: TIER_ENTRY_VERSION,
            });
        }
        if version == 0 || b.len() < FIXED_LEN + 8 {
            return Err(damaged(format!("version {version} of {} bytes", b.len())));
        }
        let upload = UploadState::from_code(b[4])
            .ok_or_else(|| damaged(format!("has unknown upload state {}", b[4])))?;
        if b[5..8] != [0; 3] {
            return Err(damaged("has reserved bytes set".into()));
        }
        let count = u32_at(b, 12) as usize;
        if count == 0 || count > MAX_FRAMES || b.len() != FIXED_LEN + FRAME_LEN * count + 8 {
            return Err(damaged(format!(
                "of {} bytes lists {count} frames",
                b.len()
            )));
        }
        let frames: Vec<FrameEntry> = (0..count)
            .map(|i| {
                let f = &b[FIXED_LEN + FRAME_LEN * i..FIXED_LEN + FRAME_LEN * (i + 1)];
                FrameEntry {
                    compressed_size: u32_at(f, 0),
                    decompressed_size: u32_at(f, 4),
                    first_id: u64_at(f, 8),
                    records: u32_at(f, 16),
                    checksum: u32_at(f, 20),
                    first_pos: u64_at(f, 24),
                }
            })
            .collect();
        let entry = TierEntry {
            level: i32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
            compressed_len: u64_at(b, 16),
            compressed_crc: u64_at(b, 24),
            plain_len: u64_at(b, 32),
            plain_crc: u64_at(b, 40),
            compressed_us: u64_at(b, 48),
            upload,
            frames,
        };
        entry.check().map_err(damaged)?;
        Ok(entry)
    }

    /// What every entry satisfies: frames that add up to the file's sizes and ids that
    /// follow on.
    pub fn check(&self) -> Result<(), String> {
        if self.frames.is_empty() || self.frames.len() > MAX_FRAMES {
            return Err(format!("lists {} frames", self.frames.len()));
        }
        let compressed: u64 = self
            .frames
            .iter()
            .map(|f| u64::from(f.compressed_size))
            .sum();
        let plain: u64 = self
            .frames
            .iter()
            .map(|f| u64::from(f.decompressed_size))
            .sum();
        if compressed >= self.compressed_len || plain != self.plain_len {
            return Err(format!(
                "frames of {compressed} compressed and {plain} plain bytes in a file of \
                 {} compressed and {} plain bytes",
                self.compressed_len, self.plain_len
            ));
        }
        for w in self.frames.windows(2) {
            if w[0].first_id.checked_add(u64::from(w[0].records)) != Some(w[1].first_id)
                || w[1].first_pos < w[0].first_pos
            {
                return Err(format!(
                    "frame of ids from {} is followed by one from {}",
                    w[0].first_id, w[1].first_id
                ));
            }
        }
        Ok(())
    }

    /// Records in the segment.
    pub fn record_count(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.records)).sum()
    }

    /// Offset of frame `i` in the compressed file and in the plain segment.
    pub fn frame_offsets(&self, i: usize) -> (u64, u64) {
        self.frames[..i].iter().fold((0, 0), |(c, d), f| {
            (
                c + u64::from(f.compressed_size),
                d + u64::from(f.decompressed_size),
            )
        })
    }

    /// The frame that holds record `id` (which the caller knows is in the segment).
    pub fn frame_of_id(&self, id: u64) -> usize {
        // The last frame starting at or before `id`: a frame with no record shares its
        // first id with the frame after it, so it is never the last one for an id held.
        self.frames
            .partition_point(|f| f.first_id <= id)
            .saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::format::segment_key;

    fn entry() -> TierEntry {
        TierEntry {
            level: 3,
            compressed_len: 5000,
            compressed_crc: 0x1122,
            plain_len: 8192,
            plain_crc: 0x3344,
            compressed_us: 1_700_000_000_000_000,
            upload: UploadState::Started,
            frames: vec![
                FrameEntry {
                    compressed_size: 3000,
                    decompressed_size: 4096,
                    first_id: 10,
                    records: 5,
                    checksum: 0xdead_beef,
                    first_pos: 0,
                },
                FrameEntry {
                    compressed_size: 1900,
                    decompressed_size: 4096,
                    first_id: 15,
                    records: 0,
                    checksum: 7,
                    first_pos: 700,
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_catches_damage() {
        let key = segment_key(7, 10);
        let b = entry().encode(&key);
        assert_eq!(b.len(), FIXED_LEN + 2 * FRAME_LEN + 8);
        assert_eq!(TierEntry::decode(&key, &b), Ok(entry()));
        assert!(
            TierEntry::decode(&segment_key(7, 11), &b).is_err(),
            "other key"
        );
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x20;
            assert!(TierEntry::decode(&key, &bad).is_err(), "flip at {i}");
        }
        assert!(TierEntry::decode(&key, &b[..b.len() - 1]).is_err());
        let mut newer = b.clone();
        newer[0] = 9;
        let crc = crc64(&[&key, &newer[..newer.len() - 8]]);
        let n = newer.len();
        newer[n - 8..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            TierEntry::decode(&key, &newer),
            Err(DecodeError::Newer { version: 9, .. })
        ));
    }

    #[test]
    fn frames_must_add_up() {
        let mut e = entry();
        e.plain_len += 1;
        assert!(e.check().is_err());
        let mut e = entry();
        e.frames[1].first_id = 16;
        assert!(e.check().is_err());
        let e = entry();
        assert_eq!(e.frame_offsets(1), (3000, 4096));
        assert_eq!(e.record_count(), 5);
        assert_eq!(e.frame_of_id(10), 0);
        assert_eq!(e.frame_of_id(14), 0);
    }
}
