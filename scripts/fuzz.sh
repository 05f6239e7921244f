#!/usr/bin/env bash
# Builds the decoder's fuzz targets with clang (libFuzzer, ASan, UBSan) and runs each for a bounded
# number of inputs: scripts/fuzz.sh [runs per type, default 1000000].
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
build=build/fuzz
CXX=clang++ cmake -S fuzz -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build"
# fuzz_one TARGET: seeds its corpus, runs it, prints one line (or its log's end on a finding).
fuzz_one() {
    local target=$1 type corpus start
    type=${target##*/fuzz_decode_}
    corpus=$build/corpus/$type
    mkdir -p "$corpus"
    CACHIER_FUZZ_SEEDS=$corpus "$target"
    start=$SECONDS
    # -len_control=0 reaches long inputs early; ASan's allocator may return null instead of aborting.
    if ! ASAN_OPTIONS=allocator_may_return_null=1 "$target" -runs="$runs" -seed=1 -max_len=4096 -len_control=0 \
        -print_final_stats=1 "$corpus" >"$build/$type.log" 2>&1; then
        tail -50 "$build/$type.log"
        return 1
    fi
    echo "fuzz $type: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$type.log" | grep -o '[0-9]*$') inputs, no finding ($((SECONDS - start)) s)"
}

# One target per core at a time.
cores=$(nproc)
running=0
failed=0
for target in "$build"/fuzz_decode_*; do
    if [ "$running" -ge "$cores" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    fuzz_one "$target" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
