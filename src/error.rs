//! Typed errors of the engine. The C layer maps each variant to one stable status code
//! (`ffi::status`), so a variant's meaning must never change once released.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is out of range or inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A record larger than the configured maximum; nothing was written.
    #[error("record of {len} bytes exceeds the maximum record size of {max} bytes")]
    RecordTooLarge { len: u64, max: u64 },

    /// The record was removed by retention or `truncate_before`.
    #[error(
        "record {id} was removed by retention or truncation; the oldest available id is {first}"
    )]
    Truncated { id: u64, first: u64 },

    /// The record id does not exist (never appended, or not yet visible).
    #[error("record {id} not found ({})", visible_range(*first, *last))]
    NotFound { id: u64, first: u64, last: u64 },

    /// No visible record is at or after that byte position: it lies past the end of the
    /// visible records (`end`).
    #[error("byte position {position} not found (visible positions are {first}..={end})")]
    PositionNotFound { position: u64, first: u64, end: u64 },

    /// The byte position lies before the oldest record held: its records were removed by
    /// retention or `truncate_before`.
    #[error(
        "byte position {position} was removed by retention or truncation; the oldest \
         position held is {first}"
    )]
    PositionTruncated { position: u64, first: u64 },

    /// An operating-system I/O call failed.
    #[error("{op} failed on {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Bytes on disk do not match their checksum or framing.
    #[error("corruption in {} at offset {offset}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        offset: u64,
        detail: String,
    },

    /// Another process (or another handle in this process) holds the log directory.
    #[error("log directory {} is locked by another process or handle", .0.display())]
    Busy(PathBuf),

    /// The log was closed.
    #[error("the log is closed")]
    Closed,

    /// A manager has no log of that name.
    #[error("no log named {name:?} in {}", root.display())]
    NoSuchLog { root: PathBuf, name: String },

    /// An earlier write or sync failed; the log refuses writes because the state of the
    /// file on disk is unknown (the kernel may have dropped dirty pages after a failed fsync).
    #[error("the log is poisoned by an earlier failure: {0}")]
    Poisoned(String),

    /// A blocking call was made from a thread of the engine's own runtime, where it could
    /// deadlock.
    #[error("blocking call made from inside the libaof runtime; call it from your own thread")]
    InRuntime,

    /// The segment catalogue failed: a libmdbx error, a damaged or full catalogue, a value
    /// written by a newer libaof, or misuse (a forked child, a call from inside a
    /// catalogue closure). `detail` says which, and for a full catalogue its size cap.
    #[error("catalogue {}: {detail}", path.display())]
    Catalog { path: PathBuf, detail: String },

    /// No room in a cache of the tiers (its budget is held by pinned segments and
    /// frames), and the manager's admission option says not to wait, or the wait timed
    /// out; or an entry larger than the whole budget. The message says which cache.
    #[error("would block: {0}")]
    WouldBlock(String),

    /// The archive could not be reached (after retries, or its circuit breaker is open),
    /// or refused a request. The message names the operation, the key and the endpoint.
    #[error("archive unavailable: {0}")]
    Remote(String),

    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The visible ids `first..=last` in words.
fn visible_range(first: u64, last: u64) -> String {
    if last < first {
        "the log has no visible records".to_string()
    } else {
        format!("visible ids are {first}..={last}")
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corruption(
        path: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// An error shared by the callers of one load (a cache's single flight): the error
    /// itself if this is the last holder, else a copy of it (an I/O error keeps its kind
    /// and message, not its OS code).
    pub(crate) fn from_shared(e: std::sync::Arc<Error>) -> Error {
        let e = match std::sync::Arc::try_unwrap(e) {
            Ok(e) => return e,
            Err(e) => e,
        };
        match &*e {
            Error::Io { op, path, source } => Error::Io {
                op,
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(source.kind(), source.to_string()),
                },
            },
            Error::Corruption {
                path,
                offset,
                detail,
            } => Error::corruption(path, *offset, detail.clone()),
            Error::Closed => Error::Closed,
            Error::WouldBlock(m) => Error::WouldBlock(m.clone()),
            Error::Remote(m) => Error::Remote(m.clone()),
            Error::Catalog { path, detail } => Error::Catalog {
                path: path.clone(),
                detail: detail.clone(),
            },
            other => Error::Internal(other.to_string()),
        }
    }

    /// True when the error is an I/O error caused by a full disk.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }
}
