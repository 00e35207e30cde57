//! The offset index of one segment: where each record starts, built on demand by walking
//! the records' length fields, so it costs nothing until a read needs it.
//!
//! Readers look offsets up without a lock: offsets are kept in chunks of `CHUNK` records,
//! and a chunk is published (set once, never changed) as soon as it is complete. Only a
//! lookup in the newest, incomplete chunk, or one that has to extend the index, takes the
//! builder's lock. A random read of a large log thus costs one load in a shared, read-only
//! table instead of a lock round trip on a cache line every reader writes.

use std::sync::{Mutex, OnceLock};

/// Records per published chunk (16 KiB of offsets).
pub const CHUNK: usize = 4096;

/// Why the index could not reach a record.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLength {
    /// Offset of the record whose length field leads outside the segment.
    pub offset: u64,
    /// Its index (id - base id).
    pub index: usize,
}

pub struct OffsetIndex {
    /// Complete chunks: `chunks[c][i]` is the offset of record `c * CHUNK + i`.
    chunks: Box<[OnceLock<Box<[u32]>>]>,
    builder: Mutex<Builder>,
}

struct Builder {
    /// The chunk `partial` belongs to.
    chunk: usize,
    /// Offsets of its first records.
    partial: Vec<u32>,
    /// Offset of the record after the last one indexed.
    next: u64,
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
            }),
        }
    }

    /// Offset of record number `index`. `framed_len_at(offset)` gives the length of the
    /// record there (or `None` if it leads nowhere sensible); it is only called for records
    /// before `index`, which the caller knows are fully written.
    pub fn offset_of(
        &self,
        index: usize,
        framed_len_at: impl Fn(u64) -> Option<u64>,
    ) -> Result<u64, BadLength> {
        let chunk = index / CHUNK;
        if let Some(done) = self.chunks.get(chunk).and_then(OnceLock::get) {
            return Ok(u64::from(done[index % CHUNK]));
        }
        let mut b = self.builder.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let have = b.chunk * CHUNK + b.partial.len();
            if index < have {
                // The chunk may have been published while we waited for the lock.
                return Ok(match self.chunks[chunk].get() {
                    Some(done) => u64::from(done[index % CHUNK]),
                    None => u64::from(b.partial[index % CHUNK]),
                });
            }
            let off = b.next;
            let next = framed_len_at(off).map(|len| off + len);
            let (Some(next), Ok(off32)) = (next, u32::try_from(off)) else {
                return Err(BadLength {
                    offset: off,
                    index: have,
                });
            };
            if b.chunk >= self.chunks.len() {
                return Err(BadLength {
                    offset: off,
                    index: have,
                });
            }
            b.partial.push(off32);
            b.next = next;
            if b.partial.len() == CHUNK {
                let full = std::mem::take(&mut b.partial).into_boxed_slice();
                let _ = self.chunks[b.chunk].set(full);
                b.chunk += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of `n` records of length 8 + (index % 5) * 8, the first at 64.
    fn layout(n: usize) -> Vec<u64> {
        let mut at = 64;
        (0..n as u64)
            .map(|i| {
                let here = at;
                at += 8 + (i % 5) * 8;
                here
            })
            .collect()
    }

    #[test]
    fn offsets_match_a_walk_across_chunks_in_any_order() {
        let n = 3 * CHUNK + 17;
        let offsets = layout(n);
        let len_at = |off: u64| {
            let i = offsets.binary_search(&off).ok()? as u64;
            Some(8 + (i % 5) * 8)
        };
        let idx = OffsetIndex::new(n, 64);
        // Out of order: far first, then back, then across every chunk boundary.
        for i in [2 * CHUNK + 5, 3, CHUNK - 1, CHUNK, CHUNK + 1, n - 1, 0] {
            assert_eq!(idx.offset_of(i, len_at).unwrap(), offsets[i], "record {i}");
        }
        assert!(idx.chunks[0].get().is_some() && idx.chunks[2].get().is_some());
        assert!(
            idx.chunks[3].get().is_none(),
            "the last chunk is incomplete"
        );
    }

    #[test]
    fn a_bad_length_is_reported_not_skipped() {
        let idx = OffsetIndex::new(100, 64);
        let bad = |off: u64| if off < 64 + 5 * 8 { Some(8) } else { None };
        assert_eq!(idx.offset_of(4, bad).unwrap(), 64 + 4 * 8);
        assert_eq!(
            idx.offset_of(10, bad),
            Err(BadLength {
                offset: 64 + 5 * 8,
                index: 5
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
                        let off = idx.offset_of(i, |_| Some(8)).unwrap();
                        assert_eq!(off, 64 + 8 * i as u64);
                    }
                });
            }
        });
    }
}
