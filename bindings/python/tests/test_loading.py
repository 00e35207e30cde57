"""Finding libaof: AOF_LIBRARY, the source tree, the dynamic loader; clear errors."""

import os
import subprocess
import sys

import aof

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code, **env):
    full = dict(os.environ)
    full.pop("AOF_LIBRARY", None)
    full.update(env)
    full["PYTHONPATH"] = PKG
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )


def test_loaded_library_and_version():
    path = aof.library_path()
    assert os.path.basename(path).startswith("libaof.so")
    if os.environ.get("AOF_LIBRARY"):
        assert path == os.environ["AOF_LIBRARY"]
    assert aof.library_version().startswith("0.1.")
    lib = aof.load_library()
    assert lib.aof_version_number() // 100 == 1  # 0.1.x


def test_bad_aof_library_names_what_was_tried(tmp_path):
    missing = str(tmp_path / "nope" / "libaof.so")
    r = run("import aof; aof.open('/tmp/x')", AOF_LIBRARY=missing)
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr
    assert "AOF_LIBRARY" in r.stderr and missing in r.stderr
    assert "no such file" in r.stderr


def test_not_a_libaof(tmp_path):
    r = run("import aof; aof.load_library()", AOF_LIBRARY="libc.so.6")
    assert r.returncode != 0
    assert "not libaof" in r.stderr


def test_import_does_not_load_the_library():
    # Loading happens on first use: importing works without a library.
    r = run("import aof, aof._ffi; print(aof._ffi._lib is None)", AOF_LIBRARY="/nonexistent.so")
    assert r.returncode == 0 and r.stdout.strip() == "True"


def test_source_tree_is_found_without_aof_library():
    r = run("import aof; print(aof.library_path())")
    repo = os.path.dirname(os.path.dirname(PKG))
    if os.path.exists(os.path.join(repo, "target", "release", "libaof.so")) or os.path.exists(
        os.path.join(repo, "target", "debug", "libaof.so")
    ):
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().startswith(os.path.join(repo, "target"))
