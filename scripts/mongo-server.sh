#!/usr/bin/env bash
# Starts and stops the project's MongoDB wire-protocol test server (scripts/mongo_server.py, over
# Debian's python3-mongomock) on 127.0.0.1, for tests and benchmarks.
#   scripts/mongo-server.sh start DIR [OPTION...]   prints mongodb://127.0.0.1:PORT; options go to
#                                                mongo_server.py (--replica-set NAME, --ttl-monitor S)
#   scripts/mongo-server.sh stop DIR
#   scripts/mongo-server.sh run DIR COMMAND...   starts a server, runs COMMAND with CACHIER_MONGO_URL
#                                                set, stops the server, and exits with COMMAND's status
# DIR holds the server's pid, port, log and the log of commands it ran (commands.log). Data lives
# in memory: a restart starts empty.
set -euo pipefail

command=${1:?usage: mongo-server.sh start|stop|run DIR}
dir=${2:?usage: mongo-server.sh start|stop|run DIR}
shift 2

# shellcheck source=server-common.sh
source "$(dirname "$0")/server-common.sh"
server=$(cd "$(dirname "$0")" && pwd)/mongo_server.py

case "$command" in
run)
    run_with_server "$0" CACHIER_MONGO_URL "$dir" "$@"
    ;;
start)
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$(pick_port "$attempt" "$dir/mongo.port")
        [ -n "$port" ] || continue
        # Debian's interpreter: the python3 first on PATH may be another one, without python3-mongomock.
        /usr/bin/python3 "$server" --port "$port" --log "$dir/commands.log" "$@" </dev/null >"$dir/mongo.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 250); do
            if port_in_use "$port"; then
                echo "$pid" >"$dir/mongo.pid"
                echo "$port" >"$dir/mongo.port"
                echo "mongodb://127.0.0.1:$port"
                exit 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill "$pid" 2>/dev/null || true
    done
    echo "the MongoDB test server did not start; see $dir/mongo.log" >&2
    exit 1
    ;;
stop)
    stop_by_pid_file "$dir/mongo.pid"
    ;;
*)
    echo "usage: mongo-server.sh start|stop|run DIR" >&2
    exit 2
    ;;
esac
