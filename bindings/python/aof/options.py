"""Options for a log (Options) and for a manager (ManagerOptions).

Each keyword maps to one aof_options_set_* (or aof_manager_options_set_*) call, made when
the object is built: libaof checks each value's range then and there (InvalidArgumentError
with its message), and the combination when a log is opened. The C options are copied by
every open, so one Options object may open any number of logs.
"""

import ctypes
import enum
import weakref

from . import _ffi
from ._util import checked_args, fspath, name_bytes
from .errors import check

__all__ = ["FlushPolicy", "Visibility", "Options", "ManagerOptions"]


class FlushPolicy(enum.IntEnum):
    """When appended records are synced (AOF_FLUSH_*)."""

    SYNC = 0
    ASYNC = 1
    BATCHED = 2
    PERIODIC = 3
    BATCHED_OR_PERIODIC = 4


class Visibility(enum.IntEnum):
    """Which records readers see (AOF_VISIBILITY_*)."""

    WRITTEN = 0
    DURABLE = 1


TIER_DEFAULT_COMPRESSION_LEVEL = 3
TIER_DEFAULT_FRAME_SIZE = 262144
# libaof's defaults for the bound on asynchronous appends in flight, for the values of
# aof_options_set_async_limits a caller leaves out.
ASYNC_DEFAULT_MAX_RECORDS = 65536
ASYNC_DEFAULT_MAX_BYTES = 64 << 20
ASYNC_DEFAULT_WAIT_MS = 30000


def _enum(cls, value, what):
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            names = ", ".join(repr(m.name.lower()) for m in cls)
            raise ValueError(f"unknown {what} {value!r} (one of {names})") from None
    return cls(value)


def _free_options(free, handle):
    free(handle)


class _Handle:
    """Owns one C options handle, freed with the object (or by close())."""

    _new: str = ""
    _free: str = ""

    def __init__(self):
        lib = _ffi.lib()
        handle = ctypes.c_void_p()
        check(getattr(lib, self._new)(ctypes.byref(handle)))
        self._handle = handle.value
        self._settings = {}
        self._finalizer = weakref.finalize(
            self, _free_options, getattr(lib, self._free), self._handle
        )

    def _ptr(self):
        if not self._finalizer.alive:
            raise ValueError(f"{type(self).__name__} were closed")
        return self._handle

    def close(self):
        """Frees the C options now (logs opened with them are not affected)."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _set(self, fn, *args):
        check(getattr(_ffi.lib(), fn)(self._handle, *checked_args(fn, args)))

    def settings(self):
        """The keywords given, as a dict."""
        return dict(self._settings)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self._settings.items())
        return f"{type(self).__name__}({inner})"


class Options(_Handle):
    """Options for Log.open and Manager.open_log.

    Keywords (all optional; sizes in bytes, durations in milliseconds):

    - segment_size: each segment file, 4 KiB .. 4 GiB - 4 KiB (default 64 MiB).
    - max_record_size: largest record (default min(16 MiB, segment_size - 160)).
    - flush: a FlushPolicy or its name ("sync", "async", "batched", "periodic",
      "batched_or_periodic"); batch_records and interval_ms for the policies using them.
    - visibility: a Visibility or "written" / "durable".
    - preallocate_threshold: percent 0..100 (0: off).
    - zero_ahead: bytes kept zero-written ahead of the writer (0: off).
    - retention_bytes, retention_segments, retention_age_ms: bounds (0: unset).
    - compress_after_segments, compress_after_age_ms, compression_level, frame_size: the
      warm tier (aof_options_set_tiering).
    - archive_after: archive sealed segments once this many are newer (manager logs).
    - histograms: keep the latency and size distributions (default True).
    - async_max_records, async_max_bytes, async_wait_ms: the in-flight bound of
      asynchronous appends (aof_options_set_async_limits; negative wait: fail at once
      with WouldBlockError).
    """

    _new = "aof_options_new"
    _free = "aof_options_free"

    def __init__(
        self,
        *,
        segment_size=None,
        max_record_size=None,
        flush=None,
        batch_records=None,
        interval_ms=None,
        visibility=None,
        preallocate_threshold=None,
        zero_ahead=None,
        retention_bytes=None,
        retention_segments=None,
        retention_age_ms=None,
        compress_after_segments=None,
        compress_after_age_ms=None,
        compression_level=None,
        frame_size=None,
        archive_after=None,
        histograms=None,
        async_max_records=None,
        async_max_bytes=None,
        async_wait_ms=None,
    ):
        super().__init__()
        given = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self._settings = {k: v for k, v in given.items() if v is not None}
        if segment_size is not None:
            self._set("aof_options_set_segment_size", segment_size)
        if max_record_size is not None:
            self._set("aof_options_set_max_record_size", max_record_size)
        if flush is None and (batch_records is not None or interval_ms is not None):
            raise TypeError("batch_records and interval_ms go with flush= (the policy using them)")
        if flush is not None:
            policy = _enum(FlushPolicy, flush, "flush policy")
            # A parameter the policy does not use is ignored by libaof; 1 keeps it valid.
            self._set(
                "aof_options_set_flush_policy",
                int(policy),
                1 if batch_records is None else batch_records,
                1 if interval_ms is None else interval_ms,
            )
        if visibility is not None:
            self._set("aof_options_set_visibility", int(_enum(Visibility, visibility, "visibility")))
        if preallocate_threshold is not None:
            self._set("aof_options_set_preallocate_threshold", preallocate_threshold)
        if zero_ahead is not None:
            self._set("aof_options_set_zero_ahead", zero_ahead)
        if (retention_bytes, retention_segments, retention_age_ms) != (None, None, None):
            self._set(
                "aof_options_set_retention",
                retention_bytes or 0,
                retention_segments or 0,
                retention_age_ms or 0,
            )
        tiering = (compress_after_segments, compress_after_age_ms, compression_level, frame_size)
        if tiering != (None, None, None, None):
            self._set(
                "aof_options_set_tiering",
                compress_after_segments or 0,
                compress_after_age_ms or 0,
                TIER_DEFAULT_COMPRESSION_LEVEL if compression_level is None else compression_level,
                TIER_DEFAULT_FRAME_SIZE if frame_size is None else frame_size,
            )
        if archive_after is not None:
            self._set("aof_options_set_archive_after", archive_after)
        if histograms is not None:
            self._set("aof_options_set_histograms", 1 if histograms else 0)
        limits = (async_max_records, async_max_bytes, async_wait_ms)
        if limits != (None, None, None):
            if not hasattr(_ffi.lib(), "aof_options_set_async_limits"):
                raise NotImplementedError(
                    "this libaof has no asynchronous appends (aof_options_set_async_limits)"
                )
            self._set(
                "aof_options_set_async_limits",
                ASYNC_DEFAULT_MAX_RECORDS if async_max_records is None else async_max_records,
                ASYNC_DEFAULT_MAX_BYTES if async_max_bytes is None else async_max_bytes,
                ASYNC_DEFAULT_WAIT_MS if async_wait_ms is None else async_wait_ms,
            )


class ManagerOptions(_Handle):
    """Options for Manager.open.

    Keywords (all optional):

    - worker_threads, max_blocking_threads: the manager's runtime (default 2 and 32).
    - cache_hot_bytes, cache_frame_bytes, cache_wait_ms: the caches its logs share
      (aof_manager_options_set_cache; defaults 1 GiB, 256 MiB, 10 s).
    - archive_dir, archive_prefix: an archive in a directory (the cold tier).
    - archive_max_pending_segments, archive_max_pending_bytes, archive_backpressure_wait_ms:
      the archive's backpressure.
    - archive_retries: a dict of max_attempts, backoff_base_ms, backoff_max_ms,
      breaker_threshold, breaker_probe_ms (aof_manager_options_set_archive_retries).
    """

    _new = "aof_manager_options_new"
    _free = "aof_manager_options_free"

    def __init__(
        self,
        *,
        worker_threads=None,
        max_blocking_threads=None,
        cache_hot_bytes=None,
        cache_frame_bytes=None,
        cache_wait_ms=None,
        archive_dir=None,
        archive_prefix=None,
        archive_max_pending_segments=None,
        archive_max_pending_bytes=None,
        archive_backpressure_wait_ms=None,
        archive_retries=None,
    ):
        super().__init__()
        given = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self._settings = {k: v for k, v in given.items() if v is not None}
        if worker_threads is not None:
            self._set("aof_manager_options_set_worker_threads", worker_threads)
        if max_blocking_threads is not None:
            self._set("aof_manager_options_set_max_blocking_threads", max_blocking_threads)
        if (cache_hot_bytes, cache_frame_bytes, cache_wait_ms) != (None, None, None):
            self._set(
                "aof_manager_options_set_cache",
                1 << 30 if cache_hot_bytes is None else cache_hot_bytes,
                256 << 20 if cache_frame_bytes is None else cache_frame_bytes,
                10000 if cache_wait_ms is None else cache_wait_ms,
            )
        if archive_dir is not None:
            prefix = None if archive_prefix is None else name_bytes(archive_prefix)
            self._set("aof_manager_options_set_archive_fs", fspath(archive_dir), prefix)
        elif archive_prefix is not None:
            raise ValueError("archive_prefix needs archive_dir")
        backpressure = (
            archive_max_pending_segments,
            archive_max_pending_bytes,
            archive_backpressure_wait_ms,
        )
        if backpressure != (None, None, None):
            self._set(
                "aof_manager_options_set_archive_limits",
                archive_max_pending_segments or 0,
                archive_max_pending_bytes or 0,
                30000 if archive_backpressure_wait_ms is None else archive_backpressure_wait_ms,
            )
        if archive_retries is not None:
            r = {
                "max_attempts": 4,
                "backoff_base_ms": 100,
                "backoff_max_ms": 5000,
                "breaker_threshold": 8,
                "breaker_probe_ms": 30000,
            }
            unknown = set(archive_retries) - set(r)
            if unknown:
                raise TypeError(f"unknown archive_retries keys: {sorted(unknown)}")
            r.update(archive_retries)
            self._set(
                "aof_manager_options_set_archive_retries",
                r["max_attempts"],
                r["backoff_base_ms"],
                r["backoff_max_ms"],
                r["breaker_threshold"],
                r["breaker_probe_ms"],
            )
