"""Loading libaof and declaring the C functions the package calls (ctypes, no compiler).

Every prototype follows include/aof.h. Handles are opaque pointers (`c_void_p`): a log or
manager handle is a token that libaof never dereferences, so a call with a closed one is
safe (it returns AOF_ERR_CLOSED); options, cursors and completion queues are real
pointers, freed exactly once by their Python owner.

ctypes releases the GIL around every foreign call (CDLL), so a call that waits in C lets
the other Python threads run. The waits of this package are short slices (WAIT_SLICE_MS)
so that a signal handler (Ctrl-C) runs between them.
"""

import ctypes
import ctypes.util
import os
import threading
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

__all__ = [
    "LibraryNotFoundError",
    "LibraryVersionError",
    "lib",
    "load_library",
    "library_path",
    "has_completion_api",
]

# The ABI this package is written against: 0.x minors may break it (the soname carries the
# minor, libaof.so.0.1), so a 0.x library must match major and minor.
SUPPORTED_ABI = (0, 1)
SONAME = "libaof.so.0.1"

# The longest a single C wait may last, in milliseconds: a Python signal handler (such as
# the one raising KeyboardInterrupt) runs only once the foreign call returns.
WAIT_SLICE_MS = 100

status_t = c_int32


class LibraryNotFoundError(OSError):
    """libaof could not be loaded; the message lists every place that was tried."""


class LibraryVersionError(ImportError):
    """The loaded libaof has an ABI this package does not speak."""


class RecordEx(Structure):
    """`aof_record_ex_t`: the fields of `aof_record_t`, then the byte position."""

    _fields_ = [
        ("id", c_uint64),
        ("timestamp_us", c_uint64),
        ("data", c_void_p),
        ("len", c_size_t),
        ("position", c_uint64),
    ]


class CompletionStruct(Structure):
    """`aof_completion_t`: the outcome of one asynchronous append."""

    _fields_ = [
        ("id", c_uint64),
        ("user_data", c_void_p),
        ("log", c_void_p),
        ("status", c_int32),
        ("reserved", c_uint32),
    ]


_P = c_void_p  # an opaque handle
_PP = POINTER(c_void_p)  # an out-parameter receiving a handle
_U64P = POINTER(c_uint64)
_SZP = POINTER(c_size_t)

# name: (restype, argtypes). Required: the library is refused without them.
_PROTOTYPES = {
    "aof_version": (c_char_p, []),
    "aof_version_number": (c_uint32, []),
    "aof_errstr": (c_char_p, [status_t]),
    "aof_status_name": (c_char_p, [status_t]),
    "aof_last_error_message": (c_char_p, []),
    "aof_last_error_copy": (c_size_t, [c_char_p, c_size_t]),
    # options
    "aof_options_new": (status_t, [_PP]),
    "aof_options_free": (None, [_P]),
    "aof_options_set_segment_size": (status_t, [_P, c_uint64]),
    "aof_options_set_max_record_size": (status_t, [_P, c_uint64]),
    "aof_options_set_flush_policy": (status_t, [_P, c_int32, c_uint32, c_uint32]),
    "aof_options_set_preallocate_threshold": (status_t, [_P, c_uint32]),
    "aof_options_set_zero_ahead": (status_t, [_P, c_uint64]),
    "aof_options_set_retention": (status_t, [_P, c_uint64, c_uint64, c_uint64]),
    "aof_options_set_tiering": (status_t, [_P, c_uint64, c_uint64, c_int32, c_uint64]),
    "aof_options_set_archive_after": (status_t, [_P, c_uint64]),
    "aof_options_set_histograms": (status_t, [_P, c_int32]),
    "aof_options_set_visibility": (status_t, [_P, c_int32]),
    # log
    "aof_open": (status_t, [c_char_p, _P, _PP]),
    "aof_close": (status_t, [_P]),
    "aof_append": (status_t, [_P, c_char_p, c_size_t, _U64P]),
    "aof_append_batch": (
        status_t,
        [_P, POINTER(c_void_p), POINTER(c_size_t), c_size_t, _U64P],
    ),
    "aof_flush": (status_t, [_P]),
    "aof_sync_until": (status_t, [_P, c_uint64, c_uint32]),
    "aof_truncate_before": (status_t, [_P, c_uint64]),
    "aof_bounds": (status_t, [_P, _U64P, _U64P]),
    "aof_seal_now": (status_t, [_P, POINTER(c_int32)]),
    "aof_compress_now": (status_t, [_P, _U64P]),
    "aof_durable_id": (status_t, [_P, _U64P]),
    "aof_last_id": (status_t, [_P, _U64P]),
    "aof_read": (status_t, [_P, c_uint64, c_void_p, c_size_t, _SZP, _U64P]),
    "aof_verify": (status_t, [_P, _U64P]),
    "aof_position_of": (status_t, [_P, c_uint64, _U64P]),
    "aof_id_at_position": (status_t, [_P, c_uint64, _U64P]),
    "aof_position_range": (status_t, [_P, _U64P, _U64P]),
    # cursors
    "aof_cursor_open": (status_t, [_P, c_uint64, _PP]),
    "aof_cursor_open_at_position": (status_t, [_P, c_uint64, _PP]),
    "aof_cursor_next_ex": (status_t, [_P, POINTER(RecordEx), c_size_t]),
    "aof_cursor_wait": (status_t, [_P, c_uint32]),
    "aof_cursor_set_spin": (status_t, [_P, c_uint32]),
    "aof_cursor_free": (None, [_P]),
    # metrics
    "aof_metrics": (status_t, [_P, c_void_p, c_size_t]),
    "aof_metrics_prometheus": (status_t, [_P, c_void_p, c_size_t, _SZP]),
    "aof_metrics_reset": (status_t, [_P]),
    "aof_metrics_field_count": (c_size_t, []),
    "aof_metrics_field_name": (c_char_p, [c_size_t]),
    # manager
    "aof_manager_options_new": (status_t, [_PP]),
    "aof_manager_options_free": (None, [_P]),
    "aof_manager_options_set_worker_threads": (status_t, [_P, c_uint32]),
    "aof_manager_options_set_max_blocking_threads": (status_t, [_P, c_uint32]),
    "aof_manager_options_set_cache": (status_t, [_P, c_uint64, c_uint64, c_int64]),
    "aof_manager_options_set_archive_fs": (status_t, [_P, c_char_p, c_char_p]),
    "aof_manager_options_set_archive_limits": (status_t, [_P, c_uint64, c_uint64, c_int64]),
    "aof_manager_options_set_archive_retries": (
        status_t,
        [_P, c_uint32, c_uint32, c_uint32, c_uint32, c_uint32],
    ),
    "aof_manager_open": (status_t, [c_char_p, _P, _PP]),
    "aof_manager_open_log": (status_t, [_P, c_char_p, _P, _PP]),
    "aof_manager_list": (status_t, [_P, c_void_p, c_size_t, _SZP]),
    "aof_manager_drop_log": (status_t, [_P, c_char_p]),
    "aof_manager_metrics_prometheus": (status_t, [_P, c_void_p, c_size_t, _SZP]),
    "aof_manager_close": (status_t, [_P]),
}

# Declared when the library has them (the asynchronous appends came later): without them
# the rest of the package works and CompletionQueue / append_async raise.
_OPTIONAL_PROTOTYPES = {
    "aof_completion_queue_new": (status_t, [_PP]),
    "aof_completion_queue_free": (status_t, [_P]),
    "aof_log_set_completion_queue": (status_t, [_P, _P]),
    "aof_append_async": (status_t, [_P, c_char_p, c_size_t, c_void_p, _U64P]),
    "aof_cq_poll": (status_t, [_P, POINTER(CompletionStruct), c_size_t, c_uint32, _SZP]),
    "aof_cq_fd": (status_t, [_P, POINTER(ctypes.c_int)]),
    "aof_options_set_async_limits": (status_t, [_P, c_uint64, c_uint64, c_int64]),
}

_COMPLETION_API = (
    "aof_completion_queue_new",
    "aof_completion_queue_free",
    "aof_log_set_completion_queue",
    "aof_append_async",
    "aof_cq_poll",
    "aof_cq_fd",
)

_lock = threading.Lock()
_lib = None
_lib_path = None


def _source_tree_candidates():
    """libaof.so of the repository this package sits in (bindings/python/aof/ under it),
    when run from the source tree: the release build first, then the debug build."""
    repo = Path(__file__).resolve().parents[3]
    if not (repo / "Cargo.toml").is_file() or not (repo / "include" / "aof.h").is_file():
        return []
    target = os.environ.get("CARGO_TARGET_DIR")
    target = Path(target) if target else repo / "target"
    if not target.is_absolute():
        target = repo / target
    return [str(target / "release" / "libaof.so"), str(target / "debug" / "libaof.so")]


def _declare(cdll):
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(cdll, name)  # AttributeError: not a libaof we know
        fn.restype = restype
        fn.argtypes = argtypes
    for name, (restype, argtypes) in _OPTIONAL_PROTOTYPES.items():
        fn = getattr(cdll, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes


def _check_version(cdll, where):
    number = cdll.aof_version_number()
    major, minor = number // 10000, number // 100 % 100
    want_major, want_minor = SUPPORTED_ABI
    if major != want_major or (major == 0 and minor != want_minor):
        raise LibraryVersionError(
            f"{where} is libaof {cdll.aof_version().decode()}; this package speaks the ABI "
            f"of libaof {want_major}.{want_minor} (set AOF_LIBRARY to a matching build)"
        )


def _candidates():
    """(how it was found, what to dlopen) in the order they are tried."""
    env = os.environ.get("AOF_LIBRARY")
    if env:
        # An explicit choice: never fall back to another library behind the user's back.
        return [("AOF_LIBRARY", env)]
    out = [("source tree", p) for p in _source_tree_candidates()]
    found = ctypes.util.find_library("aof")
    if found:
        out.append(("ctypes.util.find_library('aof')", found))
    else:
        out.append(("ctypes.util.find_library('aof')", None))
    out.append(("dynamic loader", SONAME))
    out.append(("dynamic loader", "libaof.so"))
    return out


def load_library(path=None):
    """Loads libaof (once per process) and returns the ctypes library.

    `path` overrides the search. Otherwise: the file named by the environment variable
    AOF_LIBRARY; else, when this package runs from the libaof source tree,
    target/release/libaof.so then target/debug/libaof.so; else ctypes.util.find_library('aof')
    and the soname libaof.so.0.1 through the dynamic loader (LD_LIBRARY_PATH, the ld.so
    cache). Raises LibraryNotFoundError, listing what was tried, if none loads.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            if path is not None and os.path.realpath(path) != os.path.realpath(_lib_path):
                raise RuntimeError(
                    f"libaof is already loaded from {_lib_path}; cannot switch to {path}"
                )
            return _lib
        candidates = [("argument", os.fspath(path))] if path is not None else _candidates()
        tried = []
        for how, name in candidates:
            if name is None:
                tried.append(f"{how}: nothing found")
                continue
            if os.sep in name and not os.path.exists(name):
                tried.append(f"{how}: {name}: no such file")
                continue
            try:
                cdll = ctypes.CDLL(name)
            except OSError as e:
                tried.append(f"{how}: {name}: {e}")
                continue
            try:
                _declare(cdll)
            except AttributeError as e:
                tried.append(f"{how}: {name}: not libaof ({e})")
                continue
            _check_version(cdll, f"{name} ({how})")
            _lib, _lib_path = cdll, name
            return cdll
        raise LibraryNotFoundError(
            "cannot load libaof; tried:\n  "
            + "\n  ".join(tried)
            + "\nBuild it (cargo build --release --lib) and set AOF_LIBRARY to the path of "
            "libaof.so, or install it (make install) where the dynamic loader finds it."
        )


def lib():
    """The loaded library (loading it on first use)."""
    return _lib if _lib is not None else load_library()


def library_path():
    """Where the loaded library came from (loading it on first use)."""
    lib()
    return _lib_path


def has_completion_api():
    """Whether the loaded library has the asynchronous appends (completion queues)."""
    cdll = lib()
    return all(hasattr(cdll, name) for name in _COMPLETION_API)
