#!/usr/bin/env bash
# Builds the benchmark programs (Release) and runs each of them, with throw-away redis-server and
# PostgreSQL servers.
#   scripts/bench.sh [benchmark options, e.g. --benchmark_filter=Hit]
# By default every benchmark runs 3 times and each program's summary compares medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
programs=(memory file sqlite postgres redis)
cmake --build --preset default --target "${programs[@]/#/cachier_bench_}"
bash scripts/redis-server.sh run "$(mktemp -d)" bash scripts/postgres-server.sh run "$(mktemp -d)" \
    bash -c 'export CACHIER_BENCH_REDIS_URL=$CACHIER_REDIS_URL CACHIER_BENCH_POSTGRES_URL=$CACHIER_POSTGRES_URL
             status=0
             for p in memory file sqlite postgres redis; do
                 echo "=== cachier_bench_$p"
                 build/default/bench/cachier_bench_$p "$@" || status=1
             done
             exit $status' bench "${@:---benchmark_repetitions=3}"
