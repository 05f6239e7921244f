# Shared by scripts/redis-server.sh, scripts/postgres-server.sh and scripts/mongo-server.sh (sourced,
# not run).

# True when something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port ATTEMPT PORT_FILE: on the first attempt the port recorded in PORT_FILE (a restart keeps
# its address), otherwise a random one; prints nothing when the chosen port is taken.
pick_port() {
    local port
    if [ "$1" = 1 ] && [ -f "$2" ]; then port=$(cat "$2"); else port=$((20000 + RANDOM % 40000)); fi
    port_in_use "$port" || echo "$port"
}

# run_with_server SCRIPT URL_VARIABLE DIR COMMAND...: starts the server, runs COMMAND with its URL in
# URL_VARIABLE, stops the server, removes DIR and exits with COMMAND's status.
run_with_server() {
    local script=$1 variable=$2 dir=$3 url status=0
    shift 3
    url=$("$script" start "$dir")
    env "$variable=$url" "$@" || status=$?
    "$script" stop "$dir"
    rm -rf "$dir"
    exit "$status"
}

# stop_by_pid_file PID_FILE: stops the server whose pid the file holds (SIGTERM: a clean shutdown)
# and waits until it is gone, then removes the file. A stopped server may linger as a zombie until
# its parent reaps it: that counts as gone.
stop_by_pid_file() {
    local pid state
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 250); do
        state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
        case "$state" in "" | Z*) break ;; esac
        sleep 0.02
    done
    rm -f "$1"
}
