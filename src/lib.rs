//! libaof: a durable, segmented append-only log engine.
//!
//! The engine modules are safe Rust and know nothing of C; `ffi` is the only place with
//! `extern "C"` functions and raw pointers.
//!
//! Layout (see `docs/FORMAT.md` for the bytes):
//! - `segment`: the segment file format, a segment's file, map and offset index.
//! - `log`: the log itself: appends, rolling, reads, close.
//! - `flush`: durability: group commit and the background flusher.
//! - `prefill`: zero-filling segment space ahead of the writer, for cheaper syncs.
//! - `recovery`: what `open` does: find segments, trust footers, repair a torn tail.
//! - `cursor`: ordered scans and tailing.
//! - `verify`: walks segments and reports every damaged range.
//! - `metrics`: counters.
//! - `runtime`: the process-wide tokio runtime shared by every open log.
//! - `fsio`: the file-system calls (fdatasync, fallocate, directory fsync, locks).

pub mod config;
pub mod cursor;
pub mod error;
pub mod ffi;
mod flush;
mod fsio;
pub mod log;
pub mod metrics;
mod padded;
mod prefill;
mod recovery;
mod runtime;
pub mod segment;
pub mod verify;

pub use config::{FlushPolicy, Options, Visibility};
pub use cursor::{Cursor, Record};
pub use error::{Error, Result};
pub use log::{Log, RecoveryReport, StartAt, TailRepair};
pub use metrics::MetricsSnapshot;
pub use verify::{verify_dir, Damage, VerifyReport};
