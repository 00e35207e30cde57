"""Metrics: the dict named by the library, and the Prometheus text."""

from prometheus_client.parser import text_string_to_metric_families

import aof


def test_fields_come_from_the_library(log):
    lib = aof.load_library()
    names = aof.metric_names()
    assert len(names) == lib.aof_metrics_field_count()
    assert names[0] == "appends"
    m = log.metrics()
    assert list(m) == list(names)
    assert all(isinstance(v, int) for v in m.values())


def test_counts_after_n_appends(log):
    n = 37
    for i in range(n):
        log.append(b"x" * i)
    log.read(5)
    m = log.metrics()
    assert m["appends"] == n
    assert m["append_bytes"] == sum(range(n))
    assert m["last_id"] == n
    assert m["durable_id"] == n
    assert m["reads"] == 1
    assert m["read_bytes"] == 4
    assert m["append_latency_ns_count"] == n
    assert m["append_latency_ns_min"] <= m["append_latency_ns_p50"] <= m["append_latency_ns_max"]
    log.reset_metrics()
    m = log.metrics()
    assert m["append_latency_ns_count"] == 0
    assert m["appends"] == n  # counters are never reset


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_text_parses(log, log_dir):
    for i in range(5):
        log.append(b"abc")
    fams = families(log.prometheus())
    label = {"log": str(log_dir)}
    appends = fams["aof_appends"]
    assert appends.type == "counter"
    assert [(s.name, s.labels, s.value) for s in appends.samples] == [
        ("aof_appends_total", label, 5.0)
    ]
    assert fams["aof_append_bytes"].samples[0].value == 15
    assert fams["aof_last_id"].type == "gauge"
    assert fams["aof_last_id"].samples[0].value == 5
    latency = fams["aof_append_latency_seconds"]
    assert latency.type == "summary"
    quantiles = {s.labels.get("quantile") for s in latency.samples}
    assert {"0", "0.5", "0.9", "0.99", "0.999", "1"} <= quantiles
    count = [s for s in latency.samples if s.name == "aof_append_latency_seconds_count"]
    assert count[0].value == 5
    for fam in fams.values():
        for s in fam.samples:
            assert s.labels["log"] == str(log_dir)


def test_manager_prometheus_with_two_logs(tmp_path):
    with aof.Manager(tmp_path / "root", worker_threads=1) as m:
        a = m.open_log("alpha", segment_size=1 << 20)
        b = m.open_log("beta", segment_size=1 << 20)
        for i in range(3):
            a.append(b"a")
        b.append(b"b")
        fams = families(m.prometheus())
        samples = {s.labels["log"]: s.value for s in fams["aof_appends"].samples}
        assert samples == {"alpha": 3, "beta": 1}
        # Each family once, one sample per log.
        assert len(fams["aof_last_id"].samples) == 2
        assert families(a.prometheus())["aof_appends"].samples[0].labels == {"log": "alpha"}
