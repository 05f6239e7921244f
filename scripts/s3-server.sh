#!/usr/bin/env bash
# Starts and stops a throw-away S3 server on 127.0.0.1 for tests and benchmarks: Ceph's RADOS
# Gateway (Debian's radosgw) over a one-node cluster (one monitor, one OSD keeping its objects in
# memory). It checks SigV4 signatures and makes conditional PUTs atomic, as S3 does.
#   scripts/s3-server.sh start DIR    prints the endpoint, http://127.0.0.1:PORT
#   scripts/s3-server.sh stop DIR
#   scripts/s3-server.sh run DIR COMMAND...   starts a server with a bucket "cachier-test", runs
#                                             COMMAND with CACHIER_S3_ENDPOINT, CACHIER_S3_BUCKET,
#                                             AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
#                                             AWS_SECRET_ACCESS_KEY and AWS_REGION set, stops the
#                                             server, and exits with COMMAND's status
# The gateway's one user has the access key id and secret below (a throw-away server on loopback).
# DIR holds the cluster's configuration, data, logs and pids. A restart starts an empty cluster on
# the same gateway port.
set -euo pipefail

command=${1:?usage: s3-server.sh start|stop|run DIR}
dir=${2:?usage: s3-server.sh start|stop|run DIR}
shift 2

access_key=cachier-test-key
secret_key=cachier-test-secret

# shellcheck source=server-common.sh
source "$(dirname "$0")/server-common.sh"

# The daemons' SIGTERM handling takes seconds (radosgw up to 10); their data is thrown away.
kill_daemons() {
    local pid_file pid
    for pid_file in "$dir"/rgw.pid "$dir"/osd.pid "$dir"/mon.pid; do
        [ -f "$pid_file" ] || continue
        pid=$(cat "$pid_file")
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 250); do
            case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in "" | Z*) break ;; esac
            sleep 0.02
        done
        rm -f "$pid_file"
    done
}

write_config() {
    cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$2,v1:127.0.0.1:$3]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
osd crush chooseleaf type = 0
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/\$name.log
pid file = $dir/run/\$name.pid
mon data = $dir/mon-\$id
osd data = $dir/osd-\$id
keyring = $dir/keyring

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$4 tcp_nodelay=1
rgw dns name = 127.0.0.1
# One PUT takes at most 16 MiB here (AWS: 5 GiB), so that a test can show a refused upload.
rgw max put size = 16777216
ms mon client mode = crc secure
EOF
}

start_cluster() {
    local rgw_port=$1 fsid mon2 mon1 uuid id
    fsid=$(cat /proc/sys/kernel/random/uuid)
    mon2=$(pick_port 2 /dev/null)
    mon1=$(pick_port 2 /dev/null)
    [ -n "$mon2" ] && [ -n "$mon1" ] && [ "$mon1" != "$mon2" ] || return 1
    rm -rf "$dir/run" "$dir"/mon-* "$dir"/osd-* "$dir/keyring" "$dir/monmap"
    mkdir -p "$dir/run"
    write_config "$fsid" "$mon2" "$mon1" "$rgw_port"
    local conf=(-c "$dir/ceph.conf")
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" "$dir/monmap" >/dev/null
    ceph-mon "${conf[@]}" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring"
    ceph-mon "${conf[@]}" -i a -f </dev/null >"$dir/mon.out" 2>&1 &
    echo $! >"$dir/mon.pid"
    # Every step can fail (a port taken between picking and binding): each is checked and
    # bounded in time, and a failure makes the caller start over on other ports.
    for _ in $(seq 1 100); do
        port_in_use "$mon2" && break
        kill -0 "$(cat "$dir/mon.pid")" 2>/dev/null || return 1
        sleep 0.05
    done
    port_in_use "$mon2" || return 1
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(timeout 20 ceph "${conf[@]}" osd new "$uuid") || return 1
    [ -n "$id" ] || return 1
    mkdir -p "$dir/osd-$id"
    ceph-osd "${conf[@]}" -i "$id" --mkfs --osd-uuid "$uuid" >"$dir/osd-mkfs.out" 2>&1 || return 1
    ceph-osd "${conf[@]}" -i "$id" -f </dev/null >"$dir/osd.out" 2>&1 &
    echo $! >"$dir/osd.pid"
    local up=""
    for _ in $(seq 1 100); do  # about 20 s at most
        if timeout 5 ceph "${conf[@]}" osd stat 2>/dev/null | grep -q "1 up"; then
            up=yes
            break
        fi
        kill -0 "$(cat "$dir/osd.pid")" 2>/dev/null || return 1
        sleep 0.05
    done
    [ -n "$up" ] || return 1
    radosgw "${conf[@]}" -n client.rgw.a -f </dev/null >"$dir/rgw.out" 2>&1 &
    echo $! >"$dir/rgw.pid"
    for _ in $(seq 1 600); do
        port_in_use "$rgw_port" && break
        kill -0 "$(cat "$dir/rgw.pid")" 2>/dev/null || return 1
        sleep 0.05
    done
    port_in_use "$rgw_port" || return 1
    timeout 30 radosgw-admin "${conf[@]}" user create --uid=cachier --display-name=cachier \
        --access-key="$access_key" --secret-key="$secret_key" >/dev/null 2>&1
}

case "$command" in
run)
    endpoint=$(bash "$0" start "$dir")
    status=0
    curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$endpoint/cachier-test" || status=$?
    [ "$status" -ne 0 ] || env CACHIER_S3_ENDPOINT="$endpoint" CACHIER_S3_BUCKET=cachier-test \
        AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
        AWS_REGION=us-east-1 "$@" || status=$?
    bash "$0" stop "$dir"
    rm -rf "$dir"
    exit "$status"
    ;;
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for attempt in 1 2 3 4; do
        port=$(pick_port "$attempt" "$dir/s3.port")
        [ -n "$port" ] || continue
        if start_cluster "$port"; then
            echo "$port" >"$dir/s3.port"
            echo "http://127.0.0.1:$port"
            exit 0
        fi
        kill_daemons
    done
    echo "the S3 test server (RADOS Gateway) did not start; see the logs in $dir" >&2
    exit 1
    ;;
stop)
    kill_daemons
    ;;
*)
    echo "usage: s3-server.sh start|stop|run DIR" >&2
    exit 2
    ;;
esac
