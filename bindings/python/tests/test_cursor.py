"""Cursors: records copied out, starts, waits, the blocking follow() iterator."""

import threading
import time

import pytest

import aof


def test_iterates_records_byte_exact(log):
    data = [b"", b"a", b"\0\1\2", b"x" * 10_000]
    log.append_batch(data)
    with log.cursor() as c:
        records = list(c)
        assert [r.data for r in records] == data
        assert [r.id for r in records] == [1, 2, 3, 4]
        assert [r.position for r in records] == [0, 0, 1, 4]
        assert c.next() is None  # at the end: None, and iterating again gives nothing
        assert list(c) == []
        log.append(b"later")
        assert [r.data for r in c] == [b"later"]


def test_records_stay_valid_after_later_calls(log_dir, small):
    log = aof.open(log_dir, **small)
    for i in range(50):
        log.append(b"payload-%03d" % i + bytes([i]) * i)
    c = log.cursor()
    kept = [c.next() for _ in range(10)]
    c.wait(0)  # invalidates the borrowed data of the previous record in C
    kept += list(c)
    expected = [b"payload-%03d" % i + bytes([i]) * i for i in range(50)]
    assert [r.data for r in kept] == expected
    log.close()
    with pytest.raises(aof.ClosedError):
        c.next()
    c.close()
    # The bytes were copied: still intact with the cursor freed and the log closed.
    assert [r.data for r in kept] == expected
    assert all(isinstance(r.data, bytes) for r in kept)


def test_start_positions(log):
    for i in range(1, 11):
        log.append(b"%d" % i)
    assert [r.id for r in log.cursor(aof.OLDEST)] == list(range(1, 11))
    assert [r.id for r in log.cursor(7)] == [7, 8, 9, 10]
    assert [r.id for r in log.cursor(aof.NEWEST)] == [10]
    assert [r.id for r in log.cursor(aof.END_OF_LOG)] == []
    assert [r.id for r in log.cursor(11)] == []
    with pytest.raises(aof.NotFoundError):
        log.cursor(12)
    # by byte position: "1".."9" are one byte each, "10" two
    assert [r.id for r in log.cursor(position=4)] == [5, 6, 7, 8, 9, 10]
    with pytest.raises(aof.NotFoundError):
        log.cursor(position=100)


def test_wait_times_out_and_wakes(log):
    c = log.cursor(aof.END_OF_LOG)
    t0 = time.monotonic()
    assert c.wait(0.25) is False
    assert 0.2 <= time.monotonic() - t0 < 5
    assert c.wait(0) is False
    timer = threading.Timer(0.2, lambda: log.append(b"wake"))
    timer.start()
    try:
        assert c.wait(30) is True
    finally:
        timer.join()
    assert c.next().data == b"wake"
    c.close()


def test_follow_until_the_log_closes(log_dir, small):
    log = aof.open(log_dir, **small)
    log.append(b"first")
    got = []

    def writer():
        for i in range(100):
            log.append(b"%d" % i)
            if i % 10 == 0:
                time.sleep(0.01)
        time.sleep(0.2)
        log.close()

    t = threading.Thread(target=writer)
    with log.cursor() as c:
        t.start()
        for record in c.follow():
            got.append(record.data)
    t.join()
    assert got == [b"first"] + [b"%d" % i for i in range(100)]


def test_tail_with_idle_timeout(log):
    log.append(b"old")
    threading.Timer(0.1, lambda: log.append(b"new")).start()
    t0 = time.monotonic()
    got = [r.data for r in log.tail(idle_timeout=1.0)]
    assert got == [b"new"]
    assert time.monotonic() - t0 >= 1.0
    assert [r.data for r in log.tail(aof.OLDEST, idle_timeout=0)] == [b"old", b"new"]


def test_one_thread_at_a_time(log):
    c = log.cursor(aof.END_OF_LOG)
    started = threading.Event()
    result = []

    def waiter():
        started.set()
        result.append(c.wait(10))

    t = threading.Thread(target=waiter)
    t.start()
    started.wait()
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="one thread at a time"):
        c.next()
    log.append(b"x")
    t.join()
    assert result == [True]
    assert c.next().data == b"x"
    c.close()


def test_spin(log):
    with log.cursor() as c:
        c.set_spin(50)
        with pytest.raises(aof.InvalidArgumentError):
            c.set_spin(2_000_000)


def test_cursor_context_manager_frees(log):
    with log.cursor() as c:
        pass
    assert c.closed
    with pytest.raises(aof.ClosedError):
        c.next()
    c.close()
