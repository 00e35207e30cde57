"""Argument conversions shared by the modules: integers checked against their C type (ctypes
would silently wrap them), byte buffers passed without a copy where possible, paths."""

import ctypes
import os
import time

from . import _ffi
from .errors import ERR_INVALID_ARG, InvalidArgumentError

_RANGES = {
    ctypes.c_uint32: (0, (1 << 32) - 1),
    ctypes.c_uint64: (0, (1 << 64) - 1),
    ctypes.c_int32: (-(1 << 31), (1 << 31) - 1),
    ctypes.c_int64: (-(1 << 63), (1 << 63) - 1),
    ctypes.c_size_t: (0, (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1),
}

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


def check_int(value, ctype, what):
    """`value` as an int that fits `ctype`; TypeError or InvalidArgumentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = value.__index__()
        except AttributeError:
            raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
    lo, hi = _RANGES[ctype]
    if not lo <= value <= hi:
        raise InvalidArgumentError(
            f"{what} = {value} is outside the range of its C type ({lo} ..= {hi})",
            status=ERR_INVALID_ARG,
        )
    return value


def checked_args(fn_name, args):
    """`args` of the C function `fn_name` (after its handle), integers range-checked."""
    fn = getattr(_ffi.lib(), fn_name)
    out = []
    for i, (ctype, value) in enumerate(zip(fn.argtypes[1:], args), start=1):
        if ctype in _RANGES:
            value = check_int(value, ctype, f"{fn_name} argument {i}")
        out.append(value)
    return out


def as_buffer(data):
    """(something ctypes passes as `const uint8_t *`, its length) for a bytes-like object.

    bytes is passed as is; a writable buffer (bytearray, writable memoryview) through
    from_buffer, without a copy; anything else supporting the buffer protocol is copied
    once. str is refused: encode it first."""
    if isinstance(data, bytes):
        return data, len(data)
    if isinstance(data, str):
        raise TypeError("records are bytes: encode the str first (e.g. s.encode())")
    view = memoryview(data)
    if not view.c_contiguous:
        data = view.tobytes()
        return data, len(data)
    view = view.cast("B")
    n = view.nbytes
    if n == 0:
        return None, 0
    if view.readonly:
        return view.tobytes(), n
    return (ctypes.c_char * n).from_buffer(view), n


def address_of(data):
    """(address, length, keep-alive) of a bytes-like object, for arrays of pointers."""
    buf, n = as_buffer(data)
    if n == 0:
        return None, 0, None
    if isinstance(buf, bytes):
        return ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value, n, buf
    return ctypes.addressof(buf), n, buf


def fspath(path):
    """A path (str, bytes or os.PathLike) as the NUL-terminated bytes libaof takes."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("a path cannot hold a NUL byte")
    return raw


def name_bytes(name):
    raw = name.encode() if isinstance(name, str) else bytes(name)
    if b"\0" in raw:
        raise ValueError("a name cannot hold a NUL byte")
    return raw


class Deadline:
    """A timeout in seconds (None: no limit) cut into C waits of at most WAIT_SLICE_MS."""

    __slots__ = ("_end",)

    def __init__(self, timeout):
        if timeout is None:
            self._end = None
        else:
            if timeout < 0:
                raise ValueError("timeout must be non-negative or None")
            self._end = time.monotonic() + timeout

    def slice_ms(self):
        """The next C wait, in milliseconds (0 once the deadline passed)."""
        if self._end is None:
            return _ffi.WAIT_SLICE_MS
        left = self._end - time.monotonic()
        if left <= 0:
            return 0
        return min(_ffi.WAIT_SLICE_MS, max(1, int(left * 1000 + 0.999)))

    def expired(self):
        return self._end is not None and time.monotonic() >= self._end
