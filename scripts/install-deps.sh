#!/usr/bin/env bash
# Installs what cachier needs to build, test and benchmark on Debian 12 (as root, or through sudo).
# Only missing packages are installed, so a second run costs a second.
set -euo pipefail

packages=(
    g++ cmake ninja-build pkg-config
    libcereal-dev libssl-dev libxxhash-dev libzstd-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    libhiredis-dev redis-server
    libsqlite3-dev libpq-dev postgresql-15
    clang libclang-rt-14-dev
    python3-mongomock python3-pymongo libmongoc-dev libbson-dev
    radosgw ceph-mon ceph-osd curl libcurl4-openssl-dev libpugixml-dev
    libcpp-httplib-dev libcli11-dev nlohmann-json3-dev prometheus
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
