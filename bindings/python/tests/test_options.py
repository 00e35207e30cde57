"""Options: each keyword reaches its aof_options_set_* call."""

import pytest

import aof


def test_defaults_open(log_dir):
    with aof.open(log_dir) as log:
        log.append(b"x")
        assert log.durable_id == 1


def test_segment_size_sets_the_record_limit(log_dir):
    with aof.open(log_dir, segment_size=64 * 1024, zero_ahead=0) as log:
        log.append(b"x" * (64 * 1024 - 160))
        with pytest.raises(aof.TooLargeError):
            log.append(b"x" * (64 * 1024 - 159))
        for _ in range(3):
            log.append(b"y" * 40_000)
        assert log.metrics()["segments_created"] >= 4


def test_max_record_size(log_dir):
    with aof.open(log_dir, segment_size=1 << 20, max_record_size=1000, zero_ahead=0) as log:
        log.append(b"x" * 1000)
        with pytest.raises(aof.TooLargeError):
            log.append(b"x" * 1001)
    with pytest.raises(aof.InvalidArgumentError) as e:
        aof.open(log_dir, segment_size=1 << 20, max_record_size=1 << 20)
    assert "aof_open" in e.value.message


@pytest.mark.parametrize(
    "flush",
    ["sync", "async", "batched", "periodic", "batched_or_periodic", aof.FlushPolicy.BATCHED, 2],
)
def test_every_flush_policy(log_dir, flush):
    with aof.open(log_dir, segment_size=1 << 20, flush=flush, batch_records=4, interval_ms=5) as log:
        ids = [log.append(b"%d" % i) for i in range(20)]
        log.sync_until(ids[-1], timeout=30)
        assert log.durable_id >= ids[-1]


def test_periodic_policy_waits_for_its_timer(log_dir):
    with aof.open(log_dir, segment_size=1 << 20, flush="periodic", interval_ms=3_600_000) as log:
        log.append(b"x")
        assert log.durable_id == 0
        m = log.metrics()
        assert m["pending_records"] == 1
        log.flush()
        assert log.durable_id == 1


def test_batched_policy_syncs_after_its_batch(log_dir):
    with aof.open(log_dir, segment_size=1 << 20, flush="batched", batch_records=10) as log:
        for i in range(10):
            log.append(b"%d" % i)
        log.sync_until(10, timeout=30)
        assert log.metrics()["flushes_batched"] >= 1


def test_bad_flush_settings():
    with pytest.raises(ValueError, match="unknown flush policy"):
        aof.Options(flush="sometimes")
    with pytest.raises(aof.InvalidArgumentError):
        aof.Options(flush="batched", batch_records=0)
    with pytest.raises(ValueError):
        aof.Options(flush=17)
    with pytest.raises(TypeError, match="flush="):
        aof.Options(batch_records=64)  # without a policy it would be ignored


def test_visibility_durable(log_dir):
    with aof.open(
        log_dir, segment_size=1 << 20, flush="periodic", interval_ms=3_600_000, visibility="durable"
    ) as log:
        id = log.append(b"not durable yet")
        with pytest.raises(aof.NotFoundError):
            log.read(id)
        assert list(log.cursor()) == []
        log.flush()
        assert log.read(id) == b"not durable yet"
    with aof.open(log_dir, visibility=aof.Visibility.WRITTEN, segment_size=1 << 20) as log:
        assert log.read(1) == b"not durable yet"
    with pytest.raises(ValueError):
        aof.Options(visibility="sometimes")


def test_retention_by_segments(log_dir):
    with aof.open(log_dir, segment_size=4096, zero_ahead=0, retention_segments=2) as log:
        for i in range(300):
            log.append(b"r" * 100)
        # Retention runs in the background after each roll.
        import time

        deadline = time.monotonic() + 10
        while log.bounds().first == 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.bounds().first > 1
        with pytest.raises(aof.TruncatedError):
            log.read(1)
    with pytest.raises(aof.InvalidArgumentError):
        aof.open(log_dir, segment_size=1 << 20, retention_bytes=4096)


def test_preallocate_zero_ahead_histograms(log_dir):
    with aof.open(
        log_dir, segment_size=1 << 20, preallocate_threshold=0, zero_ahead=8192, histograms=False
    ) as log:
        for i in range(5):
            log.append(b"x")
        m = log.metrics()
        assert m["appends"] == 5
        assert m["append_latency_ns_count"] == 0  # distributions are off
    with pytest.raises(aof.InvalidArgumentError):
        aof.Options(preallocate_threshold=101)
    with pytest.raises(aof.InvalidArgumentError):
        aof.Options(zero_ahead=2 << 30)


def test_tiering(log_dir):
    with aof.open(log_dir, segment_size=4096, zero_ahead=0, compression_level=1, frame_size=4096) as log:
        for i in range(200):
            log.append(b"compressible " * 8)
        assert log.compress_now() >= 1
        assert log.read(1) == b"compressible " * 8
        assert log.metrics()["segments_compressed"] >= 1
    with pytest.raises(aof.InvalidArgumentError):
        aof.Options(frame_size=100)


def test_options_object_is_reusable_and_copied(tmp_path):
    opts = aof.Options(segment_size=1 << 20, flush="async")
    assert "segment_size=1048576" in repr(opts)
    assert opts.settings() == {"segment_size": 1 << 20, "flush": "async"}
    with aof.open(tmp_path / "a", opts) as a, aof.Log(tmp_path / "b", options=opts) as b:
        a.append(b"a")
        b.append(b"b")
    opts.close()
    with pytest.raises(ValueError):
        aof.open(tmp_path / "c", opts)
    with pytest.raises(TypeError):
        aof.open(tmp_path / "c", opts, segment_size=4096)
    with pytest.raises(TypeError):
        aof.Options(no_such_option=1)


def test_manager_options(tmp_path):
    with pytest.raises(aof.InvalidArgumentError):
        aof.ManagerOptions(worker_threads=0)
    with pytest.raises(aof.InvalidArgumentError):
        aof.ManagerOptions(cache_hot_bytes=1024)
    opts = aof.ManagerOptions(
        worker_threads=1,
        max_blocking_threads=4,
        cache_hot_bytes=1 << 20,
        cache_frame_bytes=1 << 20,
        cache_wait_ms=-1,
        archive_dir=tmp_path / "archive",
        archive_prefix="p/",
        archive_max_pending_segments=10,
        archive_retries={"max_attempts": 2},
    )
    with aof.Manager(tmp_path / "root", opts) as m:
        with m.open_log("t", segment_size=4096, zero_ahead=0, archive_after=1) as log:
            for i in range(100):
                log.append(b"a" * 100)
    assert (tmp_path / "archive").is_dir()
