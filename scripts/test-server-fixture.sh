#!/usr/bin/env bash
# One test server for every test of a CTest run that needs it (a CTest fixture: tests/CMakeLists.txt).
#   scripts/test-server-fixture.sh start DIR SCRIPT [OPTION...]   stops what an earlier run left in DIR,
#                                                                starts SCRIPT's server there (SCRIPT:
#                                                                redis-server.sh, postgres-server.sh,
#                                                                mongo-server.sh; options go to it) and
#                                                                writes its URL to DIR/url
#   scripts/test-server-fixture.sh stop DIR SCRIPT                stops it and removes DIR
set -euo pipefail

command=${1:?usage: test-server-fixture.sh start|stop DIR SCRIPT [OPTION...]}
dir=${2:?usage: test-server-fixture.sh start|stop DIR SCRIPT [OPTION...]}
script=$(dirname "$0")/${3:?usage: test-server-fixture.sh start|stop DIR SCRIPT [OPTION...]}
shift 3

case "$command" in
start)
    # A run that was killed may have left its server running.
    if [ -d "$dir" ]; then
        bash "$script" stop "$dir/server" || true
        rm -rf "$dir"
    fi
    mkdir -p "$dir"
    bash "$script" start "$dir/server" "$@" >"$dir/url.tmp"
    mv "$dir/url.tmp" "$dir/url"
    ;;
stop)
    bash "$script" stop "$dir/server"
    rm -rf "$dir"
    ;;
*)
    echo "usage: test-server-fixture.sh start|stop DIR SCRIPT [OPTION...]" >&2
    exit 2
    ;;
esac
