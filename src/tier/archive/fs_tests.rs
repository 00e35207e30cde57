use std::fs;

use super::*;
use crate::tier::archive::ErrorKind;

fn write_src(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, data).unwrap();
    p
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn put_get_range_head() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let bytes = data(100_000);
    let src = write_src(tmp.path(), "seg", &bytes);

    let out = archive.put_file("logs/a/0001.seg", &src).unwrap();
    assert_eq!(
        out,
        PutOutcome::Created {
            size: 100_000,
            parts: 0
        }
    );
    assert_eq!(archive.head("logs/a/0001.seg").unwrap(), Some(100_000));
    assert_eq!(archive.get("logs/a/0001.seg").unwrap(), bytes);
    assert_eq!(
        archive.get_range("logs/a/0001.seg", 10..4096).unwrap(),
        &bytes[10..4096]
    );
    assert_eq!(
        archive
            .get_range("logs/a/0001.seg", 99_999..100_000)
            .unwrap(),
        &bytes[99_999..]
    );
    assert!(archive
        .get_range("logs/a/0001.seg", 5..5)
        .unwrap()
        .is_empty());

    let err = archive
        .get_range("logs/a/0001.seg", 99_000..100_001)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("logs/a/0001.seg"), "{err}");

    assert_eq!(archive.head("logs/a/none").unwrap(), None);
    let err = archive.get("logs/a/none").unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(
        archive.get_range("none", 0..1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn put_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let first = write_src(tmp.path(), "first", &data(10));
    let second = write_src(tmp.path(), "second", &data(20));
    assert_eq!(
        archive.put_file("k", &first).unwrap(),
        PutOutcome::Created { size: 10, parts: 0 }
    );
    assert_eq!(
        archive.put_file("k", &second).unwrap(),
        PutOutcome::AlreadyExists { size: 10 }
    );
    assert_eq!(archive.get("k").unwrap(), data(10));
    // No temporary file left behind.
    let names: Vec<_> = fs::read_dir(archive.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["k"]);
}

#[test]
fn concurrent_puts_create_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let src = write_src(tmp.path(), "src", &data(1 << 16));
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| archive.put_file("x/y", &src).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, PutOutcome::Created { .. }))
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert_eq!(archive.list("").unwrap(), [("x/y".to_owned(), 1 << 16)]);
}

#[test]
fn list_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let src = write_src(tmp.path(), "src", b"abc");
    for key in ["a/1", "a/2", "ab/1", "b", "a/deep/x/3"] {
        archive.put_file(key, &src).unwrap();
    }
    let keys = |prefix: &str| -> Vec<String> {
        archive
            .list(prefix)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys(""), ["a/1", "a/2", "a/deep/x/3", "ab/1", "b"]);
    assert_eq!(keys("a/"), ["a/1", "a/2", "a/deep/x/3"]);
    assert_eq!(keys("a"), ["a/1", "a/2", "a/deep/x/3", "ab/1"]);
    assert_eq!(keys("a/deep/x"), ["a/deep/x/3"]);
    assert!(keys("zzz").is_empty());
    assert!(archive
        .list("a/")
        .unwrap()
        .iter()
        .all(|(_, size)| *size == 3));

    archive.delete("a/2").unwrap();
    archive.delete("a/2").unwrap(); // absent: fine
    archive.delete("never").unwrap();
    assert_eq!(keys("a/"), ["a/1", "a/deep/x/3"]);
    assert_eq!(archive.head("a/2").unwrap(), None);
}

#[test]
fn keys_are_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let src = write_src(tmp.path(), "src", b"abc");
    for key in [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "./a",
        "a/.",
        "a/",
        "nul\0",
        ".aof-tmp.x",
    ] {
        let err = archive.put_file(key, &src).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permanent, "{key:?}: {err}");
        assert_eq!(
            archive.get(key).unwrap_err().kind(),
            ErrorKind::Permanent,
            "{key:?}"
        );
        assert_eq!(
            archive.head(key).unwrap_err().kind(),
            ErrorKind::Permanent,
            "{key:?}"
        );
        assert_eq!(
            archive.delete(key).unwrap_err().kind(),
            ErrorKind::Permanent,
            "{key:?}"
        );
    }
    assert!(!tmp.path().join("x").exists());
    // Dots inside names are fine.
    archive.put_file("a..b/.hidden/c.d", &src).unwrap();
    assert_eq!(archive.get("a..b/.hidden/c.d").unwrap(), b"abc");
}

#[test]
fn missing_source_is_permanent() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = FsArchive::new(tmp.path().join("archive")).unwrap();
    let err = archive.put_file("k", &tmp.path().join("nope")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert_eq!(archive.head("k").unwrap(), None);
}

#[test]
fn a_put_or_delete_removes_what_interrupted_puts_of_its_key_left() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("archive");
    let archive = FsArchive::new(&root).unwrap();
    let src = write_src(tmp.path(), "src", &data(1000));
    let dir = root.join("logs/a");
    fs::create_dir_all(&dir).unwrap();
    // Left by puts of processes that were killed while copying (pids above any pid_max);
    // kept: one of a put in progress in this process, and one of another key whose name
    // extends this one's.
    let left = [
        format!("{TMP_PREFIX}0001.seg.99999998.0"),
        format!("{TMP_PREFIX}0001.seg.99999999.7"),
    ];
    // A sequence number this process's own puts never reach (other tests put in parallel).
    let live = format!("{TMP_PREFIX}0001.seg.{}.999999999", std::process::id());
    let other = format!("{TMP_PREFIX}0001.seg.x.99999999.0");
    for n in left.iter().chain([&live, &other]) {
        fs::write(dir.join(n), b"partial").unwrap();
    }
    let names = || -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    archive.put_file("logs/a/0001.seg", &src).unwrap();
    assert_eq!(
        names(),
        vec![live.clone(), other.clone(), "0001.seg".to_string()]
    );
    fs::remove_file(dir.join(&live)).unwrap(); // (it ended)
    assert_eq!(names(), vec![other.clone(), "0001.seg".to_string()]);
    // A put finding the object, and a delete, clean up as well.
    fs::write(dir.join(&left[0]), b"partial").unwrap();
    assert!(matches!(
        archive.put_file("logs/a/0001.seg", &src).unwrap(),
        PutOutcome::AlreadyExists { .. }
    ));
    assert_eq!(names(), vec![other.clone(), "0001.seg".to_string()]);
    fs::write(dir.join(&left[1]), b"partial").unwrap();
    archive.delete("logs/a/0001.seg").unwrap();
    assert_eq!(names(), vec![other]);
}
