#!/usr/bin/env bash
# Compares the benchmarks of this checkout with those of an earlier commit, measured in one run:
# both builds' programs run alternately (ROUNDS times each) against the same throw-away servers,
# and each benchmark's median over all its runs is printed with the ratio this/base.
#   scripts/bench-compare.sh BASE_COMMIT [ROUNDS (default 3)] [benchmark options...]
# Benchmarks that report counters (the resident-bytes rows) cannot share a CSV file with others
# (Google Benchmark stops): compare them on their own. Slow for file benchmarks on a busy disk;
# pin the servers and the client to CPUs for stable network figures (taskset).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench-compare.sh BASE_COMMIT [ROUNDS] [benchmark options...]}
rounds=${2:-3}
shift $(($# >= 2 ? 2 : 1))
bash scripts/install-deps.sh
programs=(memory file sqlite postgres redis)

cmake --preset default >/dev/null
cmake --build --preset default --target "${programs[@]/#/cachier_bench_}" >/dev/null
work=$PWD/build/bench-compare
rm -rf "$work/base-src" && mkdir -p "$work/base-src" "$work/out"
git archive "$base" | tar -x -m -C "$work/base-src"  # -m: newer than the last base build, so it is rebuilt
cmake -S "$work/base-src" -B "$work/base-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCACHIER_BUILD_TESTS=OFF \
    -DCACHIER_BUILD_EXAMPLES=OFF -DCACHIER_BUILD_BENCH=ON >/dev/null
cmake --build "$work/base-build" --target "${programs[@]/#/cachier_bench_}" >/dev/null
rm -f "$work"/out/*.csv

# Each side gets servers of its own: releases may lay out their tables and keys differently.
servers=$work/servers
rm -rf "$servers"
stop_servers() {
    for side in base this; do
        bash scripts/redis-server.sh stop "$servers/redis-$side" || true
        bash scripts/postgres-server.sh stop "$servers/postgres-$side" || true
    done
}
trap stop_servers EXIT
declare -A redis_url postgres_url
for side in base this; do
    redis_url[$side]=$(bash scripts/redis-server.sh start "$servers/redis-$side")
    postgres_url[$side]=$(bash scripts/postgres-server.sh start "$servers/postgres-$side")
done
for p in "${programs[@]}"; do
    for r in $(seq 1 "$rounds"); do
        for side in base this; do
            if [ "$side" = base ]; then program=$work/base-build/bench/cachier_bench_$p
            else program=build/default/bench/cachier_bench_$p; fi
            CACHIER_BENCH_REDIS_URL=${redis_url[$side]} CACHIER_BENCH_POSTGRES_URL=${postgres_url[$side]} \
                "$program" --benchmark_out="$work/out/$side-$p-$r.csv" --benchmark_out_format=csv "$@" >/dev/null || true  # a missed goal is a figure too
        done
    done
done

# name,iterations,real_time,cpu_time,time_unit,... -> median real time in ns per benchmark and side.
printf "%-60s %14s %14s %8s\n" "benchmark (median real time)" "base" "this" "this/base"
awk -F, '
    FNR == 1 { side = FILENAME; sub(/.*\//, "", side); sub(/-.*/, "", side); next }
    $1 ~ /^"/ {
        name = $1; gsub(/"/, "", name)
        factor = ($5 == "ns") ? 1 : ($5 == "us") ? 1e3 : ($5 == "ms") ? 1e6 : 1e9
        key = side SUBSEP name
        n[key]++; v[key, n[key]] = $3 * factor; names[name] = 1
    }
    function median(key,   i, j, t, m) {
        m = n[key]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[key, j] < v[key, i]) { t = v[key, i]; v[key, i] = v[key, j]; v[key, j] = t }
        return (m % 2) ? v[key, (m + 1) / 2] : (v[key, m / 2] + v[key, m / 2 + 1]) / 2
    }
    END {
        for (name in names) {
            b = ("base" SUBSEP name) in n ? median("base" SUBSEP name) : 0
            t = ("this" SUBSEP name) in n ? median("this" SUBSEP name) : 0
            if (b > 0 && t > 0) printf "%-60s %12.0fns %12.0fns %8.3f\n", name, b, t, t / b
        }
    }' "$work"/out/*.csv | sort
