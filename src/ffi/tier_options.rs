//! The tier settings of a manager's options (`aof_manager_options_t`): the caches' budgets
//! and admission, and the archive (backend, limits, retries).

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use super::boundary::{self, mut_in, Failure, FfiResult};
use super::manager::{aof_manager_options_t, c_str};
use super::status::{aof_status_t, AOF_ERR_NULL_ARG, AOF_OK};
use crate::tier::archive::RemoteConfig;
use crate::tier::cold::{ArchiveOptions, Backend};
use crate::tier::shared::CacheOptions;

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
pub(super) fn wait_from_ms(ms: i64) -> Option<Duration> {
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
pub(super) struct ArchiveTuning {
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
