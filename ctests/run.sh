#!/usr/bin/env bash
# Runs C test binaries one by one under the sanitizer settings the Makefile exports, each
# with a fresh scratch directory (passed as argv[1]; most tests make their own with
# mkdtemp) and a time limit, then prints "N passed, N failed" and writes it to SUMMARY.
#
#   ctests/run.sh SUMMARY BINARY...
#
# Environment:
#   CTEST_RUNNER   a command line each binary runs under (e.g. "valgrind --tool=memcheck ...");
#                  split on blanks
#   CTEST_SHOW     an extended regular expression: the lines of a passing test's output that
#                  match it are printed too (e.g. valgrind's error and leak summaries)
#   CTEST_TIMEOUT  seconds each binary may take (default 300)
set -uo pipefail

read -r -a runner <<<"${CTEST_RUNNER:-}"
show=${CTEST_SHOW:-}
limit=${CTEST_TIMEOUT:-300}

summary=$1
shift
passed=0
failed=0
failures=()
scratch=$(mktemp -d "${TMPDIR:-/tmp}/aof-ctests-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

for bin in "$@"; do
    name=$(basename "$bin")
    log="$scratch/$name.log"
    mkdir -p "$scratch/$name"
    start=$(date +%s)
    TMPDIR="$scratch/$name" timeout --kill-after=10 "$limit" ${runner[@]+"${runner[@]}"} \
        "$bin" "$scratch/$name/data" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        echo "PASS $name (${secs}s)"
        if [[ -n $show ]]; then
            grep -E -- "$show" "$log" | sed 's/^/    /'
        fi
    else
        failed=$((failed + 1))
        failures+=("$name")
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            echo "FAIL $name: timed out after ${secs}s; output:"
        else
            echo "FAIL $name: exit status $rc after ${secs}s; output:"
        fi
        sed 's/^/    /' "$log"
    fi
done

if ((failed > 0)); then
    echo "failed C tests: ${failures[*]}"
fi
line="$passed passed, $failed failed"
mkdir -p "$(dirname "$summary")"
echo "ctests: $line" >"$summary"
echo "$line"
((failed == 0))
