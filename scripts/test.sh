#!/usr/bin/env bash
# Installs what is needed, builds and runs the whole test suite.
#   scripts/test.sh                 the decoder's fuzz targets (300,000 inputs per value type, or
#                                   CACHIER_FUZZ_RUNS), the asan and tsan presets on the tests that
#                                   use threads, processes and the decoder, then the default
#                                   (Release) preset, every test
#   scripts/test.sh default|debug|asan|tsan   one preset, every test
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# run_preset PRESET EXTRAS [ctest options...]: EXTRAS is "all" (examples and the command-line tool
# too) or "tests" (what the sanitizer runs below need: the tests only).
run_preset() {
    local preset=$1 extras=$2
    shift 2
    local build_extras=ON
    [ "$extras" = all ] || build_extras=OFF
    # Options are given explicitly so that an earlier configure of the same preset cannot turn tests off.
    cmake --preset "$preset" -DCACHIER_BUILD_TESTS=ON -DCACHIER_BUILD_EXAMPLES=$build_extras \
        -DCACHIER_BUILD_TOOLS=$build_extras >/dev/null
    cmake --build --preset "$preset"
    ctest --preset "$preset" "$@"
}

if [ $# -gt 0 ]; then
    run_preset "$1" all
    exit 0
fi

# Fuzzing and sanitizers first, then the full Release suite, whose summary ends the log.
bash scripts/fuzz.sh "${CACHIER_FUZZ_RUNS:-300000}"
# Tiered stores run the same driver code as the stores alone: asan takes the file one, tsan the file
# and Redis ones (a store that polls, one that pushes); the in-process custom and SQLite stores are
# left to the other runs. The one-thread store-limit streams are left to default and one sanitizer
# each: under a sanitizer's slower code their misses may outpace the background eviction passes
# they measure (the four-process ones stay in both): the function's streams to tsan, the store's
# to asan. Nor does tsan take MongoDB's early-refresh test with concurrent callers, whose refresh
# must finish within the last 150 ms of a value's life (tsan slows the round trips to the test
# server past it), or the compression tests (decoders, no threads: asan takes them).
run_preset asan tests -R 'Conformance|FileBackend|Lease|Redis|Sql|Sqlite|Postgres|Mongo|S3|ThreadPool|ByteKeyTable|SmallValueTable|ValueBuffers|Serialization|Integrity|Url|PrometheusText|MetricsServer' \
    -E 'tiered_(sqlite|postgres|redis)|MaxBytesHoldsTheStoredBytesUnderAStreamOfMisses|MaxEntriesHoldsUnderAStreamOfMisses'
run_preset tsan tests -R 'Conformance|FileBackend|Lease|Redis|Sql|Sqlite|Postgres|Mongo|S3|ThreadPool|SmallValueTable|MetricsServer' \
    -E 'tiered_(sqlite|postgres)|sqlite_memory|= map$|StoreLimitsHoldEveryFunctionTogether|EarlyRefreshKeepsConcurrentCallersOnFreshHitsWithOneRefresh/mongo|Compress|SmallAndIncompressible|EntrySizeLimitCountsTheBytesStored|HostileCompressed|ReadSizeLimit'
run_preset default all
