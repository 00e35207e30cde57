//! `aof_manager_t`: many logs under one root directory, opened by name, sharing one
//! runtime; and `aof_manager_options_t`, its options.
//!
//! A manager handle is a token like a log handle (see `registry`).

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::boundary::{self, mut_in, Failure, FfiResult, Out};
use super::log::{aof_log_t, register};
use super::options::aof_options_t;
use super::registry::Registry;
use super::status::{aof_status_t, AOF_ERR_BUFFER_TOO_SMALL, AOF_ERR_NULL_ARG, AOF_OK};
use crate::manager::{Manager, ManagerOptions, MAX_LOG_NAME_LEN};
use crate::tier::archive::RemoteConfig;
use crate::tier::cold::{ArchiveOptions, Backend};
use crate::tier::shared::CacheOptions;
use crate::Options;

/// The longest log name `aof_manager_open_log` accepts, in bytes (without the NUL).
pub const AOF_MANAGER_MAX_NAME_LEN: usize = 200;
const _: () = assert!(AOF_MANAGER_MAX_NAME_LEN == MAX_LOG_NAME_LEN);

/// The most threads of either kind a manager's runtime may be given.
pub const AOF_MANAGER_MAX_THREADS: u32 = 1024;
const _: () = assert!(AOF_MANAGER_MAX_THREADS as usize == crate::runtime::MAX_RUNTIME_THREADS);

/// An open manager: the parent of the logs in one root directory, each in a subdirectory
/// named after the log, all sharing the manager's threads. An opaque token like
/// `aof_log_t`: libaof never dereferences it, and a closed handle is detected
/// (`AOF_ERR_CLOSED`). May be used from many threads at once.
pub struct aof_manager_t {
    _opaque: [u8; 0],
}

/// Options for `aof_manager_open`. Create with `aof_manager_options_new`, free with
/// `aof_manager_options_free`. One thread at a time.
pub struct aof_manager_options_t {
    inner: ManagerOptions,
    /// The archive's limits and retries, whichever archive is set, and whenever.
    tuning: ArchiveTuning,
}

/// Open managers by token.
static MANAGERS: Registry<Manager> =
    Registry::new("manager", "aof_manager_open", 0x4000_0000_0000_0000);

fn lookup(handle: *const aof_manager_t) -> FfiResult<Arc<Manager>> {
    if handle.is_null() {
        return Err(Failure::null_arg("manager"));
    }
    MANAGERS.get(handle.addr())
}

/// A non-NULL C string argument.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives `'a`.
unsafe fn c_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a CStr> {
    if ptr.is_null() {
        return Err(Failure::null_arg(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// A log name from C: UTF-8 (the other rules are the engine's).
fn log_name(name: &CStr) -> FfiResult<&str> {
    name.to_str()
        .map_err(|_| Failure::invalid(format!("log name {name:?} is not valid UTF-8")))
}

/// Creates manager options with the defaults: 2 worker threads, at most 32 blocking
/// threads. On success `*out_options` owns a new handle; free it with
/// `aof_manager_options_free`.
///
/// # Safety
/// `out_options` must be NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_new(
    out_options: *mut *mut aof_manager_options_t,
) -> aof_status_t {
    boundary::guard("aof_manager_options_new", || {
        let out = Out::new(out_options, "out_options")?;
        let handle = Box::new(aof_manager_options_t {
            inner: ManagerOptions::default(),
            tuning: ArchiveTuning::default(),
        });
        // SAFETY: the caller's contract for `out_options`.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(AOF_OK)
    })
}

/// Frees manager options. NULL is a no-op. Managers opened with them are not affected
/// (`aof_manager_open` copies them).
///
/// # Safety
/// `options` must be NULL or a handle from `aof_manager_options_new` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_free(options: *mut aof_manager_options_t) {
    boundary::guard_value("aof_manager_options_free", (), || {
        if !options.is_null() {
            // SAFETY: a live handle from `aof_manager_options_new` (Box::into_raw), freed
            // once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Runs `set` on the options behind `options` with a thread count checked against
/// 1..=`AOF_MANAGER_MAX_THREADS`.
///
/// # Safety
/// `options` must be NULL or a live handle not used by another thread during the call.
unsafe fn set_threads(
    func: &'static str,
    options: *mut aof_manager_options_t,
    what: &str,
    n: u32,
    set: impl FnOnce(&mut ManagerOptions, usize),
) -> aof_status_t {
    boundary::guard(func, || {
        // SAFETY: forwarded to our caller.
        let handle = unsafe { mut_in(options, "options") }?;
        if !(1..=AOF_MANAGER_MAX_THREADS).contains(&n) {
            return Err(Failure::invalid(format!(
                "{what} {n} is outside 1..={AOF_MANAGER_MAX_THREADS}"
            )));
        }
        set(&mut handle.inner, n as usize);
        Ok(AOF_OK)
    })
}

/// Sets the number of async worker threads of the manager's runtime: 1 up to
/// `AOF_MANAGER_MAX_THREADS` (1024). Default 2. They run the logs' background tasks
/// (timers, wake-ups), never blocking file I/O. Out of range: `AOF_ERR_INVALID_ARG`,
/// options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_worker_threads(
    options: *mut aof_manager_options_t,
    threads: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        set_threads(
            "aof_manager_options_set_worker_threads",
            options,
            "worker threads",
            threads,
            |o, n| o.worker_threads = n,
        )
    }
}

/// Sets the most threads the manager's blocking pool may run at once: 1 up to
/// `AOF_MANAGER_MAX_THREADS` (1024). Default 32. The pool runs the background file I/O of
/// every log (write-outs and syncs of the background flush policies, zero-ahead, segment
/// pre-allocation); its threads start on demand and end after 10 s idle. Out of range:
/// `AOF_ERR_INVALID_ARG`, options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_max_blocking_threads(
    options: *mut aof_manager_options_t,
    threads: u32,
) -> aof_status_t {
    // SAFETY: forwarded to our caller.
    unsafe {
        set_threads(
            "aof_manager_options_set_max_blocking_threads",
            options,
            "max blocking threads",
            threads,
            |o, n| o.max_blocking_threads = n,
        )
    }
}

/// The smallest budget `aof_manager_options_set_cache` accepts for either cache: 64 KiB.
pub const AOF_CACHE_MIN_BYTES: u64 = 65_536;
/// The default budget of the hot cache (mapped sealed segment files): 1 GiB.
pub const AOF_CACHE_DEFAULT_HOT_BYTES: u64 = 1_073_741_824;
/// The default budget of the frame cache (decompressed frames): 256 MiB.
pub const AOF_CACHE_DEFAULT_FRAME_BYTES: u64 = 268_435_456;
/// How long a read waits for room in a cache by default: 10 s.
pub const AOF_CACHE_DEFAULT_WAIT_MS: i64 = 10_000;
const _: () = assert!(AOF_CACHE_DEFAULT_HOT_BYTES == crate::tier::shared::DEFAULT_HOT_BYTES);
const _: () = assert!(AOF_CACHE_DEFAULT_FRAME_BYTES == crate::tier::shared::DEFAULT_FRAME_BYTES);
const _: () = assert!(
    AOF_CACHE_DEFAULT_WAIT_MS as u128 == crate::tier::shared::DEFAULT_CACHE_WAIT.as_millis()
);

/// A wait in milliseconds from C: negative means do not wait (`None`).
fn wait_from_ms(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// Sets the two caches every log of the manager shares, and whether a read waits for room
/// in them.
///
/// - `hot_bytes`: the budget of the *hot cache*, the maps of sealed segment files (plain or
///   compressed) that readers use. It counts the full size of each mapped file plus 8
///   bytes per record of it (its offset index, built on first touch and dropped with the
///   map). The active segment of each open log is mapped outside the budget (the writer
///   always needs it). Default `AOF_CACHE_DEFAULT_HOT_BYTES` (1 GiB).
/// - `frame_bytes`: the budget of the *frame cache*, the decompressed frames of compressed
///   and archived segments; it counts each frame plus 8 bytes per record in it. Default
///   `AOF_CACHE_DEFAULT_FRAME_BYTES` (256 MiB).
/// - `wait_ms`: how long a read waits for room when every entry of a cache is pinned by a
///   reader (a cursor pins its current segment or frame); negative (or 0): it fails at
///   once with `AOF_ERR_WOULD_BLOCK`, as it does when the wait ends. Default
///   `AOF_CACHE_DEFAULT_WAIT_MS` (10 s).
///
/// Entries not pinned are evicted least recently used first; a file evicted and needed
/// again is opened again (metric `files_opened`). A budget below `AOF_CACHE_MIN_BYTES`
/// (64 KiB): `AOF_ERR_INVALID_ARG`, options unchanged. Statuses: `AOF_ERR_NULL_ARG`,
/// `AOF_ERR_INVALID_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_cache(
    options: *mut aof_manager_options_t,
    hot_bytes: u64,
    frame_bytes: u64,
    wait_ms: i64,
) -> aof_status_t {
    boundary::guard("aof_manager_options_set_cache", || {
        // SAFETY: the caller's contract for `options`.
        let handle = unsafe { mut_in(options, "options") }?;
        let cache = CacheOptions {
            hot_bytes,
            frame_bytes,
            wait: wait_from_ms(wait_ms),
        };
        cache.validate()?;
        handle.inner.cache = cache;
        Ok(AOF_OK)
    })
}

/// The settings of the archive that do not depend on its backend, kept apart so that the
/// archive setters may be called in any order.
#[derive(Clone, Debug)]
struct ArchiveTuning {
    remote: RemoteConfig,
    max_pending_segments: Option<u64>,
    max_pending_bytes: Option<u64>,
    backpressure_wait: Option<Duration>,
}

impl Default for ArchiveTuning {
    fn default() -> Self {
        let d = ArchiveOptions::new(Backend::Filesystem(PathBuf::new()));
        ArchiveTuning {
            remote: d.remote,
            max_pending_segments: d.max_pending_segments,
            max_pending_bytes: d.max_pending_bytes,
            backpressure_wait: d.backpressure_wait,
        }
    }
}

impl ArchiveTuning {
    fn apply(&self, archive: &mut ArchiveOptions) {
        archive.remote = self.remote.clone();
        archive.max_pending_segments = self.max_pending_segments;
        archive.max_pending_bytes = self.max_pending_bytes;
        archive.backpressure_wait = self.backpressure_wait;
    }
}

/// A UTF-8 string argument; `name` for the messages.
fn utf8<'a>(s: &'a CStr, name: &str) -> FfiResult<&'a str> {
    s.to_str()
        .map_err(|_| Failure::invalid(format!("`{name}` is not valid UTF-8")))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives `'a`.
unsafe fn opt_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    utf8(unsafe { CStr::from_ptr(ptr) }, name).map(Some)
}

/// Gives the options an archive of `backend` with `prefix` and the tuning set so far, once
/// the whole is valid.
fn set_archive(
    handle: &mut aof_manager_options_t,
    backend: Backend,
    prefix: Option<&str>,
) -> FfiResult<()> {
    let mut archive = ArchiveOptions::new(backend);
    archive.prefix = prefix.unwrap_or_default().to_owned();
    handle.tuning.apply(&mut archive);
    archive.validate()?;
    handle.inner.archive = Some(archive);
    Ok(())
}

/// Gives the manager an archive in a directory (a local disk, an NFS mount): the cold
/// tier. Sealed segments of its logs are uploaded there, as files, when a log says so
/// (`aof_options_set_archive_after`, `aof_archive_now`), and read back frame by frame.
/// `root` is a path (any bytes, like the root of `aof_manager_open`); `aof_manager_open`
/// creates it if missing (and fails with `AOF_ERR_REMOTE` if it cannot). `prefix` (UTF-8;
/// NULL or `""` for none) starts every object key; it usually ends with `/`. The object
/// of a segment is `<prefix><log uid, 16 hex digits>/<base id, 20 digits>.seg.zst`, a file
/// at that path under `root`. Replaces an archive set before; the limits and retries set
/// with `aof_manager_options_set_archive_limits` and `_retries` apply whenever they were
/// set. The strings are copied: the caller keeps ownership. See `aof_manager_options_set_archive_s3`
/// for what an archive does. Statuses: `AOF_ERR_NULL_ARG` (`options`, `root`),
/// `AOF_ERR_INVALID_ARG` (empty `root`; `prefix` not UTF-8, or making bad keys: a leading
/// `/`, an empty, `.` or `..` component), options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle; `root` NULL or a NUL-terminated string;
/// `prefix` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_archive_fs(
    options: *mut aof_manager_options_t,
    root: *const c_char,
    prefix: *const c_char,
) -> aof_status_t {
    boundary::guard("aof_manager_options_set_archive_fs", || {
        if options.is_null() {
            return Err(Failure::null_arg("options"));
        }
        // SAFETY: the caller's contract for `root`.
        let root = unsafe { c_str(root, "root") }?;
        // SAFETY: the caller's contract for `options`.
        let handle = unsafe { mut_in(options, "options") }?;
        if root.is_empty() {
            return Err(Failure::invalid("`root` is empty"));
        }
        // SAFETY: the caller's contract for `prefix`.
        let prefix = unsafe { opt_str(prefix, "prefix") }?;
        let root = PathBuf::from(OsStr::from_bytes(root.to_bytes()));
        set_archive(handle, Backend::Filesystem(root), prefix).map(|()| AOF_OK)
    })
}

/// Gives the manager an archive in an S3-compatible bucket: the cold tier.
///
/// `endpoint`: the URL of an S3-compatible store (`"http://127.0.0.1:9000"`), or NULL for
/// AWS itself. `region` and `bucket`: required, non-empty. `prefix` (NULL or `""` for
/// none) starts every object key; it usually ends with `/`. `path_style`: 1 for
/// path-style addressing (`endpoint/bucket/key`, which most self-hosted stores need), 0
/// for virtual-hosted (AWS). `access_key` and `secret_key`: static credentials, or both
/// NULL for the default credential chain (environment, profile, instance metadata). Every
/// string must be UTF-8; they are copied (the caller keeps ownership). Multipart uploads
/// above 16 MiB in 8 MiB parts; timeouts 5 s to connect, 30 s between bytes, 300 s per
/// attempt.
///
/// What an archive does. One client per manager, shared by its logs. A sealed segment is
/// archived when its log says so (`aof_options_set_archive_after`, `aof_archive_now`):
/// compressed first if it is not (the zstd seekable format of the warm tier, see
/// `aof_options_set_tiering`), uploaded as `<prefix><log uid, 16 hex digits>/<base id, 20
/// digits>.seg.zst` (a conditional create: a retried upload never writes a second
/// object), verified (the object's size and its seek table must be the local file's), and
/// recorded in the catalogue; only then is the local file unlinked, never before its
/// archived copy is verified. An object is a standard zstd seekable file: stock `zstd -d`
/// restores the exact segment file. Reads of an archived segment fetch the one frame they
/// need with a ranged read into the frame cache (`aof_manager_options_set_cache`; a
/// sequential reader fetches a few frames ahead); reads by id, cursors and streams see no
/// difference but the latency. When the archive cannot be reached, reads of archived
/// segments return `AOF_ERR_REMOTE` (after the retries of
/// `aof_manager_options_set_archive_retries`), and appends go on until the limits of
/// `aof_manager_options_set_archive_limits` are reached. Retention and
/// `aof_truncate_before` delete the objects of the segments they remove.
///
/// Replaces an archive set before; the limits and retries apply whenever they were set.
/// No request is made here, nor by `aof_manager_open` (which sets up the client, reading
/// the environment and profile for the default credential chain): the first upload or
/// read reports an unreachable store. Statuses: `AOF_ERR_NULL_ARG` (`options`, `region`,
/// `bucket`, or one of `access_key` and `secret_key` without the other),
/// `AOF_ERR_INVALID_ARG` (a string not UTF-8; an empty region, bucket or key; an endpoint
/// that is not an `http://` or `https://` URL; `path_style` not 0 or 1; a prefix making
/// bad keys; a library built without the `s3` feature), options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle; each string NULL or NUL-terminated.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn aof_manager_options_set_archive_s3(
    options: *mut aof_manager_options_t,
    endpoint: *const c_char,
    region: *const c_char,
    bucket: *const c_char,
    prefix: *const c_char,
    path_style: i32,
    access_key: *const c_char,
    secret_key: *const c_char,
) -> aof_status_t {
    boundary::guard("aof_manager_options_set_archive_s3", || {
        if options.is_null() {
            return Err(Failure::null_arg("options"));
        }
        // SAFETY: the caller's contract for the strings.
        let (region, bucket) = unsafe { (c_str(region, "region")?, c_str(bucket, "bucket")?) };
        match (access_key.is_null(), secret_key.is_null()) {
            (false, true) => {
                return Err(Failure::new(
                    AOF_ERR_NULL_ARG,
                    "`secret_key` is NULL while `access_key` is set (both or neither)",
                ));
            }
            (true, false) => {
                return Err(Failure::new(
                    AOF_ERR_NULL_ARG,
                    "`access_key` is NULL while `secret_key` is set (both or neither)",
                ));
            }
            _ => {}
        }
        // SAFETY: the caller's contract for `options`.
        let handle = unsafe { mut_in(options, "options") }?;
        // SAFETY: the caller's contract for the optional strings.
        let (endpoint, prefix, access_key, secret_key) = unsafe {
            (
                opt_str(endpoint, "endpoint")?,
                opt_str(prefix, "prefix")?,
                opt_str(access_key, "access_key")?,
                opt_str(secret_key, "secret_key")?,
            )
        };
        let (region, bucket) = (utf8(region, "region")?, utf8(bucket, "bucket")?);
        let path_style = match path_style {
            0 => false,
            1 => true,
            other => {
                return Err(Failure::invalid(format!(
                    "path_style {other} is neither 0 nor 1"
                )))
            }
        };
        s3_backend(
            endpoint,
            region,
            bucket,
            path_style,
            access_key.zip(secret_key),
        )
        .and_then(|backend| set_archive(handle, backend, prefix))
        .map(|()| AOF_OK)
    })
}

#[cfg(feature = "s3")]
fn s3_backend(
    endpoint: Option<&str>,
    region: &str,
    bucket: &str,
    path_style: bool,
    credentials: Option<(&str, &str)>,
) -> FfiResult<Backend> {
    let mut config = crate::tier::archive::S3Config::new(bucket, region);
    config.endpoint = endpoint.map(str::to_owned);
    config.path_style = path_style;
    config.credentials = credentials.map(|(a, s)| (a.to_owned(), s.to_owned()));
    Ok(Backend::S3(config))
}

#[cfg(not(feature = "s3"))]
fn s3_backend(
    _endpoint: Option<&str>,
    _region: &str,
    _bucket: &str,
    _path_style: bool,
    _credentials: Option<(&str, &str)>,
) -> FfiResult<Backend> {
    Err(Failure::invalid(
        "this libaof was built without the `s3` feature: no S3 archive (use \
         aof_manager_options_set_archive_fs, or rebuild with the feature)",
    ))
}

/// Sets the backpressure of the archive: a log that archives
/// (`aof_options_set_archive_after`) may hold at most `max_pending_segments` sealed
/// segments not archived yet, and at most `max_pending_bytes` bytes of their files (plain
/// or compressed); 0 leaves a bound unset. Default: no bound. Past a bound, an append that
/// needs a new segment waits up to `backpressure_wait_ms` for the archive to catch up, then
/// fails with `AOF_ERR_WOULD_BLOCK` (nothing appended; metric `backpressure_waits`); a
/// negative wait fails at once. Default wait 30 s. So an archive that is down fills the
/// local disk only up to the bounds. May be called before or after the archive is set,
/// and applies to any archive set later. Statuses: `AOF_ERR_NULL_ARG`.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_archive_limits(
    options: *mut aof_manager_options_t,
    max_pending_segments: u64,
    max_pending_bytes: u64,
    backpressure_wait_ms: i64,
) -> aof_status_t {
    boundary::guard("aof_manager_options_set_archive_limits", || {
        // SAFETY: the caller's contract for `options`.
        let handle = unsafe { mut_in(options, "options") }?;
        let nonzero = |n: u64| (n > 0).then_some(n);
        let mut tuning = handle.tuning.clone();
        tuning.max_pending_segments = nonzero(max_pending_segments);
        tuning.max_pending_bytes = nonzero(max_pending_bytes);
        tuning.backpressure_wait = wait_from_ms(backpressure_wait_ms);
        handle.set_tuning(tuning)
    })
}

/// Sets how every archive request is retried, and the archive's circuit breaker.
/// `max_attempts` (at least 1; 1 = no retry) attempts per request; a retry waits
/// `backoff_base_ms`, doubled for each further one up to `backoff_max_ms` (a wait drawn
/// between half of it and all of it), and only a transient failure (unreachable, timeout,
/// 5xx, throttling) is retried. After `breaker_threshold` (at least 1) transient failures
/// in a row the breaker opens: requests fail at once with `AOF_ERR_REMOTE` (metric
/// `archive_breaker`) until `breaker_probe_ms` (at least 1) have passed, when one request
/// probes the store. Defaults: 4 attempts, 100 ms, 5000 ms, 8, 30000 ms. May be called
/// before or after the archive is set. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG`
/// (0 attempts, a threshold or probe interval of 0, `backoff_base_ms` above
/// `backoff_max_ms`), options unchanged.
///
/// # Safety
/// `options` must be NULL or a live handle from `aof_manager_options_new`.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_options_set_archive_retries(
    options: *mut aof_manager_options_t,
    max_attempts: u32,
    backoff_base_ms: u32,
    backoff_max_ms: u32,
    breaker_threshold: u32,
    breaker_probe_ms: u32,
) -> aof_status_t {
    boundary::guard("aof_manager_options_set_archive_retries", || {
        // SAFETY: the caller's contract for `options`.
        let handle = unsafe { mut_in(options, "options") }?;
        let ms = |n: u32| Duration::from_millis(u64::from(n));
        let remote = RemoteConfig {
            max_attempts,
            backoff_base: ms(backoff_base_ms),
            backoff_max: ms(backoff_max_ms),
            breaker_threshold,
            breaker_probe_interval: ms(breaker_probe_ms),
        };
        remote
            .validate()
            .map_err(|why| Failure::invalid(format!("archive retries: {why}")))?;
        let mut tuning = handle.tuning.clone();
        tuning.remote = remote;
        handle.set_tuning(tuning)
    })
}

impl aof_manager_options_t {
    /// Stores `tuning` and applies it to the archive if one is set (checked first: on
    /// failure nothing changes).
    fn set_tuning(&mut self, tuning: ArchiveTuning) -> FfiResult {
        if let Some(archive) = &self.inner.archive {
            let mut archive = archive.clone();
            tuning.apply(&mut archive);
            archive.validate()?;
            self.inner.archive = Some(archive);
        }
        self.tuning = tuning;
        Ok(AOF_OK)
    }
}

/// Opens the manager of directory `root`, creating the directory (not its parents) if it
/// is missing, and finishes any drop a crash interrupted (see `aof_manager_drop_log`).
/// `options` may be NULL for the defaults; they are copied. It starts the manager's
/// runtime: `worker_threads` threads at once, blocking threads on demand up to
/// `max_blocking_threads`; that is every thread the manager and all its logs use,
/// whatever the number of logs. On success `*out_manager` receives a new handle, to be
/// closed with `aof_manager_close`; on failure it is left untouched. Statuses:
/// `AOF_ERR_NULL_ARG` (`root` or `out_manager`), `AOF_ERR_INVALID_ARG` (empty `root`),
/// `AOF_ERR_BUSY` (another manager, in this process or another, has `root` open),
/// `AOF_ERR_IO` (also: `root` is a file or its parent is missing), `AOF_ERR_NO_SPACE`,
/// `AOF_ERR_MISUSE`, `AOF_ERR_REMOTE` (the directory of a filesystem archive cannot be
/// created, or the S3 client cannot be set up).
///
/// # Safety
/// `root` must be NULL or a NUL-terminated string; `options` NULL or a live options
/// handle; `out_manager` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_open(
    root: *const c_char,
    options: *const aof_manager_options_t,
    out_manager: *mut *mut aof_manager_t,
) -> aof_status_t {
    boundary::guard("aof_manager_open", || {
        // SAFETY: the caller's contract for `root`.
        let root = unsafe { c_str(root, "root") }?;
        let out = Out::new(out_manager, "out_manager")?;
        if root.is_empty() {
            return Err(Failure::invalid("`root` is empty"));
        }
        // SAFETY: NULL or a live options handle per the caller's contract.
        let options =
            unsafe { options.as_ref() }.map_or_else(ManagerOptions::default, |o| o.inner.clone());
        let manager = Manager::open(Path::new(OsStr::from_bytes(root.to_bytes())), options)?;
        let handle = std::ptr::without_provenance_mut(MANAGERS.insert(manager));
        // SAFETY: the caller's contract for `out_manager`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Opens (creating if needed) the log `name` in the subdirectory `<root>/<name>`, on the
/// manager's runtime; recovery is as for `aof_open`. `options` may be NULL for the
/// defaults; they are copied. A name is 1 to `AOF_MANAGER_MAX_NAME_LEN` (200) bytes of
/// UTF-8 without `/`, control characters or a leading `.` (so neither `.` nor `..`; names
/// starting with a dot are the manager's own). On success `*out_log` receives an ordinary
/// log handle: use it with every `aof_*` log call, from any thread, and release it with
/// `aof_close` (before or after `aof_manager_close`). On failure `*out_log` is untouched.
///
/// An open log holds one file descriptor for its `LOCK` and one per segment file, plus one
/// once zero-ahead has run on its active segment and one while the next segment is being
/// pre-allocated: an idle log of one or two segments holds 2 or 3. Mind `RLIMIT_NOFILE`
/// when opening many logs. A log has no thread of its own. An idle log costs about 5 KiB
/// of private memory plus 12 KiB per 64 MiB of segment capacity (offset-index tables:
/// ~17 KiB for a one-segment log with the default options), and keeps about 64 KiB of
/// page cache mapped (shared and reclaimable, not private); measured by the bench's
/// `manager` cell, see docs/C_API.md.
///
/// Statuses: `AOF_ERR_NULL_ARG` (`manager`, `name` or `out_log`), `AOF_ERR_CLOSED`,
/// `AOF_ERR_INVALID_ARG` (a bad name, inconsistent options, not a manager handle),
/// `AOF_ERR_BUSY` (the log is open already, in this process or another, or another
/// thread is opening or dropping it), `AOF_ERR_IO` (also: out of file descriptors),
/// `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `options` NULL or a live options
/// handle; `out_log` NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_open_log(
    manager: *mut aof_manager_t,
    name: *const c_char,
    options: *const aof_options_t,
    out_log: *mut *mut aof_log_t,
) -> aof_status_t {
    boundary::guard("aof_manager_open_log", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { c_str(name, "name") }?;
        let out = Out::new(out_log, "out_log")?;
        let manager = lookup(manager)?;
        let name = log_name(name)?;
        // SAFETY: NULL or a live options handle per the caller's contract.
        let options: Options = match unsafe { options.as_ref() } {
            Some(o) => o.inner.clone(),
            None => Options::default(),
        };
        let log = manager.open_log(name, options)?;
        let handle = register(log);
        // SAFETY: the caller's contract for `out_log`.
        unsafe { out.write(handle) };
        Ok(AOF_OK)
    })
}

/// Lists the logs under the manager's root, open or not, sorted bytewise, into `buf`:
/// each name followed by a NUL, then one more NUL (`"a\0b\0\0"`; no logs: `"\0"`).
/// `*out_len` receives the bytes written, final NUL included. If they do not fit in
/// `buf_len` bytes, returns `AOF_ERR_BUFFER_TOO_SMALL` with the size needed in `*out_len`
/// (the one out-param written on failure; `buf` is untouched): call with `buf_len = 0`
/// (and `buf` NULL) to size a buffer, and again if logs were created meanwhile. `buf` may
/// be NULL only if `buf_len` is 0. Statuses: `AOF_ERR_NULL_ARG` (`manager`, `out_len`, or
/// `buf` with `buf_len > 0`), `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a manager
/// handle), `AOF_ERR_BUFFER_TOO_SMALL`, `AOF_ERR_IO`.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_list(
    manager: *const aof_manager_t,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> aof_status_t {
    boundary::guard("aof_manager_list", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null_arg("buf"));
        }
        let out_len = Out::new(out_len, "out_len")?;
        let names = lookup(manager)?.list_logs()?;
        let mut bytes = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum::<usize>() + 1);
        for name in &names {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
        }
        bytes.push(0);
        let needed = bytes.len();
        if needed > buf_len {
            // SAFETY: the caller's contract for `out_len`.
            unsafe { out_len.write(needed) };
            return Err(Failure::new(
                AOF_ERR_BUFFER_TOO_SMALL,
                format!(
                    "the list of {} logs needs {needed} bytes; the buffer holds {buf_len}",
                    names.len()
                ),
            ));
        }
        // SAFETY: `buf` is non-NULL (checked above: `needed >= 1` implies `buf_len > 0`)
        // with `buf_len >= needed` writable bytes per the caller's contract; `bytes` is
        // libaof's own allocation, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), needed);
            out_len.write(needed);
        }
        Ok(AOF_OK)
    })
}

/// Drops the log `name` for good: its directory and every record in it. The log must be
/// closed (`aof_close`). Durable and crash-safe: when this returns `AOF_OK` the log is
/// gone, and a crash during the call leaves either the whole log under its name or
/// nothing under its name (the directory is first renamed to a reserved name and only
/// then emptied; the next `aof_manager_open` removes what a crash left; docs/FORMAT.md
/// gives the steps). If a step after the rename fails, the log is already gone under its
/// name and the error is returned; the rest is removed by the next drop of that name or
/// the next `aof_manager_open`. Statuses: `AOF_ERR_NULL_ARG` (`manager`, `name`),
/// `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (a bad name, not a manager handle),
/// `AOF_ERR_NO_SUCH_LOG`, `AOF_ERR_BUSY` (the log is open, in this process or another, or
/// another thread is opening or dropping it), `AOF_ERR_IO`, `AOF_ERR_MISUSE`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aof_manager_drop_log(
    manager: *mut aof_manager_t,
    name: *const c_char,
) -> aof_status_t {
    boundary::guard("aof_manager_drop_log", || {
        if manager.is_null() {
            return Err(Failure::null_arg("manager"));
        }
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { c_str(name, "name") }?;
        let manager = lookup(manager)?;
        manager.drop_log(log_name(name)?)?;
        Ok(AOF_OK)
    })
}

/// Closes the manager. Every log it opened that is still open is closed first, as by
/// `aof_close` (written, synced, marked clean): their handles stay valid, their calls
/// return `AOF_ERR_CLOSED` from then on, and each must still be released with
/// `aof_close` (which then returns `AOF_OK`). Opens and drops running on other threads
/// finish first. Then the root is released and the manager's threads stop. NULL is a
/// no-op returning `AOF_OK`. The handle is invalid afterwards whatever the status, which
/// is the first error of a log's close (`AOF_ERR_IO`, `AOF_ERR_NO_SPACE`,
/// `AOF_ERR_POISONED`; every log is closed anyway). Later calls with the handle, a second
/// `aof_manager_close` included, return `AOF_ERR_CLOSED`; calls running concurrently on
/// other threads finish or fail with `AOF_ERR_CLOSED`. Not a handle:
/// `AOF_ERR_INVALID_ARG`. From a libaof thread: `AOF_ERR_MISUSE` (nothing closed).
#[no_mangle]
pub extern "C" fn aof_manager_close(manager: *mut aof_manager_t) -> aof_status_t {
    boundary::guard("aof_manager_close", || {
        if manager.is_null() {
            return Ok(AOF_OK);
        }
        crate::runtime::ensure_outside()?;
        MANAGERS.remove(manager.addr())?.close()?;
        Ok(AOF_OK)
    })
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::ffi::status::{AOF_ERR_CLOSED, AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG};

    #[test]
    fn options_are_range_checked() {
        let mut o = ptr::null_mut();
        // SAFETY: every call gets the live handle created here, freed at the end.
        unsafe {
            assert_eq!(aof_manager_options_new(&mut o), AOF_OK);
            assert_eq!((*o).inner, ManagerOptions::default());
            assert_eq!(
                aof_manager_options_set_worker_threads(o, 0),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_max_blocking_threads(o, 1025),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner, ManagerOptions::default());
            assert_eq!(aof_manager_options_set_worker_threads(o, 1024), AOF_OK);
            assert_eq!(aof_manager_options_set_max_blocking_threads(o, 1), AOF_OK);
            assert_eq!(
                (*o).inner,
                ManagerOptions {
                    worker_threads: 1024,
                    max_blocking_threads: 1,
                    ..ManagerOptions::default()
                }
            );
            assert_eq!(
                aof_manager_options_set_worker_threads(ptr::null_mut(), 1),
                AOF_ERR_NULL_ARG
            );
            aof_manager_options_free(o);
            aof_manager_options_free(ptr::null_mut());
        }
    }

    #[test]
    fn cache_and_archive_setters() {
        let mut o = ptr::null_mut();
        // SAFETY: every call gets the live handle created here (or NULL), freed at the end;
        // the strings are C literals.
        unsafe {
            assert_eq!(aof_manager_options_new(&mut o), AOF_OK);
            let defaults = CacheOptions::default();
            assert_eq!(
                aof_manager_options_set_cache(o, AOF_CACHE_MIN_BYTES - 1, 1 << 20, 0),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!((*o).inner.cache, defaults);
            assert_eq!(
                aof_manager_options_set_cache(o, AOF_CACHE_MIN_BYTES, 1 << 20, -1),
                AOF_OK
            );
            assert_eq!((*o).inner.cache.wait, None);
            assert_eq!(
                aof_manager_options_set_cache(o, 1 << 20, 1 << 20, 1500),
                AOF_OK
            );
            assert_eq!((*o).inner.cache.wait, Some(Duration::from_millis(1500)));

            // Limits and retries before the archive apply to it, and after it too.
            assert_eq!(aof_manager_options_set_archive_limits(o, 4, 0, -1), AOF_OK);
            assert_eq!(
                aof_manager_options_set_archive_retries(o, 0, 1, 2, 3, 4),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_retries(o, 1, 3, 2, 3, 4),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_retries(o, 1, 1, 2, 0, 4),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_retries(o, 1, 1, 2, 3, 0),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_retries(o, 2, 10, 50, 3, 200),
                AOF_OK
            );
            assert!((*o).inner.archive.is_none());
            assert_eq!(
                aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"/x".as_ptr()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"a//".as_ptr()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_fs(o, c"".as_ptr(), ptr::null()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_fs(o, ptr::null(), ptr::null()),
                AOF_ERR_NULL_ARG
            );
            assert!((*o).inner.archive.is_none());
            assert_eq!(
                aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"p/".as_ptr()),
                AOF_OK
            );
            let a = (*o).inner.archive.clone().unwrap();
            assert_eq!(a.backend, Backend::Filesystem(PathBuf::from("/tmp/a")));
            assert_eq!(a.prefix, "p/");
            assert_eq!(a.max_pending_segments, Some(4));
            assert_eq!(a.max_pending_bytes, None);
            assert_eq!(a.backpressure_wait, None);
            assert_eq!(a.remote.max_attempts, 2);
            assert_eq!(a.remote.breaker_probe_interval, Duration::from_millis(200));
            assert_eq!(
                aof_manager_options_set_archive_limits(o, 0, 1 << 30, 250),
                AOF_OK
            );
            let a = (*o).inner.archive.clone().unwrap();
            assert_eq!(a.max_pending_segments, None);
            assert_eq!(a.max_pending_bytes, Some(1 << 30));
            assert_eq!(a.backpressure_wait, Some(Duration::from_millis(250)));
            assert_eq!(a.remote.max_attempts, 2);

            // S3: NULLs, pairs of keys, values.
            let s3 = |endpoint: *const c_char, path_style, ak: *const c_char, sk| {
                aof_manager_options_set_archive_s3(
                    o,
                    endpoint,
                    c"us-east-1".as_ptr(),
                    c"bucket".as_ptr(),
                    c"cold/".as_ptr(),
                    path_style,
                    ak,
                    sk,
                )
            };
            assert_eq!(
                s3(ptr::null(), 0, c"ak".as_ptr(), ptr::null()),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                s3(ptr::null(), 0, ptr::null(), c"sk".as_ptr()),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_s3(
                    o,
                    ptr::null(),
                    ptr::null(),
                    c"b".as_ptr(),
                    ptr::null(),
                    0,
                    ptr::null(),
                    ptr::null()
                ),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                s3(ptr::null(), 2, ptr::null(), ptr::null()),
                AOF_ERR_INVALID_ARG
            );
            let endpoint = c"http://127.0.0.1:9000".as_ptr();
            #[cfg(feature = "s3")]
            {
                assert_eq!(
                    s3(c"ftp://x".as_ptr(), 1, ptr::null(), ptr::null()),
                    AOF_ERR_INVALID_ARG
                );
                assert_eq!(
                    s3(endpoint, 1, c"".as_ptr(), c"sk".as_ptr()),
                    AOF_ERR_INVALID_ARG
                );
                assert_eq!(
                    s3(endpoint, 1, c"\xff".as_ptr(), c"sk".as_ptr()),
                    AOF_ERR_INVALID_ARG
                );
                assert_eq!(s3(endpoint, 1, c"ak".as_ptr(), c"sk".as_ptr()), AOF_OK);
                let a = (*o).inner.archive.clone().unwrap();
                let Backend::S3(config) = &a.backend else {
                    panic!("{a:?}")
                };
                assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
                assert!(config.path_style);
                assert_eq!(config.credentials, Some(("ak".to_owned(), "sk".to_owned())));
                assert_eq!(a.prefix, "cold/");
                assert_eq!(a.max_pending_bytes, Some(1 << 30));
            }
            #[cfg(not(feature = "s3"))]
            {
                assert_eq!(
                    s3(endpoint, 1, ptr::null(), ptr::null()),
                    AOF_ERR_INVALID_ARG
                );
                assert!(crate::ffi::error_msg::last().contains("without the `s3` feature"));
            }
            assert_eq!(
                aof_manager_options_set_cache(ptr::null_mut(), 1 << 20, 1 << 20, 0),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_limits(ptr::null_mut(), 0, 0, 0),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                aof_manager_options_set_archive_retries(ptr::null_mut(), 1, 0, 0, 1, 1),
                AOF_ERR_NULL_ARG
            );
            aof_manager_options_free(o);
        }
    }

    #[test]
    fn handles_nulls_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let root = std::ffi::CString::new(root.as_os_str().as_bytes()).unwrap();
        let mut m = ptr::null_mut();
        let mut log = ptr::null_mut();
        // SAFETY: valid C strings and writable out-params throughout.
        unsafe {
            assert_eq!(aof_manager_open(root.as_ptr(), ptr::null(), &mut m), AOF_OK);
            assert_eq!(
                aof_manager_open_log(m, c"a/b".as_ptr(), ptr::null(), &mut log),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                aof_manager_open_log(m, c"\xff".as_ptr(), ptr::null(), &mut log),
                AOF_ERR_INVALID_ARG
            );
            // NULLs before the handle: a bogus handle with a NULL name is a NULL_ARG.
            let bogus = ptr::without_provenance_mut::<aof_manager_t>(usize::MAX - 7);
            assert_eq!(
                aof_manager_open_log(bogus, ptr::null(), ptr::null(), &mut log),
                AOF_ERR_NULL_ARG
            );
            assert_eq!(
                aof_manager_open_log(bogus, c"x".as_ptr(), ptr::null(), &mut log),
                AOF_ERR_INVALID_ARG
            );
            assert!(log.is_null());
            // A log handle is not a manager handle, and the other way round.
            assert_eq!(
                aof_manager_open_log(m, c"x".as_ptr(), ptr::null(), &mut log),
                AOF_OK
            );
            assert_eq!(
                aof_manager_drop_log(log.cast(), c"x".as_ptr()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(crate::ffi::log::aof_flush(m.cast()), AOF_ERR_INVALID_ARG);
            assert_eq!(aof_manager_close(m), AOF_OK);
            assert_eq!(crate::ffi::log::aof_flush(log), AOF_ERR_CLOSED);
            assert_eq!(crate::ffi::log::aof_close(log), AOF_OK);
            assert_eq!(aof_manager_close(m), AOF_ERR_CLOSED);
            assert_eq!(aof_manager_close(ptr::null_mut()), AOF_OK);
        }
    }
}
