//! A real S3-compatible server for integration tests: `s3s-fs` (a file-system-backed S3
//! server) on 127.0.0.1, a free port and a temporary data directory, with one bucket.
//!
//! ```ignore
//! #[path = "support/s3_server.rs"]
//! mod s3_server;
//! let mut server = s3_server::S3Server::start("bucket");
//! let config = server.s3_config("prefix/"); // endpoint, path style, credentials
//! server.kill();     // connections are refused from now on
//! server.restart();  // same port, same data
//! ```
//!
//! Dropping the server kills it. If `s3s-fs` is missing the test fails with how to
//! install it (`cargo install s3s-fs@0.14.1 --features binary --locked`); `.ci/run`
//! installs it.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "AK";
pub const SECRET_KEY: &str = "SK";
pub const REGION: &str = "us-east-1";
const INSTALL: &str = "cargo install s3s-fs@0.14.1 --features binary --locked";

pub struct S3Server {
    bin: PathBuf,
    port: u16,
    /// Holds the data directory (`root/`, one subdirectory per bucket) and the log.
    dir: tempfile::TempDir,
    bucket: String,
    child: Option<Child>,
}

/// `s3s-fs` on PATH, else in ~/.cargo/bin.
pub fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("s3s-fs"));
    let in_cargo = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"));
    on_path.chain(in_cargo).find(|p| p.is_file())
}

impl S3Server {
    /// Starts a server with an empty bucket `bucket` and waits until it accepts connections.
    pub fn start(bucket: &str) -> S3Server {
        let bin = find_binary().unwrap_or_else(|| {
            panic!("s3s-fs not found on PATH or in ~/.cargo/bin; the S3 tests need it: {INSTALL}")
        });
        let dir = tempfile::tempdir().expect("temporary directory");
        // s3s-fs keeps each bucket in a subdirectory of its root.
        std::fs::create_dir_all(dir.path().join("root").join(bucket)).unwrap();
        let port = free_port();
        let mut server = S3Server {
            bin,
            port,
            dir,
            bucket: bucket.to_owned(),
            child: None,
        };
        server.spawn();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the bucket's objects are, as files.
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join("root").join(&self.bucket)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// An `S3Config` for this server: endpoint, path-style, static credentials.
    #[cfg(feature = "s3")]
    pub fn s3_config(&self, prefix: &str) -> aof::tier::archive::S3Config {
        let mut config = aof::tier::archive::S3Config::new(&self.bucket, REGION);
        config.endpoint = Some(self.endpoint());
        config.prefix = prefix.to_owned();
        config.path_style = true;
        config.credentials = Some((ACCESS_KEY.to_owned(), SECRET_KEY.to_owned()));
        config.connect_timeout = Duration::from_secs(2);
        config.read_timeout = Duration::from_secs(20);
        config.attempt_timeout = Duration::from_secs(60);
        config
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none());
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let log_path = self.dir.path().join("server.log");
        // A port just released (restart) may take a moment to bind again: retry.
        for _ in 0..50 {
            let log = File::options()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap();
            let mut child = Command::new(&self.bin)
                .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(self.dir.path().join("root"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port not free yet?): try again
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("s3s-fs did not start on {addr}; its output:\n{log}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
