"""Log, Cursor and Record: a log opened alone (Log.open) or by a Manager."""

from __future__ import annotations

import ctypes
import threading
import weakref
from ctypes import byref, c_int32, c_size_t, c_uint64, c_void_p
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, NamedTuple, Optional, Tuple, Union

from . import _ffi
from ._util import U64_MAX, Deadline, address_of, as_buffer, check_int, fspath
from .errors import (
    END,
    ERR_BUFFER_TOO_SMALL,
    ERR_CLOSED,
    OK,
    TIMED_OUT,
    ClosedError,
    TimedOutError,
    check,
    make_error,
)
from .options import Options

if TYPE_CHECKING:
    import os

    from .completion import CompletionQueue

    PathLike = Union[str, bytes, os.PathLike]
    BytesLike = Union[bytes, bytearray, memoryview]

__all__ = ["Log", "Cursor", "Record", "Bounds", "OLDEST", "NEWEST", "END_OF_LOG", "open"]

# Cursor starts (AOF_START_*).
OLDEST = 0
NEWEST = U64_MAX - 1
END_OF_LOG = U64_MAX

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Reads use a buffer per thread of this size, grown up to _KEEP_BUFFER for larger records
# (beyond that a buffer of the record's size is made for the one read).
_FIRST_BUFFER = 4096
_KEEP_BUFFER = 1 << 20


def _timestamp(us):
    return EPOCH + timedelta(microseconds=us)


class Record(NamedTuple):
    """One record, copied out of the log: its id, append time (an aware datetime in UTC,
    microsecond resolution), byte position and payload."""

    id: int
    timestamp: datetime
    position: int
    data: bytes

    @property
    def timestamp_us(self):
        """The append time in microseconds since the Unix epoch, as libaof stores it."""
        return (self.timestamp - EPOCH) // timedelta(microseconds=1)


class Bounds(NamedTuple):
    """The ids a read may ask for: `first` (oldest kept) to `last` (newest visible);
    last == first - 1 when there is none."""

    first: int
    last: int


class _Buffers(threading.local):
    def __init__(self):
        self.read = ctypes.create_string_buffer(_FIRST_BUFFER)


_buffers = _Buffers()


def sized_text(fn, handle):
    """Calls a libaof function that renders text into a caller's buffer and reports the
    bytes needed (NUL included) in *out_len, retrying with the size it reports."""
    need = c_size_t(0)
    status = fn(handle, None, 0, byref(need))
    while True:
        if status == OK and need.value <= 1:
            return b""
        if status not in (OK, ERR_BUFFER_TOO_SMALL):
            raise make_error(status)
        buf = ctypes.create_string_buffer(need.value + 256)
        status = fn(handle, buf, len(buf), byref(need))
        if status == OK:
            return buf.raw[: max(need.value - 1, 0)]


_metric_names = None


def metric_names():
    """The fields of aof_metrics_t this library fills, by name, in order."""
    global _metric_names
    if _metric_names is None:
        lib = _ffi.lib()
        n = lib.aof_metrics_field_count()
        _metric_names = tuple(lib.aof_metrics_field_name(i).decode() for i in range(n))
    return _metric_names


def _close_log(close, handle):
    return close(handle)


class Log:
    """An open log. Open one with Log.open(path, ...) (or aof.open) or Manager.open_log.

    Use it as a context manager, or call close(). The handle may be shared by any number of
    threads (concurrent appends share syncs); close() may run while other threads use it:
    their calls finish or raise ClosedError. A Log that is garbage-collected unclosed is
    closed then.
    """

    def __init__(self, path: PathLike, options: Optional[Options] = None, **option_kwargs: Any):
        """Opens the log in directory `path` (created if missing, not its parents), with
        `options` (an Options) or Options keywords; `completion_queue=` attaches a
        CompletionQueue for append_async."""
        queue = option_kwargs.pop("completion_queue", None)
        opts = _options(options, option_kwargs)
        handle = c_void_p()
        lib = _ffi.lib()
        check(lib.aof_open(fspath(path), opts._ptr(), byref(handle)))
        self._init(handle.value, path=path, name=None, manager=None)
        self._attach_at_open(queue)

    def _attach_at_open(self, queue):
        if queue is not None:
            try:
                self.set_completion_queue(queue)
            except BaseException:
                self.close()
                raise

    @classmethod
    def open(cls, path: PathLike, options: Optional[Options] = None, **option_kwargs: Any) -> Log:
        """Opens (creating if missing) the log in directory `path`; see Options."""
        return cls(path, options, **option_kwargs)

    @classmethod
    def _adopt(cls, handle, *, path, name, manager):
        log = cls.__new__(cls)
        log._init(handle, path=path, name=name, manager=manager)
        return log

    def _init(self, handle, *, path, name, manager):
        self._h = handle
        self.path = path
        self.name = name
        self._manager = manager
        self._queue = None  # the CompletionQueue attached (append_async)
        self._bridge = None  # the asyncio bridge (append_durable)
        self._closing = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_log, _ffi.lib().aof_close, handle)

    # --- life cycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once close() ran (or the log's manager closed it)."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Writes and syncs everything appended, seals the log and releases its directory.
        A second call does nothing. Raises if the final write or sync failed (the handle
        is released anyway). Asynchronous appends in flight complete first."""
        with self._closing:
            if not self._finalizer.alive:
                return
            status = self._finalizer()
            error = make_error(status) if status is not None and status < 0 else None
        self._after_close()
        if error is not None:
            raise error

    def _after_close(self):
        # Completions that close posted reach their futures; the queue is detached.
        bridge = self._bridge
        if bridge is not None:
            bridge.log_closed()
        queue = self._queue
        if queue is not None:
            queue._log_closed(self)

    def _manager_closed(self):
        """The manager closed this log: release the handle (aof_close returns AOF_OK)."""
        with self._closing:
            if not self._finalizer.alive:
                return
            self._finalizer()
        self._after_close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"name={self.name!r}" if self.name is not None else f"path={self.path!r}"
        state = " closed" if self.closed else ""
        return f"<aof.Log {where}{state}>"

    # --- appends ----------------------------------------------------------------------

    def append(self, data: BytesLike) -> int:
        """Appends one record (bytes-like) and returns its id (ids start at 1, dense).
        Under the sync flush policy it returns once the record is durable."""
        buf, n = as_buffer(data)
        out = c_uint64()
        check(_ffi.lib().aof_append(self._h, buf, n, byref(out)))
        return out.value

    def append_batch(self, records: Iterable[BytesLike]) -> int:
        """Appends a sequence of bytes-like records with consecutive ids, in one write;
        returns the first id. Not atomic across a crash (a prefix may survive one)."""
        items = [address_of(r) for r in records]
        count = len(items)
        datas = (c_void_p * max(count, 1))(*[a for a, _, _ in items])
        lens = (c_size_t * max(count, 1))(*[n for _, n, _ in items])
        out = c_uint64()
        check(_ffi.lib().aof_append_batch(self._h, datas, lens, count, byref(out)))
        del items  # the buffers stay alive until here
        return out.value

    def flush(self) -> None:
        """Writes and syncs everything appended so far; returns once it is durable."""
        check(_ffi.lib().aof_flush(self._h))

    def sync_until(self, id: int, timeout: Optional[float] = None) -> None:
        """Waits, without forcing a sync, until record `id` is durable. `timeout` in
        seconds (None: no limit; 0: just check); raises TimedOutError when it passes.
        Waits in short slices, so Ctrl-C (KeyboardInterrupt) ends it promptly."""
        id = check_int(id, ctypes.c_uint64, "id")
        deadline = Deadline(timeout)
        fn = _ffi.lib().aof_sync_until
        while True:
            status = fn(self._h, id, deadline.slice_ms())
            if status == OK:
                return
            if status != TIMED_OUT:
                raise make_error(status)
            if deadline.expired():
                raise TimedOutError(
                    f"record {id} was not durable within {timeout} s", status=TIMED_OUT
                )

    # --- state ------------------------------------------------------------------------

    def _u64(self, fn):
        out = c_uint64()
        check(getattr(_ffi.lib(), fn)(self._h, byref(out)))
        return out.value

    @property
    def durable_id(self) -> int:
        """The highest durable id (0: none yet)."""
        return self._u64("aof_durable_id")

    @property
    def last_id(self) -> int:
        """The highest appended id (0: empty)."""
        return self._u64("aof_last_id")

    def bounds(self) -> Bounds:
        """Bounds(first, last): the ids a read may ask for now."""
        first, last = c_uint64(), c_uint64()
        check(_ffi.lib().aof_bounds(self._h, byref(first), byref(last)))
        return Bounds(first.value, last.value)

    def truncate_before(self, id: int) -> None:
        """Removes every sealed segment whose records all precede `id` (whole segments
        only; bounds() says what is left)."""
        check(_ffi.lib().aof_truncate_before(self._h, check_int(id, ctypes.c_uint64, "id")))

    def seal_now(self) -> bool:
        """Seals the active segment if it holds a record; True if it did."""
        out = c_int32()
        check(_ffi.lib().aof_seal_now(self._h, byref(out)))
        return bool(out.value)

    def compress_now(self) -> int:
        """Compresses every sealed plain segment now; returns how many."""
        return self._u64("aof_compress_now")

    def verify(self) -> int:
        """Checks every record written to the segment files; returns how many it checked.
        Raises CorruptionError (its message names the file and offset) on damage."""
        return self._u64("aof_verify")

    # --- reads ------------------------------------------------------------------------

    def _read_into(self, id, with_timestamp):
        id = check_int(id, ctypes.c_uint64, "id")
        lib = _ffi.lib()
        buf = _buffers.read
        n = c_size_t()
        ts = c_uint64()
        ts_ref = byref(ts) if with_timestamp else None
        while True:
            status = lib.aof_read(self._h, id, buf, len(buf), byref(n), ts_ref)
            if status == OK:
                return ctypes.string_at(buf, n.value), ts.value
            if status != ERR_BUFFER_TOO_SMALL:
                raise make_error(status)
            # libaof stored the size needed in n: retry with a buffer that large.
            buf = ctypes.create_string_buffer(max(n.value, 1))
            if n.value <= _KEEP_BUFFER:
                _buffers.read = buf

    def read(self, id: int) -> bytes:
        """The payload of record `id`, copied out (bytes). NotFoundError if it does not
        exist or is not visible yet; TruncatedError if retention removed it."""
        return self._read_into(id, False)[0]

    def read_record(self, id: int) -> Record:
        """Record `id` as a Record (payload, append time and byte position)."""
        data, ts = self._read_into(id, True)
        return Record(id, _timestamp(ts), self.position_of(id), data)

    def __getitem__(self, id: int) -> bytes:
        return self.read(id)

    def position_of(self, id: int) -> int:
        """The byte position of record `id` (payload bytes the log held before it)."""
        out = c_uint64()
        check(_ffi.lib().aof_position_of(self._h, check_int(id, ctypes.c_uint64, "id"), byref(out)))
        return out.value

    def id_at_position(self, position: int) -> int:
        """The id of the record at or after byte `position`."""
        out = c_uint64()
        pos = check_int(position, ctypes.c_uint64, "position")
        check(_ffi.lib().aof_id_at_position(self._h, pos, byref(out)))
        return out.value

    def position_range(self) -> Tuple[int, int]:
        """(first, end): the byte positions the log holds."""
        first, end = c_uint64(), c_uint64()
        check(_ffi.lib().aof_position_range(self._h, byref(first), byref(end)))
        return first.value, end.value

    def cursor(self, start: int = OLDEST, *, position: Optional[int] = None) -> Cursor:
        """A Cursor from `start` (OLDEST, NEWEST, END_OF_LOG or a record id), or from byte
        `position` when given."""
        lib = _ffi.lib()
        out = c_void_p()
        if position is not None:
            pos = check_int(position, ctypes.c_uint64, "position")
            check(lib.aof_cursor_open_at_position(self._h, pos, byref(out)))
        else:
            check(lib.aof_cursor_open(self._h, check_int(start, ctypes.c_uint64, "start"), byref(out)))
        return Cursor(self, out.value)

    def __iter__(self) -> Iterator[Record]:
        """Every visible record from the oldest, as Records (a cursor, closed at the end)."""
        with self.cursor(OLDEST) as c:
            yield from c

    def tail(self, start: int = END_OF_LOG, *, idle_timeout: Optional[float] = None) -> Iterator[Record]:
        """Follows the log from `start` (default: only records appended from now on),
        yielding Records as they become visible; see Cursor.follow."""
        with self.cursor(start) as c:
            yield from c.follow(idle_timeout=idle_timeout)

    follow = tail

    # --- metrics ----------------------------------------------------------------------

    def metrics(self) -> Dict[str, int]:
        """A snapshot of the log's metrics: a dict from each field of aof_metrics_t (named
        by the library, aof_metrics_field_name) to its value."""
        names = metric_names()
        buf = (c_uint64 * len(names))()
        check(_ffi.lib().aof_metrics(self._h, buf, ctypes.sizeof(buf)))
        return dict(zip(names, buf))

    def prometheus(self) -> str:
        """The log's metrics in the Prometheus text exposition format (0.0.4), every sample
        labelled with `log`."""
        return sized_text(_ffi.lib().aof_metrics_prometheus, self._h).decode()

    def reset_metrics(self) -> None:
        """Forgets the distributions (latency and size summaries); counters stay."""
        check(_ffi.lib().aof_metrics_reset(self._h))

    # --- asynchronous appends (see completion.py) -------------------------------------

    def set_completion_queue(self, queue: Optional[CompletionQueue]) -> None:
        """Attaches `queue` (a CompletionQueue) to which append_async posts completions,
        or detaches with None."""
        from .completion import attach

        attach(self, queue)

    @property
    def completion_queue(self) -> Optional[CompletionQueue]:
        return self._queue

    def append_async(self, data: BytesLike, user_data: Any = None) -> int:
        """Appends one record now and returns its id; its completion (with `user_data`,
        any Python object) comes later from the attached CompletionQueue, exactly once."""
        from .completion import append_async

        return append_async(self, data, user_data)

    async def append_durable(self, data: BytesLike) -> int:
        """Appends one record and returns its id once it is durable (asyncio). Many may be
        in flight from one event loop; see aof.completion."""
        from .completion import append_durable

        return await append_durable(self, data)

    async def aclose(self) -> None:
        """close() in a worker thread, so the event loop keeps running while the log syncs;
        the futures of append_durable in flight are resolved before it returns."""
        import asyncio

        loop = asyncio.get_running_loop()
        bridge = self._bridge
        await loop.run_in_executor(None, self.close)
        if bridge is not None:
            bridge.finish()  # settle the futures now (close() scheduled it on the loop too)


def _options(options, kwargs):
    if options is not None and kwargs:
        raise TypeError("give either an Options object or option keywords, not both")
    if options is None:
        return Options(**kwargs)
    if not isinstance(options, Options):
        raise TypeError(f"options must be an aof.Options, not {type(options).__name__}")
    return options


def open(path: PathLike, options: Optional[Options] = None, **option_kwargs: Any) -> Log:  # noqa: A001 (aof.open, like io.open)
    """Opens (creating if missing) the log in directory `path`: Log.open."""
    return Log(path, options, **option_kwargs)


def _free_cursor(free, handle):
    free(handle)


class Cursor:
    """A cursor over a log, from Log.cursor(). Iterating gives the visible records, as
    Records whose payload is copied out (so a Record stays valid after later calls), and
    stops at the end of the visible records; iterate again later for records appended
    meanwhile, or use wait() and follow(). One thread at a time. Close it (or use it as a
    context manager); it may outlive its log, whose closing makes its calls raise
    ClosedError."""

    def __init__(self, log, handle):
        self.log = log
        self._h = handle
        self._rec = _ffi.RecordEx()
        self._busy = threading.Lock()
        self._finalizer = weakref.finalize(self, _free_cursor, _ffi.lib().aof_cursor_free, handle)

    def _enter(self):
        if not self._finalizer.alive:
            raise ClosedError("the cursor was closed", status=ERR_CLOSED)
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("a cursor is used by one thread at a time")

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Frees the cursor. A second call does nothing."""
        # Wait for a call in another thread to finish before freeing what it uses.
        with self._busy:
            self._finalizer()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def next(self) -> Optional[Record]:
        """The next visible Record, or None at the end of the visible records (more may
        come: see wait). The payload is copied before this returns."""
        self._enter()
        try:
            rec = self._rec
            status = _ffi.lib().aof_cursor_next_ex(self._h, byref(rec), ctypes.sizeof(rec))
            if status == OK:
                # rec.data is borrowed until the cursor's next call: copy it now.
                data = ctypes.string_at(rec.data, rec.len) if rec.len else b""
                return Record(rec.id, _timestamp(rec.timestamp_us), rec.position, data)
            if status == END:
                return None
            raise make_error(status)
        finally:
            self._busy.release()

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> Record:
        record = self.next()
        if record is None:
            raise StopIteration
        return record

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until next() has a record: True, or False once `timeout` seconds passed
        (None: no limit; 0: just check). Short waits in C, so Ctrl-C ends it promptly.
        ClosedError if the log is closed (also during the wait)."""
        deadline = Deadline(timeout)
        fn = _ffi.lib().aof_cursor_wait
        while True:
            self._enter()
            try:
                status = fn(self._h, deadline.slice_ms())
                if status < 0:
                    raise make_error(status)
            finally:
                self._busy.release()
            if status == OK:
                return True
            if deadline.expired():
                return False

    def follow(self, idle_timeout: Optional[float] = None) -> Iterator[Record]:
        """A blocking iterator over the records, as they become visible: yields every
        record there is, waits for more, and so on. It ends when the log is closed, or
        when no record came for `idle_timeout` seconds (None: never). Ctrl-C interrupts
        it promptly."""
        while True:
            try:
                record = self.next()
                if record is None:
                    if not self.wait(idle_timeout):
                        return
                    continue
            except ClosedError:
                return
            yield record

    tail = follow

    def set_spin(self, spin_us: int) -> None:
        """Makes wait() busy-poll for up to `spin_us` microseconds before it sleeps."""
        self._enter()
        try:
            us = check_int(spin_us, ctypes.c_uint32, "spin_us")
            check(_ffi.lib().aof_cursor_set_spin(self._h, us))
        finally:
            self._busy.release()

    def __repr__(self):
        return f"<aof.Cursor on {self.log!r}{' closed' if self.closed else ''}>"
