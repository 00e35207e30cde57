"""Asynchronous appends: completion queues polled by threads, futures under asyncio."""

import asyncio
import threading
import time

import pytest

import aof

pytestmark = pytest.mark.skipif(
    "not aof.has_completion_api()", reason="this libaof has no asynchronous appends"
)

SMALL = {"segment_size": 1 << 20, "zero_ahead": 0}
LAZY = dict(SMALL, flush="periodic", interval_ms=3_600_000)


def test_completion_error_mapping():
    c = aof.Completion(7, None, "tag", -10)
    assert not c.ok
    assert isinstance(c.error, aof.PoisonedError)
    assert "record 7" in c.error.message
    with pytest.raises(aof.PoisonedError):
        c.result()
    assert aof.Completion(8, None, None, 0).result() == 8
    assert isinstance(aof.Completion(9, None, None, -9).error, aof.ClosedError)


def test_thread_poll_iterator_exactly_once_in_order(log_dir):
    n = 3000
    with aof.CompletionQueue() as q, aof.open(log_dir, **SMALL) as log:
        log.set_completion_queue(q)
        assert log.completion_queue is q
        appended = []

        def producer():
            for i in range(n):
                appended.append(log.append_async(b"rec-%d" % i, user_data=("tag", i)))

        t = threading.Thread(target=producer)
        t.start()
        got = []
        for c in q.completions(idle_timeout=30):
            got.append(c)
            if len(got) == n:
                break
        t.join()
        assert appended == list(range(1, n + 1))
        assert [c.id for c in got] == appended  # each once, in id order
        assert all(c.ok and c.status == 0 for c in got)
        assert [c.user_data for c in got] == [("tag", i) for i in range(n)]
        assert all(c.log is log for c in got)
        assert q.poll(timeout=0) == []
        assert log.durable_id == n
        m = log.metrics()
        assert m["async_appends"] == n and m["async_completed"] == n
        assert log.read(n) == b"rec-%d" % (n - 1)
        log.close()


def test_close_completes_what_is_in_flight(log_dir):
    with aof.CompletionQueue() as q:
        log = aof.open(log_dir, **LAZY)
        log.set_completion_queue(q)
        ids = [log.append_async(b"%d" % i, i) for i in range(500)]
        assert q.poll(timeout=0.05) == []  # nothing is durable yet
        with pytest.raises(aof.BusyError):
            q.close()  # an open log is attached
        log.close()  # syncs: every append completes, durable
        got = q.poll(max_count=10_000, timeout=5)
        assert [c.id for c in got] == ids
        assert all(c.ok for c in got)
        assert [c.user_data for c in got] == list(range(500))
        with pytest.raises(aof.ClosedError):
            log.append_async(b"late")
    assert q.closed


def test_append_async_needs_a_queue(log):
    with pytest.raises(aof.InvalidArgumentError):
        log.append_async(b"x")


def test_poll_max_count_and_timeout(log_dir):
    with aof.CompletionQueue() as q, aof.open(log_dir, **SMALL) as log:
        log.set_completion_queue(q)
        for i in range(10):
            log.append_async(b"x")
        # Durable is not yet posted: libaof advances the durable id, then posts the
        # completions. Wait until all ten are posted (async_completed counts them).
        deadline = time.monotonic() + 30
        while log.metrics()["async_completed"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        first = q.poll(max_count=3, timeout=5)
        assert [c.id for c in first] == [1, 2, 3]
        rest = q.poll(max_count=100, timeout=5)
        assert [c.id for c in rest] == list(range(4, 11))
        t0 = time.monotonic()
        assert q.poll(timeout=0.2) == []
        assert time.monotonic() - t0 >= 0.19
        assert isinstance(q.fd, int) and q.fd >= 0


def test_asyncio_many_in_flight(log_dir):
    n = 10_000

    async def main():
        with aof.open(log_dir, **SMALL) as log:
            ids = await asyncio.gather(*(log.append_durable(b"a-%d" % i) for i in range(n)))
            assert log.durable_id >= n
            m = log.metrics()
            return ids, m, [log.read(i) for i in (1, n // 2, n)]

    ids, m, reads = asyncio.run(main())
    # Every future resolved with its id; ids dense and in call order.
    assert ids == list(range(1, n + 1))
    assert m["async_appends"] == n and m["async_completed"] == n
    # Group commit: far fewer syncs than records.
    assert m["syncs"] < n
    assert reads == [b"a-0", b"a-%d" % (n // 2 - 1), b"a-%d" % (n - 1)]


def test_asyncio_close_resolves_pending_futures(log_dir):
    n = 2000

    async def main():
        log = aof.open(log_dir, **LAZY)
        tasks = [asyncio.ensure_future(log.append_durable(b"%d" % i)) for i in range(n)]
        for _ in range(3):
            await asyncio.sleep(0)  # every task has appended and now waits
        assert log.last_id == n
        assert not any(t.done() for t in tasks)
        await log.aclose()
        done, pending = await asyncio.wait(tasks, timeout=30)
        assert not pending
        results = [t.result() for t in tasks]
        with pytest.raises(aof.ClosedError):
            await log.append_durable(b"after close")
        return results

    results = asyncio.run(main())
    assert results == list(range(1, n + 1))  # close synced them: all durable


def test_asyncio_sync_close_from_the_loop(log_dir):
    async def main():
        log = aof.open(log_dir, **LAZY)
        tasks = [asyncio.ensure_future(log.append_durable(b"x")) for _ in range(100)]
        await asyncio.sleep(0)
        log.close()  # blocks the loop for the final sync; the futures settle after
        return await asyncio.gather(*tasks, return_exceptions=True)

    assert asyncio.run(main()) == list(range(1, 101))


def test_asyncio_in_flight_bound_without_blocking_the_loop(log_dir):
    # With async_wait_ms < 0 libaof returns WouldBlockError past the bound; append_durable
    # then waits for a completion of its own, cooperatively, and tries again.
    async def main():
        with aof.open(log_dir, async_max_records=8, async_wait_ms=-1, **SMALL) as log:
            ids = await asyncio.gather(*(log.append_durable(b"%d" % i) for i in range(300)))
            return sorted(ids), log.metrics()["async_full"]

    ids, full = asyncio.run(main())
    assert ids == list(range(1, 301))
    assert full > 0


def test_asyncio_cancelled_append_is_still_appended(log_dir):
    async def main():
        with aof.open(log_dir, **LAZY) as log:
            task = asyncio.ensure_future(log.append_durable(b"cancelled"))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            other = asyncio.ensure_future(log.append_durable(b"kept"))
            await asyncio.sleep(0)
            log.flush()
            assert await asyncio.wait_for(other, 30) == 2
            return log.read(1)

    assert asyncio.run(main()) == b"cancelled"


def test_asyncio_and_a_manual_queue_do_not_mix(log_dir):
    async def main():
        with aof.CompletionQueue() as q, aof.open(log_dir, **SMALL) as log:
            log.set_completion_queue(q)
            with pytest.raises(RuntimeError):
                await log.append_durable(b"x")
            log.close()

    asyncio.run(main())


def test_two_logs_share_a_queue(tmp_path):
    n = 500
    with aof.CompletionQueue() as q:
        with aof.Manager(tmp_path / "root") as m:
            a = aof.open(tmp_path / "alone", completion_queue=q, **SMALL)
            b = m.open_log("managed", completion_queue=q, **SMALL)
            assert a.completion_queue is q and b.completion_queue is q
            for i in range(n):
                a.append_async(b"a", ("a", i))
                b.append_async(b"b", ("b", i))
            got = []
            for c in q.completions(idle_timeout=30):
                got.append(c)
                if len(got) == 2 * n:
                    break
            for log, tag in ((a, "a"), (b, "b")):
                mine = [c for c in got if c.log is log]
                assert [c.id for c in mine] == list(range(1, n + 1))  # each log in id order
                assert [c.user_data for c in mine] == [(tag, i) for i in range(n)]
            a.close()
        # The manager closed b: the queue has no open log left.
    assert q.closed


def test_detach_and_reattach(log_dir):
    with aof.CompletionQueue() as q1, aof.CompletionQueue() as q2:
        with aof.open(log_dir, completion_queue=q1, **SMALL) as log:
            log.append_async(b"1")
            assert q1.poll(timeout=30)[0].id == 1
            log.set_completion_queue(None)
            with pytest.raises(aof.InvalidArgumentError):
                log.append_async(b"no queue")
            log.set_completion_queue(q2)
            log.append_async(b"2")
            assert [c.id for c in q2.poll(timeout=30)] == [2]
            assert q1.poll(timeout=0) == []


def test_eventfd_with_selectors(log_dir):
    import selectors

    with aof.CompletionQueue() as q, aof.open(log_dir, completion_queue=q, **SMALL) as log:
        sel = selectors.DefaultSelector()
        sel.register(q.fd, selectors.EVENT_READ)
        assert sel.select(timeout=0) == []  # nothing waits
        for i in range(50):
            log.append_async(b"%d" % i, i)
        got = []
        while len(got) < 50:
            assert sel.select(timeout=30), "the eventfd never became readable"
            got += q.drain()  # drain until empty on each wake-up
        assert [c.user_data for c in got] == list(range(50))
        assert sel.select(timeout=0) == []  # drained: quiet again
        sel.close()
