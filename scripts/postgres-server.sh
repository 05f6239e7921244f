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

# One initialised, cleanly stopped cluster per user and PostgreSQL build, made once under a lock and
# copied by every start. A template whose stamp differs (another PostgreSQL, other settings) is made
# again.
template=${TMPDIR:-/tmp}/cachier-postgres-template-$(id -u)
template_stamp="initdb -U postgres -A trust -E UTF8 --locale=C.UTF-8; database cachier_test; $("$bin/postgres" --version)"
# The 'postgres' user must be able to traverse every parent of DIR (mktemp -d makes 0700 ones).
let_postgres_traverse() {
    local parent perms
    parent=$(dirname "$1")
    while [ "$parent" != "/" ]; do
        perms=$(stat -c '%a' "$parent")
        if [ $((0$perms & 01)) -eq 0 ]; then chmod o+x "$parent"; fi
        parent=$(dirname "$parent")
    done
}

make_template() {
    mkdir -p "$template.lock.d"
    (
        flock 9
        if [ -f "$template/stamp" ] && [ "$(cat "$template/stamp")" = "$template_stamp" ]; then exit 0; fi
        rm -rf "$template"
        mkdir -p "$template"
        if [ "$(id -u)" -eq 0 ]; then
            chown postgres:postgres "$template"
            let_postgres_traverse "$template"
        fi
        as_owner "$bin/initdb" -D "$template/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
            --no-instructions >"$template/initdb.log" 2>&1 || { cat "$template/initdb.log" >&2; exit 1; }
        # Started once on its own socket only (no TCP), to create the database, then stopped cleanly.
        as_owner "$bin/pg_ctl" -D "$template/data" -l "$template/server.log" -w -t 30 \
            -o "-c listen_addresses= -k $template -c fsync=off" start >/dev/null 2>&1 ||
            { cat "$template/server.log" >&2; exit 1; }
        as_owner psql -h "$template" -U postgres -q -c 'CREATE DATABASE cachier_test' >/dev/null
        as_owner "$bin/pg_ctl" -D "$template/data" -m fast -w -t 30 stop >/dev/null 2>&1
        rm -f "$template/data/postmaster.opts"
        echo "$template_stamp" >"$template/stamp"
    ) 9>"$template.lock.d/lock"
}

case "$command" in
run)
    run_with_server "$0" CACHIER_POSTGRES_URL "$dir" "$@"
    ;;
start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        let_postgres_traverse "$dir"
    fi
    if [ ! -d "$dir/data" ]; then
        make_template
        # A copy of the template cluster (a database cachier_test already in it): a second, not initdb's
        # one to two seconds, for every test process.
        cp -a "$template/data" "$dir/data"
    fi
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$(pick_port "$attempt" "$dir/port")
        [ -n "$port" ] || continue
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" \
            start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
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
