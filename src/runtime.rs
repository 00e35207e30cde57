//! The tokio runtime that runs background work (flushers, zeroers, pre-allocation). A
//! manager owns one and shares it with every log it opens; a log opened alone owns a small
//! one of its own. Its threads are named `aof-*`. Blocking file I/O runs on its blocking
//! pool (bounded), never on its async workers, so a slow disk cannot starve other logs.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::error::{Error, Result};

thread_local! {
    static ON_RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on a thread of an engine runtime (worker or blocking pool), where blocking on the
/// engine could deadlock it.
pub fn on_runtime_thread() -> bool {
    ON_RUNTIME_THREAD.with(|c| c.get())
}

/// Fails with `InRuntime` on a runtime thread.
pub fn ensure_outside() -> Result<()> {
    if on_runtime_thread() {
        Err(Error::InRuntime)
    } else {
        Ok(())
    }
}

/// Sizes of a runtime's thread pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Async worker threads (timers, task wake-ups; no blocking work runs on them).
    pub worker_threads: usize,
    /// Upper bound of the blocking pool (writes, syncs, file creation), started on demand
    /// and retired after 10 s idle.
    pub max_blocking_threads: usize,
}

/// The most threads of either kind a runtime may be given.
pub const MAX_RUNTIME_THREADS: usize = 1024;

impl RuntimeOptions {
    /// What a log opened alone gets: one worker, a few blocking threads.
    pub fn standalone() -> RuntimeOptions {
        RuntimeOptions {
            worker_threads: 1,
            max_blocking_threads: 8,
        }
    }

    pub fn validate(&self) -> Result<()> {
        for (name, n) in [
            ("worker_threads", self.worker_threads),
            ("max_blocking_threads", self.max_blocking_threads),
        ] {
            if !(1..=MAX_RUNTIME_THREADS).contains(&n) {
                return Err(Error::InvalidArgument(format!(
                    "{name} {n} is outside 1..={MAX_RUNTIME_THREADS}"
                )));
            }
        }
        Ok(())
    }
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            worker_threads: 2,
            max_blocking_threads: 32,
        }
    }
}

/// A runtime shared through `Arc`: the last owner to let go shuts it down, waiting a few
/// seconds for its blocking tasks (or not at all on one of its own threads, where waiting
/// would deadlock).
pub struct Runtime {
    runtime: Option<tokio::runtime::Runtime>,
    handle: Handle,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> Result<Arc<Runtime>> {
        options.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads)
            .max_blocking_threads(options.max_blocking_threads)
            .thread_name("aof-runtime")
            .on_thread_start(|| ON_RUNTIME_THREAD.with(|c| c.set(true)))
            .enable_time()
            // The archive's S3 client (tier/archive/s3.rs) does network IO on this runtime.
            .enable_io()
            .build()
            .map_err(|e| Error::io("start runtime", "<runtime>", e))?;
        Ok(Arc::new(Runtime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        }))
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            if on_runtime_thread() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}
