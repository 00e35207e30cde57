"""libaof for Python: a durable, segmented append-only log (ctypes over libaof.so).

    import aof

    with aof.open("./data", flush="batched_or_periodic", batch_records=64, interval_ms=10) as log:
        id = log.append(b"hello")
        log.sync_until(id)
        assert log.read(id) == b"hello"
        for record in log.cursor():
            print(record.id, record.timestamp, record.data)

The library is found through the environment variable AOF_LIBRARY (a path to
libaof.so), else the source tree's target/release or target/debug, else the dynamic
loader (ctypes.util.find_library("aof"), libaof.so.0.1). See the package README.
"""

from ._ffi import (
    LibraryNotFoundError,
    LibraryVersionError,
    has_completion_api,
    library_path,
    load_library,
)
from .completion import Completion, CompletionQueue
from .errors import (
    AofError,
    BufferTooSmallError,
    BusyError,
    CatalogError,
    ClosedError,
    CorruptionError,
    InternalError,
    InvalidArgumentError,
    IoError,
    MisuseError,
    NoSpaceError,
    NoSuchLogError,
    NotFoundError,
    NullArgumentError,
    PanicError,
    PoisonedError,
    RemoteError,
    TimedOutError,
    TooLargeError,
    TruncatedError,
    WouldBlockError,
    error_class,
    errstr,
    status_name,
)
from .log import END_OF_LOG, NEWEST, OLDEST, Bounds, Cursor, Log, Record, metric_names, open
from .manager import Manager
from .options import FlushPolicy, ManagerOptions, Options, Visibility

__version__ = "0.1.0"

__all__ = [
    "AofError",
    "Bounds",
    "BufferTooSmallError",
    "BusyError",
    "CatalogError",
    "ClosedError",
    "Completion",
    "CompletionQueue",
    "CorruptionError",
    "Cursor",
    "END_OF_LOG",
    "FlushPolicy",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "LibraryNotFoundError",
    "LibraryVersionError",
    "Log",
    "Manager",
    "ManagerOptions",
    "MisuseError",
    "NEWEST",
    "NoSpaceError",
    "NoSuchLogError",
    "NotFoundError",
    "NullArgumentError",
    "OLDEST",
    "Options",
    "PanicError",
    "PoisonedError",
    "Record",
    "RemoteError",
    "TimedOutError",
    "TooLargeError",
    "TruncatedError",
    "Visibility",
    "WouldBlockError",
    "error_class",
    "errstr",
    "has_completion_api",
    "library_path",
    "library_version",
    "load_library",
    "metric_names",
    "open",
    "status_name",
]


def library_version():
    """The loaded library's version string (aof_version), e.g. "0.1.0"."""
    return load_library().aof_version().decode()
