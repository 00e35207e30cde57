//! The warm tier: sealed segments compressed into the zstd seekable format read back
//! byte-exact by id, by cursor, by byte position and as a stream, before and after a
//! reopen; stock `zstd -d` restores a compressed segment's exact bytes; damage in a
//! compressed file is caught on read; a lost catalogue turns compressed files back into
//! plain ones; retention removes compressed segments; background compression follows the
//! thresholds.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aof::{Error, FlushPolicy, Log, Options, StartAt, Tiering};

const SEGMENT: u64 = 64 * 1024;
const FRAME: u64 = 4096;

fn opts(tiering: Tiering) -> Options {
    Options {
        segment_size: SEGMENT,
        flush: FlushPolicy::Batched { records: 64 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        tiering: Tiering {
            frame_size: FRAME,
            ..tiering
        },
        ..Options::default()
    }
}

/// A JSON-like event of a length that varies with `id` (some of 0 bytes, some larger than a
/// frame), so frames hold many records, one, or none.
fn event(id: u64) -> Vec<u8> {
    match id % 97 {
        0 => Vec::new(),
        1 => {
            let mut big = format!("{{\"id\":{id},\"blob\":\"").into_bytes();
            big.extend(std::iter::repeat_n(b'x' + (id % 3) as u8, 6000));
            big.extend_from_slice(b"\"}");
            big
        }
        _ => format!(
            "{{\"id\":{id},\"ts\":{},\"user\":\"u{}\",\"action\":\"{}\",\"amount\":{}}}",
            1_700_000_000_000u64 + id * 17,
            id % 113,
            ["view", "click", "buy", "return"][(id % 4) as usize],
            (id * 7919) % 10_000
        )
        .into_bytes(),
    }
}

fn fill(log: &Log, n: u64) {
    for _ in 0..n {
        let id = log.last_id() + 1;
        assert_eq!(log.append(&event(id)).unwrap(), id);
    }
    log.flush().unwrap();
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// Every record reads back by id, by cursor, by its byte position, and as one stream.
fn check_all(log: &Log) {
    let (first, last) = log.bounds();
    let mut positions = Vec::new();
    for id in first..=last {
        assert_eq!(log.read(id).unwrap(), event(id), "read({id})");
        positions.push(log.position_of(id).unwrap());
    }
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut expect = first;
    let mut pos = positions[0];
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.id, expect);
        assert_eq!(r.data, &event(expect)[..], "cursor at {expect}");
        assert_eq!(r.position, pos, "position of {expect}");
        pos += r.data.len() as u64;
        expect += 1;
    }
    assert_eq!(expect, last + 1);
    // The first record at a position (records of 0 bytes share it with the next one).
    for (i, &p) in positions.iter().enumerate() {
        let id = first + i as u64;
        if i == 0 || positions[i - 1] < p {
            assert_eq!(log.id_at_position(p).unwrap(), id, "id_at_position({p})");
        }
        if event(id).len() > 1 {
            assert_eq!(log.id_at_position(p + 1).unwrap(), id);
        }
    }
    let mut all = Vec::new();
    log.stream(positions[0])
        .unwrap()
        .read_to_end(&mut all)
        .unwrap();
    let expect: Vec<u8> = (first..=last).flat_map(event).collect();
    assert_eq!(all.len(), expect.len());
    assert!(all == expect, "the stream differs from the records");
}

#[test]
fn compressed_segments_read_back_exactly_and_zstd_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    fill(&log, 3000);
    log.seal_now().unwrap();
    let plain_before = files(dir.path(), ".seg");
    let sealed = plain_before.len() - 1;
    assert!(sealed >= 4, "{sealed} sealed segments");
    let copies: Vec<Vec<u8>> = plain_before[..sealed]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    check_all(&log);

    assert_eq!(log.compress_now().unwrap(), sealed);
    assert_eq!(log.compress_now().unwrap(), 0, "nothing left to compress");
    let zst = files(dir.path(), ".seg.zst");
    assert_eq!(zst.len(), sealed);
    assert_eq!(
        files(dir.path(), ".seg").len(),
        1,
        "only the active one stays plain"
    );
    let m = log.metrics();
    assert_eq!(m.segments_compressed, sealed as u64);
    assert_eq!(m.compress_bytes_in, sealed as u64 * SEGMENT);
    assert!(m.compress_bytes_out < m.compress_bytes_in / 4, "{m:?}");
    check_all(&log);

    // Stock zstd turns each compressed file back into the exact segment file.
    for (z, original) in zst.iter().zip(&copies) {
        let out = Command::new("zstd")
            .args(["-d", "-c", "-q"])
            .arg(z)
            .output()
            .expect("the zstd command-line tool must be installed (apt install zstd)");
        assert!(out.status.success(), "zstd -d {}: {:?}", z.display(), out);
        assert!(&out.stdout == original, "zstd -d {} differs", z.display());
    }

    // Appends go on; a reopen reads the compressed segments from the catalogue.
    fill(&log, 500);
    log.close().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    assert_eq!(log.recovery().segments_opened, 1, "only the active segment");
    check_all(&log);
    assert_eq!(log.verify_all().unwrap().damage.len(), 0);
    // Offline verification reads compressed segments too (no gap, no damage).
    log.close().unwrap();
    let report = aof::verify_dir(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
}

#[test]
fn damage_in_a_compressed_file_is_caught_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    fill(&log, 1500);
    log.seal_now().unwrap();
    log.compress_now().unwrap();
    log.close().unwrap();
    let zst = files(dir.path(), ".seg.zst");
    // Flip a byte in the middle of the first compressed file (inside a frame).
    let victim = &zst[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();

    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    let (first, last) = log.bounds();
    let mut damaged = 0;
    for id in first..=last {
        match log.read(id) {
            Ok(data) => assert_eq!(data, event(id), "read({id}) returned other bytes"),
            Err(Error::Corruption { path, .. }) => {
                assert_eq!(&path, victim);
                damaged += 1;
            }
            Err(e) => panic!("read({id}): {e}"),
        }
    }
    assert!(damaged > 0, "the damaged frame went unnoticed");
    // Records of other frames still read: only one frame is lost to one flipped byte.
    assert!(damaged < (last - first) / 4, "{damaged} records unreadable");
    let report = log.verify_all().unwrap();
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    assert_eq!(&report.damage[0].segment, victim);
}

#[test]
fn a_lost_catalogue_turns_compressed_files_back_into_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    fill(&log, 2000);
    log.seal_now().unwrap();
    let n = log.compress_now().unwrap();
    assert!(n >= 3);
    log.close().unwrap();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(".catalog")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    assert_eq!(log.recovery().compressed_restored.len(), n);
    assert!(files(dir.path(), ".seg.zst").is_empty());
    check_all(&log);
}

#[test]
fn retention_removes_compressed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    fill(&log, 3000);
    log.seal_now().unwrap();
    log.compress_now().unwrap();
    let before = files(dir.path(), ".seg.zst").len();
    let (_, last) = log.bounds();
    let removed = log.truncate_before(last / 2).unwrap();
    assert!(removed >= 1);
    assert_eq!(files(dir.path(), ".seg.zst").len(), before - removed);
    check_all(&log);
    log.close().unwrap();
    let log = Log::open(dir.path(), opts(Tiering::default())).unwrap();
    check_all(&log);
}

#[test]
fn background_compression_follows_the_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let tiering = Tiering {
        compress_after_segments: Some(3),
        ..Tiering::default()
    };
    let log = Log::open(dir.path(), opts(tiering)).unwrap();
    fill(&log, 4000);
    // Every segment with at least 3 newer ones is compressed: all but the newest 3.
    let want = log.metrics().segment_count - 3;
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.metrics().segments_compressed < want {
        assert!(Instant::now() < deadline, "{:?}", log.metrics());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(files(dir.path(), ".seg").len(), 3);
    assert_eq!(log.metrics().tier_failures, 0);
    check_all(&log);
}

#[test]
fn options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        Tiering {
            frame_size: 100,
            ..Tiering::default()
        },
        Tiering {
            compression_level: 99,
            ..Tiering::default()
        },
        Tiering {
            compress_after_segments: Some(0),
            ..Tiering::default()
        },
    ] {
        let o = Options {
            tiering: bad,
            ..Options::default()
        };
        assert!(matches!(
            Log::open(dir.path(), o),
            Err(Error::InvalidArgument(_))
        ));
    }
}
