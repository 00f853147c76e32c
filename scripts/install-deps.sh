#!/usr/bin/env bash
# Installs the Debian 12 packages StreamHouse Reader needs, only those missing.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite starts (PostgreSQL,
#                                    Ceph RGW, promtool, botocore)
# Needs root for apt-get; without it, prints the command to run instead.
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates curl
  libmicrohttpd-dev nlohmann-json3-dev liblz4-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev
  libpq-dev libpugixml-dev)
test_pkgs=(postgresql-15 postgresql-contrib prometheus python3-botocore python3-lz4
  ceph-mon ceph-osd radosgw ceph-common wrk procps iproute2)

pkgs=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
