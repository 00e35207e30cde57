use super::*;
use crate::segment::format::HEADER_LEN;
use crate::segment::format::{framed_len, RECORD_HEADER_LEN};

fn small() -> Options {
    Options {
        segment_size: 8192,
        max_record_size: Some(1024),
        ..Options::default()
    }
}

#[test]
fn append_read_roll_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 0..200u32 {
        let id = log.append(&vec![i as u8; (i * 7 % 300) as usize]).unwrap();
        assert_eq!(id, u64::from(i) + 1);
    }
    assert!(log.metrics().segments_sealed >= 3);
    assert_eq!(log.durable_id(), 200);
    assert_eq!(log.read(50).unwrap(), vec![49u8; (49 * 7 % 300) as usize]);
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    let mut n = 0;
    while let Some(r) = c.next().unwrap() {
        n += 1;
        assert_eq!(r.id, n);
    }
    assert_eq!(n, 200);
    log.close().unwrap();
    assert!(matches!(log.append(b"x"), Err(Error::Closed)));
    drop(log);

    let log = Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.last_id(), 200);
    assert_eq!(log.append(b"next").unwrap(), 201);
    assert_eq!(log.verify().unwrap().records, 201);
    assert!(matches!(
        Log::open(dir.path(), small()),
        Err(Error::Busy(_))
    ));
}

#[test]
fn torn_tail_is_cut_and_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 0..5u8 {
        log.append(&[i; 100]).unwrap();
    }
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(Layout::new(dir.path()).clean_marker()).unwrap();
    let seg = Layout::new(dir.path()).segment(1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = (HEADER_LEN + 4 * framed_len(100)) as usize;
    bytes[last + 40] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();

    let log = Log::open(dir.path(), small()).unwrap();
    let rep = log.recovery().repaired.clone().unwrap();
    assert_eq!(rep.offset, last as u64);
    // Up to the last non-zero byte: the header and payload, not the zero padding.
    assert_eq!(rep.discarded_bytes, RECORD_HEADER_LEN + 100);
    assert_eq!(log.last_id(), 4);
    // The torn record is zeroed on disk, not merely skipped.
    let on_disk = std::fs::read(&seg).unwrap();
    assert!(on_disk[last..].iter().all(|&b| b == 0));
    assert_eq!(log.append(b"new").unwrap(), 5);
    assert_eq!(log.read(5).unwrap(), b"new");
}
