//! Byte layout of segment files: the segment header, record framing and the footer that
//! seals a segment. `docs/FORMAT.md` describes the same bytes for humans; keep them in step.
//!
//! All integers are little-endian and fixed-width. Every checksum is CRC-64/NVME.
//! The encoder and the decoder of each structure live side by side in this file, so that
//! the scanner frames records exactly as the writer does.

use crc64fast_nvme::Digest;

/// Version of the segment format written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// First 8 bytes of every segment file. The high byte and the newline catch files that
/// were transferred as text.
pub const SEGMENT_MAGIC: [u8; 8] = *b"\x89AOFSEG\n";
/// First 8 bytes of a segment footer.
pub const FOOTER_MAGIC: [u8; 8] = *b"\x89AOFEND\n";

pub const HEADER_LEN: u64 = 64;
pub const FOOTER_LEN: u64 = 64;
pub const RECORD_HEADER_LEN: u64 = 32;
/// Records start at multiples of this offset; the gap after a payload is zero padding.
pub const RECORD_ALIGN: u64 = 8;

/// Segment header flag: the segment body is zstd-compressed (tiered storage; not written
/// by v1).
pub const SEGMENT_FLAG_COMPRESSED: u32 = 1 << 0;
/// Segment header flag: the segment lives in the archive (tiered storage; not written by
/// v1).
pub const SEGMENT_FLAG_ARCHIVED: u32 = 1 << 1;
const KNOWN_SEGMENT_FLAGS: u32 = SEGMENT_FLAG_COMPRESSED | SEGMENT_FLAG_ARCHIVED;

/// CRC-64/NVME of `parts` in order (also the catalogue's value checksum).
pub(crate) fn crc64(parts: &[&[u8]]) -> u64 {
    let mut d = Digest::new();
    for p in parts {
        d.write(p);
    }
    d.sum64()
}

/// The little-endian `u32` at `b[at..at + 4]` (also read by the catalogue).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The little-endian `u64` at `b[at..at + 8]` (also read by the catalogue).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Bytes a record with a payload of `len` bytes occupies in a segment.
pub const fn framed_len(len: u64) -> u64 {
    RECORD_HEADER_LEN + len.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

// Format: SegmentHeader (64 bytes)
//   0..8   magic            SEGMENT_MAGIC
//   8..12  format_version   u32, FORMAT_VERSION
//  12..16  flags            u32, SEGMENT_FLAG_*
//  16..24  base_id          u64, id of the first record this segment holds
//  24..32  capacity         u64, file size the segment was pre-allocated to
//  32..40  created_us       u64, creation time, microseconds since the Unix epoch
//  40..56  reserved         zero
//  56..64  header_crc       u64, CRC-64/NVME of bytes 0..56
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub format_version: u32,
    pub flags: u32,
    pub base_id: u64,
    pub capacity: u64,
    pub created_us: u64,
}

/// Why a header or footer did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    TooShort,
    BadMagic,
    BadChecksum,
    UnsupportedVersion(u32),
    UnknownFlags(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooShort => write!(f, "too short"),
            HeaderError::BadMagic => write!(f, "bad magic"),
            HeaderError::BadChecksum => write!(f, "checksum mismatch"),
            HeaderError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            HeaderError::UnknownFlags(x) => write!(f, "unknown flags {x:#x}"),
        }
    }
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.base_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.created_us.to_le_bytes());
        let crc = crc64(&[&b[0..56]]);
        b[56..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        if b.len() < HEADER_LEN as usize {
            return Err(HeaderError::TooShort);
        }
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if crc64(&[&b[0..56]]) != u64_at(b, 56) {
            return Err(HeaderError::BadChecksum);
        }
        let format_version = u32_at(b, 8);
        if format_version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(format_version));
        }
        let flags = u32_at(b, 12);
        if flags & !KNOWN_SEGMENT_FLAGS != 0 {
            return Err(HeaderError::UnknownFlags(flags));
        }
        Ok(SegmentHeader {
            format_version,
            flags,
            base_id: u64_at(b, 16),
            capacity: u64_at(b, 24),
            created_us: u64_at(b, 32),
        })
    }
}

// Format: Record (32-byte header, payload, zero padding to a multiple of 8)
//   0..8   crc              u64, CRC-64/NVME of bytes 8..32, the payload and the padding
//   8..12  len              u32, payload length in bytes
//  12..16  flags            u32, zero in v1
//  16..24  id               u64, record id (dense: previous id + 1)
//  24..32  timestamp_us     u64, append time, microseconds since the Unix epoch
//  32..    payload          len bytes
//          padding          zero bytes up to framed_len(len)
/// Appends one framed record to `out`; returns its crc.
pub fn encode_record(out: &mut Vec<u8>, id: u64, timestamp_us: u64, payload: &[u8]) -> u64 {
    let start = out.len();
    encode_record_unsummed(out, id, timestamp_us, payload);
    let mut crc = 0;
    sum_records(&mut out[start..], |c| crc = c);
    crc
}

/// Appends one framed record to `out` with its crc field left zero, for `sum_records` to
/// fill in later. The log encodes under its writer lock and sums when the buffer is
/// written out, often on another thread: the checksum is most of an append's cost for
/// small records, and the appender need not wait for it.
pub fn encode_record_unsummed(out: &mut Vec<u8>, id: u64, timestamp_us: u64, payload: &[u8]) {
    let len = payload.len() as u64;
    let start = out.len();
    let total = framed_len(len) as usize;
    let mut header = [0u8; RECORD_HEADER_LEN as usize];
    header[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    header[16..24].copy_from_slice(&id.to_le_bytes());
    header[24..32].copy_from_slice(&timestamp_us.to_le_bytes());
    out.reserve(total);
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out.resize(start + total, 0);
}

/// Fills in the crc of every record in `buf`, a run of records from
/// `encode_record_unsummed`, and hands each crc to `each` in order.
pub fn sum_records(buf: &mut [u8], mut each: impl FnMut(u64)) {
    let mut at = 0;
    while at < buf.len() {
        let len = u64::from(u32_at(&buf[at..], 8));
        let end = at + framed_len(len) as usize;
        let crc = crc64(&[&buf[at + 8..end]]);
        buf[at..at + 8].copy_from_slice(&crc.to_le_bytes());
        each(crc);
        at = end;
    }
}

/// A record decoded in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub id: u64,
    /// The record's own checksum (its first 8 bytes).
    pub crc: u64,
    pub timestamp_us: u64,
    pub flags: u32,
    pub payload: &'a [u8],
    /// Bytes the framed record occupies; the next record starts this far on.
    pub framed_len: u64,
}

/// Why no record could be decoded at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The 32 header bytes are all zero: nothing was ever written here (the normal end of
    /// the records in a pre-allocated segment).
    Empty,
    /// The header or payload would run past the end of the readable bytes.
    Truncated,
    /// The length field is larger than any record this segment can hold.
    BadLength(u32),
    /// The id is not the one that must come next.
    WrongId { expected: u64, found: u64 },
    /// The checksum does not match the bytes.
    BadChecksum,
    /// Flags this build does not know.
    UnknownFlags(u32),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Empty => write!(f, "no record (zero header)"),
            RecordError::Truncated => write!(f, "record runs past the end of the data"),
            RecordError::BadLength(l) => write!(f, "impossible record length {l}"),
            RecordError::WrongId { expected, found } => {
                write!(f, "record id {found} where {expected} was expected")
            }
            RecordError::BadChecksum => write!(f, "record checksum mismatch"),
            RecordError::UnknownFlags(x) => write!(f, "unknown record flags {x:#x}"),
        }
    }
}

/// The framed length of the record whose header starts at `offset`, read from its length
/// field alone (nothing is checked: use it only to skip ahead, then decode the record you
/// want with [`decode_record`]).
pub fn framed_len_at(data: &[u8], offset: u64) -> Option<u64> {
    payload_len_at(data, offset).map(framed_len)
}

/// The payload length of the record whose header starts at `offset`, read from its length
/// field alone (nothing is checked, as for [`framed_len_at`]).
pub fn payload_len_at(data: &[u8], offset: u64) -> Option<u64> {
    let at = usize::try_from(offset).ok()?;
    let len = data.get(at.checked_add(8)?..at.checked_add(12)?)?;
    Some(u64::from(u32_at(len, 0)))
}

/// Decodes the record at `offset` of `data` (the segment's bytes from offset 0 up to the
/// limit the caller may read), checking its length, id and checksum.
pub fn decode_record(
    data: &[u8],
    offset: u64,
    expected_id: u64,
) -> Result<RecordView<'_>, RecordError> {
    let start = offset as usize;
    let hdr_end = start
        .checked_add(RECORD_HEADER_LEN as usize)
        .ok_or(RecordError::Truncated)?;
    if hdr_end > data.len() {
        return Err(RecordError::Truncated);
    }
    let h = &data[start..hdr_end];
    if h.iter().all(|&x| x == 0) {
        return Err(RecordError::Empty);
    }
    let len = u32_at(h, 8);
    let framed = framed_len(u64::from(len));
    let end = (offset as u128) + (framed as u128);
    if end > data.len() as u128 {
        return Err(if end > u32::MAX as u128 {
            RecordError::BadLength(len)
        } else {
            RecordError::Truncated
        });
    }
    let end = end as usize;
    let stored_crc = u64_at(h, 0);
    if crc64(&[&data[start + 8..end]]) != stored_crc {
        return Err(RecordError::BadChecksum);
    }
    let id = u64_at(h, 16);
    if id != expected_id {
        return Err(RecordError::WrongId {
            expected: expected_id,
            found: id,
        });
    }
    let flags = u32_at(h, 12);
    if flags != 0 {
        return Err(RecordError::UnknownFlags(flags));
    }
    Ok(RecordView {
        id,
        crc: stored_crc,
        timestamp_us: u64_at(h, 24),
        flags,
        payload: &data[hdr_end..hdr_end + len as usize],
        framed_len: framed,
    })
}

// Format: SegmentFooter (64 bytes, the last bytes of a sealed segment file)
//   0..8   magic            FOOTER_MAGIC
//   8..16  record_count     u64
//  16..24  first_id         u64, equals the header's base_id
//  24..32  last_id          u64, first_id + record_count - 1 (first_id - 1 when empty)
//  32..40  data_end         u64, offset of this footer: records fill HEADER_LEN..data_end
//  40..48  records_crc      u64, CRC-64/NVME of the crc fields of every record, in order
//                           (8 bytes each; see RecordChain)
//  48..56  reserved         zero
//  56..64  footer_crc       u64, CRC-64/NVME of bytes 0..56
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentFooter {
    pub record_count: u64,
    pub first_id: u64,
    pub last_id: u64,
    pub data_end: u64,
    pub records_crc: u64,
}

impl SegmentFooter {
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut b = [0u8; FOOTER_LEN as usize];
        b[0..8].copy_from_slice(&FOOTER_MAGIC);
        b[8..16].copy_from_slice(&self.record_count.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.last_id.to_le_bytes());
        b[32..40].copy_from_slice(&self.data_end.to_le_bytes());
        b[40..48].copy_from_slice(&self.records_crc.to_le_bytes());
        let crc = crc64(&[&b[0..56]]);
        b[56..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        if b.len() < FOOTER_LEN as usize {
            return Err(HeaderError::TooShort);
        }
        if b[0..8] != FOOTER_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if crc64(&[&b[0..56]]) != u64_at(b, 56) {
            return Err(HeaderError::BadChecksum);
        }
        Ok(SegmentFooter {
            record_count: u64_at(b, 8),
            first_id: u64_at(b, 16),
            last_id: u64_at(b, 24),
            data_end: u64_at(b, 32),
            records_crc: u64_at(b, 40),
        })
    }
}

/// The running checksum of a segment's records that its footer stores: CRC-64/NVME of
/// the records' own crc fields in order, 8 little-endian bytes each. Every record's crc
/// covers every byte of that record, so the chain covers every record byte, their order
/// and their number, at 8 bytes of work per record: sealing a segment needs no second pass
/// over its data.
#[derive(Clone, Default)]
pub struct RecordChain(Digest);

impl RecordChain {
    pub fn push(&mut self, record_crc: u64) {
        self.0.write(&record_crc.to_le_bytes());
    }

    pub fn value(&self) -> u64 {
        self.0.sum64()
    }
}

/// The crc field of the record whose header starts at `offset` (unchecked).
pub fn crc_at(data: &[u8], offset: u64) -> Option<u64> {
    let at = usize::try_from(offset).ok()?;
    Some(u64_at(data.get(at..at + 8)?, 0))
}

// Format: CleanMarker (file `CLEAN` in the log directory, 48 bytes), written by a clean
// close and removed (durably) by the next open before any write
//   0..8   magic            b"AOFCLEAN"
//   8..12  format_version   u32
//  12..16  reserved         zero
//  16..24  active_base_id   u64, base id of the unsealed segment
//  24..32  write_offset     u64, end of its records
//  32..40  next_id          u64, id the next append receives
//  40..48  crc              u64, CRC-64/NVME of bytes 0..40
pub const CLEAN_MAGIC: [u8; 8] = *b"AOFCLEAN";
pub const CLEAN_LEN: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanMarker {
    pub active_base_id: u64,
    pub write_offset: u64,
    pub next_id: u64,
}

impl CleanMarker {
    pub fn encode(&self) -> [u8; CLEAN_LEN] {
        let mut b = [0u8; CLEAN_LEN];
        b[0..8].copy_from_slice(&CLEAN_MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.active_base_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.write_offset.to_le_bytes());
        b[32..40].copy_from_slice(&self.next_id.to_le_bytes());
        let crc = crc64(&[&b[0..40]]);
        b[40..48].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// `None` when the bytes are not a valid marker of this format version.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != CLEAN_LEN || b[0..8] != CLEAN_MAGIC || u32_at(b, 8) != FORMAT_VERSION {
            return None;
        }
        if crc64(&[&b[0..40]]) != u64_at(b, 40) {
            return None;
        }
        Some(CleanMarker {
            active_base_id: u64_at(b, 16),
            write_offset: u64_at(b, 24),
            next_id: u64_at(b, 32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_test_vector() {
        assert_eq!(crc64(&[b"123456789"]), 0xae8b14860a799888);
    }

    #[test]
    fn framing_is_aligned() {
        assert_eq!(framed_len(0), 32);
        assert_eq!(framed_len(1), 40);
        assert_eq!(framed_len(8), 40);
        assert_eq!(framed_len(9), 48);
    }

    #[test]
    fn records_round_trip_for_every_small_length() {
        let mut buf = vec![0u8; HEADER_LEN as usize];
        let payloads: Vec<Vec<u8>> = (0..70u8).map(|n| (0..n).collect()).collect();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(&mut buf, 10 + i as u64, 1000 + i as u64, p);
        }
        let mut off = HEADER_LEN;
        for (i, p) in payloads.iter().enumerate() {
            let r = decode_record(&buf, off, 10 + i as u64).unwrap();
            assert_eq!(r.payload, &p[..]);
            assert_eq!(r.timestamp_us, 1000 + i as u64);
            off += r.framed_len;
        }
        assert_eq!(off as usize, buf.len());
        assert_eq!(decode_record(&buf, off, 80), Err(RecordError::Truncated));
    }

    #[test]
    fn decode_detects_damage() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 1, b"hello world");
        assert_eq!(
            decode_record(&buf, 0, 8),
            Err(RecordError::WrongId {
                expected: 8,
                found: 7
            })
        );
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(
                decode_record(&bad, 0, 7).is_err(),
                "flip at byte {i} not detected"
            );
        }
        assert_eq!(
            decode_record(&buf[..buf.len() - 1], 0, 7),
            Err(RecordError::Truncated)
        );
        assert_eq!(decode_record(&[0u8; 64], 0, 7), Err(RecordError::Empty));
    }

    #[test]
    fn header_footer_marker_round_trip() {
        let h = SegmentHeader {
            format_version: FORMAT_VERSION,
            flags: 0,
            base_id: 42,
            capacity: 1 << 20,
            created_us: 5,
        };
        assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
        let mut raw = h.encode();
        raw[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&raw), Err(HeaderError::BadChecksum));
        let f = SegmentFooter {
            record_count: 3,
            first_id: 42,
            last_id: 44,
            data_end: 200,
            records_crc: 9,
        };
        assert_eq!(SegmentFooter::decode(&f.encode()), Ok(f));
        let m = CleanMarker {
            active_base_id: 1,
            write_offset: 64,
            next_id: 1,
        };
        assert_eq!(CleanMarker::decode(&m.encode()), Some(m));
        assert_eq!(CleanMarker::decode(&[0u8; CLEAN_LEN]), None);
    }
}
