//! Archive backends of the cold tier: where sealed, compressed segment files are uploaded
//! and read back by ranged reads of single zstd frames.
//!
//! - [`ArchiveStore`]: the blocking interface every backend offers.
//! - [`fs::FsArchive`]: a local directory (tests, NFS mounts, single-machine set-ups).
//! - `s3::S3Archive` (feature `s3`, on by default): any S3-compatible object store.
//! - [`remote::Remote`]: wraps a store with retries, a circuit breaker, single-flight ranged
//!   reads and counters; what the tier manager uses.
//!
//! The methods block: they are called from user threads or tokio's blocking pool, never
//! from an async worker (the S3 backend drives its async client with `Handle::block_on`).

use std::ops::Range;
use std::path::Path;

pub mod fs;
pub mod remote;
#[cfg(feature = "s3")]
pub mod s3;

pub use fs::FsArchive;
pub use remote::{
    BreakerState, Clock, ManualClock, Remote, RemoteConfig, RemoteStats, SystemClock,
};
#[cfg(feature = "s3")]
pub use s3::{S3Archive, S3Config};

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// What `put_file` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created with `size` bytes; `parts` is the number of multipart parts
    /// uploaded (0 for a single PUT).
    Created { size: u64, parts: u32 },
    /// An object of that key existed already and was left alone; it may hold other bytes:
    /// the caller verifies it (size here, content by reading it back).
    AlreadyExists { size: u64 },
}

/// The three things a caller must tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No object of that key.
    NotFound,
    /// The store could not be reached or asked us to come back later (connection refused,
    /// timeouts, 5xx, throttling, an open circuit breaker): worth retrying later.
    Unavailable,
    /// The store answered and the answer will not change (4xx, bad configuration, a short
    /// object): retrying does not help.
    Permanent,
}

/// An archive operation that failed. Every variant names the operation, the key and the
/// store (endpoint and bucket, or directory).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {op} of {key:?} at {store}: not found")]
    NotFound {
        op: &'static str,
        key: String,
        store: String,
    },
    #[error("archive {op} of {key:?} at {store}: unavailable (retryable): {message}")]
    Unavailable {
        op: &'static str,
        key: String,
        store: String,
        message: String,
    },
    #[error("archive {op} of {key:?} at {store}: {message}")]
    Permanent {
        op: &'static str,
        key: String,
        store: String,
        message: String,
    },
}

impl ArchiveError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::NotFound { .. } => ErrorKind::NotFound,
            ArchiveError::Unavailable { .. } => ErrorKind::Unavailable,
            ArchiveError::Permanent { .. } => ErrorKind::Permanent,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    pub(crate) fn not_found(op: &'static str, key: &str, store: &str) -> ArchiveError {
        ArchiveError::NotFound {
            op,
            key: key.to_owned(),
            store: store.to_owned(),
        }
    }

    pub(crate) fn unavailable(
        op: &'static str,
        key: &str,
        store: &str,
        message: impl Into<String>,
    ) -> ArchiveError {
        ArchiveError::Unavailable {
            op,
            key: key.to_owned(),
            store: store.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn permanent(
        op: &'static str,
        key: &str,
        store: &str,
        message: impl Into<String>,
    ) -> ArchiveError {
        ArchiveError::Permanent {
            op,
            key: key.to_owned(),
            store: store.to_owned(),
            message: message.into(),
        }
    }
}

/// An archive of immutable objects addressed by key. Blocking; see the module docs.
pub trait ArchiveStore: Send + Sync {
    /// Uploads the file at `path` as `key`, unless an object of that key exists already
    /// (conditional create: an existing object is never overwritten, so a retry after a
    /// lost answer is safe and reports `AlreadyExists`).
    fn put_file(&self, key: &str, path: &Path) -> Result<PutOutcome>;

    /// Bytes `range` of the object: exactly `range.end - range.start` of them, or an error.
    /// An empty range reads nothing and succeeds without a request.
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>>;

    /// The whole object.
    fn get(&self, key: &str) -> Result<Vec<u8>>;

    /// The object's size, or `None` if there is no such object.
    fn head(&self, key: &str) -> Result<Option<u64>>;

    /// Removes the object; an absent object is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// Every object whose key starts with `prefix`, with its size, in key order.
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>>;

    /// Where the store is (endpoint and bucket, or directory), for error messages.
    fn describe(&self) -> String {
        "archive".to_owned()
    }
}

/// Checks that a key is a relative path of plain components: no empty, `.` or `..`
/// component, not absolute, no NUL. Both backends enforce it, so that a key means the
/// same object in a directory and in a bucket.
pub fn validate_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    if key.len() > 1024 {
        return Err(format!("key of {} bytes (at most 1024)", key.len()));
    }
    if key.starts_with('/') {
        return Err("absolute key".into());
    }
    if key.contains('\0') {
        return Err("NUL in key".into());
    }
    for c in key.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(format!("key component {c:?} (empty, . and .. are refused)"));
        }
        if c.starts_with(fs::TMP_PREFIX) {
            return Err(format!(
                "key component {c:?} uses the temporary-file prefix"
            ));
        }
    }
    Ok(())
}

/// The length of a range, or a description of why it is not one.
pub(crate) fn range_len(range: &Range<u64>) -> std::result::Result<u64, String> {
    range
        .end
        .checked_sub(range.start)
        .ok_or_else(|| format!("bad range {}..{}", range.start, range.end))
}
