//! The record decoder against the encoder: records framed by the writer decode to exactly
//! what was written, for every length; and arbitrary bytes never panic the decoders, and
//! whatever they accept re-encodes to the same bytes.
#![no_main]

use aof::segment::format::{
    decode_record, encode_record, CleanMarker, RecordError, SegmentFooter, SegmentHeader,
    HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 1. Encoder vs decoder: the input is a list of (length byte, payload) pairs.
    let mut segment = vec![0u8; HEADER_LEN as usize];
    let mut payloads = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        payloads.push(&tail[..n]);
        rest = &tail[n..];
    }
    for (i, p) in payloads.iter().enumerate() {
        encode_record(&mut segment, i as u64 + 1, i as u64 * 3, p);
    }
    let mut offset = HEADER_LEN;
    for (i, p) in payloads.iter().enumerate() {
        let r = decode_record(&segment, offset, i as u64 + 1).expect("own record decodes");
        assert_eq!(r.payload, *p);
        assert_eq!(r.timestamp_us, i as u64 * 3);
        offset += r.framed_len;
    }
    assert_eq!(offset as usize, segment.len());
    let next = payloads.len() as u64 + 1;
    assert_eq!(decode_record(&segment, offset, next), Err(RecordError::Truncated));

    // 2. Arbitrary bytes: no panic, and anything accepted is canonical.
    for at in (0..data.len()).step_by(8) {
        let id = data
            .get(at + 16..at + 24)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
        if let Ok(r) = decode_record(data, at as u64, id) {
            let mut again = Vec::new();
            encode_record(&mut again, r.id, r.timestamp_us, r.payload);
            assert_eq!(&again[..], &data[at..at + r.framed_len as usize]);
        }
    }
    if let Ok(h) = SegmentHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..64]);
    }
    if let Ok(f) = SegmentFooter::decode(data) {
        assert_eq!(&f.encode()[..], &data[..64]);
    }
    if let Some(m) = CleanMarker::decode(data) {
        assert_eq!(&m.encode()[..], data);
    }
});
