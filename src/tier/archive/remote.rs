//! `Remote`: what the tier uses to reach an archive. Wraps any [`ArchiveStore`] with
//!
//! - retries of transient errors with exponential backoff and jitter (every operation is
//!   safe to repeat: uploads are conditional creates, reads and deletes are idempotent);
//! - a circuit breaker: after `breaker_threshold` consecutive transient failures it opens
//!   and calls fail fast, without a request, so a dead store costs nothing; after
//!   `breaker_probe_interval` one call is let through as a probe (half-open), and its
//!   success closes the breaker (its failure opens it again);
//! - single flight for `get_range`: concurrent callers of the same (key, range) share one
//!   request and its result, error included (readers of one hot frame do not multiply the
//!   traffic);
//! - counters, read with [`Remote::stats`].
//!
//! Time comes from a [`Clock`] (now and sleep) so tests drive the breaker and the backoff
//! with a [`ManualClock`] instead of waiting.

use crate::metrics::{Recorder, Summary};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{ArchiveError, ArchiveStore, PutOutcome, Result};
use crate::sync::lock;

/// A source of monotonic time and of sleeping.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary origin; never goes back.
    fn now(&self) -> Duration;
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A clock that moves only when told: `advance`, or `sleep` (which returns at once after
/// moving the clock by the time slept). For tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    pub fn advance(&self, d: Duration) {
        *lock(&self.now) += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *lock(&self.now)
    }

    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
}

/// Retry and breaker settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteConfig {
    /// Attempts per call, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles for each further one, up to `backoff_max`.
    /// The wait is drawn from [half of it, all of it] (jitter, so that callers that failed
    /// together do not retry together).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive transient failures (attempts, not calls) that open the breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before it lets one probe through.
    pub breaker_probe_interval: Duration,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            max_attempts: 4,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            breaker_threshold: 8,
            breaker_probe_interval: Duration::from_secs(30),
        }
    }
}

impl RemoteConfig {
    /// Checks the settings: at least 1 attempt, a breaker threshold of at least 1, a
    /// backoff base not above the backoff maximum, and a probe interval of at least 1 ms.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts is 0 (at least 1: the first attempt)".into());
        }
        if self.breaker_threshold == 0 {
            return Err("breaker_threshold is 0 (at least 1)".into());
        }
        if self.backoff_base > self.backoff_max {
            return Err(format!(
                "backoff_base {:?} is above backoff_max {:?}",
                self.backoff_base, self.backoff_max
            ));
        }
        if self.breaker_probe_interval < Duration::from_millis(1) {
            return Err(format!(
                "breaker_probe_interval {:?} is below 1 ms",
                self.breaker_probe_interval
            ));
        }
        Ok(())
    }
}

/// The circuit breaker's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through.
    #[default]
    Closed,
    /// Requests fail fast until the probe interval has passed.
    Open,
    /// One probe is in flight; other requests fail fast.
    HalfOpen,
}

/// A snapshot of a `Remote`'s counters. Requests count attempts that reached the store
/// (retries included; calls refused by the open breaker are in `fail_fast` only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteStats {
    pub puts: u64,
    /// Multipart parts of the uploads that succeeded.
    pub part_uploads: u64,
    pub gets: u64,
    pub ranged_gets: u64,
    pub heads: u64,
    pub deletes: u64,
    pub lists: u64,
    /// Attempts that failed (transient or permanent; `NotFound` is an answer, not a failure).
    pub failures: u64,
    /// Attempts after the first of a call (made, not refused by the breaker).
    pub retries: u64,
    /// Calls refused without a request because the breaker was open.
    pub fail_fast: u64,
    /// `get_range` calls that joined a request in flight instead of making their own.
    pub single_flight_joins: u64,
    pub bytes_uploaded: u64,
    pub bytes_downloaded: u64,
    pub breaker: BreakerState,
    /// Times the breaker opened (from closed, or again after a failed probe).
    pub breaker_trips: u64,
    /// Durations of upload attempts (whole objects, all parts) and of read attempts
    /// (whole and ranged), in nanoseconds.
    pub upload_latency: Summary,
    pub download_latency: Summary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
    RangedGet,
    Head,
    Delete,
    List,
}

#[derive(Default)]
struct Counters {
    puts: AtomicU64,
    part_uploads: AtomicU64,
    gets: AtomicU64,
    ranged_gets: AtomicU64,
    heads: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    fail_fast: AtomicU64,
    single_flight_joins: AtomicU64,
    bytes_uploaded: AtomicU64,
    bytes_downloaded: AtomicU64,
    breaker_trips: AtomicU64,
    upload_latency: Recorder,
    download_latency: Recorder,
}

impl Counters {
    /// Where an attempt of this kind is timed, if it is.
    fn latency(&self, kind: Kind) -> Option<&Recorder> {
        match kind {
            Kind::Put => Some(&self.upload_latency),
            Kind::Get | Kind::RangedGet => Some(&self.download_latency),
            Kind::Head | Kind::Delete | Kind::List => None,
        }
    }

    fn request(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::Put => &self.puts,
            Kind::Get => &self.gets,
            Kind::RangedGet => &self.ranged_gets,
            Kind::Head => &self.heads,
            Kind::Delete => &self.deletes,
            Kind::List => &self.lists,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed,
    Open { since: Duration },
    HalfOpen,
}

struct Breaker {
    state: State,
    consecutive_failures: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Admit {
    Go,
    Probe,
    Refuse,
}

type Flight = Arc<(Mutex<Option<Result<Vec<u8>>>>, Condvar)>;
type FlightKey = (String, u64, u64);

/// An archive store with retries, a circuit breaker, single-flight ranged reads and
/// counters. Itself an `ArchiveStore`.
pub struct Remote {
    inner: Arc<dyn ArchiveStore>,
    config: RemoteConfig,
    clock: Arc<dyn Clock>,
    breaker: Mutex<Breaker>,
    flights: Mutex<HashMap<FlightKey, Flight>>,
    counters: Counters,
    /// Seed of the backoff jitter (a fresh random value per process and Remote).
    jitter_seed: u64,
    jitter_seq: AtomicU64,
}

impl Remote {
    pub fn new(inner: Arc<dyn ArchiveStore>, config: RemoteConfig) -> Remote {
        Remote::with_clock(inner, config, Arc::new(SystemClock::default()))
    }

    pub fn with_clock(
        inner: Arc<dyn ArchiveStore>,
        config: RemoteConfig,
        clock: Arc<dyn Clock>,
    ) -> Remote {
        Remote {
            inner,
            config,
            clock,
            breaker: Mutex::new(Breaker {
                state: State::Closed,
                consecutive_failures: 0,
            }),
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            jitter_seed: RandomState::new().build_hasher().finish(),
            jitter_seq: AtomicU64::new(0),
        }
    }

    pub fn inner(&self) -> &Arc<dyn ArchiveStore> {
        &self.inner
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    pub fn breaker_state(&self) -> BreakerState {
        match lock(&self.breaker).state {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }

    pub fn stats(&self) -> RemoteStats {
        let c = &self.counters;
        RemoteStats {
            puts: c.puts.load(Relaxed),
            part_uploads: c.part_uploads.load(Relaxed),
            gets: c.gets.load(Relaxed),
            ranged_gets: c.ranged_gets.load(Relaxed),
            heads: c.heads.load(Relaxed),
            deletes: c.deletes.load(Relaxed),
            lists: c.lists.load(Relaxed),
            failures: c.failures.load(Relaxed),
            retries: c.retries.load(Relaxed),
            fail_fast: c.fail_fast.load(Relaxed),
            single_flight_joins: c.single_flight_joins.load(Relaxed),
            bytes_uploaded: c.bytes_uploaded.load(Relaxed),
            bytes_downloaded: c.bytes_downloaded.load(Relaxed),
            breaker: self.breaker_state(),
            breaker_trips: c.breaker_trips.load(Relaxed),
            upload_latency: c.upload_latency.summary(),
            download_latency: c.download_latency.summary(),
        }
    }

    fn admit(&self) -> Admit {
        let mut b = lock(&self.breaker);
        match b.state {
            State::Closed => Admit::Go,
            State::Open { since }
                if self.clock.now().saturating_sub(since) >= self.config.breaker_probe_interval =>
            {
                b.state = State::HalfOpen;
                Admit::Probe
            }
            State::Open { .. } | State::HalfOpen => Admit::Refuse,
        }
    }

    /// Records an attempt's outcome: `transient_failure` is false for successes and for
    /// answers the store gave (not found, permanent errors), which prove it is up.
    fn record(&self, probe: bool, transient_failure: bool) {
        let mut b = lock(&self.breaker);
        if !transient_failure {
            b.consecutive_failures = 0;
            b.state = State::Closed;
            return;
        }
        b.consecutive_failures = b.consecutive_failures.saturating_add(1);
        let trip = match b.state {
            State::HalfOpen => probe,
            State::Closed => b.consecutive_failures >= self.config.breaker_threshold.max(1),
            State::Open { .. } => false,
        };
        if trip {
            b.state = State::Open {
                since: self.clock.now(),
            };
            self.counters.breaker_trips.fetch_add(1, Relaxed);
        }
    }

    /// The wait before retry number `retry` (1-based): exponential, capped, with jitter.
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let full = self
            .config
            .backoff_base
            .saturating_mul(factor)
            .min(self.config.backoff_max);
        let half = full / 2;
        let mut h = RandomState::new().build_hasher();
        h.write_u64(self.jitter_seed ^ self.jitter_seq.fetch_add(1, Relaxed));
        let span = (full - half).as_nanos() as u64;
        half + Duration::from_nanos(if span == 0 {
            0
        } else {
            h.finish() % (span + 1)
        })
    }

    /// Runs `f` under the breaker, retrying transient errors.
    fn call<T>(
        &self,
        kind: Kind,
        op: &'static str,
        key: &str,
        f: impl Fn() -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0u32;
        loop {
            let admit = self.admit();
            if admit == Admit::Refuse {
                self.counters.fail_fast.fetch_add(1, Relaxed);
                return Err(ArchiveError::unavailable(
                    op,
                    key,
                    &self.inner.describe(),
                    "circuit breaker open after repeated failures; no request sent",
                ));
            }
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Relaxed);
            }
            self.counters.request(kind).fetch_add(1, Relaxed);
            let probe = ProbeGuard {
                remote: self,
                armed: admit == Admit::Probe,
            };
            let started = std::time::Instant::now();
            let result = f();
            if let Some(latency) = self.counters.latency(kind) {
                latency.record(started.elapsed().as_nanos() as u64);
            }
            let transient = matches!(&result, Err(e) if e.is_transient());
            probe.disarm();
            self.record(admit == Admit::Probe, transient);
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if !e.is_not_found() {
                        self.counters.failures.fetch_add(1, Relaxed);
                    }
                    attempt += 1;
                    if !transient || attempt >= self.config.max_attempts.max(1) {
                        return Err(e);
                    }
                    self.clock.sleep(self.backoff(attempt));
                }
            }
        }
    }

    /// The ranged read for the single flight's leader.
    fn fetch_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let data = self.call(Kind::RangedGet, "get_range", key, || {
            self.inner.get_range(key, range.clone())
        })?;
        self.counters
            .bytes_downloaded
            .fetch_add(data.len() as u64, Relaxed);
        Ok(data)
    }
}

/// Reopens the breaker if a probe's request panics, so that it does not stay half-open
/// (refusing everything) forever.
struct ProbeGuard<'a> {
    remote: &'a Remote,
    armed: bool,
}

impl ProbeGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.remote.record(true, true);
        }
    }
}

/// Ends a flight: removes it from the map (later callers start a new one) and hands the
/// result to the callers waiting on it. If the leader panics, they get an error.
struct FlightGuard<'a> {
    remote: &'a Remote,
    key: Option<FlightKey>,
    flight: Flight,
}

impl FlightGuard<'_> {
    fn finish(mut self, result: Result<Vec<u8>>) -> Result<Vec<u8>> {
        self.complete(|| result.clone());
        result
    }

    fn complete(&mut self, result: impl FnOnce() -> Result<Vec<u8>>) {
        let Some(key) = self.key.take() else { return };
        lock(&self.remote.flights).remove(&key);
        // Out of the map, the flight can gain no follower: with none, skip the copy.
        if Arc::strong_count(&self.flight) > 1 {
            let (slot, cv) = &*self.flight;
            *lock(slot) = Some(result());
            cv.notify_all();
        }
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let key = self.key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
        let store = self.remote.inner.describe();
        self.complete(|| {
            Err(ArchiveError::unavailable(
                "get_range",
                &key,
                &store,
                "the shared request panicked",
            ))
        });
    }
}

impl ArchiveStore for Remote {
    fn put_file(&self, key: &str, path: &Path) -> Result<PutOutcome> {
        let outcome = self.call(Kind::Put, "put", key, || self.inner.put_file(key, path))?;
        if let PutOutcome::Created { size, parts } = outcome {
            self.counters.bytes_uploaded.fetch_add(size, Relaxed);
            self.counters
                .part_uploads
                .fetch_add(u64::from(parts), Relaxed);
        }
        Ok(outcome)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let flight_key = (key.to_owned(), range.start, range.end);
        let (flight, leader) = {
            let mut flights = lock(&self.flights);
            match flights.get(&flight_key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f: Flight = Arc::new((Mutex::new(None), Condvar::new()));
                    flights.insert(flight_key.clone(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !leader {
            self.counters.single_flight_joins.fetch_add(1, Relaxed);
            let (slot, cv) = &*flight;
            let mut slot = lock(slot);
            loop {
                if let Some(result) = slot.as_ref() {
                    return result.clone();
                }
                slot = cv.wait(slot).unwrap_or_else(|p| p.into_inner());
            }
        }
        let guard = FlightGuard {
            remote: self,
            key: Some(flight_key),
            flight,
        };
        let result = self.fetch_range(key, range);
        guard.finish(result)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let data = self.call(Kind::Get, "get", key, || self.inner.get(key))?;
        self.counters
            .bytes_downloaded
            .fetch_add(data.len() as u64, Relaxed);
        Ok(data)
    }

    fn head(&self, key: &str) -> Result<Option<u64>> {
        self.call(Kind::Head, "head", key, || self.inner.head(key))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.call(Kind::Delete, "delete", key, || self.inner.delete(key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.call(Kind::List, "list", prefix, || self.inner.list(prefix))
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
