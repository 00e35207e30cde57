//! The log: appends, rolling from one segment to the next, reads, and close.
//!
//! Appends encode records into an in-memory buffer under the writer lock; the buffer is
//! written to the active segment with one `write` per batch of records (by the group
//! commit leader, the background flusher, or the appender itself once the buffer is
//! large). Record checksums are filled in by whoever writes the buffer out, just before
//! the `write`: for small records the checksum is most of an append's cost, and under
//! `Async` the flusher computes it on another core. Readers go through the segment's
//! read-only map and never look past the visible watermark, so they only ever see fully
//! written records.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::config::{FlushPolicy, Options, Visibility};
use crate::cursor::{Cursor, Record};
use crate::error::{Error, Result};
use crate::flush::{
    run_flusher, FlushTarget, FlusherSignal, GroupCommit, TaskSignal, WaitEnd, Watermark,
};
use crate::fsio;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::padded::Padded;
use crate::prefill::{self, run_zeroer, OwnFile, Payoff, ZeroTarget};
use crate::recovery::{self, CLEAN_FILE, LOCK_FILE, NEXT_SEGMENT_TMP};
use crate::runtime::{self, RuntimeRef};
use crate::segment::format::{
    encode_record_unsummed, framed_len, sum_records, CleanMarker, RecordChain, SegmentFooter,
    SegmentHeader, FOOTER_LEN, FORMAT_VERSION, HEADER_LEN, RECORD_HEADER_LEN,
};
use crate::segment::{self, Segment};
use crate::verify::{self, Extent, VerifyReport};

/// Where a cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record in the log.
    Oldest,
    /// The newest visible record when the cursor opens (like `End` for an empty log).
    Newest,
    /// After the newest record: the cursor sees only records appended later.
    End,
    /// A given id, from the oldest up to one past the newest.
    Id(u64),
}

/// What `open` found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log had been closed cleanly, so no segment was scanned.
    pub clean_shutdown: bool,
    /// Segment files found.
    pub segments: usize,
    /// Records scanned in the unsealed tail.
    pub scanned_records: u64,
    /// A torn or corrupt tail that was cut off, if any.
    pub repaired: Option<TailRepair>,
    /// Sealed segments whose footer was damaged and was rebuilt from their records.
    pub footers_rebuilt: Vec<PathBuf>,
}

/// A cut made by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRepair {
    pub segment: PathBuf,
    /// Offset of the first byte that did not form a valid record.
    pub offset: u64,
    /// Length of the range, from `offset` to the last non-zero byte, that was zeroed.
    pub discarded_bytes: u64,
    /// Why the scan stopped there.
    pub reason: String,
}

/// Buffered bytes beyond which an appender writes the buffer out itself.
const WRITE_OUT_BYTES: usize = 1 << 20;
/// A buffer grown past this by a huge batch is given back after it is written.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wall-clock microseconds since the Unix epoch (0 before it). Called on every append, so
/// straight to `clock_gettime` (vDSO) without `SystemTime`'s conversions.
fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if ret != 0 || ts.tv_sec < 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// State owned by whoever holds the writer lock.
struct Writer {
    next_id: u64,
    active: Arc<Segment>,
    /// End of the bytes handed to the active segment file (a write-out may still be
    /// copying the last of them).
    write_offset: u64,
    /// Encoded records not yet handed to the file; they belong at `write_offset`.
    buf: Vec<u8>,
    /// The next segment file, being pre-allocated in the background, and how much of its
    /// start is zero-filled already.
    prealloc: Option<mpsc::Receiver<Result<(File, u64)>>>,
    /// The active segment is written with zeros up to here (see `prefill`); `u64::MAX`
    /// when there is nothing (more) to zero in it.
    zeroed_end: u64,
    /// The zeroer was asked to extend `zeroed_end` and has not finished yet.
    zero_requested: bool,
    /// Whether zeroing pays for the workload seen lately.
    zero_payoff: Payoff,
    /// Append counters: kept here, under the lock every append holds anyway, rather than
    /// as atomics that would cost each append two more locked instructions.
    appends: u64,
    append_bytes: u64,
    batches: u64,
}

impl Writer {
    fn end_offset(&self) -> u64 {
        self.write_offset + self.buf.len() as u64
    }
}

/// Write-outs in progress. Buffers are written outside the writer lock so appenders keep
/// encoding meanwhile; a roll or a close waits here until none is in flight before it
/// writes or seals the segment itself.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn begin(&self) {
        *lock(&self.count) += 1;
    }

    fn end(&self) {
        *lock(&self.count) -= 1;
        self.idle.notify_all();
    }

    /// Waits while `busy(write-outs in flight)` holds; re-checked at every `end`.
    fn wait_while(&self, mut busy: impl FnMut(usize) -> bool) {
        let count = lock(&self.count);
        drop(
            self.idle
                .wait_while(count, |n| busy(*n))
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
}

struct Background {
    runtime: Option<RuntimeRef>,
    flusher: Option<JoinHandle<()>>,
    zeroer: Option<JoinHandle<()>>,
    lock_file: Option<File>,
}

/// The engine behind a [`Log`] handle, shared with its cursors and background tasks.
pub(crate) struct Inner {
    dir: PathBuf,
    options: Options,
    writer: Mutex<Writer>,
    /// Serialises write-outs and holds the spare buffer they swap with the writer's.
    io: Mutex<Vec<u8>>,
    in_flight: InFlight,
    /// The footer's checksum of the active segment's records written out so far; `None`
    /// when the segment was reopened with records in it (rebuilt from the file when it is
    /// sealed). Write-outs fill in record checksums and extend it, in buffer order.
    chain: Mutex<Option<RecordChain>>,
    /// Start of the range the zeroer is writing now (`u64::MAX`: none); see `prefill`.
    zero_fence: AtomicU64,
    /// Serialises `fdatasync` of segment files with the poison check, so that after a
    /// failed sync no other sync on the same descriptor can report success (the kernel
    /// reports a writeback error once per open file).
    sync_lock: Mutex<()>,
    /// Every segment, in id order.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Highest id whose bytes are in the segment file.
    written: Watermark,
    /// Durable watermark and group commit.
    commit: GroupCommit,
    /// Highest id appended.
    last_id: Padded<AtomicU64>,
    /// Records appended while the last `Sync` group-commit round ran (from its start to
    /// its end), and how long its `fdatasync` took: what the next round's leader lingers
    /// for, and for how long at most.
    round_demand: AtomicU64,
    last_sync_ns: AtomicU64,
    closed: AtomicBool,
    poison: OnceLock<String>,
    pub(crate) metrics: Metrics,
    recovery: RecoveryReport,
    signal: Arc<FlusherSignal>,
    /// Wakes the zeroer (see `prefill`).
    zeroer: Arc<TaskSignal>,
    runtime: tokio::runtime::Handle,
    background: Mutex<Background>,
}

/// An open log. `Send + Sync`: share it between threads by reference or in an `Arc`.
/// Dropping it closes it (errors are lost then: call [`Log::close`] to see them).
pub struct Log {
    inner: Arc<Inner>,
}

impl Log {
    /// Opens (creating if needed) the log in directory `path`, recovering it if it was not
    /// closed cleanly. Fails with `Busy` if another handle holds the directory.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Log> {
        options.validate()?;
        runtime::ensure_outside()?;
        let dir = path.as_ref().to_path_buf();
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsio::fsync_dir(parent)?;
            }
        }
        let lock_file = fsio::lock_exclusive(&dir.join(LOCK_FILE), &dir)?;
        let recovered = recovery::recover(&dir)?;
        let mut segments = recovered.segments;
        let next_id = recovered.next_id;
        let metrics = Metrics::default();

        // Keep appending to the unsealed tail unless it is empty and of another size than
        // configured now; otherwise start a fresh segment.
        let reuse = match (recovered.active_write_offset, segments.last()) {
            (Some(off), Some(seg)) if off > HEADER_LEN || seg.capacity == options.segment_size => {
                Some(off)
            }
            (Some(_), Some(seg)) => {
                fsio::remove_file(&seg.path)?;
                fsio::fsync_dir(&dir)?;
                segments.pop();
                None
            }
            _ => None,
        };
        let (active, write_offset) = match reuse {
            Some(off) => (segments.last().cloned().expect("tail exists"), off),
            None => {
                let tmp = dir.join(NEXT_SEGMENT_TMP);
                let file = create_segment_file(&tmp, options.segment_size, 0)?;
                let seg = prepare_segment(&dir, file, &tmp, next_id, options.segment_size)?;
                fsio::fsync_dir(&dir)?;
                Metrics::add(&metrics.segments_created, 1);
                segments.push(seg.clone());
                (seg, HEADER_LEN)
            }
        };

        let durable = next_id - 1;
        let runtime = RuntimeRef::acquire()?;
        let handle = runtime.handle().clone();
        let inner = Arc::new(Inner {
            dir,
            writer: Mutex::new(Writer {
                next_id,
                active,
                write_offset,
                buf: Vec::with_capacity(64 << 10),
                prealloc: None,
                zeroed_end: zeroing_from(&options, prefill::page_up(write_offset)),
                zero_requested: false,
                zero_payoff: Payoff::new(options.flush == FlushPolicy::Sync),
                appends: 0,
                append_bytes: 0,
                batches: 0,
            }),
            io: Mutex::new(Vec::with_capacity(64 << 10)),
            in_flight: InFlight::default(),
            zero_fence: AtomicU64::new(u64::MAX),
            chain: Mutex::new((write_offset == HEADER_LEN).then(RecordChain::default)),
            sync_lock: Mutex::new(()),
            segments: RwLock::new(segments),
            written: Watermark::new(durable),
            commit: GroupCommit::new(durable),
            last_id: Padded(AtomicU64::new(durable)),
            round_demand: AtomicU64::new(0),
            last_sync_ns: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            poison: OnceLock::new(),
            metrics,
            recovery: recovered.report,
            signal: Arc::new(FlusherSignal::default()),
            zeroer: Arc::new(TaskSignal::default()),
            runtime: handle,
            background: Mutex::new(Background {
                runtime: Some(runtime),
                flusher: None,
                zeroer: None,
                lock_file: Some(lock_file),
            }),
            options,
        });
        if inner.options.flush != FlushPolicy::Sync {
            let task = run_flusher(
                inner.clone(),
                inner.signal.clone(),
                inner.options.flush.interval(),
            );
            lock(&inner.background).flusher = Some(inner.runtime.spawn(task));
        }
        if inner.options.zero_ahead > 0 {
            let task = run_zeroer(inner.clone(), inner.zeroer.clone());
            lock(&inner.background).zeroer = Some(inner.runtime.spawn(task));
        }
        Ok(Log { inner })
    }

    /// The log directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Appends one record and returns its id. Under `FlushPolicy::Sync` it returns once
    /// the record is durable.
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        self.inner.append_records(&[payload], false)
    }

    /// Appends records with one write and returns the id of the first; the others follow
    /// densely. A batch is not atomic: after a crash a prefix of it may survive.
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<u64> {
        if payloads.is_empty() {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        self.inner.append_records(payloads, true)
    }

    /// Writes and syncs every record appended so far.
    pub fn flush(&self) -> Result<()> {
        runtime::ensure_outside()?;
        self.inner.check_writable()?;
        self.inner.make_durable(self.inner.last_id.load(SeqCst))
    }

    /// Waits until record `id` is durable (`Ok(true)`) or the timeout passes (`Ok(false)`);
    /// `None` waits without limit. It does not start a sync: the flush policy, another
    /// writer or `flush` does.
    pub fn sync_until(&self, id: u64, timeout: Option<Duration>) -> Result<bool> {
        let inner = &self.inner;
        inner.check_open()?;
        let last = inner.last_id.load(SeqCst);
        if id > last {
            return Err(Error::InvalidArgument(format!(
                "record {id} has not been appended (last id is {last})"
            )));
        }
        runtime::ensure_outside()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let stop = || inner.closed.load(SeqCst) || inner.poison.get().is_some();
        match inner.commit.durable.wait_for(id, deadline, stop) {
            Ok(()) => Ok(true),
            Err(WaitEnd::TimedOut) => Ok(false),
            Err(WaitEnd::Interrupted) => inner.check_writable().map(|()| false),
        }
    }

    /// Highest id known durable (0: none).
    pub fn durable_id(&self) -> u64 {
        self.inner.commit.durable.get()
    }

    /// Highest id appended (0: none).
    pub fn last_id(&self) -> u64 {
        self.inner.last_id.load(SeqCst)
    }

    /// Copies record `id`.
    pub fn read(&self, id: u64) -> Result<Vec<u8>> {
        self.read_with(id, |r| r.data.to_vec())
    }

    /// Calls `f` with record `id`, borrowed from the segment map (no copy).
    pub fn read_with<R>(&self, id: u64, f: impl FnOnce(Record<'_>) -> R) -> Result<R> {
        let inner = &self.inner;
        inner.check_open()?;
        let visible = inner.visible_id();
        if id == 0 || id > visible {
            return Err(inner.not_found(id, visible));
        }
        let seg = inner.segment_for(id)?;
        let offset = seg.offset_of(id)?;
        let rec = seg.record_at(offset, id)?;
        inner.metrics.add_reads(1, rec.payload.len() as u64);
        Ok(f(Record {
            id,
            timestamp_us: rec.timestamp_us,
            data: rec.payload,
        }))
    }

    /// Opens a cursor. It holds the engine, not this handle: it may outlive `&self`.
    pub fn cursor(&self, start: StartAt) -> Result<Cursor> {
        let inner = &self.inner;
        inner.check_open()?;
        let first = inner.first_id();
        let last = inner.last_id.load(SeqCst);
        let id = match start {
            StartAt::Oldest => first,
            StartAt::Newest => inner.visible_id().max(first),
            StartAt::End => last + 1,
            StartAt::Id(id) if (first..=last + 1).contains(&id) => id,
            StartAt::Id(id) => return Err(inner.not_found(id, last)),
        };
        Ok(Cursor::new(self.inner.clone(), id))
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let inner = &self.inner;
        let mut m = inner.metrics.snapshot();
        {
            let w = lock(&inner.writer);
            (m.appends, m.append_bytes, m.batches) = (w.appends, w.append_bytes, w.batches);
        }
        m.last_id = inner.last_id.load(SeqCst);
        m.durable_id = inner.commit.durable.get();
        m.segment_count = inner
            .segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u64;
        m.recovery_scanned_records = inner.recovery.scanned_records;
        m.recovery_truncated_bytes = inner
            .recovery
            .repaired
            .as_ref()
            .map_or(0, |r| r.discarded_bytes);
        m.recovery_clean_shutdown = u64::from(inner.recovery.clean_shutdown);
        m
    }

    /// Checks every record checksum, every header and footer and the zero slack of sealed
    /// segments. Fails with `Corruption` naming every damaged range; see
    /// [`Log::verify_all`] for the report itself.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify_all()?.into_result()
    }

    /// Like [`Log::verify`], but returns the damaged ranges in the report instead of an
    /// error.
    pub fn verify_all(&self) -> Result<VerifyReport> {
        self.inner.verify_all()
    }

    /// What `open` found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// True once a write or sync failed; the log then refuses writes.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poison.get().is_some()
    }

    /// Writes and syncs everything, records a clean shutdown and releases the directory.
    /// Later calls on this log and its cursors return `Closed`. Calling it again is a no-op.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.inner.close();
    }
}

impl Inner {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poison.get().is_some()
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        match self.poison.get() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Marks the log unusable for writes after a failed write or sync. Never retried: after
    /// a failed fsync the kernel may have dropped the dirty pages.
    fn poison_with(&self, err: Error) -> Error {
        let _ = self.poison.set(err.to_string());
        self.commit.wake_all();
        self.written.wake_all();
        err
    }

    pub(crate) fn visible_mark(&self) -> &Watermark {
        match self.options.visibility {
            Visibility::Written => &self.written,
            Visibility::Durable => &self.commit.durable,
        }
    }

    /// Highest id readers may see. Once poisoned, nothing beyond the durable id: those
    /// records may never reach the disk.
    pub(crate) fn visible_id(&self) -> u64 {
        let visible = self.visible_mark().get();
        if self.poison.get().is_some() {
            visible.min(self.commit.durable.get())
        } else {
            visible
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    fn first_id(&self) -> u64 {
        let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
        segs.first().map_or(1, |s| s.base_id)
    }

    /// `last` is the visible id the caller decided on, so the error agrees with the refusal.
    pub(crate) fn not_found(&self, id: u64, last: u64) -> Error {
        Error::NotFound {
            id,
            first: self.first_id(),
            last,
        }
    }

    /// The segment that holds `id` (which the caller knows exists).
    pub(crate) fn segment_for(&self, id: u64) -> Result<Arc<Segment>> {
        let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let i = segs.partition_point(|s| s.base_id <= id);
        match i {
            0 => Err(self.not_found(id, self.visible_id())),
            _ => Ok(segs[i - 1].clone()),
        }
    }

    fn append_records<P: AsRef<[u8]>>(&self, payloads: &[P], batch: bool) -> Result<u64> {
        let max = self.options.max_record_size;
        let mut bytes = 0u64;
        for p in payloads {
            let len = p.as_ref().len() as u64;
            if len > max {
                return Err(Error::RecordTooLarge { len, max });
            }
            bytes += len;
        }
        let timestamp = now_us();
        let (first, last, was_empty, full) = {
            let mut w = lock(&self.writer);
            self.check_writable()?;
            let first = w.next_id;
            let was_empty = w.buf.is_empty();
            for p in payloads {
                self.append_locked(&mut w, p.as_ref(), timestamp)?;
            }
            let last = w.next_id - 1;
            self.last_id.store(last, SeqCst);
            w.appends += payloads.len() as u64;
            w.append_bytes += bytes;
            w.batches += u64::from(batch);
            (first, last, was_empty, w.buf.len() >= WRITE_OUT_BYTES)
        };
        // A reader waiting at the tail sees the record soonest if the appender writes it
        // out itself: one wake-up (of the reader) instead of two (flusher, then reader).
        let tail_waiting =
            self.options.visibility == Visibility::Written && self.written.has_waiters();
        let wrote_out = full || tail_waiting;
        if wrote_out {
            self.write_out()?;
        }
        match self.options.flush {
            FlushPolicy::Sync => self.make_durable(last)?,
            policy => {
                let pending = last.saturating_sub(self.commit.durable.get());
                let sync = policy.batch_records().is_some_and(|n| pending >= n);
                self.signal.poke(sync, was_empty && !wrote_out);
            }
        }
        Ok(first)
    }

    fn append_locked(&self, w: &mut Writer, payload: &[u8], timestamp: u64) -> Result<()> {
        let framed = framed_len(payload.len() as u64);
        let full = w.end_offset() + framed > w.active.capacity - FOOTER_LEN;
        if full || w.active.footer().is_some() {
            self.roll(w)?;
        }
        encode_record_unsummed(&mut w.buf, w.next_id, timestamp, payload);
        w.next_id += 1;
        // `zeroed_end` is u64::MAX when zeroing is off or done, so this is one compare.
        if w.end_offset() + self.options.zero_ahead / 2 > w.zeroed_end && !w.zero_requested {
            w.zero_requested = true;
            self.zeroer.wake();
        }
        let pct = u64::from(self.options.preallocate_at_percent);
        if pct > 0 && w.prealloc.is_none() && w.end_offset() * 100 >= w.active.capacity * pct {
            self.start_preallocation(w);
        }
        Ok(())
    }

    /// Hands the buffered records to the active segment file with one `write`, outside the
    /// writer lock. Returns the segment and the id up to which every record is now in the
    /// files (write-outs are serialised, so no earlier one is still in flight).
    fn write_out(&self) -> Result<(Arc<Segment>, u64)> {
        let mut spare = lock(&self.io);
        let (seg, offset, last) = {
            let mut w = lock(&self.writer);
            let last = w.next_id - 1;
            if w.buf.is_empty() {
                return Ok((w.active.clone(), last));
            }
            std::mem::swap(&mut w.buf, &mut *spare);
            let offset = w.write_offset;
            w.write_offset += spare.len() as u64;
            self.in_flight.begin();
            (w.active.clone(), offset, last)
        };
        // The zeroer may be writing just past the bytes assigned before this swap.
        let end = offset + spare.len() as u64;
        if end > self.zero_fence.load(SeqCst) {
            self.in_flight
                .wait_while(|_| end > self.zero_fence.load(SeqCst));
        }
        self.sum_records(&mut spare);
        let result = fsio::write_all_at(&seg.file, &seg.path, &spare, offset);
        spare.clear();
        if spare.capacity() > KEEP_BUFFER_BYTES {
            spare.shrink_to(64 << 10);
        }
        self.in_flight.end();
        result.map_err(|e| self.poison_with(e))?;
        Metrics::add(&self.metrics.write_calls, 1);
        self.written.advance(last);
        Ok((seg, last))
    }

    /// Under the writer lock: waits for write-outs in flight, then writes the buffer
    /// itself. Afterwards every appended record is in the active segment file.
    fn write_out_locked(&self, w: &mut Writer) -> Result<()> {
        self.in_flight.wait_while(|n| n > 0);
        if let Some(why) = self.poison.get() {
            return Err(Error::Poisoned(why.clone()));
        }
        if w.buf.is_empty() {
            return Ok(());
        }
        let seg = w.active.clone();
        self.sum_records(&mut w.buf);
        fsio::write_all_at(&seg.file, &seg.path, &w.buf, w.write_offset)
            .map_err(|e| self.poison_with(e))?;
        w.write_offset += w.buf.len() as u64;
        w.buf.clear();
        Metrics::add(&self.metrics.write_calls, 1);
        self.written.advance(w.next_id - 1);
        Ok(())
    }

    /// Fills in the checksums of a buffer about to be written out and extends the footer's
    /// chain with them. Callers write out in buffer order (see `write_out`).
    fn sum_records(&self, buf: &mut [u8]) {
        match lock(&self.chain).as_mut() {
            Some(chain) => sum_records(buf, |crc| chain.push(crc)),
            None => sum_records(buf, |_| {}),
        }
    }

    /// One round of group commit: write out, then one `fdatasync`, both outside the writer
    /// lock so appenders keep going meanwhile. Returns the id made durable.
    fn sync_once(&self) -> Result<u64> {
        self.linger();
        let (seg, target) = self.write_out()?;
        let before = self.commit.durable.get();
        if target <= before {
            return Ok(target);
        }
        let started = Instant::now();
        self.sync_segment(&seg)?;
        self.last_sync_ns
            .store(started.elapsed().as_nanos() as u64, SeqCst);
        // Records appended since this round began: those it covered, and those that came
        // during its sync; all of them will want the next round.
        self.round_demand
            .store(self.last_id.load(SeqCst) - before, SeqCst);
        Ok(target)
    }

    /// `fdatasync` of a segment file; a failure poisons the log. Serialised with the
    /// poison check (see `sync_lock`), and counted.
    fn sync_segment(&self, seg: &Segment) -> Result<()> {
        let _serial = lock(&self.sync_lock);
        if let Some(why) = self.poison.get() {
            return Err(Error::Poisoned(why.clone()));
        }
        fsio::fdatasync(&seg.file, &seg.path).map_err(|e| self.poison_with(e))?;
        Metrics::add(&self.metrics.syncs, 1);
        Ok(())
    }

    /// Before a `Sync` group-commit round, when several writers wanted the last one: give
    /// the writers the last round just woke a moment to append again, so that one
    /// `fdatasync` covers them all. Without it the writers split into two cohorts that
    /// take turns, each round carrying half of them (measured: 16 writers, ~8 records per
    /// round; with it ~16, and 1.3x the throughput).
    ///
    /// Stops once as many records are waiting as the last round's demand, once none arrived
    /// for `QUIET`, or after as long as the last `fdatasync` took: a lone writer never
    /// waits, and a round never waits longer than the sync it shares.
    fn linger(&self) {
        // Waking a writer and having it append takes ~3–4 µs of a core here; 40 µs of
        // silence means the others are not coming.
        const QUIET: Duration = Duration::from_micros(40);
        const MAX: Duration = Duration::from_micros(500);
        let demand = self.round_demand.load(SeqCst);
        if self.options.flush != FlushPolicy::Sync || demand < 2 {
            return;
        }
        let cap = Duration::from_nanos(self.last_sync_ns.load(SeqCst)).min(MAX);
        let durable = self.commit.durable.get();
        let start = Instant::now();
        let mut seen = self.last_id.load(SeqCst);
        let mut quiet_since = start;
        loop {
            if seen.saturating_sub(durable) >= demand {
                return;
            }
            std::thread::yield_now();
            let now = Instant::now();
            let last = self.last_id.load(SeqCst);
            if last != seen {
                seen = last;
                quiet_since = now;
            } else if now - quiet_since >= QUIET || now - start >= cap {
                return;
            }
        }
    }

    fn make_durable(&self, target: u64) -> Result<()> {
        self.commit
            .make_durable(target, || self.check_writable(), || self.sync_once())
    }

    /// Seals the active segment and starts the next one. Runs under the writer lock: the
    /// appenders behind it wait for two syncs, once per segment.
    ///
    /// Failing to create the next segment (no space, say) loses nothing: the error goes to
    /// the appender and the next append tries again. A failed sync poisons the log.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        self.write_out_locked(w)?;
        if w.active.footer().is_none() {
            self.seal(w)?;
        }
        let tmp = self.dir.join(NEXT_SEGMENT_TMP);
        let prepared = w.prealloc.take().and_then(|rx| rx.recv().ok()?.ok());
        let (file, zeroed) = match prepared {
            Some(prepared) => prepared,
            None => (create_segment_file(&tmp, self.options.segment_size, 0)?, 0),
        };
        let seg = prepare_segment(&self.dir, file, &tmp, w.next_id, self.options.segment_size)?;
        fsio::fsync_dir(&self.dir).map_err(|e| self.poison_with(e))?;
        Metrics::add(&self.metrics.segments_created, 1);
        self.segments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(seg.clone());
        w.active = seg;
        w.write_offset = HEADER_LEN;
        *lock(&self.chain) = Some(RecordChain::default());
        w.zeroed_end = zeroing_from(&self.options, zeroed.max(prefill::PAGE));
        Ok(())
    }

    /// Writes the footer of the active segment and syncs it; every record in it is then
    /// durable.
    fn seal(&self, w: &mut Writer) -> Result<()> {
        let seg = &w.active;
        let data_end = w.write_offset;
        let records_crc = match lock(&self.chain).take() {
            Some(chain) => chain.value(),
            None => seg.records_chain(data_end)?,
        };
        let footer = SegmentFooter {
            record_count: w.next_id - seg.base_id,
            first_id: seg.base_id,
            last_id: w.next_id - 1,
            data_end,
            records_crc,
        };
        let at = seg.capacity - FOOTER_LEN;
        fsio::write_all_at(&seg.file, &seg.path, &footer.encode(), at)
            .map_err(|e| self.poison_with(e))?;
        self.sync_segment(seg)?;
        Metrics::add(&self.metrics.segments_sealed, 1);
        seg.mark_sealed(footer);
        self.commit.durable.advance(footer.last_id);
        Ok(())
    }

    fn start_preallocation(&self, w: &mut Writer) {
        let (tx, rx) = mpsc::channel();
        let tmp = self.dir.join(NEXT_SEGMENT_TMP);
        let size = self.options.segment_size;
        let zero = match self.options.zero_ahead {
            n if n > 0 && w.zero_payoff.pays() => prefill::page_up(n).min(size - FOOTER_LEN),
            _ => 0,
        };
        self.runtime.spawn_blocking(move || {
            let _ = tx.send(create_segment_file(&tmp, size, zero).map(|f| (f, zero)));
        });
        w.prealloc = Some(rx);
    }

    fn verify_all(&self) -> Result<VerifyReport> {
        self.check_open()?;
        let written = self.written.get();
        let segs = self
            .segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut report = VerifyReport::default();
        let count = segs.len();
        for (i, seg) in segs.iter().enumerate() {
            let extent = if i + 1 < count || seg.footer().is_some() {
                Extent::Sealed
            } else {
                Extent::UpTo(written)
            };
            verify::check_segment(&seg.path, seg.bytes(), seg.base_id, extent, &mut report);
        }
        Ok(report)
    }

    fn close(&self) -> Result<()> {
        runtime::ensure_outside()?;
        if self.closed.swap(true, SeqCst) {
            return Ok(());
        }
        let mut bg = lock(&self.background);
        self.signal.task.stop();
        self.zeroer.stop();
        if let Some(task) = bg.flusher.take() {
            let _ = self.runtime.block_on(task);
        }
        // Before the directory lock goes: no zeros may land after another opener's records.
        if let Some(task) = bg.zeroer.take() {
            let _ = self.runtime.block_on(task);
        }
        let result = self.finish();
        self.commit.wake_all();
        self.written.wake_all();
        drop(bg.runtime.take());
        bg.lock_file = None;
        result
    }

    /// The last write, sync and the clean-shutdown marker.
    fn finish(&self) -> Result<()> {
        if let Some(why) = self.poison.get() {
            return Err(Error::Poisoned(why.clone()));
        }
        let mut w = lock(&self.writer);
        // Let a pre-allocation in flight finish so it does not race the next open.
        if let Some(rx) = w.prealloc.take() {
            let _ = rx.recv();
        }
        self.write_out_locked(&mut w)?;
        let seg = w.active.clone();
        self.sync_segment(&seg)?;
        self.commit.durable.advance(w.next_id - 1);
        let marker = CleanMarker {
            active_base_id: seg.base_id,
            write_offset: w.write_offset,
            next_id: w.next_id,
        };
        let path = self.dir.join(CLEAN_FILE);
        let file = fsio::create_file(&path)?;
        fsio::write_all_at(&file, &path, &marker.encode(), 0)?;
        fsio::fdatasync(&file, &path)?;
        fsio::fsync_dir(&self.dir)
    }
}

impl FlushTarget for Inner {
    fn write_out(&self) -> Result<()> {
        if self.closed.load(SeqCst) {
            return Ok(());
        }
        Inner::write_out(self).map(|_| ())
    }

    fn sync_all(&self) -> Result<()> {
        self.make_durable(self.last_id.load(SeqCst))
    }

    fn has_unsynced(&self) -> bool {
        self.last_id.load(SeqCst) > self.commit.durable.get()
    }

    fn background_failed(&self, err: &Error) {
        self.fail_in_background("background flush", err);
    }
}

impl Inner {
    /// Under the writer lock: the next range the zeroer should write, or `None` when the
    /// window is full, the segment is done, or zeroing does not pay now (then the part of
    /// the window it would have covered is skipped, and decided again once the writer is
    /// halfway through it).
    fn next_zero_range(&self, w: &mut Writer) -> Option<(u64, u64)> {
        if self.is_closed() || self.is_poisoned() || w.active.footer().is_some() {
            return None;
        }
        let limit = w.active.capacity - FOOTER_LEN;
        let from = w.zeroed_end.max(prefill::page_up(w.end_offset()));
        let wanted = w.end_offset() + prefill::page_up(self.options.zero_ahead);
        if from >= limit {
            w.zeroed_end = u64::MAX;
            return None;
        }
        if from >= wanted {
            return None;
        }
        let framed = w.append_bytes + w.appends * RECORD_HEADER_LEN;
        let syncs = Metrics::get(&self.metrics.syncs);
        if !w.zero_payoff.update(framed, syncs) {
            w.zeroed_end = wanted;
            return None;
        }
        let piece = prefill::CHUNK.min(prefill::page_up(self.options.zero_ahead));
        Some((from, (from + piece).min(limit)))
    }

    /// After a zero step on segment `base_id`: zeroed up to `to` (`None`: given up on it).
    fn zeroed(&self, base_id: u64, to: Option<u64>) {
        let mut w = lock(&self.writer);
        if w.active.base_id == base_id && w.zeroed_end != u64::MAX {
            w.zeroed_end = to.map_or(u64::MAX, |to| w.zeroed_end.max(to));
        }
    }

    /// Poisons the log for a failure of a background task that no caller sees.
    fn fail_in_background(&self, task: &str, err: &Error) {
        if self.poison.get().is_none() && !self.closed.load(SeqCst) {
            let _ = self.poison_with(Error::Internal(format!("{task}: {err}")));
        }
    }
}

impl ZeroTarget for Inner {
    fn zero_step(&self, own: &mut Option<OwnFile>) -> Result<bool> {
        let (seg, from, to) = {
            let mut w = lock(&self.writer);
            let Some((from, to)) = self.next_zero_range(&mut w) else {
                w.zero_requested = false;
                return Ok(false);
            };
            // Under the writer lock, before any record is given an offset past `from`.
            self.zero_fence.store(from, SeqCst);
            self.in_flight.begin();
            (w.active.clone(), from, to)
        };
        if own.as_ref().map(|o| o.base_id) != Some(seg.base_id) {
            *own = fsio::open_file(&seg.path).ok().map(|file| OwnFile {
                base_id: seg.base_id,
                file,
            });
        }
        let result = own
            .as_ref()
            .map(|o| prefill::write_zeros(&o.file, &seg.path, from, to));
        self.zero_fence.store(u64::MAX, SeqCst);
        self.in_flight.end();
        match (result, own.as_ref()) {
            (Some(written), Some(o)) => {
                written
                    .and_then(|()| fsio::fdatasync(&o.file, &seg.path))
                    .map_err(|e| self.poison_with(e))?;
                Metrics::add(&self.metrics.zeroed_bytes, to - from);
                self.zeroed(seg.base_id, Some(to));
                Ok(true)
            }
            // Without a descriptor of its own (out of descriptors, say) the zeroer gives up
            // on this segment: zeroing only makes syncs cheaper, not worth failing over.
            _ => {
                self.zeroed(seg.base_id, None);
                Ok(true)
            }
        }
    }

    fn background_failed(&self, err: &Error) {
        self.fail_in_background("zero-ahead", err);
    }
}

/// Creates a segment file at `path` and reserves its full size on disk; writes zeros over
/// its first `zero` bytes and syncs them (see `prefill`).
fn create_segment_file(path: &Path, size: u64, zero: u64) -> Result<File> {
    let file = fsio::create_file(path)?;
    fsio::allocate(&file, path, size)?;
    if zero > 0 {
        prefill::write_zeros(&file, path, 0, zero)?;
        fsio::fdatasync(&file, path)?;
    }
    Ok(file)
}

/// The initial `Writer::zeroed_end` of a segment zeroed up to `zeroed`.
fn zeroing_from(options: &Options, zeroed: u64) -> u64 {
    if options.zero_ahead == 0 {
        u64::MAX
    } else {
        zeroed
    }
}

/// Writes the header of a new segment into a prepared file, makes it durable and renames
/// it into place; the caller then syncs the directory. So a segment file with a valid name
/// always has a valid header.
fn prepare_segment(
    dir: &Path,
    file: File,
    tmp: &Path,
    base_id: u64,
    capacity: u64,
) -> Result<Arc<Segment>> {
    let header = SegmentHeader {
        format_version: FORMAT_VERSION,
        flags: 0,
        base_id,
        capacity,
        created_us: now_us(),
    };
    fsio::write_all_at(&file, tmp, &header.encode(), 0)?;
    fsio::fdatasync(&file, tmp)?;
    let path = dir.join(segment::file_name(base_id));
    fsio::rename(tmp, &path)?;
    Ok(Arc::new(Segment::open(path, file, &header)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Options {
        Options {
            segment_size: 8192,
            max_record_size: 1024,
            ..Options::default()
        }
    }

    #[test]
    fn append_read_roll_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small()).unwrap();
        for i in 0..200u32 {
            let id = log.append(&vec![i as u8; (i * 7 % 300) as usize]).unwrap();
            assert_eq!(id, u64::from(i) + 1);
        }
        assert!(log.metrics().segments_sealed >= 3);
        assert_eq!(log.durable_id(), 200);
        assert_eq!(log.read(50).unwrap(), vec![49u8; (49 * 7 % 300) as usize]);
        let mut c = log.cursor(StartAt::Oldest).unwrap();
        let mut n = 0;
        while let Some(r) = c.next().unwrap() {
            n += 1;
            assert_eq!(r.id, n);
        }
        assert_eq!(n, 200);
        log.close().unwrap();
        assert!(matches!(log.append(b"x"), Err(Error::Closed)));
        drop(log);

        let log = Log::open(dir.path(), small()).unwrap();
        assert!(log.recovery().clean_shutdown);
        assert_eq!(log.last_id(), 200);
        assert_eq!(log.append(b"next").unwrap(), 201);
        assert_eq!(log.verify().unwrap().records, 201);
        assert!(matches!(
            Log::open(dir.path(), small()),
            Err(Error::Busy(_))
        ));
    }

    #[test]
    fn torn_tail_is_cut_and_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small()).unwrap();
        for i in 0..5u8 {
            log.append(&[i; 100]).unwrap();
        }
        log.close().unwrap();
        drop(log);
        std::fs::remove_file(dir.path().join(CLEAN_FILE)).unwrap();
        let seg = dir.path().join(segment::file_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = (HEADER_LEN + 4 * framed_len(100)) as usize;
        bytes[last + 40] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();

        let log = Log::open(dir.path(), small()).unwrap();
        let rep = log.recovery().repaired.clone().unwrap();
        assert_eq!(rep.offset, last as u64);
        // Up to the last non-zero byte: the header and payload, not the zero padding.
        assert_eq!(rep.discarded_bytes, RECORD_HEADER_LEN + 100);
        assert_eq!(log.last_id(), 4);
        // The torn record is zeroed on disk, not merely skipped.
        let on_disk = std::fs::read(&seg).unwrap();
        assert!(on_disk[last..].iter().all(|&b| b == 0));
        assert_eq!(log.append(b"new").unwrap(), 5);
        assert_eq!(log.read(5).unwrap(), b"new");
    }
}
