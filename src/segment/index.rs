//! The index of one segment: where each record starts and its byte position in the segment
//! (the payload bytes of the records before it), built on demand by walking the records'
//! length fields, so it costs nothing until a read needs it.
//!
//! Readers look slots up without a lock: slots are kept in chunks of `CHUNK` records, and a
//! chunk is published (set once, never changed) as soon as it is complete. Only a lookup in
//! the newest, incomplete chunk, or one that has to extend the index, takes the builder's
//! lock. A random read of a large log thus costs one load in a shared, read-only table
//! instead of a lock round trip on a cache line every reader writes.
//!
//! Memory: 8 bytes per indexed record (a `u32` offset and a `u32` position side by side,
//! so a lookup touches one cache line for both); 32 KiB per complete chunk. Both fit in
//! `u32` because a segment is smaller than 4 GiB and its payload bytes lie inside it.

use std::sync::{Mutex, OnceLock};

/// Records per published chunk (32 KiB of slots).
pub const CHUNK: usize = 4096;

/// Why the index could not reach a record.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLength {
    /// Offset of the record whose length field leads outside the segment.
    pub offset: u64,
    /// Its index (id - base id).
    pub index: usize,
}

/// Where a record starts in its segment file, and its byte position in the segment (the
/// payload bytes of the records before it in the same segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub offset: u64,
    pub pos: u64,
}

/// One record's slot as stored: `[offset, pos]`.
type Packed = [u32; 2];

pub struct OffsetIndex {
    /// Complete chunks: `chunks[c][i]` is the slot of record `c * CHUNK + i`.
    chunks: Box<[OnceLock<Box<[Packed]>>]>,
    builder: Mutex<Builder>,
}

struct Builder {
    /// The chunk `partial` belongs to.
    chunk: usize,
    /// Slots of its first records.
    partial: Vec<Packed>,
    /// Offset of the record after the last one indexed.
    next: u64,
    /// Its position in the segment.
    next_pos: u64,
}

fn unpack(p: Packed) -> Slot {
    Slot {
        offset: u64::from(p[0]),
        pos: u64::from(p[1]),
    }
}

impl OffsetIndex {
    /// An index for up to `max_records` records, the first at offset `first`.
    pub fn new(max_records: usize, first: u64) -> Self {
        OffsetIndex {
            chunks: (0..max_records.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
            builder: Mutex::new(Builder {
                chunk: 0,
                partial: Vec::new(),
                next: first,
                next_pos: 0,
            }),
        }
    }

    /// Offset and position of record number `index`. `len_at(offset)` gives the framed and
    /// the payload length of the record there (or `None` if it leads nowhere sensible); it
    /// is only called for records before `index`, which the caller knows are fully written.
    pub fn slot<F>(&self, index: usize, len_at: &F) -> Result<Slot, BadLength>
    where
        F: Fn(u64) -> Option<(u64, u64)>,
    {
        let chunk = index / CHUNK;
        if let Some(done) = self.chunks.get(chunk).and_then(OnceLock::get) {
            return Ok(unpack(done[index % CHUNK]));
        }
        let mut b = self.builder.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let have = b.chunk * CHUNK + b.partial.len();
            if index < have {
                // The chunk may have been published while we waited for the lock.
                return Ok(unpack(match self.chunks[chunk].get() {
                    Some(done) => done[index % CHUNK],
                    None => b.partial[index % CHUNK],
                }));
            }
            let (off, pos) = (b.next, b.next_pos);
            let bad = BadLength {
                offset: off,
                index: have,
            };
            let Some((framed, payload)) = len_at(off) else {
                return Err(bad);
            };
            let (Ok(off32), Ok(pos32)) = (u32::try_from(off), u32::try_from(pos)) else {
                return Err(bad);
            };
            if b.chunk >= self.chunks.len() {
                return Err(bad);
            }
            b.partial.push([off32, pos32]);
            b.next = off + framed;
            b.next_pos = pos + payload;
            if b.partial.len() == CHUNK {
                let full = std::mem::take(&mut b.partial).into_boxed_slice();
                let _ = self.chunks[b.chunk].set(full);
                b.chunk += 1;
            }
        }
    }

    /// Among records `0..count` (which the caller knows are fully written), the number of
    /// the first one *at or after* segment position `pos`: the first whose payload range
    /// `[p, p + len)` contains `pos`, or else the first with `p >= pos`. So a record of 0
    /// bytes at `pos` comes before the record that starts there, and `pos` inside a record
    /// gives that record. `None` when every record ends at or before `pos` and none starts
    /// at it. Builds the index up to `count` once (O(count)); then O(log count).
    ///
    /// Positions only grow with the record number and each record starts where the one
    /// before ends, so "ends after `pos` or starts at or after it" holds for a suffix of
    /// the records; its first is found by binary search on the starts.
    pub fn at_or_after<F>(
        &self,
        pos: u64,
        count: usize,
        len_at: &F,
    ) -> Result<Option<usize>, BadLength>
    where
        F: Fn(u64) -> Option<(u64, u64)>,
    {
        if count == 0 {
            return Ok(None);
        }
        self.slot(count - 1, len_at)?;
        // First record starting at or after `pos`.
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slot(mid, len_at)?.pos < pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if let Some(before) = lo.checked_sub(1) {
            // The record before starts below `pos`: it is the answer if it ends after it.
            let s = self.slot(before, len_at)?;
            let end = if lo < count {
                self.slot(lo, len_at)?.pos
            } else {
                let bad = BadLength {
                    offset: s.offset,
                    index: before,
                };
                s.pos + len_at(s.offset).ok_or(bad)?.1
            };
            if end > pos {
                return Ok(Some(before));
            }
        }
        Ok((lo < count).then_some(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payload length of record `i` in these tests: 0 when `i % 7 == 3` or `i % 11` is 4
    /// or 5 (runs of empty records included), else 1 + (i % 5) * 8.
    fn payload(i: u64) -> u64 {
        if i % 7 == 3 || i % 11 == 4 || i % 11 == 5 {
            0
        } else {
            1 + (i % 5) * 8
        }
    }

    /// Slots of `n` records of payload `payload(i)`, the first at 64 (framed as in a
    /// segment: 32-byte header, padded to 8).
    fn layout(n: usize) -> Vec<Slot> {
        let (mut at, mut pos) = (64, 0);
        (0..n as u64)
            .map(|i| {
                let here = Slot { offset: at, pos };
                at += 32 + payload(i).div_ceil(8) * 8;
                pos += payload(i);
                here
            })
            .collect()
    }

    fn len_at(slots: &[Slot]) -> impl Fn(u64) -> Option<(u64, u64)> + '_ {
        move |off| {
            let i = slots.binary_search_by_key(&off, |s| s.offset).ok()? as u64;
            Some((32 + payload(i).div_ceil(8) * 8, payload(i)))
        }
    }

    #[test]
    fn slots_match_a_walk_across_chunks_in_any_order() {
        let n = 3 * CHUNK + 17;
        let slots = layout(n);
        let idx = OffsetIndex::new(n, 64);
        // Out of order: far first, then back, then across every chunk boundary.
        for i in [2 * CHUNK + 5, 3, CHUNK - 1, CHUNK, CHUNK + 1, n - 1, 0] {
            assert_eq!(
                idx.slot(i, &len_at(&slots)).unwrap(),
                slots[i],
                "record {i}"
            );
        }
        assert!(idx.chunks[0].get().is_some() && idx.chunks[2].get().is_some());
        assert!(
            idx.chunks[3].get().is_none(),
            "the last chunk is incomplete"
        );
    }

    /// The rule of `at_or_after`, by brute force.
    fn model(slots: &[Slot], count: usize, pos: u64) -> Option<usize> {
        (0..count).find(|&i| slots[i].pos >= pos || slots[i].pos + payload(i as u64) > pos)
    }

    #[test]
    fn at_or_after_follows_the_rule_for_every_position() {
        let n = 2 * CHUNK + 40;
        let slots = layout(n);
        let end = slots[n - 1].pos + payload(n as u64 - 1);
        let idx = OffsetIndex::new(n, 64);
        for count in [0, 1, 2, 5, CHUNK, n] {
            let count_end = if count == 0 {
                0
            } else {
                slots[count - 1].pos + payload(count as u64 - 1)
            };
            let mut positions: Vec<u64> = (0..count_end.min(3000) + 3).collect();
            positions.extend([count_end - count_end.min(1), count_end, count_end + 1, end]);
            for pos in positions {
                let got = idx.at_or_after(pos, count, &len_at(&slots)).unwrap();
                assert_eq!(got, model(&slots, count, pos), "count {count}, pos {pos}");
            }
        }
        // Records of 0 bytes come before the record that starts where they are.
        let first_empty = (1..n).find(|&i| payload(i as u64) == 0).unwrap();
        let got = idx.at_or_after(slots[first_empty].pos, n, &len_at(&slots));
        assert_eq!(got.unwrap(), Some(first_empty));
        assert!(slots[first_empty - 1].pos < slots[first_empty].pos);
    }

    #[test]
    fn a_bad_length_is_reported_not_skipped() {
        let idx = OffsetIndex::new(100, 64);
        let bad = |off: u64| if off < 64 + 5 * 8 { Some((8, 0)) } else { None };
        assert_eq!(idx.slot(4, &bad).unwrap().offset, 64 + 4 * 8);
        assert_eq!(
            idx.slot(10, &bad),
            Err(BadLength {
                offset: 64 + 5 * 8,
                index: 5
            })
        );
        assert_eq!(
            idx.at_or_after(1, 10, &bad),
            Err(BadLength {
                offset: 64 + 5 * 8,
                index: 5
            })
        );
        // The last record's length is read for a position past its start.
        let idx = OffsetIndex::new(100, 64);
        let last_bad = |off: u64| (off < 64 + 2 * 8).then_some((8, 0));
        assert_eq!(
            idx.at_or_after(1, 3, &last_bad),
            Err(BadLength {
                offset: 64 + 2 * 8,
                index: 2
            })
        );
    }

    #[test]
    fn concurrent_readers_agree() {
        let n = 2 * CHUNK + 3;
        let idx = OffsetIndex::new(n, 64);
        std::thread::scope(|s| {
            for t in 0..4 {
                let idx = &idx;
                s.spawn(move || {
                    for k in 0..400 {
                        let i = (k * 37 + t * 1013) % n;
                        let slot = idx.slot(i, &|_| Some((40, 3))).unwrap();
                        assert_eq!(slot.offset, 64 + 40 * i as u64);
                        assert_eq!(slot.pos, 3 * i as u64);
                    }
                });
            }
        });
    }

    #[test]
    fn memory_per_record() {
        // The figure docs/FORMAT.md gives: 8 bytes a record, 4 of them for the position.
        assert_eq!(size_of::<Packed>(), 8);
        assert_eq!(size_of::<Packed>() * CHUNK, 32 << 10);
    }
}
