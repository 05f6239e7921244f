#!/usr/bin/env bash
# Starts and stops a throw-away redis-server on 127.0.0.1 for tests and benchmarks.
#   scripts/redis-server.sh start DIR [redis-server options...]   prints redis://127.0.0.1:PORT
#   scripts/redis-server.sh stop DIR
#   scripts/redis-server.sh run DIR COMMAND...   starts a server, runs COMMAND with CACHIER_REDIS_URL
#                                                set, stops the server, and exits with COMMAND's status
# DIR holds the server's pid, port, log and working files. No persistence (no RDB, no AOF).
set -euo pipefail

command=${1:?usage: redis-server.sh start|stop DIR [options]}
dir=${2:?usage: redis-server.sh start|stop DIR [options]}
shift 2

# shellcheck source=server-common.sh
source "$(dirname "$0")/server-common.sh"

case "$command" in
run)
    run_with_server "$0" CACHIER_REDIS_URL "$dir" "$@"
    ;;
start)
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$(pick_port "$attempt" "$dir/redis.port")
        [ -n "$port" ] || continue
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$dir" --logfile "$dir/redis.log" --daemonize no "$@" </dev/null >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 250); do
            # PONG, or NOAUTH from a server started with --requirepass: either way it is up.
            if redis-cli -p "$port" ping 2>&1 | grep -qE 'PONG|NOAUTH'; then
                echo "$pid" >"$dir/redis.pid"
                echo "$port" >"$dir/redis.port"
                echo "redis://127.0.0.1:$port"
                exit 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill "$pid" 2>/dev/null || true
    done
    echo "redis-server did not start; see $dir/redis.log" >&2
    exit 1
    ;;
stop)
    stop_by_pid_file "$dir/redis.pid"
    ;;
*)
    echo "usage: redis-server.sh start|stop DIR [options]" >&2
    exit 2
    ;;
esac
