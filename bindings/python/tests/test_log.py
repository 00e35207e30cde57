"""Log: appends, reads, batches, bounds, truncation, reopen, context managers."""

import os
import random
from datetime import datetime, timedelta, timezone

import pytest

import aof


def payloads(n, seed=1, max_len=3000):
    rng = random.Random(seed)
    out = [b"", b"\0", bytes(range(256))]
    while len(out) < n:
        out.append(rng.randbytes(rng.randrange(max_len)))
    return out[:n]


def test_round_trip_byte_exact_dense_ids(log):
    data = payloads(300)
    ids = [log.append(p) for p in data]
    assert ids == list(range(1, len(data) + 1))
    for id, p in zip(ids, data):
        assert log.read(id) == p
        assert log[id] == p
    assert log.last_id == len(data)
    assert log.durable_id == len(data)  # the default policy syncs every append
    assert [r.data for r in log] == data


def test_read_larger_than_the_first_buffer(log):
    # aof_read reports AOF_ERR_BUFFER_TOO_SMALL and the size needed; read() retries.
    big = os.urandom(200_000)
    small = b"s" * 10
    a, b, c = log.append(big), log.append(small), log.append(big[:5000])
    assert log.read(a) == big
    assert log.read(b) == small
    assert log.read(c) == big[:5000]
    assert log.read(a) == big


def test_bytes_like_inputs(log):
    ba = bytearray(b"bytearray")
    ids = [
        log.append(b"bytes"),
        log.append(ba),
        log.append(memoryview(b"xxmemoryview")[2:]),
        log.append(memoryview(bytearray(b"writable view"))),
        log.append(memoryview(bytes(range(8))).cast("I")),  # 2 unsigned ints: 8 bytes
        log.append(b""),
    ]
    assert [log.read(i) for i in ids] == [
        b"bytes",
        b"bytearray",
        b"memoryview",
        b"writable view",
        bytes(range(8)),
        b"",
    ]
    with pytest.raises(TypeError):
        log.append("a str is not bytes")


def test_append_batch(log):
    first = log.append(b"before")
    batch = [b"a", bytearray(b"bb"), b"", memoryview(b"dddd"), b"e" * 5000]
    start = log.append_batch(batch)
    assert start == first + 1
    assert log.last_id == first + len(batch)
    assert [log.read(start + i) for i in range(len(batch))] == [bytes(b) for b in batch]
    assert log.metrics()["batches"] == 1
    with pytest.raises(aof.InvalidArgumentError):
        log.append_batch([])


def test_read_record_and_timestamps(log):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    id1 = log.append(b"abc")
    id2 = log.append(b"defg")
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    r = log.read_record(id2)
    assert isinstance(r, aof.Record)
    assert (r.id, r.position, r.data) == (id2, 3, b"defg")
    assert r.timestamp.tzinfo is timezone.utc
    assert before <= r.timestamp <= after
    assert r.timestamp_us == int((r.timestamp - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1e6 + 0.5)
    with pytest.raises(AttributeError):
        r.data = b"records are immutable"
    assert log.position_of(id1) == 0
    assert log.id_at_position(3) == id2
    assert log.position_range() == (0, 7)


def test_flush_sync_until_bounds(log_dir, small):
    with aof.open(log_dir, flush="periodic", interval_ms=3_600_000, **small) as log:
        assert log.bounds() == aof.Bounds(1, 0)
        ids = [log.append(b"x%d" % i) for i in range(10)]
        assert log.last_id == 10
        assert log.durable_id == 0  # nothing synced yet: the timer is an hour away
        with pytest.raises(aof.TimedOutError) as e:
            log.sync_until(ids[-1], timeout=0.05)
        assert isinstance(e.value, TimeoutError)
        assert e.value.status == 2 and e.value.name == "AOF_TIMED_OUT"
        log.flush()
        assert log.durable_id == 10
        log.sync_until(ids[-1], timeout=0)
        log.sync_until(ids[-1])
        assert log.bounds() == (1, 10)
        with pytest.raises(aof.InvalidArgumentError):
            log.sync_until(11, timeout=0)


def test_truncate_before(log_dir):
    with aof.open(log_dir, segment_size=4096, zero_ahead=0) as log:
        for i in range(200):
            log.append(b"r" * 100 + b"%d" % i)
        log.truncate_before(150)
        first, last = log.bounds()
        assert 1 < first <= 150 and last == 200
        with pytest.raises(aof.TruncatedError) as e:
            log.read(1)
        assert e.value.name == "AOF_ERR_TRUNCATED"
        assert isinstance(e.value, LookupError)
        assert log.read(150).endswith(b"149")
        assert log.metrics()["segments_deleted"] > 0


def test_reopen_keeps_records_and_verify(log_dir, small):
    data = payloads(100, seed=7)
    with aof.open(log_dir, **small) as log:
        first = log.append_batch(data)
        assert log.verify() == len(data)
    with aof.Log.open(log_dir, **small) as log:
        assert log.last_id == len(data)
        assert [log.read(first + i) for i in range(len(data))] == data
        assert log.metrics()["recovery_clean_shutdown"] == 1
        log.seal_now()
        assert log.verify() == len(data)


def test_context_manager_closes(log_dir, small):
    with aof.open(log_dir, **small) as log:
        log.append(b"x")
        assert not log.closed
    assert log.closed
    with pytest.raises(aof.ClosedError):
        log.append(b"y")
    log.close()  # a second close does nothing
    # The directory was released: it opens again.
    with aof.open(log_dir, **small) as again:
        assert again.read(1) == b"x"


def test_one_handle_per_directory(log, log_dir, small):
    with pytest.raises(aof.BusyError) as e:
        aof.open(log_dir, **small)
    assert e.value.name == "AOF_ERR_BUSY"
    assert "locked" in e.value.message


def test_garbage_collected_log_is_closed(log_dir, small):
    import gc

    log = aof.open(log_dir, **small)
    log.append(b"x")
    del log
    gc.collect()
    with aof.open(log_dir, **small) as log:
        assert log.read(1) == b"x"


def test_threads_share_a_log(log):
    import threading

    per_thread, threads = 200, 4
    got = [[] for _ in range(threads)]

    def work(k):
        for i in range(per_thread):
            got[k].append(log.append(b"%d:%d" % (k, i)))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    all_ids = sorted(i for g in got for i in g)
    assert all_ids == list(range(1, per_thread * threads + 1))
    for k in range(threads):
        assert got[k] == sorted(got[k])
        assert [log.read(i) for i in got[k]] == [b"%d:%d" % (k, i) for i in range(per_thread)]


def test_repr(log):
    assert "aof.Log" in repr(log)
