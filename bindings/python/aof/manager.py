"""Manager: many logs by name under one root directory, sharing one set of threads."""

from __future__ import annotations

import os
import threading
import weakref
from ctypes import byref, c_void_p
from typing import Any, Iterator, List, Optional

from . import _ffi
from ._util import fspath, name_bytes
from .errors import check, make_error
from .log import Log, _options, sized_text
from .options import ManagerOptions

__all__ = ["Manager"]


def _close_manager(close, handle):
    return close(handle)


class Manager:
    """The manager of directory `root` (created if missing, not its parents): each log in a
    subdirectory named after it, all on the manager's threads.

    Use it as a context manager, or call close(), which closes the logs it opened that are
    still open (their Log objects then raise ClosedError). May be shared by threads.
    """

    def __init__(self, root: Any, options: Optional[ManagerOptions] = None, **option_kwargs: Any):
        if options is not None and option_kwargs:
            raise TypeError("give either a ManagerOptions object or keywords, not both")
        opts = options if options is not None else ManagerOptions(**option_kwargs)
        if not isinstance(opts, ManagerOptions):
            raise TypeError(f"options must be an aof.ManagerOptions, not {type(opts).__name__}")
        lib = _ffi.lib()
        handle = c_void_p()
        check(lib.aof_manager_open(fspath(root), opts._ptr(), byref(handle)))
        self._h = handle.value
        self.root = root
        self._logs: weakref.WeakSet[Log] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_manager, lib.aof_manager_close, self._h)

    @classmethod
    def open(cls, root: Any, options: Optional[ManagerOptions] = None, **option_kwargs: Any) -> Manager:
        return cls(root, options, **option_kwargs)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def open_log(self, name: str, options: Any = None, **option_kwargs: Any) -> Log:
        """Opens (creating if needed) the log `name` (1 to 200 bytes of UTF-8, no '/', no
        control characters, no leading '.'), with `options` or Options keywords;
        `completion_queue=` attaches a CompletionQueue for append_async."""
        queue = option_kwargs.pop("completion_queue", None)
        opts = _options(options, option_kwargs)
        handle = c_void_p()
        check(_ffi.lib().aof_manager_open_log(self._h, name_bytes(name), opts._ptr(), byref(handle)))
        path = os.path.join(os.fsdecode(fspath(self.root)), name)
        log = Log._adopt(handle.value, path=path, name=name, manager=self)
        with self._lock:
            self._logs.add(log)
        log._attach_at_open(queue)
        return log

    def list(self) -> List[str]:
        """The names of the logs under the root, open or not, sorted bytewise."""
        raw = sized_text(_ffi.lib().aof_manager_list, self._h)
        # "a\0b\0\0" (sized_text dropped the final NUL): names each followed by a NUL.
        return [n.decode() for n in raw.split(b"\0") if n]

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __contains__(self, name: object) -> bool:
        return name in self.list()

    def drop(self, name: str) -> None:
        """Deletes the closed log `name` for good (durable and crash-safe). NoSuchLogError
        if there is none; BusyError if it is open."""
        check(_ffi.lib().aof_manager_drop_log(self._h, name_bytes(name)))

    drop_log = drop

    def prometheus(self) -> str:
        """The metrics of every open log of the manager in the Prometheus text format, one
        sample per log with its name as the `log` label."""
        return sized_text(_ffi.lib().aof_manager_metrics_prometheus, self._h).decode()

    def close(self) -> None:
        """Closes every log it opened that is still open (written, synced, sealed), then the
        manager. A second call does nothing."""
        with self._lock:
            if not self._finalizer.alive:
                return
            status = self._finalizer()
            error = make_error(status) if status is not None and status < 0 else None
            logs = list(self._logs)
        for log in logs:
            log._manager_closed()
        if error is not None:
            raise error

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self):
        return f"<aof.Manager root={self.root!r}{' closed' if self.closed else ''}>"
