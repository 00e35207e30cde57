use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use super::{Admission, BudgetCache, CacheError, Pinned};

#[derive(Debug, thiserror::Error)]
#[error("test load failure {0}")]
struct TestError(u32);

type Cache<V> = BudgetCache<u32, V, TestError>;
type Got<V> = Result<Pinned<V>, CacheError<TestError>>;

const NO_WAIT: Admission = Admission::NoWait;
/// Long enough never to expire in a test that expects the wait to succeed.
const LONG: Admission = Admission::Wait(Duration::from_secs(600));

fn load(c: &Cache<u32>, key: u32, size: u64) -> Pinned<u32> {
    c.get_or_load(&key, size, NO_WAIT, || Ok(key)).unwrap()
}

fn no_load() -> Result<u32, TestError> {
    panic!("a hit must not load")
}

/// Spins until `done` holds; the other thread makes it true soon.
fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        thread::sleep(Duration::from_millis(1));
    }
}

/// A value that knows its bytes and sets a flag when dropped (an unmap).
#[derive(Debug)]
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn hit_miss_and_lru_eviction() {
    let c: Cache<u32> = BudgetCache::new(100);
    for key in 1..=3 {
        assert_eq!(*load(&c, key, 30), key);
    }
    // 1 becomes the most recent; 2 is now the least recent.
    assert_eq!(*c.get_or_load(&1, 30, NO_WAIT, no_load).unwrap(), 1);
    load(&c, 4, 30);
    assert!(c.get(&2).is_none());
    assert!(c.get(&1).is_some() && c.get(&3).is_some() && c.get(&4).is_some());
    let s = c.stats();
    assert_eq!((s.loads, s.misses, s.hits, s.evictions), (4, 4, 4, 1));
    assert_eq!((s.bytes, s.entries, s.peak_bytes), (90, 3, 90));
}

#[test]
fn pinned_entries_survive_pressure() {
    let c: Cache<u32> = BudgetCache::new(100);
    let held = load(&c, 0, 60);
    for key in 1..=10 {
        load(&c, key, 40);
    }
    assert_eq!(*c.get(&0).unwrap(), 0);
    assert_eq!(c.stats().evictions, 9);
    // Evicting the unpinned 40 bytes would not make room for 50: nothing is evicted.
    let err = c.get_or_load(&11, 50, NO_WAIT, no_load).unwrap_err();
    assert!(matches!(
        err,
        CacheError::WouldBlock {
            needed: 50,
            budget: 100,
            pinned: 60
        }
    ));
    assert_eq!(c.stats().entries, 2);
    drop(held);
    load(&c, 11, 50);
    assert!(c.get(&0).is_none(), "unpinned, then least recent");
}

#[test]
fn no_wait_would_block_when_everything_is_pinned() {
    let c: Cache<u32> = BudgetCache::new(100);
    let _a = load(&c, 1, 50);
    let _b = load(&c, 2, 50);
    let err = c.get_or_load(&3, 10, NO_WAIT, no_load).unwrap_err();
    assert!(matches!(
        err,
        CacheError::WouldBlock {
            needed: 10,
            budget: 100,
            pinned: 100
        }
    ));
    let s = c.stats();
    assert_eq!((s.would_blocks, s.waits, s.loads, s.bytes), (1, 0, 2, 100));
}

#[test]
fn wait_succeeds_when_a_pin_drops() {
    let c: Cache<u32> = BudgetCache::new(100);
    let held = load(&c, 1, 100);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let c = c.clone();
        thread::spawn(move || tx.send(c.get_or_load(&2, 60, LONG, || Ok(2)).map(|p| *p)))
    };
    // `waits` is counted under the lock just before the waiter sleeps, and the pin's
    // release needs that lock: the release comes after the waiter has started waiting.
    until(|| c.stats().waits == 1);
    drop(held);
    assert_eq!(rx.recv().unwrap().unwrap(), 2);
    waiter.join().unwrap().unwrap();
    let s = c.stats();
    assert_eq!((s.evictions, s.bytes, s.would_blocks), (1, 60, 0));
    assert!(s.peak_bytes <= 100);
}

#[test]
fn wait_times_out_with_would_block() {
    let c: Cache<u32> = BudgetCache::new(100);
    let _held = load(&c, 1, 100);
    let wait = Admission::Wait(Duration::from_millis(50));
    let err = c.get_or_load(&2, 10, wait, no_load).unwrap_err();
    assert!(matches!(
        err,
        CacheError::WouldBlock {
            needed: 10,
            budget: 100,
            pinned: 100
        }
    ));
    let s = c.stats();
    assert_eq!((s.waits, s.would_blocks, s.loads), (1, 1, 1));
}

/// 16 callers of one missing key; the load returns only once the other 15 wait for it.
fn sixteen_callers(c: &Cache<u32>, outcome: Result<u32, u32>) -> (usize, Vec<Got<u32>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (c, calls, start) = (c.clone(), Arc::clone(&calls), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                c.get_or_load(&7, 10, NO_WAIT, || {
                    calls.fetch_add(1, SeqCst);
                    until(|| c.stats().joins == 15);
                    outcome.map_err(TestError)
                })
            })
        })
        .collect();
    let results = threads.into_iter().map(|t| t.join().unwrap()).collect();
    (calls.load(SeqCst), results)
}

#[test]
fn single_flight_loads_once_for_sixteen_threads() {
    let c: Cache<u32> = BudgetCache::new(100);
    let (calls, results) = sixteen_callers(&c, Ok(42));
    assert_eq!(calls, 1);
    let pins: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(pins
        .iter()
        .all(|p| std::ptr::eq(&**p, &*pins[0]) && **p == 42));
    let s = c.stats();
    assert_eq!((s.loads, s.joins, s.misses, s.hits), (1, 15, 16, 0));
    assert_eq!((s.bytes, s.entries), (10, 1));
    drop(pins);
    assert_eq!(*c.get_or_load(&7, 10, NO_WAIT, no_load).unwrap(), 42);
}

#[test]
fn failed_load_is_shared_and_leaves_nothing() {
    let c: Cache<u32> = BudgetCache::new(100);
    let (calls, results) = sixteen_callers(&c, Err(5));
    assert_eq!(calls, 1);
    let errors: Vec<_> = results
        .into_iter()
        .map(|r| match r {
            Err(CacheError::Load(e)) => e,
            other => panic!("expected the load's error, got {other:?}"),
        })
        .collect();
    assert!(errors
        .iter()
        .all(|e| Arc::ptr_eq(e, &errors[0]) && e.0 == 5));
    let s = c.stats();
    assert_eq!((s.loads, s.load_failures, s.bytes, s.entries), (1, 1, 0, 0));
    // Nothing was cached: the next caller loads again.
    assert_eq!(*load(&c, 7, 10), 7);
    assert_eq!(c.stats().loads, 2);
}

#[test]
fn panicking_load_frees_its_reservation_and_wakes_joiners() {
    let c: Cache<u32> = BudgetCache::new(100);
    let loader = {
        let c = c.clone();
        thread::spawn(move || {
            c.get_or_load(&1, 40, NO_WAIT, || -> Result<u32, TestError> {
                until(|| c.stats().joins == 1);
                panic!("load panics on purpose")
            })
        })
    };
    until(|| c.stats().loads == 1);
    let joined = c.get_or_load(&1, 40, NO_WAIT, no_load);
    assert!(matches!(joined, Err(CacheError::LoadPanicked)));
    assert!(loader.join().is_err(), "the loader sees its own panic");
    let s = c.stats();
    assert_eq!((s.load_failures, s.bytes, s.entries), (1, 0, 0));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        c.get_or_load(&2, 40, NO_WAIT, || -> Result<u32, TestError> {
            panic!("load panics on purpose")
        })
    }));
    assert!(caught.is_err());
    assert_eq!((c.stats().bytes, c.stats().entries), (0, 0));
    assert_eq!(*load(&c, 2, 100), 2);
}

#[test]
fn remove_of_pinned_entry_keeps_bytes_until_the_pin_drops() {
    let c: BudgetCache<u32, Dropped, TestError> = BudgetCache::new(100);
    let unmapped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&unmapped);
    let pin = c
        .get_or_load(&1, 60, NO_WAIT, || Ok(Dropped(flag)))
        .unwrap();
    let clone = pin.clone();
    assert!(c.remove(&1));
    assert!(!c.remove(&1));
    assert!(c.get(&1).is_none());
    let s = c.stats();
    assert_eq!((s.bytes, s.entries), (60, 0));
    let fresh = || Ok(Dropped(Arc::new(AtomicBool::new(false))));
    let err = c.get_or_load(&2, 50, NO_WAIT, fresh).unwrap_err();
    assert!(matches!(err, CacheError::WouldBlock { pinned: 60, .. }));
    drop(pin);
    assert_eq!(c.stats().bytes, 60, "a clone still pins it");
    assert!(!unmapped.load(SeqCst));
    drop(clone);
    assert!(unmapped.load(SeqCst));
    assert_eq!(c.stats().bytes, 0);
    c.get_or_load(&2, 50, NO_WAIT, fresh).unwrap();
}

#[test]
fn remove_during_load_hands_out_the_value_but_does_not_cache_it() {
    let c: Cache<u32> = BudgetCache::new(100);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let loader = {
        let c = c.clone();
        thread::spawn(move || {
            let pin = c.get_or_load(&1, 30, NO_WAIT, || {
                go_rx.recv().unwrap();
                Ok(1)
            });
            let during = c.stats();
            (pin.map(|p| *p), during)
        })
    };
    until(|| c.stats().loads == 1);
    assert!(c.remove(&1));
    go_tx.send(()).unwrap();
    let (value, during) = loader.join().unwrap();
    assert_eq!(value.unwrap(), 1);
    // While the loader held its pin the bytes were counted; none once it dropped.
    assert_eq!((during.bytes, during.entries), (30, 0));
    assert_eq!((c.stats().bytes, c.stats().entries), (0, 0));
}

#[test]
fn charge_counts_against_the_budget() {
    let c: Cache<u32> = BudgetCache::new(100);
    load(&c, 1, 30);
    let b = load(&c, 2, 30);
    // 40 free + 30 evictable: room for 50 by evicting key 1.
    b.charge(50, NO_WAIT).unwrap();
    assert!(c.get(&1).is_none());
    assert_eq!((c.stats().bytes, c.stats().evictions), (80, 1));
    let err = b.charge(30, NO_WAIT).unwrap_err();
    assert!(matches!(
        err,
        CacheError::TooLarge {
            size: 110,
            budget: 100
        }
    ));
    let err = c.get_or_load(&3, 30, NO_WAIT, no_load).unwrap_err();
    assert!(matches!(err, CacheError::WouldBlock { pinned: 80, .. }));
    b.uncharge(50);
    assert_eq!(c.stats().bytes, 30);
    // A removed entry still charges (its value is alive) until its last pin drops.
    c.remove(&2);
    b.charge(10, NO_WAIT).unwrap();
    assert_eq!(c.stats().bytes, 40);
    drop(b);
    assert_eq!(c.stats().bytes, 0);
}

#[test]
fn oversized_entry_is_an_error() {
    let c: Cache<u32> = BudgetCache::new(100);
    let err = c.get_or_load(&1, 101, LONG, no_load).unwrap_err();
    assert!(matches!(
        err,
        CacheError::TooLarge {
            size: 101,
            budget: 100
        }
    ));
    assert!(err.to_string().contains("can never fit"), "{err}");
    let s = c.stats();
    assert_eq!((s.loads, s.misses, s.waits, s.would_blocks), (0, 0, 0, 0));
    assert_eq!(*load(&c, 1, 100), 1);
}

#[test]
fn clear_keeps_only_pinned_bytes() {
    let c: Cache<u32> = BudgetCache::new(100);
    for key in 1..=3 {
        load(&c, key, 20);
    }
    let held = c.get(&2).unwrap();
    c.clear();
    let s = c.stats();
    assert_eq!((s.entries, s.bytes), (0, 20));
    drop(held);
    assert_eq!(c.stats().bytes, 0);
}

/// Bytes of values alive, counted by the values themselves (independently of the cache).
#[derive(Default)]
struct Live {
    now: AtomicU64,
    max: AtomicU64,
}

impl Live {
    fn add(&self, n: u64) {
        let now = self.now.fetch_add(n, SeqCst) + n;
        self.max.fetch_max(now, SeqCst);
    }
}

struct Tracked {
    bytes: AtomicU64,
    live: Arc<Live>,
}

impl Tracked {
    fn new(bytes: u64, live: &Arc<Live>) -> Self {
        live.add(bytes);
        Self {
            bytes: AtomicU64::new(bytes),
            live: Arc::clone(live),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.now.fetch_sub(self.bytes.load(SeqCst), SeqCst);
    }
}

#[test]
fn budget_holds_under_eight_threads() {
    const BUDGET: u64 = 1000;
    let c: BudgetCache<u32, Tracked, TestError> = BudgetCache::new(BUDGET);
    let live = Arc::new(Live::default());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (c, live) = (c.clone(), Arc::clone(&live));
            thread::spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (t + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut held: Vec<Pinned<Tracked>> = Vec::new();
                for _ in 0..1500 {
                    let key = (next() % 64) as u32;
                    let size = 1 + u64::from(key) * 37 % 250;
                    match next() % 10 {
                        0 => held.clear(),
                        1 => {
                            c.remove(&key);
                        }
                        2 => {
                            if let Some(p) = held.last() {
                                if p.charge(16, NO_WAIT).is_ok() {
                                    p.bytes.fetch_add(16, SeqCst);
                                    live.add(16);
                                }
                            }
                        }
                        _ => {
                            let wait = Admission::Wait(Duration::from_millis(5));
                            let loaded = c.get_or_load(&key, size, wait, || {
                                if next() % 16 == 0 {
                                    return Err(TestError(key));
                                }
                                Ok(Tracked::new(size, &live))
                            });
                            match loaded {
                                Ok(p) => {
                                    if held.len() == 3 {
                                        held.remove(0);
                                    }
                                    held.push(p);
                                }
                                Err(CacheError::WouldBlock { .. }) => held.clear(),
                                Err(CacheError::Load(_)) => {}
                                Err(e) => panic!("unexpected {e}"),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = c.stats();
    assert!(s.peak_bytes <= BUDGET, "{s:?}");
    assert!(
        live.max.load(SeqCst) <= BUDGET,
        "values alive peaked over the budget"
    );
    assert!(s.loads > 100 && s.evictions > 0 && s.hits > 0, "{s:?}");
    assert_eq!(
        live.now.load(SeqCst),
        s.bytes,
        "cached values are what is counted"
    );
    c.clear();
    assert_eq!((c.stats().bytes, live.now.load(SeqCst)), (0, 0));
}
