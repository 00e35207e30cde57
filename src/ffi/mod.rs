//! The C ABI of libaof: the only module with `extern "C"` functions and raw pointers.
//! `include/aof.h` is generated from these files by cbindgen (`cbindgen.toml`;
//! `tests/header.rs` fails when the committed header is stale).
//!
//! - `boundary`: the wrapper every export runs in (panics, NULLs, out-params, last error).
//! - `status`: the status codes and the one mapping from [`crate::Error`].
//! - `error_msg`: the per-thread last-error message.
//! - `registry`: handles as tokens (the tables behind `aof_log_t`, `aof_manager_t` and
//!   `aof_completion_queue_t`).
//! - `options`, `log`, `cursor`, `position` (byte positions and streams), `completion`
//!   (completion queues and asynchronous appends), `metrics`, `manager`, `version`: the
//!   exports, by object.
//!
//! Names follow C conventions (`aof_log_t`), hence the lint exception. Raw pointers from C
//! are what this module is for, so `unsafe` is allowed here (the crate denies it
//! elsewhere); every `unsafe` block states its SAFETY argument.
#![allow(non_camel_case_types)]
#![allow(unsafe_code)]

// The header follows the order of these declarations (cbindgen reads them in order). Each
// stands alone so that rustfmt does not sort them.
pub mod version;

pub mod status;
pub mod tier_options;

pub mod error_msg;

pub mod options;

pub mod log;

pub mod cursor;

pub mod position;

pub mod completion;

pub mod metrics;

pub mod manager;

mod boundary;

mod registry;
