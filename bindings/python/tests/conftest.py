"""Test setup: import the package from this source tree, give each test a watchdog."""

import faulthandler
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import aof  # noqa: E402

# A test that hangs dumps every thread's stack and ends the run (exit status 1) instead of
# hanging CI.
TEST_TIMEOUT_S = float(os.environ.get("AOF_PYTEST_TIMEOUT", "300"))


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def log_dir(tmp_path):
    return tmp_path / "log"


@pytest.fixture
def small():
    """Options keywords for quick logs: 1 MiB segments, no zero-ahead."""
    return {"segment_size": 1 << 20, "zero_ahead": 0}


@pytest.fixture
def log(log_dir, small):
    with aof.open(log_dir, **small) as log:
        yield log


def pytest_report_header(config):
    return f"libaof {aof.library_version()} from {aof.library_path()}"
