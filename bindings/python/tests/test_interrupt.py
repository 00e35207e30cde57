"""Ctrl-C: every blocking wait is made of short C waits, so a signal ends it promptly."""

import _thread
import signal
import threading
import time

import pytest

import aof

# The waits are cut into slices of 100 ms; allow generously for a slow machine.
PROMPT_S = 2.0


class Alarm:
    """Raises KeyboardInterrupt in the main thread after `delay` seconds, from SIGALRM (as
    Ctrl-C's SIGINT would)."""

    def __init__(self, delay):
        self.delay = delay

    def __enter__(self):
        def handler(signum, frame):
            raise KeyboardInterrupt

        self.old = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, self.delay)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        self.elapsed = time.monotonic() - self.t0


def lazy_log(log_dir):
    # Nothing becomes durable on its own for an hour.
    return aof.open(log_dir, segment_size=1 << 20, flush="periodic", interval_ms=3_600_000)


def test_sync_until_ends_on_a_signal(log_dir):
    with lazy_log(log_dir) as log:
        id = log.append(b"never durable on its own")
        with Alarm(0.3) as alarm:
            with pytest.raises(KeyboardInterrupt):
                log.sync_until(id)  # no timeout: would wait an hour
        assert alarm.elapsed < 0.3 + PROMPT_S
        # The log is fine afterwards.
        log.flush()
        log.sync_until(id, timeout=0)


def test_cursor_wait_ends_on_interrupt_main(log):
    c = log.cursor(aof.END_OF_LOG)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            c.wait()
    finally:
        timer.join()
    assert time.monotonic() - t0 < 0.3 + PROMPT_S
    log.append(b"x")
    assert c.wait(5) and c.next().data == b"x"
    c.close()


def test_follow_ends_on_a_signal(log):
    with Alarm(0.3) as alarm:
        with pytest.raises(KeyboardInterrupt):
            for _ in log.tail():
                pass
    assert alarm.elapsed < 0.3 + PROMPT_S


@pytest.mark.skipif("not aof.has_completion_api()")
def test_completion_poll_ends_on_a_signal():
    with aof.CompletionQueue() as q:
        with Alarm(0.3) as alarm:
            with pytest.raises(KeyboardInterrupt):
                q.poll(timeout=None)
        assert alarm.elapsed < 0.3 + PROMPT_S
