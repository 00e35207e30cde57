use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Barrier;

use super::*;
use crate::tier::archive::ErrorKind;

/// A store of one object that fails on demand and can hold ranged reads at a gate.
#[derive(Default)]
struct TestStore {
    data: Vec<u8>,
    /// Fail this many of the next calls with a transient error.
    fail_next: AtomicU32,
    /// Fail every call with a transient error.
    down: AtomicBool,
    /// Fail every call with a permanent error.
    broken: AtomicBool,
    calls: AtomicU64,
    /// While true, ranged reads wait.
    gate: Mutex<bool>,
    gate_cv: Condvar,
}

impl TestStore {
    fn new(data: Vec<u8>) -> Arc<TestStore> {
        Arc::new(TestStore {
            data,
            ..TestStore::default()
        })
    }

    fn enter(&self, op: &'static str, key: &str) -> Result<()> {
        self.calls.fetch_add(1, Relaxed);
        let failing = self.down.load(Relaxed)
            || self
                .fail_next
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok();
        if failing {
            return Err(ArchiveError::unavailable(
                op,
                key,
                "test",
                "connection refused",
            ));
        }
        if self.broken.load(Relaxed) {
            return Err(ArchiveError::permanent(
                op,
                key,
                "test",
                "403 access denied",
            ));
        }
        if key != "k" {
            return Err(ArchiveError::not_found(op, key, "test"));
        }
        Ok(())
    }

    fn close_gate(&self) {
        *lock(&self.gate) = true;
    }

    fn open_gate(&self) {
        *lock(&self.gate) = false;
        self.gate_cv.notify_all();
    }

    fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }
}

impl ArchiveStore for TestStore {
    fn put_file(&self, key: &str, _path: &Path) -> Result<PutOutcome> {
        self.enter("put", key)?;
        Ok(PutOutcome::Created {
            size: 3 << 20,
            parts: 3,
        })
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let mut closed = lock(&self.gate);
        while *closed {
            closed = self.gate_cv.wait(closed).unwrap();
        }
        drop(closed);
        self.enter("get_range", key)?;
        Ok(self.data[range.start as usize..range.end as usize].to_vec())
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.enter("get", key)?;
        Ok(self.data.clone())
    }

    fn head(&self, key: &str) -> Result<Option<u64>> {
        match self.enter("head", key) {
            Err(e) if e.is_not_found() => Ok(None),
            r => r.map(|()| Some(self.data.len() as u64)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.enter("delete", key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.enter("list", "k")?;
        Ok(vec![(format!("{prefix}k"), self.data.len() as u64)])
    }
}

fn config(max_attempts: u32, breaker_threshold: u32) -> RemoteConfig {
    RemoteConfig {
        max_attempts,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        breaker_threshold,
        breaker_probe_interval: Duration::from_secs(30),
    }
}

fn remote(store: &Arc<TestStore>, config: RemoteConfig) -> (Remote, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let inner: Arc<dyn ArchiveStore> = store.clone();
    (Remote::with_clock(inner, config, clock.clone()), clock)
}

#[test]
fn transient_errors_are_retried_with_backoff() {
    let store = TestStore::new((0..=255).collect());
    let (remote, clock) = remote(&store, config(4, 10));
    store.fail_next.store(3, Relaxed);
    assert_eq!(
        remote.get_range("k", 10..20).unwrap(),
        (10..20).collect::<Vec<u8>>()
    );
    assert_eq!(store.calls(), 4);
    let stats = remote.stats();
    assert_eq!(
        (stats.ranged_gets, stats.failures, stats.retries),
        (4, 3, 3)
    );
    assert_eq!(stats.bytes_downloaded, 10);
    assert_eq!(stats.breaker, BreakerState::Closed);
    // Backoffs of 100, 200 and 400 ms, each with up to half taken off by the jitter.
    let slept = clock.now();
    assert!(
        slept >= Duration::from_millis(350) && slept <= Duration::from_millis(700),
        "{slept:?}"
    );
}

#[test]
fn backoff_is_capped() {
    let store = TestStore::new(vec![]);
    let (remote, clock) = remote(&store, config(10, 100));
    store.down.store(true, Relaxed);
    let err = remote.head("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(store.calls(), 10);
    // 100, 200, 400, 800 ms, then 1 s five times: at most 6.5 s, at least half of it.
    let slept = clock.now();
    assert!(
        slept >= Duration::from_millis(3250) && slept <= Duration::from_millis(6500),
        "{slept:?}"
    );
}

#[test]
fn gives_up_after_max_attempts() {
    let store = TestStore::new(vec![1, 2, 3]);
    let (remote, _clock) = remote(&store, config(3, 10));
    store.down.store(true, Relaxed);
    let err = remote.get("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(store.calls(), 3);
    let stats = remote.stats();
    assert_eq!((stats.gets, stats.failures, stats.retries), (3, 3, 2));
    assert_eq!(stats.breaker, BreakerState::Closed);
}

#[test]
fn permanent_errors_and_not_found_are_not_retried() {
    let store = TestStore::new(vec![1, 2, 3]);
    let (remote, _clock) = remote(&store, config(5, 2));
    assert!(remote.get("other").unwrap_err().is_not_found());
    assert_eq!(remote.head("other").unwrap(), None);
    store.broken.store(true, Relaxed);
    assert_eq!(remote.delete("k").unwrap_err().kind(), ErrorKind::Permanent);
    assert_eq!(remote.list("p/").unwrap_err().kind(), ErrorKind::Permanent);
    assert_eq!(remote.delete("k").unwrap_err().kind(), ErrorKind::Permanent);
    assert_eq!(store.calls(), 5);
    let stats = remote.stats();
    assert_eq!(
        (stats.gets, stats.heads, stats.deletes, stats.lists),
        (1, 1, 2, 1)
    );
    assert_eq!((stats.failures, stats.retries), (3, 0));
    // The store answered each time: the breaker stays closed.
    assert_eq!(
        (stats.breaker, stats.breaker_trips),
        (BreakerState::Closed, 0)
    );
}

#[test]
fn breaker_opens_fails_fast_probes_and_closes() {
    let store = TestStore::new(vec![7; 64]);
    let (remote, clock) = remote(&store, config(3, 3));
    store.down.store(true, Relaxed);

    // Three failed attempts open the breaker.
    assert_eq!(
        remote.get_range("k", 0..8).unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(store.calls(), 3);
    let stats = remote.stats();
    assert_eq!(
        (stats.breaker, stats.breaker_trips),
        (BreakerState::Open, 1)
    );

    // Open: every kind of call fails fast, without a request.
    let err = remote.get_range("k", 0..8).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("circuit breaker open"), "{err}");
    assert!(remote.head("k").is_err());
    assert!(remote.put_file("k", Path::new("/nonexistent")).is_err());
    assert_eq!(store.calls(), 3);
    assert_eq!(remote.stats().fail_fast, 3);

    // After the probe interval one probe goes; it fails and the breaker opens again, and
    // the call does not retry past the open breaker.
    clock.advance(Duration::from_secs(30));
    assert!(remote.get("k").is_err());
    assert_eq!(store.calls(), 4);
    let stats = remote.stats();
    assert_eq!(
        (stats.breaker, stats.breaker_trips, stats.fail_fast),
        (BreakerState::Open, 2, 4)
    );
    assert!(remote.get("k").is_err());
    assert_eq!(store.calls(), 4);

    // The store is back: the next probe succeeds and closes the breaker.
    store.down.store(false, Relaxed);
    clock.advance(Duration::from_secs(30));
    assert_eq!(remote.get_range("k", 0..8).unwrap(), [7; 8]);
    assert_eq!(store.calls(), 5);
    assert_eq!(remote.breaker_state(), BreakerState::Closed);
    assert_eq!(remote.head("k").unwrap(), Some(64));
    assert_eq!(store.calls(), 6);
    assert_eq!(remote.stats().breaker_trips, 2);
}

#[test]
fn half_open_lets_one_probe_through() {
    let store = TestStore::new(vec![1; 16]);
    let (remote, clock) = remote(&store, config(1, 1));
    store.fail_next.store(1, Relaxed);
    assert!(remote.get_range("k", 0..4).is_err());
    assert_eq!(remote.breaker_state(), BreakerState::Open);
    clock.advance(Duration::from_secs(30));

    // The probe waits at the gate; meanwhile other calls fail fast.
    store.close_gate();
    std::thread::scope(|s| {
        let probe = s.spawn(|| remote.get_range("k", 0..4));
        while remote.breaker_state() != BreakerState::HalfOpen {
            std::thread::yield_now();
        }
        assert!(remote.get("k").is_err());
        assert!(remote.get_range("k", 4..8).is_err());
        store.open_gate();
        assert_eq!(probe.join().unwrap().unwrap(), [1; 4]);
    });
    assert_eq!(store.calls(), 2);
    let stats = remote.stats();
    assert_eq!((stats.breaker, stats.fail_fast), (BreakerState::Closed, 2));
}

fn single_flight(fail: bool) {
    const THREADS: usize = 16;
    let store = TestStore::new((0..100).collect());
    let (remote, _clock) = remote(&store, config(1, 100));
    if fail {
        store.down.store(true, Relaxed);
    }
    store.close_gate();
    let barrier = Barrier::new(THREADS);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    remote.get_range("k", 5..50)
                })
            })
            .collect();
        // The store holds the first caller's request until every other caller has joined it.
        while remote.stats().single_flight_joins < (THREADS - 1) as u64 {
            std::thread::yield_now();
        }
        store.open_gate();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(store.calls(), 1);
    let stats = remote.stats();
    assert_eq!((stats.ranged_gets, stats.single_flight_joins), (1, 15));
    for r in results {
        if fail {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Unavailable);
        } else {
            assert_eq!(r.unwrap(), (5..50).collect::<Vec<u8>>());
        }
    }
    // The flight is over: the next read makes a request of its own.
    store.down.store(false, Relaxed);
    assert_eq!(remote.get_range("k", 5..50).unwrap().len(), 45);
    assert_eq!(store.calls(), 2);
}

#[test]
fn single_flight_shares_one_request() {
    single_flight(false);
}

#[test]
fn single_flight_shares_errors() {
    single_flight(true);
}

#[test]
fn different_ranges_do_not_share() {
    let store = TestStore::new((0..100).collect());
    let (remote, _clock) = remote(&store, config(1, 100));
    assert_eq!(remote.get_range("k", 0..10).unwrap().len(), 10);
    assert_eq!(remote.get_range("k", 0..11).unwrap().len(), 11);
    assert_eq!(remote.get_range("k", 0..10).unwrap().len(), 10);
    assert_eq!((store.calls(), remote.stats().single_flight_joins), (3, 0));
}

#[test]
fn put_counts_parts_and_bytes() {
    let store = TestStore::new(vec![]);
    let (remote, _clock) = remote(&store, config(3, 100));
    store.fail_next.store(1, Relaxed);
    let out = remote.put_file("k", Path::new("/unused")).unwrap();
    assert_eq!(
        out,
        PutOutcome::Created {
            size: 3 << 20,
            parts: 3
        }
    );
    let stats = remote.stats();
    assert_eq!(
        (stats.puts, stats.part_uploads, stats.bytes_uploaded),
        (2, 3, 3 << 20)
    );
    assert_eq!((stats.failures, stats.retries), (1, 1));
}
