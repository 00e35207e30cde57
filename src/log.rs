//! The log: appends, rolling, reads and close.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Options;
use crate::cursor::{Cursor, Record};
use crate::error::Result;
use crate::metrics::MetricsSnapshot;

/// Where a cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record in the log.
    Oldest,
    /// The newest record that exists when the cursor opens (like `End` for an empty log).
    Newest,
    /// After the newest record: the cursor sees only records appended later.
    End,
    /// A given id, from the oldest up to one past the newest.
    Id(u64),
}

/// What `open` found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log had been closed cleanly, so no segment was scanned.
    pub clean_shutdown: bool,
    /// Segment files found.
    pub segments: usize,
    /// Records scanned in the unsealed tail.
    pub scanned_records: u64,
    /// A torn or corrupt tail that was cut off, if any.
    pub repaired: Option<TailRepair>,
}

/// A cut made by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRepair {
    pub segment: PathBuf,
    /// Offset of the first byte that did not form a valid record.
    pub offset: u64,
    /// Non-zero bytes that were discarded from that offset on.
    pub discarded_bytes: u64,
    /// Why the scan stopped there.
    pub reason: String,
}

/// Result of [`Log::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
}

/// An open log. `Send + Sync`: share it between threads by reference or in an `Arc`.
pub struct Log {
    _todo: (),
}

impl Log {
    pub fn open(_path: impl AsRef<Path>, _options: Options) -> Result<Log> {
        unimplemented!()
    }
    pub fn path(&self) -> &Path {
        unimplemented!()
    }
    pub fn append(&self, _payload: &[u8]) -> Result<u64> {
        unimplemented!()
    }
    pub fn append_batch<P: AsRef<[u8]>>(&self, _payloads: &[P]) -> Result<u64> {
        unimplemented!()
    }
    pub fn flush(&self) -> Result<()> {
        unimplemented!()
    }
    pub fn sync_until(&self, _id: u64, _timeout: Option<Duration>) -> Result<bool> {
        unimplemented!()
    }
    pub fn durable_id(&self) -> u64 {
        unimplemented!()
    }
    pub fn last_id(&self) -> u64 {
        unimplemented!()
    }
    pub fn read(&self, _id: u64) -> Result<Vec<u8>> {
        unimplemented!()
    }
    pub fn read_with<R>(&self, _id: u64, _f: impl FnOnce(Record<'_>) -> R) -> Result<R> {
        unimplemented!()
    }
    pub fn cursor(&self, _start: StartAt) -> Result<Cursor> {
        unimplemented!()
    }
    pub fn metrics(&self) -> MetricsSnapshot {
        unimplemented!()
    }
    pub fn verify(&self) -> Result<VerifyReport> {
        unimplemented!()
    }
    pub fn recovery(&self) -> &RecoveryReport {
        unimplemented!()
    }
    pub fn is_poisoned(&self) -> bool {
        unimplemented!()
    }
    pub fn close(&self) -> Result<()> {
        unimplemented!()
    }
}
