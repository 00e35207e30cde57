//! The S3 archive backend against a real S3-compatible server (s3s-fs, started by the
//! tests; see tests/support/s3_server.rs), directly and through `Remote`.
#![cfg(feature = "s3")]

#[path = "support/s3_server.rs"]
mod s3_server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aof::tier::archive::{
    ArchiveStore, BreakerState, ErrorKind, ManualClock, PutOutcome, Remote, RemoteConfig,
    S3Archive, S3Config,
};
use s3_server::S3Server;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 131 + i / 7919) as u8) ^ seed)
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn archive(config: S3Config, rt: &tokio::runtime::Runtime) -> Arc<S3Archive> {
    Arc::new(S3Archive::new(config, rt.handle().clone()).unwrap())
}

fn remote(store: Arc<S3Archive>, max_attempts: u32, threshold: u32) -> (Remote, Arc<ManualClock>) {
    let config = RemoteConfig {
        max_attempts,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        breaker_threshold: threshold,
        breaker_probe_interval: Duration::from_secs(30),
    };
    let clock = ManualClock::new();
    (Remote::with_clock(store, config, clock.clone()), clock)
}

#[test]
fn put_get_range_head_list_delete() {
    let server = S3Server::start("archive");
    let rt = runtime();
    let s3 = archive(server.s3_config("cold"), &rt);
    let tmp = tempfile::tempdir().unwrap();
    let bytes = data(300_000, 1);
    let src = write_file(tmp.path(), "seg", &bytes);

    for key in [
        "log-a/00000001.seg",
        "log-a/00000002.seg",
        "log-b/00000001.seg",
    ] {
        let out = s3.put_file(key, &src).unwrap();
        assert_eq!(
            out,
            PutOutcome::Created {
                size: 300_000,
                parts: 0
            }
        );
    }
    // The prefix is part of the object's name in the bucket.
    assert!(server
        .bucket_dir()
        .join("cold/log-a/00000001.seg")
        .is_file());

    assert_eq!(s3.get("log-a/00000001.seg").unwrap(), bytes);
    assert_eq!(
        s3.get_range("log-a/00000001.seg", 1000..70_000).unwrap(),
        &bytes[1000..70_000]
    );
    assert_eq!(
        s3.get_range("log-a/00000001.seg", 299_999..300_000)
            .unwrap(),
        &bytes[299_999..]
    );
    assert_eq!(s3.head("log-a/00000001.seg").unwrap(), Some(300_000));
    assert_eq!(s3.head("log-a/none").unwrap(), None);

    let err = s3.get("log-a/none").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = s3.get_range("log-a/none", 0..10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Past the end of the object: the store refuses or sends less; never a silent success.
    let err = s3
        .get_range("log-a/00000001.seg", 299_000..300_001)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");

    let list = s3.list("log-a/").unwrap();
    assert_eq!(
        list,
        [
            ("log-a/00000001.seg".to_owned(), 300_000),
            ("log-a/00000002.seg".to_owned(), 300_000)
        ]
    );
    assert_eq!(s3.list("").unwrap().len(), 3);
    assert!(s3.list("zzz").unwrap().is_empty());

    s3.delete("log-a/00000001.seg").unwrap();
    s3.delete("log-a/00000001.seg").unwrap(); // absent: fine
    assert_eq!(s3.head("log-a/00000001.seg").unwrap(), None);
    assert_eq!(s3.list("log-a/").unwrap().len(), 1);
}

#[test]
fn put_twice_reports_already_exists() {
    let server = S3Server::start("archive");
    let rt = runtime();
    let s3 = archive(server.s3_config(""), &rt);
    let tmp = tempfile::tempdir().unwrap();
    let first = write_file(tmp.path(), "first", &data(1000, 1));
    let second = write_file(tmp.path(), "second", &data(2000, 2));
    assert_eq!(
        s3.put_file("k", &first).unwrap(),
        PutOutcome::Created {
            size: 1000,
            parts: 0
        }
    );
    assert_eq!(
        s3.put_file("k", &second).unwrap(),
        PutOutcome::AlreadyExists { size: 1000 }
    );
    assert_eq!(s3.get("k").unwrap(), data(1000, 1));
}

#[test]
fn multipart_upload_reassembles_exact_bytes() {
    let server = S3Server::start("archive");
    let rt = runtime();
    let mut config = server.s3_config("mp/");
    // S3's (and s3s-fs's) smallest part but the last is 5 MiB.
    config.multipart_threshold = 5 << 20;
    config.part_size = 5 << 20;
    let (remote, _clock) = remote(archive(config, &rt), 3, 5);
    let tmp = tempfile::tempdir().unwrap();
    let size = (12 << 20) + 12_345;
    let bytes = data(size, 3);
    let src = write_file(tmp.path(), "big", &bytes);

    let out = remote.put_file("big.seg", &src).unwrap();
    assert_eq!(
        out,
        PutOutcome::Created {
            size: size as u64,
            parts: 3
        }
    );
    let stats = remote.stats();
    assert_eq!(
        (stats.puts, stats.part_uploads, stats.bytes_uploaded),
        (1, 3, size as u64)
    );

    assert_eq!(remote.head("big.seg").unwrap(), Some(size as u64));
    assert!(
        remote.get("big.seg").unwrap() == bytes,
        "the object differs from the file"
    );
    // A range across the first part boundary.
    let boundary = 5 << 20;
    let range = (boundary - 1000) as u64..(boundary + 1000) as u64;
    assert_eq!(
        remote.get_range("big.seg", range).unwrap(),
        &bytes[boundary - 1000..boundary + 1000]
    );

    // Again: the object is there, nothing is uploaded.
    let other = write_file(tmp.path(), "other", &data(size, 4));
    assert_eq!(
        remote.put_file("big.seg", &other).unwrap(),
        PutOutcome::AlreadyExists { size: size as u64 }
    );
    assert_eq!(remote.stats().part_uploads, 3);
    assert!(remote.get("big.seg").unwrap() == bytes);
    // No multipart upload left behind in the bucket.
    assert_eq!(
        remote.list("").unwrap(),
        [("big.seg".to_owned(), size as u64)]
    );
}

#[test]
fn ranged_get_is_one_request() {
    let server = S3Server::start("archive");
    let rt = runtime();
    let (remote, _clock) = remote(archive(server.s3_config(""), &rt), 3, 5);
    let tmp = tempfile::tempdir().unwrap();
    let bytes = data(1 << 20, 5);
    remote
        .put_file("seg", &write_file(tmp.path(), "seg", &bytes))
        .unwrap();

    let before = remote.stats();
    assert_eq!(
        remote.get_range("seg", 4096..(4096 + 65_536)).unwrap(),
        &bytes[4096..4096 + 65_536]
    );
    let after = remote.stats();
    assert_eq!(after.ranged_gets - before.ranged_gets, 1);
    assert_eq!(
        after.gets + after.heads + after.lists,
        before.gets + before.heads + before.lists
    );
    assert_eq!((after.retries, after.failures), (0, 0));
    assert_eq!(after.bytes_downloaded - before.bytes_downloaded, 65_536);
}

#[test]
fn wrong_credentials_are_permanent() {
    let server = S3Server::start("archive");
    let rt = runtime();
    let mut config = server.s3_config("");
    config.credentials = Some(("AK".to_owned(), "wrong".to_owned()));
    let s3 = archive(config, &rt);
    let err = s3.head("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&server.endpoint()) && message.contains("\"k\""),
        "{message}"
    );
}

#[test]
fn server_down_opens_breaker_and_restart_closes_it() {
    let mut server = S3Server::start("archive");
    let rt = runtime();
    let (remote, clock) = remote(archive(server.s3_config("x"), &rt), 3, 3);
    let tmp = tempfile::tempdir().unwrap();
    let bytes = data(100_000, 6);
    remote
        .put_file("seg", &write_file(tmp.path(), "seg", &bytes))
        .unwrap();

    server.kill();
    let err = remote.get_range("seg", 0..100).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&server.endpoint()) && message.contains("get_range"),
        "{message}"
    );
    let stats = remote.stats();
    assert_eq!(
        (stats.ranged_gets, stats.retries, stats.failures),
        (3, 2, 3)
    );
    assert_eq!(
        (stats.breaker, stats.breaker_trips),
        (BreakerState::Open, 1)
    );

    // Open: no request at all.
    assert_eq!(
        remote.head("seg").unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(
        remote.get_range("seg", 0..100).unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    let stats = remote.stats();
    assert_eq!((stats.ranged_gets, stats.heads, stats.fail_fast), (3, 0, 2));

    // Back up, and the probe interval over: the probe succeeds and closes the breaker.
    server.restart();
    clock.advance(Duration::from_secs(30));
    assert_eq!(remote.get_range("seg", 0..100).unwrap(), &bytes[..100]);
    assert_eq!(remote.breaker_state(), BreakerState::Closed);
    assert_eq!(remote.get("seg").unwrap(), bytes);
    let stats = remote.stats();
    assert_eq!(
        (stats.ranged_gets, stats.gets, stats.breaker_trips),
        (4, 1, 1)
    );
}
