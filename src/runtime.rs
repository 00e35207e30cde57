//! The process-wide tokio runtime. Every open log shares it: it is built when the first
//! log opens and shut down when the last one closes. Its threads are named `aof-*`.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::error::{Error, Result};

struct Shared {
    runtime: Runtime,
    users: usize,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

thread_local! {
    static ON_RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on a thread of the engine's runtime (worker or blocking pool), where blocking on
/// the engine could deadlock it.
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

/// A counted reference to the shared runtime; drop it from a thread outside the runtime.
pub struct RuntimeRef {
    handle: Handle,
}

impl RuntimeRef {
    pub fn acquire() -> Result<RuntimeRef> {
        let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(32)
                .thread_name("aof-runtime")
                .on_thread_start(|| ON_RUNTIME_THREAD.with(|c| c.set(true)))
                .enable_time()
                .build()
                .map_err(|e| Error::io("start runtime", "<runtime>", e))?;
            *guard = Some(Shared { runtime, users: 0 });
        }
        let shared = guard.as_mut().expect("just set");
        shared.users += 1;
        Ok(RuntimeRef {
            handle: shared.runtime.handle().clone(),
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

/// Dropping the last reference shuts the runtime down, waiting up to a few seconds for its
/// blocking tasks (or not at all on one of its own threads, where waiting would deadlock).
impl Drop for RuntimeRef {
    fn drop(&mut self) {
        let last = {
            let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            let shared = guard.as_mut().expect("runtime exists while referenced");
            shared.users -= 1;
            if shared.users == 0 {
                guard.take().map(|s| s.runtime)
            } else {
                None
            }
        };
        if let Some(rt) = last {
            if on_runtime_thread() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}
