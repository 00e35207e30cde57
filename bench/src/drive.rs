//! The multi-threaded driver every append-style workload runs on: N threads start
//! together, each calls its operation a fixed number of times (or until a deadline, for
//! warm-up and calibration), latency goes into per-thread HDR histograms, and the wall
//! time runs from the common start until the engine's final `finish` (a flush or a sync)
//! returns.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::util::{elapsed_ns, new_hist, Rng};

/// One thread's view of the engine under test.
pub trait ThreadOp {
    /// The `i`-th operation of this thread (from 0).
    fn op(&mut self, i: u64);
    /// Runs after the thread's last operation, inside the timed region (e.g. commit an
    /// open batch).
    fn done(&mut self) {}
}

impl<F: FnMut(u64)> ThreadOp for F {
    fn op(&mut self, i: u64) {
        self(i)
    }
}

/// How long a run lasts and how latency is sampled.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Operations per thread; `None`: until `duration` has passed.
    pub per_thread: Option<u64>,
    pub duration: Duration,
    /// Time one call in `sample_every` (chosen at random, so periodic behaviour such as
    /// a sync every 100th record is sampled without bias). 1: every call.
    pub sample_every: u64,
}

impl Plan {
    pub fn timed(d: Duration) -> Plan {
        Plan {
            per_thread: None,
            duration: d,
            sample_every: 1,
        }
    }

    pub fn count(per_thread: u64, sample_every: u64) -> Plan {
        Plan {
            per_thread: Some(per_thread),
            duration: Duration::ZERO,
            sample_every,
        }
    }
}

pub struct Outcome {
    pub ops: u64,
    pub secs: f64,
    pub hist: Histogram<u64>,
}

/// Runs `make(t)`'s operation on `threads` threads. `make` runs on the thread itself,
/// before the common start, so it may set up thread-local state untimed.
pub fn drive<M, O>(threads: usize, plan: Plan, make: M, finish: impl FnOnce()) -> Outcome
where
    M: Fn(usize) -> O + Sync,
    O: ThreadOp,
{
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, stop, make) = (&barrier, &stop, &make);
                s.spawn(move || {
                    let mut op = make(t);
                    let mut h = new_hist();
                    let mut rng = Rng::new(t as u64 * 7919 + 17);
                    let every = plan.sample_every.max(1);
                    barrier.wait();
                    let mut i = 0u64;
                    loop {
                        match plan.per_thread {
                            Some(n) if i >= n => break,
                            None if stop.load(Relaxed) => break,
                            _ => {}
                        }
                        if every == 1 || rng.below(every) == 0 {
                            let t0 = Instant::now();
                            op.op(i);
                            h.saturating_record(elapsed_ns(t0));
                        } else {
                            op.op(i);
                        }
                        i += 1;
                    }
                    op.done();
                    (i, h)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        if plan.per_thread.is_none() {
            thread::sleep(plan.duration);
            stop.store(true, Relaxed);
        }
        let mut ops = 0;
        let mut hist = new_hist();
        for h in handles {
            match h.join() {
                Ok((n, th)) => {
                    ops += n;
                    hist.add(&th).expect("merge histograms");
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        finish();
        Outcome {
            ops,
            secs: start.elapsed().as_secs_f64(),
            hist,
        }
    })
}
