#!/usr/bin/env bash
# Builds the benchmark programs (Release) and runs each of them, with throw-away redis-server,
# PostgreSQL, MongoDB and S3 (RADOS Gateway) test servers.
#   scripts/bench.sh [benchmark options, e.g. --benchmark_filter=Hit]
# By default every benchmark runs 3 times and each program's summary compares medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
programs=(memory file sqlite postgres redis mongo s3)
cmake --build --preset default --target "${programs[@]/#/cachier_bench_}"
mongo_dir=$(mktemp -d)
mongo_rs_dir=$(mktemp -d)
export CACHIER_BENCH_MONGO_URL CACHIER_BENCH_MONGO_LOG=$mongo_dir/commands.log
export CACHIER_BENCH_MONGO_RS_URL CACHIER_BENCH_MONGO_RS_LOG=$mongo_rs_dir/commands.log
trap 'bash scripts/mongo-server.sh stop "$mongo_dir"; bash scripts/mongo-server.sh stop "$mongo_rs_dir"
      rm -rf "$mongo_dir" "$mongo_rs_dir"' EXIT
CACHIER_BENCH_MONGO_URL=$(bash scripts/mongo-server.sh start "$mongo_dir")
CACHIER_BENCH_MONGO_RS_URL=$(bash scripts/mongo-server.sh start "$mongo_rs_dir" --replica-set rs0)
s3_dir=$(mktemp -d)
export CACHIER_BENCH_S3_LOG=$s3_dir/client.rgw.a.log
bash scripts/redis-server.sh run "$(mktemp -d)" bash scripts/postgres-server.sh run "$(mktemp -d)" \
    bash scripts/s3-server.sh run "$s3_dir" \
    bash -c 'export CACHIER_BENCH_REDIS_URL=$CACHIER_REDIS_URL CACHIER_BENCH_POSTGRES_URL=$CACHIER_POSTGRES_URL
             export CACHIER_BENCH_S3_ENDPOINT=$CACHIER_S3_ENDPOINT CACHIER_BENCH_S3_BUCKET=$CACHIER_S3_BUCKET
             status=0
             for p in memory file sqlite postgres redis mongo s3; do
                 echo "=== cachier_bench_$p"
                 build/default/bench/cachier_bench_$p "$@" || status=1
             done
             exit $status' bench "${@:---benchmark_repetitions=3}"
