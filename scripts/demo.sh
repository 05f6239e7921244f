#!/usr/bin/env bash
# Builds examples/quickstart and runs it twice on the default file backend (~/.cachier):
# the first run computes once (slow), every later call, in this run or the next, reads the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target quickstart
echo "--- first run"
./build/default/examples/quickstart
echo "--- second run (a new process)"
./build/default/examples/quickstart
