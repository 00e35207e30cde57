//! Bytes of the catalogue's keys and values. `docs/FORMAT.md` ("Catalogue (version 1)")
//! describes the same bytes for humans; keep them in step.
//!
//! Integers inside values are little-endian and fixed-width; integers inside keys are
//! big-endian, so that libmdbx's bytewise key order is numeric order. Every value ends
//! with the CRC-64/NVME of its key followed by the value's other bytes, in every version:
//! libmdbx checks the shape of its pages but not the bytes of keys and values, so a
//! damaged value, a damaged key, or a value under another key is caught here. The first
//! field of every value is its version; a value of a newer version than this build knows
//! is refused (`DecodeError::Newer`), never read as if it were an older one.

/// Version of the catalogue header written by this build.
pub(super) const CATALOG_VERSION: u32 = 1;
/// Version of the `LogMeta` values written by this build.
pub(super) const LOG_META_VERSION: u32 = 1;
/// Highest version of the `SegmentEntry` values this build reads. It writes version 1 for
/// a segment in a local plain file (what every build reads) and version 2 for one in a tier
/// (compressed or archived), so that a build without tiers refuses such an entry as newer
/// instead of looking for a file that is not there.
pub(super) const SEGMENT_ENTRY_VERSION: u32 = 2;

/// Key of the catalogue header in table `meta`.
pub(super) const HEADER_KEY: &[u8] = b"header";
pub(super) const HEADER_LEN: usize = 32;
pub(super) const LOG_META_LEN: usize = 64;
pub(super) const SEGMENT_ENTRY_LEN: usize = 88;
/// Keys of table `segments`: log uid ++ base id, both big-endian.
pub(super) const SEGMENT_KEY_LEN: usize = 16;
/// Longest log name the catalogue stores, in bytes (libmdbx keys on 4 KiB pages may be up
/// to ~2 KiB). More than a manager accepts (`crate::MAX_LOG_NAME_LEN`); the catalogue
/// also takes the empty name, the one of a log opened alone.
pub const MAX_NAME_LEN: usize = 1024;

/// Smallest value: a version and a checksum.
const MIN_VALUE_LEN: usize = 4 + 8;

// The same CRC and little-endian readers as the segment format: one of each.
use crate::segment::format::{crc64, u32_at, u64_at};

/// Writes the checksum of `key` and `b[..N - 8]` into the last 8 bytes of `b`.
fn seal<const N: usize>(key: &[u8], mut b: [u8; N]) -> [u8; N] {
    let crc = crc64(&[key, &b[..N - 8]]);
    b[N - 8..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Why a stored key or value did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Wrong length, checksum mismatch or an impossible field: the bytes are damaged.
    Damaged(String),
    /// Written by a newer build: this one refuses to guess at its fields.
    Newer {
        what: &'static str,
        version: u32,
        known: u32,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Damaged(d) => write!(f, "damaged: {d}"),
            DecodeError::Newer {
                what,
                version,
                known,
            } => write!(
                f,
                "{what} version {version} was written by a newer libaof (this build reads \
                 versions up to {known})"
            ),
        }
    }
}

/// Checks only the checksum of the value stored under `key`, whatever its version: proves
/// a key read while walking a range is not damaged, even if its value is of a version
/// this build cannot decode.
pub fn check_value_crc(key: &[u8], b: &[u8]) -> Result<(), DecodeError> {
    if b.len() < MIN_VALUE_LEN {
        return Err(DecodeError::Damaged(format!(
            "value of {} bytes is too short",
            b.len()
        )));
    }
    let (body, crc) = b.split_at(b.len() - 8);
    if crc64(&[key, body]) != u64_at(crc, 0) {
        return Err(DecodeError::Damaged("checksum mismatch".into()));
    }
    Ok(())
}

/// Checks the framing every value shares (checksum over key and value, then version,
/// then length) and returns its version.
fn open_value(
    what: &'static str,
    key: &[u8],
    b: &[u8],
    known: u32,
    len: usize,
) -> Result<u32, DecodeError> {
    if b.len() < MIN_VALUE_LEN {
        return Err(DecodeError::Damaged(format!(
            "{what} of {} bytes is too short",
            b.len()
        )));
    }
    check_value_crc(key, b)
        .map_err(|_| DecodeError::Damaged(format!("{what} checksum mismatch")))?;
    let version = u32_at(b, 0);
    if version > known {
        return Err(DecodeError::Newer {
            what,
            version,
            known,
        });
    }
    if version == 0 || b.len() != len {
        return Err(DecodeError::Damaged(format!(
            "{what} version {version} of {} bytes (expected {len})",
            b.len()
        )));
    }
    Ok(version)
}

// Format: CatalogHeader (table `meta`, key b"header", 32 bytes)
//   0..4   version          u32, CATALOG_VERSION
//   4..8   flags            u32, zero in v1; unknown bits are refused
//   8..16  next_uid         u64, uid the next created log receives (1 in a new catalogue;
//                           only ever grows, so a uid is never reused)
//  16..24  created_us       u64, creation time of the catalogue, µs since the Unix epoch
//  24..32  crc              u64, CRC-64/NVME of the key, then bytes 0..24
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogHeader {
    pub next_uid: u64,
    pub created_us: u64,
}

impl CatalogHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let key = HEADER_KEY;
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&CATALOG_VERSION.to_le_bytes());
        b[8..16].copy_from_slice(&self.next_uid.to_le_bytes());
        b[16..24].copy_from_slice(&self.created_us.to_le_bytes());
        seal(key, b)
    }

    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        open_value(
            "catalogue header",
            HEADER_KEY,
            b,
            CATALOG_VERSION,
            HEADER_LEN,
        )?;
        let flags = u32_at(b, 4);
        if flags != 0 {
            return Err(DecodeError::Damaged(format!(
                "catalogue header has unknown flags {flags:#x}"
            )));
        }
        let next_uid = u64_at(b, 8);
        if next_uid == 0 {
            return Err(DecodeError::Damaged(
                "catalogue header next_uid is 0".into(),
            ));
        }
        Ok(CatalogHeader {
            next_uid,
            created_us: u64_at(b, 16),
        })
    }
}

// Format: LogMeta (table `logs`, key = the log's name, 64 bytes)
//   0..4   version                 u32, LOG_META_VERSION
//   4..8   flags                   u32, zero in v1; unknown bits are refused
//   8..16  uid                     u64, allocated by the catalogue, never reused; the key
//                                  prefix of the log's segment entries
//  16..20  segment_format_version  u32, segment file format the log was created with
//  20..24  reserved                zero
//  24..32  segment_size            u64, size the log's segments are created with
//  32..40  clean_close_id          u64, highest durable id at the last clean close; 0 while
//                                  the log is open or after a crash (unknown)
//  40..48  oldest_retained_id      u64, lowest id retention keeps (1 until something is
//                                  dropped)
//  48..56  created_us              u64, creation time of the log, µs since the Unix epoch
//  56..64  crc                     u64, CRC-64/NVME of the key (the name), then bytes 0..56
/// What the catalogue knows of one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogMeta {
    /// The log's number in the catalogue: allocated at creation, never changed, never
    /// given to another log (not even after this one is dropped).
    pub uid: u64,
    /// Format version of the log's segment files.
    pub segment_format_version: u32,
    /// Size the log's segment files are created with. Fixed at creation: the log decides
    /// whether opening with another configured size is an error or a deliberate change
    /// (each segment's own size is in its entry, `SegmentEntry::capacity`).
    pub segment_size: u64,
    /// Highest durable id at the last clean close; 0 = the log is open, crashed, or was
    /// never closed cleanly.
    pub clean_close_id: u64,
    /// Lowest record id retention keeps.
    pub oldest_retained_id: u64,
    /// Creation time, µs since the Unix epoch.
    pub created_us: u64,
}

impl LogMeta {
    /// The value stored under `name`.
    pub fn encode(&self, name: &str) -> [u8; LOG_META_LEN] {
        let mut b = [0u8; LOG_META_LEN];
        b[0..4].copy_from_slice(&LOG_META_VERSION.to_le_bytes());
        b[8..16].copy_from_slice(&self.uid.to_le_bytes());
        b[16..20].copy_from_slice(&self.segment_format_version.to_le_bytes());
        b[24..32].copy_from_slice(&self.segment_size.to_le_bytes());
        b[32..40].copy_from_slice(&self.clean_close_id.to_le_bytes());
        b[40..48].copy_from_slice(&self.oldest_retained_id.to_le_bytes());
        b[48..56].copy_from_slice(&self.created_us.to_le_bytes());
        seal(name.as_bytes(), b)
    }

    /// Decodes the value stored under key `name` (the raw key bytes).
    pub fn decode(name: &[u8], b: &[u8]) -> Result<Self, DecodeError> {
        open_value("log entry", name, b, LOG_META_VERSION, LOG_META_LEN)?;
        let flags = u32_at(b, 4);
        if flags != 0 {
            return Err(DecodeError::Damaged(format!(
                "log entry has unknown flags {flags:#x}"
            )));
        }
        let uid = u64_at(b, 8);
        if uid == 0 {
            return Err(DecodeError::Damaged("log entry has uid 0".into()));
        }
        Ok(LogMeta {
            uid,
            segment_format_version: u32_at(b, 16),
            segment_size: u64_at(b, 24),
            clean_close_id: u64_at(b, 32),
            oldest_retained_id: u64_at(b, 40),
            created_us: u64_at(b, 48),
        })
    }
}

/// Where a segment is in its life.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentState {
    /// Being written: its records end at `data_end`, `last_id` is not known yet.
    Active,
    /// Complete and durable: footer written and synced; `last_id`, `record_count`,
    /// `payload_bytes`, `data_end`, `sealed_us` and `records_crc` are final.
    Sealed,
    /// Being removed: its file may or may not still exist; nothing may read it.
    Deleting,
}

impl SegmentState {
    fn code(self) -> u8 {
        match self {
            SegmentState::Active => 1,
            SegmentState::Sealed => 2,
            SegmentState::Deleting => 3,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(SegmentState::Active),
            2 => Some(SegmentState::Sealed),
            3 => Some(SegmentState::Deleting),
            _ => None,
        }
    }
}

/// Where a segment's bytes are. The tier of a sealed segment is known from here (and shows
/// in its file's name), never guessed from its bytes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local, uncompressed segment file named by its base id (`<base>.seg`).
    LocalFile,
    /// A local file in the zstd seekable format (`<base>.seg.zst`); its frames and
    /// checksums are in table `tiers`.
    LocalCompressed,
    /// An object in the archive (key in table `tiers`); a local copy may be cached.
    Archived,
}

impl Location {
    fn code(self) -> u8 {
        match self {
            Location::LocalFile => 1,
            Location::LocalCompressed => 2,
            Location::Archived => 3,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(Location::LocalFile),
            2 => Some(Location::LocalCompressed),
            3 => Some(Location::Archived),
            _ => None,
        }
    }

    /// The version of the entry that records this location.
    fn entry_version(self) -> u32 {
        match self {
            Location::LocalFile => 1,
            _ => 2,
        }
    }
}

// Format: SegmentEntry (table `segments`, key = uid u64 BE ++ base_id u64 BE, 88 bytes)
//   0..4   version          u32, 1 for location LocalFile, 2 otherwise (same bytes)
//   4..5   state            u8, 1 Active, 2 Sealed, 3 Deleting
//   5..6   location         u8, 1 LocalFile, 2 LocalCompressed, 3 Archived (2, 3: v2 only)
//   6..8   reserved         zero
//   8..16  capacity         u64, size of the segment file in bytes
//  16..24  last_id          u64, id of the last record (final once sealed; 0 before)
//  24..32  record_count     u64, records in the segment (final once sealed)
//  32..40  payload_bytes    u64, sum of the payload lengths (final once sealed)
//  40..48  data_end         u64, offset just past the last record (final once sealed)
//  48..56  first_byte_pos   u64, payload bytes the log held before this segment's first
//                           record (the log's byte position of that record)
//  56..64  created_us       u64, creation time, µs since the Unix epoch
//  64..72  sealed_us        u64, time it was sealed (0 before)
//  72..80  records_crc      u64, the footer's record chain (final once sealed; 0 before)
//  80..88  crc              u64, CRC-64/NVME of the 16-byte key, then bytes 0..80
/// What the catalogue knows of one segment. Its log uid and base id are its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentEntry {
    pub state: SegmentState,
    pub location: Location,
    /// Size of the segment file in bytes.
    pub capacity: u64,
    /// Id of the last record; valid once sealed (then `base + record_count - 1`).
    pub last_id: u64,
    pub record_count: u64,
    /// Sum of the payload lengths of the segment's records.
    pub payload_bytes: u64,
    /// Offset just past the last record in the file.
    pub data_end: u64,
    /// Payload bytes the log held before this segment's first record.
    pub first_byte_pos: u64,
    pub created_us: u64,
    /// When the segment was sealed; 0 before.
    pub sealed_us: u64,
    /// The footer's `records_crc` (the chain of record checksums); valid once sealed.
    pub records_crc: u64,
}

impl SegmentEntry {
    /// A freshly created, empty segment whose records will start at `data_end`.
    pub fn active(capacity: u64, data_end: u64, first_byte_pos: u64, created_us: u64) -> Self {
        SegmentEntry {
            state: SegmentState::Active,
            location: Location::LocalFile,
            capacity,
            last_id: 0,
            record_count: 0,
            payload_bytes: 0,
            data_end,
            first_byte_pos,
            created_us,
            sealed_us: 0,
            records_crc: 0,
        }
    }

    /// The value stored under the key of segment `base` of log `uid`.
    pub fn encode(&self, uid: u64, base: u64) -> [u8; SEGMENT_ENTRY_LEN] {
        let mut b = [0u8; SEGMENT_ENTRY_LEN];
        b[0..4].copy_from_slice(&self.location.entry_version().to_le_bytes());
        b[4] = self.state.code();
        b[5] = self.location.code();
        b[8..16].copy_from_slice(&self.capacity.to_le_bytes());
        b[16..24].copy_from_slice(&self.last_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.record_count.to_le_bytes());
        b[32..40].copy_from_slice(&self.payload_bytes.to_le_bytes());
        b[40..48].copy_from_slice(&self.data_end.to_le_bytes());
        b[48..56].copy_from_slice(&self.first_byte_pos.to_le_bytes());
        b[56..64].copy_from_slice(&self.created_us.to_le_bytes());
        b[64..72].copy_from_slice(&self.sealed_us.to_le_bytes());
        b[72..80].copy_from_slice(&self.records_crc.to_le_bytes());
        seal(&segment_key(uid, base), b)
    }

    /// Decodes the value stored under `key` (a segment key).
    pub fn decode(key: &[u8], b: &[u8]) -> Result<Self, DecodeError> {
        let version = open_value(
            "segment entry",
            key,
            b,
            SEGMENT_ENTRY_VERSION,
            SEGMENT_ENTRY_LEN,
        )?;
        let state = SegmentState::from_code(b[4]).ok_or_else(|| {
            DecodeError::Damaged(format!("segment entry has unknown state {}", b[4]))
        })?;
        let location = Location::from_code(b[5]).ok_or_else(|| {
            DecodeError::Damaged(format!("segment entry has unknown location {}", b[5]))
        })?;
        if location.entry_version() > version {
            return Err(DecodeError::Damaged(format!(
                "segment entry of version {version} has location {}",
                b[5]
            )));
        }
        Ok(SegmentEntry {
            state,
            location,
            capacity: u64_at(b, 8),
            last_id: u64_at(b, 16),
            record_count: u64_at(b, 24),
            payload_bytes: u64_at(b, 32),
            data_end: u64_at(b, 40),
            first_byte_pos: u64_at(b, 48),
            created_us: u64_at(b, 56),
            sealed_us: u64_at(b, 64),
            records_crc: u64_at(b, 72),
        })
    }

    /// Checks what an entry of the segment starting at `base` must satisfy before it is
    /// stored; the text says what is wrong.
    pub fn check(&self, base: u64) -> Result<(), String> {
        if self.data_end > self.capacity {
            return Err(format!(
                "data_end {} is past the segment's capacity {}",
                self.data_end, self.capacity
            ));
        }
        if self.state == SegmentState::Sealed {
            let last = base
                .checked_add(self.record_count)
                .and_then(|end| end.checked_sub(1));
            if last != Some(self.last_id) {
                return Err(format!(
                    "sealed with last_id {} but base {base} and {} records",
                    self.last_id, self.record_count
                ));
            }
        }
        Ok(())
    }
}

/// The key of a segment entry: its log's uid, then its base id, both big-endian.
pub fn segment_key(uid: u64, base: u64) -> [u8; SEGMENT_KEY_LEN] {
    let mut k = [0u8; SEGMENT_KEY_LEN];
    k[0..8].copy_from_slice(&uid.to_be_bytes());
    k[8..16].copy_from_slice(&base.to_be_bytes());
    k
}

/// Splits a segment key into (uid, base).
pub fn parse_segment_key(k: &[u8]) -> Result<(u64, u64), DecodeError> {
    if k.len() != SEGMENT_KEY_LEN {
        return Err(DecodeError::Damaged(format!(
            "segment key of {} bytes (expected {SEGMENT_KEY_LEN})",
            k.len()
        )));
    }
    let uid = u64::from_be_bytes(k[0..8].try_into().expect("8 bytes"));
    let base = u64::from_be_bytes(k[8..16].try_into().expect("8 bytes"));
    Ok((uid, base))
}

#[cfg(test)]
mod tests;
