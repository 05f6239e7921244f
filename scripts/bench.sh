#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs them, with throw-away redis-server and PostgreSQL servers.
#   scripts/bench.sh [benchmark options, e.g. --benchmark_filter=Redis]
# By default every benchmark runs 3 times and the summary compares medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target cachier_bench
bash scripts/redis-server.sh run "$(mktemp -d)" bash scripts/postgres-server.sh run "$(mktemp -d)" \
    sh -c 'CACHIER_BENCH_REDIS_URL=$CACHIER_REDIS_URL CACHIER_BENCH_POSTGRES_URL=$CACHIER_POSTGRES_URL \
           exec build/default/bench/cachier_bench "$@"' bench "${@:---benchmark_repetitions=3}"
