# libaof: build, test, install and demo.
#
#   make demo                  build the release library, compile and run examples_c/quickstart.c
#   make test                  everything: fmt, clippy, cargo test of the workspace (the
#                              library and the `aof` tool; incl. the header diff and,
#                              with --features failpoints, the fault-injection tests), C tests
#                              under ASan+UBSan and under valgrind, the header as C++, an
#                              install test, and each fuzz target for FUZZ_SECONDS
#   make valgrind              the C tests without sanitizers under valgrind memcheck
#   make fuzz-ci [FUZZ_SECONDS=60]  each cargo-fuzz target for FUZZ_SECONDS; fails on a crash
#   make install PREFIX=/usr/local [DESTDIR=...]
#                              the library (aof.h, libaof.so, libaof.a, aof.pc, aof-static.pc)
#                              and the `aof` command-line tool ($(PREFIX)/bin/aof: stat, dump,
#                              tail, verify, repair, bench; see README, "Command-line tool")
#   make dist                  the libraries make install installs, in build/dist/ (below)
#   make cli                   build the `aof` tool (release) into target/release/aof
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
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DOCDIR ?= $(PREFIX)/share/doc/libaof
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
# The programs of examples_c/, built with the C tests' flags and run by them (each with a
# scratch directory as its argument, in which it must succeed on its own).
EXAMPLES := quickstart event_store metrics_endpoint wal
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

.PHONY: all release debug dist cli demo test check-fmt clippy cargo-test python-test python-deps \
        ctest valgrind cxx-header fuzz-ci install install-test header deps clean-build

all: release

release:
	$(CARGO) build --release --lib

# The `aof` command-line tool (cli/, with the S3 archive reader: default features).
cli:
	$(CARGO) build --release -p aof-cli

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
	for t in ld ar nm objcopy strip; do \
	    command -v $$t >/dev/null || { missing="$$missing binutils"; break; }; \
	done; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	dpkg-query -W -f='$${Status}' libclang-dev 2>/dev/null | grep -q '^install ok installed$$' || \
	    missing="$$missing libclang-dev"; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing libc6-dev; \
	else \
	    echo "deps: pkg-config, gcc, g++, binutils, valgrind, libclang-dev present"; \
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

# --- the libraries make install installs ---------------------------------------------------
#
# Made from cargo's release build, in build/dist/ (make demo and make capi-bench link the
# same static library):
#   libaof.a   cargo's static library is ~1,300 objects (libaof's, the Rust standard
#              library's, each dependency's, and the C code of zstd, libmdbx and aws-lc)
#              with ~51,000 global symbols (digest_new, ZSTD_compress2, mdbx_env_open, ...),
#              any of which could clash with a program's own. So its objects are partially
#              linked into one (ld -r; packaging/static.ld says why their sections are
#              merged; --force-group-allocation dissolves section groups, which a final link
#              deduplicates by name across all its inputs), and every global symbol but
#              aof_* is made local (objcopy), which keeps the references inside the object
#              bound to libaof's own definitions. Debug info goes (--strip-debug; the symbol
#              table stays, for backtraces), as does the LLVM bitcode the Rust standard
#              library's objects carry (.llvmbc, .llvmcmd: only rustc's LTO reads it).
#   libaof.so  cargo's shared library, which exports only aof_* (build.rs: --exclude-libs),
#              without debug info and the symbols nothing links against
#              (strip --strip-unneeded; the dynamic symbol table stays).
# make install-test checks what both show a linker (packaging/check-symbols.sh).
DIST := $(BUILD)/dist

# A sub-make, so that the libraries' dates are read after cargo has built them. (With the
# list of system libraries, so that make install after make dist has nothing to build.)
dist: release $(NATIVE_LIBS_FILE)
	@$(MAKE) --no-print-directory $(DIST)/libaof.a $(DIST)/libaof.so

$(DIST)/libaof.a: $(RELEASE_DIR)/libaof.a packaging/static.ld
	@mkdir -p $(DIST)
	@rm -f $@ $(DIST)/libaof-all.o $(DIST)/libaof.o
	ld -r --whole-archive --force-group-allocation -T packaging/static.ld $< \
	    -o $(DIST)/libaof-all.o
	objcopy --wildcard --keep-global-symbol='aof_*' --strip-debug \
	    --remove-section=.llvmbc --remove-section=.llvmcmd $(DIST)/libaof-all.o $(DIST)/libaof.o
	ar rcs $@ $(DIST)/libaof.o
	@rm -f $(DIST)/libaof-all.o $(DIST)/libaof.o
	@echo "libaof.a: $$(stat -c %s $<) bytes from cargo, $$(stat -c %s $@) in $@"

$(DIST)/libaof.so: $(RELEASE_DIR)/libaof.so
	@mkdir -p $(DIST)
	strip --strip-unneeded -o $@ $<
	@echo "libaof.so: $$(stat -c %s $<) bytes from cargo, $$(stat -c %s $@) in $@"

# --- demo --------------------------------------------------------------------------------

demo: deps dist $(NATIVE_LIBS_FILE)
	@mkdir -p $(BUILD)
	$(CC) $(WARN_C) -O2 -Iinclude examples_c/quickstart.c $(DIST)/libaof.a \
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
	@echo "== cargo clippy --workspace --all-targets -D warnings (default features, then the library with failpoints)"
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p aof --all-targets --features failpoints -- -D warnings

cargo-test:
	@echo "== cargo test --workspace (the library: unit, integration, header diff; the aof tool)"
	$(CARGO) test --workspace
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
	@for e in $(EXAMPLES); do \
	    echo "cc $$e (example, same flags)"; \
	    $(CC) $(CTEST_CFLAGS) examples_c/$$e.c $(DEBUG_DIR)/libaof.a \
	        $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/ctests/example_$$e; \
	done
	ctests/run.sh $(BUILD)/ctests/summary.txt $(addprefix $(BUILD)/ctests/,$(CTESTS)) \
	    $(addprefix $(BUILD)/ctests/example_,$(EXAMPLES))

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
	@for e in $(EXAMPLES); do \
	    echo "cc $$e (example, same flags)"; \
	    $(CC) $(VALGRIND_CFLAGS) examples_c/$$e.c $(DEBUG_DIR)/libaof.a \
	        $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/valgrind/example_$$e; \
	done
	CTEST_RUNNER="$(VALGRIND) $(VALGRIND_FLAGS)" \
	CTEST_SHOW='ERROR SUMMARY|definitely lost|indirectly lost|possibly lost' \
	AOFT_SCALE_DIV=$(VALGRIND_SCALE_DIV) CTEST_TIMEOUT=600 \
	    ctests/run.sh $(BUILD)/valgrind/summary.txt $(addprefix $(BUILD)/valgrind/,$(CTESTS)) \
	    $(addprefix $(BUILD)/valgrind/example_,$(EXAMPLES))

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

# Installs into a temporary prefix and builds programs the way the README tells users to,
# with nothing but pkg-config: the shared library found through the rpath (and through
# LD_LIBRARY_PATH), the static one (aof-static.pc), the static one under ASan+UBSan. Checks
# that the installed libraries carry no debug info and show a linker only aof_*
# (packaging/check-symbols.sh), and that a program defining names libaof's dependencies
# use (ctests/install_clash.c) links and runs against either library.
# (`grep >/dev/null`, not `grep -q`, after a pipe: under pipefail, grep -q leaving early can
# kill the writer with SIGPIPE and fail the stage for nothing. And `if ...; then exit 1`,
# not `! ...`: bash's -e ignores the status of a negated command.)
install-test: dist $(NATIVE_LIBS_FILE)
	@echo "== install into a temporary PREFIX, build programs with pkg-config as the README says"
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/aof-install-XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory install PREFIX="$$tmp/prefix" >/dev/null; \
	lib="$$tmp/prefix/lib"; \
	export PKG_CONFIG_PATH="$$lib/pkgconfig"; \
	unset LD_LIBRARY_PATH; \
	for m in aof aof-static; do \
	    pkg-config --exists --print-errors $$m; \
	    echo "pkg-config --modversion $$m: $$(pkg-config --modversion $$m)"; \
	    test "$$(pkg-config --modversion $$m)" = "$(VERSION)"; \
	done; \
	for f in libaof.a libaof.so.$(VERSION); do \
	    echo "installed $$f: $$(stat -c %s "$$lib/$$f") bytes, no debug info"; \
	    if readelf -SW "$$lib/$$f" | grep -E '\.(debug_[a-z]+|llvmbc)\b' >/dev/null; then \
	        echo "$$f: debug info installed"; exit 1; \
	    fi; \
	done; \
	test -s "$$tmp/prefix/share/doc/libaof/LICENSE"; \
	packaging/check-symbols.sh "$$lib" "$$tmp/prefix/include/aof.h"; \
	shared="$$(pkg-config --cflags --libs aof) -Wl,-rpath,$$(pkg-config --variable=libdir aof)"; \
	static="$$(pkg-config --cflags --libs aof-static)"; \
	echo "shared: $(CC) prog.c $$shared"; \
	for t in install_smoke install_clash; do \
	    $(CC) $(WARN_C) ctests/$$t.c $$shared -o "$$tmp/$$t-shared"; \
	    ldd "$$tmp/$$t-shared" | grep "libaof.so.$(SONAME_VERSION) => $$lib/" >/dev/null; \
	    "$$tmp/$$t-shared" "$$tmp/log-$$t-shared"; \
	done; \
	echo "shared, without rpath: $(CC) prog.c $$(pkg-config --cflags --libs aof), run with LD_LIBRARY_PATH"; \
	$(CC) $(WARN_C) ctests/install_smoke.c $$(pkg-config --cflags --libs aof) -o "$$tmp/smoke-ldpath"; \
	LD_LIBRARY_PATH="$$lib" "$$tmp/smoke-ldpath" "$$tmp/log-ldpath"; \
	echo "static: $(CC) prog.c $$static"; \
	for t in install_smoke install_clash; do \
	    $(CC) $(WARN_C) ctests/$$t.c $$static -o "$$tmp/$$t-static"; \
	    if readelf -d "$$tmp/$$t-static" | grep libaof >/dev/null; then \
	        echo "$$t-static needs libaof.so"; exit 1; \
	    fi; \
	    "$$tmp/$$t-static" "$$tmp/log-$$t-static"; \
	done; \
	echo "static, under ASan+UBSan: $(CC) $(SAN) -g -O1 prog.c $$static"; \
	$(CC) $(WARN_C) $(SAN) -g -O1 ctests/install_clash.c $$static -o "$$tmp/install_clash-asan"; \
	"$$tmp/install_clash-asan" "$$tmp/log-install_clash-asan"; \
	echo "aof tool: $$("$$tmp/prefix/bin/aof" --version)"; \
	"$$tmp/prefix/bin/aof" stat "$$tmp/log-install_smoke-static" >/dev/null; \
	echo "install test ok"

# --- install -----------------------------------------------------------------------------

# aof.pc: the shared library (its Libs.private are what the static library needs, for
# `pkg-config --static`, which adds them but leaves -laof, and so the shared library when
# both are installed); aof-static.pc: the static library, by path, and what it needs.
install: dist cli $(NATIVE_LIBS_FILE)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(DOCDIR) $(DESTDIR)$(BINDIR)
	install -m 755 $(RELEASE_DIR)/aof $(DESTDIR)$(BINDIR)/aof
	install -m 644 include/aof.h $(DESTDIR)$(INCLUDEDIR)/aof.h
	install -m 644 $(DIST)/libaof.a $(DESTDIR)$(LIBDIR)/libaof.a
	install -m 755 $(DIST)/libaof.so $(DESTDIR)$(LIBDIR)/libaof.so.$(VERSION)
	ln -sf libaof.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libaof.so.$(SONAME_VERSION)
	ln -sf libaof.so.$(SONAME_VERSION) $(DESTDIR)$(LIBDIR)/libaof.so
	{ \
	    echo "prefix=$(PREFIX)"; \
	    echo "libdir=$(LIBDIR)"; \
	    echo "includedir=$(INCLUDEDIR)"; \
	    echo; \
	    echo "Name: aof"; \
	    echo "Description: libaof, a durable segmented append-only log (shared library; aof-static: the static one)"; \
	    echo "Version: $(VERSION)"; \
	    echo "Cflags: -I\$${includedir}"; \
	    echo "Libs: -L\$${libdir} -laof"; \
	    echo "Libs.private: $$(cat $(NATIVE_LIBS_FILE))"; \
	} > $(DESTDIR)$(PKGCONFIGDIR)/aof.pc
	{ \
	    echo "prefix=$(PREFIX)"; \
	    echo "libdir=$(LIBDIR)"; \
	    echo "includedir=$(INCLUDEDIR)"; \
	    echo; \
	    echo "Name: aof-static"; \
	    echo "Description: libaof, a durable segmented append-only log (static library)"; \
	    echo "Version: $(VERSION)"; \
	    echo "Cflags: -I\$${includedir}"; \
	    echo "Libs: \$${libdir}/libaof.a $$(cat $(NATIVE_LIBS_FILE))"; \
	} > $(DESTDIR)$(PKGCONFIGDIR)/aof-static.pc
	install -m 644 LICENSE docs/C_API.md $(DESTDIR)$(DOCDIR)/
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

# The C API benchmark, against the static library make install installs (like the demo).
capi-bench: dist $(NATIVE_LIBS_FILE)
	@mkdir -p $(BUILD)
	$(CC) $(WARN_C) -O2 -Iinclude bench/c/capi_bench.c $(DIST)/libaof.a \
	    $$(cat $(NATIVE_LIBS_FILE)) -o $(BUILD)/capi_bench

bench: capi-bench
	$(BENCH_RUN) --capi $(BUILD)/capi_bench --json $(BUILD)/bench.json \
	    --csv $(BUILD)/bench.csv $(BENCH_ARGS) | tee $(BUILD)/bench.txt

bench-quick: capi-bench
	$(BENCH_RUN) --quick --capi $(BUILD)/capi_bench --json $(BUILD)/bench-quick.json \
	    --csv $(BUILD)/bench-quick.csv $(BENCH_ARGS) | tee $(BUILD)/bench-quick.txt
