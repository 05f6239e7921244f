#!/usr/bin/env bash
# Starts and stops a throw-away PostgreSQL 15 server on 127.0.0.1 for tests and benchmarks.
#   scripts/postgres-server.sh start DIR     prints postgresql://postgres@127.0.0.1:PORT/cachier_test
#   scripts/postgres-server.sh stop DIR
#   scripts/postgres-server.sh run DIR COMMAND...   starts, runs COMMAND with CACHIER_POSTGRES_URL set, stops
# DIR holds the cluster (initdb), its socket, log, pid and port. Trust authentication, no fsync.
# As root the server runs as the 'postgres' system user (initdb refuses to run as root).
set -euo pipefail

command=${1:?usage: postgres-server.sh start|stop|run DIR}
dir=${2:?usage: postgres-server.sh start|stop|run DIR}
shift 2
bin=/usr/lib/postgresql/15/bin

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# shellcheck source=server-common.sh
source "$(dirname "$0")/server-common.sh"

case "$command" in
run)
    run_with_server "$0" CACHIER_POSTGRES_URL "$dir" "$@"
    ;;
start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        # The 'postgres' user must be able to traverse every parent (mktemp -d makes 0700 ones).
        parent=$(dirname "$dir")
        while [ "$parent" != "/" ]; do
            perms=$(stat -c '%a' "$parent")
            if [ $((0$perms & 01)) -eq 0 ]; then chmod o+x "$parent"; fi
            parent=$(dirname "$parent")
        done
    fi
    if [ ! -d "$dir/data" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
            --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$(pick_port "$attempt" "$dir/port")
        [ -n "$port" ] || continue
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" \
            start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            if [ ! -f "$dir/created" ]; then
                psql -h 127.0.0.1 -p "$port" -U postgres -q -c 'CREATE DATABASE cachier_test' >/dev/null
                touch "$dir/created"
            fi
            echo "postgresql://postgres@127.0.0.1:$port/cachier_test"
            exit 0
        fi
    done
    echo "postgres did not start; see $dir/server.log" >&2
    exit 1
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: postgres-server.sh start|stop|run DIR" >&2
    exit 2
    ;;
esac
