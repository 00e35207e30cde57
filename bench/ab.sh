#!/usr/bin/env bash
# A/B of the engine between a base commit and the working tree, in one run: builds the
# bench at BASE (in a git worktree under build/ab/) and at the working tree, then runs the
# selected cells with each binary in turn, ROUNDS times, so that both see the same machine
# state (this disk's sync latency and this VM's CPU drift by tens of percent over minutes).
#
#   bench/ab.sh BASE [ROUNDS] [-- aof-bench args...]
#
# Default cells: append throughput (Sync 1 and 16 threads, Batched, Async; 64 B and 1 KiB)
# and read latency (random reads by id, 1 and 4 threads; a scan; a tailing reader).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${1:?usage: bench/ab.sh BASE [ROUNDS] [-- aof-bench args...]}
shift
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    rounds=$1
    shift
fi
[ "${1:-}" = "--" ] && shift
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    args=(--quick --secs 1 --reps 3 --filter "aof")
fi
cells=(
    "append,sync,64B,1t" "append,sync,64B,16t" "append,batched100,64B,4t"
    "append,async,64B,1t" "append,async,1KiB,1t"
    "read,64B,1t" "read,64B,4t" "read,1KiB,4t" "scan,64B,1t" "tail,sync,64B,1t"
)

export CARGO_TERM_COLOR=never
work=build/ab
mkdir -p "$work"
rev=$(git rev-parse --verify "$base^{commit}")
if [ ! -d "$work/base" ]; then
    git worktree add --detach "$work/base" "$rev" >/dev/null
else
    git -C "$work/base" checkout --quiet --detach "$rev"
fi
# Both builds share one target directory's dependencies (the peers take minutes to build);
# the two bench binaries are copied out after each build.
target=$(pwd)/bench/target
cargo build --release --quiet --manifest-path "$work/base/bench/Cargo.toml" --target-dir "$target"
cp "$target/release/aof-bench" "$work/aof-bench-base"
cargo build --release --quiet --manifest-path bench/Cargo.toml --target-dir "$target"
cp "$target/release/aof-bench" "$work/aof-bench-new"

echo "A/B: base $(git rev-parse --short "$rev") vs working tree $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'), $rounds rounds, args: ${args[*]}"
for round in $(seq 1 "$rounds"); do
    for side in base new; do
        for cell in "${cells[@]}"; do
            filter=$cell
            # A --filter in the args (the default one says `aof`) joins the cell's terms.
            a=()
            next_is_filter=0
            for arg in "${args[@]}"; do
                if [ $next_is_filter = 1 ]; then
                    filter="$arg,$cell"
                    next_is_filter=0
                elif [ "$arg" = "--filter" ]; then
                    next_is_filter=1
                else
                    a+=("$arg")
                fi
            done
            "$work/aof-bench-$side" "${a[@]}" --filter "$filter" 2>&1 |
                awk -v side="$side" -v round="$round" \
                    '/^(append|read|scan|tail) / && $5 == "aof" { print "round " round " " side ": " $0 }'
        done
    done
done | tee "$work/ab.txt"
echo
echo "== medians over rounds (records/s; p50/p99 µs)"
printf "%-32s %12s %12s %7s   %17s %17s\n" "cell" "base rec/s" "new rec/s" "new/base" "base p50/p99" "new p50/p99"
awk '{
    side = $3; sub(":", "", side);
    key = $4 " " $5 " " $6 " " $7;
    rate[key, side] = rate[key, side] " " $9; p50[key, side] = p50[key, side] " " $12;
    p99[key, side] = p99[key, side] " " $13; keys[key] = 1
}
function median(s,   n, v, i, j, t) {
    n = split(s, v, " ");
    for (i = 1; i <= n; i++) {
        if (v[i] ~ /M$/) v[i] = substr(v[i], 1, length(v[i]) - 1) * 1e6;
        else if (v[i] ~ /k$/) v[i] = substr(v[i], 1, length(v[i]) - 1) * 1e3;
    }
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((n + 1) / 2)]
}
END {
    for (k in keys) {
        b = median(rate[k, "base"]); n = median(rate[k, "new"]);
        printf "%-32s %12.0f %12.0f %7.2f   %8s/%-8s %8s/%-8s\n", k, b, n, (b > 0 ? n / b : 0),
            median(p50[k, "base"]), median(p99[k, "base"]), median(p50[k, "new"]), median(p99[k, "new"])
    }
}' "$work/ab.txt" | sort
