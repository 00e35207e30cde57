"""Exceptions: one class per libaof status, all under AofError.

An error carries the status code (`.status`), its constant's name from the library
(`.name`, e.g. "AOF_ERR_CLOSED", from aof_status_name) and the detailed message libaof
stored for the calling thread (`.message`, copied out with aof_last_error_copy right after
the failing call, on the same thread: the message is per thread).
"""

import ctypes
from typing import Optional

from . import _ffi

__all__ = [
    "AofError",
    "NullArgumentError",
    "InvalidArgumentError",
    "TooLargeError",
    "NotFoundError",
    "IoError",
    "NoSpaceError",
    "CorruptionError",
    "BusyError",
    "ClosedError",
    "PoisonedError",
    "PanicError",
    "InternalError",
    "BufferTooSmallError",
    "MisuseError",
    "NoSuchLogError",
    "CatalogError",
    "TruncatedError",
    "WouldBlockError",
    "RemoteError",
    "TimedOutError",
    "error_class",
]

# Status codes (include/aof.h). Error values are stable and never reused.
OK = 0
END = 1
TIMED_OUT = 2
ERR_NULL_ARG = -1
ERR_INVALID_ARG = -2
ERR_TOO_LARGE = -3
ERR_NOT_FOUND = -4
ERR_IO = -5
ERR_NO_SPACE = -6
ERR_CORRUPTION = -7
ERR_BUSY = -8
ERR_CLOSED = -9
ERR_POISONED = -10
ERR_PANIC = -11
ERR_INTERNAL = -12
ERR_BUFFER_TOO_SMALL = -13
ERR_MISUSE = -14
ERR_NO_SUCH_LOG = -15
ERR_CATALOG = -16
ERR_TRUNCATED = -17
ERR_WOULD_BLOCK = -18
ERR_REMOTE = -19


class AofError(Exception):
    """A libaof call failed. `.status` is the code, `.name` its constant's name and
    `.message` libaof's detailed message (may be empty)."""

    status: Optional[int] = None

    def __init__(self, message: str = "", *, status: Optional[int] = None, name: Optional[str] = None):
        if status is not None:
            self.status = status
        self.name = name if name is not None else status_name(self.status)
        self.message = message
        super().__init__(f"{self.name}: {message}" if message else self.name)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.status, self.name))


def _rebuild(cls, message, status, name):
    return cls(message, status=status, name=name)


class NullArgumentError(AofError, ValueError):
    status = ERR_NULL_ARG


class InvalidArgumentError(AofError, ValueError):
    status = ERR_INVALID_ARG


class TooLargeError(AofError, ValueError):
    """The record is larger than the log's maximum record size; nothing was written."""

    status = ERR_TOO_LARGE


class NotFoundError(AofError, LookupError):
    """No record with that id (or at that position) is visible."""

    status = ERR_NOT_FOUND


class IoError(AofError):
    status = ERR_IO


class NoSpaceError(AofError):
    status = ERR_NO_SPACE


class CorruptionError(AofError):
    status = ERR_CORRUPTION


class BusyError(AofError):
    """The log directory (or root, or queue) is in use elsewhere."""

    status = ERR_BUSY


class ClosedError(AofError):
    """The log (or manager, cursor, queue) was closed."""

    status = ERR_CLOSED


class PoisonedError(AofError):
    """An earlier write or sync failed; close the log and open it again."""

    status = ERR_POISONED


class PanicError(AofError):
    status = ERR_PANIC


class InternalError(AofError):
    status = ERR_INTERNAL


class BufferTooSmallError(AofError):
    status = ERR_BUFFER_TOO_SMALL


class MisuseError(AofError):
    status = ERR_MISUSE


class NoSuchLogError(AofError, LookupError):
    status = ERR_NO_SUCH_LOG


class CatalogError(AofError):
    status = ERR_CATALOG


class TruncatedError(AofError, LookupError):
    """The record was removed by retention or truncate_before."""

    status = ERR_TRUNCATED


class WouldBlockError(AofError):
    """No room and no (more) waiting; nothing changed, try again later."""

    status = ERR_WOULD_BLOCK


class RemoteError(AofError):
    status = ERR_REMOTE


class TimedOutError(AofError, TimeoutError):
    """A wait reached its timeout (AOF_TIMED_OUT, which libaof returns as a non-error;
    raised where the caller asked for an outcome, e.g. Log.sync_until)."""

    status = TIMED_OUT


_BY_STATUS = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        TooLargeError,
        NotFoundError,
        IoError,
        NoSpaceError,
        CorruptionError,
        BusyError,
        ClosedError,
        PoisonedError,
        PanicError,
        InternalError,
        BufferTooSmallError,
        MisuseError,
        NoSuchLogError,
        CatalogError,
        TruncatedError,
        WouldBlockError,
        RemoteError,
        TimedOutError,
    )
}


def error_class(status):
    """The exception class for a status (AofError for a code this package does not know)."""
    return _BY_STATUS.get(status, AofError)


def status_name(status):
    """The constant's name, from the library (aof_status_name), e.g. "AOF_ERR_CLOSED"."""
    if status is None:
        return "AOF_ERROR"
    raw = _ffi.lib().aof_status_name(status)
    return raw.decode() if raw is not None else f"AOF_STATUS_{status}"


def errstr(status):
    """libaof's static description of a status (aof_errstr)."""
    return _ffi.lib().aof_errstr(status).decode()


def last_error_message():
    """This thread's last libaof error message, copied out (aof_last_error_copy).

    aof_last_error_copy never changes the message and returns its full length, so the
    buffer is sized exactly (the message is UTF-8 but may hold a path's raw bytes)."""
    lib = _ffi.lib()
    n = lib.aof_last_error_copy(None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    lib.aof_last_error_copy(buf, n + 1)
    return buf.value.decode("utf-8", "backslashreplace")


def make_error(status, message=None):
    """The exception for `status`. Without `message`, the thread's last error message (call
    this right after the failing call, on the same thread)."""
    if message is None:
        message = last_error_message() if status < 0 else ""
    return error_class(status)(message, status=status)


def check(status):
    """Raises the exception of a negative status; returns the status otherwise."""
    if status < 0:
        raise make_error(status)
    return status
