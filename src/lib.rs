//! libaof: a durable, segmented append-only log engine.
//!
//! The engine modules are safe Rust and know nothing of C; `ffi` is the only place with
//! `extern "C"` functions and raw pointers. `docs/ARCHITECTURE.md` walks through the
//! modules, who owns what, the threads, and the path of an append and of a read.
//!
//! - `log`: the log handle, open and close; `log::writer` (appends, write-out, group
//!   commit, rolling), `log::view` (what readers share), `log::cursor` (scans, tailing),
//!   `log::stream` (the payloads as one byte stream, by byte position), `log::zero`
//!   (zeroing ahead of the writer), `log::readonly` (reading a log from another process
//!   than its writer's, without the lock and without writing: the `aof` tool's reader).
//! - `segment`: the byte format, one segment file, the offset index, the directory layout,
//!   the segment set (states, pinned readers), recovery and verification.
//! - `catalog`: the segment catalogue (libmdbx): every log and each log's segments, durable
//!   on commit. Not yet used by the log.
//! - `durability`: watermarks, group commit, the background flusher, task supervision.
//! - `tier`: the cold tier; `tier::archive` holds the archive backends (a directory, S3)
//!   and `Remote` (retries, circuit breaker, single-flight reads). Not yet used by the log.
//! - `manager`: many logs under one root directory, opened by name, on one runtime.
//! - `runtime`: the tokio runtime background work runs on.
//! - `metrics`, `config`, `error`, `sync` (lock helpers), `fsio` (every system call).
#![deny(unsafe_code)]

#[doc(hidden)]
pub mod catalog;
pub mod completion;
pub mod config;
mod durability;
pub mod error;
pub mod ffi;
mod fsio;
pub mod log;
pub mod manager;
pub mod metrics;
mod runtime;
pub mod segment;
mod sync;
#[doc(hidden)]
pub mod tier;

pub use completion::{AsyncLimits, Completion, CompletionQueue, DurableAppend, Outcome};
pub use config::{FlushPolicy, Options, Retention, Tiering, Visibility};
pub use error::{Error, Result};
pub use log::cursor::{self, Cursor, Record};
pub use log::readonly::{
    lock_holder, CatalogStatus, LockHolder, MarkerState, ReadOnlyCursor, ReadOnlyLog,
    ReadOnlyOptions, ReadOnlyVerify, SegmentInfo, SegmentTier, TailEnd,
};
pub use log::stream::PayloadStream;
pub use log::{Log, RecoveryReport, StartAt, TailRepair};
pub use manager::{validate_log_name, Manager, ManagerOptions, MAX_LOG_NAME_LEN};
pub use metrics::MetricsSnapshot;
pub use segment::verify::{self, verify_dir, Damage, VerifyReport};
