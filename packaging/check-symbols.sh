#!/usr/bin/env bash
# Checks what an installed libaof shows a linker:
#   check-symbols.sh LIBDIR HEADER
# - every defined global symbol of LIBDIR/libaof.a (nm -g --defined-only), and every
#   defined symbol of the dynamic symbol table of LIBDIR/libaof.so (nm -D --defined-only),
#   must be named aof_*: anything else (a dependency's digest_new, ZSTD_*, mdbx_*) could
#   clash with a program's own symbols;
# - both must define exactly the functions HEADER declares.
# There are no exceptions: neither library needs to show a linker anything but aof_*.
# Prints each library's count; on failure, every offending symbol.
set -euo pipefail

libdir=$1
header=$2
status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aof-symbols-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The functions the header declares: declarations start a line with their return type
# (cbindgen's layout); names in comments are not at the start of a line.
sed -nE 's/^[a-z_][a-z_0-9 ]* \**(aof_[a-z0-9_]+)\(.*/\1/p' "$header" | sort -u >"$tmp/header"
test -s "$tmp/header" || { echo "no aof_* declaration found in $header"; exit 1; }

# nm -P: "name type value size" per symbol (archive members add a "lib.a[obj.o]:" line).
check() {
    local what=$1 file=$2
    shift 2
    # (nm's stderr only on failure: it names every archive member without symbols.)
    nm -P "$@" "$file" >"$tmp/nm" 2>"$tmp/nm.err" || { cat "$tmp/nm.err" >&2; exit 1; }
    awk 'NF >= 2 && $2 ~ /^[A-Za-z]$/ { print $1, $2 }' "$tmp/nm" | sort -u >"$tmp/all"
    local total others bad=0
    total=$(wc -l <"$tmp/all")
    others=$(grep -v '^aof_[a-z0-9_]* ' "$tmp/all" || true)
    if [ -n "$others" ]; then
        local n
        n=$(grep -c . <<<"$others")
        echo "$what: $n of $total defined global symbols are not aof_*:"
        head -n 40 <<<"$others" | sed 's/^/    /'
        if [ "$n" -gt 40 ]; then echo "    ... and $((n - 40)) more"; fi
        bad=1
    fi
    awk '{ print $1 }' "$tmp/all" | grep '^aof_' | sort -u >"$tmp/defined" || true
    if ! diff "$tmp/header" "$tmp/defined" >"$tmp/diff"; then
        echo "$what: the aof_* symbols differ from the functions $header declares" \
            "(<: declared only, >: defined only):"
        grep '^[<>]' "$tmp/diff" | sed 's/^/    /'
        bad=1
    fi
    if [ $bad -ne 0 ]; then
        status=1
    else
        echo "$what: $total defined global symbols, all aof_*, the $(wc -l <"$tmp/header")" \
            "functions of $(basename "$header")"
    fi
}

check "$libdir/libaof.a (nm -g --defined-only)" "$libdir/libaof.a" -g --defined-only
check "$libdir/libaof.so (nm -D --defined-only)" "$(readlink -f "$libdir/libaof.so")" \
    -D --defined-only
exit $status
