#!/usr/bin/env bash
# Processes of the previous release and of this one sharing one file cache and one Redis at once:
# every call returns its function's value (never bytes the other release wrote, misread) and ends
# (never waits on a claim the other release left).
#   tests/cross_release/run.sh THIS_WORKER PREVIOUS_COMMIT WORK_DIR
# THIS_WORKER is this build's cachier_test_worker; the previous release's worker is built from
# PREVIOUS_COMMIT of this repository into WORK_DIR (once). Exits 77 (skipped) without git history.
set -euo pipefail
new_worker=$1
previous=$2
work=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"

old_worker=$work/previous-build/tests/cachier_test_worker
if [ ! -x "$old_worker" ]; then
    if ! git -C "$src" cat-file -e "$previous^{commit}" 2>/dev/null; then
        echo "skipped: commit $previous is not in this checkout's history"
        exit 77
    fi
    rm -rf "$work/previous-src" "$work/previous-build"
    mkdir -p "$work/previous-src"
    git -C "$src" archive "$previous" | tar -x -C "$work/previous-src"
    cmake -S "$work/previous-src" -B "$work/previous-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCACHIER_BUILD_TESTS=ON -DCACHIER_BUILD_EXAMPLES=OFF -DCACHIER_BUILD_BENCH=OFF -DCACHIER_INSTALL=OFF >/dev/null
    cmake --build "$work/previous-build" --target cachier_test_worker >/dev/null
fi

redis_url=$(bash "$src/scripts/redis-server.sh" start "$work/redis")
trap 'bash "$src/scripts/redis-server.sh" stop "$work/redis"' EXIT
rm -rf "$work/cache" "$work/logs"
mkdir -p "$work/logs"

failures=0
# One call f(x) = 2x through WORKER; it must print 2x and exit 0 within 20 s.
call() {
    local worker=$1 url=$2 x=$3 sleep_ms=$4
    local out status=0
    out=$(timeout 20 "$worker" compute "$url" cross.release "$x" "$sleep_ms" "$work/logs/calls.log" 2>>"$work/logs/stderr.log") ||
        status=$?
    if [ "$status" -ne 0 ] || [ "$out" != "$((x * 2))" ]; then
        echo "FAILED: $(basename "$(dirname "$(dirname "$worker")")") f($x) on $url: printed '$out', exit $status" \
            "(124: still waiting after 20 s)" >&2
        return 1
    fi
}

for url in "file://$work/cache" "$redis_url/0?prefix=cross"; do
    # The previous release fills the store; this one reads it (and rewrites it in its own format).
    for x in 1 2 3 4 5 6; do call "$old_worker" "$url" "$x" 0 || failures=$((failures + 1)); done
    for x in 1 2 3 4 5 6; do call "$new_worker" "$url" "$x" 0 || failures=$((failures + 1)); done
    for x in 1 2 3 4 5 6; do call "$old_worker" "$url" "$x" 0 || failures=$((failures + 1)); done
    # Both at once, on the same keys, with computations long enough to be waited for.
    for round in 1 2 3 4; do
        pids=()
        for x in 1 2 3 4 5 6; do
            call "$old_worker" "$url" "$x" 150 &
            pids+=($!)
            call "$new_worker" "$url" "$x" 150 &
            pids+=($!)
        done
        for pid in "${pids[@]}"; do wait "$pid" || failures=$((failures + 1)); done
        echo "round $round on ${url%%\?*}: $(grep -c computed "$work/logs/calls.log") computations so far"
    done
done

if [ "$failures" -ne 0 ]; then
    echo "$failures calls failed" >&2
    exit 1
fi
echo "both releases shared one file cache and one Redis: no wrong value, no call left waiting"
