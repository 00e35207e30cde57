"""Asynchronous appends: completion queues for threads, futures for asyncio.

An asynchronous append (aof_append_async) appends the record at once and returns its id;
exactly one completion follows later, once the record is durable (status AOF_OK) or when
it never will be (AOF_ERR_POISONED, AOF_ERR_CLOSED). Completions of one log come in id
order.

Threads: attach a CompletionQueue to a log (log.set_completion_queue(q)), call
log.append_async(data, user_data) from any thread, and take the completions with
q.poll() or by iterating q.completions().

asyncio: `await log.append_durable(data)` returns the record's id once it is durable. The
log gets a queue of its own, whose eventfd the running loop watches (loop.add_reader):
each wake-up drains the queue and resolves the futures, so one coroutine loop keeps any
number of appends in flight, which share group commits. Closing the log (close() or
`await log.aclose()`) resolves every future still pending.

libaof posts completions from its own threads; this module never runs Python code there
(no callback queue): Python only polls, on its own threads, in short slices, so Ctrl-C
ends a blocking poll promptly.
"""

import asyncio
import ctypes
import itertools
import threading
import weakref
from ctypes import byref, c_size_t, c_uint64, c_void_p
from typing import Any, Iterator, List, NamedTuple, Optional

from . import _ffi
from ._util import Deadline, as_buffer
from .errors import (
    ERR_CLOSED,
    ERR_WOULD_BLOCK,
    OK,
    TIMED_OUT,
    AofError,
    ClosedError,
    check,
    errstr,
    make_error,
)

__all__ = ["Completion", "CompletionQueue"]

# Completions taken from libaof per aof_cq_poll call at most.
POLL_BATCH = 256

# user_data keys: never 0 (NULL), never reused within the process.
_keys = itertools.count(1)


def _require_api():
    if not _ffi.has_completion_api():
        raise NotImplementedError(
            f"{_ffi.library_path()} has no asynchronous appends (aof_append_async, "
            "aof_completion_queue_new): build a libaof that has them"
        )


class Completion(NamedTuple):
    """The outcome of one asynchronous append: the record's id, the Log it was appended to
    (None if that Log object is gone), the user_data given to append_async, and the status
    (0 once durable)."""

    id: int
    log: Optional[Any]
    user_data: Any
    status: int

    @property
    def ok(self) -> bool:
        """True if the record is durable."""
        return self.status == OK

    @property
    def error(self) -> Optional[AofError]:
        """The exception the status stands for (ClosedError, PoisonedError), or None."""
        return None if self.status == OK else completion_error(self.status, self.id)

    def result(self) -> int:
        """The record's id if it is durable; raises the error otherwise."""
        if self.status != OK:
            raise completion_error(self.status, self.id)
        return self.id


def completion_error(status, id):
    """The exception for a failed completion (the message is libaof's text for the status:
    a completion carries no last-error message)."""
    return make_error(
        status, f"asynchronous append of record {id} did not become durable: {errstr(status)}"
    )


def _free_queue(free, handle):
    return free(handle)


class CompletionQueue:
    """Where the asynchronous appends of one or several logs post their completions.

    Attach it with log.set_completion_queue(queue) (or pass completion_queue=queue to
    Log.open or Manager.open_log). Take completions with poll() or the blocking iterator completions(); `fd` is
    an eventfd readable while completions wait, for an event loop (drain with
    poll(timeout=0) until it returns nothing, on each wake-up). Close it once its logs are
    closed (BusyError while an open log is attached); a context manager closes it.
    """

    def __init__(self):
        _require_api()
        lib = _ffi.lib()
        handle = c_void_p()
        check(lib.aof_completion_queue_new(byref(handle)))
        self._h = handle.value
        # user_data key -> the caller's object; filled before the append, emptied by poll.
        self._tokens = {}
        # log handle -> Log, for Completion.log.
        self._logs = weakref.WeakValueDictionary()
        self._polling = threading.Lock()
        self._out = (_ffi.CompletionStruct * POLL_BATCH)()
        self._finalizer = weakref.finalize(self, _free_queue, lib.aof_completion_queue_free, self._h)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def _ptr(self):
        if not self._finalizer.alive:
            raise ClosedError("the completion queue was closed", status=ERR_CLOSED)
        return self._h

    @property
    def fd(self) -> int:
        """The eventfd readable while completions wait (owned by the queue: never read,
        write or close it)."""
        out = ctypes.c_int()
        check(_ffi.lib().aof_cq_fd(self._ptr(), byref(out)))
        return out.value

    def close(self) -> None:
        """Frees the queue. BusyError while an open log is attached (close the logs
        first). A second call does nothing."""
        with self._polling:
            if not self._finalizer.alive:
                return
            status = _ffi.lib().aof_completion_queue_free(self._h)
            if status < 0:
                raise make_error(status)
            self._finalizer.detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _register(self, user_data):
        key = next(_keys)
        self._tokens[key] = user_data
        return key

    def _poll_once(self, max_count, timeout_ms):
        """One aof_cq_poll: the completions it moved (empty on AOF_TIMED_OUT)."""
        with self._polling:
            count = c_size_t()
            out = self._out
            status = _ffi.lib().aof_cq_poll(self._ptr(), out, max_count, timeout_ms, byref(count))
            if status == TIMED_OUT:
                return []
            if status != OK:
                raise make_error(status)
            tokens = self._tokens
            logs = self._logs
            return [
                Completion(c.id, logs.get(c.log or 0), tokens.pop(c.user_data or 0, None), c.status)
                for c in out[: count.value]
            ]

    def poll(self, max_count: int = POLL_BATCH, timeout: Optional[float] = 0) -> List[Completion]:
        """Takes up to `max_count` completions, waiting up to `timeout` seconds for the
        first (0: not at all; None: without limit). Returns a list, empty if none came in
        time. Waits in short slices, so Ctrl-C ends it promptly."""
        if max_count < 1:
            raise ValueError("max_count must be at least 1")
        deadline = Deadline(timeout)
        while True:
            got = self._poll_once(min(max_count, POLL_BATCH), deadline.slice_ms())
            if got or deadline.expired():
                break
        while got and len(got) < max_count:
            more = self._poll_once(min(max_count - len(got), POLL_BATCH), 0)
            if not more:
                break
            got.extend(more)
        return got

    def drain(self) -> List[Completion]:
        """Every completion waiting now, without waiting (a list, maybe empty)."""
        got: List[Completion] = []
        while True:
            more = self._poll_once(POLL_BATCH, 0)
            if not more:  # AOF_TIMED_OUT: empty (the eventfd is quiet again)
                return got
            got.extend(more)

    def completions(self, idle_timeout: Optional[float] = None) -> Iterator[Completion]:
        """A blocking iterator over the completions as they come, in the order posted. It
        ends when none came for `idle_timeout` seconds (None: never) or the queue is
        closed. Ctrl-C interrupts it promptly."""
        while True:
            if self.closed:
                return
            try:
                got = self.poll(timeout=idle_timeout)
            except ClosedError:
                return
            if not got:
                return
            yield from got

    __iter__ = completions

    def _log_closed(self, log):
        """A log attached to this queue was closed (its completions are all posted)."""

    def __repr__(self):
        return f"<aof.CompletionQueue{' closed' if self.closed else ''}>"


def attach(log, queue):
    """log.set_completion_queue(queue): attach (or detach with None)."""
    _require_api()
    if log._bridge is not None:
        raise RuntimeError("this log's completions go to asyncio (append_durable)")
    handle = None if queue is None else queue._ptr()
    check(_ffi.lib().aof_log_set_completion_queue(log._h, handle))
    if queue is not None:
        queue._logs[log._h] = log
    log._queue = queue


def append_async(log, data, user_data=None):
    """Log.append_async: appends now, returns the id; the completion comes to the queue."""
    _require_api()
    queue = log._queue
    if queue is None:
        # libaof refuses it (no queue attached, or the log is closed): its status and
        # message say which.
        buf, n = as_buffer(data)
        out = c_uint64()
        check(_ffi.lib().aof_append_async(log._h, buf, n, None, byref(out)))
        return out.value
    buf, n = as_buffer(data)
    key = queue._register(user_data)  # before the call: the completion may come at once
    out = c_uint64()
    status = _ffi.lib().aof_append_async(log._h, buf, n, key, byref(out))
    if status != OK:
        error = make_error(status)
        queue._tokens.pop(key, None)  # no completion will come for it
        raise error
    id = out.value
    return id


class _AsyncBridge:
    """The asyncio side of one log: its own completion queue, whose eventfd the loop
    watches; a Future per append, carried as the append's user_data."""

    def __init__(self, log, loop):
        self.log = log
        self.loop = loop
        self.thread = threading.get_ident()
        self.queue = CompletionQueue()
        try:
            check(_ffi.lib().aof_log_set_completion_queue(log._h, self.queue._h))
            self.queue._logs[log._h] = log
            self.fd = self.queue.fd
            loop.add_reader(self.fd, self._on_readable)
        except BaseException:
            self.queue._finalizer.detach()
            _ffi.lib().aof_completion_queue_free(self.queue._h)
            raise
        self.room = asyncio.Event()
        self.finished = False

    def in_flight(self):
        return len(self.queue._tokens)

    def _on_readable(self):
        try:
            got = self.queue.drain()
        except AofError as e:  # the queue itself failed: nothing more will come
            self._fail_all(e)
            return
        for c in got:
            fut = c.user_data
            if fut is None or fut.done():
                continue  # cancelled by its caller: the record is appended all the same
            if c.status == OK:
                fut.set_result(c.id)
            else:
                fut.set_exception(c.error)
        if got:
            self.room.set()

    def _fail_all(self, error):
        for fut in list(self.queue._tokens.values()):
            if fut is not None and not fut.done():
                fut.set_exception(error)
        self.queue._tokens.clear()
        self.room.set()

    def log_closed(self):
        """The log was closed (by any thread): every completion is posted; settle them on
        the loop's thread."""
        if self.thread == threading.get_ident():
            self.finish()
            return
        try:
            self.loop.call_soon_threadsafe(self.finish)
        except RuntimeError:  # the loop is closed: nobody awaits the futures any more
            self.finish(loop_alive=False)

    def finish(self, loop_alive=True):
        """Drains the queue one last time, fails what is left with ClosedError, stops
        watching the eventfd and frees the queue. Idempotent; on the loop's thread."""
        if self.finished:
            return
        self.finished = True
        if loop_alive and not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
            self._on_readable()
            self._fail_all(
                ClosedError("the log was closed before the append's completion came", status=ERR_CLOSED)
            )
        self.queue._tokens.clear()
        if self.log._bridge is self:
            self.log._bridge = None
        try:
            self.queue.close()
        except AofError:
            pass  # still attached to an open log (cannot happen after close): leave it


async def append_durable(log, data):
    """Log.append_durable: appends now, returns the id once the record is durable."""
    _require_api()
    loop = asyncio.get_running_loop()
    if log.closed:
        raise ClosedError("the log was closed", status=ERR_CLOSED)
    if log._queue is not None:
        raise RuntimeError(
            "this log has a CompletionQueue attached (append_async); append_durable needs "
            "the log's completions for itself"
        )
    bridge = log._bridge
    if bridge is None:
        bridge = log._bridge = _AsyncBridge(log, loop)
    elif bridge.loop is not loop:
        raise RuntimeError("the log's append_durable is bound to another event loop")
    buf, n = as_buffer(data)
    fn = _ffi.lib().aof_append_async
    tokens = bridge.queue._tokens
    while True:
        fut = loop.create_future()
        key = next(_keys)
        tokens[key] = fut  # before the call: the completion may be posted at once
        out = c_uint64()
        status = fn(log._h, buf, n, key, byref(out))
        if status == OK:
            break
        error = make_error(status)
        del tokens[key]  # no completion will come for it
        if status == ERR_WOULD_BLOCK and tokens:
            # The in-flight bound is reached (async_wait_ms < 0): wait for a completion
            # of ours to make room, without blocking the loop, and try again.
            bridge.room.clear()
            await bridge.room.wait()
            continue
        raise error
    return await fut
