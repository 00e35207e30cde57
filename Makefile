# libaof: build, test, install and demo.
#
#   make demo                  build the release library, compile and run examples_c/quickstart.c
#   make test                  everything: fmt, clippy, cargo test (incl. the header diff and,
#                              with --features failpoints, the fault-injection tests), C tests
#                              under ASan+UBSan and under valgrind, the header as C++, an
#                              install test, and each fuzz target for FUZZ_SECONDS
#   make valgrind              the C tests without sanitizers under valgrind memcheck
#   make fuzz-ci [FUZZ_SECONDS=60]  each cargo-fuzz target for FUZZ_SECONDS; fails on a crash
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make header                regenerate include/aof.h (cbindgen, as a library, via a test)
#   make python-test           the Python bindings' tests (bindings/python) against the release
#                              library
#   make deps                  install what a fresh Debian machine lacks (idempotent; libclang-dev
#                              for libmdbx's bindgen build, s3s-fs for the S3 archive tests, a
#                              Python venv in build/venv with pytest and prometheus_client)
#
# Build outputs go to target/ (cargo) and build/ (everything else); both are git-ignored.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
CC ?= cc
CXX ?= c++
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
BUILD := build

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
# Must match build.rs: 0.x minors may break the ABI, so 0.x sonames carry the minor.
SONAME_VERSION := $(if $(filter 0,$(VERSION_MAJOR)),$(VERSION_MAJOR).$(VERSION_MINOR),$(VERSION_MAJOR))

# Honour CARGO_TARGET_DIR like cargo does.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
RELEASE_DIR := $(TARGET_DIR)/release
DEBUG_DIR := $(TARGET_DIR)/debug

# System libraries the Rust static library needs, as rustc reports them (cached).
NATIVE_LIBS_FILE := $(BUILD)/native-static-libs.txt

# The C tests: strict C11, AddressSanitizer + UndefinedBehaviorSanitizer, any report fatal.
# They link the static library: the Rust code is not instrumented, but every allocation it
# makes goes through the ASan-intercepted malloc, so overflows of buffers libaof hands out
# and leaks are still caught.
WARN_C := -std=c11 -Wall -Wextra -Wpedantic -Werror
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CTEST_CFLAGS := $(WARN_C) $(SAN) -g -O1 -Iinclude
CTESTS := test_options test_log test_cursor test_errors test_metrics test_bad_input test_threads
CTESTS += test_manager
CTESTS += test_retention
CTESTS += test_positions
CTESTS += test_tiers
CTESTS += test_archive
CTESTS += test_async
export ASAN_OPTIONS := detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1

# The same C tests without sanitizers (valgrind and ASan do not mix), under memcheck: any
# error, and any definitely or indirectly lost block, fails the test (exit status 99).
# Under valgrind the threads test runs 1/VALGRIND_SCALE_DIV of its operations
# (AOFT_SCALE_DIV; every case still runs).
VALGRIND ?= valgrind
VALGRIND_CFLAGS := $(WARN_C) -g -O1 -Iinclude
VALGRIND_FLAGS := --tool=memcheck --error-exitcode=99 --leak-check=full \
    --suppressions=ctests/valgrind.supp \
    --errors-for-leak-kinds=definite,indirect --track-origins=yes
VALGRIND_SCALE_DIV ?= 5

# cargo-fuzz targets (fuzz/), each run for FUZZ_SECONDS by make fuzz-ci.
FUZZ_TARGETS := decode_record recover_image
FUZZ_SECONDS ?= 60
# recover_image opens a log per input, and each log opened alone has a catalogue whose
# libmdbx binding runs write transactions on a detached thread: the thread exits, and
# frees its thread-local channel state, only after the environment is dropped, which is
# after libFuzzer's per-input leak check has counted it. So that target runs without the
# per-input leak check; leaks are still checked at exit by the C tests under ASan and
# valgrind, and decode_record keeps the check.
FUZZ_RECOVER_IMAGE_FLAGS := -detect_leaks=0
CARGO_FUZZ_VERSION := 0.13.2
# The S3-compatible server the S3 archive tests run against (newer versions need a newer rustc).
S3S_FS_VERSION := 0.14.1

# The Python bindings' tests run in a venv of their own (build/venv, made by make deps with
# the machine's python3), with these pinned versions.
PYTHON ?= python3
PY_VENV := $(BUILD)/venv
PY_TEST_DEPS := pytest==9.2.0 prometheus-client==0.26.0

# The stages of make test, in order.
TEST_STAGES := check-fmt clippy cargo-test python-test ctest valgrind cxx-header install-test fuzz-ci

.PHONY: all release debug demo test check-fmt clippy cargo-test python-test python-deps ctest \
        valgrind cxx-header fuzz-ci install install-test header deps clean-build

all: release

release:
	$(CARGO) build --release --lib

debug:
	$(CARGO) build --lib

# --- system tools ------------------------------------------------------------------------

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

deps:
	@missing=""; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v timeout >/dev/null || missing="$$missing coreutils"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	dpkg-query -W -f='$${Status}' libclang-dev 2>/dev/null | grep -q '^install ok installed$$' || \
	    missing="$$missing libclang-dev"; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing libc6-dev; \
	else \
	    echo "deps: pkg-config, gcc, g++, valgrind, libclang-dev present"; \
	fi
	@test -x "$(CARGO)" || { echo "error: cargo not found (install Rust: https://rustup.rs)"; exit 1; }
	@if command -v rustup >/dev/null || [ -x "$(HOME)/.cargo/bin/rustup" ]; then \
	    rustup=$$(command -v rustup || echo $(HOME)/.cargo/bin/rustup); \
	    installed=$$($$rustup component list --installed); \
	    for c in rustfmt clippy; do \
	        grep -q "^$$c" <<<"$$installed" || $$rustup component add $$c; \
	    done; \
	fi
	@# The S3 archive tests (tests/archive_s3.rs) start s3s-fs themselves.
	@if command -v s3s-fs >/dev/null || [ -x "$(HOME)/.cargo/bin/s3s-fs" ]; then \
	    echo "deps: s3s-fs present"; \
	else \
	    echo "installing s3s-fs $(S3S_FS_VERSION)"; \
	    $(CARGO) install s3s-fs@$(S3S_FS_VERSION) --features binary --locked; \
	fi
	@$(MAKE) --no-print-directory python-deps

# A venv for the Python tests: isolated from the system's packages (Debian's python3 refuses
# pip installs outside one), created once, its pins checked on every run. Debian's own
# python3 needs python3-venv for it.
python-deps:
	@if [ ! -x $(PY_VENV)/bin/python3 ]; then \
	    echo "creating the Python venv $(PY_VENV) ($$($(PYTHON) --version))"; \
	    if ! $(PYTHON) -m venv $(PY_VENV) >/dev/null 2>&1; then \
	        rm -rf $(PY_VENV); \
	        $(SUDO) apt-get update -qq; \
	        $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; \
	        $(PYTHON) -m venv $(PY_VENV); \
	    fi; \
	fi
	@installed=$$($(PY_VENV)/bin/python3 -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-'); \
	missing=""; \
	for pin in $(PY_TEST_DEPS); do \
	    grep -qx "$$pin" <<<"$$installed" || missing="$$missing $$pin"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing into $(PY_VENV):$$missing"; \
	    $(PY_VENV)/bin/python3 -m pip install -q --disable-pip-version-check $$missing; \
	else \
	    echo "deps: Python venv $(PY_VENV) with $(PY_TEST_DEPS)"; \
	fi

$(NATIVE_LIBS_FILE): Cargo.toml Cargo.lock
	@mkdir -p $(BUILD)
	@# rustc prints the list only when it compiles the crate; if cargo finds it fresh, ask
	@# rustc about an empty staticlib instead (the same list while no dependency links a
	@# native library of its own).
	@libs=$$($(CARGO) rustc -q --release --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
	    | sed -n 's/.*native-static-libs: //p' | tail -n1); \
	if [ -z "$$libs" ]; then \
	    echo > $(BUILD)/empty.rs; \
	    libs=$$(rustc --crate-type staticlib --crate-name empty --print native-static-libs \
	        -o $(BUILD)/libempty.a $(BUILD)/empty.rs 2>&1 | sed -n 's/.*native-static-libs: //p'); \
	fi; \
	test -n "$$libs"; \
	echo "$$libs" > $@
	@echo "native static libs: $$(cat $@)"

# --- demo --------------------------------------------------------------------------------

demo: deps release $(NATIVE_LIBS_FILE)
	@mkdir -p $(BUILD)
	$(CC) $(WARN_C) -O2 -Iinclude examples_c/quickstart.c $(RELEASE_DIR)/libaof.a \
	    $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/quickstart
	@echo
	./$(BUILD)/quickstart $(BUILD)/quickstart-data

# --- tests -------------------------------------------------------------------------------

# Every stage runs even when an earlier one fails; make test fails if any did. Each stage
# reports its wall time.
test: deps
	@failed=""; total_start=$$(date +%s); \
	for stage in $(TEST_STAGES); do \
	    start=$$(date +%s); \
	    if $(MAKE) --no-print-directory $$stage; then result=passed; \
	    else result=FAILED; failed="$$failed $$stage"; fi; \
	    echo "make test: stage $$stage $$result in $$(( $$(date +%s) - start ))s"; \
	done; \
	echo "make test: $$(( $$(date +%s) - total_start ))s in all"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed (see above)"; exit 1; fi; \
	echo "make test: all stages passed"

check-fmt:
	@echo "== cargo fmt --check"
	$(CARGO) fmt --all -- --check

clippy:
	@echo "== cargo clippy --all-targets -D warnings (default features, then with failpoints)"
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features failpoints -- -D warnings

cargo-test:
	@echo "== cargo test (unit, integration, header diff)"
	$(CARGO) test
	@echo "== cargo test --features failpoints --test failpoints --test manager_failpoints --test catalog_failpoints --test tier_failpoints --test archive_failpoints --test async_failpoints (fault injection)"
	$(CARGO) test --features failpoints --test failpoints --test manager_failpoints --test catalog_failpoints --test tier_failpoints --test archive_failpoints --test async_failpoints

# The Python package is pure ctypes: it loads the release shared library named by AOF_LIBRARY.
python-test: release python-deps
	@echo "== Python bindings: pytest bindings/python/tests against $(RELEASE_DIR)/libaof.so"
	AOF_LIBRARY=$(abspath $(RELEASE_DIR))/libaof.so $(PY_VENV)/bin/python3 -m pytest -q \
	    bindings/python/tests

ctest: $(NATIVE_LIBS_FILE)
	@echo "== C tests (ASan + UBSan)"
	$(CARGO) build --lib
	@mkdir -p $(BUILD)/ctests
	@for t in $(CTESTS); do \
	    echo "cc $$t"; \
	    $(CC) $(CTEST_CFLAGS) ctests/$$t.c $(DEBUG_DIR)/libaof.a $$(cat $(NATIVE_LIBS_FILE)) \
	        -o $(BUILD)/ctests/$$t; \
	done
	@echo "cc quickstart (example, same flags)"
	@$(CC) $(CTEST_CFLAGS) examples_c/quickstart.c $(DEBUG_DIR)/libaof.a \
	    $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/ctests/example_quickstart
	ctests/run.sh $(BUILD)/ctests/summary.txt $(addprefix $(BUILD)/ctests/,$(CTESTS)) \
	    $(BUILD)/ctests/example_quickstart

valgrind: $(NATIVE_LIBS_FILE)
	@echo "== C tests under valgrind memcheck (no sanitizers)"
	@command -v $(VALGRIND) >/dev/null || { echo "error: valgrind not found (make deps installs it)"; exit 1; }
	$(CARGO) build --lib
	@mkdir -p $(BUILD)/valgrind
	@for t in $(CTESTS); do \
	    echo "cc $$t (-g -O1, no sanitizers)"; \
	    $(CC) $(VALGRIND_CFLAGS) ctests/$$t.c $(DEBUG_DIR)/libaof.a $$(cat $(NATIVE_LIBS_FILE)) \
	        -o $(BUILD)/valgrind/$$t; \
	done
	@echo "cc quickstart (example, same flags)"
	@$(CC) $(VALGRIND_CFLAGS) examples_c/quickstart.c $(DEBUG_DIR)/libaof.a \
	    $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/valgrind/example_quickstart
	CTEST_RUNNER="$(VALGRIND) $(VALGRIND_FLAGS)" \
	CTEST_SHOW='ERROR SUMMARY|definitely lost|indirectly lost|possibly lost' \
	AOFT_SCALE_DIV=$(VALGRIND_SCALE_DIV) CTEST_TIMEOUT=600 \
	    ctests/run.sh $(BUILD)/valgrind/summary.txt $(addprefix $(BUILD)/valgrind/,$(CTESTS)) \
	    $(BUILD)/valgrind/example_quickstart

cxx-header:
	@echo "== aof.h as C++17 (included twice)"
	$(CXX) -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -c ctests/header_cxx.cpp \
	    -o /dev/null
	@echo "== aof.h as C11 on its own"
	echo '#include "aof.h"' | $(CC) $(WARN_C) -Iinclude -x c -c - -o /dev/null

# Each fuzz target for FUZZ_SECONDS (cargo-fuzz's sanitizer flags need RUSTC_BOOTSTRAP on a
# stable toolchain). Fails if a target finds a crash, a panic or an input slower than 60 s;
# the input is then in fuzz/artifacts/<target>/. The corpus grows in fuzz/corpus/<target>/
# (git-ignored but for the seed-* files). Full logs: build/fuzz/<target>.log. Runs with
# cargo-fuzz's own sanitizer settings, not the C tests' ASAN_OPTIONS.
fuzz-ci:
	@echo "== cargo fuzz: $(FUZZ_TARGETS), $(FUZZ_SECONDS) s each"
	@if [ "$(FUZZ_SECONDS)" = 0 ]; then echo "FUZZ_SECONDS=0: skipped"; exit 0; fi; \
	unset ASAN_OPTIONS UBSAN_OPTIONS; \
	$(CARGO) fuzz --version >/dev/null 2>&1 || { \
	    echo "installing cargo-fuzz $(CARGO_FUZZ_VERSION)"; \
	    $(CARGO) install cargo-fuzz@$(CARGO_FUZZ_VERSION) --locked; }; \
	$(CARGO) fuzz --version; \
	mkdir -p $(BUILD)/fuzz; \
	start=$$(date +%s); \
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build; \
	echo "fuzz targets built in $$(( $$(date +%s) - start ))s"; \
	failed=""; \
	for t in $(FUZZ_TARGETS); do \
	    log=$(BUILD)/fuzz/$$t.log; \
	    extra=""; \
	    if [ $$t = recover_image ]; then extra="$(FUZZ_RECOVER_IMAGE_FLAGS)"; fi; \
	    echo "RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -timeout=60 $$extra"; \
	    rc=0; \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -timeout=60 $$extra \
	        >"$$log" 2>&1 || rc=$$?; \
	    done_line=$$(grep -E '^Done [0-9]+ runs' "$$log" | tail -n1 || true); \
	    if [ $$rc -eq 0 ] && [ -n "$$done_line" ]; then \
	        echo "fuzz $$t: $$done_line"; \
	        grep -E '^#[0-9]+[[:space:]]+DONE' "$$log" | tail -n1 | sed 's/^/    /' || true; \
	    else \
	        failed="$$failed $$t"; \
	        echo "fuzz $$t: FAILED (exit status $$rc); the end of $$log:"; \
	        tail -n 80 "$$log" | sed 's/^/    /'; \
	    fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

# Installs into a temporary prefix and builds a program with nothing but pkg-config.
# (`grep >/dev/null`, not `grep -q`, after `ldd |`: under pipefail, grep -q leaving early can
# kill ldd with SIGPIPE and fail the stage for nothing.)
install-test: release $(NATIVE_LIBS_FILE)
	@echo "== install into a temporary PREFIX, build with pkg-config"
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/aof-install-XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory install PREFIX="$$tmp/prefix" >/dev/null; \
	export PKG_CONFIG_PATH="$$tmp/prefix/lib/pkgconfig"; \
	pkg-config --exists --print-errors aof; \
	echo "pkg-config --modversion aof: $$(pkg-config --modversion aof)"; \
	test "$$(pkg-config --modversion aof)" = "$(VERSION)"; \
	echo "shared: $(CC) smoke.c $$(pkg-config --cflags --libs aof)"; \
	$(CC) $(WARN_C) ctests/install_smoke.c $$(pkg-config --cflags --libs aof) -o "$$tmp/smoke-shared"; \
	LD_LIBRARY_PATH="$$tmp/prefix/lib" "$$tmp/smoke-shared" "$$tmp/log-shared"; \
	LD_LIBRARY_PATH="$$tmp/prefix/lib" ldd "$$tmp/smoke-shared" | grep "libaof.so.$(SONAME_VERSION) => $$tmp" >/dev/null; \
	static_libs=$$(pkg-config --static --libs aof | sed 's/-laof\b/-l:libaof.a/'); \
	echo "static: $(CC) smoke.c $$(pkg-config --cflags aof) $$static_libs"; \
	$(CC) $(WARN_C) ctests/install_smoke.c $$(pkg-config --cflags aof) $$static_libs -o "$$tmp/smoke-static"; \
	! ldd "$$tmp/smoke-static" | grep libaof >/dev/null; \
	"$$tmp/smoke-static" "$$tmp/log-static"; \
	echo "install test ok"

# --- install -----------------------------------------------------------------------------

install: release $(NATIVE_LIBS_FILE)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/aof.h $(DESTDIR)$(INCLUDEDIR)/aof.h
	install -m 644 $(RELEASE_DIR)/libaof.a $(DESTDIR)$(LIBDIR)/libaof.a
	install -m 755 $(RELEASE_DIR)/libaof.so $(DESTDIR)$(LIBDIR)/libaof.so.$(VERSION)
	ln -sf libaof.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libaof.so.$(SONAME_VERSION)
	ln -sf libaof.so.$(SONAME_VERSION) $(DESTDIR)$(LIBDIR)/libaof.so
	{ \
	    echo "prefix=$(PREFIX)"; \
	    echo "libdir=$(LIBDIR)"; \
	    echo "includedir=$(INCLUDEDIR)"; \
	    echo; \
	    echo "Name: aof"; \
	    echo "Description: libaof, a durable segmented append-only log"; \
	    echo "Version: $(VERSION)"; \
	    echo "Cflags: -I\$${includedir}"; \
	    echo "Libs: -L\$${libdir} -laof"; \
	    echo "Libs.private: $$(cat $(NATIVE_LIBS_FILE))"; \
	} > $(DESTDIR)$(PKGCONFIGDIR)/aof.pc
	@echo "installed libaof $(VERSION) into $(DESTDIR)$(PREFIX)"

# --- maintenance -------------------------------------------------------------------------

header:
	AOF_BLESS=1 $(CARGO) test --test header

# Removes build/ only; target/ is shared and expensive to rebuild.
clean-build:
	rm -rf $(BUILD)

# --- benchmarks --------------------------------------------------------------------------
# bench/ is its own cargo workspace: the peer engines it compares against (raft-engine,
# okaywal, walrus-rust) are its dependencies only, never the library's. See
# docs/BENCHMARKS.md.
#
#   make bench          the full matrix (20-40 min on 2 cores)
#   make bench-quick    the whole matrix in a few minutes (shorter repetitions)
#   make bench-quick BENCH_ARGS="--filter sync"      a subset; see bench/src/main.rs
#
# Both also write $(BUILD)/bench[-quick].{txt,json,csv}.

BENCH_ARGS ?=
BENCH_RUN = $(CARGO) run --release --quiet --manifest-path bench/Cargo.toml --

.PHONY: bench bench-quick capi-bench

# The C API benchmark, against the release static library (like the demo).
capi-bench: release $(NATIVE_LIBS_FILE)
	@mkdir -p $(BUILD)
	$(CC) $(WARN_C) -O2 -Iinclude bench/c/capi_bench.c $(RELEASE_DIR)/libaof.a \
	    $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/capi_bench

bench: capi-bench
	$(BENCH_RUN) --capi $(BUILD)/capi_bench --json $(BUILD)/bench.json \
	    --csv $(BUILD)/bench.csv $(BENCH_ARGS) | tee $(BUILD)/bench.txt

bench-quick: capi-bench
	$(BENCH_RUN) --quick --capi $(BUILD)/capi_bench --json $(BUILD)/bench-quick.json \
	    --csv $(BUILD)/bench-quick.csv $(BENCH_ARGS) | tee $(BUILD)/bench-quick.txt
