//! Ordered scans across segments, and tailing.

use std::time::Duration;

use crate::error::Result;

/// A record borrowed from the log: valid until the next call on the cursor it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub id: u64,
    pub timestamp_us: u64,
    pub data: &'a [u8],
}

/// A cursor over a log. It keeps the log's engine alive; after the log is closed its calls
/// return `Error::Closed`. One thread at a time.
pub struct Cursor {
    _todo: (),
}

impl Cursor {
    /// The next record, or `None` at the end of the visible records.
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        unimplemented!()
    }
    /// Waits until `next` has a record (`Ok(true)`) or the timeout passes (`Ok(false)`).
    /// `None` waits without limit.
    pub fn wait(&mut self, _timeout: Option<Duration>) -> Result<bool> {
        unimplemented!()
    }
    /// The id `next` returns next.
    pub fn position(&self) -> u64 {
        unimplemented!()
    }
}
