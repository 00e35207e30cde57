"""Exceptions: one class per status, named by the library, with the thread's message."""

import pickle
import threading

import pytest

import aof
from aof import errors


def test_every_status_has_a_class_named_by_the_library():
    lib = aof.load_library()
    for code in list(range(-19, 0)) + [2]:
        cls = aof.error_class(code)
        assert cls is not aof.AofError, code
        assert cls.status == code
        e = cls("detail", status=code)
        assert e.name == lib.aof_status_name(code).decode()
        assert isinstance(e, aof.AofError)
        assert str(e) == f"{e.name}: detail"
    assert aof.status_name(0) == "AOF_OK"
    assert aof.status_name(-9) == "AOF_ERR_CLOSED"
    assert aof.error_class(-1000) is aof.AofError
    assert aof.AofError("x", status=-1000).name == "AOF_STATUS_-1000"
    assert aof.errstr(-9)  # static text


def test_not_found(log):
    log.append(b"only one")
    with pytest.raises(aof.NotFoundError) as e:
        log.read(2)
    err = e.value
    assert err.status == -4
    assert err.name == "AOF_ERR_NOT_FOUND"
    assert "aof_read" in err.message and "2" in err.message
    assert str(err).startswith("AOF_ERR_NOT_FOUND: aof_read")
    assert isinstance(err, LookupError)
    with pytest.raises(aof.NotFoundError):
        log.read(0)


def test_closed(log_dir, small):
    log = aof.open(log_dir, **small)
    log.append(b"x")
    cursor = log.cursor()
    log.close()
    for call in (
        lambda: log.append(b"y"),
        lambda: log.read(1),
        lambda: log.flush(),
        lambda: log.metrics(),
        lambda: log.last_id,
        lambda: log.prometheus(),
        lambda: cursor.next(),
    ):
        with pytest.raises(aof.ClosedError) as e:
            call()
        assert e.value.status == -9 and e.value.name == "AOF_ERR_CLOSED"
        assert "closed" in e.value.message
    cursor.close()
    with pytest.raises(aof.ClosedError):
        cursor.next()


def test_too_large(log_dir):
    with aof.open(log_dir, segment_size=1 << 20, zero_ahead=0) as log:
        limit = (1 << 20) - 160
        log.append(b"x" * limit)
        with pytest.raises(aof.TooLargeError) as e:
            log.append(b"x" * (limit + 1))
        assert e.value.name == "AOF_ERR_TOO_LARGE"
        assert str(limit + 1) in e.value.message
        assert isinstance(e.value, ValueError)
        with pytest.raises(aof.TooLargeError):
            log.append_batch([b"ok", b"x" * (limit + 1)])
        assert log.last_id == 1  # nothing of the batch was written


def test_invalid_argument_from_a_setter():
    with pytest.raises(aof.InvalidArgumentError) as e:
        aof.Options(segment_size=100)
    assert e.value.name == "AOF_ERR_INVALID_ARG"
    assert "aof_options_set_segment_size" in e.value.message


def test_integers_are_range_checked_before_ctypes_wraps_them(log):
    with pytest.raises(aof.InvalidArgumentError):
        aof.Options(preallocate_threshold=(1 << 32) + 50)  # would wrap to 50
    with pytest.raises(aof.InvalidArgumentError):
        log.read(-1)
    with pytest.raises(TypeError):
        log.read("1")
    with pytest.raises(TypeError):
        aof.Options(segment_size=1.5)


def test_last_error_is_per_thread(log):
    # A failure on another thread does not change this thread's message.
    log.append(b"x")
    with pytest.raises(aof.NotFoundError) as mine:
        log.read(5)

    def other():
        with pytest.raises(aof.InvalidArgumentError):
            aof.Options(segment_size=1)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors.last_error_message() == mine.value.message


def test_pickle_round_trip(log):
    with pytest.raises(aof.NotFoundError) as e:
        log.read(1)
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is aof.NotFoundError
    assert (again.status, again.name, again.message) == (-4, "AOF_ERR_NOT_FOUND", e.value.message)
