#!/usr/bin/env bash
# One command: install what is missing (including the real PostgreSQL, Ceph RGW,
# promtool and botocore the tests start on 127.0.0.1), build with warnings as
# errors, run every test with ctest. Exits non-zero on any failure.
#   scripts/test.sh            dev preset (Debug)
#   scripts/test.sh --asan     AddressSanitizer + UBSan build
#   scripts/test.sh --tsan     ThreadSanitizer build; runs the unit and concurrency labels
#   (the dev run also builds the Release preset, -O3 with -Werror; SKIP_RELEASE_BUILD=1 skips it)
#   CTEST_ARGS="-R read"       extra ctest arguments
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

preset=dev
[[ "${1:-}" == "--asan" ]] && preset=asan
[[ "${1:-}" == "--tsan" ]] && preset=tsan

scripts/install-deps.sh --test
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
# shellcheck disable=SC2086
ctest --preset "$preset" -j "$(nproc)" --timeout 900 ${CTEST_ARGS:-}

# The Release configuration (-O3) with -Werror: optimizer-only warnings are
# caught where they start. Build only; the tests ran above.
if [[ "$preset" == dev && -z "${SKIP_RELEASE_BUILD:-}" ]]; then
  cmake --preset release
  cmake --build --preset release -j "$(nproc)"
fi
