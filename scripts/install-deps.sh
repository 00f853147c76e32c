#!/usr/bin/env bash
# Installs the Debian 12 packages StreamHouse Reader needs, only those missing.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite starts (PostgreSQL,
#                                    Ceph RGW, promtool, botocore)
# Needs root for apt-get; without it, prints the command to run instead.
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
  libmicrohttpd-dev nlohmann-json3-dev liblz4-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev
  libpq-dev libpugixml-dev zlib1g-dev)
test_pkgs=(postgresql-15 postgresql-contrib prometheus python3-botocore python3-lz4
  ceph-mon ceph-osd radosgw ceph-common wrk procps iproute2 clang-14 libclang-rt-14-dev llvm-14
  python3-jsonschema chromium nginx python3-yaml binutils)

# Test tools from the npm registry (--test only), pinned, into a fixed prefix:
# @redocly/cli lints openapi/openapi.yaml (tests/e2e/openapi). Needs Node.js >= 20.19.
tools_prefix=/opt/streamhouse-tools
redocly_version=2.77.0
install_npm_tools() {
  local have
  have=$(node -p "require('$tools_prefix/node_modules/@redocly/cli/package.json').version" 2>/dev/null || true)
  [[ "$have" == "$redocly_version" ]] && return 0
  if ! command -v npm >/dev/null; then
    echo "npm (Node.js >= 20.19) is needed to install @redocly/cli@$redocly_version" >&2
    return 1
  fi
  echo "Installing @redocly/cli@$redocly_version into $tools_prefix" >&2
  mkdir -p "$tools_prefix"
  npm install --prefix "$tools_prefix" --save-exact --no-audit --no-fund --loglevel=error \
    "@redocly/cli@$redocly_version" >/dev/null
}

pkgs=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  if [[ "${1:-}" == "--test" ]]; then install_npm_tools; fi
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
if [[ "${1:-}" == "--test" ]]; then install_npm_tools; fi
