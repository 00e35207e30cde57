//! Power-loss simulation. `kill -9` leaves the page cache intact, so it cannot show what a
//! power cut does to writes that were never synced. Here the log is copied at a random
//! moment and, in the copy, everything after the durable end is mangled the way a power
//! cut may leave it: pages lost (zero), kept, torn at sector granularity, or filled with
//! garbage, independently and out of order. Recovery on that image must keep every
//! durable record, return only whole records, and never resurrect a record after a later
//! append.
//!
//! `AOF_POWER_LOSS_ROUNDS` sets the number of rounds (default 150).

use aof::segment::format::{decode_record, HEADER_LEN};
use aof::{FlushPolicy, Log, Options, StartAt};

mod common;
use common::{active_segment, copy_dir, Rng};

fn payload(id: u64, round: u64) -> Vec<u8> {
    let mut rng = Rng(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round ^ 0xdead_beef);
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(200),
        _ => rng.below(6000),
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

fn options() -> Options {
    Options {
        segment_size: 64 * 1024,
        max_record_size: Some(8 * 1024),
        // Only explicit flushes and segment rolls sync: a large unsynced tail.
        flush: FlushPolicy::Periodic {
            interval: std::time::Duration::from_secs(3600),
        },
        ..Options::default()
    }
}

/// Offset in `seg` where record `first_unsynced` starts (the end of what is durable).
fn durable_end(seg: &[u8], base: u64, first_unsynced: u64) -> u64 {
    let mut off = HEADER_LEN;
    let mut id = base;
    while id < first_unsynced {
        let r = decode_record(seg, off, id).expect("durable record decodes");
        off += r.framed_len;
        id += 1;
    }
    off
}

/// Mangles every byte at or after `from` the way a power cut may.
fn power_cut(bytes: &mut [u8], from: usize, rng: &mut Rng) {
    const PAGE: usize = 4096;
    const SECTOR: usize = 512;
    let mut page_start = from / PAGE * PAGE;
    while page_start < bytes.len() {
        let lo = page_start.max(from);
        let hi = (page_start + PAGE).min(bytes.len());
        match rng.below(10) {
            0..=2 => {}                     // page reached the disk
            3..=5 => bytes[lo..hi].fill(0), // page lost
            6 => {
                for b in &mut bytes[lo..hi] {
                    *b = rng.next() as u8; // garbage
                }
            }
            _ => {
                let mut s = lo;
                while s < hi {
                    let e = ((s / SECTOR + 1) * SECTOR).min(hi);
                    if rng.below(2) == 0 {
                        bytes[s..e].fill(0); // sector lost
                    }
                    s = e;
                }
            }
        }
        page_start += PAGE;
    }
}

#[test]
fn recovery_after_simulated_power_cuts() {
    let rounds: u64 = std::env::var("AOF_POWER_LOSS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut lost_unsynced, mut kept_unsynced, mut repaired) = (0u64, 0u64, 0u64);
    for round in 0..rounds {
        let live = tempfile::tempdir().unwrap();
        let image = tempfile::tempdir().unwrap();
        let log = Log::open(live.path(), options()).unwrap();
        let n = 1 + rng.below(120);
        for id in 1..=n {
            assert_eq!(log.append(&payload(id, round)).unwrap(), id);
            if rng.below(25) == 0 {
                log.flush().unwrap();
            }
        }
        // Some of the tail is written to the file but not synced; some may still be
        // buffered in memory (lost by any crash).
        let durable = log.durable_id();
        copy_dir(live.path(), image.path());
        std::mem::drop(log);

        let (base, seg_path) = active_segment(image.path());
        let mut bytes = std::fs::read(&seg_path).unwrap();
        let from = durable_end(&bytes, base, durable + 1) as usize;
        power_cut(&mut bytes, from, &mut rng);
        std::fs::write(&seg_path, &bytes).unwrap();
        let _ = std::fs::remove_file(image.path().join("CLEAN"));

        let log = Log::open(image.path(), options()).unwrap();
        let last = log.last_id();
        assert!(
            last >= durable,
            "round {round}: durable record lost: last {last} < durable {durable}"
        );
        assert!(
            last <= n,
            "round {round}: phantom records: last {last} > appended {n}"
        );
        lost_unsynced += n - last;
        kept_unsynced += last - durable;
        repaired += u64::from(log.recovery().repaired.is_some());
        let mut c = log.cursor(StartAt::Oldest).unwrap();
        let mut id = 1;
        while let Some(r) = c.next().unwrap() {
            assert_eq!(r.id, id);
            assert_eq!(
                r.data,
                &payload(id, round)[..],
                "round {round}: record {id} differs"
            );
            id += 1;
        }
        assert_eq!(id - 1, last);
        log.verify().unwrap();

        // New records after the repair must not be followed by resurrected old ones.
        let extra = 1 + rng.below(5);
        for k in 1..=extra {
            let p = payload(1_000_000 + k, round);
            assert_eq!(log.append(&p).unwrap(), last + k);
        }
        log.close().unwrap();
        drop(log);
        let _ = std::fs::remove_file(image.path().join("CLEAN"));
        let log = Log::open(image.path(), options()).unwrap();
        assert_eq!(
            log.last_id(),
            last + extra,
            "round {round}: records resurrected or lost"
        );
        for k in 1..=extra {
            assert_eq!(log.read(last + k).unwrap(), payload(1_000_000 + k, round));
        }
    }
    println!(
        "power-loss rounds: {rounds}, unsynced records lost: {lost_unsynced}, \
         unsynced records that survived whole: {kept_unsynced}, tails repaired: {repaired}"
    );
}
