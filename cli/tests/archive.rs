//! A log of a manager with archived segments: read and verified with the archive given,
//! listed (and said not to be checked) without it.

mod common;

use aof::tier::cold::{ArchiveOptions, Backend};
use aof::{Manager, ManagerOptions};
use common::*;

#[test]
fn archived_segments_need_the_archive() {
    let root = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let options = ManagerOptions {
        archive: Some(ArchiveOptions::new(Backend::Filesystem(
            archive.path().to_path_buf(),
        ))),
        ..ManagerOptions::default()
    };
    let m = Manager::open(root.path(), options).unwrap();
    let log = m.open_log("events", small()).unwrap();
    append(&log, 1, 300);
    let archived = log.archive_now().unwrap();
    assert!(archived >= 2);
    log.close().unwrap();
    m.close().unwrap();
    drop((log, m));
    let dir = root.path().join("events");
    let d = dir_str(&dir);
    let a = dir_str(archive.path());

    // The manager's root is not a log: the tool says which logs it has.
    let out = run(&["stat", dir_str(root.path())]);
    assert_eq!(status(&out), 3);
    assert!(
        stderr(&out).contains("its logs: events"),
        "{}",
        stderr(&out)
    );

    let out = run(&["stat", d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("the manager's, log \"events\""), "{text}");
    assert!(text.contains("ids 1..=300: 300 records"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("archived"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(row[1], archived.to_string(), "{text}");

    // Without the archive: verify checks the rest and says what it could not.
    let out = run(&["verify", d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("not checked locally"), "{text}");
    assert_eq!(
        text.matches("not checked: segment").count(),
        archived,
        "{text}"
    );
    let out = run(&["dump", d]);
    assert_eq!(status(&out), 1);
    assert!(stderr(&out).contains("archived"), "{}", stderr(&out));

    // With it: everything.
    let out = run(&["verify", "--archive-dir", a, d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains(&format!("{archived} archived")), "{text}");
    assert!(!text.contains("not checked"), "{text}");
    let out = run(&["dump", "--json", "--archive-dir", a, d]);
    assert_eq!(status(&out), 0);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300);
    for (i, v) in lines.iter().enumerate() {
        let id = i as u64 + 1;
        assert_eq!(v["id"].as_u64().unwrap(), id);
        assert_eq!(v["position"].as_u64().unwrap(), position(id));
        assert_eq!(v["len"].as_u64().unwrap(), payload(id).len() as u64);
    }
}

#[test]
fn repair_of_a_log_of_a_manager_goes_through_the_manager() {
    let root = tempfile::tempdir().unwrap();
    let m = Manager::open(root.path(), ManagerOptions::default()).unwrap();
    let log = m.open_log("orders", small()).unwrap();
    append(&log, 1, 20);
    log.close().unwrap();
    drop(log);
    let dir = root.path().join("orders");
    std::fs::remove_file(dir.join("CLEAN")).unwrap();
    // Garbage after the last record, as a torn write leaves it.
    let seg = dir.join(aof::segment::segment_file_name(1));
    let end: u64 = 64
        + (1..=20)
            .map(|i| 32 + (payload(i).len() as u64).div_ceil(8) * 8)
            .sum::<u64>();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[end as usize..end as usize + 5].copy_from_slice(b"torn!");
    std::fs::write(&seg, &bytes).unwrap();

    // The manager is open: its lock is held, so repair cannot open the log.
    let out = run(&["repair", "--yes", dir_str(&dir)]);
    assert_eq!(status(&out), 4);
    m.close().unwrap();
    drop(m);

    let out = run(&["repair", "--yes", dir_str(&dir)]);
    assert_eq!(status(&out), 0);
    assert!(stdout(&out).contains("cut 5 bytes"), "{}", stdout(&out));
    // No catalogue of its own was made in the log's directory.
    assert!(!dir.join(".catalog.mdbx").exists());
    let m = Manager::open(root.path(), ManagerOptions::default()).unwrap();
    let log = m.open_log("orders", small()).unwrap();
    assert!(log.recovery().clean_shutdown);
    assert_eq!(log.last_id(), 20);
    assert_eq!(log.read(20).unwrap(), payload(20));
}
