//! The log: the handle users hold, and what opening and closing one does. The write path
//! is in `writer`, what readers share in `view`, scans in `cursor`, zeroing ahead of the
//! writer in `zero`.
//!
//! Ownership: [`Log`] holds the engine (`Inner`). `Inner` owns the writer's state, the
//! layout of the directory, the options and the background tasks; readers hold only the
//! [`view::View`] (segment set, watermarks, counters), never the writer. The runtime that
//! runs background work belongs to a manager, or to the log alone when opened with
//! [`Log::open`].

mod archiving;
mod async_append;
pub mod cursor;
pub(crate) mod entries;
mod open;
pub mod readonly;
pub(crate) mod retention;
pub mod stream;
mod tiering;
pub(crate) mod view;
pub(crate) mod writer;
pub(crate) mod zero;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::completion::Outcome;
use crate::config::{FlushPolicy, Options, Visibility};
use crate::durability::{run_flusher, spawn_supervised, FlusherSignal, WaitEnd};
use crate::error::{Error, Result};
use crate::fsio;
use crate::metrics::{Histograms, Metrics, MetricsSnapshot, Trigger};
use crate::runtime::{self, Runtime, RuntimeOptions};
use crate::segment::format::{CleanMarker, RecordChain};
use crate::segment::layout::Layout;
use crate::segment::verify::{self, Extent, VerifyReport};
use crate::sync::{lock, InFlight, TaskSignal};
use crate::tier::shared::{CacheOptions, Tiers};
use cursor::{Cursor, Record};
use entries::CatalogLink;
use stream::PayloadStream;
use view::View;
use writer::Writer;

pub use crate::segment::recovery::{RecoveryReport, TailRepair};

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
    /// The first record at or after a byte position (see [`Log::id_at_position`]), from
    /// the oldest record's position up to the end of the visible records.
    Position(u64),
}

/// The background tasks of a log and what close releases.
struct Background {
    runtime: Option<Arc<Runtime>>,
    flusher: Option<JoinHandle<()>>,
    zeroer: Option<JoinHandle<()>>,
    retention: Option<JoinHandle<()>>,
    lock_file: Option<File>,
}

/// The engine behind a [`Log`] handle, shared with its background tasks.
pub(crate) struct Inner {
    layout: Layout,
    /// The log's record in the catalogue (see `entries`).
    catalog: CatalogLink,
    options: Options,
    /// What readers share; cursors hold it, not `Inner`.
    view: Arc<View>,
    writer: Mutex<Writer>,
    /// Serialises write-outs and holds the spare buffer they swap with the writer's.
    io: Mutex<Vec<u8>>,
    in_flight: InFlight,
    /// The footer's checksum of the active segment's records written out so far; `None`
    /// when the segment was reopened with records in it (rebuilt from the file when it is
    /// sealed). Write-outs fill in record checksums and extend it, in buffer order.
    chain: Mutex<Option<RecordChain>>,
    /// Start of the range the zeroer is writing now (`u64::MAX`: none); see `zero`.
    zero_fence: AtomicU64,
    /// Serialises `fdatasync` of segment files with the poison check, so that after a
    /// failed sync no other sync on the same descriptor can report success (the kernel
    /// reports a writeback error once per open file).
    sync_lock: Mutex<()>,
    /// Records appended while the last `Sync` group-commit round ran (from its start to
    /// its end), and how long its `fdatasync` took: what the next round's leader lingers
    /// for, and for how long at most.
    round_demand: AtomicU64,
    last_sync_ns: AtomicU64,
    /// Payload bytes appended since open that are durable (see `writer::synced`).
    durable_bytes: AtomicU64,
    /// The durable id when the log was opened (records flushed count from there).
    opened_durable: u64,
    /// The `log` label of its metrics: its name under a manager, else its directory.
    label: String,
    /// Whether the sync driver of asynchronous appends runs (see `async_append`).
    sync_driver: AtomicBool,
    recovery: RecoveryReport,
    signal: Arc<FlusherSignal>,
    /// Wakes the zeroer (see `zero`).
    zeroer: Arc<TaskSignal>,
    /// Wakes the retention task (after a roll; see `retention`).
    retention: Arc<TaskSignal>,
    /// One removal or tier move at a time (background maintenance, `truncate_before`,
    /// `compress_now`, `archive_now`).
    retention_lock: Mutex<()>,
    /// The caches and archive the log shares with its manager.
    tiers: Arc<Tiers>,
    /// Wakes appends waiting for the archive (see `archiving`).
    backlog: archiving::Backlog,
    runtime: tokio::runtime::Handle,
    background: Mutex<Background>,
    /// For background jobs that must not keep the log alive.
    weak_self: Weak<Inner>,
}

/// An open log. `Send + Sync`: share it between threads by reference or in an `Arc`.
/// Dropping it closes it (errors are lost then: call [`Log::close`] to see them).
pub struct Log {
    inner: Arc<Inner>,
}

impl Log {
    /// Opens the log in directory `path`, creating the directory (not its parents) if it
    /// is missing, and recovering the log if it was not closed cleanly. The log runs its
    /// background work on a small runtime of its own (one worker) and keeps its catalogue
    /// in its directory (`.catalog.mdbx`, one libmdbx environment); many logs in one
    /// process should share both through a manager. Fails with `Busy` if another handle
    /// holds the directory.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Log> {
        options.validate()?;
        runtime::ensure_outside()?;
        let runtime = Runtime::new(RuntimeOptions::standalone())?;
        let tiers = Tiers::new(&CacheOptions::default(), None)?;
        Log::open_on(path.as_ref(), options, runtime, tiers, None)
    }

    /// The log directory.
    pub fn path(&self) -> &Path {
        self.inner.layout.dir()
    }

    /// Appends one record and returns its id. Under `FlushPolicy::Sync` it returns once
    /// the record is durable.
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        self.inner.append_records(&[payload], false)
    }

    /// Appends records with one write and returns the id of the first; the others follow
    /// densely. A batch is not atomic: after a crash a prefix of it may survive.
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<u64> {
        self.inner.view.check_open()?;
        if payloads.is_empty() {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        self.inner.append_records(payloads, true)
    }

    /// Writes and syncs every record appended so far.
    pub fn flush(&self) -> Result<()> {
        runtime::ensure_outside()?;
        let inner = &self.inner;
        inner.view.check_writable()?;
        inner.make_durable(inner.view.last_id(), Trigger::Forced)
    }

    /// Waits until record `id` is durable (`Ok(true)`) or the timeout passes (`Ok(false)`);
    /// `None` waits without limit. It does not start a sync: the flush policy, another
    /// writer or `flush` does. Close and poison end the wait (`Closed`, `Poisoned`).
    pub fn sync_until(&self, id: u64, timeout: Option<Duration>) -> Result<bool> {
        let view = &self.inner.view;
        view.check_open()?;
        let last = view.last_id();
        if id > last {
            return Err(Error::InvalidArgument(format!(
                "record {id} has not been appended (last id is {last})"
            )));
        }
        runtime::ensure_outside()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let stop = || view.is_closed() || view.is_poisoned();
        match view.commit.durable.wait_for(id, deadline, stop) {
            Ok(()) => Ok(true),
            Err(WaitEnd::TimedOut) => Ok(false),
            Err(WaitEnd::Interrupted) => view.check_writable().map(|()| false),
        }
    }

    /// Highest id known durable (0: none).
    pub fn durable_id(&self) -> u64 {
        self.inner.view.durable_id()
    }

    /// Highest id appended (0: none).
    pub fn last_id(&self) -> u64 {
        self.inner.view.last_id()
    }

    /// Copies record `id`.
    pub fn read(&self, id: u64) -> Result<Vec<u8>> {
        self.read_with(id, |r| r.data.to_vec())
    }

    /// Calls `f` with record `id`, borrowed from the segment map (no copy). Any id an
    /// append returned is readable at once, whatever the flush policy (unless visibility
    /// is `Durable` and the record is not durable yet).
    pub fn read_with<R>(&self, id: u64, f: impl FnOnce(Record<'_>) -> R) -> Result<R> {
        let hist = &self.inner.view.metrics.hist;
        let started = hist.start();
        self.inner.make_readable(id)?;
        let r = self.inner.view.read_with(id, f)?;
        Histograms::finish(&hist.read_latency, started);
        Ok(r)
    }

    /// Opens a cursor. It holds what readers share, not this handle: it may outlive
    /// `&self`. It sees every record appended before it was opened (read-your-writes).
    pub fn cursor(&self, start: StartAt) -> Result<Cursor> {
        let inner = &self.inner;
        let view = &inner.view;
        view.check_open()?;
        let first = view.first_id();
        let last = view.last_id();
        inner.make_readable(last)?;
        let id = match start {
            StartAt::Position(pos) => view.id_at_position(pos)?,
            StartAt::Oldest => first,
            StartAt::Newest => view.visible_id().max(first),
            StartAt::End => last + 1,
            StartAt::Id(id) if (first..=last + 1).contains(&id) => id,
            StartAt::Id(id) if id >= 1 && id < first => return Err(view.truncated(id)),
            StartAt::Id(id) => return Err(view.not_found(id, last)),
        };
        Ok(Cursor::new(view.clone(), id))
    }

    /// Byte position of record `id`: the payload bytes appended before it (see
    /// [`Record::position`]). Any id [`Log::read`] can read; others as for it.
    pub fn position_of(&self, id: u64) -> Result<u64> {
        self.inner.make_readable(id)?;
        self.inner.view.position_of(id)
    }

    /// The id of the first record at or after byte position `pos`: the record whose payload
    /// holds the byte at `pos`, or else the first record that starts at or after it (so a
    /// record of 0 bytes at `pos` comes before the record that starts there). At the end of
    /// the visible records, the id the next record will get. O(log n): a binary search on
    /// the segments' first positions, then one in the segment's index (built on first use).
    /// Past the end of [`Log::position_range`]: `PositionNotFound`; before its start (records
    /// removed by retention or [`Log::truncate_before`]): `PositionTruncated`.
    pub fn id_at_position(&self, pos: u64) -> Result<u64> {
        self.inner.make_readable(self.inner.view.last_id())?;
        self.inner.view.id_at_position(pos)
    }

    /// The bytes the log holds, by byte position: from the position of the oldest record
    /// held to the end of the visible records (the payload bytes appended so far, once
    /// visible). Cursors and streams start anywhere from `start` to `end`, both included.
    pub fn position_range(&self) -> Result<std::ops::Range<u64>> {
        self.inner.make_readable(self.inner.view.last_id())?;
        let (first, end) = self.inner.view.position_range()?;
        Ok(first..end)
    }

    /// A byte stream (`Read + Seek`) over the payloads of the visible records, concatenated
    /// in id order, starting at byte position `pos` (within [`Log::position_range`]; else as
    /// for [`Log::id_at_position`]). Like a cursor it holds what readers share, not this
    /// handle, and sees every record appended before it was opened.
    pub fn stream(&self, pos: u64) -> Result<PayloadStream> {
        let inner = &self.inner;
        let view = &inner.view;
        view.check_open()?;
        inner.make_readable(view.last_id())?;
        let visible = view.visible_id();
        if view.find_position(pos, visible)?.is_none() {
            return Err(view.position_error(pos, visible));
        }
        Ok(PayloadStream::new(view.clone(), pos))
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics()
    }

    /// The metrics in the Prometheus text exposition format, with a `log` label (its name
    /// under a manager, else its directory); see [`crate::metrics::prometheus`].
    pub fn prometheus(&self) -> String {
        crate::metrics::prometheus::render(&[(&self.inner.label, self.metrics())])
    }

    /// The `log` label of [`Log::prometheus`].
    pub fn metrics_label(&self) -> &str {
        &self.inner.label
    }

    /// Forgets the distributions of [`Log::metrics`] (latencies, sizes per sync), for
    /// reporting by interval; counters keep counting (take differences). The archive
    /// client's distributions belong to the manager and are not reset.
    pub fn reset_histograms(&self) {
        let view = &self.inner.view;
        view.metrics.reset_histograms();
        view.commit.pending.latency().reset();
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

    /// The ids a read may ask for now: the oldest one retained and the newest visible one
    /// (`(first, first - 1)` when there are none). A write-out makes every appended id
    /// visible first, as a read of it would (a failure there shows in the next call).
    pub fn bounds(&self) -> (u64, u64) {
        let view = &self.inner.view;
        // Every id appended so far is readable (read-your-writes), unless visibility is
        // `Durable`: then the durable ones.
        let _ = self.inner.make_readable(view.last_id());
        (view.first_id(), view.visible_id())
    }

    /// Seals the active segment now if it holds a record (its records become durable) and
    /// starts the next one; it then counts for retention and the tiers like any sealed
    /// segment. True if there was one to seal.
    pub fn seal_now(&self) -> Result<bool> {
        runtime::ensure_outside()?;
        self.inner.seal_active()
    }

    /// Compresses every sealed segment still in a plain file now, whatever the thresholds
    /// of [`Options::tiering`] say (never the active segment: see [`Log::seal_now`]).
    /// Returns how many it compressed. Reads go on meanwhile; a reader that pinned a
    /// segment's plain file keeps reading it.
    pub fn compress_now(&self) -> Result<usize> {
        runtime::ensure_outside()?;
        self.inner.compress_sealed(true, true)
    }

    /// Archives every sealed segment not archived yet now (compressing it first where
    /// needed), whatever [`Options::tiering`] says, through the manager's archive; fails
    /// with `InvalidArgument` without one, and with `Remote` if the archive cannot be
    /// reached (nothing is lost: the segment stays local). Returns how many it archived.
    pub fn archive_now(&self) -> Result<usize> {
        runtime::ensure_outside()?;
        self.inner.archive_sealed(true, true)
    }

    /// Deletes objects of this log in the archive that no catalogue entry refers to (left
    /// by a crash mid-upload, or by a removal whose delete failed). Returns how many.
    pub fn sweep_archive(&self) -> Result<usize> {
        runtime::ensure_outside()?;
        self.inner.sweep_archive()
    }

    /// Why the last background move between tiers failed, if one did (it changed nothing
    /// and is tried again; `MetricsSnapshot::tier_failures` counts them).
    pub fn last_tier_error(&self) -> Option<String> {
        self.inner.view.last_tier_error()
    }

    /// Removes every sealed segment whose records all precede `id` (what a database does
    /// after a checkpoint): whole segments only, never the active one, so records from a
    /// little before `id` may stay. Returns the number of segments removed. Readers that
    /// are inside a removed segment keep reading it; new reads below the new first id get
    /// `Truncated`. `id` may be at most one past the last id.
    pub fn truncate_before(&self, id: u64) -> Result<usize> {
        self.inner.view.check_open()?;
        runtime::ensure_outside()?;
        self.inner.truncate_before(id)
    }

    /// Applies the retention bounds of the options now (the background task does it after
    /// each roll). Returns the number of segments removed.
    pub fn enforce_retention(&self) -> Result<usize> {
        self.inner.view.check_open()?;
        runtime::ensure_outside()?;
        self.inner.enforce_retention()
    }

    /// What `open` found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// True once a write or sync failed, or a background task failed; the log then
    /// refuses writes.
    pub fn is_poisoned(&self) -> bool {
        self.inner.view.is_poisoned()
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

impl Log {
    /// A reference that does not keep the log open (what a manager keeps of its logs).
    pub(crate) fn downgrade(&self) -> LogRef {
        LogRef(Arc::downgrade(&self.inner))
    }
}

/// A weak reference to a log: closes it if it is still open, never keeps it alive.
pub(crate) struct LogRef(Weak<Inner>);

impl LogRef {
    /// Another weak reference to the same log.
    pub(crate) fn clone_ref(&self) -> LogRef {
        LogRef(self.0.clone())
    }

    /// The log's metrics label and metrics, if it is open.
    pub(crate) fn metrics(&self) -> Option<(String, MetricsSnapshot)> {
        let inner = self.0.upgrade()?;
        (!inner.view.is_closed()).then(|| (inner.label.clone(), inner.metrics()))
    }

    pub(crate) fn is_open(&self) -> bool {
        self.0
            .upgrade()
            .is_some_and(|inner| !inner.view.is_closed())
    }

    /// As [`Log::close`]; `Ok` if the log is gone or closed already.
    pub(crate) fn close(&self) -> Result<()> {
        self.0.upgrade().map_or(Ok(()), |inner| inner.close())
    }
}

/// Creates the log directory if it is missing, and syncs its parent so the new entry is
/// durable. Only the directory itself: a typo in a parent path is an error, not a new tree.
pub(crate) fn create_log_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            fsio::fsync_dir(parent.unwrap_or(Path::new(".")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

impl Inner {
    fn start_background(self: &Arc<Self>) {
        let mut bg = lock(&self.background);
        let failed = |inner: Weak<Inner>| {
            move |task: &'static str, err: Error| {
                if let Some(inner) = inner.upgrade() {
                    inner.fail_in_background(task, &err);
                }
            }
        };
        if self.options.flush != FlushPolicy::Sync {
            let body = run_flusher(
                self.clone(),
                self.signal.clone(),
                self.options.flush.interval(),
            );
            let task = spawn_supervised(
                &self.runtime,
                "background flusher",
                body,
                failed(self.weak_self.clone()),
            );
            bg.flusher = Some(task);
        }
        if self.options.retention.is_bounded() || self.options.tiering.compresses() {
            let body = retention::run_retention(self.clone(), self.retention.clone());
            let task = spawn_supervised(
                &self.runtime,
                "retention",
                body,
                failed(self.weak_self.clone()),
            );
            bg.retention = Some(task);
        }
        if self.options.zero_ahead > 0 {
            let body = zero::run_zeroer(self.clone(), self.zeroer.clone());
            let task = spawn_supervised(
                &self.runtime,
                "zero-ahead",
                body,
                failed(self.weak_self.clone()),
            );
            bg.zeroer = Some(task);
        }
    }

    /// Makes a record a caller was given readable: under `Written` visibility, writes the
    /// buffer out if `id` was appended but is still in it. One write, only on this path.
    fn make_readable(&self, id: u64) -> Result<()> {
        let view = &self.view;
        if self.options.visibility == Visibility::Written
            && id > view.written.get()
            && id <= view.last_id()
            && !view.is_poisoned()
            && !view.is_closed()
        {
            self.write_out()?;
        }
        Ok(())
    }

    /// Poisons the log for a failure of a background task that no caller sees, and wakes
    /// every waiter with that status. After close there is nothing left to poison.
    pub(crate) fn fail_in_background(&self, task: &str, err: &Error) {
        if !self.view.is_poisoned() && !self.view.is_closed() {
            let _ = self
                .view
                .poison_with(Error::Internal(format!("{task}: {err}")));
        }
    }

    /// A snapshot of the log's metrics (see [`Log::metrics`]).
    fn metrics(&self) -> MetricsSnapshot {
        let inner = self;
        let view = &inner.view;
        let mut m = view.metrics.snapshot();
        {
            let w = lock(&inner.writer);
            (m.appends, m.append_bytes, m.batches) = (w.appends, w.append_bytes, w.batches);
        }
        m.last_id = view.last_id();
        m.durable_id = view.durable_id();
        m.segment_count = view.segments.len() as u64;
        m.first_id = view.first_id();
        m.async_in_flight = view.commit.pending.in_flight();
        m.async_completed = view.commit.pending.completed();
        m.set_summary(
            "completion_latency_ns",
            view.commit.pending.latency().summary(),
        );
        let durable_bytes = inner
            .durable_bytes
            .load(std::sync::atomic::Ordering::SeqCst);
        m.pending_records = m.last_id.saturating_sub(m.durable_id);
        m.pending_bytes = m.append_bytes.saturating_sub(durable_bytes);
        m.records_flushed = m.durable_id.saturating_sub(inner.opened_durable);
        m.bytes_flushed = durable_bytes;
        view.segments.cache_metrics(&mut m);
        inner.archive_metrics(&mut m);
        m.recovery_scanned_records = inner.recovery.scanned_records;
        m.recovery_truncated_bytes = inner
            .recovery
            .repaired
            .as_ref()
            .map_or(0, |r| r.discarded_bytes);
        m.recovery_clean_shutdown = u64::from(inner.recovery.clean_shutdown);
        m
    }

    fn verify_all(&self) -> Result<VerifyReport> {
        let view = &self.view;
        view.check_open()?;
        let written = view.written.get();
        let bases = view.segments.bases();
        let mut report = VerifyReport::default();
        let count = bases.len();
        // One segment at a time: pins are held in the caches' budgets.
        for (i, base) in bases.into_iter().enumerate() {
            let seg = match view.segments.pin_segment(base) {
                Ok(Some(seg)) => seg,
                Ok(None) => continue, // removed by retention meanwhile
                Err(Error::Corruption {
                    path,
                    offset,
                    detail,
                }) => {
                    report.damage.push(verify::Damage {
                        segment: path,
                        offset,
                        len: 0,
                        detail,
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let extent = if i + 1 < count || seg.footer().is_some() {
                Extent::Sealed
            } else {
                Extent::UpTo(written)
            };
            verify::check_segment(seg.path(), seg.bytes(), seg.base_id(), extent, &mut report);
        }
        Metrics::add(
            &view.metrics.corruption_detected,
            report.damage.len() as u64,
        );
        Ok(report)
    }

    fn close(&self) -> Result<()> {
        runtime::ensure_outside()?;
        if self.view.set_closed() {
            return Ok(());
        }
        let mut bg = lock(&self.background);
        self.signal.task.stop();
        self.zeroer.stop();
        self.retention.stop();
        let mut joined = Ok(());
        if let Some(task) = bg.retention.take() {
            joined = joined.and(self.join("retention", task));
        }
        if let Some(task) = bg.flusher.take() {
            joined = joined.and(self.join("background flusher", task));
        }
        // Before the directory lock goes: no zeros may land after another opener's records.
        if let Some(task) = bg.zeroer.take() {
            joined = joined.and(self.join("zero-ahead", task));
        }
        let result = self.finish().and(joined);
        // `finish` made every appended record durable, which completed the asynchronous
        // appends; if it could not, the poison did, or they are reported closed here.
        self.view.commit.pending.fail_all(&Outcome::Closed);
        self.view.commit.pending.detach();
        self.catalog.release();
        self.view.wake_all();
        drop(bg.runtime.take());
        bg.lock_file = None;
        result
    }

    /// Waits for a background task to end. A task that died (its panics are caught and
    /// poison the log, so only cancellation is left) is reported, not ignored.
    fn join(&self, task: &str, handle: JoinHandle<()>) -> Result<()> {
        self.runtime.block_on(handle).map_err(|join| {
            Error::Internal(format!("{task}: {}", crate::durability::join_message(join)))
        })
    }

    /// The last write, sync and the clean-shutdown marker.
    fn finish(&self) -> Result<()> {
        self.view.check_poison()?;
        let mut w = lock(&self.writer);
        // Let a pre-allocation in flight finish so it does not race the next open.
        if let Some(rx) = w.prealloc.take() {
            let _ = rx.recv();
        }
        self.write_out_locked(&mut w)?;
        let seg = w.active.clone();
        let unsynced = (w.next_id - 1).saturating_sub(self.view.durable_id());
        if unsynced > 0 {
            self.view.metrics.count_flush(Trigger::Forced);
        }
        self.sync_segment(&seg)?;
        self.synced(unsynced, w.append_bytes);
        self.view.commit.advance(w.next_id - 1);
        let count = w.next_id - seg.base_id();
        self.catalog
            .close(&seg, w.write_offset, count, w.active_payload, w.next_id - 1)?;
        let marker = CleanMarker {
            active_base_id: seg.base_id(),
            write_offset: w.write_offset,
            next_id: w.next_id,
        };
        let path = self.layout.clean_marker();
        let file = fsio::create_file(&path)?;
        fsio::write_all_at(&file, &path, &marker.encode(), 0)?;
        fsio::fdatasync(&file, &path)?;
        fsio::fsync_dir(self.layout.dir())
    }
}

#[cfg(test)]
mod tests;
