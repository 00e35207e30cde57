"""Manager: logs by name, list, drop, close."""

import pytest

import aof


def test_open_list_drop(tmp_path):
    root = tmp_path / "root"
    with aof.Manager(root) as m:
        assert m.list() == []
        with m.open_log("orders-1", segment_size=1 << 20) as log:
            assert log.name == "orders-1"
            log.append(b"o1")
        m.open_log("orders-0", segment_size=1 << 20).close()
        assert m.list() == ["orders-0", "orders-1"]
        assert "orders-1" in m and list(m) == ["orders-0", "orders-1"]
        m.drop("orders-0")
        assert m.list() == ["orders-1"]
        with pytest.raises(aof.NoSuchLogError) as e:
            m.drop("orders-0")
        assert e.value.name == "AOF_ERR_NO_SUCH_LOG"
    with aof.Manager.open(root) as m:
        with m.open_log("orders-1") as log:
            assert log.read(1) == b"o1"


def test_drop_an_open_log_is_busy(tmp_path):
    with aof.Manager(tmp_path / "root") as m:
        log = m.open_log("busy", segment_size=1 << 20)
        with pytest.raises(aof.BusyError):
            m.drop("busy")
        with pytest.raises(aof.BusyError):
            m.open_log("busy")
        log.close()
        m.drop("busy")


def test_bad_names(tmp_path):
    with aof.Manager(tmp_path / "root") as m:
        for name in ("", ".hidden", "a/b", "x" * 201, "tab\there"):
            with pytest.raises(aof.InvalidArgumentError):
                m.open_log(name)
        with pytest.raises(ValueError):
            m.open_log("nul\0byte")


def test_close_closes_its_logs(tmp_path):
    m = aof.Manager(tmp_path / "root")
    a = m.open_log("a", segment_size=1 << 20)
    a.append(b"x")
    c = a.cursor()
    m.close()
    assert m.closed and a.closed
    with pytest.raises(aof.ClosedError):
        a.append(b"y")
    with pytest.raises(aof.ClosedError):
        c.next()
    c.close()
    a.close()  # nothing left to do
    with pytest.raises(aof.ClosedError):
        m.list()
    m.close()
    with aof.Manager(tmp_path / "root") as m, m.open_log("a") as a:
        assert a.read(1) == b"x"


def test_one_manager_per_root(tmp_path):
    with aof.Manager(tmp_path / "root"):
        with pytest.raises(aof.BusyError):
            aof.Manager(tmp_path / "root")


def test_missing_parent(tmp_path):
    with pytest.raises(aof.IoError):
        aof.Manager(tmp_path / "no" / "such" / "root")
    with pytest.raises(aof.IoError):
        aof.open(tmp_path / "no" / "such" / "log")
